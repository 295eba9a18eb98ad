// raft_test.go: the Raft core on a simulated network, one goroutine, no
// clock. Every run is decided by its seed (printed; replay one with
// -raft.seed=N), so a failure found once can be found again.
//
// The harness, simNet, owns every server's core and "disk" (what the core
// asked to persist: term, vote, entries, snapshot) and a network that drops,
// duplicates, delays (so reorders) and partitions messages (simnet_test.go's
// simNetwork, shared with the SWIM simulation). Time advances in
// steps of a tenth of a tick. It checks the paper's safety properties
// continuously (Raft Figure 3): election safety (one leader per term) and
// state machine safety (every server applies the same entry at an index).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var raftSeed = flag.Uint64("raft.seed", 0, "replay the randomised Raft tests from this seed")

func testSeed(t *testing.T) uint64 {
	seed := *raftSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -raft.seed=%d)", seed, seed)
	return seed
}

const simStepsPerTick = 10

// simDisk is what a server has made durable.
type simDisk struct {
	hs      raftHardState
	snap    *raftSnapshot
	entries []raftEntry // after snap.Index
}

// simKV is the state machine of the tests: a map, and the entries applied.
type simKV struct {
	index uint64
	kv    map[string]string
	log   []string // data of each command applied, in order
}

type simOp struct {
	Client int
	Seq    int
	Kind   string // put, cas
	Key    string
	Value  string
	Expect string
}

func (f *simKV) apply(e raftEntry) (ok bool) {
	f.index = e.Index
	if e.Type != raftEntryCommand {
		return false
	}
	f.log = append(f.log, string(e.Data))
	var op simOp
	if json.Unmarshal(e.Data, &op) != nil {
		return true // a plain test command
	}
	switch op.Kind {
	case "put":
		f.kv[op.Key] = op.Value
		return true
	case "cas":
		if f.kv[op.Key] == op.Expect {
			f.kv[op.Key] = op.Value
			return true
		}
	}
	return false
}

func (f *simKV) encode() []byte {
	b, _ := json.Marshal(struct {
		KV  map[string]string
		Log []string
	}{f.kv, f.log})
	return b
}

func decodeSimKV(index uint64, b []byte) *simKV {
	var v struct {
		KV  map[string]string
		Log []string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	if v.KV == nil {
		v.KV = map[string]string{}
	}
	return &simKV{index: index, kv: v.KV, log: v.Log}
}

type simNode struct {
	id   string
	core *raftCore
	disk simDisk
	fsm  *simKV
	up   bool
	// The harness's hooks for clients are simNet's applyHooks and
	// readHooks; reads is only reset at each start.
	reads map[uint64]raftReadState
}

type simNet struct {
	t *testing.T
	*simNetwork[raftMessage]
	nodes map[string]*simNode
	ids   []string

	snapEvery  uint64 // a server snapshots after this many applied entries (0: never)
	trailing   uint64
	noLease    bool
	leaders    map[uint64]string // term → leader: election safety
	applied    map[uint64]raftEntry
	applyHooks []func(n *simNode, e raftEntry, ok bool)
	// pausedFn reports a server whose process is paused: it neither ticks
	// nor takes messages (they wait), and counts the ticks it missed.
	pausedFn    func(id string) bool
	pausedTicks map[string]int
	readHooks   []func(n *simNode, rs raftReadState)
}

func newSimNet(t *testing.T, seed uint64, n int) *simNet {
	s := &simNet{
		t: t, simNetwork: newSimNetwork[raftMessage](seed),
		nodes:   map[string]*simNode{},
		leaders: map[uint64]string{}, applied: map[uint64]raftEntry{}, trailing: 5,
	}
	var cfg raftConfiguration
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("s%d", i)
		s.ids = append(s.ids, id)
		cfg.Servers = append(cfg.Servers, raftServer{ID: id, Address: id})
	}
	for _, id := range s.ids {
		nd := &simNode{id: id, up: true}
		s.nodes[id] = nd
		s.start(nd)
		if err := nd.core.bootstrap(cfg); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *simNet) coreConfig(id string) raftCoreConfig {
	return raftCoreConfig{ID: id, ElectionTicks: 10, HeartbeatTicks: 1, LeaseTicks: 5,
		MaxMsgBytes: 256, MaxInflight: 64, TrailingLogs: s.trailing, DisableLeases: s.noLease,
		Rand: rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()))}
}

