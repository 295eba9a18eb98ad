// config_security.go: the security settings of Consul's configuration that
// miniconsul does not implement yet, and must not ignore.
//
// Most keys miniconsul does not implement are accepted and logged as
// ignored (config.go): a Consul configuration loads, and what is missing
// costs a feature. A security setting is different: an agent that ignored
// `serf_lan_allowed_cidrs` or `auto_encrypt { tls = true }` would run open
// while its operator believes it is locked down. So each setting that
// promises access control, encryption or a restriction, and is not built,
// is guarded here: set to a value that makes the promise, it stops the
// agent with an error naming the key. Set to a value that promises nothing
// (`enabled = false`, an empty list), it is ignored like any other key.
// ACLs (config_acl.go) and TLS (config_tls.go) are built, and left this
// table as they were.
//
// Sources merge as in Consul (later files and flags override earlier ones),
// so the verdict is taken on each guarded key's last value, after every
// source is loaded: a guarded key turned on in one file and off in a later
// one runs.
//
// Concurrency: none; the guards are a fixed table, read only.
package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// securityGuards maps each guarded key's dotted path to its check: an
// error when the value asks for something miniconsul cannot provide yet.
var securityGuards = func() map[string]func(v any) error {
	g := map[string]func(v any) error{
		"auto_encrypt.tls":                  cfgRefuseWhenTrue("auto-encrypt (TLS) is"),
		"auto_encrypt.allow_tls":            cfgRefuseWhenTrue("auto-encrypt (TLS) is"),
		"auto_config.enabled":               cfgRefuseWhenTrue("auto-config (TLS and ACL bootstrap) is"),
		"http_config.allow_write_http_from": cfgRefuseWhenSet("restricting writes by source address is"),
		"http_config.block_endpoints":       cfgRefuseWhenSet("blocking endpoints is"),
		"serf_lan_allowed_cidrs":            cfgRefuseWhenSet("restricting gossip by source address is"),
		"serf_wan_allowed_cidrs":            cfgRefuseWhenSet("restricting gossip by source address is"),
	}
	return g
}()

// guard records the verdict on every guarded key found in v, the value
// of the ignored key at path.
func (l *configLoader) guard(path string, v any, src string) {
	for key, check := range securityGuards {
		sub, ok := strings.CutPrefix(key, path)
		if !ok || sub != "" && sub[0] != '.' {
			continue
		}
		val, found := cfgLookup(v, strings.TrimPrefix(sub, "."))
		if !found {
			continue
		}
		if l.guarded == nil {
			l.guarded = map[string]error{}
		}
		l.guarded[key] = nil
		if err := check(val); err != nil {
			l.guarded[key] = fmt.Errorf("config: %s: key %q: %w", src, key, err)
		}
	}
}

// refusal is the first guarded key (in path order) whose final value asks
// for what miniconsul does not implement.
func (l *configLoader) refusal() error {
	for _, key := range slices.Sorted(maps.Keys(l.guarded)) {
		if err := l.guarded[key]; err != nil {
			return err
		}
	}
	return nil
}

// cfgLookup finds the value at a dotted path inside a decoded JSON value;
// an empty path is v itself. A null is not found: it unsets nothing.
func cfgLookup(v any, path string) (any, bool) {
	for path != "" {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		var name string
		name, path, _ = strings.Cut(path, ".")
		v = obj[name]
	}
	return v, v != nil
}

func cfgUnimplemented(what string) error {
	return fmt.Errorf("%s not implemented by miniconsul yet, and it will not run without what the configuration asks for (remove the key, or turn it off)", what)
}

// cfgRefuseWhenTrue refuses true (a bool, or a string Consul would read as true).
func cfgRefuseWhenTrue(what string) func(any) error {
	return func(v any) error {
		if b, ok := v.(bool); ok && !b || v == "false" {
			return nil
		}
		return cfgUnimplemented(what)
	}
}

// cfgRefuseWhenSet refuses any value but an empty string, list or object
// (or false).
func cfgRefuseWhenSet(what string) func(any) error {
	return func(v any) error {
		switch x := v.(type) {
		case string:
			if x == "" {
				return nil
			}
		case []any:
			if len(x) == 0 {
				return nil
			}
		case map[string]any:
			if len(x) == 0 {
				return nil
			}
		case bool:
			if !x {
				return nil
			}
		}
		return cfgUnimplemented(what)
	}
}
