// rpc_forward.go: request forwarding, how an agent answers for data it does not
// hold: a client agent, which keeps no state, asks a server of its
// datacenter; a server asks a server of the datacenter a request names.
//
// A client agent holds only its own services and checks (agent_local.go). Every
// other request, a KV read or write, a catalog or health query, a session,
// goes to a server as one RPC, "HTTP.Request", that carries the HTTP
// request itself. The server serves it with its own HTTP handler, the very
// code that serves its local HTTP clients (one code path: a blocking query,
// ?consistent or a txn behaves the same whichever agent it came through),
// and returns the status, headers and body, which the client hands back
// unchanged:
//
//	curl → client's HTTP → forward: encode → rpcPool (one multiplexed TCP
//	  connection per server) → server: rpcServer → serveForwarded → its
//	  httpAPI (readBarrier, blockingQuery, Agent.apply …) → recorder → reply
//
// The client's own writes, its local state's registrations, travel as
// "Client.Apply": a register or deregister command that the server applies
// through Raft (forwarding it to the leader), as Consul's anti-entropy calls
// Catalog.Register.
//
// Routing (Consul's router/servers manager): the client finds the servers
// among the LAN pool's members (role "consul", its datacenter, the "port"
// tag), sticks to one, moves to another when a call to it fails, and picks
// a new one every rebalance interval so load spreads over the servers as
// clients come and go. A call that fails in transit is retried once on
// another server when that is safe: a read, or a write that never reached
// the first server (it could not be dialled).
//
// Another datacenter (Consul's forwardDC): a server that gets a request on
// the data with ?dc=<other> sends the same HTTP.Request to a server of that
// datacenter, found in the WAN pool (serf_wan.go), which serves it as its own; a
// client sends such a request to its server like any other.
//
// DNS on a client, and for another datacenter, resolves names through
// remoteCatalog (agent_remote.go): the same resolver as on a server,
// reading the catalog by forwarded reads (or from the agent cache,
// agent_cache.go, with dns_config.use_cache).
//
// Concurrency: serverRouter.mu guards the current server; the rest is
// per-request.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	rpcHTTPRequest = "HTTP.Request"
	rpcClientApply = "Client.Apply"

	// rebalanceInterval is how long a client sticks to one server at most
	// (Consul's clientRPCMinReuseDuration, 2 minutes, plus up to half as
	// much again of jitter, so clients started together do not move
	// together).
	rebalanceInterval = 2 * time.Minute
	// maxForwardBody bounds a forwarded request or response body: what is
	// left of an RPC frame after the envelope.
	maxForwardBody = maxRPCFrame - 1<<20
)

// errNoServers is Consul's answer when a client knows no server to ask;
// errServerUnreachable, when the servers it asked did not answer (the call
// may or may not have reached one).
var (
	errNoServers         = errors.New("No known Consul servers")
	errServerUnreachable = errors.New("rpc error making call: no server answered")
)

// forwardedHeaders are the request headers a server's handler reads.
var forwardedHeaders = []string{"Authorization", "Content-Type", "X-Consul-Token", queryAgentHeader}

// forwardRequest is an HTTP request carried to a server.
type forwardRequest struct {
	Method string
	URI    string // path and query, as the client received them
	Header http.Header
	Body   []byte
}

// forwardResponse is a server's answer to one.
type forwardResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func appendHeader(b []byte, h http.Header) []byte {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	b = appendUvarints(b, uint64(n))
	for k, vs := range h {
		for _, v := range vs {
			b = appendString(appendString(b, k), v)
		}
	}
	return b
}

func (r *wireReader) header() http.Header {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each value takes at least a byte: a bound before allocating
		r.err = fmt.Errorf("%d headers in a %d-byte frame", n, len(r.b))
		return nil
	}
	h := make(http.Header, n)
	for range n {
		k, v := r.bytes(), r.bytes()
		if r.err != nil {
			return nil
		}
		h[string(k)] = append(h[string(k)], string(v))
	}
	return h
}

