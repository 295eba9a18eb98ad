// connect_proxy_test.go: the built-in proxy against a fake agent.
//
// The fake agent (fakeMeshAgent, an httptest server on 127.0.0.1) serves
// the endpoints the proxy uses, in Consul's shapes, from a CA the test
// generates with crypto/x509: roots, leaves (issued on first request,
// re-issued by rotateLeaf), authorize (allow unless denied), the healthy
// proxies of a service and the intentions matching it. Every change bumps
// one index and wakes the blocking queries. The proxies are real:
// "web" (an upstream to api) and "api" (a public listener in front of an
// app that echoes, or counts what it is sent), talking over loopback.
//
// Concurrency: the fake agent's state is guarded by its mu; each test owns
// its agent, proxies and apps.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// --- a CA ---

type testMeshCA struct {
	trustDomain string
	key         *ecdsa.PrivateKey
	cert        *x509.Certificate
	pem         string
	serial      atomic.Int64
}

func newTestMeshCA(t testing.TB, trustDomain string) *testMeshCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA " + trustDomain},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		URIs: []*url.URL{spiffeTrustDomainURI(trustDomain)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testMeshCA{trustDomain: trustDomain, key: key, cert: cert,
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	ca.serial.Store(1)
	return ca
}

// leaf issues a leaf for the service as Consul's CA does: the SPIFFE ID
// as the only URI SAN, server and client auth.
func (ca *testMeshCA) leaf(t testing.TB, service string) (certPEM, keyPEM string, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := spiffeService{TrustDomain: ca.trustDomain, Namespace: "default", Datacenter: "dc1", Service: service}
	serial = big.NewInt(ca.serial.Add(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{id.URI()}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})), serial
}

