// dns_resolve_test.go: tests of DNS name resolution (dns_resolve.go):
// services, tags, RFC 2782, nodes, addresses, reverse names, datacenters,
// health filtering, case folding and shuffling. The catalog helpers are in
// dns_test.go.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestDNSServiceA(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	m := dnsAsk(t, d, "web.service.consul.", dnsmessage.TypeA)
	dnsCheck(t, m, dnsmessage.RCodeSuccess, "A 10.1.2.3", "A 127.0.0.10", "A 127.0.0.11")
	if !m.Header.Authoritative || !m.Header.RecursionDesired || m.Header.RecursionAvailable || len(m.Authorities) != 0 {
		t.Fatalf("header %+v, authority %v", m.Header, m.Authorities)
	}
	for _, a := range m.Answers {
		if a.Header.Name.String() != "web.service.consul." || a.Header.TTL != 0 {
			t.Fatalf("answer header %+v", a.Header)
		}
	}
	dnsCheck(t, dnsAsk(t, d, "web.service.dc1.consul.", dnsmessage.TypeALL), dnsmessage.RCodeSuccess,
		"A 10.1.2.3", "A 127.0.0.10", "A 127.0.0.11")
	dnsCheck(t, dnsAsk(t, d, "web.service.dc1.dc.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess,
		"A 10.1.2.3", "A 127.0.0.10", "A 127.0.0.11")
	// An IPv4-only service has no AAAA: NOERROR, no answer, SOA (RFC 2308 §2.2).
	dnsCheckNegative(t, dnsAsk(t, d, "web.service.consul.", dnsmessage.TypeAAAA), dnsmessage.RCodeSuccess)
	dnsCheckNegative(t, dnsAsk(t, d, "web.service.consul.", dnsmessage.TypeMX), dnsmessage.RCodeSuccess)
	dnsCheckNegative(t, dnsAsk(t, d, "nope.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
}

func TestDNSServiceSRV(t *testing.T) {
	t.Parallel()
	c := webCatalog(t)
	c.instance("node4", "127.0.0.13", Service{Service: "api", Port: 9000, Weights: Weights{Passing: 7, Warning: 2}}, healthPassing)
	c.instance("node5", "127.0.0.14", Service{Service: "api", Port: 9001, Weights: Weights{Passing: 7, Warning: 2}}, healthWarning)
	d := c.server(dnsTestConfig())

	m := dnsAsk(t, d, "web.service.consul.", dnsmessage.TypeSRV)
	dnsCheck(t, m, dnsmessage.RCodeSuccess, "SRV 0a010203.addr.dc1.consul.", "SRV node1.node.dc1.consul.", "SRV node2.node.dc1.consul.")
	ports := map[string]uint16{}
	for _, a := range m.Answers {
		srv := a.Body.(*dnsmessage.SRVResource)
		if srv.Priority != 1 || srv.Weight != 1 {
			t.Fatalf("SRV %+v: want priority 1, weight 1", srv)
		}
		ports[srv.Target.String()] = srv.Port
	}
	if ports["node1.node.dc1.consul."] != 8080 || ports["0a010203.addr.dc1.consul."] != 8082 {
		t.Fatalf("ports %v", ports)
	}
	// The targets' addresses ride along in the additional section.
	extra := map[string]string{}
	for _, r := range m.Additionals {
		extra[r.Header.Name.String()] = dnsAnswers([]dnsmessage.Resource{r})[0]
	}
	want := map[string]string{"node1.node.dc1.consul.": "A 127.0.0.10", "node2.node.dc1.consul.": "A 127.0.0.11",
		"0a010203.addr.dc1.consul.": "A 10.1.2.3"}
	if len(extra) != 3 || extra["node1.node.dc1.consul."] != want["node1.node.dc1.consul."] ||
		extra["node2.node.dc1.consul."] != want["node2.node.dc1.consul."] || extra["0a010203.addr.dc1.consul."] != want["0a010203.addr.dc1.consul."] {
		t.Fatalf("additional %v, want %v", extra, want)
	}

	// Weights: Passing for passing instances, Warning for warning ones.
	weights := map[string]uint16{}
	for _, a := range dnsAsk(t, d, "api.service.consul.", dnsmessage.TypeSRV).Answers {
		srv := a.Body.(*dnsmessage.SRVResource)
		weights[srv.Target.String()] = srv.Weight
	}
	if weights["node4.node.dc1.consul."] != 7 || weights["node5.node.dc1.consul."] != 2 {
		t.Fatalf("weights %v", weights)
	}
}

func TestDNSTags(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	dnsCheck(t, dnsAsk(t, d, "primary.web.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "PRIMARY.web.service.dc1.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess, "SRV node1.node.dc1.consul.")
	dnsCheckNegative(t, dnsAsk(t, d, "canary.web.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
}

func TestDNSRFC2782(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	all := []string{"SRV 0a010203.addr.dc1.consul.", "SRV node1.node.dc1.consul.", "SRV node2.node.dc1.consul."}
	for _, name := range []string{"_web._tcp.service.consul.", "_web._tcp.service.dc1.consul.", "_web._tcp.consul.", "_web._tcp.dc1.consul."} {
		dnsCheck(t, dnsAsk(t, d, name, dnsmessage.TypeSRV), dnsmessage.RCodeSuccess, all...)
	}
	// Any other protocol label is a tag.
	dnsCheck(t, dnsAsk(t, d, "_web._primary.service.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess, "SRV node1.node.dc1.consul.")
	dnsCheckNegative(t, dnsAsk(t, d, "_web._udp.service.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeNameError)
	// Without ".service" the form is for SRV questions only, as in Consul.
	dnsCheckNegative(t, dnsAsk(t, d, "_web._tcp.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
	dnsCheck(t, dnsAsk(t, d, "_web._tcp.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess,
		"A 10.1.2.3", "A 127.0.0.10", "A 127.0.0.11")
}

func TestDNSOtherDatacenter(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	// No path to another datacenter: Consul answers NXDOMAIN.
	for _, name := range []string{"web.service.dc2.consul.", "node1.node.dc2.consul.", "7f00000a.addr.dc2.consul.",
		"_web._tcp.dc2.consul.", "web.service.a.b.consul.", "web.service.dc2.dc.consul."} {
		dnsCheckNegative(t, dnsAsk(t, d, name, dnsmessage.TypeSRV), dnsmessage.RCodeNameError)
	}
}

func TestDNSHealthFiltering(t *testing.T) {
	t.Parallel()
	c := newDNSCatalog(t)
	c.instance("n1", "10.0.0.1", Service{Service: "app", Port: 1}, healthPassing)
	c.instance("n2", "10.0.0.2", Service{Service: "app", Port: 1}, healthWarning)
	c.instance("n3", "10.0.0.3", Service{Service: "app", Port: 1}, healthCritical)
	c.instance("n4", "10.0.0.4", Service{Service: "app", Port: 1}, "")
	// A critical node-level check takes every service on the node out.
	c.register(&RegisterRequest{Node: "n4", Address: "10.0.0.4", Checks: []*HealthCheck{{CheckID: "serfHealth", Status: healthCritical}}})
	c.instance("n5", "10.0.0.5", Service{Service: "down", Port: 1}, healthCritical)

	cfg := dnsTestConfig()
	d := c.server(cfg)
	dnsCheck(t, dnsAsk(t, d, "app.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 10.0.0.1", "A 10.0.0.2")
	dnsCheckNegative(t, dnsAsk(t, d, "down.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)

	cfg.DNS.OnlyPassing = true
	d = c.server(cfg)
	dnsCheck(t, dnsAsk(t, d, "app.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 10.0.0.1")
}

func TestDNSNode(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	dnsCheck(t, dnsAsk(t, d, "node1.node.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "node1.node.dc1.consul.", dnsmessage.TypeALL), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "node6.node.consul.", dnsmessage.TypeAAAA), dnsmessage.RCodeSuccess, "AAAA 2001:db8::6")
	dnsCheck(t, dnsAsk(t, d, "node6.node.consul.", dnsmessage.TypeTXT), dnsmessage.RCodeSuccess, "TXT rack=r1", "TXT z")
	dnsCheck(t, dnsAsk(t, d, "node6.node.consul.", dnsmessage.TypeALL), dnsmessage.RCodeSuccess, "AAAA 2001:db8::6", "TXT rack=r1", "TXT z")
	dnsCheck(t, dnsAsk(t, d, "nodeh.node.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "CNAME host.example.com.")
	dnsCheckNegative(t, dnsAsk(t, d, "node6.node.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess)
	dnsCheckNegative(t, dnsAsk(t, d, "node1.node.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess)
	dnsCheckNegative(t, dnsAsk(t, d, "ghost.node.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
	dnsCheckNegative(t, dnsAsk(t, d, "node.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
}

func TestDNSMetaTXT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ k, v, want string }{
		{"rack", "r1", "rack=r1"},
		{"a=b", "c`d", "a`=b=c``d"},
		{" key ", "v", "` key` =v"},
		{"rfc1035-x", "only the value", "only the value"},
	} {
		if got := dnsMetaTXT(tc.k, tc.v); got != tc.want {
			t.Errorf("dnsMetaTXT(%q, %q) = %q, want %q", tc.k, tc.v, got, tc.want)
		}
	}
}

func TestDNSAddr(t *testing.T) {
	t.Parallel()
	d := newDNSCatalog(t).server(dnsTestConfig())
	dnsCheck(t, dnsAsk(t, d, "7f00000a.addr.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "7F00000A.addr.dc1.consul.", dnsmessage.TypeALL), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "20010db8000000000000000000000006.addr.dc1.consul.", dnsmessage.TypeAAAA),
		dnsmessage.RCodeSuccess, "AAAA 2001:db8::6")
	dnsCheckNegative(t, dnsAsk(t, d, "7f00000a.addr.consul.", dnsmessage.TypeAAAA), dnsmessage.RCodeSuccess)
	for _, bad := range []string{"7f00000.addr.consul.", "7f00000g.addr.consul.", "x.7f00000a.addr.consul.", "+f00000a.addr.consul."} {
		dnsCheckNegative(t, dnsAsk(t, d, bad, dnsmessage.TypeA), dnsmessage.RCodeNameError)
	}
}

func TestDNSReverse(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	m := dnsAsk(t, d, "10.0.0.127.in-addr.arpa.", dnsmessage.TypePTR)
	dnsCheck(t, m, dnsmessage.RCodeSuccess, "PTR node1.node.dc1.consul.")
	if !m.Header.Authoritative {
		t.Fatal("PTR answer not authoritative")
	}
	dnsCheck(t, dnsAsk(t, d, "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6.arpa.", dnsmessage.TypePTR),
		dnsmessage.RCodeSuccess, "PTR node6.node.dc1.consul.")
	for _, name := range []string{"99.0.0.127.in-addr.arpa.", "0.127.in-addr.arpa.", "1.10.0.0.127.in-addr.arpa.",
		"300.0.0.127.in-addr.arpa.", "6.0.ip6.arpa.", "in-addr.arpa."} {
		dnsCheck(t, dnsAsk(t, d, name, dnsmessage.TypePTR), dnsmessage.RCodeRefused)
	}
}

func TestDNSApexAndRefused(t *testing.T) {
	t.Parallel()
	d := webCatalog(t).server(dnsTestConfig())
	m := dnsAsk(t, d, "consul.", dnsmessage.TypeSOA)
	dnsCheck(t, m, dnsmessage.RCodeSuccess, "SOA ns.consul.")
	dnsCheckNegative(t, dnsAsk(t, d, "consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess)
	for _, name := range []string{"example.com.", "web.service.consul.example.com.", "notconsul.", "."} {
		m := dnsAsk(t, d, name, dnsmessage.TypeA)
		dnsCheck(t, m, dnsmessage.RCodeRefused)
		if m.Header.Authoritative || len(m.Authorities) != 0 {
			t.Fatalf("%s: REFUSED should carry nothing: %+v", name, m)
		}
	}
	// Only the Internet class is served.
	q := dnsQuery("web.service.consul.", dnsmessage.TypeA, 0)
	binary.BigEndian.PutUint16(q[len(q)-2:], 3) // CHAOS
	dnsCheck(t, dnsExchange(t, d, q, false), dnsmessage.RCodeRefused)
	dnsCheck(t, dnsAsk(t, d, "web.service.consul.", dnsmessage.TypeAXFR), dnsmessage.RCodeNotImplemented)
}

func TestDNSCaseInsensitive(t *testing.T) {
	t.Parallel()
	c := webCatalog(t)
	c.instance("Node7", "10.0.0.7", Service{Service: "Api", Port: 1}, healthPassing)
	d := c.server(dnsTestConfig())
	m := dnsAsk(t, d, "WeB.SeRvIcE.CoNsUl.", dnsmessage.TypeA)
	dnsCheck(t, m, dnsmessage.RCodeSuccess, "A 10.1.2.3", "A 127.0.0.10", "A 127.0.0.11")
	// The question and the owner names keep the client's spelling (RFC 4343 §4.1).
	if m.Questions[0].Name.String() != "WeB.SeRvIcE.CoNsUl." || m.Answers[0].Header.Name.String() != "WeB.SeRvIcE.CoNsUl." {
		t.Fatalf("names changed case: %v / %v", m.Questions[0].Name, m.Answers[0].Header.Name)
	}
	dnsCheck(t, dnsAsk(t, d, "api.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 10.0.0.7")
	dnsCheck(t, dnsAsk(t, d, "API.service.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess, "SRV Node7.node.dc1.consul.")
	dnsCheck(t, dnsAsk(t, d, "node7.NODE.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 10.0.0.7")
	dnsCheck(t, dnsAsk(t, d, "NODE1.node.DC1.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "web.service.CONSUL.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess,
		"SRV 0a010203.addr.dc1.consul.", "SRV node1.node.dc1.consul.", "SRV node2.node.dc1.consul.")
}

func TestDNSShuffle(t *testing.T) {
	t.Parallel()
	d := manyCatalog(t, 5).server(dnsTestConfig())
	// 5! = 120 orders: the chance that 200 uniform shuffles all agree is 120^-199.
	orders := map[string]bool{}
	for range 200 {
		m := dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeA, 0), true)
		orders[strings.Join(dnsAnswers(m.Answers), ",")] = true
	}
	if len(orders) < 2 {
		t.Fatalf("200 answers all in one order: %v", orders)
	}
	// Over UDP the three records are a random choice among the five.
	seen := map[string]bool{}
	for range 200 {
		for _, a := range dnsAnswers(dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeA, 0), false).Answers) {
			seen[a] = true
		}
	}
	if len(seen) != 5 {
		t.Fatalf("UDP answers drew from %d of 5 instances", len(seen))
	}
}
