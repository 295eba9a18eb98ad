// dns_resolve.go: DNS name resolution, the half of the DNS interface that
// turns a question into records (dns.go parses the query, and packs and
// sends the answer).
//
//	question (name, type) → resolve: split labels, strip the domain and
//	  datacenter → service / node / addr / reverse lookup in a dnsSource
//	  → health filter, shuffle → dnsRR answers in the serving goroutine's
//	  dnsScratch, and a dnsResult (rcode, authoritative, SOA)
//
// Names, all under the configured domain (default "consul."):
//
//	[<tag>.]<service>.service[.<dc>]         A, AAAA, SRV, ANY: healthy instances
//	<service>.connect[.<dc>]                 the same of its healthy mesh instances (proxies, native)
//	_<service>._<tag|tcp>[.service][.<dc>]   RFC 2782 SRV form ("tcp": any tag)
//	<node>.node[.<dc>]                       A, AAAA, ANY, TXT (node meta, RFC 1464)
//	<hex-ip>.addr[.<dc>]                     the address spelled in hex
//	<ip>.in-addr.arpa, <ip>.ip6.arpa         PTR to <node>.node.<dc>.<domain>
//
// The catalog is a dnsSource: one store snapshot on a server (storeSource),
// a view read from a server on a client agent or for another datacenter
// (remoteCatalog, agent_remote.go). There are no recursors: names outside
// the domain, and reverse names of unknown addresses, are REFUSED, so that
// a stub resolver asks its next server.
//
// Concurrency: resolution runs inline on the serving goroutine and writes
// only that goroutine's dnsScratch; the case-folding index (dnsFoldIndex)
// is an immutable value swapped atomically in dnsServer.fold.
package main

import (
	"cmp"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsSource is the catalog as name resolution reads it: on a server the
// store's current snapshot (a *state), on a client agent a view read from a
// server (remoteCatalog, agent_remote.go). lookupErr reports a read that failed,
// which makes the answer SERVFAIL.
type dnsSource interface {
	checkServiceNodes(service string) []CheckServiceNode
	connectServiceNodes(service string) []CheckServiceNode // store_connect.go
	node(name string) *Node
	nodeList() []*Node
	serviceTags() map[string][]string
	tableIndex(table string) uint64
	lookupErr() error
}

// storeSource reads a server's own store.
func storeSource(s *Store) func(*dnsLookup) dnsSource {
	return func(*dnsLookup) dnsSource { return s.snapshot() }
}

// dnsInstance is a service instance that passed the health filter.
type dnsInstance struct {
	node    *Node
	svc     *Service
	warning bool
}

// lookupErr: reads of a snapshot cannot fail (dnsSource).
func (st *state) lookupErr() error { return nil }

// --- name resolution ---

func (d *dnsServer) resolve(s *dnsScratch, st dnsSource, q *dnsmessage.Question) dnsResult {
	s.answers = s.answers[:0]
	refused := dnsResult{rcode: dnsmessage.RCodeRefused}
	nxdomain := dnsResult{rcode: dnsmessage.RCodeNameError, aa: true, soa: true}
	nodata := dnsResult{aa: true, soa: true}
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		return refused
	}
	name := s.lowerName(q.Name) // RFC 4343: names compare case-insensitively
	if strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.") {
		return d.resolveReverse(s, st, name, q.Type)
	}
	if name != d.domain && !strings.HasSuffix(name, d.dotDomain) {
		return refused
	}
	switch {
	case q.Type == dnsmessage.TypeAXFR || q.Type == 251: // IXFR
		return dnsResult{rcode: dnsmessage.RCodeNotImplemented, aa: true}
	case name == d.domain && (q.Type == dnsmessage.TypeSOA || q.Type == dnsmessage.TypeALL):
		s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypeSOA, ttl: d.cfg.DNS.SOA.MinTTL})
		return dnsResult{aa: true}
	case name == d.domain:
		return nodata
	case strings.IndexByte(name, 0) >= 0:
		return nxdomain // a NUL would reach into the store's composite keys
	}

	// The kind of lookup is the rightmost keyword: the datacenter follows
	// it, the query precedes it. An SRV question may leave ".service" out of
	// the RFC 2782 form.
	labels := dnsSplitLabels(s.labels[:0], name[:len(name)-len(d.dotDomain)])
	s.labels = labels
	kind, parts, suffix := "", labels[:0], labels[:0]
	for i := len(labels) - 1; i >= 0 && kind == ""; i-- {
		switch l := labels[i]; {
		case l == "service" || l == "node" || l == "addr" || l == "connect" || l == "query":
			kind, parts, suffix = l, labels[:i], labels[i+1:]
		case q.Type == dnsmessage.TypeSRV && strings.HasPrefix(l, "_"):
			kind, parts, suffix = "service", labels[:i+1], labels[i+1:]
		}
	}
	dc, ok := d.datacenter(suffix)
	if len(parts) == 0 || !ok {
		return nxdomain
	}
	if dc != d.dc {
		if st = d.remoteSource(&s.lookup, dc); st == nil {
			return nxdomain // a datacenter we know no way to
		}
		s.dc, s.src = dc, st
	}
	if kind == "query" { // dns_query.go
		return d.resolveQuery(s, dc, strings.Join(parts, "."), q.Type)
	}
	var found bool
	switch kind {
	case "service":
		service, tag := parts[len(parts)-1], strings.Join(parts[:len(parts)-1], ".")
		if len(parts) == 2 && strings.HasPrefix(parts[0], "_") && strings.HasPrefix(parts[1], "_") {
			service, tag = parts[0][1:], parts[1][1:]
			if tag == "tcp" {
				tag = "" // the protocol, not a tag: any instance
			}
		}
		found = d.resolveService(s, st, service, tag, q.Type, false)
	case "connect":
		found = len(parts) == 1 && d.resolveService(s, st, parts[0], "", q.Type, true)
	case "node":
		found = d.resolveNode(s, st, strings.Join(parts, "."), q.Type)
	case "addr":
		found = len(parts) == 1 && d.resolveAddr(s, parts[0], q.Type)
	}
	switch {
	case !found:
		return nxdomain
	case len(s.answers) == 0:
		return nodata
	}
	return dnsResult{aa: true, addrs: q.Type != dnsmessage.TypeSRV && q.Type != dnsmessage.TypeTXT}
}

