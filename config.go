// Configuration of the miniconsul agent: the Config the rest of the program
// reads, and loadConfig, which builds it from command-line flags and JSON
// config files that use Consul's names.
//
// Precedence, lowest first, as in Consul: built-in defaults; the -dev
// defaults when -dev is given; config files in the order -config-file and
// -config-dir name them (a directory contributes its *.json files in lexical
// order); command-line flags. A later source overrides the scalar values of
// an earlier one, appends to its lists (retry_join, retry_join_wan,
// recursors) and merges its maps key by key (node_meta,
// dns_config.service_ttl). Only JSON files are read; HCL files are refused.
//
// Every key of Consul's agent configuration is accepted. The keys miniconsul
// implements are decoded, validated and stored in Config, and the blocks
// ports, addresses, dns_config, gossip_wan, performance, autopilot, limits
// and http_config are checked key by key. Any other Consul key is accepted
// unchecked and returned in loadConfig's list of ignored keys, for the
// caller to log once the logger exists, except a security setting that
// asks for what miniconsul does not implement yet (ACLs, TLS, ...): that
// stops the agent (config_security.go). A key Consul does not know, a
// value of the wrong JSON type or an invalid value is an error naming the
// source (file or flag), the key and the value. The agent's flags are
// defined with the rest of the command line in main.go; each sets one of
// these keys and goes through the same checks as a file.
//
// Concurrency: none; a configuration is loaded by one goroutine (at start,
// or by a reload) into a new Config, which is only read once the agent has
// it.
package main

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the agent's resolved configuration. loadConfig fills in every
// derived default, so readers never apply defaults themselves.
type Config struct {
	NodeName          string // node_name, -node; default: the host name
	NodeID            string // node_id, -node-id; a lowercase UUID, or "" to let the agent choose one
	Datacenter        string // datacenter, -datacenter; lowercased, only [a-z0-9_-]
	PrimaryDatacenter string // primary_datacenter; default: acl_datacenter (legacy), else Datacenter
	ACLDatacenter     string // acl_datacenter: Consul's legacy name of primary_datacenter
	DataDir           string // data_dir, -data-dir; "" only in dev mode, where state is kept in memory
	Server            bool   // server, -server
	Bootstrap         bool   // bootstrap, -bootstrap
	BootstrapExpect   int    // bootstrap_expect, -bootstrap-expect; 0 when unset
	DevMode           bool   // -dev
	EnableDebug       bool   // enable_debug: /debug/pprof/ (http_agent_metrics.go) and the teaching view's controls (http_cluster.go); on in -dev, as Consul's

	BindAddr      string          // bind_addr, -bind: IP for cluster traffic (server RPC, Serf); may be 0.0.0.0 or ::
	AdvertiseAddr string          // advertise_addr, -advertise; default: BindAddr, or when that is unspecified the host's first private IPv4, else 127.0.0.1
	ClientAddrs   []string        // client_addr, -client: IPs the client interfaces (HTTP, DNS) listen on
	Addresses     AddressesConfig // addresses: per-interface IPs; each defaults to ClientAddrs
	Ports         PortsConfig     // ports and the -*-port flags

	RetryJoin    []string // retry_join (and the deprecated start_join), -retry-join
	RetryJoinWAN []string // retry_join_wan (and start_join_wan), -retry-join-wan

	LogLevel string // log_level, -log-level: trace, debug, info, warn, err or error (lowercased)
	LogJSON  bool   // log_json, -log-json

	Domain    string            // domain, -domain: DNS domain, always ending in "."
	NodeMeta  map[string]string // node_meta, -node-meta
	DNS       DNSConfig         // dns_config
	Recursors []string          // recursors (and the deprecated recursor): accepted and stored only

	KVMaxValueSize          int          // limits.kv_max_value_size: largest KV value in bytes
	TxnMaxReqLen            int          // limits.txn_max_req_len: largest transaction request body in bytes
	SnapshotRestoreMaxSize  int          // limits.snapshot_restore_max_size: largest PUT /v1/snapshot body in bytes (miniconsul's own)
	CheckOutputMaxSize      int          // check_output_max_size: bytes of check output kept
	EnableScriptChecks      bool         // enable_script_checks, -enable-script-checks
	UIEnabled               bool         // ui_config.enabled, -ui (the legacy ui key too); on under -dev
	EnableLocalScriptChecks bool         // enable_local_script_checks, -enable-local-script-checks
	RaftMultiplier          int          // performance.raft_multiplier: 1..10, scales Raft timing
	RaftSnapshotThreshold   int          // raft_snapshot_threshold: entries between snapshots (16384)
	RaftTrailingLogs        int          // raft_trailing_logs: entries kept after a snapshot (10240)
	Encrypt                 string       // encrypt, -encrypt: base64 gossip key of 16, 24 or 32 bytes, or ""
	GossipWAN               GossipConfig // gossip_wan: the WAN pool's timing (servers only)

	Autopilot AutopilotConfig // autopilot: seeds the cluster's autopilot configuration (server_autopilot.go)
	Connect   ConnectConfig   // connect: the service mesh and its CA (server_connect_ca.go)
	ACL       ACLConfig       // acl (config_acl.go)
	TLS       TLSConfig       // tls and the legacy TLS keys (config_tls.go)
	Telemetry TelemetryConfig // telemetry: the metrics registry (agent_telemetry.go)

	Services []*serviceDefinition // service, services: registered by the agent at start
	Checks   []*checkDefinition   // check, checks: registered by the agent at start
	Watches  []map[string]any     // watches: Consul's watch definitions, as given (agent_watch.go)

	AEInterval                 time.Duration // ae_interval: between two anti-entropy full syncs (1m)
	CheckReapInterval          time.Duration // check_reap_interval: how often critical services are reaped (30s)
	CheckDeregisterIntervalMin time.Duration // check_deregister_interval_min: the least DeregisterCriticalServiceAfter (1m)
	CheckMinInterval           time.Duration // not a Consul key: the least check interval (1 s, Consul's MinInterval); tests lower it
	SyncCoordinateIntervalMin  time.Duration // sync_coordinate_interval_min (15s): agent_coordinate.go
	CoordinateUpdatePeriod     time.Duration // Consul's consul.coordinate.update_period (5s; -dev 100ms): a server's batches

	HTTPMaxConnsPerClient int           // limits.http_max_conns_per_client: HTTP connections one IP may hold open (200; 0: no limit)
	RPCMaxConnsPerClient  int           // limits.rpc_max_conns_per_client: server RPC connections one IP may hold open (100; 0: no limit)
	HTTPReadTimeout       time.Duration // http_config.read_timeout: a request, headers and body (15m; at least 1s)
	HTTPReadHeaderTimeout time.Duration // http_config.read_header_timeout: a request's headers (10s; at least 1s)
	HTTPWriteTimeout      time.Duration // http_config.write_timeout: a response, from its request's headers (15m; at least 1s), so longer than a blocking query's wait
	HTTPIdleTimeout       time.Duration // http_config.idle_timeout: a keep-alive connection between requests (2m; at least 10s)

	// ConfigArgs are the command-line arguments the configuration was
	// loaded from, which a reload loads again.
	ConfigArgs []string
}

