package main

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// --- fixtures ---

func dnsTestConfig() *Config {
	cfg := &Config{NodeName: "node1", Datacenter: "dc1", Domain: "consul."}
	cfg.DNS.AllowStale = true
	cfg.DNS.UDPAnswerLimit = 3
	cfg.DNS.SOA.Refresh, cfg.DNS.SOA.Retry, cfg.DNS.SOA.Expire = 3600, 600, 86400
	return cfg
}

// dnsCatalog fills a store through the state machine, as the log would.
type dnsCatalog struct {
	t   testing.TB
	s   *Store
	idx uint64
}

func newDNSCatalog(t testing.TB) *dnsCatalog { return &dnsCatalog{t: t, s: newStore()} }

func (c *dnsCatalog) register(req *RegisterRequest) {
	c.t.Helper()
	c.idx++
	if res := c.s.apply(c.idx, &command{Type: cmdRegister, Register: req}); res.err != nil {
		c.t.Fatalf("register %s: %v", req.Node, res.err)
	}
}

// instance registers node (at addr) with one instance of svc and a check of
// the given status on it ("" for none).
func (c *dnsCatalog) instance(node, addr string, svc Service, status string) {
	c.t.Helper()
	req := &RegisterRequest{Node: node, Address: addr, Service: &svc}
	if status != "" {
		id := svc.ID
		if id == "" {
			id = svc.Service
		}
		req.Checks = []*HealthCheck{{CheckID: "check-" + id, Name: "check", Status: status, ServiceID: id}}
	}
	c.register(req)
}

func (c *dnsCatalog) server(cfg *Config) *dnsServer { return newDNSServer(cfg, storeSource(c.s), nil) }

func dnsQuery(name string, qt dnsmessage.Type, ednsSize int) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0xbeef, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qt, Class: dnsmessage.ClassINET})
	if ednsSize > 0 {
		b.StartAdditionals()
		var h dnsmessage.ResourceHeader
		h.SetEDNS0(ednsSize, 0, false)
		b.OPTResource(h, dnsmessage.OPTResource{})
	}
	msg, err := b.Finish()
	if err != nil {
		panic(err)
	}
	return msg
}

// dnsExchange runs one query through the handler and checks the framing
// and the size limit of the transport.
func dnsExchange(t testing.TB, d *dnsServer, query []byte, tcp bool) *dnsmessage.Message {
	t.Helper()
	frame := d.respond(&dnsScratch{}, query, tcp)
	if frame == nil {
		t.Fatalf("no response")
	}
	if n := int(binary.BigEndian.Uint16(frame)); n != len(frame)-2 {
		t.Fatalf("length prefix %d for a %d-byte message", n, len(frame)-2)
	}
	var m dnsmessage.Message
	if err := m.Unpack(frame[2:]); err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	if !m.Header.Response || m.Header.ID != 0xbeef {
		t.Fatalf("bad response header %+v", m.Header)
	}
	if !tcp {
		limit := dnsMinUDPSize
		for _, r := range m.Additionals {
			if r.Header.Type == dnsmessage.TypeOPT {
				limit = max(limit, min(int(r.Header.Class), dnsMaxUDPSize))
			}
		}
		if len(frame)-2 > limit {
			t.Fatalf("UDP response of %d bytes over %d", len(frame)-2, limit)
		}
	}
	return &m
}

func dnsAsk(t testing.TB, d *dnsServer, name string, qt dnsmessage.Type) *dnsmessage.Message {
	t.Helper()
	return dnsExchange(t, d, dnsQuery(name, qt, 0), false)
}

// dnsAnswers renders the answer section as "TYPE data" strings.
func dnsAnswers(rrs []dnsmessage.Resource) []string {
	var out []string
	for _, r := range rrs {
		switch b := r.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, "A "+netip.AddrFrom4(b.A).String())
		case *dnsmessage.AAAAResource:
			out = append(out, "AAAA "+netip.AddrFrom16(b.AAAA).String())
		case *dnsmessage.CNAMEResource:
			out = append(out, "CNAME "+b.CNAME.String())
		case *dnsmessage.PTRResource:
			out = append(out, "PTR "+b.PTR.String())
		case *dnsmessage.TXTResource:
			out = append(out, "TXT "+strings.Join(b.TXT, ""))
		case *dnsmessage.SRVResource:
			out = append(out, "SRV "+b.Target.String())
		case *dnsmessage.SOAResource:
			out = append(out, "SOA "+b.NS.String())
		}
	}
	return out
}

