package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// inject hands a forged message straight to a server's core, as the driver
// would after decoding it, and processes what the core does with it.
func (s *simNet) inject(m raftMessage) {
	nd := s.nodes[m.To]
	nd.core.step(m)
	s.process(nd)
}

// checkTermsBelow fails if a live server's term reached limit.
func (s *simNet) checkTermsBelow(limit uint64) {
	s.t.Helper()
	for _, id := range s.ids {
		if nd := s.nodes[id]; nd.up && nd.core.term >= limit {
			s.t.Fatalf("%s is at term %d", id, nd.core.term)
		}
	}
}

// Issue 11, item 1: one forged frame (a heartbeat response from a made-up
// node, Term = 2^64-1) deposed the leader, every server adopted the term,
// and the next election's term wrapped to 0: no leader ever again. Messages
// from outside the configuration, and terms at the limit, are now dropped.
func TestBug_RaftForgedFrameKeepsLeader(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	term := l.core.term
	s.mustCommit("before", 50)
	for _, id := range s.ids {
		// The frame, to every server; a leader's message from the
		// made-up node; and the limit's term under a member's own name.
		s.inject(raftMessage{Type: msgHeartbeatResp, From: "evil-node", To: id, Term: math.MaxUint64, Seq: 1 << 40})
		s.inject(raftMessage{Type: msgApp, From: "evil-node", To: id, Term: term + 1<<40, LogIndex: 1, LogTerm: 1,
			Entries: []raftEntry{{Index: 2, Term: term + 1<<40, Type: raftEntryCommand, Data: []byte("forged")}}})
		for _, member := range s.others(id) {
			s.inject(raftMessage{Type: msgHeartbeatResp, From: member, To: id, Term: math.MaxUint64})
			s.inject(raftMessage{Type: msgHeartbeat, From: member, To: id, Term: maxRaftTerm})
		}
	}
	s.checkTermsBelow(term + 1)
	s.run(50)
	if l2 := s.checkOneLeader(50); l2.id != l.id || l2.core.term != term {
		t.Fatalf("leadership changed: %s term %d → %s term %d", l.id, term, l2.id, l2.core.term)
	}
	s.mustCommit("after", 50)
	for _, id := range s.ids {
		if slices.Contains(s.nodes[id].fsm.log, "forged") {
			t.Fatalf("%s applied the forged entry", id)
		}
	}
}

// Disruptive servers (dissertation §4.2.3): a server removed from the
// configuration keeps campaigning (it never learns of its removal); even a forced vote request (leadership transfer's,
// which bypasses the lease) must not disturb the cluster.
func TestBug_RaftRemovedServerIgnored(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 4)
	l := s.checkOneLeader(50)
	s.mustCommit("w", 50)
	gone := s.others(l.id)[0]
	s.crash(gone) // it does not hear of its removal
	var smaller raftConfiguration
	for _, sv := range l.core.config.Servers {
		if sv.ID != gone {
			smaller.Servers = append(smaller.Servers, sv)
		}
	}
	if _, err := l.core.proposeConfig(smaller); err != nil {
		t.Fatal(err)
	}
	s.process(l)
	s.ids = slices.DeleteFunc(s.ids, func(id string) bool { return id == gone })
	s.mustCommit("after removal", 100)
	l = s.checkOneLeader(50)
	term := l.core.term
	for _, id := range s.ids {
		s.inject(raftMessage{Type: msgVote, From: gone, To: id, Term: term + 5, LogIndex: 1 << 30, LogTerm: term, Force: true})
		s.inject(raftMessage{Type: msgTimeoutNow, From: gone, To: id, Term: term})
	}
	s.checkTermsBelow(term + 1)
	if l2 := s.checkOneLeader(50); l2.id != l.id || l2.core.term != term {
		t.Fatalf("the removed server disturbed the leader: %s term %d → %s term %d", l.id, term, l2.id, l2.core.term)
	}
}

// A follower cut off while a fourth server was added, which then leads,
// still follows it once the partition heals: it learns the term from the
// servers it knows, and takes the new leader's messages at that term,
// though the entry adding it is not in its log yet (dissertation §4.1).
func TestRaftFollowsLeaderItMissedTheAddingOf(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	s.mustCommit("w0", 50)
	l = s.leader()
	cut := s.others(l.id)[0]
	s.partition([]string{cut})
	s.nodes["s4"] = &simNode{id: "s4"}
	s.start(s.nodes["s4"])
	next := l.core.config.clone()
	next.Servers = append(next.Servers, raftServer{ID: "s4", Address: "s4"})
	if _, err := l.core.proposeConfig(next); err != nil {
		t.Fatal(err)
	}
	s.process(l)
	s.ids = slices.DeleteFunc(append(s.ids, "s4"), func(id string) bool { return id == cut })
	s.mustCommit("w1", 200)
	l = s.checkOneLeader(50)
	if l.id != "s4" {
		if err := l.core.transferLeadership("s4"); err != nil {
			t.Fatal(err)
		}
		s.process(l)
	}
	for range 200 * simStepsPerTick {
		if nl := s.leader(); nl != nil && nl.id == "s4" && s.stableLeader(nl) {
			break
		}
		s.step()
	}
	if nl := s.leader(); nl == nil || nl.id != "s4" {
		t.Fatalf("s4 did not take the lead: %v", nl)
	}
	s.heal()
	s.ids = append(s.ids, cut)
	last := s.mustCommit("w2", 200)
	s.checkCommitted(last, 300)
	if c := s.nodes[cut].core; !c.config.has("s4") || c.leader != "s4" {
		t.Fatalf("%s: configuration %+v, leader %q", cut, c.config, c.leader)
	}
}

