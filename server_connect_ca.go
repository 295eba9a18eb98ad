// server_connect_ca.go: the built-in CA's work on the servers (Consul's
// CAManager with the "consul" provider): making the root, rotating it,
// and signing leaves.
//
//	first leadership: initConnectCA → cluster ID + key + root → caInit (Raft)
//	                  (a later leader finds the CA in the state and reuses it)
//	PUT configuration: setCAConfiguration → new key/root, cross-signed by
//	                  the old key → caSetConfig (Raft, check-and-set)
//	ConnectCA.Sign:   any server → leaderCall → the leader: checkCSR →
//	                  caLeaf (Raft: the log index is the serial) → signLeaf
//
// Keys, certificates, serials and times are made here, before the command:
// apply only stores them (store_connect_ca.go). Every server holds the
// roots and their keys, so a new leader signs with the same root at once.
// A root's serial is the log index after the state it was made from (it
// issues itself: unique); a cross-signed root's is random above 2^62, so
// it never meets a leaf's serial (a log index) under the same issuer
// (RFC 5280 §4.1.2.2).
//
// Concurrency: caSigning.mu guards the leader's parsed signing root; the
// rest runs on the caller's goroutine (leadership monitor, HTTP handler,
// RPC server) and shares nothing but the store.
package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// rpcConnectCASign asks for a leaf: served by any server, signed by the leader.
const rpcConnectCASign = "ConnectCA.Sign"

// errConnectDisabled is Consul's answer on every CA endpoint with
// connect.enabled false.
var errConnectDisabled = &httpError{http.StatusInternalServerError, "Connect must be enabled in order to use this endpoint"}

// IssuedCert is a leaf, in the JSON shape of Consul's
// /v1/agent/connect/ca/leaf/<service>.
type IssuedCert struct {
	SerialNumber  string
	CertPEM       string // the leaf, then the active root's intermediates
	PrivateKeyPEM string // added by the agent, which made the key
	Service       string
	ServiceURI    string
	ValidAfter    time.Time
	ValidBefore   time.Time
	CreateIndex   uint64
	ModifyIndex   uint64
}

// caSignRequest is the body of a ConnectCA.Sign call: only the CSR
// travels, never a key.
type caSignRequest struct{ CSR string }

// caSigning is the active root, parsed once, that the leader signs with.
type caSigning struct {
	mu     sync.Mutex
	rootID string
	root   *x509.Certificate
	signer crypto.Signer
}

// get returns the parsed certificate and key of root.
func (c *caSigning) get(root *caStoredRoot) (*x509.Certificate, crypto.Signer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rootID != root.ID {
		cert, err := parseCertPEM(root.RootCert)
		if err != nil {
			return nil, nil, err
		}
		signer, err := parseCAKey(root.PrivateKey)
		if err != nil {
			return nil, nil, err
		}
		c.rootID, c.root, c.signer = root.ID, cert, signer
	}
	return c.root, c.signer, nil
}

// caConfigMap is the connect block's ca_config as the CA configuration's
// Config map: the TTLs always (as Consul shows them), the rest when set.
func (c ConnectConfig) caConfigMap() map[string]any {
	m := map[string]any{
		"LeafCertTTL":         caDurationString(cmp.Or(c.LeafCertTTL, caDefaultLeafTTL)),
		"IntermediateCertTTL": caDurationString(cmp.Or(c.IntermediateCertTTL, caDefaultIntermediateTTL)),
		"RootCertTTL":         caDurationString(cmp.Or(c.RootCertTTL, caDefaultRootTTL)),
	}
	for k, v := range map[string]string{"PrivateKey": c.PrivateKey, "RootCert": c.RootCert, "PrivateKeyType": c.PrivateKeyType} {
		if v != "" {
			m[k] = v
		}
	}
	if c.PrivateKeyBits != 0 {
		m["PrivateKeyBits"] = float64(c.PrivateKeyBits) // as JSON numbers decode
	}
	return m
}

