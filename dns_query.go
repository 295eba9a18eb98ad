// dns_query.go: prepared queries over DNS (Consul's
// https://developer.hashicorp.com/consul/docs/services/discovery/dns-static-lookups#prepared-query-lookups):
//
//	<query-name-or-id>.query[.<dc>].<domain>   A, AAAA, SRV, ANY
//
// resolve (dns_resolve.go) hands a ".query." name here. The query is
// executed as GET /v1/query/<name>/execute (?dc= for another datacenter,
// ?stale with dns_config.allow_stale) by roundTrip: in-process on a
// server, forwarded on a client agent, so DNS and HTTP run the one
// execution (server_query.go: healthy instances, shuffled or by Near,
// failover) with the agent's DNS token. The records carry the query's
// DNS.TTL (0 when unset); an SRV answer's additional section has each
// target's address and its node's metadata as TXT records (RFC 1464,
// dnsMetaTXT), as Consul's. An unknown query is NXDOMAIN; a query that
// finds nothing, NXDOMAIN too (Consul's answer for an empty result); a
// failed execution, SERVFAIL.
//
// Concurrency: runs on the serving goroutine, writing only its dnsScratch.
package main

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// resolveQuery answers a prepared query name.
func (d *dnsServer) resolveQuery(s *dnsScratch, dc, name string, qt dnsmessage.Type) dnsResult {
	nxdomain := dnsResult{rcode: dnsmessage.RCodeNameError, aa: true, soa: true}
	if d.preparedQuery == nil || name == "" {
		return nxdomain
	}
	res, err := d.preparedQuery(s.lookup.context(), dc, name)
	if err != nil {
		d.logger.Warn("dns: prepared query failed", "query", name, "datacenter", dc, "error", err)
		return dnsResult{rcode: dnsmessage.RCodeServerFailure}
	}
	if res == nil || len(res.Nodes) == 0 {
		return nxdomain
	}
	ttl := uint32(0)
	if t, err := time.ParseDuration(res.DNS.TTL); err == nil {
		ttl = dnsSeconds(t)
	}
	s.dc = strings.ToLower(res.Datacenter) // SRV targets name the datacenter that answered (after a failover)
	clear(s.seen)
	for _, csn := range res.Nodes {
		if csn.Node == nil || csn.Service == nil {
			continue
		}
		in := dnsInstance{node: csn.Node, svc: csn.Service, warning: aggregateStatus(csn.Checks) == healthWarning}
		switch qt {
		case dnsmessage.TypeSRV:
			n := len(s.answers)
			d.addSRV(s, in, ttl)
			if len(s.answers) > n && s.answers[n].glue {
				for _, k := range slices.Sorted(maps.Keys(in.node.Meta)) {
					s.answers[n].glueTXT = append(s.answers[n].glueTXT, dnsMetaTXT(k, in.node.Meta[k]))
				}
			}
		case dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL:
			if addr := cmp.Or(in.svc.Address, in.node.Address); s.firstSeen(addr) {
				dnsAddAddress(s, addr, qt, ttl)
			}
		}
	}
	if len(s.answers) == 0 {
		return dnsResult{aa: true, soa: true}
	}
	return dnsResult{aa: true, addrs: qt != dnsmessage.TypeSRV}
}

// dnsPreparedQuery executes a prepared query for DNS; nil when there is
// no such query.
func (a *Agent) dnsPreparedQuery(ctx context.Context, dc, name string) (*queryExecuteResponse, error) {
	uri := queryPath + url.PathEscape(name) + "/execute"
	var params []string
	if a.cfg.DNS.AllowStale {
		params = append(params, "stale")
	}
	if !strings.EqualFold(dc, a.cfg.Datacenter) {
		params = append(params, "dc="+url.QueryEscape(dc))
	}
	if len(params) > 0 {
		uri += "?" + strings.Join(params, "&")
	}
	header := http.Header{queryAgentHeader: {a.cfg.NodeName}}
	if t := a.acl.dnsToken(); t != "" {
		header.Set("X-Consul-Token", t)
	}
	resp, err := a.roundTrip(ctx, forwardRequest{Method: http.MethodGet, URI: uri, Header: header}, true)
	if err != nil || resp.Status == http.StatusNotFound {
		return nil, err
	}
	res := &queryExecuteResponse{}
	if err := decodeResponse(resp, res); err != nil {
		return nil, err
	}
	return res, nil
}
