// rpc_tls_test.go: client agents over TLS to a server that verifies
// incoming RPC, and the cost of TLS on forwarded requests.
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rpcTLS is internal RPC with full verification and dir's certificate
// named cert.
func rpcTLS(dir, cert string) tlsProtocol {
	return tlsProtocol{CAFile: filepath.Join(dir, "consul-agent-ca.pem"), CertFile: filepath.Join(dir, cert+".pem"),
		KeyFile: filepath.Join(dir, cert+"-key.pem"), VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true,
		MinVersion: tls.VersionTLS12}
}

// tlsForwardSetup starts a server and a client agent joined to it, both
// with full RPC verification when withTLS, and waits until the client
// forwards.
func tlsForwardSetup(t testing.TB, ip string, withTLS bool) (srv, cl *testAgent) {
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1", "-client")
	srv = startTestAgent(t, func(c *Config) {
		c.Encrypt = testGossipKey(t)
		if withTLS {
			c.TLS.RPC = rpcTLS(dir, "dc1-server-consul-0")
		}
	})
	cl = startTestClientWith(t, "c1", ip, func(c *Config) {
		c.RetryJoin = []string{srv.lan().Addr()}
		if withTLS {
			c.TLS.RPC = rpcTLS(dir, "dc1-client-consul-0")
		}
	})
	eventually(t, 10*time.Second, "the client forwards", func() bool {
		r := cl.do("GET", "/v1/kv/none", "")
		return r.code == http.StatusNotFound
	})
	return srv, cl
}

func TestRPCTLSClientForward(t *testing.T) {
	t.Parallel()
	_, cl := tlsForwardSetup(t, "127.0.0.187", true)
	cl.must("PUT", "/v1/kv/over/tls", "yes", nil)
	if r := cl.do("GET", "/v1/kv/over/tls?raw", ""); r.code != http.StatusOK || r.body != "yes" {
		t.Fatalf("read through the client: %d %q", r.code, r.body)
	}

	// A client without TLS is refused by the verifying server.
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1")
	srv := startTestAgent(t, func(c *Config) {
		c.Encrypt = testGossipKey(t)
		c.TLS.RPC = rpcTLS(dir, "dc1-server-consul-0")
	})
	plain := startTestClient(t, "c2", "127.0.0.188", srv.lan().Addr())
	eventually(t, 10*time.Second, "the plain client knows the server", func() bool { return len(plain.lanServers()) == 1 })
	if r := plain.do("PUT", "/v1/kv/x", "1"); r.code == http.StatusOK {
		t.Fatalf("a plain client's write was served: %d %s", r.code, r.body)
	}
	if r := srv.do("GET", "/v1/kv/x", ""); r.code != http.StatusNotFound {
		t.Fatalf("the plain client's write reached the store: %d", r.code)
	}
}

// BenchmarkRPCForwardTLS: KV writes and reads through a client agent,
// forwarded to its server over plain RPC and over mutual TLS
// (go test -bench RPCForwardTLS -run ^$). The pool keeps one connection
// per server, so TLS costs its handshake once and then only the record
// layer's encryption.
func BenchmarkRPCForwardTLS(b *testing.B) {
	for i, withTLS := range []bool{false, true} {
		_, cl := tlsForwardSetup(b, fmt.Sprintf("127.0.0.19%d", i), withTLS)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		name := map[bool]string{false: "plain", true: "tls"}[withTLS]
		for _, op := range []string{"write", "read"} {
			b.Run(name+"/"+op, func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for n := 0; pb.Next(); n++ {
						url := cl.base + "/v1/kv/bench/" + fmt.Sprint(n%64)
						method, body := http.MethodPut, "v"
						if op == "read" {
							method, body = http.MethodGet, ""
						}
						req, _ := http.NewRequest(method, url, strings.NewReader(body))
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
							b.Errorf("%s %s: %d", method, url, resp.StatusCode)
							return
						}
					}
				})
			})
		}
	}
}
