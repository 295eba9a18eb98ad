// dns.go: Consul's DNS interface, served by every agent on UDP and TCP:
// the sockets, the wire format, and the answer (name resolution is in
// dns_resolve.go).
//
// A query flows one way, and nothing is kept between queries:
//
//	datagram or TCP frame → parse (header, one question, EDNS0 OPT)
//	  → resolve the name against the catalog (dns_resolve.go) → build the
//	  answer → send
//
// The catalog is one store snapshot on a server; a client agent, which has
// no store, reads what the question needs from a server (agent_remote.go).
//
// The protocol, as Consul speaks it:
//   - RFC 1035: the message format; UDP answers fit in 512 bytes, longer ones
//     are cut and get the TC bit (§4.2.1); TCP frames carry a two-byte length
//     prefix, several queries per connection (§4.2.2).
//   - RFC 2782: SRV records with priority 1, weight from the instance's
//     Weights, and the target's address in the additional section.
//   - RFC 6891: EDNS0; the OPT record is echoed and the client's UDP size
//     honoured up to 4096 bytes.
//   - RFC 2308: a missing name is NXDOMAIN, a name without the asked type is
//     NOERROR with no answer; both carry the zone's SOA in the authority
//     section, so that resolvers cache them for the SOA's minimum TTL.
//
// Concurrency: on a server a query reads the store snapshot current when it
// arrives (lock-free, so Consul's allow_stale is always in effect) and shares nothing
// mutable but atomic counters and the case-folding index, an immutable value
// swapped atomically. UDP is served by a fixed set of goroutines (one per
// core on a server, dnsClientUDPWorkers on a client) sharing the socket, each reading and answering inline: there is no internal queue, so under overload
// queries wait only in the kernel's bounded socket buffer, which drops the
// excess, and none is answered after its client gave up. TCP gets one
// goroutine per connection, at most dnsMaxTCPConns (extra connections are
// closed at once), with idle and write deadlines. shutdown closes sockets and
// connections, then waits for every goroutine.
package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	dnsMinUDPSize      = 512  // RFC 1035 §4.2.1
	dnsMaxUDPSize      = 4096 // cap on the client's EDNS0 size, and what we advertise (RFC 6891 §6.2.5)
	dnsMaxTCPConns     = 256
	dnsTCPIdleTimeout  = 10 * time.Second // RFC 7766 §6.2.3: seconds, not minutes
	dnsTCPWriteTimeout = 5 * time.Second

	dnsRCodeBadVers = dnsmessage.RCode(16) // RFC 6891 §6.1.3, high bits carried in the OPT record

	// dnsClientUDPWorkers: a client agent's UDP goroutines, each waiting on
	// a server for the answer it is working on.
	dnsClientUDPWorkers = 64
)

// dnsLookupTimeout bounds the reads of one question on a client agent, so
// an answer comes before a stub resolver's first retry.
const dnsLookupTimeout = 2 * time.Second

// dnsLookup is one question's deadline for reads from servers. Its context
// is made only when a read needs one: a server answering from its own store
// never does, and a context with a timer per query was a third of the
// handler's allocations and 8% of a server's CPU under dnsperf
// (BenchmarkDNSRespond). Readers use it while the question is answered,
// never after.
type dnsLookup struct {
	deadline time.Time
	ctx      context.Context
	cancel   context.CancelFunc
}

// context returns the question's context, making it on first use.
func (l *dnsLookup) context() context.Context {
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithDeadline(context.Background(), l.deadline)
	}
	return l.ctx
}

// end cancels the context, if one was made, once the question is answered.
func (l *dnsLookup) end() {
	if l.cancel != nil {
		l.cancel()
	}
	*l = dnsLookup{}
}