func (f *forwardRequest) encode() []byte {
	b := make([]byte, 0, len(f.URI)+len(f.Body)+64)
	b = appendString(b, f.Method)
	b = appendString(b, f.URI)
	b = appendHeader(b, f.Header)
	return appendBytes(b, f.Body)
}

func decodeForwardRequest(p []byte) (forwardRequest, error) {
	r := newFrameReader(p)
	f := forwardRequest{Method: string(r.bytes()), URI: string(r.bytes())}
	f.Header = r.header()
	f.Body = r.bytes()
	if r.err == nil && len(r.b) > 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return forwardRequest{}, fmt.Errorf("forwarded request: %w", r.err)
	}
	return f, nil
}

func (f *forwardResponse) encode() []byte {
	b := make([]byte, 0, len(f.Body)+256)
	b = appendUvarints(b, uint64(f.Status))
	b = appendHeader(b, f.Header)
	return appendBytes(b, f.Body)
}

func decodeForwardResponse(p []byte) (forwardResponse, error) {
	r := newFrameReader(p)
	f := forwardResponse{Status: int(r.uvarint())}
	f.Header = r.header()
	f.Body = r.bytes()
	if r.err == nil && (f.Status < 100 || f.Status > 999) {
		r.err = fmt.Errorf("status %d", f.Status)
	}
	if r.err != nil {
		return forwardResponse{}, fmt.Errorf("forwarded response: %w", r.err)
	}
	return f, nil
}

// --- the server side ---

// serveForwarded serves an HTTP request a client forwarded, with this
// server's own HTTP handler.
func (a *Agent) serveForwarded(ctx context.Context, body []byte) ([]byte, error) {
	f, err := decodeForwardRequest(body)
	if err != nil {
		return nil, err
	}
	resp, err := a.serveLocal(ctx, f)
	if err != nil {
		return nil, err
	}
	return resp.encode(), nil
}

// serveLocal runs a request through this agent's HTTP handler in-process.
func (a *Agent) serveLocal(ctx context.Context, f forwardRequest) (forwardResponse, error) {
	if !strings.HasPrefix(f.URI, "/") {
		return forwardResponse{}, fmt.Errorf("forwarded request: URI %q is not a path", f.URI)
	}
	r, err := http.NewRequestWithContext(ctx, f.Method, f.URI, bytes.NewReader(f.Body))
	if err != nil {
		return forwardResponse{}, fmt.Errorf("forwarded request: %w", err)
	}
	r.RequestURI = f.URI
	for _, k := range forwardedHeaders {
		if vs := f.Header.Values(k); len(vs) > 0 {
			r.Header[k] = vs
		}
	}
	rec := &responseRecorder{header: http.Header{}}
	a.http.ServeHTTP(rec, r)
	if rec.tooLarge {
		return forwardResponse{}, fmt.Errorf("the response is larger than %d bytes, the most a forwarded request may return", maxForwardBody)
	}
	return forwardResponse{Status: cmp.Or(rec.status, http.StatusOK), Header: rec.header, Body: rec.body.Bytes()}, nil
}

// responseRecorder is the http.ResponseWriter of a forwarded request.
type responseRecorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	tooLarge bool
}

func (w *responseRecorder) Header() http.Header { return w.header }

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > maxForwardBody {
		w.tooLarge = true
		return 0, errors.New("response too large to forward")
	}
	return w.body.Write(p)
}

// serveClientApply applies a client's registration, forwarding it to the
// leader. Only the commands a client's local state makes are accepted.
func (a *Agent) serveClientApply(ctx context.Context, body []byte) ([]byte, error) {
	cmd, err := decodeCommand(body)
	if err != nil {
		return nil, err
	}
	if cmd.Type != cmdRegister && cmd.Type != cmdDeregister {
		return nil, fmt.Errorf("Client.Apply: a %q command is not a registration", cmd.Type)
	}
	res, err := a.apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return encodeApplyResult(res)
}

// --- the client side ---

