package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// coordJSON is an update's body: node at x·e1 (seconds).
func coordJSON(node string, x float64) string {
	c := newCoordinate()
	c.Vec[0], c.Error = x, 0.2
	b, _ := json.Marshal(CoordinateEntry{Node: node, Coord: c})
	return string(b)
}

func coordNodes(ta *testAgent) map[string]*Coordinate {
	var list []CoordinateEntry
	ta.must("GET", "/v1/coordinate/nodes", "", &list)
	out := map[string]*Coordinate{}
	for _, e := range list {
		out[e.Node] = e.Coord
	}
	return out
}

// TestCoordinateEndpoints: Consul's shapes, status codes and messages
// (checked against Consul 1.22.7), and its Go client's coordinate tests
// (TestAPI_CoordinateDatacenters/Nodes/Node/Update) in their terms.
func TestCoordinateEndpoints(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.SyncCoordinateIntervalMin = time.Hour })

	// Nothing sent yet: an empty list, the node 404 with an empty body
	// and no query meta.
	r := ta.must("GET", "/v1/coordinate/nodes", "", nil)
	if r.body != "[]" || r.header.Get("X-Consul-Index") == "" {
		t.Fatalf("nodes: %q %v", r.body, r.header)
	}
	r = ta.do("GET", "/v1/coordinate/node/node1", "")
	if r.code != 404 || r.body != "" || r.header.Get("X-Consul-Index") != "" {
		t.Fatalf("node without a coordinate: %d %q %v", r.code, r.body, r.header)
	}

	// The WAN pool's coordinates: this server at the origin.
	var dcs []struct {
		Datacenter, AreaID string
		Coordinates        []CoordinateEntry
	}
	ta.must("GET", "/v1/coordinate/datacenters", "", &dcs)
	if len(dcs) != 1 || dcs[0].Datacenter != "dc1" || dcs[0].AreaID != "wan" || len(dcs[0].Coordinates) != 1 ||
		dcs[0].Coordinates[0].Node != "node1" || dcs[0].Coordinates[0].Coord.Error != 1.5 ||
		dcs[0].Coordinates[0].Coord.Height != 1e-5 || len(dcs[0].Coordinates[0].Coord.Vec) != 8 {
		t.Fatalf("datacenters: %+v", dcs)
	}

	// Errors, as Consul's.
	ta.expect("PUT", "/v1/coordinate/update", `{bad`, 400, "Request decode failed: invalid character 'b' looking for beginning of object key string")
	ta.expect("PUT", "/v1/coordinate/update", `{"Node":"node1","Coord":{"Vec":[1,2],"Error":1,"Height":0.001}}`, 500, "incompatible coordinate")
	ta.expect("GET", "/v1/coordinate/update", "", 405, "method GET not allowed")
	ta.expect("POST", "/v1/coordinate/nodes", "", 405, "method POST not allowed")

	// TestAPI_CoordinateUpdate: a registered node's coordinate, visible a
	// few seconds later, equal to what was sent; an unknown node's dropped.
	ta.must("PUT", "/v1/catalog/register", `{"Node":"foo","Address":"1.1.1.1"}`, nil)
	r = ta.must("PUT", "/v1/coordinate/update", `{"Node":"ghost","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.00001}}`, nil)
	if r.body != "" {
		t.Fatalf("update answered %q, want an empty body", r.body)
	}
	ta.must("PUT", "/v1/coordinate/update", `{"Node":"foo","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.5}}`, nil)
	var got []json.RawMessage
	eventually(t, 30*time.Second, "foo's coordinate stored", func() bool {
		r := ta.do("GET", "/v1/coordinate/node/foo", "")
		return r.code == 200 && json.Unmarshal([]byte(r.body), &got) == nil
	})
	if want := `{"Node":"foo","Segment":"","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.5}}`; len(got) != 1 || string(got[0]) != want {
		t.Fatalf("node/foo: %s, want [%s]", got, want)
	}
	if nodes := coordNodes(ta); len(nodes) != 1 || nodes["foo"] == nil {
		t.Fatalf("nodes: %v (the unknown node must be dropped)", nodes)
	}

	// Blocking: a query at the current index returns on the next update.
	idx := ta.must("GET", "/v1/coordinate/nodes", "", nil).index()
	done := make(chan response, 1)
	go func() { done <- ta.do("GET", fmt.Sprintf("/v1/coordinate/nodes?index=%d&wait=30s", idx), "") }()
	ta.must("PUT", "/v1/coordinate/update", coordJSON("foo", 0.003), nil)
	select {
	case r := <-done:
		if r.index() <= idx || !bytes.Contains([]byte(r.body), []byte("0.003")) {
			t.Fatalf("blocking query woke with index %d (was %d): %s", r.index(), idx, r.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocking query did not return")
	}

	// The coordinate goes with its node.
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"foo"}`, nil)
	if nodes := coordNodes(ta); len(nodes) != 0 {
		t.Fatalf("nodes after deregistering foo: %v", nodes)
	}
}

func nodeNames[T any](list []T, name func(T) string) []string {
	var out []string
	for _, v := range list {
		out = append(out, name(v))
	}
	return out
}

// TestNearSortsByDistance: ?near on the catalog and health lists, over
// synthetic coordinates on a line: nearest first, nodes without a
// coordinate last in their usual order, an unknown source the usual order.
func TestNearSortsByDistance(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.SyncCoordinateIntervalMin = time.Hour })
	at := map[string]float64{"n1": 0, "n2": 0.001, "n3": 0.010, "node1": 0.002} // n4: none
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		ta.must("PUT", "/v1/catalog/register", fmt.Sprintf(`{"Node":%q,"Address":"10.0.0.1","Service":{"Service":"web","Port":80}}`, n), nil)
	}
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":81}`, nil)
	for n, x := range at {
		ta.must("PUT", "/v1/coordinate/update", coordJSON(n, x), nil)
	}
	eventually(t, 30*time.Second, "four coordinates stored", func() bool { return len(coordNodes(ta)) == 4 })
	eventually(t, 30*time.Second, "node1's web in the catalog", func() bool {
		var l []catalogServiceNode
		ta.must("GET", "/v1/catalog/service/web", "", &l)
		return len(l) == 5
	})

	for _, tc := range []struct{ near, want string }{
		{"", "[n1 n2 n3 n4 node1]"},
		{"n3", "[n3 node1 n2 n1 n4]"},
		{"n1", "[n1 n2 node1 n3 n4]"},
		{"_agent", "[node1 n2 n1 n3 n4]"},
		{"nosuch", "[n1 n2 n3 n4 node1]"},
		{"n4", "[n1 n2 n3 n4 node1]"}, // a source without a coordinate
	} {
		q := ""
		if tc.near != "" {
			q = "?near=" + tc.near
		}
		var nodes []*Node
		ta.must("GET", "/v1/catalog/nodes"+q, "", &nodes)
		var svc []catalogServiceNode
		ta.must("GET", "/v1/catalog/service/web"+q, "", &svc)
		var health []CheckServiceNode
		ta.must("GET", "/v1/health/service/web"+q, "", &health)
		for what, got := range map[string][]string{
			"catalog/nodes":   nodeNames(nodes, func(n *Node) string { return n.Node }),
			"catalog/service": nodeNames(svc, func(e catalogServiceNode) string { return e.Node }),
			"health/service":  nodeNames(health, func(c CheckServiceNode) string { return c.Node.Node }),
		} {
			if fmt.Sprint(got) != tc.want {
				t.Errorf("%s?near=%s: %v, want %s", what, tc.near, got, tc.want)
			}
		}
	}
}

