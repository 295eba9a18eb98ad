// agent_tls.go: the agent's TLS material (certificate, key, CAs), loaded
// from the files config_tls.go resolved, and the tls.Configs built from it
// for the HTTPS listener (http_https.go) and both sides of the server port
// (rpc_tls.go).
//
// Data flow: newAgent loads the files once (loadTLS, with Consul's checks:
// tlsutil's loadProtocolConfig) and installs the result; a reload
// (SIGHUP, /v1/agent/reload: agent_reload.go) loads them again from the new
// configuration and installs the new material if it is valid, else keeps
// the old. Nothing else holds a tls.Config: every handshake builds its own
// from the material installed at that moment (GetConfigForClient on the
// listeners, a fresh client config per dial), so a renewed certificate
// serves the next connection without a restart, and connections already
// open keep theirs (the cluster does not drop).
//
// Concurrency: the installed material is one immutable *tlsLoaded behind
// an atomic pointer; readers take it with one Load and never see half a
// reload. Reloads are serialized by the agent's reloadMu.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// tlsMaterial is one protocol's loaded settings: nil cert or pool when
// none is configured.
type tlsMaterial struct {
	settings tlsProtocol
	cert     *tls.Certificate
	pool     *x509.CertPool
}

// tlsLoaded is everything loaded at one time.
type tlsLoaded struct {
	rpc, https tlsMaterial
}

// agentTLS is the agent's current TLS material and what builds configs
// from it.
type agentTLS struct {
	datacenter string
	domain     string // without its trailing dot
	logger     *slog.Logger
	// serverDatacenter names the datacenter of the server at an RPC
	// address (the WAN pool knows); the agent's own when unknown.
	serverDatacenter func(addr string) string

	cur atomic.Pointer[tlsLoaded]
}

// newAgentTLS loads the configured files; an error stops the agent.
func newAgentTLS(cfg *Config, logger *slog.Logger) (*agentTLS, error) {
	l, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.TLS.Deprecated {
		logger.Warn(w)
	}
	t := &agentTLS{datacenter: cfg.Datacenter, domain: strings.TrimSuffix(cfg.Domain, "."), logger: logger}
	t.serverDatacenter = func(string) string { return t.datacenter }
	t.cur.Store(l)
	return t, nil
}

// install makes l the material of every later handshake.
func (t *agentTLS) install(l *tlsLoaded) {
	t.cur.Store(l)
	if l.rpc.cert != nil || l.https.cert != nil {
		t.logger.Info("TLS certificates reloaded", "rpc_cert", l.rpc.settings.CertFile, "https_cert", l.https.settings.CertFile)
	}
}

// loadTLS reads the files of cfg's internal RPC and HTTPS settings.
func loadTLS(cfg *Config) (*tlsLoaded, error) {
	rpc, err := loadTLSMaterial(cfg.TLS.RPC)
	if err != nil {
		return nil, err
	}
	https, err := loadTLSMaterial(cfg.TLS.API)
	if err != nil {
		return nil, err
	}
	return &tlsLoaded{rpc: rpc, https: https}, nil
}

// loadTLSMaterial loads one protocol's files, with Consul's checks and
// messages (tlsutil loadKeyPair, LoadCAs, loadProtocolConfig): a
// certificate is loaded only with its key; verify_incoming needs a CA and
// a certificate, verify_outgoing a CA.
func loadTLSMaterial(p tlsProtocol) (tlsMaterial, error) {
	m := tlsMaterial{settings: p}
	if p.CertFile != "" && p.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			return m, fmt.Errorf("Failed to load cert/key pair: %v", err)
		}
		m.cert = &cert
	}
	pems, err := loadCAs(p.CAFile, p.CAPath)
	if err != nil {
		return m, err
	}
	for _, pem := range pems {
		if m.pool == nil {
			m.pool = x509.NewCertPool()
		}
		if !m.pool.AppendCertsFromPEM(pem) {
			return m, fmt.Errorf("failed to parse PEM %s", pem)
		}
	}
	switch {
	case p.VerifyIncoming && m.pool == nil:
		return m, errors.New("VerifyIncoming set but no CA certificates were provided")
	case p.VerifyIncoming && m.cert == nil:
		return m, errors.New("VerifyIncoming requires either a Cert and Key pair in the configuration file, or auto_encrypt/auto_config be enabled")
	case p.VerifyOutgoing && m.pool == nil:
		return m, errors.New("VerifyOutgoing set but no CA certificates were provided")
	}
	return m, nil
}

