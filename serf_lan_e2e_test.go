// serf_lan_e2e_test.go: the LAN gossip pool with real processes
// (e2e_test.go's harness) on 127.0.0.71-75, each on ports
// chosen at run time, all gossip encrypted, driven over HTTP only.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGossipE2E proves, with real processes, that:
//   - three servers (-bootstrap-expect=3, -encrypt) and a fourth started
//     later that joins through one address form one pool: every member
//     lists four alive, and the fourth is in the catalog;
//   - an agent with a wrong key cannot join: the pool drops its gossip (the
//     member it asked logs so), it stays alone, and nobody lists it;
//   - a graceful leave: the member that leaves exits, shows left, and its
//     node leaves the catalog;
//   - kill -9 of a server: its serfHealth turns critical on
//     /v1/health/node/<name> within seconds.
func TestGossipE2E(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs five agents")
	}
	key, wrong := newTestKey(t), newTestKey(t)
	c := newE2EProcesses(t)
	var servers []*e2eServer
	for i := 1; i <= 3; i++ {
		servers = append(servers, c.add(fmt.Sprintf("g%d", i), fmt.Sprintf("127.0.0.7%d", i), "-log-level=debug", "-server", "-bootstrap-expect=3", "-encrypt="+key))
	}
	for _, s := range servers {
		for _, other := range servers {
			s.args = append(s.args, "-retry-join="+other.lanAddr())
		}
	}
	g1 := servers[0]
	late := c.add("g4", "127.0.0.74", "-log-level=debug", "-server", "-bootstrap-expect=3", "-encrypt="+key, "-retry-join="+g1.lanAddr())
	outsider := c.add("bad", "127.0.0.75", "-log-level=debug", "-dev", "-encrypt="+wrong, "-retry-join="+g1.lanAddr())
	for _, s := range servers {
		c.start(s)
	}
	leader := c.waitLeader(servers...)
	c.start(late)
	members := func(s *e2eServer) map[string]int {
		code, body, err := c.do(http.MethodGet, s, "/v1/agent/members", "", 2*time.Second)
		var list []agentMember
		if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			return nil
		}
		out := map[string]int{}
		for _, m := range list {
			out[m.Name] = m.Status
		}
		return out
	}
	allAlive := func(s *e2eServer, names ...string) (bool, string) {
		m := members(s)
		for _, n := range names {
			if m[n] != memberAlive {
				return false, fmt.Sprint(m)
			}
		}
		return len(m) == len(names), fmt.Sprint(m)
	}
	start := time.Now()
	for _, s := range append(servers, late) {
		eventually(t, 20*time.Second, s.name+" to list g1-g4 alive", func() (bool, string) { return allAlive(s, "g1", "g2", "g3", "g4") })
	}
	t.Logf("g4 joined through g1: listed alive by all four %v after it started", time.Since(start))
	serfHealth := func(s *e2eServer, node string) string {
		code, body, err := c.do(http.MethodGet, s, "/v1/health/node/"+node, "", 2*time.Second)
		var checks []HealthCheck
		if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &checks) != nil {
			return fmt.Sprintf("%d %v", code, err)
		}
		for _, ch := range checks {
			if ch.CheckID == serfHealthID {
				return ch.Status
			}
		}
		return "none"
	}
	eventually(t, 20*time.Second, "g4 in the catalog, serfHealth passing", func() (bool, string) {
		st := serfHealth(leader, "g4")
		return st == healthPassing, st
	})

	// The wrong key: its join reaches g1 and is dropped there.
	from := len(g1.logs())
	c.start(outsider)
	eventually(t, 20*time.Second, "g1 to drop gossip no key opens", func() (bool, string) {
		return strings.Contains(g1.logs()[from:], "dropping gossip that no key decrypts"), "not yet"
	})
	// Two of its join attempts failed (it retries every 2 s): had one been
	// accepted, the pool would list it by now.
	eventually(t, 20*time.Second, "two failed join attempts by the wrong-key agent", func() (bool, string) {
		n := 0
		for _, line := range strings.Split(outsider.logs(), "\n") {
			if strings.Contains(line, `msg="stream failed"`) && strings.Contains(line, "to="+g1.lanAddr()) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d failed", n)
	})
	if ok, seen := allAlive(outsider, "bad"); !ok {
		t.Fatalf("the agent with the wrong key lists %s", seen)
	}
	for _, s := range append(servers, late) {
		if m := members(s); len(m) != 4 {
			t.Fatalf("%s lists %v with the wrong-key agent running", s.name, m)
		}
	}
	c.kill(outsider)

	// A graceful leave.
	if code, body, err := c.do(http.MethodPut, late, "/v1/agent/leave", "", 15*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("leave: %d %q %v", code, body, err)
	}
	c.waitExit(late, 15*time.Second)
	for _, s := range servers {
		eventually(t, 10*time.Second, s.name+" to list g4 left", func() (bool, string) {
			m := members(s)
			return m["g4"] == memberLeft, fmt.Sprint(m)
		})
	}
	eventually(t, 20*time.Second, "g4 out of the catalog", func() (bool, string) {
		code, body, err := c.do(http.MethodGet, leader, "/v1/catalog/node/g4", "", 2*time.Second)
		return err == nil && code == http.StatusOK && body == "null", fmt.Sprintf("%d %.100s %v", code, body, err)
	})

	// kill -9 of a follower: critical within seconds, on the leader's catalog.
	victim := c.others(leader, late, outsider)[0]
	c.kill(victim)
	killed := time.Now()
	eventually(t, 30*time.Second, victim.name+"'s serfHealth critical", func() (bool, string) {
		st := serfHealth(leader, victim.name)
		return st == healthCritical, st
	})
	t.Logf("kill -9 of %s: serfHealth critical on %s after %v", victim.name, leader.name, time.Since(killed))
}