// start builds a node's core from its disk, as a restart after a crash does.
func (s *simNet) start(nd *simNode) {
	st := raftRestored{HardState: nd.disk.hs, Entries: slices.Clone(nd.disk.entries)}
	nd.fsm = &simKV{kv: map[string]string{}}
	if sn := nd.disk.snap; sn != nil {
		st.SnapIndex, st.SnapTerm, st.SnapConfig = sn.Index, sn.Term, sn.Config
		nd.fsm = decodeSimKV(sn.Index, sn.Data)
	}
	st.AppliedIndex = nd.fsm.index
	nd.core = newRaftCore(s.coreConfig(nd.id), st)
	nd.reads = map[uint64]raftReadState{}
	nd.up = true
}

func (s *simNet) crash(id string) {
	nd := s.nodes[id]
	nd.up, nd.core = false, nil
}

func (s *simNet) restart(id string) { s.start(s.nodes[id]) }

// step advances the simulation by one step: deliver what is due, tick
// every tick, process every server's ready.
func (s *simNet) step() {
	for _, m := range s.advance() {
		if s.paused(m.To) {
			s.later(m)
			continue
		}
		if nd := s.nodes[m.To]; nd.up {
			nd.core.step(m)
			s.process(nd)
		}
	}
	if s.now%simStepsPerTick == 0 {
		for _, id := range s.ids {
			if s.paused(id) {
				if s.pausedTicks == nil {
					s.pausedTicks = map[string]int{}
				}
				s.pausedTicks[id]++
				continue
			}
			if nd := s.nodes[id]; nd.up {
				nd.core.tick()
				s.process(nd)
			}
		}
	}
}

func (s *simNet) paused(id string) bool { return s.pausedFn != nil && s.pausedFn(id) }

func (s *simNet) run(ticks int) {
	for range ticks * simStepsPerTick {
		s.step()
	}
}

// process does what a driver does with a ready, in the contract's order.
func (s *simNet) process(nd *simNode) {
	for {
		rd := nd.core.ready()
		if rd.empty() {
			return
		}
		if rd.HardStateChanged {
			nd.disk.hs = rd.HardState
		}
		if sn := rd.Snapshot; sn != nil {
			nd.disk.snap, nd.disk.entries = sn, nil
			nd.fsm = decodeSimKV(sn.Index, sn.Data)
		}
		if len(rd.Entries) > 0 {
			first := rd.Entries[0].Index
			base := uint64(0)
			if nd.disk.snap != nil {
				base = nd.disk.snap.Index
			}
			nd.disk.entries = append(slices.Clone(nd.disk.entries[:first-base-1]), rd.Entries...)
		}
		for _, m := range rd.Messages {
			s.send(nd, m)
		}
		for _, e := range rd.Committed {
			s.checkApplied(nd, e)
			ok := nd.fsm.apply(e)
			for _, h := range s.applyHooks {
				h(nd, e, ok)
			}
		}
		for _, rs := range rd.Reads {
			for _, h := range s.readHooks {
				h(nd, rs)
			}
		}
		if s.snapEvery > 0 && nd.fsm.index >= s.snapBase(nd)+s.snapEvery {
			s.takeSnapshot(nd)
		}
		s.checkLeader(nd)
	}
}

func (s *simNet) snapBase(nd *simNode) uint64 {
	if nd.disk.snap == nil {
		return 0
	}
	return nd.disk.snap.Index
}

