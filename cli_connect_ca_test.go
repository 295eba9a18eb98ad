package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIConnectCA: get-config prints the configuration as Consul's client
// does; set-config with a file changes it, and a file whose ModifyIndex is
// no longer the stored one is refused with Consul's check-and-set error
// (its answer to the same file, checked on Consul 1.22.7).
func TestCLIConnectCA(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	var out string
	eventually(t, 10*time.Second, "the CA configuration", func() bool {
		o, _, code := runCLI(t, env, "", "connect", "ca", "get-config")
		out = o
		return code == 0
	})
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("get-config: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "{\n\t\"Provider\": \"consul\",\n\t\"Config\": {\n\t\t\"IntermediateCertTTL\": \"8760h\",\n\t\t\"LeafCertTTL\": \"72h\",") ||
		!strings.Contains(out, "\t\"State\": null,\n\t\"ForceWithoutCrossSigning\": false,\n\t\"CreateIndex\": ") {
		t.Fatalf("get-config output:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "ca.json")
	os.WriteFile(file, []byte(strings.Replace(out, `"LeafCertTTL": "72h"`, `"LeafCertTTL": "96h"`, 1)), 0o600)
	if o, e, code := runCLI(t, env, "", "connect", "ca", "set-config", "-config-file", file); code != 0 || o != "Configuration updated!\n" {
		t.Fatalf("set-config: %d %q %q", code, o, e)
	}
	if o, _, _ := runCLI(t, env, "", "connect", "ca", "get-config"); !strings.Contains(o, `"LeafCertTTL": "96h"`) {
		t.Fatalf("after set-config:\n%s", o)
	}
	// The same file again: its ModifyIndex is the old one.
	if _, e, code := runCLI(t, env, "", "connect", "ca", "set-config", "-config-file", file); code != 1 ||
		e != "Error setting CA configuration: Unexpected response code: 500 (ModifyIndex did not match existing)\n" {
		t.Fatalf("stale set-config: %d %q", code, e)
	}
	if _, e, code := runCLI(t, env, "", "connect", "ca", "set-config"); code != 1 || e != "The -config-file flag is required\n" {
		t.Fatalf("no file: %d %q", code, e)
	}
}
