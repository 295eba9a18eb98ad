// connect_ca.go: the built-in CA's cryptography (Consul's "consul" CA
// provider), pure functions over keys and certificates.
//
// The CA of a datacenter is a self-signed root whose only SAN is the trust
// domain's SPIFFE ID, spiffe://<cluster-id>.consul (SPIFFE X.509-SVID §4.1:
// a signing certificate has CA:TRUE and keyCertSign). Every service gets a
// leaf signed directly by the active root:
//
//	agent: key + CSR (URI SAN = the service's SPIFFE ID) ──CSR──▶ leader
//	leader: checkCSR (signature, trust domain, datacenter) → signLeaf
//	rotation: new root; the new root cross-signed by the old key rides in
//	the new root's IntermediateCerts, and is appended to every new leaf,
//	so a peer that still trusts only the old root verifies new leaves;
//	old leaves verify against the old root, which stays in the roots.
//
// Names and shapes follow Consul 1.22.7 (checked with openssl on the real
// binary's certificates): the root's CN is "pri-<uid>.consul.ca.<first 8 of
// the cluster ID>.consul"; a root's ID is the SHA-1 fingerprint of its DER
// and its SigningKeyID the Subject Key Identifier, both lowercase colon
// hex; key identifiers are SHA-256 of the PKIX public key (Consul's
// connect.KeyId: RFC 5280 §4.2.1.2 allows any method); a leaf has an empty
// subject, so its SAN extension is critical (RFC 5280 §4.2.1.6), CA:FALSE,
// key usage digitalSignature, keyEncipherment, dataEncipherment and
// keyAgreement, extended key usage clientAuth and serverAuth, and is valid
// from one minute in the past (clock drift) for the leaf TTL.
//
// Nothing here touches the state store or the clock except through its
// arguments: the leader decides serials and times (server_connect_ca.go).
// No state, no concurrency.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Consul's defaults and bounds for the CA (structs.CommonCAProviderConfig).
const (
	caDefaultLeafTTL         = 72 * time.Hour
	caDefaultIntermediateTTL = 8760 * time.Hour
	caDefaultRootTTL         = 87600 * time.Hour
	caMinLeafTTL             = time.Hour
	caMaxLeafTTL             = 365 * 24 * time.Hour
	caCrossSignTTL           = 7 * 24 * time.Hour // a cross-signed root lives this long (Consul's SignIntermediate)
	caClockSkew              = time.Minute        // leaves are valid from this long ago
	caRootName               = "Consul CA Primary Cert"
)

// caSettings is the consul provider's configuration, decoded from the
// Config map of /v1/connect/ca/configuration or the agent's ca_config.
type caSettings struct {
	PrivateKey      string
	RootCert        string
	LeafTTL         time.Duration
	IntermediateTTL time.Duration
	RootTTL         time.Duration
	KeyType         string // "ec" or "rsa"
	KeyBits         int
}