// caDurationString writes 72h as "72h", as Consul's configuration holds it.
func caDurationString(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// check is the connect block's check when the configuration is loaded
// (ca_provider is checked as it is read: cfgCheckCAProvider).
func (c ConnectConfig) check() error {
	if _, err := parseCASettings(c.caConfigMap()); err != nil {
		return fmt.Errorf("connect.ca_config: %w", err)
	}
	return nil
}

func cfgCheckCAProvider(p string) error {
	return ConnectConfig{CAProvider: p}.checkProvider()
}

func (c ConnectConfig) checkProvider() error {
	switch c.CAProvider {
	case "consul":
		return nil
	case "vault", "aws-pca":
		return fmt.Errorf("CA provider %q is not supported by miniconsul: only \"consul\", the built-in CA", c.CAProvider)
	}
	return fmt.Errorf("unknown CA provider %q", c.CAProvider)
}

// caLeafTTL is the configuration's leaf TTL, checked when it was stored
// (parseCASettings), read here without parsing the key on every signature.
func caLeafTTL(m map[string]any) time.Duration {
	for k, v := range m {
		if strings.ToLower(strings.ReplaceAll(k, "_", "")) == "leafcertttl" {
			if d, err := caDuration(k, v); err == nil {
				return d
			}
		}
	}
	return caDefaultLeafTTL
}

// rootSerial is the serial of a root made from st: the next log index.
func rootSerial(st *state) uint64 { return st.index + 1 }

// crossSignSerial is random in [2^62, 2^63): above any log index.
func crossSignSerial() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return 1<<62 | binary.BigEndian.Uint64(b[:])>>2
}

// --- the first root ---

// initConnectCA makes the CA on a new leader when the state has none
// (Consul's initializeCA); a CA in the state is reused as it is.
func (a *Agent) initConnectCA() {
	if !a.cfg.Connect.Enabled {
		return
	}
	st := a.store.snapshot()
	if st.connectCA != nil {
		a.logger.Debug("connect: CA already initialized", "root", st.connectCA.activeRoot().ID)
		return
	}
	cfgMap := a.cfg.Connect.caConfigMap()
	settings, err := parseCASettings(cfgMap)
	if err != nil {
		a.logger.Error("connect: the CA configuration is invalid", "error", err)
		return
	}
	clusterID := cmp.Or(a.cfg.Connect.ClusterID, newUUID())
	root, err := makeRoot(settings, clusterID, rootSerial(st), time.Now())
	if err != nil {
		a.logger.Error("connect: making the root failed", "error", err)
		return
	}
	res, err := a.apply(a.lifetime(), &command{Type: cmdConnectCA, ConnectCA: &connectCARequest{Op: caInit,
		ClusterID: clusterID, Config: &CAConfiguration{Provider: "consul", Config: cfgMap}, NewRoot: root}})
	if err == nil {
		err = res.err
	}
	if err != nil {
		a.logger.Warn("connect: storing the CA failed", "error", err)
		return
	}
	a.logger.Info("connect: CA initialized", "cluster_id", clusterID, "root", root.ID)
}

// makeRoot makes a root from the settings: their key and root
// certificate, or a new key and a self-signed root for it.
func makeRoot(s caSettings, clusterID string, serial uint64, now time.Time) (*caStoredRoot, error) {
	key := s.PrivateKey
	if key == "" {
		var err error
		if key, err = generateCAKey(s.KeyType, s.KeyBits); err != nil {
			return nil, err
		}
	}
	cert := s.RootCert
	if cert == "" {
		var err error
		if cert, err = newRootCert(key, clusterID, serial, s.RootTTL, now); err != nil {
			return nil, err
		}
	}
	return caRootOf(cert, key, clusterID)
}

// --- configuration and rotation ---

// caConfiguration is the stored configuration, as GET answers it.
func (a *Agent) caConfiguration() (*CAConfiguration, error) {
	ca := a.store.snapshot().connectCA
	if ca == nil {
		return nil, errors.New("CA is uninitialized")
	}
	cfg := ca.Config
	return &cfg, nil
}

