// config_tls.go: the TLS settings of the configuration, as Consul ≥ 1.12
// reads them: the `tls` block with its stanzas `defaults`, `internal_rpc`,
// `https` and `grpc`, and the legacy top-level keys (`ca_file`,
// `verify_incoming`, `verify_server_hostname`, …) mapped onto it.
//
// Data flow: the loader (config.go) stores each stanza's keys as written,
// unset ones nil (config_keys.go's table points here: cfgTLSKeys). Once
// every source is merged, Config.finish calls resolveTLS, which applies
// Consul's rules (agent/config/builder.go buildTLSConfig and
// deprecated.go applyDeprecatedTLSConfig):
//   - a legacy key fills its new key only where that is unset, after all
//     sources: `ca_file`, `ca_path`, `cert_file`, `key_file`,
//     `tls_min_version`, `tls_cipher_suites`, `verify_incoming`,
//     `verify_outgoing` → tls.defaults; `verify_server_hostname` and
//     `verify_incoming_rpc` → tls.internal_rpc; `verify_incoming_https` →
//     tls.https;
//   - each of internal_rpc, https and grpc inherits every unset key from
//     defaults (grpc never verify_outgoing);
//   - verify_server_hostname is valid in defaults and internal_rpc only,
//     verify_outgoing not in grpc, and it implies verify_outgoing on
//     internal RPC (CVE-2018-19653);
//   - tls_min_version is one of TLSv1_0…TLSv1_3 or TLS_AUTO (TLS 1.2), the
//     legacy tls10…tls13 accepted; cipher suites are a comma-separated list
//     of Consul's ten ECDHE suites, and not configurable with TLS 1.3
//     (RFC 8446 §4.1.2: TLS 1.3's suites are fixed by the implementation).
//
// Each legacy key set leaves Consul's deprecation warning in Deprecated.
// The result, tlsProtocol for internal RPC and for HTTPS, names files;
// agent_tls.go loads them (and checks what needs the files: a CA for
// verify_incoming, a key matching the certificate).
//
// Concurrency: none; a Config is built by one goroutine, then only read.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// tlsStanza is one stanza of the tls block (or the legacy top-level keys)
// as written: nil where unset, so that inheritance can tell.
type tlsStanza struct {
	CAFile, CAPath, CertFile, KeyFile   *string
	TLSMinVersion, TLSCipherSuites      *string
	VerifyIncoming, VerifyOutgoing      *bool
	VerifyServerHostname, UseAutoCert   *bool
	VerifyIncomingRPC, VerifyIncomingHS *bool // legacy verify_incoming_rpc, verify_incoming_https only
}

// TLSConfig is the tls block as written, and what resolveTLS derives.
type TLSConfig struct {
	Defaults, InternalRPC, HTTPS, GRPC tlsStanza
	Legacy                             tlsStanza // the deprecated top-level keys

	RPC tlsProtocol // internal RPC (server port), resolved
	API tlsProtocol // the HTTPS listener, resolved

	// Deprecated holds Consul's warning for each legacy key set, which
	// the agent logs when it starts.
	Deprecated []string
}

// tlsProtocol is one protocol's resolved settings.
type tlsProtocol struct {
	CAFile, CAPath, CertFile, KeyFile string
	VerifyIncoming, VerifyOutgoing    bool
	VerifyServerHostname              bool // internal RPC only
	MinVersion                        uint16
	CipherSuites                      []uint16 // nil: Go's defaults
}

// cfgTLSKeys are the top-level keys this file reads: the tls block and
// the legacy keys.
func cfgTLSKeys() map[string]configKey {
	stanza := func(s func(*Config) *tlsStanza) configKey {
		str := func(f func(*tlsStanza) **string) configKey {
			return cfgStore(cfgPtr(cfgAs[string]), func(c *Config) **string { return f(s(c)) })
		}
		flag := func(f func(*tlsStanza) **bool) configKey {
			return cfgStore(cfgPtr(cfgBoolish), func(c *Config) **bool { return f(s(c)) })
		}
		return cfgBlock(map[string]configKey{
			"ca_file":                str(func(t *tlsStanza) **string { return &t.CAFile }),
			"ca_path":                str(func(t *tlsStanza) **string { return &t.CAPath }),
			"cert_file":              str(func(t *tlsStanza) **string { return &t.CertFile }),
			"key_file":               str(func(t *tlsStanza) **string { return &t.KeyFile }),
			"tls_min_version":        str(func(t *tlsStanza) **string { return &t.TLSMinVersion }),
			"tls_cipher_suites":      str(func(t *tlsStanza) **string { return &t.TLSCipherSuites }),
			"verify_incoming":        flag(func(t *tlsStanza) **bool { return &t.VerifyIncoming }),
			"verify_outgoing":        flag(func(t *tlsStanza) **bool { return &t.VerifyOutgoing }),
			"verify_server_hostname": flag(func(t *tlsStanza) **bool { return &t.VerifyServerHostname }),
			"use_auto_cert":          flag(func(t *tlsStanza) **bool { return &t.UseAutoCert }),
		})
	}
	legacy := stanza(func(c *Config) *tlsStanza { return &c.TLS.Legacy }).fields
	keys := map[string]configKey{
		"tls": cfgBlock(map[string]configKey{
			"defaults":     stanza(func(c *Config) *tlsStanza { return &c.TLS.Defaults }),
			"internal_rpc": stanza(func(c *Config) *tlsStanza { return &c.TLS.InternalRPC }),
			"https":        stanza(func(c *Config) *tlsStanza { return &c.TLS.HTTPS }),
			"grpc":         stanza(func(c *Config) *tlsStanza { return &c.TLS.GRPC }),
		}),
		"verify_incoming_rpc": cfgStore(cfgPtr(cfgBoolish), func(c *Config) **bool { return &c.TLS.Legacy.VerifyIncomingRPC }),
		"verify_incoming_https": cfgStore(cfgPtr(cfgBoolish),
			func(c *Config) **bool { return &c.TLS.Legacy.VerifyIncomingHS }),
	}
	for name, k := range legacy {
		if name != "use_auto_cert" { // not a top-level key in Consul
			keys[name] = k
		}
	}
	return keys
}

