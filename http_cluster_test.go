// http_cluster_test.go: the teaching view's endpoints end to end: every
// server's Raft state gathered from any server, a leadership transfer and
// the step-down control seen as new leaders and as timeline events, a
// stopped member suspect then failed in the gossip state, the blocking
// timeline, the controls refused without enable_debug; and the timeline's
// ring and the drop filter as units.
package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func (ta *testAgent) raftState() raftClusterState {
	ta.t.Helper()
	var st raftClusterState
	ta.must("GET", "/v1/operator/raft/state", "", &st)
	return st
}

func (ta *testAgent) timelineEvents() []timelineEvent {
	ta.t.Helper()
	var evs []timelineEvent
	ta.must("GET", "/v1/agent/events", "", &evs)
	return evs
}

// hasEvent: a timeline holds an event of type typ in a term (0: any) about
// member ("": any).
func hasEvent(evs []timelineEvent, typ string, term uint64, member string) bool {
	return slices.ContainsFunc(evs, func(e timelineEvent) bool {
		return e.Type == typ && (term == 0 || e.Term == term) && (member == "" || e.Member == member) &&
			e.Ref != "" && e.Summary != ""
	})
}

// viewLeader is the leader every live server's gathered state agrees on,
// with its term, or "" while they do not.
func viewLeader(c *testCluster) (string, uint64) {
	var leader string
	var term uint64
	for _, a := range c.live() {
		st := a.raftState()
		leaders := 0
		for _, s := range st.Servers {
			if s.Role == "leader" {
				leaders++
			}
		}
		if st.Leader == "" || leaders != 1 || leader != "" && (st.Leader != leader || st.Term != term) {
			return "", 0
		}
		leader, term = st.Leader, st.Term
	}
	return leader, term
}

func TestClusterViewRaftAndGossip(t *testing.T) {
	t.Parallel()
	c := startTestClusterWith(t, 3, func(cfg *Config) { cfg.EnableDebug = true })
	byName := map[string]*testAgent{}
	for _, a := range c.agents {
		byName[a.cfg.NodeName] = a
	}

	// Every server answers for all three; the leader shows its followers' progress.
	var leader string
	var term uint64
	eventually(t, 20*time.Second, "every server's gathered state agrees on one leader with two followers caught up", func() (bool, string) {
		leader, term = viewLeader(c)
		if leader == "" {
			return false, "no agreed leader"
		}
		st := byName[leader].raftState()
		for _, s := range st.Servers {
			if s.Error != "" || s.Term != term || s.CommitIndex == 0 || s.AppliedIndex == 0 || s.LastLogIndex < s.CommitIndex {
				return false, fmt.Sprintf("%+v", s)
			}
			if s.Node == leader && (len(s.Followers) != 2 || s.Followers[0].MatchIndex == 0 || s.Followers[0].State != "replicate") {
				return false, fmt.Sprintf("leader's followers %+v", s.Followers)
			}
			if s.Node != leader && s.Leader != leader {
				return false, fmt.Sprintf("%s follows %q", s.Node, s.Leader)
			}
		}
		return len(st.Servers) == 3, fmt.Sprintf("%d servers", len(st.Servers))
	})
	var local raftStateView
	byName[leader].must("GET", "/v1/operator/raft/state?local", "", &local)
	if local.Node != leader || local.Role != "leader" || len(local.Followers) != 2 {
		t.Fatalf("?local on the leader: %+v", local)
	}

	// A leadership transfer: a new leader in a higher term, told to campaign
	// by the old one, elected with a vote the third server recorded.
	byName[leader].must("POST", "/v1/operator/raft/transfer-leader", "", nil)
	// Consul's transfer answers once it is done: the old leader already
	// follows another.
	var after string
	byName[leader].must("GET", "/v1/status/leader", "", &after)
	if after == "" || after == byName[leader].serverAddr() {
		t.Fatalf("right after the transfer the old leader reports %q as leader", after)
	}
	var next string
	var nextTerm uint64
	eventually(t, 20*time.Second, "a new leader after the transfer", func() bool {
		next, nextTerm = viewLeader(c)
		return next != "" && next != leader && nextTerm > term
	})
	eventually(t, 30*time.Second, "the transfer in the timelines", func() (bool, string) {
		old, elected := byName[leader].timelineEvents(), byName[next].timelineEvents()
		switch {
		case !hasEvent(old, "transfer", term, next):
			return false, "no transfer event on the old leader"
		case !hasEvent(elected, "leader", nextTerm, ""):
			return false, "no leader event on the new leader"
		case !hasEvent(elected, "vote-received", nextTerm, leader):
			return false, "the new leader did not record the old one's vote"
		case !hasEvent(old, "vote-granted", nextTerm, next):
			return false, "the old leader did not record its vote"
		case !hasEvent(old, "follower", nextTerm, next):
			return false, "the old leader does not follow the new one"
		}
		return true, ""
	})

	// The step-down control, asked of a follower, reaches the leader: a
	// leader of a later term follows (maybe the same server, by election).
	var cur string
	var curTerm uint64
	eventually(t, 20*time.Second, "an agreed leader", func() bool {
		cur, curTerm = viewLeader(c)
		return cur != ""
	})
	var follower *testAgent
	for name, a := range byName {
		if name != cur {
			follower = a
		}
	}
	follower.must("PUT", "/v1/operator/debug/raft/step-down", "", nil)
	eventually(t, 20*time.Second, "a leader elected after the step-down", func() bool {
		l, tm := viewLeader(c)
		return l != "" && tm > curTerm
	})
	// The leader asked (the one agreed on, unless a spurious election on a
	// loaded machine moved it first) recorded the control and its step-down.
	if !slices.ContainsFunc(c.agents, func(a *testAgent) bool {
		evs := a.timelineEvents()
		return slices.ContainsFunc(evs, func(e timelineEvent) bool {
			return e.Type == "control" && e.Term >= curTerm && hasEvent(evs, "step-down", e.Term, "")
		})
	}) {
		t.Fatal("no server recorded the step-down control and its step-down")
	}

	// A stopped member is suspected, then fails, in the others' gossip state.
	victim := c.agents[2]
	name := victim.cfg.NodeName
	c.stop(2)
	watcher := c.agents[0]
	sawSuspect := false
	eventually(t, 30*time.Second, name+" failed in the LAN pool", func() (bool, string) {
		var g gossipClusterState
		watcher.must("GET", "/v1/agent/gossip/state", "", &g)
		for _, m := range g.LAN.Members {
			if m.Name == name {
				if m.Status == "suspect" && m.Suspicion != nil && len(m.Suspicion.Accusers) > 0 && m.Suspicion.Timeout > 0 {
					sawSuspect = true
				}
				return m.Status == "failed", m.Status
			}
		}
		return false, "not listed"
	})
	evs := watcher.timelineEvents()
	if !hasEvent(evs, "suspect", 0, name) || !hasEvent(evs, "failed", 0, name) {
		t.Fatalf("no suspect and failed events for %s (saw suspect in the state: %v): %+v", name, sawSuspect, evs)
	}
	var g gossipClusterState
	watcher.must("GET", "/v1/agent/gossip/state", "", &g)
	if g.WAN == nil || g.LAN.Self != watcher.cfg.NodeName || g.LAN.HealthScoreMax == 0 {
		t.Fatalf("gossip state: %+v", g)
	}
	// The stopped server shows as unreachable in the gathered Raft state.
	st := watcher.raftState()
	i := slices.IndexFunc(st.Servers, func(s raftStateView) bool { return s.Node == name })
	if i < 0 || st.Servers[i].Error == "" {
		t.Fatalf("the stopped server in the Raft state: %+v", st.Servers)
	}
}

