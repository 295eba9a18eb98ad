// http_coordinate.go: /v1/coordinate, Consul's network coordinate API, and
// ?near, the distance order of the catalog and health lists.
//
//	GET /v1/coordinate/datacenters   the WAN pool's servers' coordinates, per datacenter
//	GET /v1/coordinate/nodes         every node's (blocking; node:read filters)
//	GET /v1/coordinate/node/<node>   one node's, an array of one; none: 404, empty body
//	PUT /v1/coordinate/update        an agent's own (node:write); taken now,
//	                                 stored at the next batch (agent_coordinate.go)
//
// ?near=<node> (or _agent, this agent's node; a client resolves it before
// forwarding, rpc_forward.go) orders /v1/catalog/nodes, /v1/catalog/service
// and /v1/health/service by sortNear (agent_coordinate.go).
//
// Concurrency: per request, on a store snapshot; updates go to the agent's
// pendingCoordinates, which has its own lock.
package main

import (
	"errors"
	"net/http"
	"strings"
)

func (h *httpAPI) registerCoordinate() {
	get := []string{http.MethodGet}
	h.endpoint("/v1/coordinate/datacenters", get, h.coordinateDatacenters)
	h.endpoint("/v1/coordinate/nodes", get, h.coordinateNodes)
	h.endpoint("/v1/coordinate/node/", get, h.coordinateNode)
	h.endpoint("/v1/coordinate/update", []string{http.MethodPut}, h.coordinateUpdate)
}

func (h *httpAPI) coordinateDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.a.datacenterCoordinates(), nil
}

// segmentFilter: ?segment=<s> keeps that segment's coordinates (every
// coordinate is the default segment's, "").
func segmentFilter(r *http.Request, list []*CoordinateEntry) []*CoordinateEntry {
	vs, ok := query(r)["segment"]
	if !ok || len(vs) == 0 || vs[0] == "" {
		return list
	}
	return []*CoordinateEntry{}
}

func (h *httpAPI) coordinateNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexCoordinates) }, func(st *state) (any, uint64, error) {
		var list []*CoordinateEntry
		list, removed = aclKeep(st.coordinateList(), func(e *CoordinateEntry) bool { return authz.nodeRead(e.Node) })
		return segmentFilter(r, list), st.tableIndex(indexCoordinates), nil
	})
	authz.markFiltered(w, removed)
	return out, err
}

func (h *httpAPI) coordinateNode(w http.ResponseWriter, r *http.Request) (any, error) {
	node := strings.TrimPrefix(r.URL.Path, "/v1/coordinate/node/")
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := authz.require(aclResNode, aclRead, node); err != nil {
		return nil, err
	}
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexCoordinates) }, func(st *state) (any, uint64, error) {
		list := []*CoordinateEntry{}
		if e, ok := st.coordinates.get(node); ok {
			list = append(list, e)
		}
		return segmentFilter(r, list), st.tableIndex(indexCoordinates), nil
	})
	if err != nil {
		return nil, err
	}
	if len(out.([]*CoordinateEntry)) == 0 {
		// Consul answers 404 with an empty body, and its query meta is
		// not written (its handler sets the status first).
		for _, k := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact", "X-Consul-Effective-Consistency"} {
			w.Header().Del(k)
		}
		w.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	return out, nil
}

// coordinateUpdate takes an agent's coordinate, with Consul's checks in
// its order: the body, a valid coordinate, one of this pool's
// dimensionality, node:write.
func (h *httpAPI) coordinateUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	var u CoordinateEntry
	if err := decodeBody(w, r, &u); err != nil {
		return nil, err
	}
	if u.Coord == nil || !u.Coord.valid() {
		return nil, errors.New("invalid coordinate")
	}
	if !newCoordinate().compatible(u.Coord) {
		return nil, errors.New("incompatible coordinate")
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := authz.require(aclResNode, aclWrite, u.Node); err != nil {
		return nil, err
	}
	h.a.coordinates.add(u)
	return nil, nil
}

// nearNode is the node ?near names: _agent is this agent's.
func (h *httpAPI) nearNode(r *http.Request) string {
	near := query(r).Get("near")
	if near == "_agent" {
		return h.a.cfg.NodeName
	}
	return near
}

// resolveNearAgent is the request's URI with ?near=_agent replaced by this
// agent's node name, for a request this agent forwards: the server that
// serves it would read _agent as itself.
func resolveNearAgent(r *http.Request, node string) string {
	values := r.URL.Query()
	if values.Get("near") != "_agent" {
		return r.URL.RequestURI()
	}
	values.Set("near", node)
	u := *r.URL
	u.RawQuery = values.Encode()
	return u.RequestURI()
}
