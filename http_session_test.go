package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func (ta *testAgent) createSession(body string) string {
	ta.t.Helper()
	var out struct{ ID string }
	ta.must("PUT", "/v1/session/create", body, &out)
	if out.ID == "" {
		ta.t.Fatal("no session ID")
	}
	return out.ID
}

func TestHTTPSessionsAndLocks(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	sid := ta.createSession(`{"TTL":"15s","LockDelay":"5s","Name":"leader-election"}`)
	var info []Session
	ta.must("GET", "/v1/session/info/"+sid, "", &info)
	if len(info) != 1 || info[0].Node != "node1" || info[0].LockDelay != 5*time.Second ||
		info[0].TTL != "15s" || info[0].Behavior != sessionRelease || info[0].NodeChecks[0] != "serfHealth" {
		t.Fatalf("session info: %+v", info)
	}
	other := ta.createSession("")
	if r := ta.must("PUT", "/v1/kv/service/leader?acquire="+sid, "me", nil); r.body != "true" {
		t.Fatal("acquire failed")
	}
	if r := ta.must("PUT", "/v1/kv/service/leader?acquire="+other, "you", nil); r.body != "false" {
		t.Fatal("second acquire succeeded")
	}
	var entries []KVEntry
	ta.must("GET", "/v1/kv/service/leader", "", &entries)
	if entries[0].Session != sid || entries[0].LockIndex != 1 || string(entries[0].Value) != "me" {
		t.Fatalf("locked entry: %+v", entries[0])
	}
	var renewed []Session
	ta.must("PUT", "/v1/session/renew/"+sid, "", &renewed)
	if len(renewed) != 1 || renewed[0].ID != sid {
		t.Fatalf("renew: %+v", renewed)
	}
	// Destroying the holder releases the lock; the lock delay then keeps
	// the other session out.
	ta.must("PUT", "/v1/session/destroy/"+sid, "", nil)
	var released []KVEntry // fresh: decoding into the old slice would keep its Session
	ta.must("GET", "/v1/kv/service/leader", "", &released)
	if released[0].Session != "" {
		t.Fatal("lock survived its session")
	}
	if r := ta.must("PUT", "/v1/kv/service/leader?acquire="+other, "you", nil); r.body != "false" {
		t.Fatal("acquired inside the lock delay")
	}
	var list []Session
	ta.must("GET", "/v1/session/node/node1", "", &list)
	if len(list) != 1 || list[0].ID != other {
		t.Fatalf("node sessions: %+v", list)
	}
	ta.expect("PUT", "/v1/session/renew/"+sid, "", 404, "not found")
	ta.expect("PUT", "/v1/session/create", `{"TTL":"1s"}`, 400, "Invalid Session TTL")
	ta.expect("PUT", "/v1/session/create", `{"Behavior":"explode"}`, 400, "Invalid Behavior")
	ta.expect("PUT", "/v1/session/create", `{"Node":"nope"}`, 500, "Failed to create session")
}

func TestHTTPSessionTTLExpires(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	sid := ta.createSession(`{"TTL":"10s"}`)
	ta.must("PUT", "/v1/kv/held?acquire="+sid, "x", nil)
	r := ta.must("GET", "/v1/session/info/"+sid, "", nil)
	ta.sessions.reset(sid, 10*time.Millisecond) // a TTL shorter than the API allows, to keep the test quick
	r = <-ta.blockingGet(fmt.Sprintf("/v1/session/info/%s?index=%d&wait=10s", sid, r.index()))
	if r.body != "[]" {
		t.Fatalf("session after its TTL: %s", r.body)
	}
	var entries []KVEntry
	ta.must("GET", "/v1/kv/held", "", &entries)
	if entries[0].Session != "" {
		t.Fatal("an expired session kept its lock")
	}
}

// TestLockContention: 20 clients use a lock to increment a counter 500
// times in all. The final value is exactly 500, and the lock is never held
// by two at once.
func TestLockContention(t *testing.T) {
	t.Parallel()
	lockContention(t, []*testAgent{startTestAgent(t, nil)})
}

