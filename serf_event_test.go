// serf_event_test.go: tests of serf_event.go, Consul's user events
// (/v1/event/fire and /v1/event/list) through an agent.
//
// Concurrency: each test uses only the agent it starts; nothing is shared
// between tests.
package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestHTTPEvents(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.NodeName = "web-1" })
	var fired UserEvent
	ta.must("PUT", "/v1/event/fire/deploy", "v1.2", &fired)
	if fired.ID == "" || fired.Name != "deploy" || string(fired.Payload) != "v1.2" || fired.LTime == 0 {
		t.Fatalf("fired: %+v", fired)
	}
	// A node filter that does not match this agent: not delivered here.
	ta.must("PUT", "/v1/event/fire/deploy?node=^db-", "", nil)
	var events []UserEvent
	r := ta.must("GET", "/v1/event/list?name=deploy", "", &events)
	if len(events) != 1 || events[0].ID != fired.ID {
		t.Fatalf("list: %+v", events)
	}
	// A blocking list answers at the next event of its name, not before.
	ch := ta.blockingGet(fmt.Sprintf("/v1/event/list?name=deploy&index=%d&wait=10s", r.index()))
	ta.must("PUT", "/v1/event/fire/other", "", nil)
	var next UserEvent
	ta.must("POST", "/v1/event/fire/deploy", "v1.3", &next)
	got := <-ch
	if !strings.Contains(got.body, next.ID) || got.index() == r.index() {
		t.Fatalf("blocking list: %s", got.body)
	}
	ta.expect("PUT", "/v1/event/fire/big", strings.Repeat("x", 600), 413, "Payload too large")
	ta.expect("PUT", "/v1/event/fire/bad?node=(", "", 400, "Invalid filter")
}

// TestBug_EventIndexAsConsul: the X-Consul-Index of /v1/event/list is the
// newest event's ID folded as Consul's clients fold it (api.Event.IDToIndex:
// the two halves of the hex digits as big-endian numbers, XORed), so that
// `consul watch -type=event` and the Go client skip the events they have
// seen; it was folded little-endian, which no client matches.
func TestBug_EventIndexAsConsul(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]uint64{
		"00000000-0000-0001-0000-000000000002": 3,
		"01234567-89ab-cdef-0123-456789abcdef": 0,
		"ffffffff-ffff-ffff-0000-000000000000": 0xffffffffffffffff,
		"12345678-9abc-def0-0fed-cba987654321": 0x123456789abcdef0 ^ 0x0fedcba987654321,
	} {
		if got := eventIndex(id); got != want {
			t.Errorf("eventIndex(%s) = %#x, want %#x", id, got, want)
		}
	}
}