// datacenter reads the datacenter from the labels after the keyword: none
// (this one), "<dc>", or "<dc>.dc".
func (d *dnsServer) datacenter(suffix []string) (string, bool) {
	switch {
	case len(suffix) == 0:
		return d.dc, true
	case len(suffix) == 1, len(suffix) == 2 && suffix[1] == "dc":
		return suffix[0], true
	}
	return "", false
}

// resolveService adds the records of a service's healthy instances (with
// connect, its mesh instances') in random order; it reports false when
// there is none.
func (d *dnsServer) resolveService(s *dnsScratch, st dnsSource, service, tag string, qt dnsmessage.Type, connect bool) bool {
	insts := d.healthyInstances(s, st, service, tag, connect)
	if len(insts) == 0 {
		return false
	}
	rand.Shuffle(len(insts), func(i, j int) { insts[i], insts[j] = insts[j], insts[i] })
	ttl := d.serviceTTLFor(service)
	clear(s.seen)
	for _, in := range insts {
		addr := cmp.Or(in.svc.Address, in.node.Address)
		switch qt {
		case dnsmessage.TypeSRV:
			d.addSRV(s, in, ttl)
		case dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL:
			if s.firstSeen(addr) { // instances sharing an address make one record
				dnsAddAddress(s, addr, qt, ttl)
			}
		}
	}
	return true
}

// healthyInstances lists the instances of a service carrying tag (if any),
// leaving out the critical ones, and with only_passing the warning ones too.
// Service names and tags match case-insensitively, as in Consul.
func (d *dnsServer) healthyInstances(s *dnsScratch, st dnsSource, service, tag string, connect bool) []dnsInstance {
	lookup := dnsSource.checkServiceNodes
	if connect {
		lookup = dnsSource.connectServiceNodes
	}
	csns := lookup(st, service)
	if len(csns) == 0 {
		for _, stored := range d.folded(s.dc, st).services[service] {
			csns = append(csns, lookup(st, stored)...)
		}
	}
	s.insts = s.insts[:0]
	for _, c := range csns {
		if tag != "" && !slices.ContainsFunc(c.Service.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
			continue
		}
		status := aggregateStatus(c.Checks)
		if status == healthCritical || (status == healthWarning && d.cfg.DNS.OnlyPassing) {
			continue
		}
		s.insts = append(s.insts, dnsInstance{node: c.Node, svc: c.Service, warning: status == healthWarning})
	}
	return s.insts
}