// AddressesConfig holds the IPs each client interface listens on.
type AddressesConfig struct {
	HTTP  []string // addresses.http
	DNS   []string // addresses.dns
	HTTPS []string // addresses.https
}

// PortsConfig holds the agent's ports; -1 disables HTTP or DNS.
type PortsConfig struct {
	HTTP    int // ports.http, -http-port
	DNS     int // ports.dns, -dns-port
	Server  int // ports.server, -server-port: server RPC
	SerfLAN int // ports.serf_lan, -serf-lan-port
	SerfWAN int // ports.serf_wan, -serf-wan-port
	HTTPS   int // ports.https: -1 (off) unless set
	// ports.sidecar_min_port..sidecar_max_port: sidecar ports the agent
	// gives out (agent_sidecar.go); -1 (any value ≤ 0) disables, as Consul
	SidecarMinPort, SidecarMaxPort int
}

// GossipConfig is a gossip_wan block: the timing of a pool's SWIM core
// (swim.go). The default is memberlist's, as Consul's (swimWANConfig).
type GossipConfig struct {
	GossipInterval time.Duration // gossip_interval
	GossipNodes    int           // gossip_nodes
	ProbeInterval  time.Duration // probe_interval
	ProbeTimeout   time.Duration // probe_timeout
	RetransmitMult int           // retransmit_mult
	SuspicionMult  int           // suspicion_mult
}