// dnsServer answers DNS queries from the catalog.
type dnsServer struct {
	cfg    *Config
	source func(*dnsLookup) dnsSource // the catalog for one question
	// remoteSource returns another datacenter's catalog, or nil when this
	// agent knows no way there.
	remoteSource func(l *dnsLookup, dc string) dnsSource
	logger       *slog.Logger
	domainQuery  *metricSample // dns.domain_query (agent_metrics.go)

	// preparedQuery executes a prepared query (nil: no such query; dns_query.go).
	preparedQuery func(ctx context.Context, dc, name string) (*queryExecuteResponse, error)

	domain      string // cfg.Domain in lower case, ending with "."
	dotDomain   string // "." + domain
	dc          string // cfg.Datacenter in lower case
	nodeTTL     uint32
	serviceTTL  map[string]uint32 // lower-case service name → TTL in seconds
	ttlPrefixes []dnsTTLPrefix    // the "prefix*" entries of ServiceTTL ("*" too), longest first
	answerLimit int               // records in a 512-byte UDP answer
	soaName     dnsmessage.Name
	soaNS       dnsmessage.Name
	soaMbox     dnsmessage.Name

	fold atomic.Pointer[dnsFoldIndex]

	wg       sync.WaitGroup
	tcpSlots chan struct{} // a token per open TCP connection
	mu       sync.Mutex
	sockets  []net.PacketConn      // the UDP sockets; guarded by mu
	ln       net.Listener          // guarded by mu
	conns    map[net.Conn]struct{} // open TCP connections; guarded by mu
	closed   bool                  // shutdown has begun; guarded by mu

	malformed atomic.Uint64 // queries that did not parse: dropped, or answered FORMERR
	dropped   atomic.Uint64 // answers that could not be sent
	shed      atomic.Uint64 // TCP connections closed at once, over dnsMaxTCPConns
}

type dnsTTLPrefix struct {
	prefix string
	ttl    uint32
}

func newDNSServer(cfg *Config, source func(*dnsLookup) dnsSource, logger *slog.Logger) *dnsServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	domain := strings.TrimSuffix(strings.ToLower(cfg.Domain), ".") + "."
	if domain == "." {
		domain = "consul."
	}
	d := &dnsServer{
		cfg: cfg, source: source, logger: logger,
		remoteSource: func(*dnsLookup, string) dnsSource { return nil },
		domain:       domain,
		dotDomain:    "." + domain,
		dc:           strings.ToLower(cfg.Datacenter),
		nodeTTL:      dnsSeconds(cfg.DNS.NodeTTL),
		serviceTTL:   map[string]uint32{},
		answerLimit:  cfg.DNS.UDPAnswerLimit,
		soaName:      dnsmessage.MustNewName(domain),
		soaNS:        dnsmessage.MustNewName("ns." + domain),
		soaMbox:      dnsmessage.MustNewName("hostmaster." + domain),
		tcpSlots:     make(chan struct{}, dnsMaxTCPConns),
		conns:        map[net.Conn]struct{}{},
	}
	if d.answerLimit <= 0 {
		d.answerLimit = 3
	}
	for name, ttl := range cfg.DNS.ServiceTTL {
		name = strings.ToLower(name)
		if p, ok := strings.CutSuffix(name, "*"); ok {
			d.ttlPrefixes = append(d.ttlPrefixes, dnsTTLPrefix{p, dnsSeconds(ttl)})
		} else {
			d.serviceTTL[name] = dnsSeconds(ttl)
		}
	}
	slices.SortFunc(d.ttlPrefixes, func(a, b dnsTTLPrefix) int { return len(b.prefix) - len(a.prefix) })
	return d
}

func dnsSeconds(t time.Duration) uint32 {
	return uint32(min(max(t/time.Second, 0), 1<<31-1)) // RFC 2181 §8: TTLs fit in 31 bits
}

// serviceTTLFor is Consul's service_ttl: the service's own entry, else the
// longest matching "prefix*", of which "*" is the shortest.
func (d *dnsServer) serviceTTLFor(name string) uint32 {
	if ttl, ok := d.serviceTTL[name]; ok {
		return ttl
	}
	for _, p := range d.ttlPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.ttl
		}
	}
	return 0
}

// --- serving ---

// serve starts answering on pc (UDP, a *net.UDPConn) and ln (TCP); either
// may be nil.
func (d *dnsServer) serve(pc net.PacketConn, ln net.Listener) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		d.sockets = append(d.sockets, uc)
		// On a server more workers than cores only contend for the socket;
		// a client's answers wait on a server, so it needs more in flight.
		workers := runtime.GOMAXPROCS(0)
		if !d.cfg.Server {
			workers = dnsClientUDPWorkers
		}
		for range workers {
			d.wg.Go(func() { d.serveUDP(uc) })
		}
	} else if pc != nil {
		d.logger.Error("dns: not serving UDP: not a UDP socket", "type", fmt.Sprintf("%T", pc))
	}
	if ln != nil {
		d.ln = ln
		d.wg.Go(func() { d.acceptTCP(ln) })
	}
}

