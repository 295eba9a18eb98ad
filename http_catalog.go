// http_catalog.go: the catalog (/v1/catalog/...) and health (/v1/health/...)
// endpoints.
//
// Reads come from one store snapshot and block on the table, service or node
// they read (see the index names in store_catalog.go), so a change to one
// service wakes only the queries about that service. Registrations become
// register/deregister commands through the log.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go) and reads an immutable store snapshot.
package main

import (
	"context"
	"net/http"
	"strings"
)

func (h *httpAPI) registerCatalog() {
	put := []string{http.MethodPut}
	get := []string{http.MethodGet}
	h.endpoint("/v1/catalog/register", put, h.catalogRegister)
	h.endpoint("/v1/catalog/deregister", put, h.catalogDeregister)
	h.endpoint("/v1/catalog/datacenters", get, h.catalogDatacenters)
	h.endpoint("/v1/catalog/nodes", get, h.catalogNodes)
	h.endpoint("/v1/catalog/services", get, h.catalogServices)
	h.endpoint("/v1/catalog/service/", get, h.catalogService)
	h.endpoint("/v1/catalog/node/", get, h.catalogNode)
	h.endpoint("/v1/catalog/node-services/", get, h.catalogNodeServices)
	h.endpoint("/v1/catalog/connect/", get, h.catalogConnect)
}

func (h *httpAPI) registerHealth() {
	get := []string{http.MethodGet}
	h.endpoint("/v1/health/node/", get, h.healthNode)
	h.endpoint("/v1/health/checks/", get, h.healthChecks)
	h.endpoint("/v1/health/service/", get, h.healthService)
	h.endpoint("/v1/health/state/", get, h.healthState)
	h.endpoint("/v1/health/connect/", get, h.healthConnect)
}

// pathArg is the rest of the path after prefix; it must not be empty.
func pathArg(r *http.Request, prefix, what string) (string, error) {
	arg := strings.TrimPrefix(r.URL.Path, prefix)
	if arg == "" {
		return "", badRequest("Missing %s", what)
	}
	return arg, nil
}

// namedQuery answers a blocking read of the one thing named at the end of
// the path, after prefix (readArgs: the node or service name, and the
// ?node-meta filter): read builds the answer from one state, keeping what
// the request's token may read (http_acl_filter.go) and saying whether it
// removed anything, and the query wakes when topic(name) changes.
func (h *httpAPI) namedQuery(w http.ResponseWriter, r *http.Request, prefix, what string, topic func(string) string,
	read func(st *state, authz *aclAuthz, name string, filter map[string]string) (out any, index uint64, removed bool)) (any, error) {
	q, name, filter, err := h.readArgs(r, prefix, what)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(topic(name)) }, func(st *state) (any, uint64, error) {
		out, idx, rm := read(st, authz, name, filter)
		removed = rm
		return out, idx, nil
	})
	authz.markFiltered(w, removed)
	return out, err
}

// readArgs parses what every read of one named thing takes: the query
// options, the name at the end of the path, and the ?node-meta filter.
func (h *httpAPI) readArgs(r *http.Request, prefix, what string) (q queryOptions, name string, filter map[string]string, err error) {
	if q, err = h.parseQuery(r); err != nil {
		return
	}
	if name, err = pathArg(r, prefix, what); err != nil {
		return
	}
	filter, err = nodeMetaFilter(r)
	return
}

// nodeMetaFilter is ?node-meta=key:value, repeatable: every pair must match.
func nodeMetaFilter(r *http.Request) (map[string]string, error) {
	filter := map[string]string{}
	for _, kv := range query(r)["node-meta"] {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return nil, badRequest("Invalid node-meta filter %q: want key:value", kv)
		}
		filter[k] = v
	}
	return filter, nil
}