// AutopilotConfig is an autopilot block. The leader stores it in the
// state store when the cluster has none yet; from then on
// /v1/operator/autopilot/configuration changes it, as in Consul.
type AutopilotConfig struct {
	CleanupDeadServers      bool          // cleanup_dead_servers (true)
	LastContactThreshold    time.Duration // last_contact_threshold (200ms)
	MaxTrailingLogs         int           // max_trailing_logs (250)
	MinQuorum               int           // min_quorum (0)
	ServerStabilizationTime time.Duration // server_stabilization_time (10s)
}

// ConnectConfig is the connect block. The first leader makes the CA from
// ca_config; from then on /v1/connect/ca/configuration changes it, as in
// Consul. A duration or size left at zero takes the CA's default (connect_ca.go).
type ConnectConfig struct {
	Enabled             bool          // enabled (true: Consul 1.22's default, in -dev and out)
	CAProvider          string        // ca_provider: only "consul", the built-in CA
	PrivateKey          string        // ca_config.private_key (PEM): the root's key; generated when empty
	RootCert            string        // ca_config.root_cert (PEM): a root for private_key; made when empty
	LeafCertTTL         time.Duration // ca_config.leaf_cert_ttl (72h)
	IntermediateCertTTL time.Duration // ca_config.intermediate_cert_ttl (8760h)
	RootCertTTL         time.Duration // ca_config.root_cert_ttl (87600h)
	PrivateKeyType      string        // ca_config.private_key_type: "ec" (default) or "rsa"
	PrivateKeyBits      int           // ca_config.private_key_bits: 256 for ec, 2048 or 4096 for rsa
	ClusterID           string        // ca_config.cluster_id: the first leader's cluster ID (a UUID; random when empty), as Consul's test agents set it
}

// gossipDefaults takes a pool's timing from its SWIM defaults.
func gossipDefaults(s swimConfig) GossipConfig {
	return GossipConfig{GossipInterval: s.GossipInterval, GossipNodes: s.GossipNodes, ProbeInterval: s.ProbeInterval,
		ProbeTimeout: s.ProbeTimeout, RetransmitMult: s.RetransmitMult, SuspicionMult: s.SuspicionMult}
}

// applyTo sets the timing on a pool's SWIM configuration.
func (g GossipConfig) applyTo(s *swimConfig) {
	s.GossipInterval, s.GossipNodes, s.ProbeInterval = g.GossipInterval, g.GossipNodes, g.ProbeInterval
	s.ProbeTimeout, s.RetransmitMult, s.SuspicionMult = g.ProbeTimeout, g.RetransmitMult, g.SuspicionMult
}

// DNSConfig is the dns_config block.
type DNSConfig struct {
	AllowStale     bool                     // allow_stale
	MaxStale       time.Duration            // max_stale
	NodeTTL        time.Duration            // node_ttl
	ServiceTTL     map[string]time.Duration // service_ttl: by service name, "*" and "prefix*" allowed
	UDPAnswerLimit int                      // udp_answer_limit
	ARecordLimit   int                      // a_record_limit; 0 means no limit
	OnlyPassing    bool                     // only_passing
	EnableTruncate bool                     // enable_truncate
	UseCache       bool                     // use_cache: a client agent resolves from the agent cache
	SOA            DNSSOAConfig             // soa
}

// DNSSOAConfig is dns_config.soa, in seconds.
type DNSSOAConfig struct {
	Refresh uint32 // refresh
	Retry   uint32 // retry
	Expire  uint32 // expire
	MinTTL  uint32 // min_ttl
}

