// cli_tls.go: `tls ca create` and `tls cert create`, Consul's commands that
// make a private CA for the agents and certificates signed by it, with
// Consul's flags, file names, output lines and defaults (command/tls and
// tlsutil/generate.go): EC P-256 keys (SEC 1 PEM, mode 0600), a CA valid
// 1825 days, certificates 365 days; a server certificate names
// server.<dc>.<domain>, localhost and 127.0.0.1 and carries serverAuth and
// clientAuth (RFC 5280 §4.2.1.12: it is also the client certificate of a
// server's outgoing RPC).
//
// Data flow: flags → a template → x509.CreateCertificate → PEM files in
// the working directory, never over an existing file (a certificate takes
// the next free -N suffix).
//
// Concurrency: none; a command runs once in its own process.
package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

func tlsCommands() []cliCommand {
	return []cliCommand{
		{name: "tls", synopsis: "Builtin helpers for creating CAs and certificates", help: `Usage: consul tls <subcommand> <subcommand> [options]

  This command has subcommands for interacting with Consul TLS.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a CA

    $ consul tls ca create

  Create a server certificate

    $ consul tls cert create -server

  Create a client certificate

    $ consul tls cert create -client

  For more examples, ask for subcommand help or view the documentation.`},
		{name: "tls ca", synopsis: "Helpers for CAs", help: `Usage: consul tls ca <subcommand> [options]

  This command has subcommands for interacting with Certificate Authorities.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a CA

    $ consul tls ca create
    ==> saved consul-agent-ca.pem
    ==> saved consul-agent-ca-key.pem

  For more examples, ask for subcommand help or view the documentation.`},
		{name: "tls ca create", synopsis: "Create a new consul CA",
			help: cliFlagsUsage(tlsCACreateHelp, newTLSCACreateFlags(&tlsCAOpts{})), run: tlsCACreate},
		{name: "tls cert", synopsis: "Helpers for certificates", help: `Usage: consul tls cert <subcommand> [options]

  This command has subcommands for interacting with certificates

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a certificate

    $ consul tls cert create -server
    ==> saved dc1-server-consul.pem
    ==> saved dc1-server-consul-key.pem

  Create a certificate with your own CA:

    $ consul tls cert create -server -ca my-ca.pem -key my-ca-key.pem
    ==> saved dc1-server-consul.pem
    ==> saved dc1-server-consul-key.pem

  For more examples, ask for subcommand help or view the documentation.`},
		{name: "tls cert create", synopsis: "Create a new certificate",
			help: cliFlagsUsage(tlsCertCreateHelp, newTLSCertCreateFlags(&tlsCertOpts{})), run: tlsCertCreate},
	}
}

const tlsCACreateHelp = `Usage: consul tls ca create [options]

  Create a new consul CA:

  $ consul tls ca create
  ==> saved consul-agent-ca.pem
  ==> saved consul-agent-ca-key.pem`

const tlsCertCreateHelp = `Usage: consul tls cert create [options]

  Create a new certificate

  $ consul tls cert create -server
  ==> WARNING: Server Certificates grants authority to become a
      server and access all state in the cluster including root keys
      and all ACL tokens. Do not distribute them to production hosts
      that are not server nodes. Store them as securely as CA keys.
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-server-consul-0.pem
  ==> Saved dc1-server-consul-0-key.pem
  $ consul tls cert create -client
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-client-consul-0.pem
  ==> Saved dc1-client-consul-0-key.pem`

type tlsCAOpts struct {
	days        int
	domain      string
	constraint  bool
	clusterID   string
	commonName  string
	constraints cliListFlag
}

func newTLSCACreateFlags(o *tlsCAOpts) *cliFlags {
	f := newCLIFlags(false, false)
	f.IntVar(&o.days, "days", 1825, "Number of days the CA is valid for. Defaults to 1825 days (approximately 5 years).")
	f.BoolVar(&o.constraint, "name-constraint", false, "Enables X.509 name constraints for the CA. If used, the CA only signs certificates for localhost and the domains specified by -domain and -additional-name-constraint. If Consul's UI is served over HTTPS in your deployment, add its DNS name with -additional-constraint. Defaults to false.")
	f.StringVar(&o.domain, "domain", "consul", "The DNS domain of the Consul cluster that agents are configured with. Defaults to consul. Only used when -name-constraint is set. Additional domains can be passed with -additional-name-constraint.")
	f.StringVar(&o.clusterID, "cluster-id", "", "ID of the Consul cluster. Sets the CA's URI with the SPIFFEID composed of the cluster ID and domain  (specified by -domain or 'consul' by default).")
	f.StringVar(&o.commonName, "common-name", "", "Common Name of CA. Defaults to Consul Agent CA.")
	f.Var(&o.constraints, "additional-name-constraint", "Add name constraints for the CA. Results in rejecting certificates for other DNS than specified. Can be used multiple times. Only used in combination with -name-constraint.")
	return f
}