// shutdown closes the sockets and every TCP connection, and returns once
// every goroutine of the server has ended.
func (d *dnsServer) shutdown() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, pc := range d.sockets {
			pc.Close()
		}
		if d.ln != nil {
			d.ln.Close()
		}
		for c := range d.conns {
			c.Close()
		}
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *dnsServer) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// serveUDP reads queries and answers each inline.
func (d *dnsServer) serveUDP(uc *net.UDPConn) {
	s := &dnsScratch{}
	buf := make([]byte, 65535)
	for {
		n, addr, err := uc.ReadFromUDPAddrPort(buf) // which, unlike ReadFrom, does not allocate
		if err != nil {
			if errors.Is(err, net.ErrClosed) || d.isClosed() {
				return
			}
			d.logger.Warn("dns: reading UDP", "error", err)
			continue
		}
		frame := d.respond(s, buf[:n], false)
		if frame == nil {
			continue
		}
		if _, err := uc.WriteToUDPAddrPort(frame[2:], addr); err != nil {
			d.dropped.Add(1)
			d.logger.Warn("dns: sending UDP answer", "error", err)
		}
	}
}

func (d *dnsServer) acceptTCP(ln net.Listener) {
	acceptConns(ln, d.isClosed, d.logger, "dns: accepting TCP connection", func(c net.Conn) bool {
		select {
		case d.tcpSlots <- struct{}{}:
		default:
			d.shed.Add(1)
			c.Close()
			return true
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return false
		}
		d.conns[c] = struct{}{}
		d.wg.Go(func() { d.serveTCP(c) }) // under mu, so that shutdown's Wait counts it
		d.mu.Unlock()
		return true
	})
}

// serveTCP answers the queries of one connection in order (RFC 1035 §4.2.2,
// RFC 7766 §6.2.1) until the client closes it or stays idle too long.
func (d *dnsServer) serveTCP(c net.Conn) {
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		c.Close()
		<-d.tcpSlots
	}()
	s := &dnsScratch{}
	var prefix [2]byte
	var msg []byte
	for {
		c.SetReadDeadline(time.Now().Add(dnsTCPIdleTimeout))
		if _, err := io.ReadFull(c, prefix[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(prefix[:]))
		if cap(msg) < n {
			msg = make([]byte, n)
		}
		msg = msg[:n]
		if _, err := io.ReadFull(c, msg); err != nil {
			d.malformed.Add(1)
			return
		}
		frame := d.respond(s, msg, true)
		if frame == nil {
			continue
		}
		c.SetWriteDeadline(time.Now().Add(dnsTCPWriteTimeout))
		if _, err := c.Write(frame); err != nil {
			d.dropped.Add(1)
			d.logger.Debug("dns: sending TCP answer", "error", err)
			return
		}
	}
}

// --- one query ---

// dnsScratch is a serving goroutine's reusable memory.
type dnsScratch struct {
	lookup  dnsLookup // the question's deadline, for reads from servers
	dc      string    // the datacenter the question is about
	src     dnsSource // the catalog it was answered from
	out     []byte
	name    []byte
	labels  []string
	insts   []dnsInstance
	answers []dnsRR
	seen    map[string]struct{}
}

// dnsRR is an answer record; its owner is always the question's name.
type dnsRR struct {
	typ    dnsmessage.Type // A, AAAA, CNAME, PTR, SRV, TXT or SOA
	ttl    uint32
	addr   netip.Addr // A, AAAA; for SRV, the target's address
	target string     // CNAME, PTR, SRV: an absolute name that packs
	txt    string
	port   uint16
	weight uint16
	glue   bool // SRV: the first with its target, whose address goes in the additional section
	// glueTXT: with glue, TXT records of the target's node meta for the additional section (dns_query.go)
	glueTXT []string
}

// dnsResult is how a question was resolved; the records are in dnsScratch.answers.
type dnsResult struct {
	rcode dnsmessage.RCode
	aa    bool // the name is in our zone: an authoritative answer
	soa   bool // the SOA goes in the authority section (RFC 2308 §2.1, §2.2)
	addrs bool // address records, which ARecordLimit caps
}

// dnsEDNS is what a query's OPT record said (RFC 6891 §6.1.3).
type dnsEDNS struct {
	present bool
	size    int
	version uint8
	do      bool
}