func metaMatches(meta, filter map[string]string) bool {
	for k, v := range filter {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// hasTags reports whether a service carries every tag asked for (?tag may
// be repeated).
func hasTags(s *Service, tags []string) bool {
	for _, t := range tags {
		if !containsString(s.Tags, t) {
			return false
		}
	}
	return true
}

func (h *httpAPI) catalogRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RegisterRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, err
	}
	if err := h.checkDatacenterName(req.Datacenter); err != nil {
		return nil, err
	}
	if req.Node == "" {
		return nil, badRequest("Missing node name")
	}
	if req.Address == "" && !req.SkipNodeUpdate {
		return nil, badRequest("Missing node address")
	}
	if req.Service != nil && req.Service.Service == "" {
		return nil, badRequest("Missing service name")
	}
	for _, c := range append([]*HealthCheck{req.Check}, req.Checks...) {
		if c != nil && c.Status != "" && !validHealthStatus(c.Status) {
			return nil, badRequest("Invalid check status: %q", c.Status)
		}
		if c != nil {
			c.Type = checkTypeOf(c)
		}
	}
	req.Datacenter = h.a.cfg.Datacenter
	if err := h.vet(r, func(z *aclAuthz, st *state) error { return z.vetRegister(st, &req) }); err != nil {
		return nil, err
	}
	return h.applyCatalog(r.Context(), &command{Type: cmdRegister, Register: &req})
}

// checkTypeOf is a check's Type, or, when it has none, the kind its
// definition describes (checkDefinition.checkType), as Consul's
// Catalog.Register fills it in for a check registered in the catalog
// directly (not by an agent): a probe with an interval.
func checkTypeOf(c *HealthCheck) string {
	d := c.Definition
	if c.Type != "" || d.Interval <= 0 {
		return c.Type
	}
	return (&checkDefinition{HTTP: d.HTTP, TCP: d.TCP, UDP: d.UDP, GRPC: d.GRPC}).checkType()
}

func (h *httpAPI) catalogDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	var req DeregisterRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, err
	}
	if err := h.checkDatacenterName(req.Datacenter); err != nil {
		return nil, err
	}
	if req.Node == "" {
		return nil, badRequest("Missing node name")
	}
	if err := h.vet(r, func(z *aclAuthz, st *state) error { return z.vetDeregister(st, &req) }); err != nil {
		return nil, err
	}
	return h.applyCatalog(r.Context(), &command{Type: cmdDeregister, Deregister: &req})
}

// checkDatacenterName refuses a body's Datacenter naming another datacenter.
func (h *httpAPI) checkDatacenterName(dc string) error {
	if dc != "" && dc != h.a.cfg.Datacenter {
		return errNoPathToDC
	}
	return nil
}

// applyCatalog commits a catalog command; a refused one is a bad request.
func (h *httpAPI) applyCatalog(ctx context.Context, cmd *command) (any, error) {
	res, err := h.a.apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, badRequest("%v", res.err)
	}
	return true, nil
}

// catalogDatacenters: the datacenters the WAN pool knows, nearest first
// (datacentersByRTT, agent_coordinate.go). As Consul's, it needs no leader.
func (h *httpAPI) catalogDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.a.datacentersByRTT(), nil
}

func (h *httpAPI) catalogNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	filter, err := nodeMetaFilter(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[Node](r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexNodes) }, func(st *state) (any, uint64, error) {
		var nodes []*Node
		nodes, removed = aclKeep(st.nodeList(), func(n *Node) bool { return authz.nodeRead(n.Node) })
		out := []*Node{}
		for _, n := range nodes {
			if metaMatches(n.Meta, filter) {
				out = append(out, n)
			}
		}
		sortNear(st, h.nearNode(r), out, func(n *Node) string { return n.Node })
		return filterList(expr, out), st.tableIndex(indexNodes), nil
	})
	authz.markFiltered(w, removed)
	return out, err
}

func (h *httpAPI) catalogServices(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	filter, err := nodeMetaFilter(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[catalogServiceNode](r) // Consul filters the instances, then lists their names and tags
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	topics := []string{indexServices}
	if len(filter) > 0 || expr != nil {
		topics = append(topics, indexNodes)
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(topics...) }, func(st *state) (any, uint64, error) {
		if expr != nil {
			var out map[string][]string
			out, removed = servicesFiltered(st, authz, filter, expr)
			return out, max(st.tableIndex(indexServices), st.tableIndex(indexNodes)), nil
		}
		if len(filter) == 0 {
			var out map[string][]string
			out, removed = authz.serviceTagsRead(st.serviceTags())
			return out, st.tableIndex(indexServices), nil
		}
		out := map[string][]string{}
		for _, n := range st.nodeList() {
			if !metaMatches(n.Meta, filter) {
				continue
			}
			for _, s := range st.nodeServices(n.Node) {
				tags := out[s.Service]
				if tags == nil {
					tags = []string{}
				}
				for _, t := range s.Tags {
					if !containsString(tags, t) {
						tags = append(tags, t)
					}
				}
				out[s.Service] = tags
			}
		}
		out, removed = authz.serviceTagsRead(out)
		return out, max(st.tableIndex(indexServices), st.tableIndex(indexNodes)), nil
	})
	authz.markFiltered(w, removed)
	return out, err
}

