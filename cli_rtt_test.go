package main

import (
	"strings"
	"testing"
	"time"
)

// TestCLIRTT: Consul's output, messages and exit codes (compared with
// Consul 1.22.7's rtt against the same coordinates).
func TestCLIRTT(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.SyncCoordinateIntervalMin = time.Hour })
	env := cliEnvFor(ta)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"web1","Address":"10.0.0.1"}`, nil)
	ta.must("PUT", "/v1/coordinate/update", coordJSON("web1", 0.001234), nil)
	ta.must("PUT", "/v1/coordinate/update", coordJSON("node1", 0), nil)
	eventually(t, 30*time.Second, "both coordinates stored", func() bool { return len(coordNodes(ta)) == 2 })

	for _, tc := range []struct {
		args           []string
		stdout, stderr string
		code           int
	}{
		// 1.234 ms apart, plus both heights (10 µs each)
		{[]string{"web1", "node1"}, "Estimated web1 <-> node1 rtt: 1.254 ms (using LAN coordinates)\n", "", 0},
		{[]string{"WEB1"}, "Estimated WEB1 <-> node1 rtt: 1.254 ms (using LAN coordinates)\n", "", 0},
		{[]string{"nosuch"}, "", "Could not find a coordinate for node \"nosuch\"\n", 1},
		{[]string{"web1", "nosuch"}, "", "Could not find a coordinate for node \"nosuch\"\n", 1},
		{[]string{}, "", "One or two node names must be specified\n\nUsage: consul rtt [options] node1 [node2]\n", 1},
		{[]string{"-wan", "web1"}, "", "Node names must be specified as <node name>.<datacenter> with -wan\n", 1},
		// the WAN pool: this server alone, at the origin
		{[]string{"-wan", "node1.dc1"}, "Estimated node1.dc1 <-> node1.dc1 rtt: 0.020 ms (using WAN coordinates)\n", "", 0},
		{[]string{"-wan", "node1.dc1", "x.dc1"}, "", "Could not find a coordinate for node \"node1.dc1\"\n", 1},
	} {
		stdout, stderr, code := runCLI(t, env, "", append([]string{"rtt"}, tc.args...)...)
		if stdout != tc.stdout || !strings.HasPrefix(stderr, tc.stderr) || (tc.stderr == "" && stderr != "") || code != tc.code {
			t.Errorf("rtt %v: %d %q %q, want %d %q %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}