// parseCASettings reads a provider Config map (Consul's field names, or
// the config file's snake_case ones), filling in Consul's defaults, and
// checks it as Consul's CommonCAProviderConfig.Validate does, with its
// messages.
func parseCASettings(m map[string]any) (caSettings, error) {
	s := caSettings{LeafTTL: caDefaultLeafTTL, IntermediateTTL: caDefaultIntermediateTTL, RootTTL: caDefaultRootTTL,
		KeyType: "ec", KeyBits: 256}
	for k, v := range m {
		var err error
		switch strings.ToLower(strings.ReplaceAll(k, "_", "")) {
		case "privatekey":
			s.PrivateKey, err = caString(k, v)
		case "rootcert":
			s.RootCert, err = caString(k, v)
		case "leafcertttl":
			s.LeafTTL, err = caDuration(k, v)
		case "intermediatecertttl":
			s.IntermediateTTL, err = caDuration(k, v)
		case "rootcertttl":
			s.RootTTL, err = caDuration(k, v)
		case "privatekeytype":
			s.KeyType, err = caString(k, v)
		case "privatekeybits":
			s.KeyBits, err = caInt(k, v)
		}
		if err != nil {
			return s, err
		}
	}
	if s.PrivateKey != "" {
		// The key decides its own type and size (Consul's provider does too).
		signer, err := parseCAKey(s.PrivateKey)
		if err != nil {
			return s, err
		}
		s.KeyType, s.KeyBits = caKeyKind(signer.Public())
	}
	switch {
	case s.RootTTL < s.IntermediateTTL:
		return s, fmt.Errorf("root cert TTL is set and is not greater than intermediate cert ttl. root cert ttl: %s, intermediate cert ttl: %s", s.RootTTL, s.IntermediateTTL)
	case s.LeafTTL < caMinLeafTTL:
		return s, fmt.Errorf("leaf cert TTL must be greater or equal than %s", caMinLeafTTL)
	case s.LeafTTL > caMaxLeafTTL:
		return s, fmt.Errorf("leaf cert TTL must be less than %s", caMaxLeafTTL)
	case s.IntermediateTTL < 3*time.Hour:
		return s, errors.New("Intermediate Cert TTL must be greater or equal than 3h")
	case s.IntermediateTTL < 3*s.LeafTTL:
		return s, fmt.Errorf("Intermediate Cert TTL must be greater or equal than 3 * LeafCertTTL (>=%s).", 3*s.LeafTTL)
	}
	switch s.KeyType {
	case "ec":
		if s.KeyBits != 224 && s.KeyBits != 256 && s.KeyBits != 384 && s.KeyBits != 521 {
			return s, errors.New("EC key length must be one of (224, 256, 384, 521) bits")
		}
	case "rsa":
		if s.KeyBits != 2048 && s.KeyBits != 4096 {
			return s, errors.New("RSA key length must be 2048 or 4096 bits")
		}
	default:
		return s, errors.New("private key type must be either 'ec' or 'rsa'")
	}
	if s.RootCert != "" {
		if s.PrivateKey == "" {
			return s, errors.New("RootCert requires the PrivateKey that signed it")
		}
		if _, err := rootCertForKey(s.RootCert, s.PrivateKey); err != nil {
			return s, err
		}
	}
	return s, nil
}

func caString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", k)
	}
	return s, nil
}

func caDuration(k string, v any) (time.Duration, error) {
	switch v := v.(type) {
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", k, err)
		}
		return d, nil
	case float64: // nanoseconds, as Go's API client may send them
		return time.Duration(v), nil
	}
	return 0, fmt.Errorf("%s must be a duration", k)
}

func caInt(k string, v any) (int, error) {
	switch v := v.(type) {
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s must be an integer", k)
}

// --- keys ---

// generateCAKey makes a private key of the given type and size, PEM
// encoded as Consul writes them ("EC PRIVATE KEY", "RSA PRIVATE KEY").
func generateCAKey(keyType string, bits int) (string, error) {
	var block *pem.Block
	switch keyType {
	case "ec":
		var curve elliptic.Curve
		switch bits {
		case 224:
			curve = elliptic.P224()
		case 256:
			curve = elliptic.P256()
		case 384:
			curve = elliptic.P384()
		case 521:
			curve = elliptic.P521()
		default:
			return "", fmt.Errorf("EC key length must be one of (224, 256, 384, 521) bits")
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", err
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return "", err
		}
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	default:
		return "", errors.New("private key type must be either 'ec' or 'rsa'")
	}
	return string(pem.EncodeToMemory(block)), nil
}

// parseCAKey reads a PEM private key (SEC 1, PKCS #1 or PKCS #8), with
// Consul's message for one it cannot read.
func parseCAKey(keyPEM string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, fmt.Errorf("error parsing private key %q: no PEM-encoded data found", keyPEM)
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("error parsing private key %q: unknown PEM block type %q", keyPEM, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("error parsing private key: %v", err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("error parsing private key: %T is neither an EC nor an RSA key", key)
}

// caKeyKind is a public key's type and size, as a root reports them.
func caKeyKind(pub crypto.PublicKey) (string, int) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ec", k.Curve.Params().BitSize
	case *rsa.PublicKey:
		return "rsa", k.N.BitLen()
	}
	return "", 0
}

// caKeyID is a public key's identifier: SHA-256 of its PKIX encoding
// (Consul's connect.KeyId).
func caKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:], nil
}

