// server_query.go: executing a prepared query, on the server that holds
// the state (Consul's PreparedQuery.Execute and ExecuteRemote). Client
// agents forward /v1/query like every catalog read (rpc_forward.go), so
// this runs on a server, reading one store snapshot:
//
//	execute: the service's instances (its mesh instances with Connect)
//	  → queryFilter: health (critical out; warning out with OnlyPassing;
//	    IgnoreCheckIDs ignored), NodeMeta, ServiceMeta, Tags ("!tag" excludes)
//	  → ACL filter with the query's Token, else the caller's
//	  → orderQueryNodes (shuffle; Near) → ?limit
//	  → none left: failover, datacenter by datacenter, until one has some
//
// Failover (Consul's queryFailover): the first NearestN other datacenters
// in the order a.datacenters() gives (by round-trip time once coordinates
// order it), then the listed Datacenters the WAN pool knows that are not
// among those; each try counts in Failovers, an unreachable datacenter
// too. A remote datacenter is asked for the service's health
// (/v1/health/service or /connect) through the WAN forwarding that exists
// (dcServers, rpc_forward.go), with the query's token, so that
// datacenter's servers apply its ACLs; the query's filters run here on
// the answer, as they would have there.
//
// Concurrency: none of its own; each execution runs on its request's
// goroutine, on an immutable snapshot.
package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// queryExecution is one execution's options: ?limit, ?connect, ?near (it
// overrides the query's Near), and the node of the agent asked (for
// Near "_agent").
type queryExecution struct {
	limit     int
	connect   bool
	near      string
	agentNode string
}

// queryExecuteResult is what an execution found, before the HTTP meta.
type queryExecuteResult struct {
	Service    string
	Nodes      []CheckServiceNode
	DNS        QueryDNSOptions
	Datacenter string
	Failovers  int
	filtered   bool // the ACLs removed instances
}

// executeQuery runs q on this datacenter's snapshot st, failing over to
// other datacenters when nothing healthy is found here.
func (a *Agent) executeQuery(ctx context.Context, st *state, q *PreparedQuery, callerToken string, ex queryExecution) (*queryExecuteResult, error) {
	token := callerToken
	if q.Token != "" {
		token = q.Token
	}
	authz, err := a.acl.resolve(ctx, token)
	if err != nil {
		return nil, err
	}
	lookup := st.checkServiceNodes
	if q.Service.Connect || ex.connect {
		lookup = st.connectServiceNodes
	}
	nodes, filtered := authz.instancesRead(queryFilter(lookup(q.Service.Service), &q.Service))
	res := &queryExecuteResult{Service: q.Service.Service, DNS: q.DNS, Datacenter: a.cfg.Datacenter, filtered: filtered}
	res.Nodes = limitQueryNodes(orderQueryNodes(st, nodes, cmp.Or(ex.near, q.Service.Near), ex.agentNode), ex.limit)
	if len(res.Nodes) == 0 {
		a.queryFailover(ctx, q, token, ex, res)
	}
	return res, nil
}

// queryFilter keeps the instances a query's service block admits (Consul's
// CheckServiceNodes.Filter, then its node meta, service meta and tag
// filters). It returns a new slice.
func queryFilter(csns []CheckServiceNode, svc *ServiceQuery) []CheckServiceNode {
	var must, not []string
	for _, tag := range svc.Tags {
		tag = strings.ToLower(tag)
		if t, ok := strings.CutPrefix(tag, "!"); ok {
			not = append(not, t)
		} else {
			must = append(must, tag)
		}
	}
	out := []CheckServiceNode{}
	for _, csn := range csns {
		if !queryHealthy(csn.Checks, svc) || !metaMatches(csn.Node.Meta, svc.NodeMeta) || !metaMatches(csn.Service.Meta, svc.ServiceMeta) {
			continue
		}
		has := func(t string) bool {
			return slices.ContainsFunc(csn.Service.Tags, func(s string) bool { return strings.ToLower(s) == t })
		}
		if slices.ContainsFunc(must, func(t string) bool { return !has(t) }) || slices.ContainsFunc(not, has) {
			continue
		}
		out = append(out, csn)
	}
	return out
}

