// server_autopilot_test.go: the leader's reconciliation of the LAN pool's
// servers into the Raft configuration (non-voter first, promoted once
// stable), dead-server cleanup, and the autopilot endpoints' shapes.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// startFreePortCluster starts n servers on 127.0.0.<base+i>, every port
// picked by the system: the first forms the pool, the others join it
// through its LAN address, and -bootstrap-expect=n forms the cluster from
// the servers the pool announces.
func startFreePortCluster(t *testing.T, base, n int, mutate func(*Config)) []*testAgent {
	t.Helper()
	var agents []*testAgent
	for i := 1; i <= n; i++ {
		ip := fmt.Sprintf("127.0.0.%d", base+i)
		cfg := testConfig(fmt.Sprintf("s%d", i))
		cfg.DevMode, cfg.Bootstrap, cfg.BootstrapExpect = false, false, n
		cfg.DataDir = t.TempDir()
		cfg.BindAddr, cfg.AdvertiseAddr = ip, ip
		cfg.Addresses = AddressesConfig{HTTP: []string{ip}}
		cfg.Ports.DNS = -1
		if i > 1 {
			cfg.RetryJoin = []string{agents[0].lan().Addr()}
		}
		if mutate != nil {
			mutate(cfg)
		}
		logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", cfg.NodeName)
		a, err := newAgent(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Shutdown)
		agents = append(agents, &testAgent{Agent: a, t: t, base: "http://" + a.HTTPAddrs()[0]})
	}
	eventually(t, 20*time.Second, "a leader with every server a voter", func() bool {
		l := clusterLeader(agents)
		return l != nil && l.raft.raftStatus().Config.voters() == n
	})
	return agents
}

// clusterLeader is the agent that leads, or nil.
func clusterLeader(agents []*testAgent) *testAgent {
	for _, a := range agents {
		if a != nil && a.raft.isLeader() {
			return a
		}
	}
	return nil
}

// TestBug_RemovedLiveServerRejoinsAsNonVoterThenVoter: DELETE
// /v1/operator/raft/peer on a live follower left it stuck for good
// (pre-candidate forever, its reads and writes failing). The leader now
// adds a live server of the pool that is missing from the configuration
// back, as a non-voter, and promotes it once it has been stable for
// server_stabilization_time; then it serves reads and writes again.
func TestBug_RemovedLiveServerRejoinsAsNonVoterThenVoter(t *testing.T) {
	t.Parallel()
	agents := startFreePortCluster(t, 160, 3, func(c *Config) {
		c.Autopilot.ServerStabilizationTime = 2 * time.Second
	})
	leader := clusterLeader(agents)
	var victim *testAgent
	for _, a := range agents {
		if a != leader {
			victim = a
			break
		}
	}
	id := victim.nodeID
	deleted := time.Now()
	leader.must("DELETE", "/v1/operator/raft/peer?address="+url.QueryEscape(victim.serverAddr()), "", nil)
	if leader.raft.raftStatus().Config.has(id) {
		t.Fatal("the peer is still in the configuration after DELETE")
	}
	var readded, promoted time.Duration
	// Under load the cluster may be without a leader for a moment (two
	// voters left, one slow): the checks wait for the next one.
	eventually(t, 20*time.Second, "the removed server back in the configuration", func() bool {
		l := clusterLeader(agents)
		if l == nil {
			return false
		}
		s, ok := l.raft.raftStatus().Config.server(id)
		if ok && readded == 0 {
			readded = time.Since(deleted)
			if !s.NonVoter {
				t.Errorf("re-added as a voter, not as a non-voter first")
			}
		}
		return ok
	})
	eventually(t, 20*time.Second, "the re-added server promoted to voter", func() bool {
		if l := clusterLeader(agents); l != nil && l.raft.raftStatus().Config.hasVoter(id) {
			promoted = time.Since(deleted)
			return true
		}
		return false
	})
	t.Logf("DELETE → re-added as a non-voter in %v, promoted to voter in %v", readded.Round(time.Millisecond), promoted.Round(time.Millisecond))
	if promoted < 2*time.Second {
		t.Errorf("promoted after %v, before server_stabilization_time (2s)", promoted)
	}
	victim.must("PUT", "/v1/kv/after-rejoin", "v", nil)
	if r := victim.must("GET", "/v1/kv/after-rejoin?consistent&raw", "", nil); r.body != "v" {
		t.Fatalf("the rejoined server reads %q", r.body)
	}
	// Its autopilot views, asked of the leader through it.
	var state autopilotState
	eventually(t, 10*time.Second, "every server healthy in autopilot's state", func() bool {
		victim.must("GET", "/v1/operator/autopilot/state", "", &state)
		return state.Healthy && len(state.Voters) == 3 && state.Servers[id].Status == "voter"
	})
	// Health is judged afresh on each pass (a loaded machine can put a
	// follower past last_contact_threshold for a moment): it is healthy
	// once every server is.
	eventually(t, 10*time.Second, "health 200 with a failure tolerance of 1", func() (bool, string) {
		r := victim.do("GET", "/v1/operator/autopilot/health", "")
		return r.code == 200 && strings.Contains(r.body, `"FailureTolerance":1`), fmt.Sprint(r.code, " ", r.body)
	})
}