// lockContention runs the contention test with the clients spread over
// the agents given. A leader may lose its lease on a loaded machine; a
// Consul client then sees 500 "leadership lost while committing log" or
// "No cluster leader" and tries again, and so do these (every step is
// idempotent for the session that holds the lock: a repeated acquire
// answers true, a repeated PUT writes the same value).
func lockContention(t *testing.T, agents []*testAgent) {
	const clients, total = 20, 500
	agents[0].must("PUT", "/v1/kv/counter", "0", nil)
	var holders, maxHolders, done atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		ta := agents[c%len(agents)]
		go func() {
			defer wg.Done()
			call := func(method, path, body string) (response, bool) {
				for deadline := time.Now().Add(time.Minute); ; {
					r := ta.do(method, path, body)
					leaderless := r.code == http.StatusInternalServerError &&
						(strings.Contains(r.body, "leadership lost") || strings.Contains(r.body, "No cluster leader"))
					if r.code == http.StatusOK || !leaderless || time.Now().After(deadline) {
						if r.code != http.StatusOK {
							t.Errorf("%s %s: %d %s", method, path, r.code, r.body)
						}
						return r, r.code == http.StatusOK
					}
					time.Sleep(100 * time.Millisecond) // back off while the servers elect
				}
			}
			// No TTL: nothing renews the sessions, and on a loaded machine
			// the run may outlast a TTL's two periods (the sessions would
			// be invalidated and every acquire refused).
			r, ok := call("PUT", "/v1/session/create", `{"LockDelay":"0s"}`)
			var session struct{ ID string }
			if !ok || json.Unmarshal([]byte(r.body), &session) != nil {
				return
			}
			sid := session.ID
			for done.Load() < total {
				r, ok := call("PUT", "/v1/kv/counter/.lock?acquire="+sid, "")
				if !ok {
					return
				}
				if r.body != "true" {
					// Held by another: wait for the key to change.
					cur := ta.do("GET", "/v1/kv/counter/.lock", "")
					<-ta.blockingGet(fmt.Sprintf("/v1/kv/counter/.lock?index=%d&wait=2s", cur.index()))
					continue
				}
				if n := holders.Add(1); n > maxHolders.Load() {
					maxHolders.Store(n)
				}
				if done.Load() < total {
					r, ok := call("GET", "/v1/kv/counter?raw", "")
					v, err := strconv.Atoi(r.body)
					if !ok || err != nil {
						t.Errorf("counter %q", r.body)
						return
					}
					if _, ok := call("PUT", "/v1/kv/counter", strconv.Itoa(v+1)); !ok {
						return
					}
					done.Add(1)
				}
				holders.Add(-1)
				if _, ok := call("PUT", "/v1/kv/counter/.lock?release="+sid, ""); !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	ta := agents[0]
	if got := ta.must("GET", "/v1/kv/counter?raw", "", nil).body; got != strconv.Itoa(total) {
		t.Fatalf("counter %s, want %d", got, total)
	}
	if maxHolders.Load() != 1 {
		t.Fatalf("lock held by %d clients at once", maxHolders.Load())
	}
	var sessions []Session
	json.Unmarshal([]byte(ta.must("GET", "/v1/session/list", "", nil).body), &sessions)
	if len(sessions) < clients { // more if a create that answered 500 had committed
		t.Fatalf("%d sessions", len(sessions))
	}
}

func benchDo(b *testing.B, method, url, body string) string {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return string(out)
}

// BenchmarkLockHandoff: a holder releases the lock; the waiter, blocked on
// the lock key, wakes and acquires it. Reported: release sent → acquired.
func BenchmarkLockHandoff(b *testing.B) {
	a, base := benchAgent(b)
	var ids [2]string
	for i := range ids {
		var out struct{ ID string }
		json.Unmarshal([]byte(benchDo(b, "PUT", base+"/v1/session/create", `{"LockDelay":"0s"}`)), &out)
		ids[i] = out.ID
	}
	lockURL := base + "/v1/kv/handoff"
	benchDo(b, "PUT", lockURL+"?acquire="+ids[0], "")
	var total time.Duration
	for i := 0; i < b.N; i++ {
		holder, waiter := ids[i%2], ids[(i+1)%2]
		e, _ := a.store.snapshot().kvGet("handoff")
		acquired := make(chan time.Time, 1)
		go func() {
			// The waiter's loop, as api.Lock does it: block on the key, then acquire.
			resp, err := http.Get(fmt.Sprintf("%s?index=%d&wait=10s", lockURL, e.ModifyIndex))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if benchDo(b, "PUT", lockURL+"?acquire="+waiter, "") != "true" {
				b.Error("waiter could not acquire")
			}
			acquired <- time.Now()
		}()
		for !watched(a.store, "handoff") {
			time.Sleep(50 * time.Microsecond)
		}
		start := time.Now()
		benchDo(b, "PUT", lockURL+"?release="+holder, "")
		total += (<-acquired).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/handoff")
}

// TestSessionDefaultChecks: the node checks a new session gets, as
// Consul's defaults and fixupEmptySessionChecks give them.
func TestSessionDefaultChecks(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"redis","Check":{"CheckID":"redis:alive","TTL":"30s","Status":"passing"}}`, nil)
	for _, c := range []struct {
		body string
		want []string
	}{
		{``, []string{"serfHealth"}},
		{`{"ServiceChecks":[{"ID":"redis:alive"}]}`, []string{"serfHealth"}},
		{`{"Checks":[]}`, []string{}},
		{`{"NodeChecks":[]}`, []string{}},
		{`{"Checks":["serfHealth"],"NodeChecks":["serfHealth"]}`, []string{"serfHealth"}},
	} {
		id := ta.createSession(c.body)
		var info []Session
		ta.must("GET", "/v1/session/info/"+id, "", &info)
		if len(info) != 1 || !slices.Equal(info[0].NodeChecks, c.want) && !(len(c.want) == 0 && len(info[0].NodeChecks) == 0) {
			t.Errorf("%s: NodeChecks %v, want %v", c.body, info[0].NodeChecks, c.want)
		}
	}
}
