// http.go: Consul's HTTP API, the interface applications and tools use.
//
// Every agent serves /v1/... with Consul's paths, JSON field names, status
// codes and headers, so Consul's own clients work unchanged (the README's
// "Compatibility" lists the rules they rely on). A request flows:
//
//	net/http → endpoint (method check) → handler
//	  read:  parseQuery → blockingQuery(watch what it reads, snapshot, wait) → JSON
//	  write: decodeBody (size-limited) → command → Agent.apply → true/false
//
// A handler waits with its request's context: a client that hangs up stops
// the wait (never the write, which is in the log or not), answered 499.
//
// The rules every endpoint shares live here, once: setQueryMeta writes the
// X-Consul-* headers, blockingQuery implements ?index=&wait=, decodeBody
// bounds and decodes bodies, and writeError answers with Consul's status
// codes and messages. The endpoints themselves are in http_kv.go,
// http_catalog.go (catalog and health), http_agent.go (agent, status,
// snapshot), http_session.go, http_txn.go, http_operator.go (Raft
// peers, keyring, leader transfer), http_operator_autopilot.go and
// serf_event.go (/v1/event).
//
// Concurrency: each request runs on its own net/http goroutine and reads a
// store snapshot; nothing here is shared but the agent.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Blocking query limits, as Consul's.
const (
	defaultBlockingWait = 5 * time.Minute
	maxBlockingWait     = 10 * time.Minute
	// maxRequestBody bounds JSON bodies other than KV values and snapshots.
	maxRequestBody = 4 << 20
)

// httpError is an error with the status code Consul answers it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// errNoPathToDC is Consul's answer for a datacenter it does not know.
var errNoPathToDC = &httpError{http.StatusInternalServerError, "No path to datacenter"}

// httpAPI routes requests to the agent.
type httpAPI struct {
	a             *Agent
	mux           *http.ServeMux
	kvHandler     http.Handler
	cachedHandler http.Handler
	bodyStall     time.Duration   // a request body that sends nothing for this long is cut off
	httpSamples   *labeledSamples // api.http by method and route (http_agent_metrics.go)
	kvBodies      sync.Pool       // spare response buffers of KV reads (http_kv_json.go)
}

// httpBodyStallTimeout: a client sending a body must keep sending. Consul
// only has read_timeout (15m for the whole request), under which a body
// trickled a byte at a time holds a connection and a goroutine for 15
// minutes; a body stalled this long is cut off, whatever read_timeout is.
const httpBodyStallTimeout = 30 * time.Second

// handlerFunc answers a request with a value to encode as JSON (nil: the
// handler wrote the response itself) or an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

func newHTTPAPI(a *Agent) *httpAPI {
	h := &httpAPI{a: a, mux: http.NewServeMux(), bodyStall: httpBodyStallTimeout}
	h.registerKV()
	h.registerCatalog()
	h.registerHealth()
	h.registerAgent()
	h.registerStatus()
	h.registerOperator()
	h.registerSession()
	h.registerTxn()
	h.registerEvent()
	h.registerConfigEntries()
	h.registerIntentions()
	h.registerConnectCA()
	h.registerQuery()
	h.registerACL()
	h.registerCoordinate()
	h.endpoint("/v1/agent/monitor", []string{http.MethodGet}, h.agentMonitor) // http_agent_monitor.go
	h.endpoint("/v1/agent/host", []string{http.MethodGet}, h.agentHost)       // http_agent_host.go
	h.registerCluster()                                                       // http_cluster.go: the teaching view
	h.registerUI()                                                            // http_ui.go: "/", /ui/
	h.registerMetrics()                                                       // http_agent_metrics.go
	h.cachedHandler = h.wrap([]string{http.MethodGet}, h.cachedRead)
	return h
}

