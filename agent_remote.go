// agent_remote.go: the catalog as an agent reads it when it does not hold
// it: the remote catalog view a client agent's DNS reads (and any agent's
// DNS for another datacenter), and Agent.nodeCatalog, the catalog's view of
// one node that anti-entropy (agent_sync.go) and alias checks (checks.go)
// compare with the local state.
//
// A server reads its own store; a client, which keeps no state, reads the
// catalog by forwarded reads (rpc_forward.go's roundTrip), or from the agent
// cache (agent_cache.go) with dns_config.use_cache:
//
//	DNS question (dns.go) → remoteCatalog → remoteGet → roundTrip or
//	  cachedValue → server's /v1/health, /v1/catalog → decoded lists
//	nodeCatalog → server: store snapshot (blocking on the node's index)
//	            → client: nodeCatalogRemote → /v1/catalog/node, /v1/health/node
//
// Concurrency: none of its own. A remoteCatalog lives for one question and
// is used by one goroutine; what it returns may be shared with other
// questions (the cache's decoded results) and is only read.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// nodeCatalogView is the catalog's view of one node.
type nodeCatalogView struct {
	Node     *Node // nil when the catalog does not have the node
	Services []*Service
	Checks   []*HealthCheck
	Index    uint64 // the node's index in the catalog
}

// nodeCatalog reads the catalog's view of a node. With index > 0 it blocks
// until the node's index differs from index (a blocking query) or ctx ends.
// Anti-entropy and alias checks read the catalog only through here: a
// client agent, which has no store, reads it from a server
// (nodeCatalogRemote, below).
func (a *Agent) nodeCatalog(ctx context.Context, node string, index uint64) (*nodeCatalogView, error) {
	if !a.cfg.Server {
		return a.nodeCatalogRemote(ctx, node, index)
	}
	for {
		w := a.store.newWatch()
		w.watchTopic(nodeIndexName(node), indexNodes)
		st := a.store.snapshot()
		if idx := st.nodeIndex(node); index == 0 || idx != index {
			w.stop()
			return &nodeCatalogView{Node: st.node(node), Services: st.nodeServices(node), Checks: st.nodeChecks(node), Index: idx}, nil
		}
		select {
		case <-w.fired:
			w.stop()
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		}
	}
}

// --- DNS on a client ---

// remoteCatalog is the catalog as a client's DNS resolver reads it: each
// lookup a forwarded read (stale unless dns_config.allow_stale is off), or
// one from the agent cache with dns_config.use_cache. It lives for one
// question, keeps the lists it read, and remembers the first error. What
// it returns may be shared with other questions (the cache's decoded
// results): resolution only reads it.
type remoteCatalog struct {
	a   *Agent
	ctx context.Context
	dc  string // "": this datacenter
	err error

	nodes                     []*Node
	services                  map[string][]string
	nodesIndex, servicesIndex uint64 // 0: not read yet
}

func (a *Agent) remoteCatalog(l *dnsLookup) dnsSource {
	return &remoteCatalog{a: a, ctx: l.context()}
}

// remoteDCCatalog is another datacenter's catalog, read through a server
// that forwards there; nil when a server knows no such datacenter.
func (a *Agent) remoteDCCatalog(l *dnsLookup, dc string) dnsSource {
	if a.cfg.Server && !slices.Contains(a.datacenters(), dc) {
		return nil
	}
	return &remoteCatalog{a: a, ctx: l.context(), dc: dc}
}

func (c *remoteCatalog) lookupErr() error { return c.err }

// remoteGet reads path as a T and returns it with the answer's index.
func remoteGet[T any](c *remoteCatalog, path string) (v T, index uint64) {
	if c.err != nil {
		return v, 0
	}
	var q []string
	if c.a.cfg.DNS.AllowStale {
		q = append(q, "stale")
	}
	if c.dc != "" {
		q = append(q, "dc="+url.QueryEscape(c.dc))
	}
	uri := path
	if len(q) > 0 {
		uri += "?" + strings.Join(q, "&")
	}
	var err error
	token := c.a.acl.dnsToken() // the servers filter the answer (agent_acl_token.go)
	if c.a.cfg.DNS.UseCache {
		v, index, err = cachedValue[T](c.ctx, c.a.cache, uri, token)
	} else {
		var resp forwardResponse
		if resp, err = c.a.roundTrip(c.ctx, forwardRequest{Method: http.MethodGet, URI: uri, Header: tokenHeader(token)}, true); err == nil {
			err = decodeResponse(resp, &v)
			index, _ = strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
		}
	}
	if err != nil {
		c.err = err
		return v, 0
	}
	return v, max(index, 1)
}