// setCAConfiguration applies a PUT of the configuration. A new private
// key (or, without one, a new key type or size, or a change from a given
// key back to a generated one) rotates the root: the new root, cross-signed
// by the old key, becomes active and the old one stays, inactive (Consul's
// UpdateConfiguration). The same key only changes the configuration.
func (a *Agent) setCAConfiguration(ctx context.Context, req CAConfiguration) error {
	if err := (ConnectConfig{CAProvider: req.Provider}).checkProvider(); err != nil {
		return fmt.Errorf("could not initialize provider: %w", err)
	}
	settings, err := parseCASettings(req.Config)
	if err != nil {
		return fmt.Errorf("error configuring provider: %w", err)
	}
	for attempt := 0; ; attempt++ {
		st := a.store.snapshot()
		ca := st.connectCA
		if ca == nil {
			return errors.New("CA is uninitialized")
		}
		old := ca.activeRoot()
		stored, _ := parseCASettings(ca.Config.Config)
		var rotate bool
		if settings.PrivateKey != "" {
			rotate = settings.PrivateKey != old.PrivateKey || settings.RootCert != "" && settings.RootCert != old.RootCert
		} else {
			rotate = stored.PrivateKey != "" || settings.KeyType != old.PrivateKeyType || settings.KeyBits != old.PrivateKeyBits
		}
		creq := &connectCARequest{Op: caSetConfig, ActiveRootID: old.ID, ModifyIndex: req.ModifyIndex,
			Config: &CAConfiguration{Provider: "consul", Config: req.Config, State: caProviderState(req.Config, ca.Config.State),
				ForceWithoutCrossSigning: req.ForceWithoutCrossSigning}}
		if rotate {
			now := time.Now()
			root, err := makeRoot(settings, ca.ClusterID, rootSerial(st), now)
			if err != nil {
				return fmt.Errorf("error generating CA root certificate: %w", err)
			}
			if root.ID != old.ID {
				xc, err := crossSign(root.RootCert, old.RootCert, old.PrivateKey, crossSignSerial(), now)
				if err != nil {
					return err
				}
				root.IntermediateCerts = []string{xc}
				creq.NewRoot = root
			}
		}
		res, err := a.apply(ctx, &command{Type: cmdConnectCA, ConnectCA: creq})
		if err != nil {
			return err
		}
		if res.err != nil || res.ok {
			return res.err
		}
		if attempt == 2 {
			return errors.New("the CA configuration changed while this change was being made; try again")
		}
	}
}

// caProviderState is the provider's State after a configuration change.
// The built-in provider keeps none, except what its configuration's
// test_state gives (Consul's test hook, which its Go client's tests use),
// string values only; without one it keeps the state it had (Consul's
// ConsulProvider.parseTestState).
func caProviderState(cfg map[string]any, prev map[string]string) map[string]string {
	raw, ok := cfg["test_state"].(map[string]any)
	if !ok {
		return prev
	}
	state := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			state[k] = s
		}
	}
	return state
}

// --- signing ---

// connectCASign has the leader sign a CSR, from any server.
func (a *Agent) connectCASign(ctx context.Context, body []byte) ([]byte, error) {
	return a.leaderCall(ctx, rpcConnectCASign, body, func(ctx context.Context) ([]byte, error) {
		var req caSignRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		cert, err := a.signCSR(ctx, req.CSR)
		if err != nil {
			return nil, err
		}
		return json.Marshal(cert)
	})
}

// signCSR checks a CSR and signs it with the active root (on the leader).
func (a *Agent) signCSR(ctx context.Context, csrPEM string) (*IssuedCert, error) {
	if !a.cfg.Connect.Enabled {
		return nil, errConnectDisabled
	}
	ca := a.store.snapshot().connectCA
	if ca == nil {
		return nil, errors.New("CA is uninitialized and unable to sign certificates yet: no root certificate")
	}
	csr, id, err := checkCSR(csrPEM, ca.trustDomain(), a.cfg.Datacenter)
	if err != nil {
		return nil, err
	}
	res, err := a.apply(ctx, &command{Type: cmdConnectCA, ConnectCA: &connectCARequest{Op: caLeaf}})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return nil, err
	}
	if res.index == 0 { // applied by another leader, in the meantime: ask it
		return nil, errNotLeader
	}
	ca = a.store.snapshot().connectCA // the root active now, after any rotation before the leaf's index
	active := ca.activeRoot()
	root, signer, err := a.ca.get(active)
	if err != nil {
		return nil, err
	}
	certPEM, cert, err := signLeafWith(csr, root, signer, res.index, caLeafTTL(ca.Config.Config), time.Now())
	if err != nil {
		return nil, err
	}
	for _, ic := range active.IntermediateCerts {
		certPEM += ic
	}
	return &IssuedCert{SerialNumber: serialString(cert.SerialNumber), CertPEM: certPEM, Service: id.Service,
		ServiceURI: id.String(), ValidAfter: cert.NotBefore.UTC(), ValidBefore: cert.NotAfter.UTC(),
		CreateIndex: res.index, ModifyIndex: res.index}, nil
}