// queryHealthy: no critical check (with OnlyPassing, no check that is not
// passing), the ignored checks aside.
func queryHealthy(checks []*HealthCheck, svc *ServiceQuery) bool {
	for _, c := range checks {
		if slices.Contains(svc.IgnoreCheckIDs, c.CheckID) {
			continue
		}
		if c.Status == healthCritical || svc.OnlyPassing && c.Status != healthPassing {
			return false
		}
	}
	return true
}

// orderQueryNodes puts the results in the order a query answers them:
// shuffled, as Consul's, so that clients spread over the instances. near
// ("_agent": the asking agent's node) names the node to sort them by
// distance from (by the coordinates in st; those without one stay shuffled,
// last); the node itself, if it is among the first ten, goes first
// (Consul's Execute). st is nil for another datacenter's results, which
// are not sorted, as Consul's ExecuteRemote.
func orderQueryNodes(st *state, nodes []CheckServiceNode, near, agentNode string) []CheckServiceNode {
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	if near == "_agent" {
		near = agentNode
	}
	if near == "" || st == nil {
		return nodes
	}
	sortCheckServiceNodesNear(st, near, nodes)
	for i := range min(len(nodes), 10) {
		if strings.EqualFold(nodes[i].Node.Node, near) {
			nodes[0], nodes[i] = nodes[i], nodes[0]
			break
		}
	}
	return nodes
}

func limitQueryNodes(nodes []CheckServiceNode, limit int) []CheckServiceNode {
	if limit > 0 && len(nodes) > limit {
		return nodes[:limit]
	}
	return nodes
}

// queryFailover tries the failover datacenters in order until one has
// instances; res takes the last one tried (Consul's queryFailover).
func (a *Agent) queryFailover(ctx context.Context, q *PreparedQuery, token string, ex queryExecution, res *queryExecuteResult) {
	var nearest []string // by RTT, nearest first
	for _, dc := range a.datacentersByRTT() {
		if dc != a.cfg.Datacenter {
			nearest = append(nearest, dc)
		}
	}
	targets := slices.Clone(nearest[:min(q.Service.Failover.NearestN, len(nearest))])
	listed := q.Service.Failover.Datacenters
	for _, t := range q.Service.Failover.Targets {
		listed = append(listed, t.Datacenter)
	}
	for _, dc := range listed {
		if slices.Contains(nearest, dc) && !slices.Contains(targets, dc) {
			targets = append(targets, dc)
		}
	}
	for _, dc := range targets {
		res.Failovers++
		nodes, filtered, err := a.executeRemote(ctx, dc, q, token, ex)
		if err != nil {
			a.logger.Warn("Failed querying for service in datacenter", "service", q.Service.Service, "datacenter", dc, "error", err)
			continue
		}
		res.Nodes, res.Datacenter, res.filtered = nodes, dc, filtered
		if len(nodes) > 0 {
			return
		}
	}
}

// executeRemote runs q in datacenter dc: that datacenter's health of the
// service, read through the WAN with the query's token, filtered here.
func (a *Agent) executeRemote(ctx context.Context, dc string, q *PreparedQuery, token string, ex queryExecution) ([]CheckServiceNode, bool, error) {
	to := dcServers{a, dc}
	if to.pick(nil) == "" {
		return nil, false, errNoPathToDC
	}
	kind := "service"
	if q.Service.Connect || ex.connect {
		kind = "connect"
	}
	f := forwardRequest{Method: http.MethodGet, URI: "/v1/health/" + kind + "/" + url.PathEscape(q.Service.Service),
		Header: tokenHeader(token)}
	ctx, cancel := context.WithTimeout(ctx, rpcDefaultCallTimeout)
	defer cancel()
	resp, err := a.sendRequest(ctx, to, f, true)
	if err != nil {
		return nil, false, err
	}
	if resp.Status != http.StatusOK {
		return nil, false, fmt.Errorf("%s answered %d: %s", dc, resp.Status, strings.TrimSpace(string(resp.Body)))
	}
	var csns []CheckServiceNode
	if err := decodeResponse(resp, &csns); err != nil {
		return nil, false, err
	}
	nodes := orderQueryNodes(nil, queryFilter(csns, &q.Service), "", "")
	return limitQueryNodes(nodes, ex.limit), resp.Header.Get("X-Consul-Results-Filtered-By-Acls") == "true", nil
}