// tlsSerial is a random 128-bit serial (RFC 5280 §4.1.2.2: positive, at
// most 20 octets).
func tlsSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n
}

func tlsCACreate(c *cliEnv, args []string) int {
	var o tlsCAOpts
	f := newTLSCACreateFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	certFile, keyFile := o.domain+"-agent-ca.pem", o.domain+"-agent-ca-key.pem"
	for _, name := range []string{certFile, keyFile} {
		if _, err := os.Stat(name); err == nil {
			c.errorf("%s already exists.", name)
			return 1
		}
	}
	keyPEM, err := generateCAKey("ec", 256)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	key, _ := parseCAKey(keyPEM)
	id, err := caKeyID(key.Public())
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	sn := tlsSerial()
	name := o.commonName
	if name == "" {
		name = fmt.Sprintf("Consul Agent CA %d", sn)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject: pkix.Name{Country: []string{"US"}, PostalCode: []string{"94105"}, Province: []string{"CA"},
			Locality: []string{"San Francisco"}, StreetAddress: []string{"101 Second Street"},
			Organization: []string{"HashiCorp Inc."}, CommonName: name},
		BasicConstraintsValid: true, IsCA: true,
		KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		NotBefore: now, NotAfter: now.AddDate(0, 0, o.days),
		SubjectKeyId: id, AuthorityKeyId: id,
	}
	if o.clusterID != "" { // the trust domain's SPIFFE ID (connect_spiffe.go), as Consul's SpiffeIDSigning
		tmpl.URIs = []*url.URL{spiffeTrustDomainURI(o.clusterID + "." + o.domain)}
	}
	if o.constraint {
		tmpl.PermittedDNSDomainsCritical = true
		tmpl.PermittedDNSDomains = append(append([]string{}, o.constraints...), o.domain, "localhost")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		c.errorf("error generating CA certificate: %s", err)
		return 1
	}
	return tlsSave(c, certFile, encodeCert(der), keyFile, keyPEM)
}

// tlsSave writes a certificate (0644) and its key (0600), each saying so.
func tlsSave(c *cliEnv, certFile, certPEM, keyFile, keyPEM string) int {
	for _, f := range []struct {
		name, data string
		mode       os.FileMode
	}{{certFile, certPEM, 0o644}, {keyFile, keyPEM, 0o600}} {
		err := writeFileAtomic(f.name, f.name+".tmp", func(w io.Writer) error {
			_, err := io.WriteString(w, f.data)
			return err
		})
		if err == nil {
			err = os.Chmod(f.name, f.mode)
		}
		if err != nil {
			c.errorf("%v", err)
			return 1
		}
		fmt.Fprintln(c.stdout, "==> Saved "+f.name)
	}
	return 0
}

type tlsCertOpts struct {
	ca, key, dc, domain, node string
	server, client, cli       bool
	days                      int
	dnsNames, ipAddresses     cliListFlag
}

func newTLSCertCreateFlags(o *tlsCertOpts) *cliFlags {
	f := newCLIFlags(false, false)
	f.StringVar(&o.ca, "ca", "#DOMAIN#-agent-ca.pem", "Provide path to the ca. Defaults to #DOMAIN#-agent-ca.pem.")
	f.StringVar(&o.key, "key", "#DOMAIN#-agent-ca-key.pem", "Provide path to the key. Defaults to #DOMAIN#-agent-ca-key.pem.")
	f.BoolVar(&o.server, "server", false, "Generate server certificate.")
	f.BoolVar(&o.client, "client", false, "Generate client certificate.")
	f.StringVar(&o.node, "node", "", "When generating a server cert and this is set an additional dns name is included of the form <node>.server.<datacenter>.<domain>.")
	f.BoolVar(&o.cli, "cli", false, "Generate cli certificate.")
	f.IntVar(&o.days, "days", 365, "Provide number of days the certificate is valid for from now on. Defaults to 1 year.")
	f.StringVar(&o.dc, "dc", "dc1", "Provide the datacenter. Matters only for -server certificates. Defaults to dc1.")
	f.StringVar(&o.domain, "domain", "consul", "Provide the domain. Matters only for -server certificates.")
	f.Var(&o.dnsNames, "additional-dnsname", "Provide an additional dnsname for Subject Alternative Names. localhost is always included. This flag may be provided multiple times.")
	f.Var(&o.ipAddresses, "additional-ipaddress", "Provide an additional ipaddress for Subject Alternative Names. 127.0.0.1 is always included. This flag may be provided multiple times.")
	return f
}