// defaultConfig returns Consul's defaults. Node name, advertise address,
// primary datacenter and listener addresses stay empty: loadConfig derives
// them once every source is merged.
func defaultConfig() *Config {
	return &Config{
		Datacenter:  "dc1",
		BindAddr:    "0.0.0.0",
		ClientAddrs: []string{"127.0.0.1"},
		Ports:       PortsConfig{HTTP: 8500, DNS: 8600, Server: 8300, SerfLAN: 8301, SerfWAN: 8302, HTTPS: -1, SidecarMinPort: 21000, SidecarMaxPort: 21255},
		LogLevel:    "info",
		Domain:      "consul.",
		Telemetry:   TelemetryConfig{MetricsPrefix: "consul"},
		DNS: DNSConfig{
			AllowStale:     true,
			MaxStale:       87600 * time.Hour,
			UDPAnswerLimit: 3,
			SOA:            DNSSOAConfig{Refresh: 3600, Retry: 600, Expire: 86400},
		},
		KVMaxValueSize:             512 * 1024,
		TxnMaxReqLen:               512 * 1024,
		HTTPMaxConnsPerClient:      200,
		RPCMaxConnsPerClient:       100,
		HTTPReadTimeout:            15 * time.Minute,
		HTTPReadHeaderTimeout:      10 * time.Second,
		HTTPWriteTimeout:           15 * time.Minute,
		HTTPIdleTimeout:            2 * time.Minute,
		SnapshotRestoreMaxSize:     8 << 30,
		CheckOutputMaxSize:         4096,
		AEInterval:                 time.Minute,
		CheckReapInterval:          30 * time.Second,
		CheckDeregisterIntervalMin: time.Minute,
		CheckMinInterval:           time.Second,
		SyncCoordinateIntervalMin:  15 * time.Second,
		CoordinateUpdatePeriod:     5 * time.Second,
		RaftMultiplier:             1, // miniconsul scales from production-tight timing (Consul defaults to 5)
		RaftSnapshotThreshold:      16384,
		RaftTrailingLogs:           10240,
		GossipWAN:                  gossipDefaults(swimWANConfig()),
		Autopilot: AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
			MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second},
		Connect: ConnectConfig{Enabled: true, CAProvider: "consul"},
		ACL:     aclDefaults,
	}
}

// applyDevDefaults sets what -dev changes, before any file is read.
func applyDevDefaults(c *Config) {
	c.DevMode = true
	c.EnableDebug = true
	c.Server = true
	c.Bootstrap = true
	c.BindAddr = "127.0.0.1"
	c.ClientAddrs = []string{"127.0.0.1"}
	c.LogLevel = "debug"
	c.UIEnabled = true
	c.RaftMultiplier = 1
	c.CoordinateUpdatePeriod = 100 * time.Millisecond // as Consul's DevConsulSource
	// Consul's dev mode gossips faster, as on one host it can.
	c.GossipWAN.GossipInterval, c.GossipWAN.ProbeInterval = 100*time.Millisecond, 100*time.Millisecond
	c.GossipWAN.ProbeTimeout, c.GossipWAN.SuspicionMult = 100*time.Millisecond, 3
}

// loadConfig builds the configuration from the arguments after "agent". It
// returns the Consul keys that were set but are ignored by miniconsul.
func loadConfig(args []string) (cfg *Config, ignored []string, err error) {
	parsed, err := parseAgentFlags(args)
	if err != nil {
		return nil, nil, err
	}
	l := &configLoader{cfg: defaultConfig()}
	if parsed.dev {
		applyDevDefaults(l.cfg)
	}
	for _, path := range parsed.configPaths {
		if err := l.loadPath(path, parsed.configFormat); err != nil {
			return nil, nil, err
		}
	}
	for _, s := range parsed.settings {
		if err := l.apply(configRoot, "", cfgNest(s.flag.key, s.value), "flag -"+s.flag.name); err != nil {
			return nil, nil, err
		}
	}
	if err := l.refusal(); err != nil {
		return nil, nil, err
	}
	if err := l.cfg.finish(); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	l.cfg.ConfigArgs = args
	return l.cfg, l.ignored, nil
}

// finish derives the defaults that depend on other settings and checks the
// rules that involve more than one key.
func (c *Config) finish() error {
	if err := c.Connect.check(); err != nil {
		return err
	}
	if c.NodeName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return fmt.Errorf("node_name cannot be empty: no host name to default to (%v)", err)
		}
		c.NodeName = host
	}
	if c.PrimaryDatacenter == "" {
		c.PrimaryDatacenter = cmp.Or(c.ACLDatacenter, c.Datacenter)
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = defaultAdvertiseAddr(c.BindAddr)
	}
	if c.Addresses.HTTP == nil {
		c.Addresses.HTTP = slices.Clone(c.ClientAddrs)
	}
	if c.Addresses.DNS == nil {
		c.Addresses.DNS = slices.Clone(c.ClientAddrs)
	}
	if c.Addresses.HTTPS == nil {
		c.Addresses.HTTPS = slices.Clone(c.ClientAddrs)
	}
	if err := c.resolveTLS(); err != nil {
		return err
	}
	if c.DataDir == "" && !c.DevMode {
		return errors.New("data_dir cannot be empty (set -data-dir or data_dir, or use -dev)")
	}
	if c.DataDir != "" {
		if info, err := os.Stat(c.DataDir); err == nil && !info.IsDir() {
			return fmt.Errorf("data_dir %q is not a directory", c.DataDir)
		}
	}
	switch {
	case c.Bootstrap && !c.Server:
		return errors.New("'bootstrap = true' requires 'server = true'")
	case c.BootstrapExpect > 0 && !c.Server:
		return errors.New("'bootstrap_expect > 0' requires 'server = true'")
	case c.BootstrapExpect > 0 && c.DevMode:
		return errors.New("'bootstrap_expect > 0' not allowed in dev mode")
	case c.BootstrapExpect > 0 && c.Bootstrap:
		return errors.New("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive")
	case c.Ports.SidecarMaxPort < c.Ports.SidecarMinPort:
		return errors.New("sidecar_min_port must be less than sidecar_max_port. To disable, set both to zero.")
	}
	return nil
}

