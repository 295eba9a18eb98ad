// agent_sync_test.go: tests of how the local state reaches the catalog
// (agent_sync.go): the full sync's scale factor and repairs, and
// maintenance mode surviving a full sync.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"context"
	"testing"
	"time"
)

func TestAEScaleFactor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ nodes, want int }{{1, 1}, {128, 1}, {129, 2}, {256, 2}, {257, 3}, {512, 3}, {1024, 4}, {8192, 7}} {
		if got := aeScaleFactor(tc.nodes); got != tc.want {
			t.Errorf("aeScaleFactor(%d) = %d, want %d", tc.nodes, got, tc.want)
		}
	}
}

// syncNow runs one full sync and fails the test if it fails.
func syncNow(t *testing.T, ta *testAgent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ta.local.syncFull(ctx); err != nil {
		t.Fatal(err)
	}
}

func catalogCheck(ta *testAgent, id string) *HealthCheck {
	for _, c := range ta.store.snapshot().nodeChecks(ta.cfg.NodeName) {
		if c.CheckID == id {
			return c
		}
	}
	return nil
}

// TestAntiEntropyRepair: the local state wins over every hand-made change
// to the catalog's view of this node, except the servers' own entries.
func TestAntiEntropyRepair(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.AEInterval = time.Hour })
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":80,"Check":{"CheckID":"web-ttl","TTL":"1h"}}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"disk","TTL":"1h","Status":"passing"}`, nil)
	syncNow(t, ta)
	// In sync: a full sync writes nothing.
	idx := ta.store.snapshot().index
	syncNow(t, ta)
	if now := ta.store.snapshot().index; now != idx {
		t.Fatalf("a sync with nothing to repair wrote to the catalog: index %d -> %d", idx, now)
	}

	node := ta.cfg.NodeName
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"`+node+`","ServiceID":"web"}`, nil)
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"`+node+`","CheckID":"disk"}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"`+node+`","Address":"127.0.0.1",
		"Service":{"ID":"stray","Service":"stray"},
		"Checks":[{"CheckID":"stray-check","ServiceID":"stray","Status":"passing"},{"CheckID":"lonely","Status":"passing"}]}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"`+node+`","Address":"127.0.0.1","Service":{"ID":"web","Service":"web","Port":81}}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"`+node+`","Address":"127.0.0.1","Check":{"CheckID":"web-ttl","ServiceID":"web","Status":"passing","Output":"forged"}}`, nil)

	ta.local.triggerSync() // the agent's own loop repairs it
	eventually(t, 10*time.Second, "the catalog repaired", func() bool {
		st := ta.store.snapshot()
		var web, stray, consul bool
		for _, s := range st.nodeServices(node) {
			web = web || s.ID == "web" && s.Port == 80
			stray = stray || s.ID == "stray"
			consul = consul || s.ID == "consul"
		}
		c := catalogCheck(ta, "web-ttl")
		return web && !stray && consul && c != nil && c.Status == healthCritical && c.Output == "" &&
			catalogCheck(ta, "disk") != nil && catalogCheck(ta, "lonely") == nil && catalogCheck(ta, "stray-check") == nil &&
			catalogCheck(ta, "serfHealth") != nil
	})
}

// Maintenance mode, as Consul's: a second enable keeps the first reason;
// the maintenance check survives a full sync (it is local state).
func TestMaintenanceKeepsFirstReason(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/maintenance?enable=true&reason=first", "", nil)
	ta.must("PUT", "/v1/agent/maintenance?enable=true&reason=second", "", nil)
	syncNow(t, ta)
	if c := catalogCheck(ta, nodeMaintCheckID); c == nil || c.Notes != "first" || c.Status != healthCritical {
		t.Fatalf("node maintenance check: %+v", c)
	}
	ta.must("PUT", "/v1/agent/maintenance?enable=false", "", nil)
	if catalogCheck(ta, nodeMaintCheckID) != nil {
		t.Fatal("maintenance check left in the catalog")
	}
}