// servicesFiltered is /v1/catalog/services with ?filter: as Consul's
// ListServices, the instances the token may read (with the node meta
// asked for) that the expression keeps, by service name with their tags.
func servicesFiltered(st *state, authz *aclAuthz, filter map[string]string, expr *resultFilter) (map[string][]string, bool) {
	var ins []ServiceInstance
	for _, n := range st.nodeList() {
		for _, s := range st.nodeServices(n.Node) {
			ins = append(ins, ServiceInstance{Node: n, Service: s})
		}
	}
	entries, removed := catalogEntries(ins, authz, nil, filter)
	out := map[string][]string{}
	for _, e := range filterList(expr, entries) {
		tags := out[e.ServiceName]
		if tags == nil {
			tags = []string{}
		}
		for _, t := range e.ServiceTags {
			if !containsString(tags, t) {
				tags = append(tags, t)
			}
		}
		out[e.ServiceName] = tags
	}
	return out, removed
}

// catalogServiceNode is an instance as /v1/catalog/service lists it: the
// node's fields and the service's, flattened (Consul's ServiceNode).
type catalogServiceNode struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	ServiceWeights           Weights
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceEnableTagOverride bool
	ServiceProxy             ConnectProxyConfig
	ServiceConnect           ServiceConnect
	ServiceLocality          *Locality
	CreateIndex              uint64 `bexpr:"-"`
	ModifyIndex              uint64 `bexpr:"-"`
}

// catalogEntry flattens an instance into a catalogServiceNode.
func catalogEntry(n *Node, s *Service) catalogServiceNode {
	return catalogServiceNode{
		ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
		TaggedAddresses: n.TaggedAddresses, NodeMeta: n.Meta,
		ServiceKind: s.Kind, ServiceID: s.ID, ServiceName: s.Service, ServiceTags: s.Tags,
		ServiceAddress: s.Address, ServiceTaggedAddresses: s.TaggedAddresses,
		ServiceWeights: s.Weights, ServiceMeta: s.Meta, ServicePort: s.Port,
		ServiceEnableTagOverride: s.EnableTagOverride, ServiceProxy: s.Proxy, ServiceConnect: s.Connect, ServiceLocality: s.Locality,
		CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}
}

func (h *httpAPI) catalogService(w http.ResponseWriter, r *http.Request) (any, error) {
	tags := query(r)["tag"]
	expr, err := bindFilter[catalogServiceNode](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/catalog/service/", "service name", serviceIndexName, func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, uint64, bool) {
		out, removed := catalogEntries(st.serviceInstances(name), authz, tags, filter)
		sortNear(st, h.nearNode(r), out, func(e catalogServiceNode) string { return e.Node })
		return filterList(expr, out), st.serviceIndex(name), removed
	})
}

// catalogEntries flattens the instances the token may read (node:read
// and service:read) that carry the tags and node meta asked for.
func catalogEntries(ins []ServiceInstance, authz *aclAuthz, tags []string, filter map[string]string) ([]catalogServiceNode, bool) {
	out := make([]catalogServiceNode, 0, len(ins)) // sized once: the entries are large, and growing copies them
	removed := false
	for _, in := range ins {
		n, s := in.Node, in.Service
		if !authz.nodeRead(n.Node) || !authz.serviceRead(s.Service) {
			removed = true
			continue
		}
		if hasTags(s, tags) && metaMatches(n.Meta, filter) {
			out = append(out, catalogEntry(n, s))
		}
	}
	return out, removed
}

func (h *httpAPI) catalogNode(w http.ResponseWriter, r *http.Request) (any, error) {
	type nodeServices struct {
		Node     *Node
		Services map[string]*Service
	}
	expr, err := bindFilter[Service](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/catalog/node/", "node name", nodeIndexName, func(st *state, authz *aclAuthz, name string, _ map[string]string) (any, uint64, bool) {
		n := st.node(name)
		if n == nil || !authz.nodeRead(name) {
			return (*nodeServices)(nil), st.nodeIndex(name), n != nil // Consul answers null
		}
		out := &nodeServices{Node: n, Services: map[string]*Service{}}
		services, removed := aclKeep(st.nodeServices(name), func(s *Service) bool { return authz.serviceRead(s.Service) })
		for _, s := range services {
			out.Services[s.ID] = s
		}
		out.Services = filterMap(expr, out.Services)
		return out, st.nodeIndex(name), removed
	})
}

