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

func TestDNSTTLs(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// --- protocol errors ---

func TestDNSProtocolErrors(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