func TestClusterViewControlsNeedEnableDebug(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, func(c *Config) { c.EnableDebug = false })
	for _, path := range []string{"/v1/operator/debug/raft/step-down", "/v1/operator/debug/raft/pause?duration=1s",
		"/v1/operator/debug/gossip/drop?member=node1&duration=1s"} {
		a.expect("PUT", path, "", http.StatusNotFound, "the teaching controls are off: start the agent with enable_debug")
	}
	a.expect("GET", "/v1/operator/debug/raft/step-down", "", http.StatusMethodNotAllowed, "method GET not allowed")
	// The views need no debug.
	a.raftState()
	a.timelineEvents()
}

func TestClusterViewControlsSingleServer(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, nil) // -dev: enable_debug on
	before := a.raftState()
	if len(before.Servers) != 1 || before.Servers[0].Role != "leader" || before.Leader != "node1" {
		t.Fatalf("state: %+v", before)
	}

	// Step down: alone, it elects itself again in a later term.
	a.must("PUT", "/v1/operator/debug/raft/step-down", "", nil)
	eventually(t, 30*time.Second, "leader again in a later term", func() bool {
		st := a.raftState()
		return st.Servers[0].Role == "leader" && st.Term > before.Term
	})
	if evs := a.timelineEvents(); !hasEvent(evs, "step-down", before.Term, "") || !hasEvent(evs, "leader", 0, "") {
		t.Fatalf("timeline: %+v", evs)
	}

	// Pause: the state says so at once, while the loop sleeps; then it wakes.
	a.expect("PUT", "/v1/operator/debug/raft/pause", "", http.StatusBadRequest, "missing ?duration")
	a.expect("PUT", "/v1/operator/debug/raft/pause?duration=2m", "", http.StatusBadRequest, "invalid ?duration")
	a.must("PUT", "/v1/operator/debug/raft/pause?duration=2s", "", nil)
	if st := a.raftState(); st.Servers[0].PausedUntil == nil {
		t.Fatalf("not paused: %+v", st.Servers[0])
	}
	a.expect("PUT", "/v1/operator/debug/raft/pause?duration=2s", "", http.StatusBadRequest, "already paused")
	a.expect("PUT", "/v1/operator/debug/raft/step-down", "", http.StatusBadRequest, "cannot step down")
	eventually(t, 30*time.Second, "resumed", func() bool {
		st := a.raftState()
		return st.Servers[0].PausedUntil == nil && st.Servers[0].Error == "" && st.Servers[0].Role == "leader"
	})
	a.must("PUT", "/v1/kv/after-pause", "x", nil)

	// Drop: an unknown member is a 404; this agent itself is cut off.
	a.expect("PUT", "/v1/operator/debug/gossip/drop?member=nobody&duration=1s", "", http.StatusNotFound, `no member "nobody" in the lan pool`)
	a.expect("PUT", "/v1/operator/debug/gossip/drop?duration=1s", "", http.StatusBadRequest, "missing ?member")
	a.must("PUT", "/v1/operator/debug/gossip/drop?member=node1&duration=1s", "", nil)
	if evs := a.timelineEvents(); !slices.ContainsFunc(evs, func(e timelineEvent) bool {
		return e.Type == "control" && e.Source == "lan" && strings.Contains(e.Summary, "cut off")
	}) {
		t.Fatalf("no drop control event: %+v", evs)
	}
}