// roundTrip serves a request where this agent's data is: in-process on a
// server, on a server over RPC from a client. idempotent says whether it
// may be sent twice.
func (a *Agent) roundTrip(ctx context.Context, f forwardRequest, idempotent bool) (forwardResponse, error) {
	if a.cfg.Server {
		return a.serveLocal(ctx, f)
	}
	return a.sendRequest(ctx, a.router, f, idempotent)
}

// sendRequest has a server that to picks serve f.
func (a *Agent) sendRequest(ctx context.Context, to serverPicker, f forwardRequest, idempotent bool) (forwardResponse, error) {
	out, err := a.callServers(ctx, to, rpcHTTPRequest, f.encode(), idempotent)
	if err != nil {
		return forwardResponse{}, err
	}
	return decodeForwardResponse(out)
}

// serverPicker chooses the server a call goes to: a client's router, or
// the servers of another datacenter.
type serverPicker interface {
	pick(avoid []string) string // "": none left
	failed(addr string)
}

// serverCall makes a call to a server of this datacenter, from a client.
func (a *Agent) serverCall(ctx context.Context, method string, body []byte, idempotent bool) ([]byte, error) {
	return a.callServers(ctx, a.router, method, body, idempotent)
}

// callServers makes a call to the server to picks, and once more to
// another when that is safe (see the file comment).
func (a *Agent) callServers(ctx context.Context, to serverPicker, method string, body []byte, idempotent bool) ([]byte, error) {
	var tried []string
	for {
		addr := to.pick(tried)
		if addr == "" {
			if len(tried) > 0 {
				return nil, fmt.Errorf("%w (tried %s)", errServerUnreachable, strings.Join(tried, ", "))
			}
			return nil, errNoServers
		}
		a.metrics.clientRPC.inc()
		out, err := a.pool.call(ctx, addr, method, body)
		var remote *rpcRemoteError
		if err == nil || errors.As(err, &remote) {
			return out, remoteError(err)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		to.failed(addr)
		a.logger.Debug("rpc to a server failed", "server", addr, "method", method, "error", err)
		tried = append(tried, addr)
		if len(tried) == 2 || !idempotent && !notDelivered(err) {
			return nil, fmt.Errorf("%w: %w", errServerUnreachable, err)
		}
	}
}

// serverRouter picks the server a client agent talks to.
type serverRouter struct {
	servers func() []string // the alive servers, from the LAN pool

	mu        sync.Mutex
	current   string    // guarded by mu
	rebalance time.Time // when to move on from current; guarded by mu
}

// pick returns the current server, or a new one (none of avoid) when the
// current is gone, has failed, or has served its time. "" means no server
// is known.
func (rt *serverRouter) pick(avoid []string) string {
	servers := rt.servers()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	now := time.Now()
	if rt.current != "" && now.Before(rt.rebalance) && !slices.Contains(avoid, rt.current) && slices.Contains(servers, rt.current) {
		return rt.current
	}
	servers = slices.DeleteFunc(servers, func(s string) bool { return slices.Contains(avoid, s) })
	if len(servers) == 0 {
		return ""
	}
	rt.current = servers[rand.N(len(servers))]
	rt.rebalance = now.Add(rebalanceInterval + rand.N(rebalanceInterval/2))
	return rt.current
}

// failed moves the client off a server a call to it failed on.
func (rt *serverRouter) failed(addr string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.current == addr {
		rt.current = ""
	}
}

// dcServers picks among the servers of another datacenter, in the WAN
// pool's (shuffled) order.
type dcServers struct {
	a  *Agent
	dc string
}

func (d dcServers) pick(avoid []string) string {
	for _, s := range d.a.dcServers(d.dc) {
		if !slices.Contains(avoid, s) {
			return s
		}
	}
	return ""
}

func (d dcServers) failed(string) {}

// remoteDC is the datacenter a request on the data (or a user event) names
// with ?dc, when it is not this one: a server forwards it there (Consul's
// forwardDC), a client to its server first.
func (h *httpAPI) remoteDC(r *http.Request) string {
	if dc := h.aclWriteDC(r); dc != "" { // ACL writes in a secondary go to the primary (server_acl_replication.go)
		return dc
	}
	path := r.URL.Path
	if dc := query(r).Get("dc"); dc != "" && dc != h.a.cfg.Datacenter &&
		(forwardedPath(path) || strings.HasPrefix(path, "/v1/event/fire/")) { // an event goes into that datacenter's pool
		return dc
	}
	return ""
}

// forward answers a request by having a server serve it: on a client, the
// server its router picks; on a server, one of the datacenter dc's.
func (h *httpAPI) forward(w http.ResponseWriter, r *http.Request, dc string) {
	var to serverPicker = h.a.router
	if dc != "" {
		to = dcServers{h.a, dc}
	}
	f, err := h.forwardRequestOf(w, r, dc == "")
	if err == nil && dc != "" && to.pick(nil) == "" {
		err = errNoPathToDC
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout(r))
		defer cancel()
		var resp forwardResponse
		if resp, err = h.a.sendRequest(ctx, to, f, r.Method == http.MethodGet); err == nil {
			writeForwarded(w, resp)
			return
		}
	}
	h.a.logger.Debug("HTTP request failed", "method", r.Method, "path", r.URL.Path, "dc", dc, "error", err)
	writeError(w, err)
}

