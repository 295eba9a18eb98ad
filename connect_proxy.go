// connect_proxy.go: the built-in mesh proxy, a client of the local agent's
// HTTP API that puts mutual TLS in front of a service and behind its
// upstreams (Consul's "connect proxy", connect/proxy in Consul).
//
// Data flow. Inbound: a caller's sidecar dials the public listener → TLS
// 1.2+ with this service's leaf; the caller must present a certificate
// that chains to the CA's roots (RFC 5246 §7.4.6, RequireAndVerifyClientCert)
// → VerifyConnection, still inside the handshake, reads the caller's
// SPIFFE ID (its URI SAN, SPIFFE X.509-SVID §2) and asks the agent
// (POST /v1/agent/connect/authorize) whether intentions allow it → a
// denied caller gets a bad_certificate alert ("remote error: tls: bad
// certificate", as Consul's proxy), an allowed one is spliced to
// LocalServiceAddress:LocalServicePort; no byte reaches the service
// before that. Outbound: the application dials an upstream's local port in
// plain TCP → the proxy picks a healthy proxy of the destination (round
// robin over the watched /v1/health/connect/<dest>?passing), dials it with
// mTLS presenting the leaf, checks that the server's certificate chains to
// the roots and names the destination service in the roots' trust domain,
// and tries the next instance if the dial or the handshake fails. Both
// ways, bytes are copied with io.Copy and half-closed (CloseWrite), so a
// stream runs at memory speed and each side sees the other's EOF.
//
// Watches: the roots, the leaf, each upstream's healthy proxies and (with
// a public listener) the intentions that match this service, all blocking
// queries with exponential backoff on errors. The TLS configuration of
// every new connection is built from the latest roots and leaf
// (GetConfigForClient, GetClientCertificate), so a rotated certificate is
// used without a restart; connections already open keep theirs.
//
// Authorization cache: a caller's answer is kept per SPIFFE ID while
// nothing the proxy can see has changed since it asked (the generation
// the intentions and roots watches bump on every change, and on every
// failed watch) and for at most authCacheTTL, for what it cannot see (the
// ACL default policy).
//
// Concurrency: the roots, leaf and instance lists are immutable values
// behind atomic pointers, written only by their watch goroutine and read
// by any handshake; mu guards the authorization cache, the listeners and
// the set of open connections, which Close closes. Every goroutine is
// counted in wg, which Close waits for.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// authCacheTTL bounds how long an authorization answer is reused when no
// visible change has invalidated it.
const authCacheTTL = 5 * time.Second

// proxyDialTimeout bounds one attempt to reach an upstream instance (TCP
// connect and TLS handshake).
const proxyDialTimeout = 5 * time.Second

// proxyConfig is what the proxy serves: from a sidecar's registration or
// from flags.
type proxyConfig struct {
	Service      string // the service whose identity (leaf) the proxy holds
	PublicListen string // host:port of the public listener; "" for none
	LocalService string // host:port the public listener forwards to
	Upstreams    []proxyUpstream
}

// proxyUpstream is one upstream: a local port reaching a destination.
type proxyUpstream struct {
	DestinationName  string
	Datacenter       string
	LocalBindAddress string
	LocalBindPort    int
}

func (u proxyUpstream) listenAddr() string {
	host := u.LocalBindAddress
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(u.LocalBindPort))
}

// proxyRoots is the CA's roots as the proxy uses them.
type proxyRoots struct {
	trustDomain string
	pool        *x509.CertPool // every root, active or not: leaves of a rotated root verify until re-issued
}

// proxyInstances are the healthy proxies of one upstream, "host:port".
type proxyInstances []string

type connectProxy struct {
	cl  *cliClient
	log *slog.Logger
	cfg proxyConfig

	ctx    context.Context
	cancel context.CancelFunc
	ready  chan struct{} // closed once the first roots and leaf are in: the listeners accept from then on
	wg     sync.WaitGroup

	roots     atomic.Pointer[proxyRoots]
	leaf      atomic.Pointer[tls.Certificate]
	instances []atomic.Pointer[proxyInstances] // one per cfg.Upstreams
	next      atomic.Uint64                    // round robin over instances
	authGen   atomic.Uint64                    // bumped by every visible change of intentions or roots
	intentsOK atomic.Bool                      // the intentions watch's last query succeeded

	mu        sync.Mutex
	authCache map[string]proxyAuth // by caller's SPIFFE ID
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
}

