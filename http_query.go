// http_query.go: the prepared query API, /v1/query (Consul's
// https://developer.hashicorp.com/consul/api-docs/query), with Consul's
// shapes, statuses and messages.
//
//	POST /v1/query                      create → {"ID": …}
//	GET  /v1/query                      list (blocking)
//	GET/PUT/DELETE /v1/query/<id>       one (GET: an array of one, blocking)
//	GET  /v1/query/<id-or-name>/execute run it (server_query.go): ?limit, ?near, ?connect
//	GET  /v1/query/<id-or-name>/explain the query it resolves to (a template rendered)
//
// Writes are checked here as Consul's PreparedQuery.Apply does (ACLs on
// the new and the stored name, existence, parseQuery), given their ID
// here, and go through the log (cmdPreparedQuery, store_query.go); what
// the store refuses comes back as Consul's "raft apply failed: …". A
// client agent forwards all of it to a server (rpc_forward.go), so every
// handler here runs on a server, against its own store.
//
// ACLs, as Consul's: query:write on a query's name (ACL prefix) to write;
// reads keep the named queries the token may read and hide the unnamed
// ones, and redact Token, unless the token has acl:write (Consul's
// filterPreparedQueries); execute filters the instances with the query's
// own Token when it has one. Consul has no ?filter on execute (it ignores
// the parameter), nor does this.
//
// Concurrency: none of its own; each request reads an immutable snapshot.
package main

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

const queryPath = "/v1/query/"

// queryAgentHeader carries, on a request a client agent forwards, the
// client's node name: Near "_agent" means the agent asked, as in Consul,
// whose client sends its node in the RPC's arguments.
const queryAgentHeader = "X-Consul-Query-Agent-Node"

func (h *httpAPI) registerQuery() {
	h.endpoint("/v1/query", []string{http.MethodGet, http.MethodPost}, h.queryGeneral)
	h.endpoint(queryPath, []string{http.MethodGet, http.MethodPut, http.MethodDelete}, h.querySpecific)
}

// queryMeta is Consul's QueryMeta, which execute and explain carry in
// their bodies, as the headers say it.
type queryMeta struct {
	Index                 uint64
	LastContact           int64 // nanoseconds (a time.Duration)
	KnownLeader           bool
	ConsistencyLevel      string
	NotModified           bool
	Backend               int
	ResultsFilteredByACLs bool
}

// queryExecuteResponse is Consul's PreparedQueryExecuteResponse.
type queryExecuteResponse struct {
	Service    string
	Nodes      []CheckServiceNode
	DNS        QueryDNSOptions
	Datacenter string
	PeerName   string
	Failovers  int
	queryMeta
}

// queryExplainResponse is Consul's PreparedQueryExplainResponse.
type queryExplainResponse struct {
	Query *PreparedQuery
	queryMeta
}

func (h *httpAPI) queryGeneral(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == http.MethodPost {
		return h.queryCreate(w, r)
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	removed := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexPreparedQueries) }, func(st *state) (any, uint64, error) {
		var list []*PreparedQuery
		list, removed = visibleQueries(authz, st.queryList())
		return list, st.tableIndex(indexPreparedQueries), nil
	})
	authz.markFiltered(w, removed)
	return out, err
}

func (h *httpAPI) querySpecific(w http.ResponseWriter, r *http.Request) (any, error) {
	id := strings.TrimPrefix(r.URL.Path, queryPath)
	for _, op := range []string{"/execute", "/explain"} {
		if name, ok := strings.CutSuffix(id, op); ok {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				return nil, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", r.Method)}
			}
			return h.queryRun(w, r, name, op == "/explain")
		}
	}
	switch r.Method {
	case http.MethodGet:
		return h.queryRead(w, r, id)
	case http.MethodPut:
		q := &PreparedQuery{}
		if r.ContentLength != 0 {
			if err := decodeBody(w, r, q); err != nil {
				return nil, err
			}
		}
		q.ID = id
		return nil, h.queryWrite(r, q, false)
	default:
		return nil, h.queryWrite(r, &PreparedQuery{ID: id}, true)
	}
}

func (h *httpAPI) queryCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	q := &PreparedQuery{}
	if err := decodeBody(w, r, q); err != nil {
		return nil, err
	}
	if q.ID != "" {
		return nil, fmt.Errorf("ID must be empty when creating a new prepared query")
	}
	st := h.a.store.snapshot()
	for q.ID == "" || queryExists(st, q.ID) {
		q.ID = newUUID()
	}
	if err := h.queryApply(r, q, false, nil, false); err != nil {
		return nil, err
	}
	return map[string]string{"ID": q.ID}, nil
}

func queryExists(st *state, id string) bool {
	_, ok := st.queries.byID.get(id)
	return ok
}

// queryWrite updates or deletes the stored query q.ID, which must exist.
func (h *httpAPI) queryWrite(r *http.Request, q *PreparedQuery, del bool) error {
	if err := h.checkDatacenter(r); err != nil {
		return err
	}
	stored, err := h.a.store.snapshot().queryGet(q.ID)
	if err != nil && err != errQueryNotFound {
		return fmt.Errorf("Prepared Query lookup failed: %v", err)
	}
	return h.queryApply(r, q, true, stored, del)
}

