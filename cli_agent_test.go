// cli_agent_test.go: the agent family of commands (cli_agent.go) against
// in-process agents: outputs compared with golden files under testdata/cli
// (written from Consul 1.22's output, this environment's values replaced
// by same-width tokens), every exit code, and the help's shape.
package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// golden compares got with testdata/cli/name.
func golden(t *testing.T, name, got string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", "cli", name))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// sameWidth replaces each value by a token of its width, so that columns
// stay aligned as in the golden file; ports are 5 digits (Linux's
// ephemeral range).
func sameWidth(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if len(pairs[i]) != len(pairs[i+1]) {
			t.Fatalf("%q and its token %q differ in width", pairs[i], pairs[i+1])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

func TestCLIAgentMembers(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	_, lanPort, _ := net.SplitHostPort(ta.lan().Addr())
	tokens := []string{":" + lanPort, ":PPPPP", consulVersion, "VVVVVV", ta.nodeID, "IIIIIIII-IIII-IIII-IIII-IIIIIIIIIIII",
		"port=" + strconv.Itoa(ta.rpcPort), "port=RRRRR"}

	out, errOut, code := runCLI(t, env, "", "members")
	if code != 0 || errOut != "" {
		t.Fatalf("members: %d %q", code, errOut)
	}
	golden(t, "agent_members.golden", sameWidth(t, out, tokens...))
	out, _, code = runCLI(t, env, "", "members", "-detailed")
	if code != 0 {
		t.Fatalf("members -detailed: %d", code)
	}
	golden(t, "agent_members_detailed.golden", sameWidth(t, out, tokens...))
	if out, _, code = runCLI(t, env, "", "members", "-wan"); code != 0 || !strings.Contains(out, "node1.dc1 ") {
		t.Errorf("members -wan: %d %q", code, out)
	}
	if out, _, code = runCLI(t, env, "", "members", "-status=alive"); code != 0 || !strings.Contains(out, "node1 ") {
		t.Errorf("members -status=alive: %d %q", code, out)
	}
	// No member matches: exit 2, silently, as Consul.
	if out, errOut, code = runCLI(t, env, "", "members", "-status=failed"); code != 2 || out != "" || errOut != "" {
		t.Errorf("members -status=failed: %d %q %q", code, out, errOut)
	}
	if _, errOut, code = runCLI(t, env, "", "members", "-status=("); code != 1 || !strings.HasPrefix(errOut, "Failed to compile status regexp: ") {
		t.Errorf("members -status=(: %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, env, "", "members", "-bogus"); code != 1 || !strings.HasPrefix(errOut, "flag provided but not defined: -bogus") {
		t.Errorf("members -bogus: %d %q", code, errOut)
	}
	// A dead agent: Go's transport error in Consul's words.
	dead := closedPort(t)
	_, errOut, code = runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": dead}, "", "members")
	if want := `Error retrieving members: Get "http://` + dead + `/v1/agent/members?segment=_all": dial tcp ` + dead + ": connect: connection refused\n"; code != 1 || errOut != want {
		t.Errorf("dead agent: %d %q, want %q", code, errOut, want)
	}
}

func TestCLIAgentJoinLeave(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	other := startTestAgent(t, func(c *Config) { c.NodeName = "node2" })
	env := cliEnvFor(ta)

	_, errOut, code := runCLI(t, env, "", "join")
	if code != 1 || !strings.HasPrefix(errOut, "At least one address to join must be specified.\n\nUsage: consul join [options] address ...\n") {
		t.Errorf("join: %d %q", code, errOut)
	}
	dead := closedPort(t)
	out, errOut, code := runCLI(t, env, "", "join", dead)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error joining address '"+dead+"': Unexpected response code: 500 (") ||
		!strings.HasSuffix(errOut, ")\nFailed to join any nodes.\n") {
		t.Errorf("join dead: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, env, "", "join", other.lan().Addr())
	if code != 0 || errOut != "" || out != "Successfully joined cluster by contacting 1 nodes.\n" {
		t.Errorf("join: %d %q %q", code, out, errOut)
	}
	// One of two: a success, and the failure on stderr.
	out, errOut, code = runCLI(t, env, "", "join", dead, other.lan().Addr())
	if code != 0 || out != "Successfully joined cluster by contacting 1 nodes.\n" || !strings.HasPrefix(errOut, "Error joining address") {
		t.Errorf("join one of two: %d %q %q", code, out, errOut)
	}

	out, errOut, code = runCLI(t, env, "", "force-leave")
	if code != 1 || !strings.HasPrefix(errOut, "A single node name must be specified to force leave.\n\nUsage: consul force-leave [options] name\n") {
		t.Errorf("force-leave: %d %q", code, errOut)
	}
	out, errOut, code = runCLI(t, env, "", "force-leave", "nobody")
	if code != 1 || errOut != "Error force leaving: Unexpected response code: 500 (agent: No node found with name 'nobody')\n" {
		t.Errorf("force-leave nobody: %d %q", code, errOut)
	}
	if out, errOut, code = runCLI(t, env, "", "force-leave", "-prune", "node2"); code != 0 || out != "" || errOut != "" {
		t.Errorf("force-leave node2: %d %q %q", code, out, errOut)
	}

	out, errOut, code = runCLI(t, env, "", "leave", "extra")
	if code != 1 || errOut != "Error found unexpected args: [extra]\n" || !strings.HasPrefix(out, "Usage: consul leave [options]\n") {
		t.Errorf("leave extra: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, cliEnvFor(other), "", "leave")
	if code != 0 || out != "Graceful leave complete\n" || errOut != "" {
		t.Errorf("leave: %d %q %q", code, out, errOut)
	}
}

func TestCLIAgentReloadInfo(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.ConfigArgs = []string{"-dev"} })
	env := cliEnvFor(ta)
	// An agent that cannot reload (started with no command line): its 500.
	if _, errOut, code := runCLI(t, cliEnvFor(startTestAgent(t, nil)), "", "reload"); code != 1 || !strings.HasPrefix(errOut, "Error reloading: Unexpected response code: 500 (") {
		t.Errorf("reload refused: %d %q", code, errOut)
	}
	if out, errOut, code := runCLI(t, env, "", "reload"); code != 0 || out != "Configuration reload triggered\n" || errOut != "" {
		t.Errorf("reload: %d %q %q", code, out, errOut)
	}
	out, _, code := runCLI(t, env, "", "info")
	if code != 0 || !strings.HasPrefix(out, "agent:\n\tchecks = 0\n") || !strings.Contains(out, "\nraft:\n") || !strings.Contains(out, "\tstate = Leader\n") {
		t.Errorf("info: %d %q", code, out)
	}
	dead := map[string]string{"CONSUL_HTTP_ADDR": closedPort(t)}
	for _, cmd := range []string{"reload", "info", "leave"} {
		if _, errOut, code := runCLI(t, dead, "", cmd); code != 1 || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%s, dead agent: %d %q", cmd, code, errOut)
		}
	}
}

func TestCLIAgentMaint(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":80}`, nil)
	for _, tc := range []struct {
		args    []string
		out, er string
		code    int
	}{
		{[]string{"maint"}, "", "", 0},
		{[]string{"maint", "-enable", "-disable"}, "", "Only one of -enable or -disable may be provided\n", 1},
		{[]string{"maint", "-reason", "x"}, "", "Reason may only be provided with -enable\n", 1},
		{[]string{"maint", "-service", "web"}, "", "Service requires either -enable or -disable\n", 1},
		{[]string{"maint", "-enable", "-reason", "deploy"}, "Node maintenance is now enabled\n", "", 0},
		{[]string{"maint", "-enable", "-service", "web"}, "Service maintenance is now enabled for \"web\"\n", "", 0},
	} {
		out, errOut, code := runCLI(t, env, "", tc.args...)
		if out != tc.out || errOut != tc.er || code != tc.code {
			t.Errorf("%v: %d %q %q", tc.args, code, out, errOut)
		}
	}
	out, _, code := runCLI(t, env, "", "maint")
	if code != 0 {
		t.Fatalf("maint: %d", code)
	}
	golden(t, "agent_maint_status.golden", out)
	if out, _, code := runCLI(t, env, "", "maint", "-disable", "-service", "web"); code != 0 || out != "Service maintenance is now disabled for \"web\"\n" {
		t.Errorf("disable web: %d %q", code, out)
	}
	if out, _, code := runCLI(t, env, "", "maint", "-disable"); code != 0 || out != "Node maintenance is now disabled\n" {
		t.Errorf("disable: %d %q", code, out)
	}
	if out, _, code := runCLI(t, env, "", "maint"); code != 0 || out != "" {
		t.Errorf("maint after: %d %q", code, out)
	}
	_, errOut, code := runCLI(t, env, "", "maint", "-enable", "-service", "nosuch")
	if code != 1 || !strings.HasPrefix(errOut, "Error enabling service maintenance: Unexpected response code: 404 (") {
		t.Errorf("maint nosuch: %d %q", code, errOut)
	}
}

func TestCLIAgentEvent(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	out, errOut, code := runCLI(t, env, "", "event", "-name", "deploy", "v1")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "Event ID: ") || len(out) != len("Event ID: ")+36+1 {
		t.Errorf("event: %d %q %q", code, out, errOut)
	}
	var events []struct{ Name, Payload string }
	ta.must("GET", "/v1/event/list?name=deploy", "", &events)
	if len(events) != 1 || events[0].Payload != "djE=" { // base64 of v1
		t.Errorf("events: %+v", events)
	}
	for _, tc := range []struct {
		args   []string
		prefix string
	}{
		{[]string{"event"}, "Event name must be specified\n\nUsage: consul event [options] [payload]\n"},
		{[]string{"event", "-name", "x", "a", "b"}, "Too many command line arguments.\n\nUsage: consul event"},
		{[]string{"event", "-name", "x", "-tag", "v1"}, "Cannot provide tag filter without service filter.\n"},
		{[]string{"event", "-name", "x", "-node", "("}, "Failed to compile node filter regexp: "},
	} {
		if _, errOut, code := runCLI(t, env, "", tc.args...); code != 1 || !strings.HasPrefix(errOut, tc.prefix) {
			t.Errorf("%v: %d %q", tc.args, code, errOut)
		}
	}
}

func TestCLIAgentKeyring(t *testing.T) {
	t.Parallel()
	plain := startTestAgent(t, nil)
	out, errOut, code := runCLI(t, cliEnvFor(plain), "", "keyring", "-list")
	if code != 1 || out != "==> Gathering installed encryption keys...\n" || !strings.HasPrefix(errOut, "error: Unexpected response code: 500 (") ||
		!strings.Contains(errOut, "node1: Keyring is empty (encryption not enabled)") {
		t.Errorf("keyring -list, no encryption: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, cliEnvFor(plain), "", "keyring"); code != 1 || !strings.HasPrefix(errOut, "Usage: consul keyring [options]\n") {
		t.Errorf("keyring: %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, cliEnvFor(plain), "", "keyring", "-list", "-install", "k"); code != 1 || errOut != "Only a single action is allowed\n" {
		t.Errorf("two actions: %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, cliEnvFor(plain), "", "keyring", "-list", "-relay-factor", "6"); code != 1 || errOut != "Error parsing relay factor: Relay factor must be in range: [0, 5]\n" {
		t.Errorf("relay factor: %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, cliEnvFor(plain), "", "keyring", "-install", "k", "-local-only"); code != 1 || errOut != "Error validating local-only: local-only can only be set for list requests\n" {
		t.Errorf("local-only: %d %q", code, errOut)
	}

	const key1, key2 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "HS5lJ+XuTlYKWaeGYyG+/A=="
	ta := startTestAgent(t, func(c *Config) { c.Encrypt = key1 })
	env := cliEnvFor(ta)
	if out, errOut, code := runCLI(t, env, "", "keyring", "-install", key2); code != 0 || out != "==> Installing new gossip encryption key...\n" || errOut != "" {
		t.Errorf("install: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, env, "", "keyring", "-list")
	if code != 0 || errOut != "" {
		t.Fatalf("list: %d %q", code, errOut)
	}
	golden(t, "agent_keyring_list.golden", strings.NewReplacer(key1, "KEY2", key2, "KEY1").Replace(out))
	if out, _, code := runCLI(t, env, "", "keyring", "-use", key2); code != 0 || out != "==> Changing primary gossip encryption key...\n" {
		t.Errorf("use: %d %q", code, out)
	}
	if out, _, code := runCLI(t, env, "", "keyring", "-list-primary"); code != 0 || !strings.Contains(out, "  "+key2+" [1/1]") || strings.Contains(out, key1) {
		t.Errorf("list-primary: %d %q", code, out)
	}
	if out, _, code := runCLI(t, env, "", "keyring", "-remove", key1); code != 0 || out != "==> Removing gossip encryption key...\n" {
		t.Errorf("remove: %d %q", code, out)
	}
	if _, errOut, code := runCLI(t, env, "", "keyring", "-remove", key2); code != 1 || !strings.HasPrefix(errOut, "error: Unexpected response code: 500 (") {
		t.Errorf("remove the primary: %d %q", code, errOut)
	}
}

func TestCLIAgentValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"datacenter":"dc1","data_dir":"`+dir+`"}`)
	bad := write("bad.json", `{"bogus_key":1}`)
	sub := filepath.Join(dir, "d")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "a.json"), []byte(`{"data_dir":"`+dir+`"}`), 0o644)
	for _, tc := range []struct {
		args    []string
		out, er string
		code    int
	}{
		{[]string{"validate", good}, "Configuration is valid!\n", "", 0},
		{[]string{"validate", sub}, "Configuration is valid!\n", "", 0},
		{[]string{"validate", good, sub}, "Configuration is valid!\n", "", 0},
		{[]string{"validate", "-quiet", good}, "", "", 0},
		{[]string{"validate"}, "", "Must specify at least one config file or directory\n", 1},
		{[]string{"validate", "-config-format", "yaml", good}, "", "-config-format must be either 'hcl' or 'json\n", 1},
	} {
		out, errOut, code := runCLI(t, nil, "", tc.args...)
		if out != tc.out || errOut != tc.er || code != tc.code {
			t.Errorf("%v: %d %q %q", tc.args, code, out, errOut)
		}
	}
	_, _, loadErr := loadConfig([]string{"-config-file", bad})
	if _, errOut, code := runCLI(t, nil, "", "validate", bad); code != 1 || errOut != "Config validation failed: "+loadErr.Error()+"\n" {
		t.Errorf("bad: %d %q", code, errOut)
	}
}

// Help: Consul's shape (flags parted into HTTP API and command options,
// usage wrapped with the least raggedness at 72 columns).
func TestCLIAgentHelp(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, nil, "", "force-leave", "-h")
	if code != 0 || !strings.HasPrefix(out, "Usage: consul force-leave [options] name\n") ||
		!strings.Contains(out, "\nHTTP API Options\n\n  -ca-file=<value>\n") ||
		!strings.HasSuffix(out, "\nCommand Options\n\n  -partition=<default>\n     Specifies the admin partition to query. If not provided, the admin\n     partition will be inferred from the request's ACL token, or will\n     default to the `default` admin partition. Admin Partitions are a\n     Consul Enterprise feature.\n\n  -prune\n     Remove agent completely from list of members\n\n  -wan\n     Exclusively leave the agent from the WAN serf pool.\n") {
		t.Errorf("force-leave -h: %d\n%s", code, out)
	}
	// Consul's text, where a greedy wrap would put "TLS." on the first line.
	got := cliWrap("The server name to use as the SNI host when connecting via TLS. This can also be specified via the CONSUL_TLS_SERVER_NAME environment variable.", 67)
	want := []string{"The server name to use as the SNI host when connecting via", "TLS. This can also be specified via the CONSUL_TLS_SERVER_NAME", "environment variable."}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("wrap: %q", got)
	}
}