// The autopilot configuration goes through the log: a set, a CAS that
// loses (and one that never matches while nothing is stored), and a
// snapshot that carries it.
func TestAutopilotConfigurationInStoreAndSnapshot(t *testing.T) {
	t.Parallel()
	s := newStore()
	cfg := defaultAutopilotConfiguration()
	cfg.ModifyIndex = 0
	if res := s.apply(1, &command{Type: cmdAutopilot, Autopilot: &autopilotRequest{Config: cfg, CAS: true}}); res.ok || res.err != nil {
		t.Fatalf("CAS with nothing stored: %+v", res)
	}
	if res := s.apply(2, &command{Type: cmdAutopilot, Autopilot: &autopilotRequest{Config: cfg}}); !res.ok {
		t.Fatalf("set: %+v", res)
	}
	cfg.MinQuorum, cfg.ModifyIndex = 3, 1
	if res := s.apply(3, &command{Type: cmdAutopilot, Autopilot: &autopilotRequest{Config: cfg, CAS: true}}); res.ok {
		t.Fatal("a CAS on a stale index won")
	}
	cfg.ModifyIndex = 2
	if res := s.apply(4, &command{Type: cmdAutopilot, Autopilot: &autopilotRequest{Config: cfg, CAS: true}}); !res.ok {
		t.Fatalf("CAS on the current index: %+v", res)
	}
	got := s.snapshot().autopilotConfig()
	if got.MinQuorum != 3 || got.CreateIndex != 2 || got.ModifyIndex != 4 {
		t.Fatalf("stored %+v", got)
	}
	var buf bytes.Buffer
	if err := writeSnapshot(s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	restored, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r := restored.autopilotConfig(); r == nil || *r != *got {
		t.Fatalf("restored %+v, want %+v", r, got)
	}
}

// The autopilot endpoints answer in Consul's shapes: the configuration
// (seeded by the leader, set by PUT with Consul's defaults for omitted
// fields, check-and-set by ?cas), health and state.
func TestAutopilotEndpoints(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.Autopilot.MinQuorum = 1 })
	r := ta.must("GET", "/v1/operator/autopilot/configuration", "", nil)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(r.body), &cfg); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(cfg))
	want := []string{"CleanupDeadServers", "CreateIndex", "DisableUpgradeMigration", "LastContactThreshold", "MaxTrailingLogs",
		"MinQuorum", "ModifyIndex", "RedundancyZoneTag", "ServerStabilizationTime", "UpgradeVersionTag"}
	if !slices.Equal(keys, want) || cfg["LastContactThreshold"] != "200ms" || cfg["ServerStabilizationTime"] != "10s" ||
		cfg["MaxTrailingLogs"] != 250.0 || cfg["MinQuorum"] != 1.0 || cfg["CleanupDeadServers"] != true {
		t.Fatalf("configuration: %s", r.body)
	}
	modify := uint64(cfg["ModifyIndex"].(float64))
	if r := ta.must("PUT", "/v1/operator/autopilot/configuration", `{"MaxTrailingLogs": 100}`, nil); r.body != "true" {
		t.Fatalf("PUT: %s", r.body)
	}
	var got AutopilotConfiguration
	ta.must("GET", "/v1/operator/autopilot/configuration", "", &got)
	if got.MaxTrailingLogs != 100 || got.MinQuorum != 0 || !got.CleanupDeadServers || got.ServerStabilizationTime != duration(10*time.Second) {
		t.Fatalf("after PUT: %+v", got)
	}
	if r := ta.must("PUT", fmt.Sprintf("/v1/operator/autopilot/configuration?cas=%d", modify), `{"MinQuorum": 3}`, nil); r.body != "false" {
		t.Fatalf("stale CAS: %s", r.body)
	}
	if r := ta.must("PUT", fmt.Sprintf("/v1/operator/autopilot/configuration?cas=%d", got.ModifyIndex), `{"MinQuorum": 3}`, nil); r.body != "true" {
		t.Fatalf("CAS: %s", r.body)
	}
	ta.expect("PUT", "/v1/operator/autopilot/configuration", `{"Bogus": 1}`, 400, `Error parsing autopilot config: json: unknown field "Bogus"`)
	ta.expect("PUT", "/v1/operator/autopilot/configuration?cas=x", `{}`, 400, "Error parsing cas value")
	ta.expect("PUT", "/v1/operator/autopilot/configuration", ``, 400, "Error parsing autopilot config: EOF")
	ta.expect("PUT", "/v1/operator/autopilot/configuration", `{"LastContactThreshold": "-1s"}`, 400, "cannot be negative")

	var health struct {
		Healthy          bool
		FailureTolerance int
		Servers          []map[string]any
	}
	eventually(t, 10*time.Second, "autopilot health", func() bool {
		r := ta.do("GET", "/v1/operator/autopilot/health", "")
		return r.code == 200 && json.Unmarshal([]byte(r.body), &health) == nil
	})
	if !health.Healthy || health.FailureTolerance != 0 || len(health.Servers) != 1 {
		t.Fatalf("health: %+v", health)
	}
	s := health.Servers[0]
	want = []string{"Address", "Healthy", "ID", "LastContact", "LastIndex", "LastTerm", "Leader", "Name", "SerfStatus", "StableSince", "Version", "Voter"}
	if keys := slices.Sorted(maps.Keys(s)); !slices.Equal(keys, want) || s["Leader"] != true || s["Voter"] != true ||
		s["SerfStatus"] != "alive" || s["LastContact"] != "0s" || s["Name"] != "node1" {
		t.Fatalf("health server: %v", s)
	}
	var state struct {
		Healthy                    bool
		FailureTolerance           int
		OptimisticFailureTolerance int
		Servers                    map[string]map[string]any
		Leader                     string
		Voters                     []string
	}
	r = ta.must("GET", "/v1/operator/autopilot/state", "", &state)
	if !state.Healthy || state.Leader != ta.nodeID || !slices.Equal(state.Voters, []string{ta.nodeID}) {
		t.Fatalf("state: %s", r.body)
	}
	want = []string{"Address", "Healthy", "ID", "LastContact", "LastIndex", "LastTerm", "Meta", "Name", "NodeStatus", "NodeType",
		"ReadReplica", "StableSince", "Status", "Version"}
	srv := state.Servers[ta.nodeID]
	if keys := slices.Sorted(maps.Keys(srv)); !slices.Equal(keys, want) || srv["Status"] != "leader" || srv["NodeType"] != "voter" ||
		srv["NodeStatus"] != "alive" {
		t.Fatalf("state server: %s", r.body)
	}
}