func dnsSorted(rrs []dnsmessage.Resource) []string {
	out := dnsAnswers(rrs)
	slices.Sort(out)
	return out
}

func dnsCheck(t *testing.T, m *dnsmessage.Message, rcode dnsmessage.RCode, want ...string) {
	t.Helper()
	if m.Header.RCode != rcode {
		t.Fatalf("rcode %v, want %v", m.Header.RCode, rcode)
	}
	if got := dnsSorted(m.Answers); !slices.Equal(got, want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
}

// dnsCheckNegative checks an RFC 2308 negative answer: no records, the
// zone's SOA in the authority section.
func dnsCheckNegative(t *testing.T, m *dnsmessage.Message, rcode dnsmessage.RCode) {
	t.Helper()
	dnsCheck(t, m, rcode)
	if !m.Header.Authoritative || len(m.Authorities) != 1 {
		t.Fatalf("want an authoritative answer with one SOA, got aa=%v authority %v", m.Header.Authoritative, dnsAnswers(m.Authorities))
	}
	soa, ok := m.Authorities[0].Body.(*dnsmessage.SOAResource)
	if !ok || m.Authorities[0].Header.Name.String() != "consul." || soa.NS.String() != "ns.consul." ||
		soa.MBox.String() != "hostmaster.consul." || soa.Refresh != 3600 || soa.Retry != 600 ||
		soa.Expire != 86400 || soa.MinTTL != 0 || soa.Serial == 0 {
		t.Fatalf("bad SOA %+v", m.Authorities[0])
	}
}

// webCatalog: web on three nodes (one with a tag, one with its own
// address), db on node1, and nodes with IPv6 and host-name addresses.
func webCatalog(t testing.TB) *dnsCatalog {
	c := newDNSCatalog(t)
	c.instance("node1", "127.0.0.10", Service{Service: "web", Port: 8080, Tags: []string{"Primary"}}, healthPassing)
	c.instance("node2", "127.0.0.11", Service{Service: "web", Port: 8081}, healthPassing)
	c.instance("node3", "127.0.0.12", Service{Service: "web", Port: 8082, Address: "10.1.2.3"}, "")
	c.instance("node1", "127.0.0.10", Service{Service: "db", Port: 5432}, healthPassing)
	c.register(&RegisterRequest{Node: "node6", Address: "2001:db8::6", NodeMeta: map[string]string{"rack": "r1", "rfc1035-zone": "z"}})
	c.register(&RegisterRequest{Node: "nodeh", Address: "host.example.com"})
	return c
}

// --- name forms ---

func TestDNSServiceA(t *testing.T) {
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
	d := webCatalog(t).server(dnsTestConfig())
	dnsCheck(t, dnsAsk(t, d, "primary.web.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeSuccess, "A 127.0.0.10")
	dnsCheck(t, dnsAsk(t, d, "PRIMARY.web.service.dc1.consul.", dnsmessage.TypeSRV), dnsmessage.RCodeSuccess, "SRV node1.node.dc1.consul.")
	dnsCheckNegative(t, dnsAsk(t, d, "canary.web.service.consul.", dnsmessage.TypeA), dnsmessage.RCodeNameError)
}

func TestDNSRFC2782(t *testing.T) {
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
	d := webCatalog(t).server(dnsTestConfig())
	// No path to another datacenter: Consul answers NXDOMAIN.
	for _, name := range []string{"web.service.dc2.consul.", "node1.node.dc2.consul.", "7f00000a.addr.dc2.consul.",
		"_web._tcp.dc2.consul.", "web.service.a.b.consul.", "web.service.dc2.dc.consul."} {
		dnsCheckNegative(t, dnsAsk(t, d, name, dnsmessage.TypeSRV), dnsmessage.RCodeNameError)
	}
}

func TestDNSHealthFiltering(t *testing.T) {
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

func TestDNSTTLs(t *testing.T) {
	c := webCatalog(t)
	c.instance("node1", "127.0.0.10", Service{Service: "db-main", Port: 1}, "")
	cfg := dnsTestConfig()
	cfg.DNS.NodeTTL = 30 * time.Second
	cfg.DNS.ServiceTTL = map[string]time.Duration{"web": 10 * time.Second, "*": 5 * time.Second, "db-*": 7 * time.Second}
	cfg.DNS.SOA.MinTTL = 60
	d := c.server(cfg)
	ttls := func(m *dnsmessage.Message) (out []uint32) {
		for _, r := range append(m.Answers, m.Additionals...) {
			out = append(out, r.Header.TTL)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		qt   dnsmessage.Type
		want uint32
	}{
		{"web.service.consul.", dnsmessage.TypeA, 10},
		{"web.service.consul.", dnsmessage.TypeSRV, 10},
		{"db.service.consul.", dnsmessage.TypeA, 5},
		{"db-main.service.consul.", dnsmessage.TypeA, 7},
		{"node1.node.consul.", dnsmessage.TypeA, 30},
		{"7f00000a.addr.consul.", dnsmessage.TypeA, 30},
		{"10.0.0.127.in-addr.arpa.", dnsmessage.TypePTR, 30},
	} {
		got := ttls(dnsAsk(t, d, tc.name, tc.qt))
		if len(got) == 0 {
			t.Fatalf("%s: no records", tc.name)
		}
		for _, ttl := range got {
			if ttl != tc.want {
				t.Fatalf("%s %v: TTLs %v, want %d", tc.name, tc.qt, got, tc.want)
			}
		}
	}
	m := dnsAsk(t, d, "nope.service.consul.", dnsmessage.TypeA)
	if soa := m.Authorities[0]; soa.Header.TTL != 60 || soa.Body.(*dnsmessage.SOAResource).MinTTL != 60 {
		t.Fatalf("SOA TTL %d (RFC 2308 §5: negative TTL is the SOA's minimum)", soa.Header.TTL)
	}
}

// --- sizes ---

// manyCatalog registers count instances of "many", on nodes with long names.
func manyCatalog(t testing.TB, count int) *dnsCatalog {
	c := newDNSCatalog(t)
	for i := range count {
		node := "a-rather-long-node-name-to-fill-packets-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)}).String()
		c.instance(node, addr, Service{Service: "many", Port: 1000 + i}, healthPassing)
	}
	return c
}

// checkGlue checks that each SRV target has its address in the additional
// section, and nothing else is there but the OPT record.
func checkGlue(t *testing.T, m *dnsmessage.Message) {
	t.Helper()
	targets := map[string]bool{}
	for _, a := range m.Answers {
		targets[a.Body.(*dnsmessage.SRVResource).Target.String()] = true
	}
	for _, r := range m.Additionals {
		if r.Header.Type == dnsmessage.TypeOPT {
			continue
		}
		if !targets[r.Header.Name.String()] {
			t.Fatalf("additional %s matches no answer", r.Header.Name)
		}
		delete(targets, r.Header.Name.String())
	}
	if len(targets) != 0 {
		t.Fatalf("answers without glue: %v", targets)
	}
}

func TestDNSTruncation(t *testing.T) {
	c := manyCatalog(t, 40)
	cfg := dnsTestConfig()
	d := c.server(cfg)
	srv := dnsQuery("many.service.consul.", dnsmessage.TypeSRV, 0)

	// UDP without EDNS0: udp_answer_limit records, no TC unless enable_truncate.
	m := dnsExchange(t, d, srv, false)
	if len(m.Answers) != 3 || m.Header.Truncated {
		t.Fatalf("UDP: %d answers, TC %v; want 3 without TC", len(m.Answers), m.Header.Truncated)
	}
	checkGlue(t, m)
	cfg.DNS.EnableTruncate = true
	if m := dnsExchange(t, c.server(cfg), srv, false); len(m.Answers) != 3 || !m.Header.Truncated {
		t.Fatalf("UDP with enable_truncate: %d answers, TC %v", len(m.Answers), m.Header.Truncated)
	}

	// More records than 512 bytes hold: cut to what fits, TC set (RFC 1035 §4.2.1).
	cfg = dnsTestConfig()
	cfg.DNS.UDPAnswerLimit = 100
	m = dnsExchange(t, c.server(cfg), srv, false)
	if !m.Header.Truncated || len(m.Answers) == 0 || len(m.Answers) >= 10 {
		t.Fatalf("512-byte cut: %d answers, TC %v", len(m.Answers), m.Header.Truncated)
	}
	checkGlue(t, m)
	fit512 := len(m.Answers)

	// A larger EDNS0 size is honoured, and the OPT record echoed.
	m = dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeSRV, 1232), false)
	if !m.Header.Truncated || len(m.Answers) <= fit512 || len(m.Answers) >= 40 {
		t.Fatalf("EDNS0 1232: %d answers (512 bytes held %d), TC %v", len(m.Answers), fit512, m.Header.Truncated)
	}
	checkGlue(t, m)
	opt := m.Additionals[len(m.Additionals)-1]
	if opt.Header.Type != dnsmessage.TypeOPT || opt.Header.Class != dnsMaxUDPSize {
		t.Fatalf("last additional %+v, want our OPT", opt.Header)
	}
	fit1232 := len(m.Answers)
	m = dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeSRV, 65000), false) // checks the 4096 cap
	if len(m.Answers) <= fit1232 || !m.Header.Truncated {
		t.Fatalf("EDNS0 65000: %d answers (1232 bytes held %d), TC %v", len(m.Answers), fit1232, m.Header.Truncated)
	}
	if m := dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeA, 4096), false); len(m.Answers) != 40 || m.Header.Truncated {
		t.Fatalf("EDNS0 4096, A: %d answers, TC %v", len(m.Answers), m.Header.Truncated)
	}

	// TCP answers are whole.
	m = dnsExchange(t, d, srv, true)
	if len(m.Answers) != 40 || m.Header.Truncated {
		t.Fatalf("TCP: %d answers, TC %v", len(m.Answers), m.Header.Truncated)
	}
	checkGlue(t, m)

	// a_record_limit caps A answers on both transports, not SRV ones.
	cfg = dnsTestConfig()
	cfg.DNS.ARecordLimit = 2
	d = c.server(cfg)
	if m := dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeA, 0), true); len(m.Answers) != 2 {
		t.Fatalf("a_record_limit over TCP: %d answers", len(m.Answers))
	}
	if m := dnsExchange(t, d, dnsQuery("many.service.consul.", dnsmessage.TypeA, 0), false); len(m.Answers) != 2 {
		t.Fatalf("a_record_limit over UDP: %d answers", len(m.Answers))
	}
	if m := dnsExchange(t, d, srv, true); len(m.Answers) != 40 {
		t.Fatalf("a_record_limit applied to SRV: %d answers", len(m.Answers))
	}
}