// colonHex is bytes as Consul writes IDs and serials: lowercase hex pairs
// joined by colons.
func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// serialString is a certificate serial as Consul's EncodeSerialNumber.
func serialString(n *big.Int) string { return colonHex(n.Bytes()) }

func sigAlgFor(signer crypto.Signer) x509.SignatureAlgorithm {
	if _, ok := signer.Public().(*rsa.PublicKey); ok {
		return x509.SHA256WithRSA
	}
	return x509.ECDSAWithSHA256
}

// --- certificates ---

func parseCertPEM(certPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM-encoded certificate found")
	}
	return x509.ParseCertificate(block.Bytes)
}

func encodeCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// caCommonName is Consul's root CN (connect.CACN): a random unique ID
// (connect.CompactUID, base 36) keeps providers that cache by subject from
// confusing two roots.
func caCommonName(clusterID string) string {
	var raw [8]byte
	rand.Read(raw[:])
	uid := strconv.FormatUint(binary.LittleEndian.Uint64(raw[:]), 36)
	return fmt.Sprintf("pri-%s.consul.ca.%s.consul", uid[:min(8, len(uid))], clusterID[:min(8, len(clusterID))])
}

// newRootCert makes the self-signed root of the trust domain for a key.
func newRootCert(keyPEM, clusterID string, serial uint64, ttl time.Duration, now time.Time) (string, error) {
	signer, err := parseCAKey(keyPEM)
	if err != nil {
		return "", err
	}
	id, err := caKeyID(signer.Public())
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetUint64(serial),
		Subject:               pkix.Name{CommonName: caCommonName(clusterID)},
		URIs:                  []*url.URL{spiffeTrustDomainURI(clusterID + ".consul")},
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		NotBefore:             now,
		NotAfter:              now.Add(ttl),
		SubjectKeyId:          id,
		AuthorityKeyId:        id,
		SignatureAlgorithm:    sigAlgFor(signer),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return "", fmt.Errorf("error generating CA certificate: %v", err)
	}
	return encodeCert(der), nil
}

// rootCertForKey checks a user's root certificate: a CA whose public key
// is the private key's.
func rootCertForKey(certPEM, keyPEM string) (*x509.Certificate, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("error parsing root cert: %v", err)
	}
	signer, err := parseCAKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("root cert is not a CA certificate")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("root cert does not match the private key")
	}
	return cert, nil
}

// caRootOf describes a root certificate as /v1/connect/ca/roots lists it
// (ID, SerialNumber, SigningKeyID, validity, key kind); the caller sets
// Active, IntermediateCerts and the indexes.
func caRootOf(certPEM, keyPEM, clusterID string) (*caStoredRoot, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	fp := sha1.Sum(cert.Raw)
	kt, kb := caKeyKind(cert.PublicKey)
	return &caStoredRoot{CARoot: CARoot{
		ID: colonHex(fp[:]), Name: caRootName, SerialNumber: cert.SerialNumber.Uint64(),
		SigningKeyID: colonHex(cert.SubjectKeyId), ExternalTrustDomain: clusterID,
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
		RootCert: certPEM, PrivateKeyType: kt, PrivateKeyBits: kb,
	}, PrivateKey: keyPEM}, nil
}

// crossSign signs the new root's certificate with the old root's key, as
// the old root's issuer (Consul's SignIntermediate on the old provider):
// a chain leaf → cross-signed new root → old root verifies for a peer that
// trusts only the old root. It lives caCrossSignTTL.
func crossSign(newRootPEM, oldRootPEM, oldKeyPEM string, serial uint64, now time.Time) (string, error) {
	newRoot, err := parseCertPEM(newRootPEM)
	if err != nil {
		return "", err
	}
	oldRoot, err := parseCertPEM(oldRootPEM)
	if err != nil {
		return "", err
	}
	signer, err := parseCAKey(oldKeyPEM)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetUint64(serial),
		Subject:               newRoot.Subject,
		URIs:                  newRoot.URIs,
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              newRoot.KeyUsage,
		NotBefore:             now.Add(-caClockSkew),
		NotAfter:              now.Add(-caClockSkew).Add(caCrossSignTTL),
		SubjectKeyId:          newRoot.SubjectKeyId,
		SignatureAlgorithm:    sigAlgFor(signer),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, oldRoot, newRoot.PublicKey, signer)
	if err != nil {
		return "", fmt.Errorf("error cross-signing the new root: %v", err)
	}
	return encodeCert(der), nil
}