// newHTTPServer serves h with http_config's timeouts. ReadTimeout covers a
// request's body as well as its headers, so a body sent slowly is cut off;
// an idle keep-alive connection is closed after IdleTimeout; WriteTimeout
// runs from a request's headers, so its default (15m) outlasts the longest
// blocking query (maxBlockingWait and its jitter). The listeners it serves
// are wrapped in a connLimiter (agent_limits.go).
func newHTTPServer(h *httpAPI, logger *slog.Logger) *http.Server {
	cfg := h.a.cfg
	return &http.Server{
		Handler:           h,
		ReadTimeout:       cfg.HTTPReadTimeout,
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// ServeHTTP routes a request: ?cached reads to the agent cache (agent_cache.go),
// on a client agent everything on the data to a server, on a server a
// request for another datacenter to one of its servers (rpc_forward.go), and KV
// requests straight to their handler: a key may hold "//" or "/./", which
// the mux would "clean" away with a redirect.
func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &stallGuard{ReadCloser: r.Body, rc: http.NewResponseController(w), stall: h.bodyStall,
			end: time.Now().Add(h.a.cfg.HTTPReadTimeout)}
	}
	h.aclDefaultPolicyHeader(w) // http_acl.go
	path, dc := r.URL.Path, h.remoteDC(r)
	start, pattern := time.Now(), "" // api.http (http_agent_metrics.go)
	switch {
	case r.Method == http.MethodGet && queryFlag(r, "cached") && slices.ContainsFunc(cachedPaths, func(p string) bool {
		return path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)
	}):
		h.cachedHandler.ServeHTTP(w, r)
		pattern = h.routeOf(r)
	case !h.a.cfg.Server && dc == "" && path == "/v1/snapshot" && r.Method == http.MethodPut:
		h.mux.ServeHTTP(w, r) // streamed to a server in chunks, not as one request (agent_restore.go)
		pattern = r.Pattern
	case !h.a.cfg.Server && (forwardedPath(path) || dc != ""):
		h.forward(w, r, "")
		pattern = h.routeOf(r)
	case dc != "":
		h.forward(w, r, dc)
		pattern = h.routeOf(r)
	case strings.HasPrefix(path, kvPath):
		h.kvHandler.ServeHTTP(w, r)
		pattern = kvPath
	default:
		h.mux.ServeHTTP(w, r)
		pattern = r.Pattern
	}
	h.observeHTTP(r, pattern, start)
}

// stallGuard gives each read of a request body a deadline: the body must
// make progress every stall, and still end within read_timeout of the
// request (the server's own deadline, which a new one would otherwise
// lift). Once the body is read whole, net/http lifts the deadline itself
// for its background read.
type stallGuard struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	end   time.Time // read_timeout after the request arrived
}

func (g *stallGuard) Read(p []byte) (int, error) {
	deadline := time.Now().Add(g.stall)
	if g.end.Before(deadline) {
		deadline = g.end
	}
	g.rc.SetReadDeadline(deadline) // a forwarded request's writer has no connection: nothing to guard
	return g.ReadCloser.Read(p)
}

// endpoint registers a handler for a path (a prefix when it ends in "/")
// that accepts only the given methods; others get 405 with an Allow header.
func (h *httpAPI) endpoint(path string, methods []string, fn handlerFunc) {
	h.mux.Handle(path, h.wrap(methods, h.aclGuard(path, fn))) // scalar ACL checks: http_acl_enforce.go
}

// wrap applies the method check and encodes the handler's answer.
func (h *httpAPI) wrap(methods []string, fn handlerFunc) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		for _, m := range methods {
			ok = ok || r.Method == m
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", allow)
			return
		}
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", r.Method)})
			return
		}
		obj, err := fn(w, r)
		if err != nil {
			h.a.logger.Debug("HTTP request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			writeError(w, err)
			return
		}
		if obj != nil {
			writeJSON(w, r, obj)
		}
	})
}

// writeJSON encodes obj, indented with ?pretty.
func writeJSON(w http.ResponseWriter, r *http.Request, obj any) {
	var b []byte
	var err error
	if ok, isBool := obj.(bool); isBool { // a write's answer: the same bytes, pretty or not
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(strconv.AppendBool(nil, ok))
		return
	}
	if _, pretty := query(r)["pretty"]; pretty {
		b, err = json.MarshalIndent(obj, "", "    ")
	} else {
		b, err = json.Marshal(obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// statusClientClosedRequest is the status of a request whose client went
// away before its answer (nginx's 499; net/http has no name for it).
const statusClientClosedRequest = 499

// writeError answers with the error's status (500 unless it says otherwise)
// and its message as a plain-text body, as Consul does.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	} else if errors.Is(err, errNotFound) {
		code = http.StatusNotFound
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.Canceled) {
		// The client hung up while its request waited (a write, a read
		// barrier): no one reads this answer. Only the wait stopped: a write is
		// in the log or not, as it would have been.
		code = statusClientClosedRequest
		err = errors.New("request cancelled: the client closed the connection")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, strings.TrimPrefix(err.Error(), errNotFound.Error()+": "))
}

// query returns the request's query parameters, parsed once and kept in
// r.Form: a handler asks for them many times per request (flags, options,
// ?pretty), and each r.URL.Query() parses the whole string again. Nothing
// here calls ParseForm, which would add body values to r.Form.
func query(r *http.Request) url.Values {
	if r.Form == nil {
		r.Form = r.URL.Query()
	}
	return r.Form
}

// queryFlag reports whether a boolean query parameter is on. Consul's flags are
// on by presence: ?recurse, ?recurse=1 and ?recurse=true alike; only an
// explicit false value turns one off.
func queryFlag(r *http.Request, name string) bool {
	vs, ok := query(r)[name]
	if !ok {
		return false
	}
	v := strings.ToLower(vs[0])
	return v != "false" && v != "0"
}

// decodeBody reads a JSON body of at most limit bytes into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badRequest("Request decode failed: empty body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}

// queryOptions are the parameters every read endpoint accepts.
type queryOptions struct {
	index      uint64        // ?index: block until the result's index passes it
	wait       time.Duration // ?wait: for at most this long
	stale      bool          // ?stale: any server may answer
	consistent bool          // ?consistent: the leader confirms it leads first
}

// parseQuery reads the common query parameters, refusing bad ones with
// Consul's messages, and checks ?dc.
func (h *httpAPI) parseQuery(r *http.Request) (queryOptions, error) {
	if err := h.checkDatacenter(r); err != nil {
		return queryOptions{}, err
	}
	return parseQueryOptions(r)
}

// parseQueryOptions reads the common query parameters, whichever
// datacenter they are for.
func parseQueryOptions(r *http.Request) (queryOptions, error) {
	var q queryOptions
	values := query(r)
	if v := values.Get("index"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, badRequest("Invalid index")
		}
		q.index = idx
	}
	q.wait = defaultBlockingWait
	if v := values.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return q, badRequest("Invalid wait time")
		}
		q.wait = min(d, maxBlockingWait)
	}
	q.stale, q.consistent = queryFlag(r, "stale"), queryFlag(r, "consistent")
	if q.stale && q.consistent {
		return q, badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	}
	return q, nil
}