// takeSnapshot saves the state machine at its applied index and compacts,
// as the driver does: the disk drops the entries the snapshot covers.
func (s *simNet) takeSnapshot(nd *simNode) {
	i := nd.fsm.index
	term, ok := nd.core.log.term(i)
	if !ok {
		s.t.Fatalf("%s: no term for applied index %d", nd.id, i)
	}
	nd.disk.entries = slices.Clone(nd.disk.entries[i-s.snapBase(nd):])
	nd.disk.snap = &raftSnapshot{Index: i, Term: term, Config: nd.core.configAt(i), Data: nd.fsm.encode()}
	nd.core.compact(i)
}

func (s *simNet) send(from *simNode, m raftMessage) {
	if m.Type == msgSnap && m.Snapshot == nil {
		sn := *from.disk.snap
		m.Snapshot = &sn
		// The driver reports the send's outcome back to the core.
		status := raftMessage{Type: msgSnapStatus, From: m.To, To: from.id}
		s.deliver(status)
	}
	s.simNetwork.send(m.From, m.To, m)
}

// checkApplied: state machine safety (Raft §5.4.3): no two servers apply
// different entries at the same index.
func (s *simNet) checkApplied(nd *simNode, e raftEntry) {
	if e.Index != nd.fsm.index+1 {
		s.t.Fatalf("%s applied index %d after %d", nd.id, e.Index, nd.fsm.index)
	}
	if prev, ok := s.applied[e.Index]; ok {
		if prev.Term != e.Term || !bytes.Equal(prev.Data, e.Data) {
			s.t.Fatalf("state machine safety violated at index %d: %s applied term %d %q, another term %d %q",
				e.Index, nd.id, e.Term, e.Data, prev.Term, prev.Data)
		}
		return
	}
	s.applied[e.Index] = e
}

// checkLeader: election safety (Raft §5.2): at most one leader per term.
func (s *simNet) checkLeader(nd *simNode) {
	if nd.core.role != roleLeader {
		return
	}
	if l, ok := s.leaders[nd.core.term]; ok && l != nd.id {
		s.t.Fatalf("two leaders in term %d: %s and %s", nd.core.term, l, nd.id)
	}
	s.leaders[nd.core.term] = nd.id
}

// leader returns the leader with the highest term among the live servers.
func (s *simNet) leader() *simNode {
	var best *simNode
	for _, id := range s.ids {
		nd := s.nodes[id]
		if nd.up && nd.core.role == roleLeader && (best == nil || nd.core.term > best.core.term) {
			best = nd
		}
	}
	return best
}

// checkOneLeader runs until one live server leads, within a bound.
func (s *simNet) checkOneLeader(ticks int) *simNode {
	s.t.Helper()
	for range ticks * simStepsPerTick {
		if l := s.leader(); l != nil && s.stableLeader(l) {
			return l
		}
		s.step()
	}
	s.t.Fatalf("no leader after %d ticks", ticks)
	return nil
}

// stableLeader: every live server it can reach knows it as leader.
func (s *simNet) stableLeader(l *simNode) bool {
	for _, id := range s.ids {
		nd := s.nodes[id]
		if nd.up && s.reachable(l.id, id) && nd.core.isVoter() && (nd.core.leader != l.id || nd.core.term != l.core.term) {
			return false
		}
	}
	return true
}

// checkStepsDown runs until the server no longer leads, within a bound.
func (s *simNet) checkStepsDown(id string, ticks int) {
	s.t.Helper()
	for range ticks * simStepsPerTick {
		if s.nodes[id].core.role != roleLeader {
			return
		}
		s.step()
	}
	s.t.Fatalf("%s still leads after %d ticks", id, ticks)
}

func (s *simNet) checkNoLeader(ticks int, among ...string) {
	s.t.Helper()
	for range ticks * simStepsPerTick {
		s.step()
		for _, id := range among {
			if nd := s.nodes[id]; nd.up && nd.core.role == roleLeader {
				s.t.Fatalf("%s leads (term %d) without a quorum", id, nd.core.term)
			}
		}
	}
}

