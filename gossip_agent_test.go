// gossip_agent_test.go: the gossip operations of the HTTP API on three
// servers in one process (cluster_test.go's harness, 127.0.0.21-23), with
// gossip encryption: key rotation across the WAN and LAN pools through
// /v1/operator/keyring, with the pool talking throughout and each member's
// keyring files following; and /v1/agent/force-leave of a failed server
// (left, then pruned, out of the catalog), of an alive one (it refutes),
// and of an unknown one (Consul's error).
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestClusterKeyringRotation(t *testing.T) {
	k1, k2 := newTestKey(t), newTestKey(t)
	c := startTestClusterWith(t, 3, func(cfg *Config) { cfg.Encrypt = k1 })
	a := c.agents[1]
	// The WAN pool first, then the LAN pool, in lock-step, as Consul's.
	list := func(query string) []KeyringResponse {
		t.Helper()
		var out []KeyringResponse
		a.must("GET", "/v1/operator/keyring"+query, "", &out)
		for i, r := range out {
			if r.WAN != (i == 0 && len(out) == 2) || r.Datacenter != "dc1" || r.NumNodes != 3 || len(r.Messages) != 0 {
				t.Fatalf("keyring list %+v", out)
			}
		}
		return out
	}
	want := func(keys, primary map[string]int) {
		t.Helper()
		got := list("")
		if len(got) != 2 {
			t.Fatalf("keyring list of %d pools: %+v", len(got), got)
		}
		for _, r := range got {
			if !reflect.DeepEqual(r.Keys, keys) || !reflect.DeepEqual(r.PrimaryKeys, primary) {
				t.Fatalf("WAN %v: keys %v primary %v, want %v and %v", r.WAN, r.Keys, r.PrimaryKeys, keys, primary)
			}
		}
	}
	eventually(t, 10*time.Second, "three servers in the WAN pool", func() bool { return len(a.wan.Members()) == 3 })
	if got := list("?local-only=true"); len(got) != 1 || got[0].WAN {
		t.Fatalf("local-only list: %+v", got)
	}
	// The pool keeps talking: an event fired on another server after each step reaches every server.
	talking := func(step string) {
		t.Helper()
		var fired UserEvent
		c.agents[2].must("PUT", "/v1/event/fire/"+step, "", &fired)
		for _, ag := range c.live() {
			eventually(t, 10*time.Second, ag.cfg.NodeName+" has event "+step, func() bool {
				var events []UserEvent
				ag.must("GET", "/v1/event/list?name="+step, "", &events)
				return len(events) == 1 && events[0].ID == fired.ID
			})
		}
	}
	want(map[string]int{k1: 3}, map[string]int{k1: 3})
	start := time.Now()
	a.must("POST", "/v1/operator/keyring", `{"Key":"`+k2+`"}`, nil)
	t.Logf("install across 3 servers answered in %v", time.Since(start))
	want(map[string]int{k1: 3, k2: 3}, map[string]int{k1: 3})
	talking("installed")
	a.must("PUT", "/v1/operator/keyring", `{"Key":"`+k2+`"}`, nil)
	want(map[string]int{k1: 3, k2: 3}, map[string]int{k2: 3})
	talking("used")
	r := a.do("DELETE", "/v1/operator/keyring", `{"Key":"`+k2+`"}`)
	for _, part := range []string{"8 errors occurred:\n\t* WAN error: 3/3 nodes reported failure\n\t* s1.dc1: Removing the primary key is not allowed",
		"\n\t* s3.dc1: Removing the primary key is not allowed\n\t* dc1 (LAN) error: 3/3 nodes reported failure\n\t* s1: Removing the primary key is not allowed",
		"\n\t* s3: Removing the primary key is not allowed\n\n"} {
		if r.code != 500 || !strings.Contains(r.body, part) {
			t.Fatalf("removing the primary key: %d %q", r.code, r.body)
		}
	}
	a.must("DELETE", "/v1/operator/keyring", `{"Key":"`+k1+`"}`, nil)
	want(map[string]int{k2: 3}, map[string]int{k2: 3})
	talking("removed")
	for i, cfg := range c.configs {
		for _, file := range []string{"local.keyring", "remote.keyring"} {
			b, err := os.ReadFile(filepath.Join(cfg.DataDir, "serf", file))
			var keys []string
			if err != nil || json.Unmarshal(b, &keys) != nil || !reflect.DeepEqual(keys, []string{k2}) {
				t.Errorf("s%d's %s: %s %v", i+1, file, b, err)
			}
		}
	}
	a.expect("POST", "/v1/operator/keyring", `{"Key":"bm90IGEga2V5"}`, 400, "Invalid key: key size must be 16, 24 or 32 bytes")
	a.expect("POST", "/v1/operator/keyring", `{"Key":"!!"}`, 400, "Invalid key: illegal base64")
	a.expect("POST", "/v1/operator/keyring", ``, 400, "Request decode failed")
	a.expect("GET", "/v1/operator/keyring?relay-factor=9", "", 400, "Invalid relay-factor")
	a.expect("PUT", "/v1/operator/keyring?local-only=true", `{"Key":"`+k2+`"}`, 400, "Invalid use of local-only")
}

func TestClusterForceLeave(t *testing.T) {
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	victim, other := (leader+1)%3, (leader+2)%3
	name := c.configs[victim].NodeName
	status := func(a *testAgent, node string) int {
		var members []agentMember
		a.must("GET", "/v1/agent/members", "", &members)
		for _, m := range members {
			if m.Name == node {
				return m.Status
			}
		}
		return 0 // not a member
	}
	inCatalog := func(node string) bool {
		return c.agents[leader].do("GET", "/v1/catalog/node/"+node, "").body != "null"
	}
	c.agents[other].expect("PUT", "/v1/agent/force-leave/nope", "", 500, "agent: No node found with name 'nope'")

	// An alive member named by a force-leave refutes it: still alive, still in the catalog.
	alive := c.configs[leader].NodeName
	incarnation := func() (inc uint64) { // read on the pool's loop, which owns the core
		pool := c.agents[leader].lan
		pool.do(func(time.Duration) { inc = pool.core.self.Incarnation })
		return inc
	}
	inc0 := incarnation()
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+alive, "", nil)
	eventually(t, 5*time.Second, alive+" refutes", func() bool { return incarnation() > inc0 })
	for _, a := range c.live() {
		if st := status(a, alive); a.cfg.NodeName != alive && st != memberAlive {
			t.Fatalf("%s sees %s as %d after a force-leave of it alive", a.cfg.NodeName, alive, st)
		}
	}
	if !inCatalog(alive) {
		t.Fatalf("%s left the catalog", alive)
	}

	c.stop(victim)
	for _, a := range c.live() {
		eventually(t, 40*time.Second, a.cfg.NodeName+" sees "+name+" failed", func() bool { return status(a, name) == memberFailed })
	}
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+name, "", nil)
	for _, a := range c.live() {
		eventually(t, 5*time.Second, a.cfg.NodeName+" sees "+name+" left", func() bool { return status(a, name) == memberLeft })
	}
	eventually(t, 10*time.Second, name+" out of the catalog", func() bool { return !inCatalog(name) })
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+name+"?prune", "", nil)
	for _, a := range c.live() {
		eventually(t, 5*time.Second, a.cfg.NodeName+" forgets "+name, func() bool { return status(a, name) == 0 })
	}
}
