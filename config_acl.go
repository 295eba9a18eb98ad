// config_acl.go: the acl block of the agent's configuration (Consul's
// `acl { enabled, default_policy, down_policy, enable_token_persistence,
// token_ttl, policy_ttl, role_ttl, tokens { initial_management, agent,
// default, replication, … } }`), decoded into Config.ACL.
//
// Data flow: config files → configLoader (config.go) → these keys →
// ACLConfig, read by the token resolver (server_acl.go), the HTTP layer
// (http_acl.go) and the leader's ACL initialisation. The agent's tokens can
// change at run time (PUT /v1/agent/token/<kind>): those live in the
// agent's aclTokens (server_acl.go), seeded from here.
//
// Concurrency: none; the table is built once, at package initialisation,
// and only read.
package main

import (
	"fmt"
	"time"
)

// ACLConfig is the acl block.
type ACLConfig struct {
	Enabled                bool          // enabled (false)
	DefaultPolicy          string        // default_policy: "allow" (default) or "deny"
	DownPolicy             string        // down_policy: "extend-cache" (default), "async-cache", "allow" or "deny"
	EnableTokenPersistence bool          // enable_token_persistence: /v1/agent/token/<kind> kept in the data dir
	EnableTokenReplication bool          // enable_token_replication (legacy: enable_acl_replication): a secondary also replicates global tokens
	TokenTTL               time.Duration // token_ttl (30s): how long a client agent trusts a resolved token
	PolicyTTL              time.Duration // policy_ttl (30s): accepted; a client caches a token's whole identity (policies and roles with it) for token_ttl
	RoleTTL                time.Duration // role_ttl (30s): likewise
	Tokens                 ACLTokensConfig
}

// ACLTokensConfig is acl.tokens.
type ACLTokensConfig struct {
	InitialManagement string // initial_management (legacy: master): made by the leader, bootstraps the cluster
	Agent             string // agent: the agent's own requests
	AgentRecovery     string // agent_recovery (legacy: agent_master)
	Default           string // default: requests that carry no token
	Replication       string // replication
}

func cfgOneOf(values ...string) func(string) error {
	return func(s string) error {
		for _, v := range values {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %q", s, values)
	}
}

// cfgACL is the acl block's keys (config_keys.go).
var cfgACL = cfgBlock(map[string]configKey{
	"enabled":                  cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.ACL.Enabled }),
	"default_policy":           cfgStore(cfgValidated(cfgAs[string], cfgOneOf("allow", "deny")), func(c *Config) *string { return &c.ACL.DefaultPolicy }),
	"down_policy":              cfgStore(cfgValidated(cfgAs[string], cfgOneOf("extend-cache", "async-cache", "allow", "deny")), func(c *Config) *string { return &c.ACL.DownPolicy }),
	"enable_token_persistence": cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.ACL.EnableTokenPersistence }),
	"enable_token_replication": cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.ACL.EnableTokenReplication }),
	"token_ttl":                cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.ACL.TokenTTL }),
	"policy_ttl":               cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.ACL.PolicyTTL }),
	"role_ttl":                 cfgStore(cfgPositiveDuration, func(c *Config) *time.Duration { return &c.ACL.RoleTTL }),
	"tokens": cfgBlock(map[string]configKey{
		"initial_management": cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.InitialManagement }),
		"master":             cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.InitialManagement }),
		"agent":              cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.Agent }),
		"agent_recovery":     cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.AgentRecovery }),
		"agent_master":       cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.AgentRecovery }),
		"default":            cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.Default }),
		"replication":        cfgStore(cfgAs[string], func(c *Config) *string { return &c.ACL.Tokens.Replication }),
	}, "config_file_service_registration", "dns", "managed_service_provider"),
}, "disabled_ttl", "enable_key_list_policy", "msp_disable_bootstrap")

// aclDefaults are Consul's (defaultConfig).
var aclDefaults = ACLConfig{DefaultPolicy: "allow", DownPolicy: "extend-cache",
	TokenTTL: 30 * time.Second, PolicyTTL: 30 * time.Second, RoleTTL: 30 * time.Second}
