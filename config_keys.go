// config_keys.go: the table of Consul's configuration keys, which
// config.go's loader walks: each implemented key with the decoder and
// validator of its value and the Config field it sets, each implemented
// block with its keys, and every other key Consul accepts, ignored (or
// guarded, when it is a security setting: config_security.go).
//
// Concurrency: none; the table is built once, at package initialisation,
// and only read.
package main

import "time"

// configRoot holds every top-level key: those implemented, and every other
// key Consul accepts, ignored.
var configRoot = configKey{fields: cfgWithIgnored(cfgJoinKeys(cfgTLSKeys(), map[string]configKey{
	"node_name":                     cfgStore(cfgValidated(cfgAs[string], cfgCheckNotEmpty), func(c *Config) *string { return &c.NodeName }),
	"node_id":                       cfgStore(cfgFromString(cfgParseNodeID), func(c *Config) *string { return &c.NodeID }),
	"datacenter":                    cfgStore(cfgFromString(cfgParseDatacenter), func(c *Config) *string { return &c.Datacenter }),
	"primary_datacenter":            cfgStore(cfgFromString(cfgParseDatacenter), func(c *Config) *string { return &c.PrimaryDatacenter }),
	"acl_datacenter":                cfgStore(cfgFromString(cfgParseDatacenter), func(c *Config) *string { return &c.ACLDatacenter }),
	"enable_acl_replication":        cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.ACL.EnableTokenReplication }),
	"acl_replication_token":         cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.Replication }),
	"data_dir":                      cfgStore(cfgAs[string], func(c *Config) *string { return &c.DataDir }),
	"raft_snapshot_threshold":       cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.RaftSnapshotThreshold }),
	"raft_trailing_logs":            cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.RaftTrailingLogs }),
	"server":                        cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.Server }),
	"bootstrap":                     cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.Bootstrap }),
	"bootstrap_expect":              cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.BootstrapExpect }),
	"bind_addr":                     cfgStore(cfgSingleIP(true), func(c *Config) *string { return &c.BindAddr }),
	"advertise_addr":                cfgStore(cfgSingleIP(false), func(c *Config) *string { return &c.AdvertiseAddr }),
	"client_addr":                   cfgStore(cfgFromString(cfgParseIPList), func(c *Config) *[]string { return &c.ClientAddrs }),
	"retry_join":                    cfgAppend(cfgStrings, func(c *Config) *[]string { return &c.RetryJoin }),
	"start_join":                    cfgAppend(cfgStrings, func(c *Config) *[]string { return &c.RetryJoin }),
	"retry_join_wan":                cfgAppend(cfgStrings, func(c *Config) *[]string { return &c.RetryJoinWAN }),
	"start_join_wan":                cfgAppend(cfgStrings, func(c *Config) *[]string { return &c.RetryJoinWAN }),
	"recursors":                     cfgAppend(cfgStrings, func(c *Config) *[]string { return &c.Recursors }),
	"recursor":                      cfgAppend(cfgOneString, func(c *Config) *[]string { return &c.Recursors }),
	"log_level":                     cfgStore(cfgFromString(cfgParseLogLevel), func(c *Config) *string { return &c.LogLevel }),
	"log_json":                      cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.LogJSON }),
	"enable_debug":                  cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.EnableDebug }),
	"domain":                        cfgStore(cfgFromString(cfgParseDomain), func(c *Config) *string { return &c.Domain }),
	"node_meta":                     cfgMerge(cfgNodeMeta, func(c *Config) *map[string]string { return &c.NodeMeta }),
	"encrypt":                       cfgStore(cfgValidated(cfgAs[string], cfgCheckGossipKey), func(c *Config) *string { return &c.Encrypt }),
	"service":                       cfgDefinitions(true, func(c *Config) *[]*serviceDefinition { return &c.Services }),
	"services":                      cfgDefinitions(false, func(c *Config) *[]*serviceDefinition { return &c.Services }),
	"check":                         cfgDefinitions(true, func(c *Config) *[]*checkDefinition { return &c.Checks }),
	"checks":                        cfgDefinitions(false, func(c *Config) *[]*checkDefinition { return &c.Checks }),
	"watches":                       cfgWatches(func(c *Config) *[]map[string]any { return &c.Watches }),
	"enable_script_checks":          cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.EnableScriptChecks }),
	"enable_local_script_checks":    cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.EnableLocalScriptChecks }),
	"check_output_max_size":         cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.CheckOutputMaxSize }),
	"ae_interval":                   cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.AEInterval }),
	"check_reap_interval":           cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.CheckReapInterval }),
	"check_deregister_interval_min": cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.CheckDeregisterIntervalMin }),
	"sync_coordinate_interval_min":  cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.SyncCoordinateIntervalMin }),
	"ui":                            cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.UIEnabled }), // legacy; "ui_config" sorts after it, so wins in one file, as Consul's
	"ui_config": cfgBlock(map[string]configKey{
		"enabled": cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.UIEnabled }),
	}, "content_path", "dashboard_url_templates", "dir", "metrics_provider", "metrics_provider_files",
		"metrics_provider_options_json", "metrics_proxy"),
	"ports": cfgBlock(map[string]configKey{
		"http":             cfgStore(cfgPort(true), func(c *Config) *int { return &c.Ports.HTTP }),
		"dns":              cfgStore(cfgPort(true), func(c *Config) *int { return &c.Ports.DNS }),
		"server":           cfgStore(cfgPort(false), func(c *Config) *int { return &c.Ports.Server }),
		"serf_lan":         cfgStore(cfgPort(false), func(c *Config) *int { return &c.Ports.SerfLAN }),
		"serf_wan":         cfgStore(cfgPort(false), func(c *Config) *int { return &c.Ports.SerfWAN }),
		"https":            cfgStore(cfgPort(true), func(c *Config) *int { return &c.Ports.HTTPS }),
		"sidecar_min_port": cfgStore(cfgSidecarPort, func(c *Config) *int { return &c.Ports.SidecarMinPort }),
		"sidecar_max_port": cfgStore(cfgSidecarPort, func(c *Config) *int { return &c.Ports.SidecarMaxPort }),
	}, "expose_max_port", "expose_min_port", "grpc", "grpc_tls", "proxy_max_port",
		"proxy_min_port"),
	"addresses": cfgBlock(map[string]configKey{
		"http":  cfgStore(cfgFromString(cfgParseIPList), func(c *Config) *[]string { return &c.Addresses.HTTP }),
		"dns":   cfgStore(cfgFromString(cfgParseIPList), func(c *Config) *[]string { return &c.Addresses.DNS }),
		"https": cfgStore(cfgFromString(cfgParseIPList), func(c *Config) *[]string { return &c.Addresses.HTTPS }),
	}, "grpc", "grpc_tls"),
	"dns_config": cfgBlock(map[string]configKey{
		"allow_stale":      cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.DNS.AllowStale }),
		"max_stale":        cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.DNS.MaxStale }),
		"node_ttl":         cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.DNS.NodeTTL }),
		"service_ttl":      cfgMerge(cfgDurationMap, func(c *Config) *map[string]time.Duration { return &c.DNS.ServiceTTL }),
		"udp_answer_limit": cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.DNS.UDPAnswerLimit }),
		"a_record_limit":   cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.DNS.ARecordLimit }),
		"only_passing":     cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.DNS.OnlyPassing }),
		"enable_truncate":  cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.DNS.EnableTruncate }),
		"use_cache":        cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.DNS.UseCache }),
		"soa": cfgBlock(map[string]configKey{
			"refresh": cfgStore(cfgUint32, func(c *Config) *uint32 { return &c.DNS.SOA.Refresh }),
			"retry":   cfgStore(cfgUint32, func(c *Config) *uint32 { return &c.DNS.SOA.Retry }),
			"expire":  cfgStore(cfgUint32, func(c *Config) *uint32 { return &c.DNS.SOA.Expire }),
			"min_ttl": cfgStore(cfgUint32, func(c *Config) *uint32 { return &c.DNS.SOA.MinTTL }),
		}),
	}, "cache_max_age", "disable_compression", "enable_additional_node_meta_txt", "prefer_namespace",
		"recursor_strategy", "recursor_timeout"),
	"performance": cfgBlock(map[string]configKey{
		"raft_multiplier": cfgStore(cfgValidated(cfgInt, cfgCheckBetween(1, 10)), func(c *Config) *int { return &c.RaftMultiplier }),
	}, "grpc_keepalive_interval", "grpc_keepalive_timeout", "leave_drain_time", "rpc_hold_timeout"),
	"gossip_wan": cfgBlock(map[string]configKey{
		"gossip_interval": cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.GossipWAN.GossipInterval }),
		"gossip_nodes":    cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.GossipWAN.GossipNodes }),
		"probe_interval":  cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.GossipWAN.ProbeInterval }),
		"probe_timeout":   cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.GossipWAN.ProbeTimeout }),
		"retransmit_mult": cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.GossipWAN.RetransmitMult }),
		"suspicion_mult":  cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.GossipWAN.SuspicionMult }),
	}),
	"autopilot": cfgBlock(map[string]configKey{
		"cleanup_dead_servers":      cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.Autopilot.CleanupDeadServers }),
		"last_contact_threshold":    cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.Autopilot.LastContactThreshold }),
		"max_trailing_logs":         cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.Autopilot.MaxTrailingLogs }),
		"min_quorum":                cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.Autopilot.MinQuorum }),
		"server_stabilization_time": cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.Autopilot.ServerStabilizationTime }),
	}, "disable_upgrade_migration", "redundancy_zone_tag", "upgrade_version_tag"),
	"limits": cfgBlock(map[string]configKey{
		"kv_max_value_size":         cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.KVMaxValueSize }),
		"txn_max_req_len":           cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.TxnMaxReqLen }),
		"http_max_conns_per_client": cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.HTTPMaxConnsPerClient }),
		"rpc_max_conns_per_client":  cfgStore(cfgNonNegativeInt, func(c *Config) *int { return &c.RPCMaxConnsPerClient }),
		"snapshot_restore_max_size": cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.SnapshotRestoreMaxSize }),
	}, "https_handshake_timeout", "request_limits", "rpc_client_timeout",
		"rpc_handshake_timeout", "rpc_max_burst", "rpc_rate"),
	"http_config": cfgBlock(map[string]configKey{
		"read_timeout":        cfgStore(cfgDurationAtLeast(time.Second), func(c *Config) *time.Duration { return &c.HTTPReadTimeout }),
		"read_header_timeout": cfgStore(cfgDurationAtLeast(time.Second), func(c *Config) *time.Duration { return &c.HTTPReadHeaderTimeout }),
		"write_timeout":       cfgStore(cfgDurationAtLeast(time.Second), func(c *Config) *time.Duration { return &c.HTTPWriteTimeout }),
		"idle_timeout":        cfgStore(cfgDurationAtLeast(10*time.Second), func(c *Config) *time.Duration { return &c.HTTPIdleTimeout }),
	}, "allow_write_http_from", "block_endpoints", "max_header_bytes", "response_headers", "use_cache"),
	"acl":       cfgACL,       // config_acl.go
	"telemetry": cfgTelemetry, // agent_telemetry.go
	"connect": cfgBlock(map[string]configKey{
		"enabled":     cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.Connect.Enabled }),
		"ca_provider": cfgStore(cfgValidated(cfgAs[string], cfgCheckCAProvider), func(c *Config) *string { return &c.Connect.CAProvider }),
		"ca_config": cfgBlock(map[string]configKey{
			"private_key":           cfgStore(cfgAs[string], func(c *Config) *string { return &c.Connect.PrivateKey }),
			"root_cert":             cfgStore(cfgAs[string], func(c *Config) *string { return &c.Connect.RootCert }),
			"leaf_cert_ttl":         cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.Connect.LeafCertTTL }),
			"intermediate_cert_ttl": cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.Connect.IntermediateCertTTL }),
			"root_cert_ttl":         cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.Connect.RootCertTTL }),
			"private_key_type":      cfgStore(cfgAs[string], func(c *Config) *string { return &c.Connect.PrivateKeyType }),
			"private_key_bits":      cfgStore(cfgPositiveInt, func(c *Config) *int { return &c.Connect.PrivateKeyBits }),
			"cluster_id":            cfgStore(cfgFromString(cfgParseClusterID), func(c *Config) *string { return &c.Connect.ClusterID }),
		}, "csr_max_concurrent", "csr_max_per_second"),
	}, "enable_mesh_gateway_wan_federation", "enable_serverless_plugin"),
}), ignoredTopLevelKeys...)}