// checkDatacenter refuses a ?dc naming a datacenter this agent cannot reach.
func (h *httpAPI) checkDatacenter(r *http.Request) error {
	if dc := query(r).Get("dc"); dc != "" && dc != h.a.cfg.Datacenter {
		return errNoPathToDC
	}
	return nil
}

// setQueryMeta writes the headers every read carries. Consul never reports
// index 0; LastContact is how long ago this server heard from the leader
// (0 on the leader), in milliseconds. (A client's reads of the data carry
// its server's headers: rpc_forward.go.)
func (h *httpAPI) setQueryMeta(w http.ResponseWriter, q queryOptions, index uint64) {
	// The names are in net/http's canonical form ("Knownleader"), as Consul's
	// go out, and assigned directly: Set would canonicalize each on every
	// read. One backing array holds the four values; each slice is capped at
	// its own, so that an Add copies it rather than overwrites the next.
	v := make([]string, 4)
	v[0] = strconv.FormatUint(max(index, 1), 10)
	if h.a.raft != nil {
		v[1] = strconv.FormatBool(h.a.raft.leaderAddr() != "")
		v[2] = strconv.FormatInt(h.a.raft.sinceContact().Milliseconds(), 10)
	} else { // a client's own read (the event list): what it knows of the servers
		v[1], v[2] = strconv.FormatBool(len(h.a.lanServers()) > 0), "0"
	}
	v[3] = "leader"
	switch {
	case q.stale:
		v[3] = "stale"
	case q.consistent:
		v[3] = "consistent"
	}
	hdr := w.Header()
	hdr["X-Consul-Index"], hdr["X-Consul-Knownleader"] = v[0:1:1], v[1:2:2]
	hdr["X-Consul-Lastcontact"], hdr["X-Consul-Effective-Consistency"] = v[2:3:3], v[3:4:4]
}

// blockingQuery runs a read, as a blocking query when ?index is set.
// watchFn registers what the read depends on; run computes the result and
// its index from one snapshot. Without ?index, or once the index has moved
// past the client's or a snapshot was restored (state.restores, since the
// indexes may have gone back), or when the wait (plus up to wait/16
// jitter, as Consul) runs out, it answers with the current result.
func (h *httpAPI) blockingQuery(w http.ResponseWriter, r *http.Request, q queryOptions,
	watchFn func(*watch), run func(*state) (any, uint64, error)) (any, error) {
	if err := h.a.readBarrier(r.Context(), q); err != nil {
		return nil, err
	}
	if h.a.cfg.Server {
		h.a.metrics.rpcQuery.inc()
	}
	if q.index == 0 {
		obj, idx, err := run(h.a.store.snapshot())
		if err != nil {
			return nil, err
		}
		h.setQueryMeta(w, q, idx)
		return obj, nil
	}
	wait := q.wait
	if wait > 0 {
		wait += rand.N(wait/16 + 1)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	restores := h.a.store.snapshot().restores
	for {
		ws := h.a.store.newWatch()
		watchFn(ws) // before the snapshot: see watch
		st := h.a.store.snapshot()
		obj, idx, err := run(st)
		if err != nil || idx > q.index || st.restores != restores {
			ws.stop()
			if err != nil {
				return nil, err
			}
			h.setQueryMeta(w, q, idx)
			return obj, nil
		}
		select {
		case <-ws.fired:
			ws.stop()
		case <-timer.C:
			ws.stop()
			h.setQueryMeta(w, q, idx)
			return obj, nil
		case <-r.Context().Done():
			ws.stop()
			return nil, r.Context().Err()
		}
	}
}