// cleanup_dead_servers' choice (autopilot's pruneDeadServers): failed
// non-voters always go; failed voters only while fewer than half of the
// voters go and at least min_quorum remain.
func TestAutopilotDeadServersNeverCostTheQuorum(t *testing.T) {
	t.Parallel()
	config := func(voters, nonVoters int) raftConfiguration {
		var c raftConfiguration
		for i := range voters + nonVoters {
			c.Servers = append(c.Servers, raftServer{ID: fmt.Sprint("s", i), Node: fmt.Sprint("s", i), NonVoter: i >= voters})
		}
		return c
	}
	members := func(failed ...string) map[string]swimMember {
		m := map[string]swimMember{}
		for i := range 7 {
			m[fmt.Sprint("s", i)] = swimMember{Name: fmt.Sprint("s", i), State: swimAlive}
		}
		for _, id := range failed {
			m[id] = swimMember{Name: id, State: swimFailed}
		}
		return m
	}
	names := func(ss []raftServer) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name         string
		config       raftConfiguration
		failed       []string
		minQuorum    uint
		remove, keep string
	}{
		{"one of three", config(3, 0), []string{"s2"}, 0, "s2", ""},
		{"two of three", config(3, 0), []string{"s1", "s2"}, 0, "s1", "s2"},
		{"one of two", config(2, 0), []string{"s1"}, 0, "", "s1"},
		{"two of five", config(5, 0), []string{"s3", "s4"}, 0, "s3,s4", ""},
		{"three of five", config(5, 0), []string{"s2", "s3", "s4"}, 0, "s2,s3", "s4"},
		{"min quorum", config(3, 0), []string{"s2"}, 3, "", "s2"},
		{"non-voters first", config(3, 2), []string{"s2", "s4"}, 0, "s4,s2", ""},
		{"non-voter in a pair", config(1, 1), []string{"s1"}, 5, "s1", ""},
	} {
		remove, keep := deadServers(tc.config, members(tc.failed...), tc.minQuorum)
		if names(remove) != tc.remove || names(keep) != tc.keep {
			t.Errorf("%s: remove %q keep %q, want %q and %q", tc.name, names(remove), names(keep), tc.remove, tc.keep)
		}
	}
}