// ignoredTopLevelKeys lists, sorted, the top-level keys Consul accepts
// (current, deprecated, enterprise and internal ones) that miniconsul ignores.
var ignoredTopLevelKeys = []string{
	"acl_agent_master_token", "acl_agent_token", "acl_default_policy",
	"acl_disabled_ttl", "acl_down_policy", "acl_enable_key_list_policy", "acl_enforce_version_8",
	"acl_master_token", "acl_token", "acl_ttl",
	"advertise_addr_ipv4", "advertise_addr_ipv6", "advertise_addr_wan", "advertise_addr_wan_ipv4",
	"advertise_addr_wan_ipv6", "advertise_addrs", "advertise_reconnect_timeout",
	"alt_domain", "audit", "auto_config", "auto_encrypt", "auto_reload_config",
	"build_date", "cache", "check_update_interval", "cloud",
	"config_entries",
	"consul", "default_query_time", "disable_anonymous_signature", "disable_coordinates",
	"disable_host_node_id", "disable_http_unprintable_char_filter", "disable_keyring_file",
	"disable_remote_exec", "disable_update_check", "discard_check_output", "discovery_max_stale",
	"dogstatsd_addr", "dogstatsd_tags", "enable_agent_tls_for_checks",
	"enable_central_service_config", "enable_syslog", "enable_ui",
	"encrypt_verify_incoming", "encrypt_verify_outgoing", "experiments", "gossip_lan",
	"http_api_response_headers", "leave_on_terminate", "license_path",
	"license_poll_base_time", "license_poll_max_time", "license_update_base_time",
	"license_update_max_time", "locality", "log_file", "log_rotate_bytes", "log_rotate_duration",
	"log_rotate_max_files", "log_sublevels", "max_query_time", "non_voting_server", "partition",
	"peering", "pid_file", "primary_gateways", "primary_gateways_interval", "protocol", "raft_boltdb",
	"raft_logstore", "raft_protocol", "raft_snapshot_interval", "read_replica", "reconnect_timeout", "reconnect_timeout_wan",
	"rejoin_after_leave", "reporting", "retry_interval", "retry_interval_wan", "retry_max",
	"retry_max_wan", "revision", "rpc", "segment", "segment_limit", "segment_name_limit", "segments",
	"serf_lan", "serf_lan_allowed_cidrs", "serf_lan_bind", "serf_wan", "serf_wan_allowed_cidrs",
	"serf_wan_bind", "server_name", "server_rejoin_age_max", "session_ttl_min",
	"skip_leave_on_interrupt", "snapshot_agent", "statsd_addr", "statsite_addr", "statsite_prefix",
	"sync_coordinate_rate_target", "syslog_facility",
	"tagged_addresses", "tls_prefer_server_cipher_suites", "translate_wan_addrs", "ui_content_path",
	"ui_dir", "unix_sockets", "use_streaming_backend", "version", "version_metadata",
	"version_prerelease", "xds",
}
