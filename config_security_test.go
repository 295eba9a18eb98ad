// config_security_test.go: tests of config_security.go, the security
// settings (ACL, TLS, ...) the agent refuses rather than ignore.
//
// Concurrency: none; each test only loads configuration.
package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestBug_SecurityConfigRefused: a config with acl.enabled = true only
// logged "ignored config key key=acl", and the agent ran wide open. Every
// security setting miniconsul does not implement yet stops the agent when
// it asks for something, on its final value (a later file may turn it off).
func TestBug_SecurityConfigRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		files []string
		key   string
	}{
		{[]string{`{"auto_encrypt": {"allow_tls": true}}`}, "auto_encrypt.allow_tls"},
		{[]string{`{"auto_config": {"enabled": true}}`}, "auto_config.enabled"},
		{[]string{`{"http_config": {"allow_write_http_from": ["127.0.0.0/8"]}}`}, "http_config.allow_write_http_from"},
		{[]string{`{"serf_lan_allowed_cidrs": ["10.0.0.0/8"]}`}, "serf_lan_allowed_cidrs"},
	} {
		_, _, err := loadConfigFixtures(t, tc.files, "-dev")
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("key %q", tc.key)) || !strings.Contains(err.Error(), "not implemented by miniconsul yet") {
			t.Errorf("%s: err = %v, want a refusal naming %s", tc.files, err, tc.key)
		}
	}
	// Asking for nothing, or turning it off later, runs.
	for _, files := range [][]string{
		{`{"acl": {"enabled": true}}`, `{"acl": {"enabled": false}}`},
		{`{"acl": {"enabled": false, "tokens": {"agent": "x"}}, "connect": {"enabled": false}, "tls": {"defaults": {"verify_incoming": false, "tls_min_version": "TLSv1_2"}}}`},
		{`{"ports": {"https": -1}, "serf_lan_allowed_cidrs": [], "verify_incoming": "false"}`},
	} {
		if _, _, err := loadConfigFixtures(t, files, "-dev"); err != nil {
			t.Errorf("%s: %v", files, err)
		}
	}
}