// tlsCert is a leaf as a tls.Certificate, for test clients.
func (ca *testMeshCA) tlsCert(t testing.TB, service string) tls.Certificate {
	certPEM, keyPEM, _ := ca.leaf(t, service)
	c, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// --- the fake agent ---

type fakeMeshAgent struct {
	t   testing.TB
	ca  *testMeshCA
	srv *httptest.Server

	mu      sync.Mutex
	older   []*testMeshCA // roots still trusted besides ca (a rotation's old root)
	index   uint64
	changed chan struct{}             // closed and replaced on every change
	leaves  map[string][2]string      // service → cert, key PEM
	serials map[string]*big.Int       // service → its leaf's serial
	denied  map[string]bool           // "source>destination"
	health  map[string][]string       // service → its healthy proxies, host:port
	proxies map[string]map[string]any // id → a /v1/agent/service answer
}

func newFakeMeshAgent(t testing.TB) *fakeMeshAgent {
	a := &fakeMeshAgent{t: t, ca: newTestMeshCA(t, "11111111-2222-3333-4444-555555555555.consul"),
		index: 1, changed: make(chan struct{}), leaves: map[string][2]string{}, serials: map[string]*big.Int{},
		denied: map[string]bool{}, health: map[string][]string{}, proxies: map[string]map[string]any{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

// change applies f under the lock and wakes the blocking queries.
func (a *fakeMeshAgent) change(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f()
	a.index++
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *fakeMeshAgent) setHealth(service string, addrs ...string) {
	a.change(func() { a.health[service] = addrs })
}

func (a *fakeMeshAgent) deny(src, dst string, denied bool) {
	a.change(func() { a.denied[src+">"+dst] = denied })
}

// rotateLeaf re-issues the service's leaf and returns its serial.
func (a *fakeMeshAgent) rotateLeaf(service string) *big.Int {
	c, k, serial := a.ca.leaf(a.t, service)
	a.change(func() { a.leaves[service], a.serials[service] = [2]string{c, k}, serial })
	return serial
}

// rotateCA makes a new CA the active root, re-issues every leaf under it,
// and keeps the old root in the roots (Consul's rotation) unless dropOld.
func (a *fakeMeshAgent) rotateCA(dropOld bool) {
	next := newTestMeshCA(a.t, a.ca.trustDomain)
	next.serial.Store(100)
	a.change(func() {
		a.older = append(a.older, a.ca)
		if dropOld {
			a.older = nil
		}
		a.ca = next
		for svc := range a.leaves {
			c, k, serial := next.leaf(a.t, svc)
			a.leaves[svc], a.serials[svc] = [2]string{c, k}, serial
		}
	})
}

func (a *fakeMeshAgent) client() *cliClient {
	h := &cliHTTP{addr: a.srv.URL}
	cl, err := h.client(&cliEnv{getenv: func(string) string { return "" }})
	if err != nil {
		a.t.Fatal(err)
	}
	return cl
}

func (a *fakeMeshAgent) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if r.Method == "POST" && path == "/v1/agent/connect/authorize" {
		var req struct{ Target, ClientCertURI string }
		json.NewDecoder(r.Body).Decode(&req)
		id, err := parseSpiffeService(req.ClientCertURI)
		if err != nil {
			http.Error(w, "ClientCertURI not a valid Connect identifier", 400)
			return
		}
		a.mu.Lock()
		denied := a.denied[id.Service+">"+req.Target]
		a.mu.Unlock()
		reason := "Default behavior configured by ACLs"
		if denied {
			reason = fmt.Sprintf("Matched L4 intention: default/%s => default/%s (Precedence: 9, Action: DENY)", id.Service, req.Target)
		}
		json.NewEncoder(w).Encode(map[string]any{"Authorized": !denied, "Reason": reason})
		return
	}
	// Every GET blocks on ?index= until the state changes.
	want, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	for {
		a.mu.Lock()
		index, changed := a.index, a.changed
		if index > want {
			break
		}
		a.mu.Unlock()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
	defer a.mu.Unlock()
	var out any
	switch {
	case path == "/v1/agent/connect/ca/roots":
		roots := []map[string]any{{"ID": "aa:bb", "Name": "Consul CA Primary Cert", "RootCert": a.ca.pem, "Active": true}}
		for _, old := range a.older {
			roots = append(roots, map[string]any{"ID": old.cert.SerialNumber.String(), "RootCert": old.pem, "Active": false})
		}
		out = map[string]any{"ActiveRootID": "aa:bb", "TrustDomain": a.ca.trustDomain, "Roots": roots}
	case strings.HasPrefix(path, "/v1/agent/connect/ca/leaf/"):
		svc := strings.TrimPrefix(path, "/v1/agent/connect/ca/leaf/")
		l, ok := a.leaves[svc]
		if !ok {
			c, k, serial := a.ca.leaf(a.t, svc)
			l = [2]string{c, k}
			a.leaves[svc], a.serials[svc] = l, serial
		}
		out = map[string]any{"CertPEM": l[0], "PrivateKeyPEM": l[1], "Service": svc, "SerialNumber": a.serials[svc].Text(16),
			"ServiceURI": spiffeService{a.ca.trustDomain, "default", "dc1", svc}.String()}
	case strings.HasPrefix(path, "/v1/health/connect/"):
		var entries []map[string]any
		for _, addr := range a.health[strings.TrimPrefix(path, "/v1/health/connect/")] {
			host, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			entries = append(entries, map[string]any{"Node": map[string]any{"Address": "192.0.2.1"},
				"Service": map[string]any{"Address": host, "Port": p}})
		}
		out = entries
	case path == "/v1/connect/intentions/match":
		name := r.URL.Query().Get("name")
		var matched []map[string]any
		for k, denied := range a.denied {
			if src, dst, _ := strings.Cut(k, ">"); dst == name && denied {
				matched = append(matched, map[string]any{"SourceName": src, "DestinationName": dst, "Action": "deny", "Precedence": 9})
			}
		}
		out = map[string]any{name: matched}
	case path == "/v1/agent/services":
		out = a.proxies
	case strings.HasPrefix(path, "/v1/agent/service/"):
		p, ok := a.proxies[strings.TrimPrefix(path, "/v1/agent/service/")]
		if !ok {
			http.Error(w, "unknown service ID", 404)
			return
		}
		out = p
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(a.index, 10))
	json.NewEncoder(w).Encode(out)
}

// --- apps ---

// testMeshApp is the service behind a public listener. The first byte of
// a connection chooses: 'e' echoes until EOF, then half-closes; 's'
// reads a size (8 bytes, big endian), that many bytes, and answers their
// count (8 bytes): no half-close needed, which Consul's proxy does not
// pass on (it closes both sides when one ends).
type testMeshApp struct {
	l     net.Listener
	conns atomic.Int64 // connections accepted
	bytes atomic.Int64 // bytes received
}

func startTestMeshApp(t testing.TB, addr string) *testMeshApp {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	app := &testMeshApp{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			app.conns.Add(1)
			go app.serve(c.(*net.TCPConn))
		}
	}()
	return app
}

func (app *testMeshApp) serve(c *net.TCPConn) {
	defer c.Close()
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	app.bytes.Add(1)
	switch mode[0] {
	case 'e':
		n, _ := io.Copy(c, c)
		app.bytes.Add(n)
		c.CloseWrite()
	case 's':
		var size int64
		if binary.Read(c, binary.BigEndian, &size) != nil {
			return
		}
		n, _ := io.CopyN(io.Discard, c, size)
		app.bytes.Add(n)
		binary.Write(c, binary.BigEndian, n)
	}
}

func (app *testMeshApp) addr() string { return app.l.Addr().String() }

// --- proxies ---

// startTestProxy runs a proxy against the agent until the test ends; its
// log is shown if the test fails.
func startTestProxy(t testing.TB, a *fakeMeshAgent, cfg proxyConfig) *connectProxy {
	t.Helper()
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newConnectProxy(a.client(), log, cfg)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			mu.Lock()
			t.Logf("proxy %s:\n%s", cfg.Service, logs.String())
			mu.Unlock()
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// testMesh is web → api: web's proxy has an upstream to api, api's proxy
// a public listener in front of app.
type testMesh struct {
	agent    *fakeMeshAgent
	app      *testMeshApp
	api, web *connectProxy
}

func startTestMesh(t testing.TB) *testMesh {
	t.Helper()
	m := &testMesh{agent: newFakeMeshAgent(t), app: startTestMeshApp(t, "127.0.0.1:0")}
	m.api = startTestProxy(t, m.agent, proxyConfig{Service: "api", PublicListen: "127.0.0.1:0", LocalService: m.app.addr()})
	m.agent.setHealth("api", m.api.Addrs()[0].String())
	m.web = startTestProxy(t, m.agent, proxyConfig{Service: "web",
		Upstreams: []proxyUpstream{{DestinationName: "api", LocalBindAddress: "127.0.0.1"}}})
	m.waitInstances(t, 1)
	return m
}

// waitInstances waits until web's upstream knows n instances of api.
func (m *testMesh) waitInstances(t testing.TB, n int) {
	t.Helper()
	eventually(t, 5*time.Second, "web's proxy learns api's instances", func() bool {
		l := m.web.instances[0].Load()
		return l != nil && len(*l) == n
	})
}

func (m *testMesh) upstream() string { return m.web.Addrs()[0].String() }

// echo sends msg through addr, half-closes, and returns what came back.
func echo(t testing.TB, addr string, msg []byte) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(append([]byte{'e'}, msg...))
		c.(*net.TCPConn).CloseWrite()
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-errc; err == nil {
		err = werr
	}
	return got, err
}

// --- tests ---

func TestConnectProxyUpstreamToPublicListener(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than the pipes buffer
	got, err := echo(t, m.upstream(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %d bytes, want %d the same", len(got), len(msg))
	}
	// The half-close reached the app (its io.Copy ended), and its own
	// half-close came back (ReadAll ended): several in a row.
	for i := range 5 {
		got, err := echo(t, m.upstream(), []byte("ping "+strconv.Itoa(i)))
		if err != nil || string(got) != "ping "+strconv.Itoa(i) {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
	}
}

// The public listener refuses, during the handshake, callers without a
// certificate, with one from another CA, and those intentions deny; the
// app sees none of them.
func TestConnectProxyRefusesCallers(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	other := newTestMeshCA(t, "99999999-2222-3333-4444-555555555555.consul")
	m.agent.deny("evil", "api", true)
	pool := x509.NewCertPool()
	pool.AddCert(m.agent.ca.cert)
	otherCert, evilCert := other.tlsCert(t, "web"), m.agent.ca.tlsCert(t, "evil")
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"no certificate", nil, "remote error: tls: handshake failure"},
		{"another CA", &otherCert, "remote error: tls: unknown certificate authority"},
		{"denied by intentions", &evilCert, "remote error: tls: bad certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The certificate is offered whatever CAs the server names.
			present := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			c, err := tls.Dial("tcp", m.api.Addrs()[0].String(), &tls.Config{
				GetClientCertificate: present, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
			if err == nil {
				c.Write([]byte("e secret"))
				_, err = c.Read(make([]byte, 1))
				c.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// TLS 1.3: the client's handshake ends before the server has checked
	// its certificate; the refusal arrives on the first read.
	c, err := tls.Dial("tcp", m.api.Addrs()[0].String(), &tls.Config{
		Certificates: []tls.Certificate{evilCert}, InsecureSkipVerify: true})
	if err == nil {
		c.Write([]byte("e secret"))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: bad certificate") {
		t.Fatalf("TLS 1.3: got %v", err)
	}
	if n := m.app.conns.Load(); n != 0 {
		t.Fatalf("the app saw %d connections of refused callers", n)
	}
}

// Intentions take effect for new connections: deny, then allow again,
// through web's upstream; the allowed caller's cached answer does not
// survive the change.
func TestConnectProxyFollowsIntentions(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	if got, err := echo(t, m.upstream(), []byte("before")); err != nil || string(got) != "before" {
		t.Fatalf("allowed: %q, %v", got, err)
	}
	// An open connection may finish after the deny; a new one may not.
	open, err := net.Dial("tcp", m.upstream())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	open.Write([]byte("e"))
	eventually(t, 5*time.Second, "the open connection reaches the app", func() bool { return m.app.conns.Load() == 2 })
	m.agent.deny("web", "api", true)
	eventually(t, 5*time.Second, "a deny refuses new connections", func() bool {
		got, _ := echo(t, m.upstream(), []byte("during"))
		return len(got) == 0
	})
	appConns := m.app.conns.Load()
	if got, _ := echo(t, m.upstream(), []byte("during")); len(got) != 0 {
		t.Fatalf("denied, yet %q came back", got)
	}
	if m.app.conns.Load() != appConns {
		t.Fatal("a denied connection reached the app")
	}
	open.Write([]byte("still open"))
	buf := make([]byte, len("still open"))
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(open, buf); err != nil {
		t.Fatalf("the connection opened before the deny: %v", err)
	}
	m.agent.deny("web", "api", false)
	eventually(t, 5*time.Second, "an allow restores new connections", func() bool {
		got, _ := echo(t, m.upstream(), []byte("after"))
		return string(got) == "after"
	})
}

// A rotated leaf is used for new connections, on both sides, without a
// restart.
func TestConnectProxyLeafRotation(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	// The server side: a client sees api's new leaf.
	client := &tls.Config{Certificates: []tls.Certificate{m.agent.ca.tlsCert(t, "web")}, InsecureSkipVerify: true}
	serialOf := func() *big.Int {
		c, err := tls.Dial("tcp", m.api.Addrs()[0].String(), client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	before := serialOf()
	serial := m.agent.rotateLeaf("api")
	if before.Cmp(serial) == 0 {
		t.Fatal("the rotation issued the same serial")
	}
	eventually(t, 5*time.Second, "api's proxy serves its new leaf", func() bool { return serialOf().Cmp(serial) == 0 })

	// The client side: an api instance that records the certificate web
	// presents.
	seen := make(chan *big.Int, 16)
	apiCert := m.agent.ca.tlsCert(t, "api")
	rec, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{apiCert}, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	go func() {
		for {
			c, err := rec.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				seen <- tc.ConnectionState().PeerCertificates[0].SerialNumber
			}
			tc.Close()
		}
	}()
	m.agent.setHealth("api", rec.Addr().String())
	eventually(t, 5*time.Second, "web's proxy learns the recording instance", func() bool { return l0(m) == rec.Addr().String() })
	webSerial := m.agent.rotateLeaf("web")
	eventually(t, 5*time.Second, "web's proxy presents its new leaf", func() bool {
		echo(t, m.upstream(), []byte("x"))
		for {
			select {
			case s := <-seen:
				if s.Cmp(webSerial) == 0 {
					return true
				}
			default:
				return false
			}
		}
	})
}

// A root rotation: new leaves under the new root work both ways at once,
// a caller still holding a leaf of the old root is accepted while the old
// root is in the roots, and refused once it is gone.
func TestConnectProxyRootRotation(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	oldCert := m.agent.ca.tlsCert(t, "web")
	dial := func() error {
		c, err := tls.Dial("tcp", m.api.Addrs()[0].String(), &tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &oldCert, nil },
			InsecureSkipVerify:   true})
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write([]byte("eping"))
		c.CloseWrite()
		_, err = io.ReadAll(c)
		return err
	}
	m.agent.rotateCA(false)
	eventually(t, 5*time.Second, "web reaches api with leaves of the new root", func() bool {
		leaf := m.web.leaf.Load()
		got, _ := echo(t, m.upstream(), []byte("new"))
		return leaf.Leaf.Issuer.CommonName == m.agent.ca.cert.Subject.CommonName && string(got) == "new"
	})
	if err := dial(); err != nil {
		t.Fatalf("a leaf of the old root, while it is still a root: %v", err)
	}
	m.agent.rotateCA(true)
	eventually(t, 5*time.Second, "a leaf of a root no longer trusted is refused", func() bool {
		err := dial()
		return err != nil && strings.Contains(err.Error(), "remote error: tls: unknown certificate authority")
	})
	eventually(t, 5*time.Second, "web reaches api after the second rotation", func() bool {
		got, _ := echo(t, m.upstream(), []byte("still"))
		return string(got) == "still"
	})
}

// l0 is the one instance web's proxy knows of api.
func l0(m *testMesh) string { return (*m.web.instances[0].Load())[0] }

// When an instance cannot be reached, the upstream tries the next: every
// connection gets through while one of two instances is down.
func TestConnectProxyFailover(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	// A second api instance (its own proxy and app) and a dead one.
	app2 := startTestMeshApp(t, "127.0.0.1:0")
	api2 := startTestProxy(t, m.agent, proxyConfig{Service: "api", PublicListen: "127.0.0.1:0", LocalService: app2.addr()})
	m.agent.setHealth("api", deadAddr, m.api.Addrs()[0].String(), api2.Addrs()[0].String())
	m.waitInstances(t, 3)
	for i := range 12 {
		if got, err := echo(t, m.upstream(), []byte("hi")); err != nil || string(got) != "hi" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	if m.app.conns.Load() == 0 || app2.conns.Load() == 0 {
		t.Fatalf("connections not spread: %d and %d", m.app.conns.Load(), app2.conns.Load())
	}
	// The first api proxy goes away: all go to the second.
	m.api.Close()
	before := app2.conns.Load()
	for i := range 6 {
		if got, err := echo(t, m.upstream(), []byte("hi")); err != nil || string(got) != "hi" {
			t.Fatalf("after the first proxy stopped, connection %d: %q, %v", i, got, err)
		}
	}
	if app2.conns.Load() != before+6 {
		t.Fatalf("the second instance took %d of 6", app2.conns.Load()-before)
	}
}

// The upstream refuses a server whose certificate names another service
// or chains to another CA.
func TestConnectProxyVerifiesServer(t *testing.T) {
	t.Parallel()
	m := startTestMesh(t)
	other := newTestMeshCA(t, m.agent.ca.trustDomain)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
	}{
		{"another service", m.agent.ca.tlsCert(t, "db")},
		{"another CA", other.tlsCert(t, "api")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got atomic.Int64
			l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc.cert}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					n, _ := io.Copy(io.Discard, c)
					got.Add(n)
					c.Close()
				}
			}()
			m.agent.setHealth("api", l.Addr().String())
			eventually(t, 5*time.Second, "web's proxy learns the impostor", func() bool { return l0(m) == l.Addr().String() })
			if b, _ := echo(t, m.upstream(), []byte("secret")); len(b) != 0 || got.Load() != 0 {
				t.Fatalf("the impostor answered %q and got %d bytes", b, got.Load())
			}
		})
	}
}

// Close ends listeners, watches and open connections, and leaves no
// goroutine of the proxy behind. Not parallel: it counts goroutines.
func TestConnectProxyCloseLeavesNoGoroutines(t *testing.T) {
	m := startTestMesh(t)
	if got, err := echo(t, m.upstream(), []byte("x")); err != nil || string(got) != "x" {
		t.Fatalf("%q, %v", got, err)
	}
	// Connections open mid-stream, and one still handshaking.
	var open []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", m.upstream())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("e..."))
		open = append(open, c)
	}
	raw, err := net.Dial("tcp", m.api.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	open = append(open, raw)
	eventually(t, 5*time.Second, "the open connections reach the app", func() bool { return m.app.conns.Load() == 4 })
	m.web.Close()
	m.api.Close()
	for _, c := range open {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("an open connection was not ended by Close")
		}
		c.Close()
	}
	eventually(t, 5*time.Second, "no goroutine of the proxy left", func() (bool, string) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "connectProxy") || strings.Contains(g, "proxyPipe") {
				return false, g
			}
		}
		return true, ""
	})
}