// proxyAuth is one cached answer of the agent's authorize endpoint.
type proxyAuth struct {
	authorized bool
	reason     string
	gen        uint64
	at         time.Time
}

// newConnectProxy makes a proxy; start begins its watches and listeners.
func newConnectProxy(cl *cliClient, log *slog.Logger, cfg proxyConfig) *connectProxy {
	// Each watch holds a connection to the agent while it blocks; the
	// authorize calls must not have to open one each.
	if t, ok := cl.http.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = 4 + len(cfg.Upstreams)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &connectProxy{cl: cl, log: log, cfg: cfg, ctx: ctx, cancel: cancel, ready: make(chan struct{}),
		instances: make([]atomic.Pointer[proxyInstances], len(cfg.Upstreams)),
		authCache: map[string]proxyAuth{}, conns: map[net.Conn]struct{}{}}
}

// start binds every listener, starts the watches and waits for the first
// roots and leaf (the listeners accept only then); an error leaves nothing
// running.
func (p *connectProxy) start() error {
	var err error
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.cfg.PublicListen != "" {
		if err = p.listen("public listener", p.cfg.PublicListen, p.servePublic); err != nil {
			return err
		}
	}
	for i, u := range p.cfg.Upstreams {
		if err = p.listen("upstream "+u.DestinationName, u.listenAddr(), func(c net.Conn) { p.serveUpstream(i, c) }); err != nil {
			return err
		}
	}
	rootsReady, leafReady := make(chan struct{}), make(chan struct{})
	p.goWatch("/v1/agent/connect/ca/roots", nil, false, readyOnce(rootsReady, p.setRoots))
	p.goWatch("/v1/agent/connect/ca/leaf/"+url.PathEscape(p.cfg.Service), nil, false, readyOnce(leafReady, p.setLeaf))
	if p.cfg.PublicListen != "" {
		// Every new index of the intentions matching this service ends
		// the cached authorizations, even if the answer looks the same.
		p.goWatch("/v1/connect/intentions/match", url.Values{"by": {"destination"}, "name": {p.cfg.Service}}, true, func([]byte) error {
			p.authGen.Add(1)
			p.intentsOK.Store(true)
			return nil
		})
	}
	for i, u := range p.cfg.Upstreams {
		q := url.Values{"passing": {""}}
		if u.Datacenter != "" {
			q.Set("dc", u.Datacenter)
		}
		p.goWatch("/v1/health/connect/"+url.PathEscape(u.DestinationName), q, false, func(b []byte) error {
			return p.setInstances(i, b)
		})
	}
	for _, ready := range []chan struct{}{rootsReady, leafReady} {
		select {
		case <-ready:
		case <-p.ctx.Done():
			err = errors.New("proxy stopped before its certificates arrived")
			return err
		}
	}
	close(p.ready)
	return nil
}

// readyOnce wraps a watch's handler: ready is closed after its first
// success.
func readyOnce(ready chan struct{}, set func([]byte) error) func([]byte) error {
	var once sync.Once
	return func(b []byte) error {
		if err := set(b); err != nil {
			return err
		}
		once.Do(func() { close(ready) })
		return nil
	}
}

// listen binds addr; its accept loop starts once the proxy is ready, so
// no connection meets a proxy without certificates.
func (p *connectProxy) listen(name, addr string, serve func(net.Conn)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.Close()
		return net.ErrClosed
	}
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-p.ready:
		case <-p.ctx.Done():
			return
		}
		p.log.Info("listening", "listener", name, "bind_addr", l.Addr().String())
		acceptConns(l, func() bool { return p.ctx.Err() != nil }, p.log, "accept failed: "+name, func(c net.Conn) bool {
			if !p.track(c) {
				return false
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.untrack(c)
				serve(c)
			}()
			return true
		})
	}()
	return nil
}

// Addrs are the bound addresses: the public listener first (if any), then
// the upstreams in order.
func (p *connectProxy) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var addrs []net.Addr
	for _, l := range p.listeners {
		addrs = append(addrs, l.Addr())
	}
	return addrs
}

