// store_catalog_watch_test.go: which catalog watchers a change wakes. The
// health and catalog reads of one service (/v1/health/service/<name>,
// /v1/catalog/service/<name>) wait on the service's topic; a change must
// fire the topics of the services it touched and no others: one instance's
// check, service or deregistration its service only, a node's own change or
// node-level check every service on that node, a KV write none.
package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// watchCatalog registers services svc-0…svc-(services-1), three instances
// each, instance j of svc-i on node n-((i+j*7) mod nodes) with a passing
// check of its own; it returns the index of the last command.
func watchCatalog(t testing.TB, s *Store, services, nodes int) uint64 {
	t.Helper()
	idx := uint64(0)
	for i := range services {
		for j := range 3 {
			idx++
			node := fmt.Sprintf("n-%d", (i+j*7)%nodes)
			id := fmt.Sprintf("svc-%d-%d", i, j)
			req := &RegisterRequest{Node: node, Address: "10.0.0.1", Service: &Service{ID: id, Service: fmt.Sprintf("svc-%d", i), Port: 8000 + j},
				Checks: []*HealthCheck{{CheckID: "check-" + id, Name: "alive", Status: healthPassing, ServiceID: id}}}
			if res := s.apply(idx, &command{Type: cmdRegister, Register: req}); res.err != nil {
				t.Fatalf("register %s: %v", id, res.err)
			}
		}
	}
	return idx
}

func TestCatalogChangeWakesOnlyItsServices(t *testing.T) {
	t.Parallel()
	const services, nodes = 200, 60
	onNode := func(n int) []string { // the services with an instance on n-<n>
		var out []string
		for i := range services {
			for j := range 3 {
				if (i+j*7)%nodes == n && !slices.Contains(out, fmt.Sprintf("svc-%d", i)) {
					out = append(out, fmt.Sprintf("svc-%d", i))
				}
			}
		}
		slices.Sort(out)
		return out
	}
	register := func(req *RegisterRequest) *command { return &command{Type: cmdRegister, Register: req} }
	for _, tc := range []struct {
		name string
		cmd  *command
		want []string
	}{
		{"an instance's check goes critical", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1",
			Check: &HealthCheck{CheckID: "check-svc-7-0", Name: "alive", Status: healthCritical, ServiceID: "svc-7-0"}}), []string{"svc-7"}},
		{"an instance's check output changes", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1",
			Check: &HealthCheck{CheckID: "check-svc-7-0", Name: "alive", Status: healthPassing, ServiceID: "svc-7-0", Output: "ok"}}), []string{"svc-7"}},
		{"an instance is added on a new node", register(&RegisterRequest{Node: "new", Address: "10.0.0.2",
			Service: &Service{ID: "svc-7-new", Service: "svc-7", Port: 9000}}), []string{"svc-7"}},
		{"an instance is added on a node with others", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1",
			Service: &Service{ID: "svc-7-more", Service: "svc-7", Port: 9000}}), []string{"svc-7"}},
		{"an instance's tags change", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1",
			Service: &Service{ID: "svc-7-0", Service: "svc-7", Port: 8000, Tags: []string{"v2"}}}), []string{"svc-7"}},
		{"an instance is deregistered", &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n-7", ServiceID: "svc-7-0"}}, []string{"svc-7"}},
		{"an instance's check is deregistered", &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n-7", CheckID: "check-svc-7-0"}}, []string{"svc-7"}},
		{"a node-level check goes critical", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1",
			Check: &HealthCheck{CheckID: "serfHealth", Name: "Serf Health Status", Status: healthCritical}}), onNode(7)},
		{"a node's address changes", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.9"}), onNode(7)},
		{"a node's registration is repeated unchanged", register(&RegisterRequest{Node: "n-7", Address: "10.0.0.1"}), nil},
		{"a node is deregistered", &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n-7"}}, onNode(7)},
		{"a KV write", &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "svc-7", Value: []byte("x")}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore()
			idx := watchCatalog(t, s, services, nodes)
			watches := map[string]*watch{}
			for i := range services {
				name := fmt.Sprintf("svc-%d", i)
				w := s.newWatch()
				w.watchTopic(serviceIndexName(name))
				watches[name] = w
				defer w.stop()
			}
			if res := s.apply(idx+1, tc.cmd); res.err != nil {
				t.Fatal(res.err)
			}
			var woken []string
			for name, w := range watches {
				select {
				case <-w.fired:
					woken = append(woken, name)
				default:
				}
			}
			slices.Sort(woken)
			if !slices.Equal(woken, tc.want) {
				t.Fatalf("woke %v, want %v", woken, tc.want)
			}
		})
	}
}

// TestChecksByServiceMatchesChecks: after random registrations and
// deregistrations of nodes, services and checks (a check moving between
// services and the node too), the index by service holds exactly the
// checks, each instance's health lists its node's and its service's checks
// in check ID order, as a scan of the node's checks gives them, and a
// snapshot read back rebuilds the same index.
func TestChecksByServiceMatchesChecks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	l := newTestLog(t)
	for range 3000 {
		node := fmt.Sprintf("n%d", rng.IntN(6))
		svc := fmt.Sprintf("s%d", rng.IntN(4))
		switch rng.IntN(6) {
		case 0, 1, 2:
			req := &RegisterRequest{Node: node, Address: "127.0.0.1", Service: &Service{ID: svc, Service: "web" + svc[1:], Port: rng.IntN(3)}}
			c := &HealthCheck{Node: node, CheckID: fmt.Sprintf("c%d", rng.IntN(8)), Name: "c", Status: healthPassing}
			if rng.IntN(3) > 0 {
				c.ServiceID = svc
			}
			req.Check = c
			l.apply(&command{Type: cmdRegister, Register: req})
		case 3:
			l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: node, CheckID: fmt.Sprintf("c%d", rng.IntN(8))}})
		case 4:
			l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: node, ServiceID: svc}})
		case 5:
			if rng.IntN(4) == 0 {
				l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: node}})
			}
		}
	}
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	restored, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*state{"applied": l.s.snapshot(), "restored": restored} {
		n := 0
		st.checks.each(func(key string, c *HealthCheck) bool {
			n++
			node := key[:len(key)-len(c.CheckID)-1]
			if got, ok := st.checksByService.get(serviceCheckKey(node, c.ServiceID, c.CheckID)); !ok || got != c {
				t.Errorf("%s: check %q on %s (service %q) missing from the index", name, c.CheckID, node, c.ServiceID)
			}
			return true
		})
		if m := len(treeKeys(st.checksByService)); m != n {
			t.Errorf("%s: %d checks, %d in the index", name, n, m)
		}
		instances := 0
		st.services.each(func(key string, s *Service) bool {
			node := key[:len(key)-len(s.ID)-1]
			in := ServiceInstance{Node: st.node(node), Service: s}
			var want []*HealthCheck
			st.checks.ascendPrefix(node+"\x00", "", func(_ string, c *HealthCheck) bool {
				if c.ServiceID == "" || c.ServiceID == s.ID {
					want = append(want, c)
				}
				return true
			})
			if got := st.withChecks(in).Checks; !slices.Equal(got, want) {
				t.Errorf("%s: %s/%s: checks %v, want %v", name, node, s.ID, got, want)
			}
			instances++
			return true
		})
		if instances == 0 || n == 0 {
			t.Fatalf("%s: %d instances, %d checks: the test checked nothing", name, instances, n)
		}
	}
}