// The command: -sidecar-for finds the proxy registration, the proxy runs
// until its stop signal and says so; bad flags get Consul's messages.
func TestConnectProxyCommand(t *testing.T) {
	t.Parallel()
	a := newFakeMeshAgent(t)
	app := startTestMeshApp(t, "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(app.addr())
	appPort, _ := strconv.Atoi(port)
	a.change(func() {
		a.proxies["api-sidecar-proxy"] = map[string]any{"Kind": "connect-proxy", "ID": "api-sidecar-proxy", "Service": "api-sidecar-proxy",
			"Address": "127.0.0.1", "Port": 0, "Proxy": map[string]any{"DestinationServiceName": "api", "DestinationServiceID": "api-1",
				"LocalServiceAddress": host, "LocalServicePort": appPort}}
	})
	env := func(out *lockedBuffer) *cliEnv {
		return &cliEnv{stdout: out, stderr: out, getenv: func(string) string { return "" }}
	}
	var out lockedBuffer
	stop := make(chan os.Signal, 1)
	done := make(chan int)
	go func() {
		done <- connectProxyRun(env(&out), []string{"-http-addr", a.srv.URL, "-sidecar-for", "API-1"}, stop)
	}()
	eventually(t, 5*time.Second, "the proxy listens", func() bool { return strings.Contains(out.String(), `msg=listening listener="public listener"`) })
	stop <- os.Interrupt
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{"==> Consul Connect proxy starting...\n    Configuration mode: Agent API\n        Sidecar for ID: API-1\n              Proxy ID: api-sidecar-proxy\n",
		"==> Log data will now stream in as it occurs:", "==> Consul Connect proxy shutdown\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-sidecar-for", "nope"}, "==> Error preparing configuration: No sidecar proxy registered for nope\n"},
		{nil, "==> Error preparing configuration: -service or -proxy-id must be specified so that proxy can configure itself.\n"},
		{[]string{"-service", "x", "-listen", ":0"}, "==> Error preparing configuration: -service-addr must be specified with -listen so the proxy knows the backend service address.\n"},
		{[]string{"-service", "x", "-upstream", "foo"}, `invalid value "foo" for flag -upstream: Upstream value should be name:addr in "foo"`},
		{[]string{"-service", "x", "-register"}, "-register may only be specified with -service and -listen"},
		{[]string{"extra"}, "==> Should have no non-flag arguments.\n"},
	} {
		var out lockedBuffer
		if code := connectProxyRun(env(&out), append([]string{"-http-addr", a.srv.URL}, tc.args...), stop); code != 1 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant %q", tc.args, code, out.String(), tc.want)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestCLIUpstreamFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want []proxyUpstream
		err  string
	}{
		{in: []string{"db:8181"}, want: []proxyUpstream{{DestinationName: "db", LocalBindPort: 8181}}},
		{in: []string{"db:127.0.0.10:8282"}, want: []proxyUpstream{{DestinationName: "db", LocalBindAddress: "127.0.0.10", LocalBindPort: 8282}}},
		{in: []string{"db.service:1", "db:2", "api:3"}, want: []proxyUpstream{{DestinationName: "db", LocalBindPort: 2}, {DestinationName: "api", LocalBindPort: 3}}},
		{in: []string{"db"}, err: `Upstream value should be name:addr in "db"`},
		{in: []string{"db.bogus:1"}, err: `Upstream type must be blank, 'service', or 'query'. Got: "bogus"`},
		{in: []string{"db.query:1"}, err: "prepared query upstreams are not supported"},
		{in: []string{"db:x"}, err: `strconv.ParseInt: parsing "x": invalid syntax`},
	} {
		var f cliUpstreamFlag
		var err error
		for _, v := range tc.in {
			if err = f.Set(v); err != nil {
				break
			}
		}
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(f, tc.want) {
			t.Errorf("%v: %+v, %v; want %+v", tc.in, f, err, tc.want)
		}
	}
}

