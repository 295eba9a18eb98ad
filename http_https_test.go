// http_https_test.go: the HTTPS listener beside HTTP, with and without
// client certificates, plain HTTP to it, bad certificates refused and
// logged, a reload of the certificate, and the CLI's TLS flags against it.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// httpsAgent starts an agent with HTTPS on a free port, the certificates
// of dir (tlsTestFiles), and the log kept in a buffer.
func httpsAgent(t *testing.T, dir string, verifyIncoming bool) (*Agent, *syncBuffer) {
	t.Helper()
	cfg := testConfig("node1")
	cfg.Ports.HTTPS, cfg.Addresses.HTTPS = 0, []string{"127.0.0.1"}
	cfg.TLS.API = tlsProtocol{CAFile: filepath.Join(dir, "consul-agent-ca.pem"), CertFile: filepath.Join(dir, "dc1-server-consul-0.pem"),
		KeyFile: filepath.Join(dir, "dc1-server-consul-0-key.pem"), VerifyIncoming: verifyIncoming, MinVersion: tls.VersionTLS12}
	var logs syncBuffer
	a, err := newAgent(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return a, &logs
}

// httpsClient trusts dir's CA and presents the client certificate named
// (none if "").
func httpsClient(t *testing.T, dir, cert string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, cert+".pem"), filepath.Join(dir, cert+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// expiredClientCert writes expired.pem and expired-key.pem in dir: a
// client certificate of dir's CA that expired an hour ago (the CLI
// refuses to make one).
func expiredClientCert(t *testing.T, dir string) {
	t.Helper()
	caPEM, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	caKeyPEM, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca-key.pem"))
	ca, err := parseCertPEM(string(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := parseCAKey(string(caKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := generateCAKey("ec", 256)
	key, _ := parseCAKey(keyPEM)
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(7),
		Subject: pkix.Name{CommonName: "client.dc1.consul"}, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "expired.pem"), []byte(encodeCert(der)), 0o644)
	os.WriteFile(filepath.Join(dir, "expired-key.pem"), []byte(keyPEM), 0o600)
}

func httpsGet(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestHTTPSVerifyIncoming(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1", "-client")
	expiredClientCert(t, dir)
	tlsTestFiles(t, other, "-client") // another CA's
	a, logs := httpsAgent(t, dir, true)
	base := "https://" + a.HTTPSAddrs()[0]

	// With a client certificate of the CA: served, over HTTP/2 as Consul.
	c := httpsClient(t, dir, "dc1-client-consul-0")
	resp, err := c.Get(base + "/v1/status/leader")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Fatalf("with a client certificate: %d %s", resp.StatusCode, resp.Proto)
	}
	if code, _, err := httpsGet(c, base+"/v1/kv/x"); err != nil || code != http.StatusNotFound {
		t.Fatalf("KV over HTTPS: %d %v", code, err)
	}

	// Without one, with another CA's, or with an expired one: refused, and
	// the agent logs why.
	for _, tc := range []struct {
		name, dir, cert, logged string
	}{
		{"no client certificate", dir, "", "client didn't provide a certificate"},
		{"another CA's", other, "dc1-client-consul-0", "certificate signed by unknown authority"},
		{"expired", dir, "expired", "certificate has expired"},
	} {
		cl := httpsClient(t, dir, "")
		if tc.cert != "" {
			pair, err := tls.LoadX509KeyPair(filepath.Join(tc.dir, tc.cert+".pem"), filepath.Join(tc.dir, tc.cert+"-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			// Sent even where the server's acceptable CAs do not list its issuer.
			cl.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &pair, nil
			}
		}
		if code, _, err := httpsGet(cl, base+"/v1/status/leader"); err == nil {
			t.Errorf("%s: served (%d)", tc.name, code)
		}
		eventually(t, 5*time.Second, tc.name+" logged", func() (bool, string) { return strings.Contains(logs.String(), tc.logged), logs.String() })
	}

	// A client that does not trust the agent's CA refuses it.
	if _, _, err := httpsGet(httpsClient(t, other, "dc1-client-consul-0"), base+"/v1/status/leader"); err == nil ||
		!strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a client of another CA: %v", err)
	}

	// Plain HTTP to the HTTPS port: Consul's 400. Plain HTTP on the HTTP
	// port stays open.
	conn, err := net.Dial("tcp", a.HTTPSAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
	plain, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(plain.Body)
	if plain.StatusCode != http.StatusBadRequest || string(body) != "Client sent an HTTP request to an HTTPS server.\n" {
		t.Errorf("plain HTTP to HTTPS: %d %q", plain.StatusCode, body)
	}
	if code, _, err := httpsGet(http.DefaultClient, "http://"+a.HTTPAddrs()[0]+"/v1/status/leader"); err != nil || code != http.StatusOK {
		t.Errorf("plain HTTP port: %d %v", code, err)
	}

	// The CLI's TLS flags and environment.
	env := map[string]string{"CONSUL_HTTP_ADDR": base}
	tlsFlags := []string{"-ca-file=" + filepath.Join(dir, "consul-agent-ca.pem"),
		"-client-cert=" + filepath.Join(dir, "dc1-client-consul-0.pem"), "-client-key=" + filepath.Join(dir, "dc1-client-consul-0-key.pem")}
	if _, errOut, code := runCLI(t, env, "", append(append([]string{"kv", "put"}, tlsFlags...), "cli", "yes")...); code != 0 {
		t.Fatalf("kv put over HTTPS: %d %s", code, errOut)
	}
	if out, errOut, code := runCLI(t, env, "", append(append([]string{"kv", "get"}, tlsFlags...), "cli")...); code != 0 || out != "yes\n" {
		t.Errorf("kv get over HTTPS: %d %q %s", code, out, errOut)
	}
	env = map[string]string{"CONSUL_HTTP_ADDR": a.HTTPSAddrs()[0], "CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_SSL_VERIFY": "false",
		"CONSUL_CLIENT_CERT": filepath.Join(dir, "dc1-client-consul-0.pem"), "CONSUL_CLIENT_KEY": filepath.Join(dir, "dc1-client-consul-0-key.pem")}
	if out, errOut, code := runCLI(t, env, "", "kv", "get", "cli"); code != 0 || out != "yes\n" {
		t.Errorf("kv get with CONSUL_HTTP_SSL: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": base}, "", append([]string{"kv", "get", "-ca-file=" + filepath.Join(dir, "consul-agent-ca.pem")}, "cli")...); code == 0 {
		t.Errorf("kv get without a client certificate succeeded: %s", errOut)
	}
}

func TestHTTPSWithoutClientVerification(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1")
	a, _ := httpsAgent(t, dir, false)
	c := httpsClient(t, dir, "")
	if code, _, err := httpsGet(c, "https://"+a.HTTPSAddrs()[0]+"/v1/status/leader"); err != nil || code != http.StatusOK {
		t.Fatalf("without a client certificate: %d %v", code, err)
	}
	// The server's certificate names localhost and 127.0.0.1, as Consul's.
	resp, err := c.Get("https://localhost:" + a.HTTPSAddrs()[0][strings.LastIndexByte(a.HTTPSAddrs()[0], ':')+1:] + "/v1/agent/self")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "server.dc1.consul" {
		t.Errorf("peer certificate: %+v", resp.TLS)
	}
}

// Without a certificate the port listens and every handshake fails, as a
// Consul client agent's; plain HTTP still gets the 400.
func TestHTTPSWithoutCertificate(t *testing.T) {
	t.Parallel()
	cfg := testConfig("node1")
	cfg.Ports.HTTPS, cfg.Addresses.HTTPS = 0, []string{"127.0.0.1"}
	a, err := newAgent(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if _, _, err := httpsGet(c, "https://"+a.HTTPSAddrs()[0]+"/v1/status/leader"); err == nil {
		t.Error("a handshake without a certificate succeeded")
	}
	if code, body, err := httpsGet(http.DefaultClient, "http://"+a.HTTPSAddrs()[0]+"/v1/status/leader"); code != http.StatusBadRequest ||
		!strings.Contains(body, "Client sent an HTTP request to an HTTPS server.") {
		t.Errorf("plain HTTP: %d %q %v", code, body, err)
	}
}

// A reload (PUT /v1/agent/reload, as SIGHUP) serves renewed certificate
// files to the next handshake; files that do not load are refused and the
// running certificate is kept.
func TestHTTPSReloadCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1", "-server -dc dc1")
	copyCert(t, dir, "dc1-server-consul-0", "live")
	conf := filepath.Join(dir, "tls.json")
	os.WriteFile(conf, []byte(`{"tls": {"https": {"cert_file": "`+filepath.Join(dir, "live.pem")+`", "key_file": "`+
		filepath.Join(dir, "live-key.pem")+`"}}}`), 0o644)
	args := []string{"-dev", "-config-file", conf}
	loaded, _, err := loadConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	ta := startTestAgent(t, func(c *Config) {
		c.Ports.HTTPS, c.Addresses.HTTPS, c.TLS, c.ConfigArgs = 0, []string{"127.0.0.1"}, loaded.TLS, args
	})
	served := func() string {
		c, err := tls.Dial("tcp", ta.HTTPSAddrs()[0], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := served(); got != certSerial(t, dir, "dc1-server-consul-0") {
		t.Fatalf("served %s before the reload", got)
	}
	copyCert(t, dir, "dc1-server-consul-1", "live")
	ta.must("PUT", "/v1/agent/reload", "", nil)
	renewed := certSerial(t, dir, "dc1-server-consul-1")
	if got := served(); got != renewed {
		t.Fatalf("served %s after the reload, want %s", got, renewed)
	}
	os.WriteFile(filepath.Join(dir, "live.pem"), []byte("not a certificate"), 0o644)
	if r := ta.do("PUT", "/v1/agent/reload", ""); r.code == http.StatusOK || !strings.Contains(r.body, "Failed to load cert/key pair") {
		t.Errorf("reload with a bad certificate: %d %q", r.code, r.body)
	}
	if got := served(); got != renewed {
		t.Errorf("served %s after a refused reload, want %s", got, renewed)
	}
}