func TestDNSShuffle(t *testing.T) {
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

// --- protocol errors ---

func TestDNSProtocolErrors(t *testing.T) {
	d := webCatalog(t).server(dnsTestConfig())
	valid := dnsQuery("web.service.consul.", dnsmessage.TypeA, 0)
	withHeader := func(edit func(h []byte)) []byte {
		q := slices.Clone(valid)
		edit(q)
		return q
	}
	rcode := func(q []byte) dnsmessage.RCode {
		frame := d.respond(&dnsScratch{}, q, false)
		var p dnsmessage.Parser
		h, err := p.Start(frame[2:])
		if err != nil {
			t.Fatal(err)
		}
		return h.RCode
	}
	// Opcodes other than QUERY: NOTIMP (STATUS, NOTIFY, UPDATE).
	for _, op := range []byte{2, 4, 5} {
		if got := rcode(withHeader(func(h []byte) { h[2] |= op << 3 })); got != dnsmessage.RCodeNotImplemented {
			t.Fatalf("opcode %d: %v", op, got)
		}
	}
	// QDCOUNT 0 or 2: FORMERR.
	if got := rcode(withHeader(func(h []byte) { h[5] = 0 })); got != dnsmessage.RCodeFormatError {
		t.Fatalf("no question: %v", got)
	}
	two := withHeader(func(h []byte) { h[5] = 2 })
	two = append(two, valid[12:]...)
	if got := rcode(two); got != dnsmessage.RCodeFormatError {
		t.Fatalf("two questions: %v", got)
	}
	// Two OPT records: FORMERR (RFC 6891 §6.1.1).
	q := dnsQuery("web.service.consul.", dnsmessage.TypeA, 1232)
	opt := q[len(valid):]
	q = append(q, opt...)
	q[11] = 2
	if got := rcode(q); got != dnsmessage.RCodeFormatError {
		t.Fatalf("two OPT records: %v", got)
	}
	// EDNS version 1: BADVERS, whose high bits ride in the OPT record.
	q = dnsQuery("web.service.consul.", dnsmessage.TypeA, 1232)
	q[len(q)-5] = 1 // the version byte of the OPT TTL
	m := dnsExchange(t, d, q, false)
	opth := m.Additionals[0].Header
	if m.Header.RCode != 0 || opth.ExtendedRCode(m.Header.RCode) != dnsRCodeBadVers || len(m.Answers) != 0 {
		t.Fatalf("EDNS version 1: rcode %v, extended %v", m.Header.RCode, opth.ExtendedRCode(m.Header.RCode))
	}
	// Responses are never answered (no loops); short packets are dropped.
	before := d.malformed.Load()
	if d.respond(&dnsScratch{}, withHeader(func(h []byte) { h[2] |= 0x80 }), false) != nil ||
		d.respond(&dnsScratch{}, valid[:11], false) != nil {
		t.Fatal("answered a response or a packet shorter than a header")
	}
	if d.malformed.Load() != before+2 {
		t.Fatalf("malformed counter %d, want %d", d.malformed.Load(), before+2)
	}
}

// dnsCheckAnyInput feeds arbitrary bytes to the handler: it must not panic,
// and whatever it sends must parse and fit the transport.
func dnsCheckAnyInput(t testing.TB, d *dnsServer, s *dnsScratch, b []byte) {
	for _, tcp := range []bool{false, true} {
		frame := d.respond(s, b, tcp)
		if frame == nil {
			continue
		}
		var m dnsmessage.Message
		if err := m.Unpack(frame[2:]); err != nil {
			t.Fatalf("response to %x does not parse: %v", b, err)
		}
		if int(binary.BigEndian.Uint16(frame)) != len(frame)-2 || (!tcp && len(frame)-2 > dnsMaxUDPSize) {
			t.Fatalf("response to %x: bad length %d", b, len(frame)-2)
		}
		if len(b) >= 2 && m.Header.ID != binary.BigEndian.Uint16(b) {
			t.Fatalf("response to %x has ID %d", b, m.Header.ID)
		}
	}
}

func TestDNSMalformedInput(t *testing.T) {
	d := manyCatalog(t, 10).server(dnsTestConfig())
	s := &dnsScratch{}
	valid := dnsQuery("many.service.consul.", dnsmessage.TypeSRV, 1232)
	// Every truncation of a valid query.
	for n := range len(valid) {
		dnsCheckAnyInput(t, d, s, valid[:n])
	}
	// A name that points at itself, and one that points past the end.
	hdr := []byte{0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	loop := append(slices.Clone(hdr), 0xc0, 12, 0, 1, 0, 1)
	past := append(slices.Clone(hdr), 3, 'w', 'e', 'b', 0xc0, 200, 0, 1, 0, 1)
	for _, q := range [][]byte{loop, past} {
		frame := d.respond(s, q, false)
		if frame == nil || frame[2+3]&0xf != byte(dnsmessage.RCodeFormatError) {
			t.Fatalf("%x: want FORMERR, got %x", q, frame)
		}
	}
	// Random bytes, and random bit flips of a valid query, from a fixed seed.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(600))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		dnsCheckAnyInput(t, d, s, b)
		flipped := slices.Clone(valid)
		for range 1 + r.IntN(4) {
			flipped[r.IntN(len(flipped))] ^= byte(1 << r.IntN(8))
		}
		dnsCheckAnyInput(t, d, s, flipped)
	}
}

func FuzzDNSMessage(f *testing.F) {
	for _, q := range [][]byte{
		dnsQuery("web.service.consul.", dnsmessage.TypeA, 0),
		dnsQuery("_web._tcp.service.dc1.consul.", dnsmessage.TypeSRV, 1232),
		dnsQuery("node1.node.consul.", dnsmessage.TypeALL, 4096),
		dnsQuery("7f00000a.addr.consul.", dnsmessage.TypeA, 0),
		dnsQuery("10.0.0.127.in-addr.arpa.", dnsmessage.TypePTR, 0),
		dnsQuery("example.com.", dnsmessage.TypeA, 0),
	} {
		f.Add(q)
	}
	d := webCatalog(f).server(dnsTestConfig())
	s := &dnsScratch{}
	f.Fuzz(func(t *testing.T, b []byte) { dnsCheckAnyInput(t, d, s, b) })
}

// --- sockets ---

func dnsTCPExchange(t *testing.T, c net.Conn, q []byte) *dnsmessage.Message {
	t.Helper()
	frame := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	if _, err := c.Write(append(frame, q...)); err != nil {
		t.Fatal(err)
	}
	var prefix [2]byte
	if _, err := io.ReadFull(c, prefix[:]); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestDNSServeSockets(t *testing.T) {
	baseline := runtime.NumGoroutine()
	d := manyCatalog(t, 10).server(dnsTestConfig())
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.tcpSlots = make(chan struct{}, 1) // so that a second connection is over the cap
	d.serve(pc, ln)

	// UDP.
	uc, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Write(dnsQuery("many.service.consul.", dnsmessage.TypeA, 0)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil || len(m.Answers) != 3 {
		t.Fatalf("UDP answer: %v, %d records", err, len(m.Answers))
	}

	// TCP: two queries on one connection, whole answers.
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if m := dnsTCPExchange(t, tc, dnsQuery("many.service.consul.", dnsmessage.TypeSRV, 0)); len(m.Answers) != 10 {
		t.Fatalf("TCP answer: %d records", len(m.Answers))
	}
	if m := dnsTCPExchange(t, tc, dnsQuery("nope.service.consul.", dnsmessage.TypeA, 0)); m.Header.RCode != dnsmessage.RCodeNameError {
		t.Fatalf("second TCP query: %v", m.Header.RCode)
	}

	// Over the connection cap: closed at once.
	extra, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(buf); err != io.EOF {
		t.Fatalf("connection over the cap: read %v, want EOF", err)
	}
	if d.shed.Load() != 1 {
		t.Fatalf("shed %d, want 1", d.shed.Load())
	}

	// shutdown closes the open connection too, and waits for every goroutine.
	d.shutdown()
	if _, err := tc.Read(buf); err != io.EOF {
		t.Fatalf("open connection after shutdown: %v", err)
	}
	// Goroutines that called wg.Done may still be unwinding: wait for the
	// count, bounded, rather than sleep a guess.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > baseline; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left over %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// TestDNSThroughAgent asks a running agent over real sockets: the agent's
// own "consul" service, and a service registered over HTTP, with a Go
// client and with dig (which CI installs).
func TestDNSThroughAgent(t *testing.T) {
	ta := startTestAgent(t, nil)
	dnsAddr := ta.DNSAddrs()[0]
	ta.must("PUT", "/v1/catalog/register", `{"Node":"web-host","Address":"127.0.0.10",
		"Service":{"Service":"web","Port":8080,"Tags":["v1"]},
		"Check":{"CheckID":"web-ok","ServiceID":"web","Status":"passing"}}`, nil)

	m := dnsAskUDP(t, dnsAddr, "consul.service.consul.", dnsmessage.TypeSRV)
	if len(m.Answers) != 1 {
		t.Fatalf("consul SRV: %+v", m.Answers)
	}
	srv, ok := m.Answers[0].Body.(*dnsmessage.SRVResource)
	if !ok || int(srv.Port) != ta.rpcPort || srv.Target.String() != "node1.node.dc1.consul." {
		t.Fatalf("consul SRV: %+v", m.Answers[0].Body)
	}

	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is not installed; .ci/run installs it")
		}
		t.Skip("dig not installed (apt-get install bind9-dnsutils)")
	}
	host, port, _ := net.SplitHostPort(dnsAddr)
	for _, q := range []struct{ name, qtype, want string }{
		{"web.service.consul", "A", "127.0.0.10"},
		{"v1.web.service.consul", "SRV", "1 1 8080 web-host.node.dc1.consul."},
		{"_web._tcp.service.consul", "SRV", "1 1 8080 web-host.node.dc1.consul."},
		{"web-host.node.consul", "A", "127.0.0.10"},
	} {
		out, err := exec.Command(dig, "@"+host, "-p", port, "+short", "+tries=1", "+time=5", q.name, q.qtype).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != q.want {
			t.Errorf("dig %s %s: %q %v, want %q", q.name, q.qtype, out, err, q.want)
		}
	}
	out, _ := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=5", "nope.service.consul", "A").CombinedOutput()
	if !strings.Contains(string(out), "NXDOMAIN") || !strings.Contains(string(out), "SOA") {
		t.Errorf("dig for a missing service: want NXDOMAIN with an SOA:\n%s", out)
	}
}