// The autopilot block of the configuration file seeds the cluster's
// autopilot configuration; bad values are refused with the key's name.
func TestLoadConfigAutopilot(t *testing.T) {
	t.Parallel()
	cfg, ignored, err := loadConfigFixtures(t, []string{`{"server": true, "autopilot": {"cleanup_dead_servers": false,
		"last_contact_threshold": "1s", "max_trailing_logs": 10, "min_quorum": 3, "server_stabilization_time": "0s",
		"redundancy_zone_tag": "zone"}}`}, "-data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := AutopilotConfig{LastContactThreshold: time.Second, MaxTrailingLogs: 10, MinQuorum: 3}
	if cfg.Autopilot != want || !slices.Equal(ignored, []string{"autopilot.redundancy_zone_tag"}) {
		t.Fatalf("autopilot %+v, ignored %q", cfg.Autopilot, ignored)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"autopilot": {"max_trailing_logs": -1}}`, "autopilot.max_trailing_logs"},
		{`{"autopilot": {"last_contact_threshold": "0s"}}`, "must be positive"},
		{`{"autopilot": {"server_stabilization_time": "soon"}}`, `invalid duration "soon"`},
		{`{"autopilot": {"cleanup_dead_servers": "yes"}}`, "autopilot.cleanup_dead_servers"},
		{`{"autopilot": {"min_quorums": 1}}`, "autopilot.min_quorums"},
	} {
		if _, _, err := loadConfigFixtures(t, []string{tc.body}, "-data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

// cleanup_dead_servers: a server that failed stays in the configuration
// until a replacement joins; then it is removed (one of three voters: the
// quorum is safe), and the replacement, added as a non-voter, is promoted.
func TestAutopilotReplacementRemovesFailedServer(t *testing.T) {
	t.Parallel()
	fast := func(c *Config) { c.Autopilot.ServerStabilizationTime = time.Second }
	agents := startFreePortCluster(t, 170, 3, fast)
	leader := clusterLeader(agents)
	var dead *testAgent
	for _, a := range agents {
		if a != leader {
			dead = a
		}
	}
	deadID := dead.nodeID
	dead.Shutdown() // no leave: the pool marks it failed
	eventually(t, 30*time.Second, "the stopped server failed in the pool", func() bool {
		for _, m := range leader.lan().Members() {
			if m.Tags["id"] == deadID {
				return m.State == swimFailed
			}
		}
		return false
	})
	if !leader.raft.raftStatus().Config.has(deadID) {
		t.Fatal("a failed server was removed before any replacement joined")
	}
	cfg := testConfig("s4")
	cfg.DevMode, cfg.Bootstrap = false, false
	cfg.DataDir = t.TempDir()
	cfg.BindAddr, cfg.AdvertiseAddr = "127.0.0.174", "127.0.0.174"
	cfg.Addresses = AddressesConfig{HTTP: []string{"127.0.0.174"}}
	cfg.Ports.DNS = -1
	cfg.RetryJoin = []string{leader.lan().Addr()}
	fast(cfg)
	s4, err := newAgent(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", "s4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s4.Shutdown)
	eventually(t, 30*time.Second, "the failed server replaced by a voter s4", func() bool {
		l := clusterLeader(agents)
		if l == nil {
			return false
		}
		c := l.raft.raftStatus().Config
		return !c.has(deadID) && c.hasVoter(s4.nodeID) && c.voters() == 3
	})
}

// TestBug_AutopilotKeepsBootstrappedClustersApart: two -dev agents joined
// in one LAN pool each lead a cluster of their own; autopilot added the
// other as a non-voter, merging two logs that never agreed (and the first
// lost its leadership on leave). As Consul, a server in bootstrap mode is
// not added while another is.
func TestBug_AutopilotKeepsBootstrappedClustersApart(t *testing.T) {
	t.Parallel()
	tags := func(name, bootstrap string) swimMember {
		return swimMember{Name: name, State: swimAlive, Tags: map[string]string{"role": "consul", "bootstrap": bootstrap}}
	}
	members := map[string]swimMember{"a": tags("n1", "1"), "b": tags("n2", "1"), "c": tags("n3", "")}
	if other, clash := bootstrapClash(members["b"], members); !clash || other != "n1" {
		t.Errorf("n2 beside n1, both bootstrapping: %q %v", other, clash)
	}
	if _, clash := bootstrapClash(members["c"], members); clash {
		t.Error("a server not in bootstrap mode is refused")
	}
	n1, n2 := startTestAgent(t, nil), startTestAgent(t, func(c *Config) { c.NodeName = "node2" })
	if _, err := n2.lan().Join([]string{n1.lan().Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node2 alive in node1's pool", func() bool {
		for _, m := range n1.lan().Members() {
			if m.Name == "node2" && m.State == swimAlive {
				return true
			}
		}
		return false
	})
	// Autopilot adds a missing server after one whole pass: give it three.
	time.Sleep(3 * autopilotInterval)
	if c := n1.raft.raftStatus().Config; len(c.Servers) != 1 {
		t.Fatalf("node1's configuration took the other cluster's server: %+v", c.Servers)
	}
}