// propose submits a plain command at the current leader and returns its
// index and term (0 if there is no leader).
func (s *simNet) propose(data string) (uint64, uint64) {
	l := s.leader()
	if l == nil {
		return 0, 0
	}
	i, term, err := l.core.propose([][]byte{[]byte(data)})
	if err != nil {
		return 0, 0
	}
	s.process(l)
	return i, term
}

// checkCommitted runs until every live server has applied index i, and
// returns the data applied there.
func (s *simNet) checkCommitted(i uint64, ticks int, among ...string) string {
	s.t.Helper()
	if len(among) == 0 {
		among = s.ids
	}
	for range ticks * simStepsPerTick {
		done := true
		for _, id := range among {
			if nd := s.nodes[id]; nd.up && nd.fsm.index < i {
				done = false
			}
		}
		if done {
			return string(s.applied[i].Data)
		}
		s.step()
	}
	var where []string
	for _, id := range among {
		where = append(where, fmt.Sprintf("%s@%d", id, s.nodes[id].fsm.index))
	}
	s.t.Fatalf("index %d not applied everywhere after %d ticks: %s", i, ticks, strings.Join(where, " "))
	return ""
}

// mustCommit proposes data and waits until every live server the leader
// can reach has applied it.
func (s *simNet) mustCommit(data string, ticks int) uint64 {
	s.t.Helper()
	for range ticks {
		l := s.leader()
		if i, term := s.propose(data); i != 0 {
			for range ticks * simStepsPerTick {
				s.step()
				if e, ok := s.applied[i]; ok {
					if e.Term == term && string(e.Data) == data {
						var among []string
						for _, id := range s.ids {
							if s.reachable(l.id, id) {
								among = append(among, id)
							}
						}
						s.checkCommitted(i, ticks, among...)
						return i
					}
					break // lost to another leader: propose again
				}
			}
		}
		s.run(1)
	}
	s.t.Fatalf("%q not committed within %d ticks", data, ticks)
	return 0
}

func (s *simNet) others(id string) []string {
	var out []string
	for _, o := range s.ids {
		if o != id {
			out = append(out, o)
		}
	}
	return out
}

// --- the paper's properties ---

// Raft §5.2: a leader is elected, and stays while nothing fails.
func TestRaftInitialElection(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	term := l.core.term
	s.run(50)
	if l2 := s.checkOneLeader(1); l2.id != l.id || l2.core.term != term {
		t.Fatalf("leadership changed without a failure: %s term %d → %s term %d", l.id, term, l2.id, l2.core.term)
	}
}

// Raft §5.2: the leader crashes, the others elect a new one; the old one
// returns as a follower.
func TestRaftReElection(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	s.mustCommit("a", 50)
	s.crash(l.id)
	l2 := s.checkOneLeader(50)
	if l2.id == l.id {
		t.Fatal("a crashed server leads")
	}
	i := s.mustCommit("b", 50)
	s.restart(l.id)
	s.checkCommitted(i, 50)
	if l3 := s.checkOneLeader(50); l3.id != l2.id {
		t.Fatalf("the returning server disturbed the leader: %s → %s", l2.id, l3.id)
	}
}

// No quorum, no leader and no commit (Raft §5.2, §5.3).
func TestRaftNoQuorum(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 5)
	l := s.checkOneLeader(50)
	s.mustCommit("a", 50)
	o := s.others(l.id)
	s.crash(o[0])
	s.crash(o[1])
	s.crash(o[2])
	i, _ := s.propose("lost?")
	if i == 0 {
		t.Fatal("the leader refused a proposal while it still leads")
	}
	s.run(30)
	if _, ok := s.applied[i]; ok {
		t.Fatal("an entry was committed by a minority")
	}
	// Check-quorum: the leader steps down, and no one takes its place.
	s.checkNoLeader(100, l.id, o[3])
	s.restart(o[0])
	s.checkOneLeader(100)
	s.mustCommit("b", 100)
}