func tlsCertCreate(c *cliEnv, args []string) int {
	var o tlsCertOpts
	f := newTLSCertCreateFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	switch {
	case o.ca == "":
		c.errorf("Please provide the ca")
		return 1
	case o.key == "":
		c.errorf("Please provide the key")
		return 1
	case btoi(o.server)+btoi(o.client)+btoi(o.cli) != 1:
		c.errorf("Please provide either -server, -client, or -cli")
		return 1
	case o.node != "" && !o.server:
		c.errorf("-node requires -server")
		return 1
	}
	var dnsNames []string
	var ips []net.IP
	for _, d := range o.dnsNames {
		if d != "" {
			dnsNames = append(dnsNames, strings.TrimSpace(d))
		}
	}
	for _, s := range o.ipAddresses {
		if s != "" {
			ips = append(ips, net.ParseIP(strings.TrimSpace(s)))
		}
	}
	var kind string
	var usage []x509.ExtKeyUsage
	switch {
	case o.server:
		kind, usage = "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if o.node != "" {
			dnsNames = append(dnsNames, fmt.Sprintf("%s.server.%s.%s", o.node, o.dc, o.domain))
		}
	case o.client:
		kind, usage = "client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	default:
		kind = "cli"
	}
	name := fmt.Sprintf("%s.%s.%s", kind, o.dc, o.domain)
	if o.cli {
		dnsNames = []string{name, "localhost"}
	} else {
		dnsNames = append(dnsNames, name, "localhost")
		ips = append(ips, net.ParseIP("127.0.0.1"))
	}
	prefix := fmt.Sprintf("%s-%s-%s", o.dc, kind, o.domain)
	var certFile, keyFile string
	for i := 0; certFile == ""; i++ {
		if i > 10000 {
			c.errorf("Could not find a filename that doesn't already exist")
			return 1
		}
		cf, kf := fmt.Sprintf("%s-%d.pem", prefix, i), fmt.Sprintf("%s-%d-key.pem", prefix, i)
		if !fileExists(cf) && !fileExists(kf) {
			certFile, keyFile = cf, kf
		}
	}
	caFile := strings.Replace(o.ca, "#DOMAIN#", o.domain, 1)
	caKeyFile := strings.Replace(o.key, "#DOMAIN#", o.domain, 1)
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		c.errorf("Error reading CA: %s", err)
		return 1
	}
	caKeyPEM, err := os.ReadFile(caKeyFile)
	if err != nil {
		c.errorf("Error reading CA key: %s", err)
		return 1
	}
	if o.server {
		fmt.Fprintln(c.stdout, `==> WARNING: Server Certificates grants authority to become a
    server and access all state in the cluster including root keys
    and all ACL tokens. Do not distribute them to production hosts
    that are not server nodes. Store them as securely as CA keys.`)
	}
	fmt.Fprintln(c.stdout, "==> Using "+caFile+" and "+caKeyFile)
	signer, err := parseCAKey(string(caKeyPEM))
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	ca, err := parseCertPEM(string(caPEM))
	if err != nil {
		c.errorf("failed to parse CA: %v", err)
		return 1
	}
	keyPEM, err := generateCAKey("ec", 256)
	if err != nil {
		c.errorf("failed to generate private key: %v", err)
		return 1
	}
	key, _ := parseCAKey(keyPEM)
	id, err := caKeyID(key.Public())
	if err != nil {
		c.errorf("failed to get keyID from public key: %v", err)
		return 1
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: tlsSerial(), Subject: pkix.Name{CommonName: name},
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           usage,
		NotBefore:             now, NotAfter: now.AddDate(0, 0, o.days),
		SubjectKeyId: id, DNSNames: dnsNames, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), signer)
	if err != nil {
		c.errorf("failed to create certificate: %v", err)
		return 1
	}
	// Consul checks the new certificate against the CA for its name.
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		c.errorf("%v", err)
		return 1
	}
	return tlsSave(c, certFile, encodeCert(der), keyFile, keyPEM)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