// loadCAs reads ca_file, or else every file under ca_path.
func loadCAs(caFile, caPath string) ([][]byte, error) {
	read := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("Error loading from %s: %s", path, err)
		}
		return b, nil
	}
	switch {
	case caFile != "":
		b, err := read(caFile)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	case caPath != "":
		var pems [][]byte
		err := filepath.Walk(caPath, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := read(path)
			pems = append(pems, b)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(pems) == 0 {
			return nil, errors.New("Error loading from CAPath: no CAs found")
		}
		return pems, nil
	}
	return nil, nil
}

// serverConfig is the config of one incoming handshake: the certificate,
// and with verify_incoming a client certificate required and verified
// against the CAs (RFC 8446 §4.3.2, §4.4.2).
func (m tlsMaterial) serverConfig(nextProtos ...string) *tls.Config {
	c := &tls.Config{MinVersion: m.settings.MinVersion, CipherSuites: m.settings.CipherSuites,
		ClientCAs: m.pool, NextProtos: nextProtos}
	if m.cert != nil {
		c.Certificates = []tls.Certificate{*m.cert}
	}
	if m.settings.VerifyIncoming {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// listenerConfig is a listener's config: each handshake gets the current
// material's (pick chooses the protocol's).
func (t *agentTLS) listenerConfig(pick func(*tlsLoaded) tlsMaterial, nextProtos ...string) *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return pick(t.cur.Load()).serverConfig(nextProtos...), nil
	}}
}

// rpcClientConfig is the config of one outgoing RPC handshake to a
// server of datacenter dc, or nil when verify_outgoing is off (plain RPC).
// With verify_server_hostname the server's certificate must name
// server.<dc>.<domain>; without, only its chain is verified (Consul's
// wrapTLSClient: agents do not name servers by DNS). Its own certificate
// is the client certificate (a server's carries clientAuth).
func (t *agentTLS) rpcClientConfig(dc string) *tls.Config {
	m := t.cur.Load().rpc
	if !m.settings.VerifyOutgoing {
		return nil
	}
	c := &tls.Config{MinVersion: m.settings.MinVersion, CipherSuites: m.settings.CipherSuites, RootCAs: m.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if m.cert == nil {
				return &tls.Certificate{}, nil // none: the server decides
			}
			return m.cert, nil
		}}
	if m.settings.VerifyServerHostname {
		c.ServerName = "server." + dc + "." + t.domain
		return c
	}
	c.InsecureSkipVerify = true // the name is not checked; the chain is, here
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: m.pool, Intermediates: x509.NewCertPool(), CurrentTime: time.Now()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
	return c
}

// verifyIncomingRPC: the server port refuses plain connections.
func (t *agentTLS) verifyIncomingRPC() bool { return t.cur.Load().rpc.settings.VerifyIncoming }

// serverDatacenterOf is the datacenter of the WAN pool's server at addr,
// or the agent's own (a server of this datacenter, or a client's server).
func (a *Agent) serverDatacenterOf(addr string) string {
	for _, m := range a.wanMembers() {
		dc, port, ok := wanServer(m)
		host, _, err := net.SplitHostPort(m.Addr)
		if ok && err == nil && net.JoinHostPort(host, strconv.Itoa(port)) == addr {
			return dc
		}
	}
	return a.cfg.Datacenter
}
