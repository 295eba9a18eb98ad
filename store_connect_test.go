// store_connect_test.go: tests of the store's mesh index (store_connect.go):
// kept through registrations, renames, kind changes and deregistrations,
// and rebuilt identically from a snapshot.
//
// Concurrency: each test uses only its own store.
package main

import (
	"bytes"
	"slices"
	"testing"
)

func TestConnectIndex(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	reg := func(node string, s Service) {
		l.register(&RegisterRequest{Node: node, Address: "10.0.0.1", Service: &s})
	}
	proxy := func(id, dest string) Service {
		return Service{Kind: serviceKindConnectProxy, ID: id, Service: id, Port: 21000, Proxy: ConnectProxyConfig{DestinationServiceName: dest}}
	}
	ids := func(st *state, name string) []string {
		var out []string
		for _, csn := range st.connectServiceNodes(name) {
			out = append(out, csn.Node.Node+"/"+csn.Service.ID)
		}
		return out
	}
	reg("n1", Service{ID: "web", Service: "web", Port: 80})
	reg("n1", proxy("web-sidecar-proxy", "web"))
	reg("n2", proxy("web-sidecar-proxy", "web"))
	reg("n2", Service{ID: "web-native", Service: "web", Port: 443, Connect: ServiceConnect{Native: true}})
	reg("n2", proxy("api-proxy", "api"))
	st := l.s.snapshot()
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"web", []string{"n1/web-sidecar-proxy", "n2/web-native", "n2/web-sidecar-proxy"}},
		{"api", []string{"n2/api-proxy"}},
		{"db", nil},
	} {
		if got := ids(st, tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("connect %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	before := st.connectIndex("web")

	// A proxy pointed elsewhere moves; the index of both names moves on.
	reg("n2", proxy("api-proxy", "db"))
	st = l.s.snapshot()
	if got := ids(st, "api"); got != nil || !slices.Equal(ids(st, "db"), []string{"n2/api-proxy"}) {
		t.Fatalf("after retargeting: api %q, db %q", got, ids(st, "db"))
	}
	if st.connectIndex("api") <= before || st.connectIndex("db") <= before {
		t.Fatalf("indexes after retargeting: api %d db %d (before %d)", st.connectIndex("api"), st.connectIndex("db"), before)
	}
	// Native no more, a proxy deregistered, a node gone.
	reg("n2", Service{ID: "web-native", Service: "web", Port: 443})
	l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n1", ServiceID: "web-sidecar-proxy"}})
	st = l.s.snapshot()
	if got := ids(st, "web"); !slices.Equal(got, []string{"n2/web-sidecar-proxy"}) {
		t.Fatalf("after the changes: web %q", got)
	}
	if st.connectIndex("web") != l.index {
		t.Fatalf("connect index of web %d, want the last change's %d", st.connectIndex("web"), l.index)
	}

	// A snapshot rebuilds the same index.
	var buf bytes.Buffer
	if err := writeSnapshot(st, &buf); err != nil {
		t.Fatal(err)
	}
	rst, err := readSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "api", "db"} {
		if !slices.Equal(ids(rst, name), ids(st, name)) || rst.connectIndex(name) != st.connectIndex(name) {
			t.Errorf("restored connect %s: %q at %d, want %q at %d", name, ids(rst, name), rst.connectIndex(name), ids(st, name), st.connectIndex(name))
		}
	}
	l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n2"}})
	if got := ids(l.s.snapshot(), "web"); got != nil {
		t.Fatalf("after the node left: %q", got)
	}
}