// defaultAdvertiseAddr is the address advertised when none is configured.
func defaultAdvertiseAddr(bind string) string {
	if ip, err := netip.ParseAddr(bind); err == nil && !ip.IsUnspecified() {
		return bind
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		if ip := privateIPv4(addrs); ip != "" {
			return ip
		}
	}
	return "127.0.0.1"
}

// privateIPv4 returns the first private, non-loopback IPv4 among addrs, or "".
func privateIPv4(addrs []net.Addr) string {
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if ip4 := ip.To4(); ip4 != nil && ip4.IsPrivate() && !ip4.IsLoopback() {
			return ip4.String()
		}
	}
	return ""
}

// configLoader merges sources into one Config and collects ignored keys.
type configLoader struct {
	cfg     *Config
	ignored []string
	guarded map[string]error // by securityGuards path: the verdict on its last value set
}

// loadPath loads a config file, or every *.json file of a directory in
// lexical order. As in Consul, -config-file and -config-dir both accept either.
func (l *configLoader) loadPath(path, format string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if !info.IsDir() {
		return l.loadFile(path, format, true)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		if err := l.loadFile(filepath.Join(path, entry.Name()), format, false); err != nil {
			return err
		}
	}
	return nil
}

// loadFile loads one JSON file. A named file must end in .json (unless
// -config-format=json); in a directory, other files are skipped.
func (l *configLoader) loadFile(path, format string, named bool) error {
	src := "file " + path
	if format != "json" {
		switch filepath.Ext(path) {
		case ".json":
		case ".hcl":
			return fmt.Errorf("config: %s: HCL config files are not supported, only JSON", src)
		default:
			if !named {
				return nil
			}
			return fmt.Errorf("config: %s: a config file must end in .json (or use -config-format=json)", src)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	root, err := cfgParseJSON(data)
	if err != nil {
		return fmt.Errorf("config: %s: %w", src, err)
	}
	return l.apply(configRoot, "", root, src)
}

// cfgParseJSON decodes a config file; an empty file is {}.
func cfgParseJSON(data []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the top-level object")
		}
	}
	if err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			line := 1 + bytes.Count(data[:max(syntax.Offset-1, 0)], []byte("\n")) // Offset counts the bad byte
			return nil, fmt.Errorf("invalid JSON at line %d: %w", line, err)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %s", cfgDescribe(v))
	}
	return obj, nil
}

// apply merges value v found at key path into the config; null means unset.
func (l *configLoader) apply(key configKey, path string, v any, src string) error {
	switch {
	case v == nil:
		return nil
	case key.set != nil:
		if err := key.set(l.cfg, v); err != nil {
			return fmt.Errorf("config: %s: key %q: %w", src, path, err)
		}
		return nil
	case key.fields != nil:
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("config: %s: key %q: expected object, got %s", src, path, cfgDescribe(v))
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			child := name
			if path != "" {
				child = path + "." + name
			}
			sub, known := key.fields[name]
			if !known {
				return fmt.Errorf("config: %s: unknown config key %q", src, child)
			}
			if err := l.apply(sub, child, obj[name], src); err != nil {
				return err
			}
		}
		return nil
	default:
		if !slices.Contains(l.ignored, path) {
			l.ignored = append(l.ignored, path)
		}
		l.guard(path, v, src)
		return nil
	}
}

// cfgNest turns a dotted key and its value into the JSON object a config
// file would hold, so flags go through the same checks as files.
func cfgNest(path string, v any) map[string]any {
	name, rest, nested := strings.Cut(path, ".")
	if nested {
		v = cfgNest(rest, v)
	}
	return map[string]any{name: v}
}