// queryApply checks a write as Consul's PreparedQuery.Apply, in its order
// (write on the new name; for an update or delete, the stored query, nil
// when missing, and write on its name; the query's validity), and applies
// it.
func (h *httpAPI) queryApply(r *http.Request, q *PreparedQuery, update bool, stored *PreparedQuery, del bool) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if prefix, ok := q.aclPrefix(); ok {
		if err := authz.require(aclResQuery, aclWrite, prefix); err != nil {
			return err
		}
	}
	if update {
		if stored == nil {
			return fmt.Errorf("Cannot modify non-existent prepared query: '%s'", q.ID)
		}
		if prefix, ok := stored.aclPrefix(); ok {
			if err := authz.require(aclResQuery, aclWrite, prefix); err != nil {
				return err
			}
		}
	}
	req := &preparedQueryRequest{Query: q}
	if del {
		req = &preparedQueryRequest{DeleteID: q.ID}
	} else if err := parseQuery(q); err != nil {
		return fmt.Errorf("Invalid prepared query: %v", err)
	}
	res, err := h.a.apply(r.Context(), &command{Type: cmdPreparedQuery, PreparedQuery: req})
	if err != nil {
		return err
	}
	if res.err != nil {
		return fmt.Errorf("raft apply failed: %v", res.err)
	}
	return nil
}

// queryRead is GET /v1/query/<id>: an array of one, blocking on the table.
func (h *httpAPI) queryRead(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexPreparedQueries) }, func(st *state) (any, uint64, error) {
		pq, err := st.queryGet(id)
		if err != nil {
			return nil, 0, err
		}
		if _, named := pq.aclPrefix(); !named {
			return []*PreparedQuery{redactQuery(authz, pq)}, st.tableIndex(indexPreparedQueries), nil
		}
		list, _ := visibleQueries(authz, []*PreparedQuery{pq})
		if len(list) == 0 {
			return nil, 0, errPermissionDenied
		}
		return list, st.tableIndex(indexPreparedQueries), nil
	})
}

// queryRun is execute and explain: the query an ID or name resolves to, run
// or shown.
func (h *httpAPI) queryRun(w http.ResponseWriter, r *http.Request, idOrName string, explain bool) (any, error) {
	opts, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	ex := queryExecution{near: query(r).Get("near"), agentNode: cmp.Or(r.Header.Get(queryAgentHeader), h.a.cfg.NodeName)}
	if v := query(r).Get("limit"); v != "" {
		if ex.limit, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("Bad limit: %s", err)
		}
	}
	if v := query(r).Get("connect"); v != "" && !explain {
		if ex.connect, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("Error parsing 'connect' value: %s", err)
		}
	}
	if err := h.a.readBarrier(r.Context(), opts); err != nil {
		return nil, err
	}
	st := h.a.store.snapshot()
	pq, err := st.queryResolve(idOrName, "")
	if err != nil {
		return nil, err
	}
	if pq == nil {
		return nil, errQueryNotFound
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if explain {
		list, _ := visibleQueries(authz, []*PreparedQuery{pq})
		if len(list) == 0 {
			return nil, errPermissionDenied
		}
		return queryExplainResponse{Query: list[0], queryMeta: h.bodyMeta(w, opts, false)}, nil
	}
	token := requestToken(r)
	if token == "" {
		token = h.a.acl.token("default")
	}
	res, err := h.a.executeQuery(r.Context(), st, pq, token, ex)
	if err != nil {
		return nil, err
	}
	setFilteredByACLs(w, res.filtered)
	return queryExecuteResponse{Service: res.Service, Nodes: res.Nodes, DNS: res.DNS, Datacenter: res.Datacenter,
		Failovers: res.Failovers, queryMeta: h.bodyMeta(w, opts, res.filtered)}, nil
}

// bodyMeta writes the read headers (execute and explain report index 1,
// as Consul's, which runs them as no blocking query) and says the same in
// the body.
func (h *httpAPI) bodyMeta(w http.ResponseWriter, opts queryOptions, filtered bool) queryMeta {
	h.setQueryMeta(w, opts, 1)
	hdr := w.Header()
	ms, _ := strconv.ParseInt(hdr.Get("X-Consul-LastContact"), 10, 64)
	return queryMeta{Index: 1, LastContact: ms * 1e6, KnownLeader: hdr.Get("X-Consul-KnownLeader") == "true",
		ConsistencyLevel: hdr.Get("X-Consul-Effective-Consistency"), ResultsFilteredByACLs: filtered}
}

// visibleQueries is Consul's filterPreparedQueries: everything for a token
// with acl:write; otherwise the named queries (and templates) the token may
// read, with their Token redacted, and none of the unnamed ones. removed
// says whether a named one was left out.
func visibleQueries(z *aclAuthz, in []*PreparedQuery) (out []*PreparedQuery, removed bool) {
	if z.allows(aclResACL, aclWrite, "") {
		return in, false
	}
	out = []*PreparedQuery{}
	for _, q := range in {
		prefix, named := q.aclPrefix()
		if !named {
			continue
		}
		if !z.allows(aclResQuery, aclRead, prefix) {
			removed = true
			continue
		}
		out = append(out, redactQuery(z, q))
	}
	return out, removed
}

// redactQuery hides a query's Token from a token without acl:write.
func redactQuery(z *aclAuthz, q *PreparedQuery) *PreparedQuery {
	if q.Token == "" || z.allows(aclResACL, aclWrite, "") {
		return q
	}
	c := *q
	c.Token = redactedToken
	return &c
}