// track records an open connection so that Close can end it; false (and
// the connection closed) once the proxy is closing.
func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *connectProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops the watches, the listeners and every open connection, and
// waits for all of the proxy's goroutines.
func (p *connectProxy) Close() {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	for _, l := range p.listeners {
		l.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// --- watches ---

// goWatch runs a blocking query on path until the proxy closes, calling
// set with each new answer (Consul's blocking-query rules: the same index
// is no change; an index that goes backwards starts over at 0; and unless
// everyIndex, an answer equal to the last is no change either). Errors
// back off exponentially from 100 ms to 10 s.
func (p *connectProxy) goWatch(path string, q url.Values, everyIndex bool, set func([]byte) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var index uint64
		var last []byte
		backoff := time.Duration(0)
		for {
			if backoff > 0 {
				select {
				case <-time.After(backoff):
				case <-p.ctx.Done():
					return
				}
			}
			body, next, err := p.get(path, q, index)
			if p.ctx.Err() != nil {
				return
			}
			if err == nil && next != index && (everyIndex || !bytes.Equal(body, last)) {
				if err = set(body); err == nil {
					last = body
				}
			}
			if err != nil {
				if strings.HasPrefix(path, "/v1/connect/intentions") {
					p.intentsOK.Store(false)
					p.authGen.Add(1)
				}
				backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
				p.log.Warn("watch failed", "path", path, "error", err, "retry_in", backoff)
				index = 0
				continue
			}
			backoff = 0
			if next < index {
				next = 0
			}
			index = next
		}
	}()
}

// get is one blocking GET of the agent's API (index 0: at once).
func (p *connectProxy) get(path string, q url.Values, index uint64) ([]byte, uint64, error) {
	query := url.Values{}
	for k, v := range q {
		query[k] = v
	}
	if index > 0 {
		query.Set("index", strconv.FormatUint(index, 10))
		query.Set("wait", "5m")
	}
	// A blocking query answers within its wait plus jitter (wait/16);
	// an agent that does not is given up on.
	ctx, cancel := context.WithTimeout(p.ctx, 6*time.Minute)
	defer cancel()
	req, err := p.cl.request(ctx, "GET", path, query, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := p.cl.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, &errCLIStatus{resp.StatusCode, strings.TrimSpace(string(body))}
	}
	next, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return body, max(next, 1), nil
}

// setRoots takes a roots answer (Consul's IndexedCARoots).
func (p *connectProxy) setRoots(b []byte) error {
	var out struct {
		TrustDomain string
		Roots       []struct {
			ID       string
			RootCert string
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decoding roots: %w", err)
	}
	pool := x509.NewCertPool()
	for _, r := range out.Roots {
		if !pool.AppendCertsFromPEM([]byte(r.RootCert)) {
			return fmt.Errorf("root %s: no certificate in RootCert", r.ID)
		}
	}
	if len(out.Roots) == 0 || out.TrustDomain == "" {
		return errors.New("no roots yet")
	}
	p.roots.Store(&proxyRoots{trustDomain: out.TrustDomain, pool: pool})
	p.authGen.Add(1)
	p.log.Info("roots updated", "trust_domain", out.TrustDomain, "roots", len(out.Roots))
	return nil
}

// setLeaf takes a leaf answer (Consul's IssuedCert).
func (p *connectProxy) setLeaf(b []byte) error {
	var out struct{ CertPEM, PrivateKeyPEM, SerialNumber, ServiceURI string }
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decoding leaf: %w", err)
	}
	cert, err := tls.X509KeyPair([]byte(out.CertPEM), []byte(out.PrivateKeyPEM))
	if err != nil {
		return fmt.Errorf("leaf: %w", err)
	}
	p.leaf.Store(&cert)
	p.log.Info("leaf certificate updated", "service_uri", out.ServiceURI, "serial", out.SerialNumber)
	return nil
}

// setInstances takes the healthy proxies of upstream i (a
// /v1/health/connect answer): the service's address, else its node's.
func (p *connectProxy) setInstances(i int, b []byte) error {
	var entries []struct {
		Node    struct{ Address string }
		Service struct {
			ID      string
			Address string
			Port    int
		}
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return fmt.Errorf("decoding health: %w", err)
	}
	list := make(proxyInstances, 0, len(entries))
	for _, e := range entries {
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		list = append(list, net.JoinHostPort(host, strconv.Itoa(e.Service.Port)))
	}
	p.instances[i].Store(&list)
	p.log.Info("upstream instances updated", "upstream", p.cfg.Upstreams[i].DestinationName, "instances", strings.Join(list, ","))
	return nil
}

// --- inbound ---

// serverTLS is the public listener's configuration for one handshake:
// the latest leaf and roots.
func (p *connectProxy) serverTLS(*tls.ClientHelloInfo) (*tls.Config, error) {
	leaf, roots := p.leaf.Load(), p.roots.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*leaf},
		ClientAuth:   tls.RequireAndVerifyClientCert, // chain verified against ClientCAs, EKU clientAuth
		ClientCAs:    roots.pool,
		// Resumption would carry an old verification across a rotation.
		SessionTicketsDisabled:      true,
		DynamicRecordSizingDisabled: true, // full 16 KiB records from the start: bulk speed
		VerifyConnection:            p.authorizeConn,
	}, nil
}