// configKey describes one Consul config key: an implemented key has a
// setter, an implemented block has its keys, and a key with neither is
// accepted and ignored.
type configKey struct {
	set    func(c *Config, v any) error
	fields map[string]configKey
}

// cfgWithIgnored adds the ignored keys to a table of implemented keys.
func cfgWithIgnored(implemented map[string]configKey, ignored ...string) map[string]configKey {
	for _, name := range ignored {
		implemented[name] = configKey{}
	}
	return implemented
}

// cfgBlock is an implemented block: its keys, plus the ignored ones Consul has.
func cfgBlock(implemented map[string]configKey, ignored ...string) configKey {
	return configKey{fields: cfgWithIgnored(implemented, ignored...)}
}

// cfgStore makes a key whose decoded value replaces the field's value.
func cfgStore[T any](decode func(any) (T, error), field func(*Config) *T) configKey {
	return configKey{set: func(c *Config, v any) error {
		x, err := decode(v)
		if err == nil {
			*field(c) = x
		}
		return err
	}}
}

// cfgAppend makes a list key whose values are appended to the field's list.
func cfgAppend(decode func(any) ([]string, error), field func(*Config) *[]string) configKey {
	return configKey{set: func(c *Config, v any) error {
		list, err := decode(v)
		if err == nil {
			*field(c) = append(*field(c), list...)
		}
		return err
	}}
}

// cfgMerge makes a map key whose entries are merged into the field's map.
func cfgMerge[V any](decode func(any) (map[string]V, error), field func(*Config) *map[string]V) configKey {
	return configKey{set: func(c *Config, v any) error {
		m, err := decode(v)
		if err != nil {
			return err
		}
		if *field(c) == nil {
			*field(c) = map[string]V{}
		}
		maps.Copy(*field(c), m)
		return nil
	}}
}

// cfgValidated adds a check to a decoder.
func cfgValidated[T any](decode func(any) (T, error), check func(T) error) func(any) (T, error) {
	return func(v any) (T, error) {
		x, err := decode(v)
		if err == nil {
			err = check(x)
		}
		return x, err
	}
}

// cfgJSONKind names the JSON type of a decoded value.
func cfgJSONKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// cfgDescribe names a decoded JSON value's type and shows the value.
func cfgDescribe(v any) string {
	text, _ := json.Marshal(v)
	if len(text) > 60 {
		text = append(text[:57], "..."...)
	}
	return cfgJSONKind(v) + " " + string(text)
}

func cfgTypeError(want string, v any) error {
	return fmt.Errorf("expected %s, got %s", want, cfgDescribe(v))
}

// cfgAs decodes a JSON string or boolean.
func cfgAs[T string | bool](v any) (T, error) {
	x, ok := v.(T)
	if !ok {
		return x, cfgTypeError(cfgJSONKind(x), v)
	}
	return x, nil
}

// cfgFromString makes a decoder of JSON strings from a parser of their text.
func cfgFromString[T any](parse func(string) (T, error)) func(any) (T, error) {
	return func(v any) (T, error) {
		s, err := cfgAs[string](v)
		if err != nil {
			var zero T
			return zero, err
		}
		return parse(s)
	}
}

func cfgInt(v any) (int, error) {
	n, ok := v.(json.Number)
	i, err := strconv.Atoi(string(n))
	if !ok || err != nil {
		return 0, cfgTypeError("integer", v)
	}
	return i, nil
}

var (
	cfgNonNegativeInt = cfgValidated(cfgInt, cfgCheckBetween(0, math.MaxInt))
	cfgPositiveInt    = cfgValidated(cfgInt, cfgCheckBetween(1, math.MaxInt))
)

func cfgUint32(v any) (uint32, error) {
	n, err := cfgValidated(cfgInt, cfgCheckBetween(0, math.MaxUint32))(v)
	return uint32(n), err
}

func cfgStrings(v any) ([]string, error) {
	items, ok := v.([]any)
	list := make([]string, len(items))
	for i := 0; ok && i < len(items); i++ {
		list[i], ok = items[i].(string)
	}
	if !ok {
		return nil, cfgTypeError("array of strings", v)
	}
	return list, nil
}

func cfgOneString(v any) ([]string, error) {
	s, err := cfgAs[string](v)
	return []string{s}, err
}