// --- the measurement ---

// BenchmarkConnectProxy measures, in one run, a 200 MB transfer and small
// request round trips directly to the app and through web's upstream →
// api's public listener → the app, and reports the proxy's throughput as
// a fraction of direct and the latency it adds (p50, p99).
//
// MESH_BENCH_APP=host:port and MESH_BENCH_UPSTREAM=host:port measure
// another mesh instead (real Consul with its proxy or ours): the benchmark
// then runs the app on MESH_BENCH_APP and goes through MESH_BENCH_UPSTREAM.
func BenchmarkConnectProxy(b *testing.B) {
	direct, proxied := os.Getenv("MESH_BENCH_APP"), os.Getenv("MESH_BENCH_UPSTREAM")
	if direct == "" {
		m := startTestMesh(b)
		direct, proxied = m.app.addr(), m.upstream()
	} else {
		startTestMeshApp(b, direct)
		eventually(b, 30*time.Second, "the upstream reaches the app", func() bool {
			got, _ := echo(b, proxied, []byte("up?"))
			return string(got) == "up?"
		})
	}
	const size = 200 << 20
	var directS, proxyS, directCPU, proxyCPU float64
	runs := 0
	for b.Loop() {
		cpu0 := processCPUSeconds()
		directS += transferSeconds(b, direct, size)
		cpu1 := processCPUSeconds()
		proxyS += transferSeconds(b, proxied, size)
		directCPU, proxyCPU = directCPU+cpu1-cpu0, proxyCPU+processCPUSeconds()-cpu1
		runs++
	}
	b.ReportMetric(size*float64(runs)/directS/1e6, "direct-MB/s")
	b.ReportMetric(size*float64(runs)/proxyS/1e6, "proxy-MB/s")
	b.ReportMetric(directS/proxyS, "fraction-of-direct")
	// The CPU time the process spent (the app, the client and, in
	// process, both proxies): what the transfer costs, whatever else the
	// machine runs.
	b.ReportMetric(proxyCPU/directCPU, "cpu-ratio-proxy/direct")
	d50, d99 := roundTrips(b, direct, 2000)
	p50, p99 := roundTrips(b, proxied, 2000)
	b.ReportMetric(float64((p50 - d50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((p99 - d99).Microseconds()), "added-p99-µs")
	c50, c99 := newConnRoundTrips(b, direct, 300)
	q50, q99 := newConnRoundTrips(b, proxied, 300)
	b.ReportMetric(float64((q50 - c50).Microseconds()), "added-newconn-p50-µs")
	b.ReportMetric(float64((q99 - c99).Microseconds()), "added-newconn-p99-µs")
}

// transferSeconds sends size bytes to the app's sink through addr and
// waits for its count.
func transferSeconds(b *testing.B, addr string, size int64) float64 {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	c.Write([]byte{'s'})
	binary.Write(c, binary.BigEndian, size)
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	var n int64
	if err := binary.Read(c, binary.BigEndian, &n); err != nil || n != size {
		b.Fatalf("the app counted %d of %d: %v", n, size, err)
	}
	return time.Since(start).Seconds()
}

// roundTrips times n 64-byte echoes on one connection: p50 and p99.
func roundTrips(b *testing.B, addr string, n int) (time.Duration, time.Duration) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{'e'})
	msg, got := bytes.Repeat([]byte("x"), 64), make([]byte, 64)
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		c.Write(msg)
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	return percentiles(times)
}

// newConnRoundTrips times n connections each making one 64-byte echo.
func newConnRoundTrips(b *testing.B, addr string, n int) (time.Duration, time.Duration) {
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(append([]byte{'e'}, bytes.Repeat([]byte("y"), 64)...))
		if _, err := io.ReadFull(c, make([]byte, 64)); err != nil {
			b.Fatal(err)
		}
		times[i] = time.Since(start)
		c.Close()
	}
	return percentiles(times)
}

// processCPUSeconds is the user and system time of this process so far.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func percentiles(times []time.Duration) (time.Duration, time.Duration) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], times[len(times)*99/100]
}
