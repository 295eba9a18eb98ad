// connect_ca_test.go: the built-in CA and leaf certificates, end to end
// through HTTP on in-process agents (one dev server, a client agent, a
// three-server cluster), with table tests of the crypto and the
// configuration, a fuzz target for the CSR check, and the signing
// benchmark.
package main

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pemCerts reads every certificate of a PEM bundle.
func pemCerts(t testing.TB, bundle string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// verifyLeaf checks a leaf's chain (CertPEM: the leaf, then intermediates)
// against the given roots, and that it names the service's SPIFFE ID.
func verifyLeaf(t testing.TB, leaf IssuedCert, roots ...string) error {
	t.Helper()
	certs := pemCerts(t, leaf.CertPEM)
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		pool.AppendCertsFromPEM([]byte(r))
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if len(certs[0].URIs) != 1 || certs[0].URIs[0].String() != leaf.ServiceURI {
		t.Fatalf("leaf URIs %v, want only %s", certs[0].URIs, leaf.ServiceURI)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}})
	return err
}

func getRoots(t testing.TB, ta *testAgent, path string) (CARootList, response) {
	t.Helper()
	var roots CARootList
	r := ta.must("GET", path, "", &roots)
	return roots, r
}

func getLeaf(t testing.TB, ta *testAgent, path string) (IssuedCert, response) {
	t.Helper()
	var leaf IssuedCert
	r := ta.must("GET", path, "", &leaf)
	return leaf, r
}

func activeRoot(t testing.TB, roots CARootList) CARoot {
	t.Helper()
	for _, r := range roots.Roots {
		if r.Active {
			if r.ID != roots.ActiveRootID {
				t.Fatalf("active root %s, ActiveRootID %s", r.ID, roots.ActiveRootID)
			}
			return r
		}
	}
	t.Fatalf("no active root in %+v", roots)
	return CARoot{}
}

