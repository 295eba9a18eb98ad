// cli_catalog_test.go: the catalog commands against a test agent, and
// their columns against Consul 1.22's real output (testdata/cli/*.golden,
// captured from a real agent "real1"); every exit code.
package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// readGolden reads testdata/cli/name.
func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/cli/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The rows of catalog nodes with Consul's real values are Consul's output
// byte for byte: the short ID, the detailed columns.
func TestCLICatalogNodesGolden(t *testing.T) {
	t.Parallel()
	n := &Node{ID: "e36199fd-61f8-24ad-b69b-49950ba13ecd", Node: "real1", Address: "127.0.0.133", Datacenter: "dc1",
		TaggedAddresses: map[string]string{"lan": "127.0.0.133", "lan_ipv4": "127.0.0.133", "wan": "127.0.0.133", "wan_ipv4": "127.0.0.133"},
		Meta:            map[string]string{"consul-network-segment": "", "consul-version": "1.22.7"}}
	if got, want := catalogNodeRows([]*Node{n, n}, false)+"\n", readGolden(t, "catalog_nodes.golden"); got != want {
		t.Errorf("nodes:\n%q\nwant\n%q", got, want)
	}
	if got, want := catalogNodeRows([]*Node{n}, true)+"\n", readGolden(t, "catalog_nodes_detailed.golden"); got != want {
		t.Errorf("nodes -detailed:\n%q\nwant\n%q", got, want)
	}
}

func TestCLICatalog(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runCLI(t, env, "", args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout %q\nstderr %q", args, code, wantCode, out, errOut)
		}
		return out, errOut
	}
	if out, _ := run(0, "catalog", "datacenters"); out != "dc1\n" {
		t.Errorf("datacenters: %q", out)
	}
	eventually(t, 10*time.Second, "the agent registers consul", func() bool {
		out, _, _ := runCLI(t, env, "", "catalog", "services")
		return strings.Contains(out, "consul")
	})
	for _, args := range [][]string{
		{"services", "register", "-name=web", "-port=8080", "-tag=v1", "-tag=primary", "-meta=a=b"},
		{"services", "register", "-name=web", "-id=web2", "-address=10.0.0.9", "-port=81", "-tag=v2"},
		{"services", "register", "-name=api", "-tag=x"},
		{"services", "register", "-name=a1"},
		{"services", "register", "-name=a2"},
	} {
		run(0, args...)
	}
	eventually(t, 10*time.Second, "the services in the catalog", func() bool {
		out, _, _ := runCLI(t, env, "", "catalog", "services")
		return out == "a1\na2\napi\nconsul\nweb\n"
	})
	// The same services as the golden's, registered on the real agent.
	if out, _ := run(0, "catalog", "services", "-tags"); out != readGolden(t, "catalog_services_tags.golden") {
		t.Errorf("services -tags: %q", out)
	}
	if out, _ := run(0, "catalog", "services", "-node=node1", "-tags"); out != readGolden(t, "catalog_services_tags.golden") {
		t.Errorf("services -node -tags: %q", out)
	}

	out, _ := run(0, "catalog", "nodes")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "Node ID Address DC" {
		t.Fatalf("nodes: %q", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 4 || f[0] != "node1" || strings.Contains(f[1], "-") || f[2] != "127.0.0.1" || f[3] != "dc1" {
		t.Errorf("nodes row: %q", lines[1])
	}
	out, _ = run(0, "catalog", "nodes", "-service=web", "-near=_agent")
	if strings.Count(out, "node1") != 2 {
		t.Errorf("nodes -service=web (one row per instance): %q", out)
	}
	out, _ = run(0, "catalog", "nodes", "-detailed")
	if !strings.Contains(out, "TaggedAddresses") || !strings.Contains(out, "lan=127.0.0.1") {
		t.Errorf("nodes -detailed: %q", out)
	}

	// Nothing matches: a message on stderr, exit 0.
	for _, args := range [][]string{{"-service=nope"}, {"-node-meta=a=b"}} {
		out, errOut := run(0, append([]string{"catalog", "nodes"}, args...)...)
		if out != "" || errOut != "No nodes match the given query - try expanding your search.\n" {
			t.Errorf("nodes %v: %q %q", args, out, errOut)
		}
	}
	for _, args := range [][]string{{"-node=nope"}, {"-node-meta=a=b"}} {
		out, errOut := run(0, append([]string{"catalog", "services"}, args...)...)
		if out != "" || errOut != "No services match the given query - try expanding your search.\n" {
			t.Errorf("services %v: %q %q", args, out, errOut)
		}
	}

	// Usage errors: exit 1.
	for _, cmd := range []string{"datacenters", "nodes", "services"} {
		if _, errOut := run(1, "catalog", cmd, "extra"); errOut != "Too many arguments (expected 0, got 1)\n" {
			t.Errorf("%s extra: %q", cmd, errOut)
		}
	}
	if _, errOut := run(1, "catalog", "nodes", "-node-meta=ab"); !strings.HasPrefix(errOut, "invalid value \"ab\" for flag -node-meta: Missing \"=\" value in argument: ab\nUsage:\n") {
		t.Errorf("bad -node-meta: %q", errOut)
	}
	if _, errOut := run(1, "catalog"); !strings.HasPrefix(errOut, "Usage: consul catalog <subcommand>") || !strings.Contains(errOut, "nodes") {
		t.Errorf("catalog: %q", errOut)
	}
	if out, _ := run(0, "catalog", "nodes", "-h"); !strings.HasPrefix(out, "Usage: consul catalog nodes [options]") ||
		!strings.Contains(out, "HTTP API Options\n\n  -ca-file=<value>\n") || !strings.Contains(out, "Command Options\n\n  -detailed\n") ||
		!strings.Contains(out, "  -node-meta=<key=value>\n") {
		t.Errorf("nodes -h: %q", out)
	}
}

// A dead agent: "Error listing …" and Go's transport error, exit 1.
func TestCLICatalogDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	env := map[string]string{"CONSUL_HTTP_ADDR": addr}
	for args, what := range map[string]string{
		"datacenters": "Error listing datacenters: Get \"http://" + addr + "/v1/catalog/datacenters\"",
		"nodes":       "Error listing nodes: Get \"http://" + addr + "/v1/catalog/nodes\"",
		"services":    "Error listing services: Get \"http://" + addr + "/v1/catalog/services\"",
	} {
		_, errOut, code := runCLI(t, env, "", "catalog", args)
		if code != 1 || !strings.HasPrefix(errOut, what) {
			t.Errorf("%s: %d %q", args, code, errOut)
		}
	}
}