// The timeline blocks until an event newer than ?index: a user event here.
func TestClusterViewTimelineBlocks(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, nil)
	r := a.must("GET", "/v1/agent/events", "", nil)
	idx := r.index()
	done := make(chan response, 1)
	go func() { done <- a.do("GET", fmt.Sprintf("/v1/agent/events?index=%d&wait=30s", idx), "") }()
	a.must("PUT", "/v1/event/fire/deploy", "v2", nil)
	select {
	case r := <-done:
		if r.code != http.StatusOK || r.index() <= idx || !strings.Contains(r.body, `"user-event"`) {
			t.Fatalf("blocking list: %d %s (index %d, was %d)", r.code, r.body, r.index(), idx)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking list did not return after a user event")
	}
}

func TestTimelineRingIsBounded(t *testing.T) {
	t.Parallel()
	tl := newTimeline("n")
	for i := range timelineSize + 10 {
		tl.record(timelineEvent{Type: fmt.Sprint(i)})
	}
	all, last, _ := tl.list(0)
	if len(all) != timelineSize || last != timelineSize+10 || all[0].Index != 11 || all[0].Node != "n" {
		t.Fatalf("ring: %d events, last %d, first %+v", len(all), last, all[0])
	}
	tests := []struct {
		after uint64
		want  int
	}{{last, 0}, {last - 3, 3}, {last + 5, timelineSize}} // beyond the newest: all, as after a restart
	for _, tt := range tests {
		if got, _, _ := tl.list(tt.after); len(got) != tt.want {
			t.Errorf("after %d: %d events, want %d", tt.after, len(got), tt.want)
		}
	}
	var none *timeline
	none.record(timelineEvent{}) // a driver without an agent records nothing
}

func TestGossipDrops(t *testing.T) {
	t.Parallel()
	var g gossipDrops
	g.drop("10.0.0.1:8301", false, time.Hour)
	g.drop("10.0.0.2:8301", false, -time.Second) // already over
	tests := []struct {
		addr string
		want bool
	}{{"10.0.0.1:8301", true}, {"10.0.0.2:8301", false}, {"10.0.0.3:8301", false}, {"", false}}
	for _, tt := range tests {
		if got := g.dropping(tt.addr); got != tt.want {
			t.Errorf("dropping(%q) = %v", tt.addr, got)
		}
	}
	g.drop("", true, time.Hour)
	if !g.dropping("10.0.0.3:8301") || !g.dropping("") {
		t.Error("cut off from everyone, yet something passes")
	}
}

func TestClusterViewACLs(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `key_prefix "" { policy = "read" }`)
	for _, c := range []struct{ method, path, perm, segment string }{
		{"GET", "/v1/operator/raft/state", "operator:read", ""},
		{"PUT", "/v1/operator/debug/raft/step-down", "operator:write", ""},
		{"PUT", "/v1/operator/debug/raft/pause?duration=1s", "operator:write", ""},
		{"PUT", "/v1/operator/debug/gossip/drop?member=node1&duration=1s", "operator:write", ""},
		{"GET", "/v1/agent/gossip/state", "agent:read", "node1"},
		{"GET", "/v1/agent/events", "agent:read", "node1"},
	} {
		a.expectToken(tok.SecretID, c.method, c.path, "", http.StatusForbidden, denied(tok, c.perm, c.segment))
	}
	a.mustToken("root", "GET", "/v1/operator/raft/state", "", nil)
	a.mustToken("root", "GET", "/v1/agent/gossip/state", "", nil)
	a.mustToken("root", "GET", "/v1/agent/events", "", nil)
	a.mustToken("root", "PUT", "/v1/operator/debug/gossip/drop?member=node1&duration=1ms", "", nil)
}

// A snapshot taken is in the timeline, with its index.
func TestClusterViewSnapshotEvent(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, func(c *Config) { c.RaftSnapshotThreshold = 8 })
	for i := range 20 {
		a.must("PUT", fmt.Sprintf("/v1/kv/k%d", i), "v", nil)
	}
	eventually(t, 30*time.Second, "a snapshot-taken event", func() bool {
		return hasEvent(a.timelineEvents(), "snapshot-taken", 0, "")
	})
}
