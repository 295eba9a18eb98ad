// dns_acl.go: ACL filtering of DNS answers on a server.
//
// DNS questions carry no token: an agent answers them with acl.tokens.dns,
// else its default token, else the anonymous token (Consul's
// coalesceDNSToken; agent_acl_token.go). A client agent sends that token
// with the catalog reads its answers come from (agent_remote.go), and the
// servers filter them as any read; a server reads its own store, through
// aclDNSSource, which filters the same way (http_acl_filter.go):
//
//	instances   node:read on the node and service:read on the service
//	nodes       node:read
//	services    service:read
//
// A name the token may not read is a name that does not exist: NXDOMAIN,
// as Consul answers it. A token that does not resolve (deleted) fails the
// question: SERVFAIL.
//
// Concurrency: an aclDNSSource lives for one question on its serving
// goroutine; the authorizer is immutable.
package main

// aclDNSSource is a server's catalog as the DNS token may read it.
type aclDNSSource struct {
	dnsSource
	authz *aclAuthz
	err   error // the token did not resolve
}

// aclStoreSource is storeSource filtered by the agent's DNS token.
func (a *Agent) aclStoreSource(l *dnsLookup) dnsSource {
	st := a.store.snapshot()
	if !a.cfg.ACL.Enabled {
		return st
	}
	authz, err := a.acl.resolve(l.context(), a.acl.dnsToken())
	return &aclDNSSource{dnsSource: st, authz: authz, err: err}
}

func (s *aclDNSSource) lookupErr() error { return s.err }

func (s *aclDNSSource) checkServiceNodes(service string) []CheckServiceNode {
	if s.err != nil {
		return nil
	}
	out, _ := s.authz.instancesRead(s.dnsSource.checkServiceNodes(service))
	return out
}

func (s *aclDNSSource) connectServiceNodes(service string) []CheckServiceNode {
	if s.err != nil {
		return nil
	}
	out, _ := s.authz.instancesRead(s.dnsSource.connectServiceNodes(service))
	return out
}

func (s *aclDNSSource) node(name string) *Node {
	if s.err != nil || !s.authz.nodeRead(name) {
		return nil
	}
	return s.dnsSource.node(name)
}

func (s *aclDNSSource) nodeList() []*Node {
	if s.err != nil {
		return nil
	}
	out, _ := aclKeep(s.dnsSource.nodeList(), func(n *Node) bool { return s.authz.nodeRead(n.Node) })
	return out
}

func (s *aclDNSSource) serviceTags() map[string][]string {
	if s.err != nil {
		return nil
	}
	out, _ := s.authz.serviceTagsRead(s.dnsSource.serviceTags())
	return out
}