// Raft §5.3: agreement with a follower down and back; the leader retries
// until it catches up.
func TestRaftFollowerDownAndBack(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	f := s.others(l.id)[0]
	s.crash(f)
	var last uint64
	for i := range 20 {
		last = s.mustCommit(fmt.Sprint("x", i), 50)
	}
	s.restart(f)
	s.checkCommitted(last, 100)
	if got, want := s.nodes[f].fsm.log, s.nodes[l.id].fsm.log; !slices.Equal(got, want) {
		t.Fatalf("follower applied %v, leader %v", got, want)
	}
}

// Raft §5.4.2, Figure 8: a leader never commits an entry of an earlier term
// by counting replicas; on an unreliable network with crashes, no two
// servers ever apply different entries (checked at every apply).
func TestRaftFigure8Unreliable(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	s := newSimNet(t, seed, 5)
	s.drop, s.dup, s.maxDelay = 0.1, 0.05, 30
	s.checkOneLeader(200)
	rng := rand.New(rand.NewPCG(seed, 1))
	down := map[string]bool{}
	for round := range 200 {
		s.propose(fmt.Sprint("f8-", round))
		s.run(1 + rng.IntN(10))
		// Crash or restart a random server, keeping a quorum mostly up.
		id := s.ids[rng.IntN(len(s.ids))]
		if down[id] {
			s.restart(id)
			delete(down, id)
		} else if len(down) < 2 && rng.IntN(3) == 0 {
			s.crash(id)
			down[id] = true
		}
	}
	for id := range down {
		s.restart(id)
	}
	s.drop, s.dup, s.maxDelay = 0, 0, 3
	s.checkOneLeader(200)
	i := s.mustCommit("final", 200)
	s.checkCommitted(i, 100)
}

// A leader isolated in a minority steps down (check-quorum); what it
// appended there is never committed and is overwritten by the majority's
// log when it returns (Raft §5.3).
func TestRaftIsolatedLeaderOverwritten(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 5)
	l := s.checkOneLeader(50)
	s.mustCommit("before", 50)
	o := s.others(l.id)
	minority := []string{l.id, o[0]}
	s.partition(minority, o[1:])
	var lost []uint64
	for i := range 5 {
		idx, _, err := l.core.propose([][]byte{[]byte(fmt.Sprint("lost", i))})
		if err != nil {
			t.Fatal(err)
		}
		s.process(l)
		lost = append(lost, idx)
	}
	s.checkStepsDown(l.id, 20)
	s.checkNoLeader(30, minority...)
	l2 := s.checkOneLeader(100)
	if l2.id == l.id || l2.id == o[0] {
		t.Fatalf("%s leads from the minority", l2.id)
	}
	var kept []uint64
	for i := range 5 {
		kept = append(kept, s.mustCommit(fmt.Sprint("kept", i), 100))
	}
	s.heal()
	s.checkCommitted(kept[len(kept)-1], 100)
	for _, i := range lost {
		if d := string(s.applied[i].Data); strings.HasPrefix(d, "lost") {
			t.Fatalf("entry %q from the isolated leader was committed at %d", d, i)
		}
	}
	if got, want := s.nodes[l.id].fsm.log, s.nodes[l2.id].fsm.log; !slices.Equal(got, want) {
		t.Fatalf("old leader applied %v, new leader %v", got, want)
	}
}

// A server partitioned away for a long time does not disrupt the cluster
// when it returns (pre-vote, dissertation §9.6): the leader keeps its term.
func TestRaftPreVotePartitionedServerRejoins(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	f := s.others(l.id)[0]
	s.partition([]string{f}, s.others(f))
	s.run(200)
	if s.nodes[f].core.term != l.core.term {
		t.Fatalf("the isolated server raised its term to %d (leader's %d): pre-vote failed", s.nodes[f].core.term, l.core.term)
	}
	term := l.core.term
	s.heal()
	s.run(50)
	if l2 := s.checkOneLeader(1); l2.id != l.id || l2.core.term != term {
		t.Fatalf("the rejoining server disrupted the leader: %s term %d → %s term %d", l.id, term, l2.id, l2.core.term)
	}
}