// decodeResponse decodes a read's JSON answer; a 404 leaves v empty.
func decodeResponse(resp forwardResponse, v any) error {
	switch {
	case resp.Status == http.StatusNotFound:
		return nil
	case resp.Status != http.StatusOK:
		return fmt.Errorf("server answered %d: %s", resp.Status, bytes.TrimSpace(resp.Body))
	}
	return json.Unmarshal(resp.Body, v)
}

func (c *remoteCatalog) checkServiceNodes(service string) []CheckServiceNode {
	out, _ := remoteGet[[]CheckServiceNode](c, "/v1/health/service/"+url.PathEscape(service))
	return out
}

func (c *remoteCatalog) connectServiceNodes(service string) []CheckServiceNode {
	out, _ := remoteGet[[]CheckServiceNode](c, "/v1/health/connect/"+url.PathEscape(service))
	return out
}

func (c *remoteCatalog) node(name string) *Node {
	if name == "" {
		return nil
	}
	out, _ := remoteGet[struct{ Node *Node }](c, "/v1/catalog/node/"+url.PathEscape(name))
	return out.Node
}

func (c *remoteCatalog) nodeList() []*Node {
	if c.nodesIndex == 0 {
		c.nodes, c.nodesIndex = remoteGet[[]*Node](c, "/v1/catalog/nodes")
	}
	return c.nodes
}

func (c *remoteCatalog) serviceTags() map[string][]string {
	if c.servicesIndex == 0 {
		c.services, c.servicesIndex = remoteGet[map[string][]string](c, "/v1/catalog/services")
	}
	return c.services
}

// tableIndex is the index of the list read for a table, which it reads.
func (c *remoteCatalog) tableIndex(table string) uint64 {
	switch table {
	case indexNodes:
		c.nodeList()
		return c.nodesIndex
	case indexServices:
		c.serviceTags()
		return c.servicesIndex
	}
	return 0
}

// nodeCatalogRemote is nodeCatalog on a client: the node and its services
// from a server, blocking on the node's index when index > 0, then its
// checks.
func (a *Agent) nodeCatalogRemote(ctx context.Context, node string, index uint64) (*nodeCatalogView, error) {
	path := "/v1/catalog/node/" + url.PathEscape(node)
	for {
		uri, timeout := path, rpcDefaultCallTimeout
		if index > 0 {
			uri += "?index=" + strconv.FormatUint(index, 10) + "&wait=" + defaultBlockingWait.String()
			timeout += defaultBlockingWait + defaultBlockingWait/16
		}
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := a.roundTrip(callCtx, forwardRequest{Method: http.MethodGet, URI: uri, Header: tokenHeader(a.acl.agentToken())}, true)
		cancel()
		var ns struct {
			Node     *Node
			Services map[string]*Service
		}
		if err == nil {
			err = decodeResponse(resp, &ns)
		}
		if err != nil {
			return nil, err
		}
		idx, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
		if index > 0 && idx == index {
			continue // the wait ran out with no change
		}
		view := &nodeCatalogView{Node: ns.Node, Index: idx}
		for _, svc := range ns.Services {
			view.Services = append(view.Services, svc)
		}
		slices.SortFunc(view.Services, func(x, y *Service) int { return strings.Compare(x.ID, y.ID) })
		callCtx, cancel = context.WithTimeout(ctx, rpcDefaultCallTimeout)
		resp, err = a.roundTrip(callCtx, forwardRequest{Method: http.MethodGet, URI: "/v1/health/node/" + url.PathEscape(node),
			Header: tokenHeader(a.acl.agentToken())}, true)
		cancel()
		if err == nil {
			err = decodeResponse(resp, &view.Checks)
		}
		if err != nil {
			return nil, err
		}
		return view, nil
	}
}