// TestConnectCARootShape: a root as Consul makes it, for each key type:
// CA:TRUE, only SAN the trust domain's SPIFFE ID, Consul's CN, ID the
// SHA-1 fingerprint and SigningKeyID the SKI (SHA-256 of the public key)
// in lowercase colon hex.
func TestConnectCARootShape(t *testing.T) {
	t.Parallel()
	const clusterID = "11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct {
		keyType string
		bits    int
	}{{"ec", 256}, {"ec", 384}, {"rsa", 2048}} {
		t.Run(tc.keyType, func(t *testing.T) {
			key, err := generateCAKey(tc.keyType, tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			root, err := makeRoot(caSettings{PrivateKey: key, KeyType: tc.keyType, KeyBits: tc.bits, RootTTL: caDefaultRootTTL},
				clusterID, 7, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			cert := pemCerts(t, root.RootCert)[0]
			fp := sha1.Sum(cert.Raw)
			der, _ := x509.MarshalPKIXPublicKey(cert.PublicKey)
			ski := sha256.Sum256(der)
			hexColon := regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2})*$`)
			switch {
			case root.ID != colonHex(fp[:]) || !hexColon.MatchString(root.ID) || len(fp) != 20:
				t.Errorf("ID %s, want the SHA-1 fingerprint", root.ID)
			case root.SigningKeyID != colonHex(ski[:]) || colonHex(cert.SubjectKeyId) != root.SigningKeyID:
				t.Errorf("SigningKeyID %s, want the SKI %x", root.SigningKeyID, ski)
			case !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0:
				t.Errorf("not a CA: IsCA %v, key usage %v", cert.IsCA, cert.KeyUsage)
			case len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://"+clusterID+".consul" ||
				len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.EmailAddresses) != 0:
				t.Errorf("SANs %v %v %v, want only the trust domain", cert.URIs, cert.DNSNames, cert.IPAddresses)
			case !regexp.MustCompile(`^pri-[0-9a-z]{1,8}\.consul\.ca\.11111111\.consul$`).MatchString(cert.Subject.CommonName):
				t.Errorf("CN %q", cert.Subject.CommonName)
			case root.PrivateKeyType != tc.keyType || root.PrivateKeyBits != tc.bits || root.SerialNumber != 7:
				t.Errorf("key %s/%d serial %d", root.PrivateKeyType, root.PrivateKeyBits, root.SerialNumber)
			case cert.CheckSignatureFrom(cert) != nil:
				t.Error("not self-signed")
			}
		})
	}
}

// TestConnectCAEndpoints: a dev agent makes its CA at once; the roots,
// their PEM bundle, the configuration and a leaf have Consul's shapes; the
// leaf verifies against the root (crypto/x509, and openssl when present);
// the agent's reads are cached (X-Cache) and block on ?index.
func TestConnectCAEndpoints(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	roots, r := getRoots(t, ta, "/v1/connect/ca/roots")
	root := activeRoot(t, roots)
	if len(roots.Roots) != 1 || root.Name != "Consul CA Primary Cert" || roots.TrustDomain != root.ExternalTrustDomain+".consul" ||
		root.PrivateKeyType != "ec" || root.PrivateKeyBits != 256 || root.IntermediateCerts != nil || r.index() != root.ModifyIndex {
		t.Fatalf("roots %+v (index %d)", roots, r.index())
	}
	if strings.Contains(r.body, "PRIVATE KEY") || strings.Contains(r.body, "PrivateKey\"") {
		t.Fatal("the roots carry a private key")
	}
	for _, k := range []string{`"ActiveRootID"`, `"TrustDomain"`, `"SerialNumber":`, `"SigningKeyID"`, `"ExternalTrustDomain"`,
		`"NotBefore"`, `"NotAfter"`, `"RootCert"`, `"IntermediateCerts":null`, `"Active":true`, `"CreateIndex"`, `"ModifyIndex"`} {
		if !strings.Contains(r.body, k) {
			t.Errorf("roots JSON lacks %s: %s", k, r.body)
		}
	}
	pemResp := ta.do("GET", "/v1/connect/ca/roots?pem=true", "")
	if pemResp.code != 200 || pemResp.header.Get("Content-Type") != "application/pem-certificate-chain" || pemResp.body != root.RootCert {
		t.Fatalf("pem: %d %s %q", pemResp.code, pemResp.header.Get("Content-Type"), pemResp.body)
	}
	ta.expect("GET", "/v1/connect/ca/roots?pem=maybe", "", 400, "The 'pem' query parameter must be a boolean value")

	var conf CAConfiguration
	ta.must("GET", "/v1/connect/ca/configuration", "", &conf)
	if conf.Provider != "consul" || conf.Config["LeafCertTTL"] != "72h" || conf.Config["RootCertTTL"] != "87600h" ||
		conf.Config["IntermediateCertTTL"] != "8760h" || len(conf.Config) != 3 {
		t.Fatalf("configuration %+v", conf)
	}

	agentRoots, ar := getRoots(t, ta, "/v1/agent/connect/ca/roots")
	if agentRoots.ActiveRootID != root.ID || ar.header.Get("X-Cache") != "MISS" || ar.index() != r.index() {
		t.Fatalf("agent roots %+v, X-Cache %q", agentRoots, ar.header.Get("X-Cache"))
	}
	if _, ar = getRoots(t, ta, "/v1/agent/connect/ca/roots"); ar.header.Get("X-Cache") != "HIT" {
		t.Fatalf("second read X-Cache %q", ar.header.Get("X-Cache"))
	}

	leaf, lr := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")
	var fields map[string]any
	json.Unmarshal([]byte(lr.body), &fields)
	want := []string{"CertPEM", "CreateIndex", "ModifyIndex", "PrivateKeyPEM", "SerialNumber", "Service", "ServiceURI", "ValidAfter", "ValidBefore"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			yield(k)
		}
	}); !slices.Equal(got, want) {
		t.Fatalf("leaf fields %v, want %v", got, want)
	}
	if leaf.Service != "web" || leaf.ServiceURI != "spiffe://"+roots.TrustDomain+"/ns/default/dc/dc1/svc/web" ||
		lr.header.Get("X-Cache") != "MISS" || lr.index() != leaf.ModifyIndex || leaf.CreateIndex != leaf.ModifyIndex ||
		!strings.HasPrefix(leaf.PrivateKeyPEM, "-----BEGIN EC PRIVATE KEY-----") {
		t.Fatalf("leaf %+v", leaf)
	}
	if life := leaf.ValidBefore.Sub(leaf.ValidAfter); life != 72*time.Hour || time.Since(leaf.ValidAfter) < 50*time.Second {
		t.Fatalf("leaf valid %v .. %v", leaf.ValidAfter, leaf.ValidBefore)
	}
	if err := verifyLeaf(t, leaf, root.RootCert); err != nil {
		t.Fatal(err)
	}
	cert := pemCerts(t, leaf.CertPEM)[0]
	if cert.IsCA || len(cert.Subject.Names) != 0 || serialString(cert.SerialNumber) != leaf.SerialNumber ||
		cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment|x509.KeyUsageKeyAgreement ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("leaf certificate: CA %v subject %v serial %s usage %v %v", cert.IsCA, cert.Subject, leaf.SerialNumber, cert.KeyUsage, cert.ExtKeyUsage)
	}
	for _, ext := range cert.Extensions {
		if ext.Id.Equal([]int{2, 5, 29, 17}) && !ext.Critical {
			t.Fatal("the SAN extension of a leaf with an empty subject must be critical (RFC 5280 §4.2.1.6)")
		}
	}
	opensslVerify(t, root.RootCert, leaf.CertPEM)

	again, lr2 := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")
	if again.SerialNumber != leaf.SerialNumber || lr2.header.Get("X-Cache") != "HIT" {
		t.Fatalf("second leaf read: %s (X-Cache %s), want the cached %s", again.SerialNumber, lr2.header.Get("X-Cache"), leaf.SerialNumber)
	}
	start := time.Now()
	blocked, _ := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web?index="+u64(leaf.ModifyIndex)+"&wait=300ms")
	if blocked.SerialNumber != leaf.SerialNumber || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("a blocking leaf read with nothing new answered after %v", time.Since(start))
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// opensslVerify runs `openssl verify -CAfile root leaf` when openssl is on PATH.
func opensslVerify(t testing.TB, rootPEM, leafPEM string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl is not on PATH: skipping openssl verify")
		return
	}
	dir := t.TempDir()
	rootFile, leafFile := filepath.Join(dir, "root.pem"), filepath.Join(dir, "leaf.pem")
	os.WriteFile(rootFile, []byte(rootPEM), 0o600)
	os.WriteFile(leafFile, []byte(leafPEM), 0o600)
	if out, err := exec.Command("openssl", "verify", "-CAfile", rootFile, leafFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl verify: %v: %s", err, out)
	}
}

// TestConnectCACSRCheck: the CA signs only a CSR signed by its own key that
// names one service of this trust domain and datacenter; a forged one is
// refused, by checkCSR and by the ConnectCA.Sign call.
func TestConnectCACSRCheck(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	roots, _ := getRoots(t, ta, "/v1/connect/ca/roots")
	td := roots.TrustDomain
	csrFor := func(id spiffeService) string {
		_, csr, err := newLeafRequest(id)
		if err != nil {
			t.Fatal(err)
		}
		return csr
	}
	good := csrFor(spiffeService{td, "default", "dc1", "web"})
	tampered := func() string {
		block, _ := pem.Decode([]byte(good))
		block.Bytes[len(block.Bytes)-5] ^= 0xff
		return string(pem.EncodeToMemory(block))
	}()
	for _, tc := range []struct{ name, csr, msg string }{
		{"other trust domain", csrFor(spiffeService{"11111111-2222-3333-4444-555555555555.consul", "default", "dc1", "web"}), "SPIFFE ID in CSR from a different trust domain"},
		{"other datacenter", csrFor(spiffeService{td, "default", "dc2", "web"}), "SPIFFE ID in CSR from a different datacenter: dc2, we are dc1"},
		{"other namespace", csrFor(spiffeService{td, "ops", "dc1", "web"}), "namespace"},
		{"bad signature", tampered, "CSR"},
		{"not PEM", "junk", "no PEM-encoded CERTIFICATE REQUEST found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := checkCSR(tc.csr, td, "dc1"); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("checkCSR: %v, want %q", err, tc.msg)
			}
			body, _ := json.Marshal(caSignRequest{CSR: tc.csr})
			if _, err := ta.connectCASign(context.Background(), body); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ConnectCA.Sign: %v, want %q", err, tc.msg)
			}
		})
	}
	body, _ := json.Marshal(caSignRequest{CSR: good})
	if _, err := ta.connectCASign(context.Background(), body); err != nil {
		t.Fatalf("a good CSR: %v", err)
	}
}

// TestConnectCARotation: a PUT of a new key makes a new active root; the
// old one stays, inactive; the new root carries itself cross-signed by
// the old key; a blocked roots query wakes; leaves of the old root still
// verify against the roots, the agent re-issues its leaf under the new
// root at once, and that leaf verifies even for a peer that trusts only
// the old root (through the cross-signed certificate in its chain).
func TestConnectCARotation(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	before, r := getRoots(t, ta, "/v1/connect/ca/roots")
	oldRoot := activeRoot(t, before)
	oldLeaf, _ := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")

	woke := make(chan CARootList, 1)
	go func() {
		var roots CARootList
		resp, err := http.Get(ta.base + "/v1/connect/ca/roots?index=" + u64(r.index()) + "&wait=30s")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&roots)
			resp.Body.Close()
		}
		woke <- roots
	}()

	key, _ := generateCAKey("ec", 256)
	body, _ := json.Marshal(CAConfiguration{Provider: "consul", Config: map[string]any{"PrivateKey": key}})
	rotated := time.Now()
	put := ta.do("PUT", "/v1/connect/ca/configuration", string(body))
	if put.code != 200 || put.body != "" {
		t.Fatalf("PUT: %d %q", put.code, put.body)
	}
	after, _ := getRoots(t, ta, "/v1/connect/ca/roots")
	newRoot := activeRoot(t, after)
	if len(after.Roots) != 2 || after.Roots[0].ID != oldRoot.ID || after.Roots[0].Active || newRoot.ID == oldRoot.ID ||
		len(newRoot.IntermediateCerts) != 1 || after.TrustDomain != before.TrustDomain {
		t.Fatalf("roots after rotation: %+v", after)
	}
	if got := <-woke; got.ActiveRootID != newRoot.ID {
		t.Fatalf("the blocked roots query got %+v", got)
	}
	xc := pemCerts(t, newRoot.IntermediateCerts[0])[0]
	newCert := pemCerts(t, newRoot.RootCert)[0]
	if colonHex(xc.SubjectKeyId) != newRoot.SigningKeyID || xc.Subject.CommonName != newCert.Subject.CommonName ||
		colonHex(xc.AuthorityKeyId) != oldRoot.SigningKeyID || xc.CheckSignatureFrom(pemCerts(t, oldRoot.RootCert)[0]) != nil {
		t.Fatal("the intermediate is not the new root cross-signed by the old one")
	}
	var conf CAConfiguration
	ta.must("GET", "/v1/connect/ca/configuration", "", &conf)
	if conf.Config["PrivateKey"] != key {
		t.Fatalf("configuration after the PUT: %+v", conf)
	}

	// Old leaves keep verifying: the old root is still among the roots.
	bundle := ta.do("GET", "/v1/connect/ca/roots?pem=true", "").body
	if err := verifyLeaf(t, oldLeaf, bundle); err != nil {
		t.Fatalf("the old leaf against the roots: %v", err)
	}
	// The agent re-issues at once: a blocking read returns the new leaf.
	newLeaf, _ := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web?index="+u64(oldLeaf.ModifyIndex)+"&wait=20s")
	took := time.Since(rotated)
	t.Logf("rotation to a new leaf on the agent: %v", took)
	leafCert := pemCerts(t, newLeaf.CertPEM)[0]
	if newLeaf.ModifyIndex <= oldLeaf.ModifyIndex || colonHex(leafCert.AuthorityKeyId) != newRoot.SigningKeyID {
		t.Fatalf("leaf after rotation: %+v", newLeaf)
	}
	if err := verifyLeaf(t, newLeaf, newRoot.RootCert); err != nil {
		t.Fatalf("the new leaf against the new root: %v", err)
	}
	if err := verifyLeaf(t, newLeaf, oldRoot.RootCert); err != nil {
		t.Fatalf("the new leaf against the old root alone (through the cross-signed root): %v", err)
	}
	opensslVerify(t, newRoot.RootCert, newLeaf.CertPEM)

	// The same key again changes nothing; a bad key or TTL is refused with Consul's message.
	ta.must("PUT", "/v1/connect/ca/configuration", string(body), nil)
	if again, _ := getRoots(t, ta, "/v1/connect/ca/roots"); len(again.Roots) != 2 {
		t.Fatalf("the same key rotated again: %d roots", len(again.Roots))
	}
	ta.expect("PUT", "/v1/connect/ca/configuration", `{"Provider":"consul","Config":{"LeafCertTTL":"1m"}}`, 500,
		"error configuring provider: leaf cert TTL must be greater or equal than 1h0m0s")
	ta.expect("PUT", "/v1/connect/ca/configuration", `{"Provider":"consul","Config":{"PrivateKey":"junk"}}`, 500,
		`error parsing private key "junk": no PEM-encoded data found`)
	ta.expect("PUT", "/v1/connect/ca/configuration", `{"Provider":"bogus","Config":{}}`, 500,
		`could not initialize provider: unknown CA provider "bogus"`)
	ta.expect("PUT", "/v1/connect/ca/configuration", `nope`, 400, "Request decode failed")
	if final, _ := getRoots(t, ta, "/v1/connect/ca/roots"); len(final.Roots) != 2 || final.ActiveRootID != newRoot.ID {
		t.Fatalf("refused PUTs changed the roots: %+v", final)
	}
	// RSA: a new key type without a key generates one.
	ta.must("PUT", "/v1/connect/ca/configuration", `{"Provider":"consul","Config":{"PrivateKeyType":"rsa","PrivateKeyBits":2048}}`, nil)
	rsaRoots, _ := getRoots(t, ta, "/v1/connect/ca/roots")
	if a := activeRoot(t, rsaRoots); a.PrivateKeyType != "rsa" || a.PrivateKeyBits != 2048 || len(rsaRoots.Roots) != 3 {
		t.Fatalf("RSA rotation: %+v", a)
	}
	eventually(t, 10*time.Second, "a leaf of the RSA root", func() bool {
		l, _ := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")
		return verifyLeaf(t, l, activeRoot(t, rsaRoots).RootCert) == nil
	})
}

// TestConnectCALeaderFailover: on three servers the CA survives the
// leader: the next leader keeps the same root and signs with it; a
// restart from the data directories keeps it too (snapshots and log).
func TestConnectCALeaderFailover(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(15 * time.Second)
	var roots CARootList
	eventually(t, 10*time.Second, "the first leader's CA", func() bool {
		roots, _ = getRoots(t, c.agents[leader], "/v1/connect/ca/roots")
		return roots.ActiveRootID != ""
	})
	c.stop(leader)
	next := c.waitLeader(15 * time.Second)
	after, _ := getRoots(t, c.agents[next], "/v1/connect/ca/roots")
	if after.ActiveRootID != roots.ActiveRootID || after.TrustDomain != roots.TrustDomain || len(after.Roots) != 1 {
		t.Fatalf("after failover: %+v, want root %s", after, roots.ActiveRootID)
	}
	follower := c.follower(next)
	leaf, _ := getLeaf(t, follower, "/v1/agent/connect/ca/leaf/api")
	if err := verifyLeaf(t, leaf, activeRoot(t, roots).RootCert); err != nil {
		t.Fatalf("a leaf signed by the new leader: %v", err)
	}
	c.start(leader)
	c.restartAll()
	again, _ := getRoots(t, c.agents[c.waitLeader(15*time.Second)], "/v1/connect/ca/roots")
	if again.ActiveRootID != roots.ActiveRootID {
		t.Fatalf("after a restart: root %s, want %s", again.ActiveRootID, roots.ActiveRootID)
	}
}

// TestConnectCAClientLeaf: a client agent makes the key and CSR itself and
// gets its leaf through a server; its roots come from its cache.
func TestConnectCAClientLeaf(t *testing.T) {
	t.Parallel()
	srv := startTestAgent(t, func(c *Config) { c.Encrypt = testGossipKey(t) })
	cl := startTestClient(t, "web1", "127.0.0.33", srv.lan().Addr())
	var roots CARootList
	eventually(t, 10*time.Second, "the client reaches a server", func() bool {
		r := cl.do("GET", "/v1/agent/connect/ca/roots", "")
		return r.code == 200 && json.Unmarshal([]byte(r.body), &roots) == nil && roots.ActiveRootID != ""
	})
	leaf, lr := getLeaf(t, cl, "/v1/agent/connect/ca/leaf/web")
	if lr.header.Get("X-Cache") != "MISS" || leaf.Service != "web" {
		t.Fatalf("client leaf %+v", leaf)
	}
	if err := verifyLeaf(t, leaf, activeRoot(t, roots).RootCert); err != nil {
		t.Fatal(err)
	}
	fwd, _ := getRoots(t, cl, "/v1/connect/ca/roots") // forwarded to the server
	if fwd.ActiveRootID != roots.ActiveRootID {
		t.Fatalf("forwarded roots %+v", fwd)
	}
}

// TestConnectCADisabled: with connect.enabled false every CA endpoint
// answers as Consul's.
func TestConnectCADisabled(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.Connect.Enabled = false })
	for _, p := range []string{"/v1/connect/ca/roots", "/v1/agent/connect/ca/roots", "/v1/connect/ca/configuration", "/v1/agent/connect/ca/leaf/web"} {
		ta.expect("GET", p, "", 500, "Connect must be enabled in order to use this endpoint")
	}
	ta.expect("PUT", "/v1/connect/ca/configuration", `{"Provider":"consul"}`, 500, "Connect must be enabled in order to use this endpoint")
	if ta.store.snapshot().connectCA != nil {
		t.Fatal("a CA was made with Connect disabled")
	}
}

// TestConnectCAConfigFile: the connect block of a config file.
func TestConnectCAConfigFile(t *testing.T) {
	t.Parallel()
	key, _ := generateCAKey("ec", 384)
	for _, tc := range []struct{ name, json, err string }{
		{"ok", `{"connect":{"enabled":true,"ca_provider":"consul","ca_config":{"leaf_cert_ttl":"24h","private_key":` + jsonString(key) + `}}}`, ""},
		{"off", `{"connect":{"enabled":false}}`, ""},
		{"vault", `{"connect":{"ca_provider":"vault"}}`, `CA provider "vault" is not supported`},
		{"short leaf", `{"connect":{"ca_config":{"leaf_cert_ttl":"10m"}}}`, "leaf cert TTL must be greater or equal than 1h0m0s"},
		{"bits", `{"connect":{"ca_config":{"private_key_type":"rsa","private_key_bits":1024}}}`, "RSA key length must be 2048 or 4096 bits"},
		{"unknown", `{"connect":{"ca_config":{"bogus":1}}}`, `unknown config key "connect.ca_config.bogus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "c.json")
			os.WriteFile(f, []byte(tc.json), 0o600)
			cfg, _, err := loadConfig([]string{"-dev", "-config-file", f})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "ok" {
				s, err := parseCASettings(cfg.Connect.caConfigMap())
				if err != nil || s.LeafTTL != 24*time.Hour || s.KeyType != "ec" || s.KeyBits != 384 || !cfg.Connect.Enabled {
					t.Fatalf("settings %+v %v", s, err)
				}
			}
		})
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestConnectCASnapshot: the CA, keys included, goes through a snapshot.
func TestConnectCASnapshot(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")
	st := ta.store.snapshot()
	var buf strings.Builder
	if err := writeSnapshot(st, &buf); err != nil {
		t.Fatal(err)
	}
	got, err := readSnapshot(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(st.connectCA)
	b, _ := json.Marshal(got.connectCA)
	if string(a) != string(b) || got.connectCA.activeRoot().PrivateKey == "" {
		t.Fatalf("CA after a snapshot:\n%s\nwant\n%s", b, a)
	}
}

// FuzzCheckCSR: no input makes the check panic, and whatever it accepts
// is a validly self-signed CSR for one service of this trust domain and
// datacenter.
func FuzzCheckCSR(f *testing.F) {
	const td = "11111111-2222-3333-4444-555555555555.consul"
	for _, id := range []spiffeService{{td, "default", "dc1", "web"}, {"other.consul", "default", "dc1", "web"}, {td, "default", "dc2", "db"}} {
		_, csr, _ := newLeafRequest(id)
		f.Add(csr)
	}
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Fuzz(func(t *testing.T, csrPEM string) {
		csr, id, err := checkCSR(csrPEM, td, "dc1")
		if err != nil {
			return
		}
		if csr.CheckSignature() != nil || len(csr.URIs) != 1 || id.TrustDomain != td || id.Datacenter != "dc1" || id.Namespace != "default" {
			t.Fatalf("accepted %+v", id)
		}
	})
}

// BenchmarkConnectCASign: leaves signed per second by a dev leader (CSR
// check, one Raft write for the serial, the signature).
func BenchmarkConnectCASign(b *testing.B) {
	a, _ := benchAgent(b)
	var ca *connectCAState
	eventually(b, 10*time.Second, "the leader's CA", func() bool {
		ca = a.store.snapshot().connectCA
		return ca != nil
	})
	_, csr, _ := newLeafRequest(spiffeService{ca.trustDomain(), "default", a.cfg.Datacenter, "web"})
	ctx := context.Background()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.signCSR(ctx, csr); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "CSRs/s")
}

// BenchmarkConnectCARotationToLeaf: from a PUT of a new root key until the
// agent holds a leaf of the new root (its blocking leaf read returns it).
func BenchmarkConnectCARotationToLeaf(b *testing.B) {
	a, base := benchAgent(b)
	ctx := context.Background()
	var leaf *IssuedCert
	for leaf == nil {
		leaf, _, _ = a.connectLeaf(ctx, "web", 0, 0)
	}
	var total time.Duration
	for b.Loop() {
		key, _ := generateCAKey("ec", 256)
		body, _ := json.Marshal(CAConfiguration{Provider: "consul", Config: map[string]any{"PrivateKey": key}})
		req, _ := http.NewRequest("PUT", base+"/v1/connect/ca/configuration", strings.NewReader(string(body)))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
		resp.Body.Close()
		active := a.store.snapshot().connectCA.activeRoot().SigningKeyID
		for colonHex(pemCerts(b, leaf.CertPEM)[0].AuthorityKeyId) != active {
			if leaf, _, err = a.connectLeaf(ctx, "web", leaf.ModifyIndex, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/rotation-to-leaf")
}

// TestConnectCALeafTTL: ca_config.leaf_cert_ttl sets the leaves' lifetime
// and shows in the configuration.
func TestConnectCALeafTTL(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.Connect.LeafCertTTL = 2 * time.Hour })
	leaf, _ := getLeaf(t, ta, "/v1/agent/connect/ca/leaf/web")
	if life := leaf.ValidBefore.Sub(leaf.ValidAfter); life != 2*time.Hour {
		t.Fatalf("leaf lifetime %v, want 2h", life)
	}
	var conf CAConfiguration
	if ta.must("GET", "/v1/connect/ca/configuration", "", &conf); conf.Config["LeafCertTTL"] != "2h" {
		t.Fatalf("configuration %+v", conf.Config)
	}
}

// TestConnectCALeafRenewAt: a leaf is renewed between 60% and 90% of its
// lifetime, at a different point each time.
func TestConnectCALeafRenewAt(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cert := &IssuedCert{ValidAfter: start, ValidBefore: start.Add(72 * time.Hour)}
	seen := map[time.Time]bool{}
	for range 100 {
		at := leafRenewAt(cert)
		if at.Before(start.Add(43*time.Hour+12*time.Minute)) || at.After(start.Add(64*time.Hour+48*time.Minute)) {
			t.Fatalf("renewal at %v after issue", at.Sub(start))
		}
		seen[at] = true
	}
	if len(seen) < 90 {
		t.Fatalf("only %d distinct renewal times in 100", len(seen))
	}
}