// errProxyDenied is a caller refused by its identity (Consul's words).
var errProxyDenied = errors.New("connect: authz denied")

// authorizeConn runs inside the handshake, after the chain is verified:
// an error sends the caller a bad_certificate alert.
func (p *connectProxy) authorizeConn(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 || len(cs.PeerCertificates[0].URIs) != 1 {
		return errors.New("connect: invalid leaf certificate: no single URI SAN")
	}
	cert := cs.PeerCertificates[0]
	uri := cert.URIs[0].String()
	if _, err := parseSpiffeService(uri); err != nil {
		p.log.Warn("denied client", "client", uri, "reason", err)
		return fmt.Errorf("%w: %v", errProxyDenied, err)
	}
	ok, reason, err := p.authorize(uri, cert)
	if err != nil {
		p.log.Error("authorize call failed", "client", uri, "error", err)
		return fmt.Errorf("connect: authz call failed: %w", err)
	}
	if !ok {
		p.log.Warn("denied client", "client", uri, "reason", reason)
		return fmt.Errorf("%w: %s", errProxyDenied, reason)
	}
	p.log.Debug("authorized client", "client", uri, "reason", reason)
	return nil
}

// authorize asks the agent whether the caller may connect, or reuses an
// answer no visible change has invalidated. The generation is read before
// asking, so a change during the call leaves the answer stale at once.
func (p *connectProxy) authorize(uri string, cert *x509.Certificate) (bool, string, error) {
	gen := p.authGen.Load()
	cacheable := p.intentsOK.Load()
	p.mu.Lock()
	a, ok := p.authCache[uri]
	p.mu.Unlock()
	if ok && cacheable && a.gen == gen && time.Since(a.at) < authCacheTTL {
		return a.authorized, a.reason, nil
	}
	body, _ := json.Marshal(map[string]string{
		"Target":           p.cfg.Service,
		"ClientCertURI":    uri,
		"ClientCertSerial": colonHex(cert.SerialNumber.Bytes()),
	})
	var out struct {
		Authorized bool
		Reason     string
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	req, err := p.cl.request(ctx, "POST", "/v1/agent/connect/authorize", url.Values{}, strings.NewReader(string(body)))
	if err != nil {
		return false, "", err
	}
	resp, err := p.cl.http.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return false, "", &errCLIStatus{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return false, "", fmt.Errorf("decoding authorize answer: %w", err)
	}
	if cacheable {
		p.mu.Lock()
		p.authCache[uri] = proxyAuth{authorized: out.Authorized, reason: out.Reason, gen: gen, at: time.Now()}
		p.mu.Unlock()
	}
	return out.Authorized, out.Reason, nil
}

// servePublic terminates mTLS from a caller, authorizes it during the
// handshake, and only then connects it to the local service.
func (p *connectProxy) servePublic(raw net.Conn) {
	tc := tls.Server(raw, &tls.Config{GetConfigForClient: p.serverTLS})
	ctx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// A connection closed at once is the sidecar's TCP check; a
		// denied caller was logged with its reason.
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) || errors.Is(err, errProxyDenied) {
			level = slog.LevelDebug
		}
		p.log.Log(p.ctx, level, "inbound handshake failed", "remote", raw.RemoteAddr().String(), "error", err)
		return
	}
	var d net.Dialer
	app, err := d.DialContext(p.ctx, "tcp", p.cfg.LocalService)
	if err != nil {
		p.log.Error("local service unreachable", "addr", p.cfg.LocalService, "error", err)
		return
	}
	if !p.track(app) {
		return
	}
	defer p.untrack(app)
	p.log.Debug("inbound connection", "client", tc.ConnectionState().PeerCertificates[0].URIs[0].String(), "remote", raw.RemoteAddr().String())
	proxyPipe(tc, app)
}