// addSRV adds an instance's SRV record (RFC 2782). The target is the node's
// name, or <hex>.addr.<dc> when the service has an address of its own, or
// the address itself when it is a host name.
func (d *dnsServer) addSRV(s *dnsScratch, in dnsInstance, ttl uint32) {
	weight := in.svc.Weights.Passing
	if in.warning {
		weight = in.svc.Weights.Warning
	}
	rr := dnsRR{typ: dnsmessage.TypeSRV, ttl: ttl, port: uint16(in.svc.Port), weight: uint16(min(max(weight, 0), 65535))}
	own := in.svc.Address != "" && in.svc.Address != in.node.Address
	addr := cmp.Or(in.svc.Address, in.node.Address)
	ip, isIP := dnsParseIP(addr)
	switch {
	case !isIP:
		rr.target = strings.TrimSuffix(addr, ".") + "."
	case !own && dnsValidName(in.node.Node+".node."+s.dc+d.dotDomain):
		rr.target = in.node.Node + ".node." + s.dc + d.dotDomain
	default:
		rr.target = dnsAddrLabel(ip) + ".addr." + s.dc + d.dotDomain
	}
	if dnsValidName(rr.target) {
		rr.addr, rr.glue = ip, isIP && s.firstSeen(rr.target)
		s.answers = append(s.answers, rr)
	}
}

// dnsAddAddress adds the record for an address: A or AAAA when it is an IP
// of the asked family, CNAME when it is a host name.
func dnsAddAddress(s *dnsScratch, addr string, qt dnsmessage.Type, ttl uint32) {
	if ip, ok := dnsParseIP(addr); ok {
		dnsAddIP(s, ip, qt, ttl)
	} else if target := strings.TrimSuffix(addr, ".") + "."; dnsValidName(target) {
		s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypeCNAME, ttl: ttl, target: target})
	}
}

func dnsAddIP(s *dnsScratch, ip netip.Addr, qt dnsmessage.Type, ttl uint32) {
	switch {
	case ip.Is4() && (qt == dnsmessage.TypeA || qt == dnsmessage.TypeALL):
		s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypeA, ttl: ttl, addr: ip})
	case ip.Is6() && (qt == dnsmessage.TypeAAAA || qt == dnsmessage.TypeALL):
		s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypeAAAA, ttl: ttl, addr: ip})
	}
}

// resolveNode adds a node's address and, for TXT and ANY, its metadata.
func (d *dnsServer) resolveNode(s *dnsScratch, st dnsSource, name string, qt dnsmessage.Type) bool {
	n := st.node(name)
	if n == nil {
		n = st.node(d.folded(s.dc, st).nodes[name])
	}
	if n == nil {
		return false
	}
	if qt == dnsmessage.TypeA || qt == dnsmessage.TypeAAAA || qt == dnsmessage.TypeALL {
		dnsAddAddress(s, n.Address, qt, d.nodeTTL)
	}
	if qt == dnsmessage.TypeTXT || qt == dnsmessage.TypeALL {
		for _, k := range slices.Sorted(maps.Keys(n.Meta)) {
			s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypeTXT, ttl: d.nodeTTL, txt: dnsMetaTXT(k, n.Meta[k])})
		}
	}
	return true
}

// dnsMetaTXT spells a node meta pair as Consul does: RFC 1464's key=value,
// or the value alone when the key starts with "rfc1035-".
func dnsMetaTXT(key, value string) string {
	if strings.HasPrefix(key, "rfc1035-") {
		return value
	}
	lead, trail := len(key)-len(strings.TrimLeft(key, " ")), len(strings.TrimRight(key, " "))
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		// RFC 1464 §2: "`" quotes "`", "=", and the key's outer spaces.
		if c := key[i]; c == '`' || c == '=' || (c == ' ' && (i < lead || i >= trail)) {
			b.WriteByte('`')
		}
		b.WriteByte(key[i])
	}
	b.WriteByte('=')
	b.WriteString(strings.ReplaceAll(value, "`", "``"))
	return b.String()
}

// resolveAddr answers <hex>.addr: 8 hex digits for IPv4, 32 for IPv6.
func (d *dnsServer) resolveAddr(s *dnsScratch, label string, qt dnsmessage.Type) bool {
	ip, ok := dnsParseHexIP(label)
	if ok {
		dnsAddIP(s, ip, qt, d.nodeTTL)
	}
	return ok
}