// A server one election short of the term limit does not campaign: the
// next term would be refused by every other server, and the one after
// would wrap.
func TestBug_RaftNoCampaignIntoTermLimit(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	cfg := s.nodes["s1"].core.config
	r := newRaftCore(s.coreConfig("s1"), raftRestored{HardState: raftHardState{Term: maxRaftTerm - 1},
		SnapIndex: 1, SnapTerm: 1, SnapConfig: cfg})
	for range 100 {
		r.tick()
	}
	if r.term != maxRaftTerm-1 || r.role != roleFollower {
		t.Fatalf("role %s, term %d (limit %d)", r.role, r.term, uint64(maxRaftTerm))
	}
	if msgs := r.ready().Messages; len(msgs) != 0 {
		t.Fatalf("it campaigned: %v", msgs)
	}
}

// A persisted term at the limit stops the start with the recovery step.
func TestBug_RaftPersistedTermLimit(t *testing.T) {
	t.Parallel()
	if err := checkPersistedTerm(maxRaftTerm-1, "/d"); err != nil {
		t.Fatal(err)
	}
	err := checkPersistedTerm(math.MaxUint64, "/d")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint("term ", uint64(math.MaxUint64))) ||
		!strings.Contains(err.Error(), "move /d/raft aside") {
		t.Fatalf("error: %v", err)
	}
}

func TestRaftConfigurationDescribe(t *testing.T) {
	t.Parallel()
	c := raftConfiguration{Servers: []raftServer{{ID: "u1", Node: "s1", Address: "127.0.0.11:8300"}}}
	if got := c.describe("u1"); got != "s1 (127.0.0.11:8300)" {
		t.Fatal(got)
	}
	if got := c.describe("u2"); got != "u2" {
		t.Fatal(got)
	}
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type discardTransport struct{}

func (discardTransport) send(string, []byte) bool { return true }

func (discardTransport) sendChunk(context.Context, string, []byte) error { return nil }

// The driver: snapshot chunks from outside the configuration are dropped
// before they are buffered, and refused messages and undecodable frames
// are logged with the connection's address, once per sender and host.
func TestBug_RaftNodeDropsForeignChunksAndFrames(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	cfg := raftConfiguration{Servers: []raftServer{{ID: "u1", Node: "s1", Address: "127.0.0.11:8300"},
		{ID: "u2", Node: "s2", Address: "127.0.0.12:8300"}}}
	n := newRaftNode(raftNodeConfig{ID: "u1", Address: "127.0.0.11:8300", Tick: time.Hour, SpoolDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		raftRestored{HardState: raftHardState{Term: 1}, SnapIndex: 1, SnapTerm: 1, SnapConfig: cfg, AppliedIndex: 1},
		&memRaftStorage{}, storeFSM{newStore()}, discardTransport{})
	defer n.stop()
	chunk := func(from string) []byte {
		return encodeSnapChunk(&snapChunk{From: from, FromAddr: "10.6.6.6:8300", Term: 1, Index: 50, SnapTerm: 1,
			Total: 1 << 20, Data: []byte("part")})
	}
	for range 5 {
		if err := n.receiveSnapshotChunk("127.0.0.99:4000", chunk("evil-node")); err == nil {
			t.Error("a chunk from outside the configuration accepted")
		}
		n.receive("127.0.0.99:4001", []byte("not a raft frame"))
		n.receive("127.0.0.99:4002", encodeRaftMessage(nil, &raftMessage{Type: msgHeartbeatResp, From: "evil-node", To: "u1", Term: 7}))
	}
	if err := n.receiveSnapshotChunk("127.0.0.12:4000", chunk("u2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the messages taken", func() bool { return len(n.inbox) == 0 })
	n.onLoop(context.Background(), func() {}) // the last message stepped
	var buffered []string
	n.chunksMu.Lock()
	for from := range n.chunks {
		buffered = append(buffered, from)
	}
	n.chunksMu.Unlock()
	if !slices.Equal(buffered, []string{"u2"}) {
		t.Fatalf("chunks buffered from %v", buffered)
	}
	if c := logs.count("dropping a raft message"); c != 1 {
		t.Errorf("%d lines for evil-node's messages, want 1:\n%s", c, logs.b.String())
	}
	if c := logs.count("dropping a bad raft frame"); c != 1 {
		t.Errorf("%d lines for the bad frames, want 1:\n%s", c, logs.b.String())
	}
	if logs.count("from=evil-node remote=127.0.0.99:") != 1 || logs.count("remote=127.0.0.99:4001") != 1 {
		t.Errorf("the lines do not name the sender:\n%s", logs.b.String())
	}
}

// The recovery from a corrupt term (checkPersistedTerm's message): the
// server's Raft state is moved aside and it restarts empty, under its ID.
// The leader believed it held the log up to what it had acknowledged, and
// resent only from there, for ever; it now replicates from where the
// follower's log really ends.
func TestBug_RaftFollowerRestartedEmptyCatchesUp(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	for i := range 20 {
		s.mustCommit(fmt.Sprint("w", i), 50)
	}
	last := s.mustCommit("last", 50)
	f := s.others(l.id)[0]
	s.crash(f)
	s.nodes[f].disk = simDisk{}
	s.restart(f)
	s.checkCommitted(last, 100) // with no new write: heartbeats tell where its log ends
	s.mustCommit("after", 50)
	if got := len(s.nodes[f].fsm.log); got != 22 {
		t.Fatalf("%s applied %d commands, want 22", f, got)
	}
}