// TestResolveNearAgent: a client resolves _agent to its own node before it
// forwards, since the server would read it as itself.
func TestResolveNearAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/v1/health/service/web?near=_agent&passing", "/v1/health/service/web?near=web1&passing="},
		{"/v1/catalog/nodes?near=n3", "/v1/catalog/nodes?near=n3"},
		{"/v1/catalog/nodes", "/v1/catalog/nodes"},
	} {
		if got := resolveNearAgent(httptest.NewRequest("GET", tc.in, nil), "web1"); got != tc.want {
			t.Errorf("resolveNearAgent(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestDatacentersByDistance: datacenters ordered by the median RTT to their
// servers, from coordinates whose distances the test sets: dc3's servers
// are 5 ms away, dc2's 40 ms (one of them 1 ms: the median ignores it),
// dc4's unknown; the local datacenter first.
func TestDatacentersByDistance(t *testing.T) {
	t.Parallel()
	server := func(name, dc string, st swimState) swimMember {
		return swimMember{Name: name + "." + dc, State: st, Tags: map[string]string{"role": "consul", "dc": dc, "port": "8300"}}
	}
	members := []swimMember{
		server("a", "dc1", swimAlive), server("b", "dc2", swimAlive), server("c", "dc2", swimAlive),
		server("d", "dc2", swimAlive), server("e", "dc3", swimAlive), server("f", "dc4", swimAlive),
		server("g", "dc5", swimLeft),
	}
	at := map[string]float64{"b.dc2": 0.040, "c.dc2": 0.001, "d.dc2": 0.041, "e.dc3": 0.005, "a.dc1": 0}
	coordOf := func(name string) (*Coordinate, bool) {
		x, ok := at[name]
		if !ok {
			return nil, false
		}
		c := newCoordinate()
		c.Vec[0] = x
		return c, true
	}
	self, _ := coordOf("a.dc1")
	got := datacentersByDistance("dc1", self, members, coordOf)
	if want := []string{"dc1", "dc3", "dc2", "dc4"}; !slices.Equal(got, want) {
		t.Fatalf("datacenters %v, want %v", got, want)
	}
}

// TestCoordinatesStoreAndSnapshot: apply keeps known nodes' coordinates,
// drops unknown ones, and a snapshot carries them.
func TestCoordinatesStoreAndSnapshot(t *testing.T) {
	t.Parallel()
	s := newStore()
	s.apply(1, &command{Type: cmdRegister, Register: &RegisterRequest{Node: "a", Address: "10.0.0.1"}})
	c := newCoordinate()
	c.Vec[1] = 0.004
	res := s.apply(2, &command{Type: cmdCoordinates, Coordinates: []CoordinateEntry{{Node: "a", Coord: c}, {Node: "ghost", Coord: c}}})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if l := s.snapshot().coordinateList(); len(l) != 1 || l[0].Node != "a" || l[0].Coord.Vec[1] != 0.004 {
		t.Fatalf("coordinates %+v", l)
	}
	if idx := s.snapshot().tableIndex(indexCoordinates); idx != 2 {
		t.Fatalf("coordinates index %d, want 2", idx)
	}
	var buf bytes.Buffer
	if err := writeSnapshot(s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	st, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if l := st.coordinateList(); len(l) != 1 || l[0].Node != "a" || l[0].Coord.Vec[1] != 0.004 {
		t.Fatalf("coordinates after a snapshot %+v", l)
	}
}

// TestCoordinatesInACluster: three servers and a client on real sockets
// measure each other through SWIM's acks, and each node gets a measured
// (non-origin) coordinate in the catalog (the client's sent through its
// server), and each server in the WAN pool.
func TestCoordinatesInACluster(t *testing.T) {
	t.Parallel()
	fast := func(cfg *Config) {
		cfg.SyncCoordinateIntervalMin = 300 * time.Millisecond
		cfg.CoordinateUpdatePeriod = 200 * time.Millisecond
	}
	c := startTestClusterWith(t, 3, fast)
	startTestClientWith(t, "c1", "127.0.0.161", func(cfg *Config) {
		fast(cfg)
		cfg.RetryJoin = []string{lanAddr(t, c.agents[0].cfg.BindAddr)}
	})
	measured := func(co *Coordinate) bool {
		return co != nil && slices.ContainsFunc(co.Vec, func(v float64) bool { return v != 0 })
	}
	eventually(t, 60*time.Second, "every node with a measured coordinate", func() (bool, string) {
		nodes := coordNodes(c.agents[0])
		for _, n := range []string{"s1", "s2", "s3", "c1"} {
			if !measured(nodes[n]) {
				return false, fmt.Sprint(nodes)
			}
		}
		return true, ""
	})
	eventually(t, 60*time.Second, "the WAN pool's coordinates measured", func() (bool, string) {
		var dcs []datacenterMap
		c.agents[1].must("GET", "/v1/coordinate/datacenters", "", &dcs)
		if len(dcs) != 1 || len(dcs[0].Coordinates) != 3 {
			return false, fmt.Sprint(dcs)
		}
		for _, e := range dcs[0].Coordinates {
			if !measured(e.Coord) {
				return false, e.Node + " at the origin"
			}
		}
		return true, ""
	})
	var dcs []string
	c.agents[2].must("GET", "/v1/catalog/datacenters", "", &dcs)
	if !slices.Equal(dcs, []string{"dc1"}) {
		t.Fatalf("datacenters %v", dcs)
	}
	r := c.agents[0].do("GET", "/v1/coordinate/node/s2", "")
	if r.code != http.StatusOK {
		t.Fatalf("node/s2: %d %s", r.code, r.body)
	}
}

// TestCoordinateACLs: as Consul's, node:read filters the list and guards
// one node's, node:write guards an update.
func TestCoordinateACLs(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `node "a" { policy = "write" }`)
	for _, n := range []string{"a", "b"} {
		a.mustToken("root", "PUT", "/v1/catalog/register", fmt.Sprintf(`{"Node":%q,"Address":"10.0.0.1"}`, n), nil)
		a.mustToken("root", "PUT", "/v1/coordinate/update", coordJSON(n, 0.001), nil)
	}
	eventually(t, 30*time.Second, "both coordinates stored", func() bool {
		var l []CoordinateEntry
		a.mustToken("root", "GET", "/v1/coordinate/nodes", "", &l)
		return len(l) == 2
	})
	var l []CoordinateEntry
	r := a.mustToken(tok.SecretID, "GET", "/v1/coordinate/nodes", "", &l)
	if len(l) != 1 || l[0].Node != "a" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "true" {
		t.Fatalf("nodes with node:a: %+v %v", l, r.header)
	}
	a.mustToken(tok.SecretID, "GET", "/v1/coordinate/node/a", "", nil)
	a.expectToken(tok.SecretID, "GET", "/v1/coordinate/node/b", "", 403, denied(tok, "node:read", "b"))
	a.mustToken(tok.SecretID, "PUT", "/v1/coordinate/update", coordJSON("a", 0.002), nil)
	a.expectToken(tok.SecretID, "PUT", "/v1/coordinate/update", coordJSON("b", 0.002), 403, denied(tok, "node:write", "b"))
}