// resolveReverse answers PTR questions for the addresses of known nodes with
// <node>.node.<dc>.<domain>; the rest of the reverse zones is not ours.
func (d *dnsServer) resolveReverse(s *dnsScratch, st dnsSource, name string, qt dnsmessage.Type) dnsResult {
	ip, ok := dnsParseReverse(name)
	if !ok {
		return dnsResult{rcode: dnsmessage.RCodeRefused}
	}
	for _, n := range st.nodeList() {
		target := n.Node + ".node." + d.dc + d.dotDomain
		if a, ok := dnsParseIP(n.Address); !ok || a != ip || !dnsValidName(target) {
			continue
		}
		if qt == dnsmessage.TypePTR || qt == dnsmessage.TypeALL {
			s.answers = append(s.answers, dnsRR{typ: dnsmessage.TypePTR, ttl: d.nodeTTL, target: target})
		}
		return dnsResult{aa: true}
	}
	return dnsResult{rcode: dnsmessage.RCodeRefused}
}

// --- names and addresses ---

// dnsParseReverse reads the address of a whole in-addr.arpa or ip6.arpa name
// in lower case (RFC 1035 §3.5, RFC 3596 §2.5).
func dnsParseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		ip, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		return ip, err == nil && ip.Is4()
	}
	l := strings.Split(strings.TrimSuffix(name, ".ip6.arpa."), ".")
	if len(l) != 32 {
		return netip.Addr{}, false
	}
	var nibbles [32]byte
	for i, nib := range l {
		if len(nib) != 1 {
			return netip.Addr{}, false
		}
		nibbles[31-i] = nib[0]
	}
	return dnsParseHexIP(string(nibbles[:]))
}

// dnsParseHexIP reads an address spelled in hex: 8 digits for IPv4, 32 for IPv6.
func dnsParseHexIP(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	ip, _ := netip.AddrFromSlice(b)
	return ip, true
}

// dnsAddrLabel spells an address in hex, for an .addr name.
func dnsAddrLabel(ip netip.Addr) string { return hex.EncodeToString(ip.AsSlice()) }

// dnsParseIP parses a catalog address; IPv4-mapped IPv6 counts as IPv4.
func dnsParseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	return ip.Unmap().WithZone(""), err == nil
}

// dnsValidName reports whether an absolute name packs: labels of 1 to 63
// bytes, 254 bytes in all (RFC 1035 §2.3.4).
func dnsValidName(name string) bool {
	if len(name) < 2 || len(name) > 254 || name[len(name)-1] != '.' {
		return false
	}
	start := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if i == start || i-start > 63 {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// dnsSplitLabels appends the labels of a relative name to dst.
func dnsSplitLabels(dst []string, name string) []string {
	for name != "" {
		label, rest, _ := strings.Cut(name, ".")
		dst, name = append(dst, label), rest
	}
	return dst
}

func (s *dnsScratch) lowerName(n dnsmessage.Name) string {
	s.name = s.name[:0]
	for _, c := range n.Data[:n.Length] {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s.name = append(s.name, c)
	}
	return string(s.name)
}

// firstSeen reports whether key is new since the last clear(s.seen).
func (s *dnsScratch) firstSeen(key string) bool {
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	_, seen := s.seen[key]
	s.seen[key] = struct{}{}
	return !seen
}

// dnsFoldIndex maps the lower-case spelling of the service and node names of
// the catalog that are not in lower case to those names, so that a question
// finds "Web" as "web". It is built on the first miss after the services or
// nodes tables change (a KV write does not invalidate it).
type dnsFoldIndex struct {
	dc                        string // whose catalog
	servicesIndex, nodesIndex uint64
	services                  map[string][]string
	nodes                     map[string]string
}

func (d *dnsServer) folded(dc string, st dnsSource) *dnsFoldIndex {
	servicesIndex, nodesIndex := st.tableIndex(indexServices), st.tableIndex(indexNodes)
	if f := d.fold.Load(); f != nil && f.dc == dc && f.servicesIndex == servicesIndex && f.nodesIndex == nodesIndex {
		return f
	}
	f := &dnsFoldIndex{dc: dc, servicesIndex: servicesIndex, nodesIndex: nodesIndex, services: map[string][]string{}, nodes: map[string]string{}}
	for name := range st.serviceTags() {
		if l := strings.ToLower(name); l != name {
			f.services[l] = append(f.services[l], name)
		}
	}
	for _, n := range st.nodeList() {
		if l := strings.ToLower(n.Node); l != n.Node && f.nodes[l] == "" {
			f.nodes[l] = n.Node
		}
	}
	d.fold.Store(f)
	return f
}