// --- leaves ---

// csrError is a CSR the CA refuses (Consul's connect.InvalidCSRError).
type csrError struct{ msg string }

func (e *csrError) Error() string { return e.msg }

func invalidCSR(format string, args ...any) error { return &csrError{fmt.Sprintf(format, args...)} }

// checkCSR reads a PEM CSR and checks what the CA signs: a valid
// self-signature (proof the requester holds the key, PKCS #10 §3), and
// exactly one URI SAN naming a service of this trust domain and
// datacenter (SPIFFE X.509-SVID §2: one SPIFFE ID per SVID).
func checkCSR(csrPEM, trustDomain, datacenter string) (*x509.CertificateRequest, spiffeService, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, spiffeService{}, invalidCSR("no PEM-encoded CERTIFICATE REQUEST found")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, spiffeService{}, invalidCSR("error parsing CSR: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, spiffeService{}, invalidCSR("CSR signature invalid: %v", err)
	}
	if len(csr.URIs) != 1 {
		return nil, spiffeService{}, invalidCSR("CSR SAN contains %d URIs, it must have exactly one SPIFFE ID", len(csr.URIs))
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		if _, ok := csr.PublicKey.(*rsa.PublicKey); !ok {
			return nil, spiffeService{}, invalidCSR("CSR public key must be EC or RSA")
		}
	}
	id, err := parseSpiffeService(csr.URIs[0].String())
	if err != nil {
		return nil, spiffeService{}, invalidCSR("SPIFFE ID in CSR must be a service ID: %v", err)
	}
	switch {
	case !strings.EqualFold(id.TrustDomain, trustDomain):
		return nil, id, invalidCSR("SPIFFE ID in CSR from a different trust domain: %s, we are %s", id.TrustDomain, trustDomain)
	case id.Datacenter != datacenter:
		return nil, id, invalidCSR("SPIFFE ID in CSR from a different datacenter: %s, we are %s", id.Datacenter, datacenter)
	case id.Namespace != "default":
		return nil, id, invalidCSR("SPIFFE ID in CSR from a namespace other than default: %s", id.Namespace)
	}
	return csr, id, nil
}

// signLeaf issues a checked CSR's certificate under the root (rootPEM,
// keyPEM), valid from now minus the clock skew for ttl.
func signLeaf(csr *x509.CertificateRequest, rootPEM, keyPEM string, serial uint64, ttl time.Duration, now time.Time) (string, *x509.Certificate, error) {
	root, err := parseCertPEM(rootPEM)
	if err != nil {
		return "", nil, err
	}
	signer, err := parseCAKey(keyPEM)
	if err != nil {
		return "", nil, err
	}
	return signLeafWith(csr, root, signer, serial, ttl, now)
}

func signLeafWith(csr *x509.CertificateRequest, root *x509.Certificate, signer crypto.Signer, serial uint64, ttl time.Duration, now time.Time) (string, *x509.Certificate, error) {
	ski, err := caKeyID(csr.PublicKey)
	if err != nil {
		return "", nil, err
	}
	start := now.Add(-caClockSkew)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetUint64(serial),
		URIs:                  csr.URIs,
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		NotBefore:          start,
		NotAfter:           start.Add(ttl),
		SubjectKeyId:       ski,
		SignatureAlgorithm: sigAlgFor(signer),
	}
	// An empty subject makes crypto/x509 mark the SAN extension critical
	// (RFC 5280 §4.2.1.6).
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, signer)
	if err != nil {
		return "", nil, fmt.Errorf("error generating certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", nil, err
	}
	return encodeCert(der), cert, nil
}

// newLeafRequest is what an agent does before asking for a leaf: an EC
// P-256 key (kept on the agent) and a CSR naming the service's SPIFFE ID.
func newLeafRequest(id spiffeService) (keyPEM, csrPEM string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		URIs: []*url.URL{id.URI()}, SignatureAlgorithm: x509.ECDSAWithSHA256}, k)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})), nil
}