// --- outbound ---

// clientTLS is an upstream dial's configuration: the latest leaf, and a
// check that the server chains to the roots and is dest in the roots'
// trust domain (Go's hostname check does not apply: a leaf names a SPIFFE
// ID, not a host, so the chain is verified here instead).
func (p *connectProxy) clientTLS(dest string) *tls.Config {
	leaf, roots := p.leaf.Load(), p.roots.Load()
	return &tls.Config{
		MinVersion:                  tls.VersionTLS12,
		GetClientCertificate:        func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return leaf, nil },
		InsecureSkipVerify:          true,
		DynamicRecordSizingDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("connect: no server certificate")
			}
			opts := x509.VerifyOptions{Roots: roots.pool, Intermediates: x509.NewCertPool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			cert := cs.PeerCertificates[0]
			if _, err := cert.Verify(opts); err != nil {
				return err
			}
			if len(cert.URIs) != 1 {
				return errors.New("connect: peer certificate mismatch: no single URI SAN")
			}
			id, err := parseSpiffeService(cert.URIs[0].String())
			if err != nil || id.Service != dest || !strings.EqualFold(id.TrustDomain, roots.trustDomain) {
				return fmt.Errorf("connect: peer certificate mismatch: got %s, want service %q in %s", cert.URIs[0], dest, roots.trustDomain)
			}
			return nil
		},
	}
}

// serveUpstream connects a local application to an instance of upstream
// i, starting at the next one in round robin and trying the others in
// turn if it cannot be reached.
func (p *connectProxy) serveUpstream(i int, local net.Conn) {
	u := p.cfg.Upstreams[i]
	var list proxyInstances
	if l := p.instances[i].Load(); l != nil {
		list = *l
	}
	if len(list) == 0 {
		p.log.Warn("no healthy instance", "upstream", u.DestinationName)
		return
	}
	start := int(p.next.Add(1) % uint64(len(list)))
	for k := range list {
		addr := list[(start+k)%len(list)]
		remote, err := p.dialInstance(u.DestinationName, addr)
		if err != nil {
			p.log.Warn("upstream instance failed", "upstream", u.DestinationName, "instance", addr, "error", err)
			continue
		}
		if !p.track(remote) {
			return
		}
		defer p.untrack(remote)
		p.log.Debug("upstream connection", "upstream", u.DestinationName, "instance", addr)
		// Under TLS 1.3 the server checks the client's certificate after
		// the client's handshake is done: a refusal shows here.
		if err := proxyPipe(local, remote); err != nil && !errors.Is(err, net.ErrClosed) {
			p.log.Warn("upstream connection failed", "upstream", u.DestinationName, "instance", addr, "error", err)
		}
		return
	}
	p.log.Error("no instance reachable", "upstream", u.DestinationName, "tried", len(list))
}

// dialInstance makes an mTLS connection to one instance.
func (p *connectProxy) dialInstance(dest, addr string) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, p.clientTLS(dest))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// --- bytes ---

// proxyPipe copies both ways until both directions end: each EOF is
// passed on as a half-close (a TLS close_notify, RFC 8446 §6.1, or a TCP
// FIN), so a protocol that closes its write side still gets its answer;
// an error ends both. It closes neither connection (its callers' untrack
// does), and returns the first error either direction met.
//
// io.Copy between the two: a larger buffer or batching the TLS records
// into fewer writes measured no better (the loopback's copies and AES-GCM
// bound a transfer), and cost memory per connection.
func proxyPipe(a, b net.Conn) error {
	done := make(chan error, 1)
	go func() { done <- pipeOneWay(a, b) }()
	err := pipeOneWay(b, a)
	if err2 := <-done; err == nil {
		err = err2
	}
	return err
}

// pipeOneWay copies src to dst, then half-closes dst's write side; on an
// error it closes both so that the other direction ends too.
func pipeOneWay(dst, src net.Conn) error {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return nil
	}
	return dst.Close()
}