// cfgBoolish decodes a boolean, or a string Consul's weak decoding reads
// as one ("true", "false", "1", …).
func cfgBoolish(v any) (bool, error) {
	if s, ok := v.(string); ok {
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
	}
	return cfgAs[bool](v)
}

// cfgPtr decodes a value and keeps it by pointer, so unset stays nil.
func cfgPtr[T any](decode func(any) (T, error)) func(any) (*T, error) {
	return func(v any) (*T, error) {
		x, err := decode(v)
		if err != nil {
			return nil, err
		}
		return &x, nil
	}
}

// tlsVersions are Consul's tls_min_version values (types/tls.go), the
// legacy spellings included; TLS_AUTO (and unset) is TLS 1.2.
var tlsVersions = map[string]uint16{
	"TLS_AUTO": tls.VersionTLS12, "TLSv1_0": tls.VersionTLS10, "TLSv1_1": tls.VersionTLS11,
	"TLSv1_2": tls.VersionTLS12, "TLSv1_3": tls.VersionTLS13,
	"tls10": tls.VersionTLS10, "tls11": tls.VersionTLS11, "tls12": tls.VersionTLS12, "tls13": tls.VersionTLS13,
}

// tlsCipherSuites are the suites Consul's agent accepts (types/tls.go
// consulAgentTLSCipherSuites), by IANA name.
var tlsCipherSuites = map[string]uint16{
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA":          tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256":       tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA":          tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384":       tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA":            tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":         tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA":            tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384":         tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// resolveTLS applies the legacy keys and the inheritance from defaults,
// and checks the stanzas, with Consul's messages.
func (c *Config) resolveTLS() error {
	t := &c.TLS
	legacy := t.Legacy
	t.Deprecated = nil
	deprecated := func(set bool, old, new string) {
		if set {
			t.Deprecated = append(t.Deprecated, fmt.Sprintf("The '%s' field is deprecated. Use the '%s' field instead.", old, new))
		}
	}
	orDefault := func(dst **string, v *string, old, new string) {
		if *dst == nil {
			*dst = v
		}
		deprecated(v != nil, old, new)
	}
	orDefaultBool := func(dst **bool, v *bool, old, new string) {
		if *dst == nil {
			*dst = v
		}
		deprecated(v != nil, old, new)
	}
	orDefault(&t.Defaults.CAFile, legacy.CAFile, "ca_file", "tls.defaults.ca_file")
	orDefault(&t.Defaults.CAPath, legacy.CAPath, "ca_path", "tls.defaults.ca_path")
	orDefault(&t.Defaults.CertFile, legacy.CertFile, "cert_file", "tls.defaults.cert_file")
	orDefault(&t.Defaults.KeyFile, legacy.KeyFile, "key_file", "tls.defaults.key_file")
	orDefault(&t.Defaults.TLSCipherSuites, legacy.TLSCipherSuites, "tls_cipher_suites", "tls.defaults.tls_cipher_suites")
	orDefault(&t.Defaults.TLSMinVersion, legacy.TLSMinVersion, "tls_min_version", "tls.defaults.tls_min_version")
	orDefaultBool(&t.Defaults.VerifyIncoming, legacy.VerifyIncoming, "verify_incoming", "tls.defaults.verify_incoming")
	orDefaultBool(&t.HTTPS.VerifyIncoming, legacy.VerifyIncomingHS, "verify_incoming_https", "tls.https.verify_incoming")
	orDefaultBool(&t.InternalRPC.VerifyIncoming, legacy.VerifyIncomingRPC, "verify_incoming_rpc", "tls.internal_rpc.verify_incoming")
	orDefaultBool(&t.Defaults.VerifyOutgoing, legacy.VerifyOutgoing, "verify_outgoing", "tls.defaults.verify_outgoing")
	orDefaultBool(&t.InternalRPC.VerifyServerHostname, legacy.VerifyServerHostname, "verify_server_hostname", "tls.internal_rpc.verify_server_hostname")

	switch {
	case t.GRPC.VerifyOutgoing != nil:
		return errors.New("verify_outgoing is not valid in the tls.grpc stanza")
	case t.GRPC.VerifyServerHostname != nil || t.HTTPS.VerifyServerHostname != nil:
		return errors.New("verify_server_hostname is only valid in the tls.defaults and tls.internal_rpc stanzas")
	case t.Defaults.UseAutoCert != nil || t.HTTPS.UseAutoCert != nil || t.InternalRPC.UseAutoCert != nil:
		return errors.New("use_auto_cert is only valid in the tls.grpc stanza")
	}
	defaultVersion, err := tlsParseVersion("defaults", t.Defaults.TLSMinVersion)
	if err != nil {
		return err
	}
	defaultSuites, err := tlsParseSuites("defaults", t.Defaults.TLSCipherSuites, defaultVersion)
	if err != nil {
		return err
	}
	resolve := func(name string, s tlsStanza) (tlsProtocol, error) {
		str := func(v, d *string) string {
			if v != nil {
				return *v
			}
			if d != nil {
				return *d
			}
			return ""
		}
		flag := func(v, d *bool) bool {
			if v != nil {
				return *v
			}
			return d != nil && *d
		}
		p := tlsProtocol{
			CAFile: str(s.CAFile, t.Defaults.CAFile), CAPath: str(s.CAPath, t.Defaults.CAPath),
			CertFile: str(s.CertFile, t.Defaults.CertFile), KeyFile: str(s.KeyFile, t.Defaults.KeyFile),
			VerifyIncoming: flag(s.VerifyIncoming, t.Defaults.VerifyIncoming),
			VerifyOutgoing: flag(s.VerifyOutgoing, t.Defaults.VerifyOutgoing),
			MinVersion:     defaultVersion,
		}
		var err error
		if s.TLSMinVersion != nil {
			if p.MinVersion, err = tlsParseVersion(name, s.TLSMinVersion); err != nil {
				return p, err
			}
		}
		switch {
		case s.TLSCipherSuites != nil:
			p.CipherSuites, err = tlsParseSuites(name, s.TLSCipherSuites, p.MinVersion)
		case p.MinVersion != tls.VersionTLS13:
			p.CipherSuites = defaultSuites // never inherited where they cannot apply
		}
		return p, err
	}
	if t.RPC, err = resolve("internal_rpc", t.InternalRPC); err != nil {
		return err
	}
	t.RPC.VerifyServerHostname = t.InternalRPC.VerifyServerHostname != nil && *t.InternalRPC.VerifyServerHostname ||
		t.InternalRPC.VerifyServerHostname == nil && t.Defaults.VerifyServerHostname != nil && *t.Defaults.VerifyServerHostname
	t.RPC.VerifyOutgoing = t.RPC.VerifyOutgoing || t.RPC.VerifyServerHostname
	if t.API, err = resolve("https", t.HTTPS); err != nil {
		return err
	}
	_, err = resolve("grpc", t.GRPC) // checked, as Consul; the gRPC port is not served
	return err
}

// tlsParseVersion reads a tls_min_version; unset or "" is TLS_AUTO.
func tlsParseVersion(stanza string, v *string) (uint16, error) {
	if v == nil || *v == "" {
		return tls.VersionTLS12, nil
	}
	if version, ok := tlsVersions[*v]; ok {
		return version, nil
	}
	return 0, fmt.Errorf("tls.%s.tls_min_version: invalid TLS version: no matching TLS version found for %s, "+
		"please specify one of [TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3]", stanza, *v)
}

// tlsParseSuites reads a tls_cipher_suites list; nil when unset.
func tlsParseSuites(stanza string, v *string, minVersion uint16) ([]uint16, error) {
	if v == nil {
		return nil, nil
	}
	if minVersion == tls.VersionTLS13 {
		return nil, fmt.Errorf("tls.%s.tls_cipher_suites: TLS 1.3 cipher suites are not configurable", stanza)
	}
	list := strings.TrimSpace(*v)
	if list == "" {
		return nil, nil
	}
	var suites []uint16
	var unknown []string
	for _, name := range strings.Split(list, ",") {
		if id, ok := tlsCipherSuites[name]; ok {
			suites = append(suites, id)
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("tls.%s.tls_cipher_suites: invalid TLS cipher suites: no matching Consul Agent TLS cipher suite found for %s",
			stanza, strings.Join(unknown, ","))
	}
	return suites, nil
}

// cfgJoinKeys adds the keys of extra to keys.
func cfgJoinKeys(extra, keys map[string]configKey) map[string]configKey {
	maps.Copy(keys, extra)
	return keys
}
