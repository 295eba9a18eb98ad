package main

import "testing"

func TestSpiffeServiceRoundTrip(t *testing.T) {
	t.Parallel()
	id := spiffeService{TrustDomain: "11111111-2222-3333-4444-555555555555.consul", Namespace: "default", Datacenter: "dc1", Service: "web"}
	want := "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web"
	if got := id.String(); got != want {
		t.Fatalf("URI %s, want %s", got, want)
	}
	back, err := parseSpiffeService(want)
	if err != nil || back != id {
		t.Fatalf("parse: %+v %v", back, err)
	}
	for _, bad := range []string{"", "web", "http://x.consul/ns/default/dc/dc1/svc/web",
		"spiffe://x.consul", "spiffe://x.consul/agent/client/dc/dc1/id/n1",
		"spiffe://x.consul/ns/default/dc/dc1/svc/", "spiffe://x.consul/ns/default/dc/dc1/svc/web/extra",
		"spiffe:///ns/default/dc/dc1/svc/web", "spiffe://x.consul/ns/default/dc/dc1/svc/web?x=1"} {
		if _, err := parseSpiffeService(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseSpiffeService(f *testing.F) {
	f.Add("spiffe://a.consul/ns/default/dc/dc1/svc/web")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := parseSpiffeService(raw)
		if err != nil {
			return
		}
		again, err := parseSpiffeService(id.String())
		if err != nil || again != id {
			t.Fatalf("%q → %+v does not round-trip: %+v %v", raw, id, again, err)
		}
	})
}
