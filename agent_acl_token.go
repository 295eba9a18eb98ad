// agent_acl_token.go: which ACL token the agent's own reads carry.
//
// An agent reads from its servers for three kinds of callers, and each
// read carries the token of the caller it serves, so that the servers
// enforce (and filter) exactly as they would for the caller itself:
//
//	?cached HTTP reads, authorize          the request's token (or the
//	                                       agent's default token): the cache
//	                                       keeps one entry per token
//	DNS (dns_resolve.go, agent_remote.go)  acl.tokens.dns, else the default
//	                                       token (Consul's coalesceDNSToken)
//	anti-entropy, proxy configuration      acl.tokens.agent, else the default
//	                                       token (Consul's AgentToken)
//
// With none of them set, the read is the anonymous token's.
//
// Concurrency: the tokens are read under the resolver's lock
// (aclResolver.token, server_acl.go); the rest is pure.
package main

import (
	"cmp"
	"net/http"
)

// tokenHeader is the header that carries a token on a forwarded read
// (nil: none, the anonymous token).
func tokenHeader(token string) http.Header {
	if token == "" {
		return nil
	}
	return http.Header{"X-Consul-Token": {token}}
}

// cacheEntryKey is an agent cache entry's key: its URI, per token.
func cacheEntryKey(uri, token string) string {
	if token == "" {
		return uri
	}
	return uri + "\x00" + token
}

// requestSecret is the token a request acts with: its own, else the
// agent's default token.
func (h *httpAPI) requestSecret(r *http.Request) string {
	return cmp.Or(requestToken(r), h.a.acl.token("default"))
}

// agentToken is the token of the agent's own operations.
func (r *aclResolver) agentToken() string { return cmp.Or(r.token("agent"), r.token("default")) }

// dnsToken is the token DNS answers with.
func (r *aclResolver) dnsToken() string { return cmp.Or(r.token("dns"), r.token("default")) }
