// config_tls_test.go: the tls block's inheritance, the legacy keys, the
// errors (config_tls.go and agent_tls.go's file checks), and the tls CLI.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runConsulIn runs the real command line (this test binary as "consul")
// in dir, as a user in that directory would, and returns its output.
func runConsulIn(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tlsTestFiles makes a CA and, in dir, the certificates the tls CLI makes
// for each argument list ("-server -dc dc1", …): file names as Consul's.
func tlsTestFiles(t testing.TB, dir string, certs ...string) {
	t.Helper()
	if out, err := runConsulIn(t, dir, "tls", "ca", "create"); err != nil {
		t.Fatalf("tls ca create: %v\n%s", err, out)
	}
	for _, args := range certs {
		if out, err := runConsulIn(t, dir, append([]string{"tls", "cert", "create"}, strings.Fields(args)...)...); err != nil {
			t.Fatalf("tls cert create %s: %v\n%s", args, err, out)
		}
	}
}

func TestTLSConfigResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsTestFiles(t, dir, "-server -dc dc1")
	ca, cert, key := filepath.Join(dir, "consul-agent-ca.pem"), filepath.Join(dir, "dc1-server-consul-0.pem"), filepath.Join(dir, "dc1-server-consul-0-key.pem")
	files := `"ca_file": "` + ca + `", "cert_file": "` + cert + `", "key_file": "` + key + `"`
	tls12, tls13 := uint16(tls.VersionTLS12), uint16(tls.VersionTLS13)
	full := func(p tlsProtocol) tlsProtocol { p.CAFile, p.CertFile, p.KeyFile = ca, cert, key; return p }
	for _, tc := range []struct {
		name     string
		files    []string
		rpc, api tlsProtocol
		err      string // at load (config) or at start (files)
	}{
		{name: "none", rpc: tlsProtocol{MinVersion: tls12}, api: tlsProtocol{MinVersion: tls12}},
		{name: "defaults inherited",
			files: []string{`{"tls": {"defaults": {` + files + `, "verify_incoming": true, "verify_outgoing": true, "tls_min_version": "TLSv1_3"}}}`},
			rpc:   full(tlsProtocol{VerifyIncoming: true, VerifyOutgoing: true, MinVersion: tls13}),
			api:   full(tlsProtocol{VerifyIncoming: true, VerifyOutgoing: true, MinVersion: tls13})},
		{name: "a stanza overrides defaults",
			files: []string{`{"tls": {"defaults": {` + files + `, "verify_incoming": true}, "https": {"verify_incoming": false, "tls_min_version": "tls13"},
				"internal_rpc": {"verify_server_hostname": true}}}`},
			rpc: full(tlsProtocol{VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true, MinVersion: tls12}),
			api: full(tlsProtocol{MinVersion: tls13})},
		{name: "legacy keys",
			files: []string{`{` + files + `, "verify_incoming_rpc": true, "verify_server_hostname": true, "tls_cipher_suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}`},
			rpc: full(tlsProtocol{VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true, MinVersion: tls12,
				CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}),
			api: full(tlsProtocol{MinVersion: tls12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})},
		{name: "a new key beats its legacy key, whatever the order of the files",
			files: []string{`{"tls": {"https": {"verify_incoming": false}}}`, `{` + files + `, "verify_incoming_https": true, "verify_incoming": "true"}`},
			rpc:   full(tlsProtocol{VerifyIncoming: true, MinVersion: tls12}), api: full(tlsProtocol{MinVersion: tls12})},
		{name: "cipher suites not inherited by a TLS 1.3 stanza",
			files: []string{`{"tls": {"defaults": {"tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}, "https": {"tls_min_version": "TLSv1_3"}}}`},
			rpc:   tlsProtocol{MinVersion: tls12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}},
			api:   tlsProtocol{MinVersion: tls13}},
		{name: "bad version", files: []string{`{"tls": {"defaults": {"tls_min_version": "tls99"}}}`},
			err: "tls.defaults.tls_min_version: invalid TLS version: no matching TLS version found for tls99, please specify one of [TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3]"},
		{name: "bad suite", files: []string{`{"tls": {"defaults": {"tls_cipher_suites": "FOO"}}}`},
			err: "tls.defaults.tls_cipher_suites: invalid TLS cipher suites: no matching Consul Agent TLS cipher suite found for FOO"},
		{name: "suites with TLS 1.3", files: []string{`{"tls": {"internal_rpc": {"tls_min_version": "TLSv1_3", "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}}`},
			err: "tls.internal_rpc.tls_cipher_suites: TLS 1.3 cipher suites are not configurable"},
		{name: "hostname in https", files: []string{`{"tls": {"https": {"verify_server_hostname": true}}}`},
			err: "verify_server_hostname is only valid in the tls.defaults and tls.internal_rpc stanzas"},
		{name: "outgoing in grpc", files: []string{`{"tls": {"grpc": {"verify_outgoing": true}}}`},
			err: "verify_outgoing is not valid in the tls.grpc stanza"},
		{name: "verify_incoming without a CA", files: []string{`{"tls": {"defaults": {"verify_incoming": true}}}`},
			err: "VerifyIncoming set but no CA certificates were provided"},
		{name: "verify_outgoing without a CA", files: []string{`{"verify_outgoing": true}`},
			err: "VerifyOutgoing set but no CA certificates were provided"},
		{name: "verify_incoming without a certificate", files: []string{`{"tls": {"internal_rpc": {"verify_incoming": true, "ca_file": "` + ca + `"}}}`},
			err: "VerifyIncoming requires either a Cert and Key pair in the configuration file, or auto_encrypt/auto_config be enabled"},
		{name: "a key that is not the certificate's", files: []string{`{"cert_file": "` + cert + `", "key_file": "` + filepath.Join(dir, "consul-agent-ca-key.pem") + `"}`},
			err: "Failed to load cert/key pair: tls: private key does not match public key"},
		{name: "a missing CA file", files: []string{`{"ca_file": "/nonexistent"}`},
			err: "Error loading from /nonexistent: open /nonexistent: no such file or directory"},
		{name: "a wrong type", files: []string{`{"tls": {"defaults": {"verify_incoming": 3}}}`}, err: `key "tls.defaults.verify_incoming": expected boolean`},
		{name: "an unknown key", files: []string{`{"tls": {"defaults": {"bogus": true}}}`}, err: `unknown config key "tls.defaults.bogus"`},
	} {
		cfg, _, err := loadConfigFixtures(t, tc.files, "-dev")
		if err == nil {
			_, err = loadTLS(cfg)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.name == "legacy keys" && !reflect.DeepEqual(cfg.TLS.Deprecated, []string{
			"The 'ca_file' field is deprecated. Use the 'tls.defaults.ca_file' field instead.",
			"The 'cert_file' field is deprecated. Use the 'tls.defaults.cert_file' field instead.",
			"The 'key_file' field is deprecated. Use the 'tls.defaults.key_file' field instead.",
			"The 'tls_cipher_suites' field is deprecated. Use the 'tls.defaults.tls_cipher_suites' field instead.",
			"The 'verify_incoming_rpc' field is deprecated. Use the 'tls.internal_rpc.verify_incoming' field instead.",
			"The 'verify_server_hostname' field is deprecated. Use the 'tls.internal_rpc.verify_server_hostname' field instead."}) {
			t.Errorf("deprecation warnings: %q", cfg.TLS.Deprecated)
		}
		if !reflect.DeepEqual(cfg.TLS.RPC, tc.rpc) || !reflect.DeepEqual(cfg.TLS.API, tc.api) {
			t.Errorf("%s:\nrpc %+v\nwant %+v\napi %+v\nwant %+v", tc.name, cfg.TLS.RPC, tc.rpc, cfg.TLS.API, tc.api)
		}
	}
}

func TestTLSCLICreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := runConsulIn(t, dir, "tls", "ca", "create")
	if err != nil || out != "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n" {
		t.Fatalf("tls ca create: %v %q", err, out)
	}
	if out, err := runConsulIn(t, dir, "tls", "ca", "create"); err == nil || out != "consul-agent-ca.pem already exists.\n" {
		t.Errorf("second tls ca create: %v %q", err, out)
	}
	for i, want := range []string{"dc1-server-consul-0", "dc1-server-consul-1"} {
		out, err := runConsulIn(t, dir, "tls", "cert", "create", "-server", "-dc", "dc1", "-additional-dnsname", "s.example", "-additional-ipaddress", "10.0.0.1")
		if err != nil || !strings.HasPrefix(out, "==> WARNING: Server Certificates grants authority to become a\n") ||
			!strings.HasSuffix(out, "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n==> Saved "+want+".pem\n==> Saved "+want+"-key.pem\n") {
			t.Fatalf("cert %d: %v %q", i, err, out)
		}
	}
	if out, err := runConsulIn(t, dir, "tls", "cert", "create"); err == nil || out != "Please provide either -server, -client, or -cli\n" {
		t.Errorf("no kind: %v %q", err, out)
	}
	if out, err := runConsulIn(t, dir, "tls", "cert", "create", "-client"); err != nil || !strings.HasSuffix(out, "==> Saved dc1-client-consul-0-key.pem\n") {
		t.Errorf("-client: %v %q", err, out)
	}
	for name, mode := range map[string]os.FileMode{"consul-agent-ca.pem": 0o644, "consul-agent-ca-key.pem": 0o600,
		"dc1-server-consul-0.pem": 0o644, "dc1-server-consul-0-key.pem": 0o600, "dc1-client-consul-0-key.pem": 0o600} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %v", name, err, mode)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "dc1-server-consul-0.pem"), filepath.Join(dir, "dc1-server-consul-0-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	caPEM, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	ca, _ := parseCertPEM(string(caPEM))
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	switch {
	case !ok || key.Curve != elliptic.P256():
		t.Errorf("key: %T, want EC P-256", cert.PublicKey)
	case cert.Subject.CommonName != "server.dc1.consul" || !reflect.DeepEqual(cert.DNSNames, []string{"s.example", "server.dc1.consul", "localhost"}):
		t.Errorf("names: %q %q", cert.Subject.CommonName, cert.DNSNames)
	case len(cert.IPAddresses) != 2 || cert.IPAddresses[1].String() != "127.0.0.1":
		t.Errorf("IPs: %v", cert.IPAddresses)
	case !reflect.DeepEqual(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}):
		t.Errorf("extended key usage: %v", cert.ExtKeyUsage)
	case cert.NotAfter.Sub(cert.NotBefore) != 365*24*time.Hour || ca.NotAfter.Sub(ca.NotBefore) != 1825*24*time.Hour:
		t.Errorf("validity: cert %v, CA %v", cert.NotAfter.Sub(cert.NotBefore), ca.NotAfter.Sub(ca.NotBefore))
	case !ca.IsCA || cert.CheckSignatureFrom(ca) != nil:
		t.Errorf("not signed by the CA: %v", cert.CheckSignatureFrom(ca))
	}
}
