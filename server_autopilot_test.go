// server_autopilot_test.go: the leader's reconciliation of the LAN pool's
// servers into the Raft configuration (non-voter first, promoted once
// stable), dead-server cleanup, and the autopilot endpoints' shapes.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
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
			cfg.RetryJoin = []string{agents[0].lan.Addr()}
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
	eventually(t, 20*time.Second, "the removed server back in the configuration", func() bool {
		s, ok := clusterLeader(agents).raft.raftStatus().Config.server(id)
		if ok && readded == 0 {
			readded = time.Since(deleted)
			if !s.NonVoter {
				t.Errorf("re-added as a voter, not as a non-voter first")
			}
		}
		return ok
	})
	eventually(t, 20*time.Second, "the re-added server promoted to voter", func() bool {
		if clusterLeader(agents).raft.raftStatus().Config.hasVoter(id) {
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
	restored := newStore()
	if err := restored.restore(&buf); err != nil {
		t.Fatal(err)
	}
	if r := restored.snapshot().autopilotConfig(); r == nil || *r != *got {
		t.Fatalf("restored %+v, want %+v", r, got)
	}
}