// forwardRequestOf packs a request for a server. From a client (local) it
// fills in what a server would otherwise take from its own agent: a
// session's node is, by default, the node of the agent it was created
// through.
func (h *httpAPI) forwardRequestOf(w http.ResponseWriter, r *http.Request, local bool) (forwardRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForwardBody))
	if err != nil {
		return forwardRequest{}, err
	}
	if local && r.URL.Path == "/v1/session/create" && r.Method == http.MethodPut {
		if body, err = defaultSessionNode(body, h.a.cfg.NodeName); err != nil {
			return forwardRequest{}, err
		}
	}
	header := http.Header{}
	for _, k := range forwardedHeaders {
		if vs := r.Header.Values(k); len(vs) > 0 {
			header[k] = vs
		}
	}
	if local && strings.HasPrefix(r.URL.Path, queryPath) {
		header.Set(queryAgentHeader, h.a.cfg.NodeName) // Near "_agent" is the asking agent (http_query.go)
	}
	if t := h.a.acl.token("default"); local && t != "" && requestToken(r) == "" {
		header.Set("X-Consul-Token", t) // the servers enforce with the agent's default token (http_acl.go)
	}
	return forwardRequest{Method: r.Method, URI: resolveNearAgent(r, h.a.cfg.NodeName), Header: header, Body: body}, nil
}

func defaultSessionNode(body []byte, node string) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, badRequest("Request decode failed: %v", err)
		}
	}
	if n, ok := fields["Node"]; ok && string(n) != `""` && string(n) != "null" {
		return body, nil
	}
	fields["Node"], _ = json.Marshal(node)
	return json.Marshal(fields)
}

// forwardTimeout bounds a forwarded call: a blocking query's wait, with its
// jitter, plus the time a server may hold any request.
func forwardTimeout(r *http.Request) time.Duration {
	d := rpcDefaultCallTimeout
	values := query(r)
	if !values.Has("index") {
		return d
	}
	wait := defaultBlockingWait
	if v, err := time.ParseDuration(values.Get("wait")); err == nil && v >= 0 {
		wait = min(v, maxBlockingWait)
	}
	return d + wait + wait/16
}

func writeForwarded(w http.ResponseWriter, resp forwardResponse) {
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// forwardedPath reports whether a client agent sends requests for a path to
// a server: everything on the data, not the agent's own endpoints.
func forwardedPath(path string) bool {
	for _, p := range []string{"/v1/kv/", "/v1/catalog/", "/v1/health/", "/v1/session/", "/v1/txn",
		"/v1/snapshot", "/v1/status/", "/v1/operator/raft/", "/v1/coordinate/", "/v1/query",
		"/v1/config", "/v1/connect/", "/v1/acl/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