func cfgStringMap(v any) (map[string]string, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, cfgTypeError("object of strings", v)
	}
	m := make(map[string]string, len(obj))
	for k, item := range obj {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("%q: %w", k, cfgTypeError("string", item))
		}
		m[k] = s
	}
	return m, nil
}

var (
	cfgDuration         = cfgFromString(cfgParseDuration)
	cfgPositiveDuration = cfgValidated(cfgDuration, func(d time.Duration) error {
		if d <= 0 {
			return errors.New("must be positive")
		}
		return nil
	})
)

// cfgDurationAtLeast: Consul's durationValWithDefaultMin.
func cfgDurationAtLeast(least time.Duration) func(any) (time.Duration, error) {
	return cfgValidated(cfgDuration, func(d time.Duration) error {
		if d < least {
			return fmt.Errorf("duration %s cannot be less than %s", d, least)
		}
		return nil
	})
}

func cfgParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q: use Go duration syntax such as \"30s\" or \"5m\"", s)
	}
	return d, nil
}

func cfgDurationMap(v any) (map[string]time.Duration, error) {
	raw, err := cfgStringMap(v)
	if err != nil {
		return nil, err
	}
	m := make(map[string]time.Duration, len(raw))
	for k, s := range raw {
		if m[k], err = cfgParseDuration(s); err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
	}
	return m, nil
}

func cfgCheckNotEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("cannot be empty")
	}
	return nil
}

// cfgCheckBetween checks that an integer is within [low, high].
func cfgCheckBetween(low, high int) func(int) error {
	return func(n int) error {
		switch {
		case n >= low && n <= high:
			return nil
		case high == math.MaxInt:
			return fmt.Errorf("cannot be %d, must be %d or more", n, low)
		}
		return fmt.Errorf("cannot be %d, must be between %d and %d", n, low, high)
	}
}

func cfgCheckGossipKey(key string) error {
	if key == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || (len(raw) != 16 && len(raw) != 24 && len(raw) != 32) {
		return errors.New("invalid gossip encryption key: must be base64 of 16, 24 or 32 bytes (see \"consul keygen\")")
	}
	return nil
}

// cfgSidecarPort decodes a sidecar range bound as Consul's portVal: ≤ 0
// disables (-1), above 65535 is refused.
func cfgSidecarPort(v any) (int, error) {
	p, err := cfgInt(v)
	switch {
	case err != nil:
		return 0, err
	case p > 65535:
		return 0, fmt.Errorf("invalid port: %d", p)
	case p <= 0:
		return -1, nil
	}
	return p, nil
}

// cfgPort decodes a port: 1..65535, or -1 (disabled) where allowed.
func cfgPort(allowDisabled bool) func(any) (int, error) {
	return cfgValidated(cfgInt, func(p int) error {
		switch {
		case p >= 1 && p <= 65535, allowDisabled && p == -1:
			return nil
		case allowDisabled:
			return fmt.Errorf("invalid port %d: must be between 1 and 65535, or -1 to disable", p)
		default:
			return fmt.Errorf("invalid port %d: must be between 1 and 65535", p)
		}
	})
}

var (
	cfgDatacenterPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)
	cfgUUIDPattern       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	cfgMetaKeyPattern    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// cfgParseDatacenter lowercases a datacenter name, as Consul does, and checks it.
func cfgParseDatacenter(s string) (string, error) {
	dc := strings.ToLower(s)
	if !cfgDatacenterPattern.MatchString(dc) {
		return "", fmt.Errorf("cannot be %q, please use only [a-z0-9-_]", s)
	}
	return dc, nil
}

func cfgParseNodeID(s string) (string, error) {
	id := strings.ToLower(s)
	if id != "" && !cfgUUIDPattern.MatchString(id) {
		return "", fmt.Errorf("invalid node ID %q: must be a UUID", s)
	}
	return id, nil
}

func cfgParseClusterID(s string) (string, error) {
	id := strings.ToLower(s)
	if !cfgUUIDPattern.MatchString(id) {
		return "", fmt.Errorf("invalid cluster ID %q: must be a UUID", s)
	}
	return id, nil
}

func cfgParseLogLevel(s string) (string, error) {
	level := strings.ToLower(strings.TrimSpace(s))
	switch level {
	case "trace", "debug", "info", "warn", "err", "error":
		return level, nil
	}
	return "", fmt.Errorf("invalid log level %q: must be one of trace, debug, info, warn, err, error", s)
}

