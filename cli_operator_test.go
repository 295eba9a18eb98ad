// cli_operator_test.go: the operator commands against an in-process
// 1-server dev agent: list-peers, autopilot get-config and state against
// golden files written from Consul 1.22.7's output (this agent's node,
// ID, address, version and indexes put in place of Consul's), remove-peer
// and transfer-leader's errors, set-config, the family helps, bad flags,
// a dead agent, and every exit code; cliWrap against Consul's wrapping.
package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// golden reads testdata/cli/name.
func opGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/cli/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Consul's values in the golden files.
const (
	goldenNode    = "opnode"
	goldenID      = "95807bb5-4c05-6523-f733-624ee0d4241f"
	goldenAddress = "127.0.0.143:28300"
)

// opAgent is a 1-server dev agent named as the golden files' node, once
// its autopilot has made a pass (the last indexes are known).
func opAgent(t *testing.T) (*testAgent, map[string]string) {
	ta := startTestAgent(t, func(c *Config) { c.NodeName = goldenNode })
	env := cliEnvFor(ta)
	deadline := time.Now().Add(10 * time.Second)
	for ta.autopilot.currentState() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no autopilot state")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ta, env
}

func TestCLIOperatorRaftListPeers(t *testing.T) {
	t.Parallel()
	ta, env := opAgent(t)
	out, errOut, code := runCLI(t, env, "", "operator", "raft", "list-peers")
	if code != 0 || errOut != "" {
		t.Fatalf("list-peers: %d %q", code, errOut)
	}
	st := ta.raft.raftStatus()
	self, _ := st.Config.server(st.ID)
	ours := strings.Fields(strings.Split(out, "\n")[1])
	if len(ours) != 8 {
		t.Fatalf("row: %q", out)
	}
	if n, err := strconv.Atoi(ours[6]); err != nil || n == 0 {
		t.Errorf("Commit Index %q: want the leader's last index", ours[6])
	}
	// The golden table, its fields replaced by this agent's and aligned
	// again as Consul's columnize does.
	var lines []string
	for r, l := range strings.Split(strings.TrimSuffix(opGolden(t, "operator_raft_list_peers.golden"), "\n"), "\n") {
		fields := regexp.MustCompile(`  +`).Split(strings.TrimSpace(l), -1)
		for i, f := range fields {
			switch {
			case f == goldenID:
				fields[i] = st.ID
			case f == goldenAddress:
				fields[i] = self.Address
			case i == 6 && r > 0: // the header's is "Commit Index"
				fields[i] = ours[6]
			}
		}
		lines = append(lines, strings.Join(fields, "|"))
	}
	if want := columnize(lines) + "\n"; out != want {
		t.Errorf("list-peers:\n%s\nwant\n%s", out, want)
	}
	if !strings.HasPrefix(out, "Node    ID                                    Address") {
		t.Errorf("header: %q", out)
	}

	dead := map[string]string{"CONSUL_HTTP_ADDR": closedPort(t)}
	_, errOut, code = runCLI(t, dead, "", "operator", "raft", "list-peers")
	if code != 1 || !strings.HasPrefix(errOut, "Error getting peers: Failed to retrieve raft configuration: Get ") ||
		!strings.HasSuffix(errOut, "connect: connection refused\n") {
		t.Errorf("dead agent: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, env, "", "operator", "raft", "list-peers", "-bogus")
	if code != 1 || !strings.HasPrefix(errOut, "flag provided but not defined: -bogus\nUsage:\n") ||
		!strings.HasSuffix(errOut, "\nFailed to parse args: flag provided but not defined: -bogus\n") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
}

func TestCLIOperatorRaftRemovePeerAndTransfer(t *testing.T) {
	t.Parallel()
	_, env := opAgent(t)
	cases := []struct {
		args    []string
		code    int
		stdout  string
		stderrP string // the stderr's start
	}{
		{[]string{"operator", "raft", "remove-peer"}, 1, "", "Error removing peer: an address or id is required for the peer to remove\n"},
		{[]string{"operator", "raft", "remove-peer", "-id", "x", "-address", "y"}, 1, "", "Error removing peer: cannot give both an address and id\n"},
		{[]string{"operator", "raft", "remove-peer", "-id", "nope"}, 1, "", "Error removing peer: Unexpected response code: 500 (id \"nope\" was not found in the Raft configuration)"},
		{[]string{"operator", "raft", "remove-peer", "-address", "1.2.3.4:5"}, 1, "", "Error removing peer: Unexpected response code: 500 (address \"1.2.3.4:5\" was not found in the Raft configuration)"},
		{[]string{"operator", "raft", "transfer-leader"}, 1, "", "Error transfering leadership: Failed to transfer leadership Unexpected response code: 500 ("},
		{[]string{"operator", "raft", "transfer-leader", "-id", "nope"}, 1, "", "Error transfering leadership: Failed to transfer leadership Unexpected response code: 500 ("},
		{[]string{"operator", "raft", "transfer-leader", "-x"}, 1, "", "flag provided but not defined: -x\n"},
	}
	for _, tc := range cases {
		out, errOut, code := runCLI(t, env, "", tc.args...)
		if code != tc.code || out != tc.stdout || !strings.HasPrefix(errOut, tc.stderrP) {
			t.Errorf("%v: %d %q %q", tc.args, code, out, errOut)
		}
	}
	if _, errOut, code := runCLI(t, env, "", "operator", "raft", "remove-peer", "-id", "nope"); !strings.Contains(errOut, "nope") || code != 1 {
		t.Errorf("remove-peer of an unknown id: %d %q", code, errOut)
	}
}

func TestCLIOperatorAutopilot(t *testing.T) {
	t.Parallel()
	ta, env := opAgent(t)
	out, errOut, code := runCLI(t, env, "", "operator", "autopilot", "get-config")
	if code != 0 || errOut != "" || out != opGolden(t, "operator_autopilot_get_config.golden") {
		t.Errorf("get-config: %d %q\n%s", code, errOut, out)
	}

	out, errOut, code = runCLI(t, env, "", "operator", "autopilot", "set-config", "-max-trailing-logs=300", "-last-contact-threshold=300ms", "-cleanup-dead-servers=false")
	if code != 0 || errOut != "" || out != "Configuration updated!\n" {
		t.Errorf("set-config: %d %q %q", code, out, errOut)
	}
	out, _, _ = runCLI(t, env, "", "operator", "autopilot", "get-config")
	want := strings.NewReplacer("CleanupDeadServers = true", "CleanupDeadServers = false",
		"200ms", "300ms", "250", "300").Replace(opGolden(t, "operator_autopilot_get_config.golden"))
	if out != want {
		t.Errorf("after set-config:\n%s\nwant\n%s", out, want)
	}
	_, errOut, code = runCLI(t, env, "", "operator", "autopilot", "set-config", "-max-trailing-logs=x")
	if code != 1 || !strings.HasPrefix(errOut, `invalid value "x" for flag -max-trailing-logs: `) {
		t.Errorf("set-config bad value: %d %q", code, errOut)
	}

	// state: the golden text with this agent's values.
	out, errOut, code = runCLI(t, env, "", "operator", "autopilot", "state")
	if code != 0 || errOut != "" {
		t.Fatalf("state: %d %q", code, errOut)
	}
	st := ta.raft.raftStatus()
	self, _ := st.Config.server(st.ID)
	field := func(label string) string {
		m := regexp.MustCompile(`(?m)^ +` + label + `: +(.*)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in %q", label, out)
		}
		return m[1]
	}
	g := opGolden(t, "operator_autopilot_state.golden")
	want = strings.NewReplacer(goldenID, st.ID, goldenAddress, self.Address, "1.22.7", field("Version"),
		"Last Term:       2", "Last Term:       "+field("Last Term"),
		"Last Index:      119", "Last Index:      "+field("Last Index")).Replace(g)
	if out != want {
		t.Errorf("state:\n%s\nwant\n%s", out, want)
	}

	out, _, code = runCLI(t, env, "", "operator", "autopilot", "state", "-format=json")
	var js map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js["Leader"] != st.ID || !strings.HasPrefix(out, "{\n    \"Healthy\": true,\n") {
		t.Errorf("state -format=json: %d %q", code, out)
	}
	_, errOut, code = runCLI(t, env, "", "operator", "autopilot", "state", "-format=yaml")
	if code != 1 || errOut != "Unknown format: yaml\n" {
		t.Errorf("state -format=yaml: %d %q", code, errOut)
	}
	dead := map[string]string{"CONSUL_HTTP_ADDR": closedPort(t)}
	if _, errOut, code = runCLI(t, dead, "", "operator", "autopilot", "get-config"); code != 1 || !strings.HasPrefix(errOut, "Error querying Autopilot configuration: Get ") {
		t.Errorf("get-config, dead agent: %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, dead, "", "operator", "autopilot", "set-config"); code != 1 || !strings.HasPrefix(errOut, "Error querying Autopilot configuration: Get ") {
		t.Errorf("set-config, dead agent: %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, dead, "", "operator", "autopilot", "state"); code != 1 || !strings.HasPrefix(errOut, "Error querying Autopilot state: Get ") {
		t.Errorf("state, dead agent: %d %q", code, errOut)
	}
}

// The families print their help and subcommands on stderr, exit 1; -h
// prints a command's help on stdout, exit 0.
func TestCLIOperatorHelp(t *testing.T) {
	t.Parallel()
	for _, fam := range [][]string{{"operator"}, {"operator", "raft"}, {"operator", "autopilot"}} {
		_, errOut, code := runCLI(t, nil, "", fam...)
		if code != 1 || !strings.HasPrefix(errOut, "Usage: consul "+strings.Join(fam, " ")+" <subcommand> [options]\n") || !strings.Contains(errOut, "\nSubcommands:\n") {
			t.Errorf("%v: %d %q", fam, code, errOut)
		}
	}
	out, _, code := runCLI(t, nil, "", "operator", "raft", "list-peers", "-h")
	if code != 0 || !strings.HasPrefix(out, "Usage: consul operator raft list-peers [options]\n\n  Displays the current Raft peer configuration.\n\nHTTP API Options\n\n  -ca-file=<value>\n") ||
		!strings.Contains(out, "\n  -stale\n") || !strings.Contains(out, "\n  -http-addr=<address>\n") {
		t.Errorf("list-peers -h: %d %q", code, out)
	}
	out, _, _ = runCLI(t, nil, "", "operator", "autopilot", "set-config", "-h")
	// Consul 1.22.7's text for this flag, wrapped as its help wraps it.
	want := `  -server-stabilization-time=<10s>
     Controls the minimum amount of time a server must be stable in
     the 'healthy' state before being added to the cluster. Only takes
     effect if all servers are running Raft protocol version 3 or
     higher. Must be a duration value such as ` + "`10s`" + `.
`
	if !strings.Contains(out, "\nCommand Options\n\n  -cleanup-dead-servers=<true|false>\n") || !strings.Contains(out, want) {
		t.Errorf("set-config -h:\n%s", out)
	}
}