// respond answers one query message. It returns the response framed for TCP
// in s.out, a two-byte length (RFC 1035 §4.2.2) then the message, or nil when
// the query gets no response at all.
func (d *dnsServer) respond(s *dnsScratch, query []byte, tcp bool) []byte {
	start := time.Now()
	defer d.domainQuery.measureSince(start)
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		// No header to answer, or an answer: replying could start a loop.
		d.malformed.Add(1)
		return nil
	}
	reply := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode,
		RecursionDesired: h.RecursionDesired, CheckingDisabled: h.CheckingDisabled}
	if h.OpCode != 0 {
		reply.RCode = dnsmessage.RCodeNotImplemented
		return d.pack(s, reply, nil, 0, false, dnsEDNS{})
	}
	q, err := p.Question()
	if err == nil {
		if err = p.SkipQuestion(); err == dnsmessage.ErrSectionDone {
			err = nil
		} else if err == nil {
			err = errors.New("several questions") // which nobody answers (RFC 9619)
		}
	}
	var edns dnsEDNS
	if err == nil {
		edns, err = dnsParseEDNS(&p)
	}
	if err != nil {
		d.malformed.Add(1)
		reply.RCode = dnsmessage.RCodeFormatError
		return d.pack(s, reply, nil, 0, false, dnsEDNS{})
	}
	if edns.present && edns.version != 0 {
		reply.RCode = dnsRCodeBadVers
		return d.pack(s, reply, &q, 0, false, edns)
	}

	s.lookup.deadline, s.dc = start.Add(dnsLookupTimeout), d.dc
	s.src = d.source(&s.lookup)
	res := d.resolve(s, s.src, &q)
	s.lookup.end()
	if err := s.src.lookupErr(); err != nil {
		d.logger.Warn("dns: the catalog could not be read", "name", q.Name.String(), "error", err)
		s.answers = s.answers[:0]
		res = dnsResult{rcode: dnsmessage.RCodeServerFailure}
	}
	reply.RCode, reply.Authoritative = res.rcode, res.aa
	if d.logger.Enabled(context.Background(), slog.LevelDebug) {
		d.logger.Debug("dns: query", "name", q.Name.String(), "type", q.Type.String(),
			"tcp", tcp, "rcode", res.rcode.String(), "answers", len(s.answers))
	}
	return d.packTruncated(s, reply, &q, res, edns, tcp)
}

// dnsParseEDNS skips the answer and authority sections of a query and reads
// its OPT record, if any.
func dnsParseEDNS(p *dnsmessage.Parser) (e dnsEDNS, err error) {
	if err = p.SkipAllAnswers(); err == nil {
		err = p.SkipAllAuthorities()
	}
	for err == nil {
		var h dnsmessage.ResourceHeader
		if h, err = p.AdditionalHeader(); err != nil {
			break
		}
		if h.Type == dnsmessage.TypeOPT {
			if e.present {
				return e, errors.New("several OPT records") // RFC 6891 §6.1.1
			}
			e = dnsEDNS{present: true, size: int(h.Class), version: uint8(h.TTL >> 16), do: h.TTL&0x8000 != 0}
		}
		err = p.SkipAdditional()
	}
	if err == dnsmessage.ErrSectionDone {
		err = nil
	}
	return e, err
}