func cfgParseDomain(s string) (string, error) {
	domain := strings.TrimSpace(s)
	if strings.Trim(domain, ".") == "" {
		return "", fmt.Errorf("invalid domain %q", s)
	}
	if !strings.HasSuffix(domain, ".") {
		domain += "."
	}
	return domain, nil
}

// cfgSingleIP decodes bind_addr or advertise_addr: exactly one IP literal.
func cfgSingleIP(allowUnspecified bool) func(any) (string, error) {
	return cfgFromString(func(s string) (string, error) {
		list, err := cfgParseIPList(s)
		if err != nil {
			return "", err
		}
		if len(list) > 1 {
			return "", fmt.Errorf("multiple addresses found in %q: only one IP address is allowed", strings.Join(list, " "))
		}
		if ip, _ := netip.ParseAddr(list[0]); ip.IsUnspecified() && !allowUnspecified {
			return "", fmt.Errorf("advertise address cannot be %s: use 0.0.0.0 or :: only for bind_addr", list[0])
		}
		return list[0], nil
	})
}

// cfgParseIPList parses a space-separated list of IP literals.
func cfgParseIPList(s string) ([]string, error) {
	if strings.Contains(s, "{{") {
		return nil, fmt.Errorf("go-sockaddr templates are not supported in %q: use IP addresses", s)
	}
	list := strings.Fields(s)
	if len(list) == 0 {
		return nil, errors.New("cannot be empty: give one or more IP addresses")
	}
	for _, addr := range list {
		if _, err := netip.ParseAddr(addr); err != nil {
			return nil, fmt.Errorf("invalid IP address %q (host names and unix sockets are not supported)", addr)
		}
	}
	return list, nil
}

// cfgNodeMeta decodes node_meta under Consul's metadata rules.
func cfgNodeMeta(v any) (map[string]string, error) {
	meta, err := cfgStringMap(v)
	if err != nil {
		return nil, err
	}
	if len(meta) > 64 {
		return nil, fmt.Errorf("cannot contain more than 64 key/value pairs, got %d", len(meta))
	}
	for k, val := range meta {
		switch {
		case !cfgMetaKeyPattern.MatchString(k):
			return nil, fmt.Errorf("key %q contains invalid characters: use only [a-zA-Z0-9_-]", k)
		case len(k) > 128:
			return nil, fmt.Errorf("key %q is too long (limit: 128 characters)", k)
		case strings.HasPrefix(k, "consul-"):
			return nil, fmt.Errorf("key %q: the prefix 'consul-' is reserved for internal use", k)
		case len(val) > 512:
			return nil, fmt.Errorf("value of key %q is too long (limit: 512 characters)", k)
		}
	}
	return meta, nil
}

// cfgDefinitions makes the service and check keys: one definition (single)
// or an array of them, appended to the field. Consul's files spell their
// keys in snake_case ("deregister_critical_service_after") or as the HTTP
// API does ("DeregisterCriticalServiceAfter"); both decode into the API's
// types, so a definition means the same in a file and in a registration.
func cfgDefinitions[T any](single bool, field func(*Config) *[]*T) configKey {
	return configKey{set: func(c *Config, v any) error {
		items := []any{v}
		if !single {
			list, ok := v.([]any)
			if !ok {
				return cfgTypeError("array", v)
			}
			items = list
		}
		for _, item := range items {
			obj, ok := item.(map[string]any)
			if !ok {
				return cfgTypeError("object", item)
			}
			b, err := json.Marshal(cfgAPIKeys(obj))
			if err != nil {
				return err
			}
			def := new(T)
			if err := json.Unmarshal(b, def); err != nil {
				return err
			}
			*field(c) = append(*field(c), def)
		}
		return nil
	}}
}

// cfgAPIKeys drops the underscores of a definition's keys, so that
// encoding/json, which ignores case, matches them to the API's field names.
// Maps of user data (meta, header, tagged_addresses) keep their own keys.
func cfgAPIKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			name := strings.ReplaceAll(k, "_", "")
			switch strings.ToLower(name) {
			case "meta", "header", "taggedaddresses", "config": // config: a proxy's or upstream's
				out[name] = val
			default:
				out[name] = cfgAPIKeys(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = cfgAPIKeys(item)
		}
		return out
	}
	return v
}
