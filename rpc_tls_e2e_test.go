// rpc_tls_e2e_test.go: real agent processes with TLS on the server port:
// three servers with internal_rpc verify_incoming, verify_outgoing and
// verify_server_hostname form a cluster and replicate; a server without
// certificates and one with another datacenter's certificate never become
// voters nor get the data, and the leader logs why; a renewed certificate
// is reloaded on SIGHUP without dropping the cluster.
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tlsServerConfig writes a config file giving internal RPC full
// verification with dir's CA and the named certificate.
func tlsServerConfig(t *testing.T, dir, name, cert string) string {
	t.Helper()
	conf := map[string]any{"tls": map[string]any{
		"defaults": map[string]any{"ca_file": filepath.Join(dir, "consul-agent-ca.pem"),
			"cert_file": filepath.Join(dir, cert+".pem"), "key_file": filepath.Join(dir, cert+"-key.pem"),
			"verify_incoming": true, "verify_outgoing": true},
		"internal_rpc": map[string]any{"verify_server_hostname": true},
	}}
	b, _ := json.Marshal(conf)
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyCert copies a certificate and its key to the names to.pem and
// to-key.pem, each replaced atomically.
func copyCert(t *testing.T, dir, from, to string) {
	t.Helper()
	for _, suffix := range []string{".pem", "-key.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, from+suffix))
		if err == nil {
			tmp := filepath.Join(dir, to+suffix+".tmp")
			if err = os.WriteFile(tmp, b, 0o600); err == nil {
				err = os.Rename(tmp, filepath.Join(dir, to+suffix))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// rpcServedCert is the certificate a server port presents to an RPCTLS
// connection (authenticated with the client certificate named).
func rpcServedCert(dir, client, addr string) (string, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, client+".pem"), filepath.Join(dir, client+"-key.pem"))
	if err != nil {
		return "", err
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{rpcConnTLS}); err != nil {
		return "", err
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}})
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func certSerial(t *testing.T, dir, name string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf.SerialNumber.String()
}

func TestRPCTLSClusterE2E(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1", "-server -dc dc1", "-server -dc dc1", "-server -dc dc2", "-server -dc dc1")
	c := newE2EProcesses(t)
	var servers []*e2eServer
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("s%d", i)
		copyCert(t, dir, fmt.Sprintf("dc1-server-consul-%d", i-1), name)
		servers = append(servers, c.add(name, fmt.Sprintf("127.0.0.18%d", i), "-server", "-bootstrap-expect=3",
			"-config-file="+tlsServerConfig(t, dir, name, name)))
	}
	for _, s := range servers {
		for _, other := range servers {
			s.args = append(s.args, "-retry-join="+other.lanAddr())
		}
		c.start(s)
	}
	leader := c.waitLeader(servers...)
	if code, body, err := c.do(http.MethodPut, leader, "/v1/kv/tls/a", "1", 10*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("PUT: %d %s %v", code, body, err)
	}
	replicated := func(key, value string, on ...*e2eServer) {
		t.Helper()
		for _, s := range on {
			eventually(t, 10*time.Second, key+" on "+s.name, func() (bool, string) {
				code, body, err := c.do(http.MethodGet, s, "/v1/kv/"+key+"?raw&stale", "", 2*time.Second)
				return err == nil && code == http.StatusOK && body == value, fmt.Sprint(code, body, err)
			})
		}
	}
	replicated("tls/a", "1", servers...)

	// s4 has no certificate and speaks plain RPC; s5 has a certificate of
	// the same CA for dc2. Both join the LAN pool and ask to join Raft.
	s4 := c.add("s4", "127.0.0.184", "-server", "-retry-join="+servers[0].lanAddr())
	s5 := c.add("s5", "127.0.0.185", "-server", "-retry-join="+servers[0].lanAddr(),
		"-config-file="+tlsServerConfig(t, dir, "s5", "dc2-server-consul-0"))
	c.start(s4)
	c.start(s5)
	eventually(t, 30*time.Second, "the leader logs why s4 and s5 are refused", func() (bool, string) {
		logs := leader.logs()
		return strings.Contains(logs, "Non-TLS connection attempted with VerifyIncoming set") &&
			strings.Contains(logs, "x509: certificate is valid for server.dc2.consul, localhost, not server.dc1.consul"), ""
	})
	if code, body, err := c.do(http.MethodPut, leader, "/v1/kv/tls/b", "2", 10*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("PUT: %d %s %v", code, body, err)
	}
	replicated("tls/b", "2", servers...)
	for _, s := range []*e2eServer{s4, s5} {
		code, body, _ := c.do(http.MethodGet, s, "/v1/kv/tls/a?raw&stale", "", 2*time.Second)
		if code == http.StatusOK {
			t.Errorf("%s got the data: %s", s.name, body)
		}
	}
	code, body, err := c.do(http.MethodGet, leader, "/v1/operator/raft/configuration", "", 5*time.Second)
	if err != nil || code != http.StatusOK {
		t.Fatalf("raft configuration: %d %s %v", code, body, err)
	}
	var conf struct {
		Servers []struct {
			Node  string
			Voter bool
		}
	}
	json.Unmarshal([]byte(body), &conf)
	for _, s := range conf.Servers {
		if (s.Node == "s4" || s.Node == "s5") && s.Voter {
			t.Errorf("%s is a voter: %s", s.Node, body)
		}
	}

	// s1's certificate is renewed in place and reloaded on SIGHUP: new
	// connections get the new one, the cluster stays.
	s1 := servers[0]
	copyCert(t, dir, "dc1-server-consul-3", "s1")
	s1.cmd.Process.Signal(syscall.SIGHUP)
	renewed := certSerial(t, dir, "dc1-server-consul-3")
	eventually(t, 10*time.Second, "s1 serves the renewed certificate", func() (bool, string) {
		serial, err := rpcServedCert(dir, "s2", s1.serverAddr())
		return serial == renewed, fmt.Sprint(serial, err)
	})
	eventually(t, 10*time.Second, "s1 logs the reload", func() bool { return strings.Contains(s1.logs(), "TLS certificates reloaded") })
	leader = c.waitLeader(servers...)
	if code, body, err := c.do(http.MethodPut, s1, "/v1/kv/tls/c", "3", 10*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("PUT after the reload: %d %s %v", code, body, err)
	}
	replicated("tls/c", "3", servers...)
}