// packTruncated builds the response, cutting the answers to the count and
// size limits of the transport.
func (d *dnsServer) packTruncated(s *dnsScratch, h dnsmessage.Header, q *dnsmessage.Question, res dnsResult, edns dnsEDNS, tcp bool) []byte {
	n := len(s.answers)
	if res.addrs && d.cfg.DNS.ARecordLimit > 0 {
		n = min(n, d.cfg.DNS.ARecordLimit)
	}
	maxSize := 65535
	if !tcp {
		maxSize = dnsMinUDPSize
		if edns.present {
			maxSize = min(max(edns.size, dnsMinUDPSize), dnsMaxUDPSize)
		}
		// Consul's udp_answer_limit, for 512-byte answers. It sets TC only
		// with enable_truncate: by default clients take a few records rather
		// than ask again over TCP.
		if maxSize == dnsMinUDPSize && n > d.answerLimit {
			n = d.answerLimit
			h.Truncated = d.cfg.DNS.EnableTruncate
		}
	}
	if out := d.pack(s, h, q, n, res.soa, edns); len(out)-2 <= maxSize {
		return out
	}
	// Keep as many answers as fit, found by bisection since the size grows
	// with their number. RFC 1035 §4.2.1: a cut UDP answer has TC.
	h.Truncated = !tcp
	lo, hi := 0, n-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(d.pack(s, h, q, mid, res.soa, edns))-2 <= maxSize {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return d.pack(s, h, q, lo, res.soa, edns)
}

// pack builds a response with the first n answers into s.out, after two
// bytes for the TCP length. Names are compressed (RFC 1035 §4.1.4).
func (d *dnsServer) pack(s *dnsScratch, h dnsmessage.Header, q *dnsmessage.Question, n int, soa bool, edns dnsEDNS) []byte {
	extRCode := dnsmessage.RCode(0)
	if h.RCode > 0xF {
		extRCode, h.RCode = h.RCode, h.RCode&0xF // RFC 6891 §6.1.3
	}
	out, err := d.packSections(s, h, q, n, soa, edns, extRCode)
	if err != nil {
		// Only a record too long for its length field can get here.
		d.logger.Warn("dns: building answer", "error", err)
		h.RCode, h.Truncated = dnsmessage.RCodeServerFailure, false
		out, _ = d.packSections(s, h, q, 0, false, dnsEDNS{}, 0)
	}
	binary.BigEndian.PutUint16(out, uint16(len(out)-2))
	s.out = out
	return out
}

func (d *dnsServer) packSections(s *dnsScratch, h dnsmessage.Header, q *dnsmessage.Question, n int, soa bool, edns dnsEDNS, extRCode dnsmessage.RCode) ([]byte, error) {
	if cap(s.out) < dnsMinUDPSize {
		s.out = make([]byte, 2, dnsMinUDPSize)
	}
	b := dnsmessage.NewBuilder(s.out[:2], h)
	b.EnableCompression()
	var err error
	try := func(e error) { err = cmp.Or(err, e) } // the output is dropped after an error
	try(b.StartQuestions())
	if q != nil {
		try(b.Question(*q))
	}
	try(b.StartAnswers())
	for i := range s.answers[:n] {
		try(d.packAnswer(&b, q.Name, &s.answers[i]))
	}
	try(b.StartAuthorities())
	if soa {
		try(d.packSOA(&b, d.soaName))
	}
	try(b.StartAdditionals())
	for _, rr := range s.answers[:n] {
		if !rr.glue {
			continue
		}
		rh := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(rr.target), Class: dnsmessage.ClassINET, TTL: rr.ttl}
		if rr.addr.Is4() {
			try(b.AResource(rh, dnsmessage.AResource{A: rr.addr.As4()}))
		} else {
			try(b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: rr.addr.As16()}))
		}
		for _, txt := range rr.glueTXT {
			try(d.packAnswer(&b, rh.Name, &dnsRR{typ: dnsmessage.TypeTXT, ttl: rr.ttl, txt: txt}))
		}
	}
	if edns.present {
		var rh dnsmessage.ResourceHeader
		rh.SetEDNS0(dnsMaxUDPSize, extRCode, edns.do) // RFC 3225 §3: DO is copied
		try(b.OPTResource(rh, dnsmessage.OPTResource{}))
	}
	out, e := b.Finish()
	try(e)
	return out, err
}

func (d *dnsServer) packAnswer(b *dnsmessage.Builder, owner dnsmessage.Name, rr *dnsRR) error {
	h := dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: rr.ttl}
	switch rr.typ {
	case dnsmessage.TypeA:
		return b.AResource(h, dnsmessage.AResource{A: rr.addr.As4()})
	case dnsmessage.TypeAAAA:
		return b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: rr.addr.As16()})
	case dnsmessage.TypeCNAME:
		return b.CNAMEResource(h, dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(rr.target)})
	case dnsmessage.TypePTR:
		return b.PTRResource(h, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(rr.target)})
	case dnsmessage.TypeSRV:
		return b.SRVResource(h, dnsmessage.SRVResource{Priority: 1, Weight: rr.weight, Port: rr.port,
			Target: dnsmessage.MustNewName(rr.target)})
	case dnsmessage.TypeTXT:
		var txt []string // RFC 1035 §3.3: character-strings of up to 255 bytes
		for t := rr.txt; len(txt) == 0 || t != ""; {
			n := min(len(t), 255)
			txt, t = append(txt, t[:n]), t[n:]
		}
		return b.TXTResource(h, dnsmessage.TXTResource{TXT: txt})
	default: // SOA, at the apex
		return d.packSOA(b, owner)
	}
}

func (d *dnsServer) packSOA(b *dnsmessage.Builder, owner dnsmessage.Name) error {
	soa := d.cfg.DNS.SOA
	// RFC 2308 §5: negative answers are cached for min(TTL, MINIMUM).
	return b.SOAResource(dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: soa.MinTTL},
		dnsmessage.SOAResource{NS: d.soaNS, MBox: d.soaMbox, Serial: uint32(time.Now().Unix()),
			Refresh: soa.Refresh, Retry: soa.Retry, Expire: soa.Expire, MinTTL: soa.MinTTL})
}