// Restarting every server keeps every committed entry (Raft §5.4, with the
// durable state of Figure 2).
func TestRaftRestartAllKeepsCommitted(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	s.snapEvery = 7
	s.checkOneLeader(50)
	var last uint64
	for i := range 30 {
		last = s.mustCommit(fmt.Sprint("k", i), 50)
	}
	want := slices.Clone(s.nodes["s1"].fsm.log)
	for _, id := range s.ids {
		s.crash(id)
	}
	for _, id := range s.ids {
		s.restart(id)
	}
	s.checkOneLeader(100)
	s.checkCommitted(last, 100)
	for _, id := range s.ids {
		if got := s.nodes[id].fsm.log; !slices.Equal(got[:len(want)], want) {
			t.Fatalf("%s after restart applied %v, want prefix %v", id, got, want)
		}
	}
}

// Single-server membership changes while writes go on (dissertation §4.1):
// a fourth server is added and catches up, then an original one removed.
func TestRaftMembershipChangeUnderWrites(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	s.drop = 0.05
	l := s.checkOneLeader(50)
	// s4 starts empty, with no configuration: it waits to hear from a leader.
	s.nodes["s4"] = &simNode{id: "s4"}
	s.start(s.nodes["s4"])
	next := l.core.config.clone()
	next.Servers = append(next.Servers, raftServer{ID: "s4", Address: "s4"})
	s.mustCommit("w0", 50)
	l = s.leader()
	if _, err := l.core.proposeConfig(next); err != nil {
		t.Fatal(err)
	}
	s.process(l)
	s.ids = append(s.ids, "s4")
	if _, err := l.core.proposeConfig(next); err != errConfigPending {
		t.Fatalf("a second change while one is pending: %v", err)
	}
	var last uint64
	for i := range 10 {
		last = s.mustCommit(fmt.Sprint("w", i+1), 100)
	}
	s.checkCommitted(last, 100)
	if !s.nodes["s4"].core.isVoter() || len(s.nodes["s4"].core.config.Servers) != 4 {
		t.Fatalf("s4's configuration: %+v", s.nodes["s4"].core.config)
	}
	// Remove the leader itself: it steps down once the change commits.
	l = s.checkOneLeader(50)
	removed := l.id
	var smaller raftConfiguration
	for _, sv := range l.core.config.Servers {
		if sv.ID != removed {
			smaller.Servers = append(smaller.Servers, sv)
		}
	}
	if _, err := l.core.proposeConfig(smaller); err != nil {
		t.Fatal(err)
	}
	s.process(l)
	s.crash(removed) // gone for good
	s.ids = slices.DeleteFunc(s.ids, func(id string) bool { return id == removed })
	l = s.checkOneLeader(100)
	for i := range 10 {
		last = s.mustCommit(fmt.Sprint("v", i), 100)
	}
	s.checkCommitted(last, 100)
	if len(l.core.config.Servers) != 3 || l.core.config.has(removed) {
		t.Fatalf("configuration after removal: %+v", l.core.config)
	}
}

// A simulation replays from its seed: the same seed gives the same run,
// message for message (the leader sends to its followers in the
// configuration's order, not a map's), so a failing seed can be replayed.
func TestRaftSimulationReplaysFromItsSeed(t *testing.T) {
	run := func() string {
		s := newSimNet(t, 7, 5)
		s.drop, s.dup = 0.1, 0.05
		s.checkOneLeader(100)
		for i := range 20 {
			s.mustCommit(fmt.Sprint("w", i), 200)
		}
		return fmt.Sprint(s.leaders, " steps ", s.now)
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("the same seed ran twice differently:\n%s\n%s", a, b)
	}
}
