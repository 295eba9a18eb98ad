package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfigFixture writes content to dir/name and returns the path.
func writeConfigFixture(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadConfigFixtures writes files as a.json, b.json, ... and loads them in
// that order, followed by args.
func loadConfigFixtures(t *testing.T, files []string, args ...string) (*Config, []string, error) {
	t.Helper()
	dir := t.TempDir()
	var all []string
	for i, content := range files {
		all = append(all, "-config-file", writeConfigFixture(t, dir, string(rune('a'+i))+".json", content))
	}
	return loadConfig(append(all, args...))
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	want := &Config{
		Datacenter:  "dc1",
		BindAddr:    "0.0.0.0",
		ClientAddrs: []string{"127.0.0.1"},
		Ports:       PortsConfig{HTTP: 8500, DNS: 8600, Server: 8300, SerfLAN: 8301, SerfWAN: 8302, HTTPS: -1, SidecarMinPort: 21000, SidecarMaxPort: 21255},
		LogLevel:    "info",
		Domain:      "consul.",
		DNS: DNSConfig{
			AllowStale:     true,
			MaxStale:       87600 * time.Hour,
			UDPAnswerLimit: 3,
			SOA:            DNSSOAConfig{Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 0},
		},
		KVMaxValueSize:     524288,
		TxnMaxReqLen:       524288,
		CheckOutputMaxSize: 4096,
		RaftMultiplier:     1, RaftSnapshotThreshold: 16384, RaftTrailingLogs: 10240,
		// memberlist's DefaultWANConfig
		GossipWAN: GossipConfig{GossipInterval: 500 * time.Millisecond, GossipNodes: 4, ProbeInterval: 5 * time.Second,
			ProbeTimeout: 3 * time.Second, RetransmitMult: 4, SuspicionMult: 6},
		AEInterval: time.Minute, CheckReapInterval: 30 * time.Second,
		CheckDeregisterIntervalMin: time.Minute, CheckMinInterval: time.Second,
		// Consul's limits and http_config
		HTTPMaxConnsPerClient: 200, RPCMaxConnsPerClient: 100, HTTPReadTimeout: 15 * time.Minute,
		HTTPReadHeaderTimeout: 10 * time.Second, HTTPWriteTimeout: 15 * time.Minute, HTTPIdleTimeout: 2 * time.Minute,
		SnapshotRestoreMaxSize: 8 << 30,
		// Consul's autopilot defaults
		Autopilot: AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
			MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second},
		// Connect is on by default in Consul 1.22, in -dev and out
		Connect: ConnectConfig{Enabled: true, CAProvider: "consul"},
		ACL:     aclDefaults,
		// Consul's telemetry prefix; its agent's coordinate sync and its
		// servers' coordinate batching
		Telemetry:                 TelemetryConfig{MetricsPrefix: "consul"},
		SyncCoordinateIntervalMin: 15 * time.Second, CoordinateUpdatePeriod: 5 * time.Second,
	}
	if got := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("defaultConfig() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadConfigDerivedDefaults(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	dataDir := t.TempDir()
	cfg, ignored, err := loadConfig([]string{"-data-dir", dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Errorf("ignored = %q, want none", ignored)
	}
	if cfg.NodeName != host || cfg.DataDir != dataDir || cfg.PrimaryDatacenter != "dc1" || cfg.DevMode {
		t.Errorf("node %q data dir %q primary dc %q dev %v", cfg.NodeName, cfg.DataDir, cfg.PrimaryDatacenter, cfg.DevMode)
	}
	if ip := net.ParseIP(cfg.AdvertiseAddr); ip == nil || ip.IsUnspecified() {
		t.Errorf("AdvertiseAddr = %q, want a usable IP", cfg.AdvertiseAddr)
	}
	want := AddressesConfig{HTTP: []string{"127.0.0.1"}, DNS: []string{"127.0.0.1"}, HTTPS: []string{"127.0.0.1"}}
	if !reflect.DeepEqual(cfg.Addresses, want) {
		t.Errorf("Addresses = %+v, want %+v", cfg.Addresses, want)
	}
}

func TestLoadConfigDev(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	cfg, _, err := loadConfig([]string{"-dev"})
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.DevMode, want.Server, want.Bootstrap, want.EnableDebug, want.UIEnabled = true, true, true, true, true
	want.CoordinateUpdatePeriod = 100 * time.Millisecond
	want.NodeName, want.PrimaryDatacenter = host, "dc1"
	want.BindAddr, want.AdvertiseAddr = "127.0.0.1", "127.0.0.1"
	want.Addresses = AddressesConfig{HTTP: []string{"127.0.0.1"}, DNS: []string{"127.0.0.1"}, HTTPS: []string{"127.0.0.1"}}
	want.TLS.RPC.MinVersion, want.TLS.API.MinVersion = tls.VersionTLS12, tls.VersionTLS12 // TLS_AUTO
	want.LogLevel, want.RaftMultiplier, want.EnableDebug = "debug", 1, true
	want.GossipWAN = GossipConfig{GossipInterval: 100 * time.Millisecond, GossipNodes: 4, ProbeInterval: 100 * time.Millisecond,
		ProbeTimeout: 100 * time.Millisecond, RetransmitMult: 4, SuspicionMult: 3}
	want.ConfigArgs = []string{"-dev"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("dev config =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConfigFixtures(t, []string{
		`{"datacenter": "east", "node_name": "a", "log_level": "WARN", "retry_join": ["10.0.0.1"],
		  "node_meta": {"rack": "1", "zone": "z1"}, "ports": {"http": 8000, "dns": 53},
		  "dns_config": {"service_ttl": {"*": "5s"}, "soa": {"refresh": 10}}}`,
		`{"node_name": "b", "retry_join": ["10.0.0.2"], "start_join": ["10.0.0.3"],
		  "node_meta": {"zone": "z2"}, "ports": {"http": 8001},
		  "dns_config": {"service_ttl": {"web": "1m"}, "node_ttl": "10s"}}`,
	}, "-dev", "-node", "c", "-http-port=9000", "-retry-join", "10.0.0.4", "--retry-join=10.0.0.5",
		"-node-meta", "rack:2", "-datacenter", "West_2")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag overrides files", cfg.NodeName, "c"},
		{"flag overrides file port", cfg.Ports.HTTP, 9000},
		{"later file keeps earlier file's other keys", cfg.Ports.DNS, 53},
		{"datacenter lowercased", cfg.Datacenter, "west_2"},
		{"log level lowercased", cfg.LogLevel, "warn"},
		{"lists appended in order", cfg.RetryJoin, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}},
		{"maps merged", cfg.NodeMeta, map[string]string{"rack": "2", "zone": "z2"}},
		{"durations merged", cfg.DNS.ServiceTTL, map[string]time.Duration{"*": 5 * time.Second, "web": time.Minute}},
		{"node ttl", cfg.DNS.NodeTTL, 10 * time.Second},
		{"soa refresh", cfg.DNS.SOA.Refresh, uint32(10)},
		{"soa retry default kept", cfg.DNS.SOA.Retry, uint32(600)},
		{"dev defaults under files", cfg.Server, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigImplementedKeys(t *testing.T) {
	t.Parallel()
	const key = "MTIzNDU2Nzg5MDEyMzQ1Ng==" // 16 bytes
	cfg, ignored, err := loadConfigFixtures(t, []string{`{
		"node_id": "ADF4238A-882B-9DDC-4A9D-5B6758E4159E", "primary_datacenter": "dc0",
		"server": true, "bootstrap_expect": 3, "bind_addr": "10.1.2.3", "advertise_addr": "192.0.2.1",
		"client_addr": "127.0.0.1 ::1", "addresses": {"http": "0.0.0.0"}, "domain": "example",
		"recursors": ["8.8.8.8"], "recursor": "1.1.1.1", "encrypt": "` + key + `", "log_json": true,
		"enable_script_checks": true, "enable_local_script_checks": true, "check_output_max_size": 100,
		"ae_interval": "2m", "check_reap_interval": "5s", "check_deregister_interval_min": "10s",
		"limits": {"kv_max_value_size": 10, "txn_max_req_len": 20, "http_max_conns_per_client": 0,
			"rpc_max_conns_per_client": 7}, "performance": {"raft_multiplier": 2},
		"http_config": {"read_timeout": "1s", "read_header_timeout": "2s", "write_timeout": "3s", "idle_timeout": "10s"},
		"retry_join_wan": ["192.0.2.9"], "start_join_wan": ["192.0.2.10"],
		"gossip_wan": {"gossip_interval": "1s", "gossip_nodes": 5, "probe_interval": "2s", "probe_timeout": "3s",
			"retransmit_mult": 6, "suspicion_mult": 7},
		"ports": {"server": 1, "serf_lan": 2, "serf_wan": 3, "dns": -1, "http": -1, "sidecar_min_port": 4, "sidecar_max_port": 5},
		"dns_config": {"allow_stale": false, "max_stale": "1s", "udp_answer_limit": 0, "a_record_limit": 2,
			"only_passing": true, "enable_truncate": true, "soa": {"retry": 1, "expire": 2, "min_ttl": 3}}
	}`}, "-data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Errorf("ignored = %q, want none", ignored)
	}
	want := defaultConfig()
	want.NodeName, want.DataDir, want.ConfigArgs = cfg.NodeName, cfg.DataDir, cfg.ConfigArgs
	want.AEInterval, want.CheckReapInterval, want.CheckDeregisterIntervalMin = 2*time.Minute, 5*time.Second, 10*time.Second
	want.NodeID, want.PrimaryDatacenter = "adf4238a-882b-9ddc-4a9d-5b6758e4159e", "dc0"
	want.Server, want.BootstrapExpect = true, 3
	want.BindAddr, want.AdvertiseAddr = "10.1.2.3", "192.0.2.1"
	want.ClientAddrs = []string{"127.0.0.1", "::1"}
	want.Addresses = AddressesConfig{HTTP: []string{"0.0.0.0"}, DNS: []string{"127.0.0.1", "::1"}, HTTPS: []string{"127.0.0.1", "::1"}}
	want.TLS.RPC.MinVersion, want.TLS.API.MinVersion = tls.VersionTLS12, tls.VersionTLS12 // TLS_AUTO
	want.Domain, want.Recursors, want.Encrypt, want.LogJSON = "example.", []string{"1.1.1.1", "8.8.8.8"}, key, true
	want.EnableScriptChecks, want.EnableLocalScriptChecks, want.CheckOutputMaxSize = true, true, 100
	want.KVMaxValueSize, want.TxnMaxReqLen, want.RaftMultiplier = 10, 20, 2
	want.RetryJoinWAN = []string{"192.0.2.9", "192.0.2.10"}
	want.HTTPMaxConnsPerClient, want.RPCMaxConnsPerClient = 0, 7
	want.HTTPReadTimeout, want.HTTPReadHeaderTimeout, want.HTTPWriteTimeout, want.HTTPIdleTimeout = time.Second, 2*time.Second, 3*time.Second, 10*time.Second
	want.Ports = PortsConfig{HTTP: -1, DNS: -1, Server: 1, SerfLAN: 2, SerfWAN: 3, HTTPS: -1, SidecarMinPort: 4, SidecarMaxPort: 5}
	want.GossipWAN = GossipConfig{GossipInterval: time.Second, GossipNodes: 5, ProbeInterval: 2 * time.Second,
		ProbeTimeout: 3 * time.Second, RetransmitMult: 6, SuspicionMult: 7}
	want.DNS = DNSConfig{MaxStale: time.Second, ARecordLimit: 2, OnlyPassing: true, EnableTruncate: true,
		SOA: DNSSOAConfig{Refresh: 3600, Retry: 1, Expire: 2, MinTTL: 3}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestLoadConfigEmptyFiles(t *testing.T) {
	t.Parallel()
	for _, content := range []string{"", " \n\t\n"} {
		cfg, _, err := loadConfigFixtures(t, []string{content}, "-dev")
		if err != nil {
			t.Fatalf("file %q: %v", content, err)
		}
		if cfg.Datacenter != "dc1" {
			t.Errorf("file %q changed the config: %+v", content, cfg)
		}
	}
}

func TestLoadConfigDirLexicalOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeConfigFixture(t, dir, "b.json", `{"node_name": "b", "retry_join": ["b"]}`)
	writeConfigFixture(t, dir, "a.json", `{"node_name": "a", "retry_join": ["a"]}`)
	writeConfigFixture(t, dir, "c.json", `{"retry_join": ["c"]}`)
	writeConfigFixture(t, dir, "README.md", `not config`)
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	later := writeConfigFixture(t, t.TempDir(), "z.json", `{"retry_join": ["z"]}`)
	cfg, _, err := loadConfig([]string{"-dev", "-config-dir", dir, "-config-file", later})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "b" || !slices.Equal(cfg.RetryJoin, []string{"a", "b", "c", "z"}) {
		t.Errorf("node %q retry_join %q, want b and [a b c z]", cfg.NodeName, cfg.RetryJoin)
	}
}

func TestLoadConfigConfigFormat(t *testing.T) {
	t.Parallel()
	path := writeConfigFixture(t, t.TempDir(), "agent.conf", `{"node_name": "n1"}`)
	if _, _, err := loadConfig([]string{"-dev", "-config-file", path}); err == nil || !strings.Contains(err.Error(), "must end in .json") {
		t.Errorf("without -config-format: err = %v", err)
	}
	cfg, _, err := loadConfig([]string{"-dev", "-config-format=json", "-config-file", path})
	if err != nil || cfg.NodeName != "n1" {
		t.Errorf("with -config-format=json: node %v, err %v", cfg, err)
	}
}

func TestLoadConfigIgnoredKeys(t *testing.T) {
	t.Parallel()
	cfg, ignored, err := loadConfigFixtures(t, []string{
		`{"acl": {"enabled": true}, "telemetry": {"statsd_address": "x"}, "ports": {"https": -1, "http": 8000},
		  "config_entries": {"bootstrap": []}, "limits": {"rpc_rate": 10}}`,
		`{"acl": {"enabled": false}, "addresses": {"grpc": "127.0.0.1"}, "dns_config": {"recursor_timeout": "3s"}}`,
	}, "-dev", "-raft-protocol", "3", "-ui")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config_entries", "limits.rpc_rate", "telemetry.statsd_address",
		"addresses.grpc", "dns_config.recursor_timeout", "raft_protocol"}
	if !slices.Equal(ignored, want) {
		t.Errorf("ignored = %q\nwant      %q", ignored, want)
	}
	if cfg.Ports.HTTP != 8000 {
		t.Errorf("implemented key beside ignored ones: ports.http = %d", cfg.Ports.HTTP)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	dataDirFile := writeConfigFixture(t, t.TempDir(), "file", "")
	tests := []struct {
		name  string
		files []string
		args  []string
		want  []string // substrings of the error
	}{
		{"unknown key", []string{`{"nod_name": "x"}`}, nil, []string{"a.json", `unknown config key "nod_name"`}},
		{"unknown nested key", []string{`{}`, `{"ports": {"htp": 1}}`}, nil, []string{"b.json", `"ports.htp"`}},
		{"wrong type", []string{`{"server": "yes"}`}, nil, []string{"a.json", `key "server"`, `expected boolean, got string "yes"`}},
		{"wrong cfgBlock type", []string{`{"ports": 5}`}, nil, []string{`key "ports"`, "expected object"}},
		{"fractional int", []string{`{"bootstrap_expect": 1.5}`}, nil, []string{`key "bootstrap_expect"`, "expected integer"}},
		{"list type", []string{`{"retry_join": "10.0.0.1"}`}, nil, []string{`key "retry_join"`, "expected array of strings"}},
		{"bad JSON", []string{"{\n\"server\": tru\n}"}, nil, []string{"a.json", "invalid JSON at line 2"}},
		{"trailing data", []string{`{} {}`}, nil, []string{"a.json", "unexpected data"}},
		{"not an object", []string{`[1]`}, nil, []string{"expected a JSON object"}},
		{"port range", []string{`{"ports": {"http": 70000}}`}, nil, []string{`config: file `, `a.json: key "ports.http": invalid port 70000`}},
		{"port zero", nil, []string{"-server-port", "0"}, []string{"flag -server-port", `"ports.server"`, "invalid port 0"}},
		{"disabled serf port", []string{`{"ports": {"serf_lan": -1}}`}, nil, []string{"invalid port -1"}},
		{"int flag", nil, []string{"-http-port", "abc"}, []string{"-http-port", "expected an integer"}},
		{"unknown flag", nil, []string{"-bogus"}, []string{"-bogus"}},
		{"extra args", nil, []string{"stray"}, []string{"unexpected arguments", "stray"}},
		{"hcl file", []string{}, []string{"-config-format", "hcl"}, []string{"HCL is not supported"}},
		{"datacenter chars", []string{`{"datacenter": "dc 1"}`}, nil, []string{`key "datacenter"`, `"dc 1"`, "[a-z0-9-_]"}},
		{"datacenter flag", nil, []string{"-datacenter", "dc.1"}, []string{"flag -datacenter", `"dc.1"`}},
		{"primary datacenter", []string{`{"primary_datacenter": "a/b"}`}, nil, []string{`key "primary_datacenter"`}},
		{"empty node name", []string{`{"node_name": ""}`}, nil, []string{`key "node_name"`, "cannot be empty"}},
		{"node id", nil, []string{"-node-id", "xyz"}, []string{"-node-id", `invalid node ID "xyz"`}},
		{"data dir required", nil, []string{"-data-dir", ""}, []string{"data_dir cannot be empty"}},
		{"data dir not a dir", nil, []string{"-data-dir", dataDirFile}, []string{"is not a directory"}},
		{"bootstrap needs server", nil, []string{"-bootstrap"}, []string{"'bootstrap = true' requires 'server = true'"}},
		{"expect needs server", nil, []string{"-bootstrap-expect", "3"}, []string{"'bootstrap_expect > 0' requires 'server = true'"}},
		{"expect and bootstrap", nil, []string{"-server", "-bootstrap", "-bootstrap-expect=3"}, []string{"mutually exclusive"}},
		{"expect in dev", nil, []string{"-dev", "-bootstrap-expect=3", "-data-dir="}, []string{"not allowed in dev mode"}},
		{"negative expect", nil, []string{"-bootstrap-expect=-1"}, []string{`"bootstrap_expect"`, "cannot be -1"}},
		{"bind template", nil, []string{"-bind", `{{ GetPrivateIP }}`}, []string{"flag -bind", "templates are not supported"}},
		{"bind two IPs", []string{`{"bind_addr": "10.0.0.1 10.0.0.2"}`}, nil, []string{`key "bind_addr"`, "multiple addresses"}},
		{"bind host name", nil, []string{"-bind", "localhost"}, []string{`invalid IP address "localhost"`}},
		{"advertise any", nil, []string{"-advertise", "0.0.0.0"}, []string{"flag -advertise", "cannot be 0.0.0.0"}},
		{"client bad IP", nil, []string{"-client", "127.0.0.1 300.1.1.1"}, []string{"flag -client", `"300.1.1.1"`}},
		{"client empty", []string{`{"client_addr": " "}`}, nil, []string{`key "client_addr"`, "cannot be empty"}},
		{"address unix socket", []string{`{"addresses": {"http": "unix:///tmp/s"}}`}, nil, []string{`key "addresses.http"`, "unix sockets"}},
		{"log level", nil, []string{"-log-level", "verbose"}, []string{"flag -log-level", `invalid log level "verbose"`}},
		{"node ttl", []string{`{"dns_config": {"node_ttl": "10"}}`}, nil, []string{`key "dns_config.node_ttl"`, `invalid duration "10"`}},
		{"max stale", []string{`{"dns_config": {"max_stale": "-1s"}}`}, nil, []string{`key "dns_config.max_stale"`, `"-1s"`}},
		{"service ttl", []string{`{"dns_config": {"service_ttl": {"web": "soon"}}}`}, nil, []string{`"dns_config.service_ttl"`, `"web"`, `"soon"`}},
		{"udp answer limit", []string{`{"dns_config": {"udp_answer_limit": -1}}`}, nil, []string{"dns_config.udp_answer_limit", "cannot be -1"}},
		{"soa range", []string{`{"dns_config": {"soa": {"refresh": -1}}}`}, nil, []string{"dns_config.soa.refresh", "cannot be -1"}},
		{"raft multiplier", []string{`{"performance": {"raft_multiplier": 11}}`}, nil, []string{"performance.raft_multiplier", "cannot be 11", "between 1 and 10"}},
		{"raft multiplier zero", []string{`{"performance": {"raft_multiplier": 0}}`}, nil, []string{"cannot be 0"}},
		{"kv max value size", []string{`{"limits": {"kv_max_value_size": 0}}`}, nil, []string{"limits.kv_max_value_size", "must be 1 or more"}},
		{"http conns per client", []string{`{"limits": {"http_max_conns_per_client": -1}}`}, nil, []string{"limits.http_max_conns_per_client", "cannot be -1"}},
		{"http idle timeout", []string{`{"http_config": {"idle_timeout": "5s"}}`}, nil, []string{`key "http_config.idle_timeout"`, "duration 5s cannot be less than 10s"}},
		{"http read timeout", []string{`{"http_config": {"read_timeout": "10ms"}}`}, nil, []string{`key "http_config.read_timeout"`, "cannot be less than 1s"}},
		{"gossip wan interval", []string{`{"gossip_wan": {"probe_interval": "0s"}}`}, nil, []string{`key "gossip_wan.probe_interval"`, "must be positive"}},
		{"gossip wan mult", []string{`{"gossip_wan": {"suspicion_mult": 0}}`}, nil, []string{"gossip_wan.suspicion_mult", "cannot be 0"}},
		{"gossip wan unknown", []string{`{"gossip_wan": {"probe_rate": 1}}`}, nil, []string{`"gossip_wan.probe_rate"`}},
		{"check output size", []string{`{"check_output_max_size": -5}`}, nil, []string{"check_output_max_size", "cannot be -5"}},
		{"encrypt not base64", nil, []string{"-encrypt", "not-base64!"}, []string{"flag -encrypt", "invalid gossip encryption key"}},
		{"encrypt length", []string{`{"encrypt": "YWJj"}`}, nil, []string{`key "encrypt"`, "16, 24 or 32 bytes"}},
		{"node meta type", []string{`{"node_meta": {"rack": 1}}`}, nil, []string{`key "node_meta"`, `"rack"`, "expected string"}},
		{"node meta key", nil, []string{"-node-meta", "bad key:v"}, []string{"flag -node-meta", `"bad key"`}},
		{"node meta reserved", []string{`{"node_meta": {"consul-x": "v"}}`}, nil, []string{"reserved"}},
		{"domain", []string{`{"domain": "."}`}, nil, []string{`key "domain"`, `invalid domain "."`}},
		{"missing file", nil, []string{"-config-file", "/nonexistent/x.json"}, []string{"/nonexistent/x.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.Contains(args, "-data-dir") && !slices.Contains(args, "-data-dir=") {
				args = append([]string{"-data-dir", t.TempDir()}, args...)
			}
			_, _, err := loadConfigFixtures(t, tt.files, args...)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadConfigRefusesHCLFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hcl := writeConfigFixture(t, dir, "agent.hcl", `server = true`)
	for _, args := range [][]string{{"-config-file", hcl}, {"-config-dir", dir}} {
		_, _, err := loadConfig(append([]string{"-dev"}, args...))
		if err == nil || !strings.Contains(err.Error(), "agent.hcl: HCL config files are not supported, only JSON") {
			t.Errorf("%q: err = %v", args, err)
		}
	}
}

func TestPrivateIPv4(t *testing.T) {
	t.Parallel()
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	addrs := []net.Addr{cidr("127.0.0.1/8"), cidr("fd00::1/64"), cidr("203.0.113.5/24"), cidr("192.168.1.7/24"), cidr("10.0.0.1/8")}
	if got := privateIPv4(addrs); got != "192.168.1.7" {
		t.Errorf("privateIPv4 = %q, want 192.168.1.7", got)
	}
	if got := privateIPv4(addrs[:3]); got != "" {
		t.Errorf("privateIPv4 without private IPv4 = %q, want empty", got)
	}
}