func (h *httpAPI) catalogNodeServices(w http.ResponseWriter, r *http.Request) (any, error) {
	type nodeServiceList struct {
		Node     *Node
		Services []*Service
	}
	expr, err := bindFilter[Service](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/catalog/node-services/", "node name", nodeIndexName, func(st *state, authz *aclAuthz, name string, _ map[string]string) (any, uint64, bool) {
		n := st.node(name)
		if n == nil {
			return (*nodeServiceList)(nil), st.nodeIndex(name), false
		}
		if !authz.nodeRead(name) {
			return &nodeServiceList{}, st.nodeIndex(name), true // Consul: {"Node":null,"Services":null}
		}
		services, removed := aclKeep(st.nodeServices(name), func(s *Service) bool { return authz.serviceRead(s.Service) })
		return &nodeServiceList{Node: n, Services: filterList(expr, services)}, st.nodeIndex(name), removed
	})
}

func (h *httpAPI) healthNode(w http.ResponseWriter, r *http.Request) (any, error) {
	expr, err := bindFilter[HealthCheck](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/health/node/", "node name", nodeIndexName, func(st *state, authz *aclAuthz, name string, _ map[string]string) (any, uint64, bool) {
		checks, removed := authz.checksRead(st.nodeChecks(name))
		return filterList(expr, checks), st.nodeIndex(name), removed
	})
}

func (h *httpAPI) healthChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	expr, err := bindFilter[HealthCheck](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/health/checks/", "service name", serviceIndexName, func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, uint64, bool) {
		checks, removed := authz.checksRead(st.serviceChecks(name))
		out := []*HealthCheck{}
		for _, c := range checks {
			if n := st.node(c.Node); n != nil && metaMatches(n.Meta, filter) {
				out = append(out, c)
			}
		}
		return filterList(expr, out), st.serviceIndex(name), removed
	})
}

func (h *httpAPI) healthService(w http.ResponseWriter, r *http.Request) (any, error) {
	if queryFlag(r, "connect") { // the service's mesh instances (http_catalog_connect.go)
		return h.healthConnectAt(w, r, "/v1/health/service/")
	}
	tags := query(r)["tag"]
	passing := queryFlag(r, "passing")
	expr, err := bindFilter[CheckServiceNode](r)
	if err != nil {
		return nil, err
	}
	return h.namedQuery(w, r, "/v1/health/service/", "service name", serviceIndexName, func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, uint64, bool) {
		csns, removed := authz.instancesRead(st.checkServiceNodes(name))
		out := filterHealth(csns, tags, filter, passing)
		sortCheckServiceNodesNear(st, h.nearNode(r), out)
		return filterList(expr, out), st.serviceIndex(name), removed
	})
}

// filterHealth keeps the instances with every tag and node meta asked for,
// and with ?passing only those whose checks all pass, warnings left out
// too (Consul's filterNonPassing).
func filterHealth(csns []CheckServiceNode, tags []string, filter map[string]string, passing bool) []CheckServiceNode {
	out := []CheckServiceNode{}
	for _, csn := range csns {
		if !hasTags(csn.Service, tags) || !metaMatches(csn.Node.Meta, filter) {
			continue
		}
		if passing && aggregateStatus(csn.Checks) != healthPassing {
			continue
		}
		out = append(out, csn)
	}
	return out
}

func (h *httpAPI) healthState(w http.ResponseWriter, r *http.Request) (any, error) {
	q, status, _, err := h.readArgs(r, "/v1/health/state/", "check state")
	if err != nil {
		return nil, err
	}
	if status != "any" && !validHealthStatus(status) {
		return nil, badRequest("Invalid check state %q: want any, passing, warning or critical", status)
	}
	filter, err := nodeMetaFilter(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[HealthCheck](r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexChecks) }, func(st *state) (any, uint64, error) {
		var checks []*HealthCheck
		checks, removed = authz.checksRead(st.checksInState(status))
		out := []*HealthCheck{}
		for _, c := range checks {
			if n := st.node(c.Node); n != nil && metaMatches(n.Meta, filter) {
				out = append(out, c)
			}
		}
		return filterList(expr, out), st.tableIndex(indexChecks), nil
	})
	authz.markFiltered(w, removed)
	return out, err
}
