// raft_replication_test.go: log replication (raft_replication.go) on
// raft_test.go's simulated network: snapshots to a lagging follower, fast
// back-off.
package main

import (
	"fmt"
	"slices"
	"testing"
)

// A follower too far behind for the leader's log is brought up to date by
// InstallSnapshot (Raft §7).
func TestRaftLaggingFollowerGetsSnapshot(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	s.snapEvery, s.trailing = 10, 2
	l := s.checkOneLeader(50)
	f := s.others(l.id)[0]
	s.crash(f)
	var last uint64
	for i := range 40 {
		last = s.mustCommit(fmt.Sprint("s", i), 50)
	}
	if l.core.log.offset < 10 {
		t.Fatalf("the leader did not compact its log (offset %d)", l.core.log.offset)
	}
	s.restart(f)
	s.checkCommitted(last, 100)
	if s.nodes[f].disk.snap == nil {
		t.Fatal("the follower caught up without a snapshot")
	}
	if got, want := s.nodes[f].fsm.log, s.nodes[l.id].fsm.log; !slices.Equal(got, want) {
		t.Fatalf("follower %v, leader %v", got, want)
	}
}

// The log's fast back-off (Raft §5.3, its last paragraphs): a follower
// with a long conflicting tail is repaired in a few round trips, not one
// per entry.
func TestRaftFastBackoff(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	s.mustCommit("base", 50)
	// The leader, cut off, appends 100 entries that will never commit.
	s.partition([]string{l.id}, s.others(l.id))
	for i := range 100 {
		l.core.propose([][]byte{[]byte(fmt.Sprint("junk", i))})
	}
	s.process(l)
	s.checkOneLeader(100)
	s.mustCommit("new", 50)
	s.heal()
	rejects := 0
	for range 50 * simStepsPerTick {
		for _, q := range s.queue {
			if q.m.Type == msgAppResp && q.m.Reject && q.m.From == l.id && q.m.Term > 0 {
				rejects++
			}
		}
		s.step()
		if s.nodes[l.id].core.role == roleFollower && slices.Equal(s.nodes[l.id].fsm.log, s.leader().fsm.log) {
			break
		}
	}
	if !slices.Equal(s.nodes[l.id].fsm.log, s.leader().fsm.log) {
		t.Fatal("the old leader did not catch up")
	}
	if rejects > 20 {
		t.Fatalf("%d rejected AppendEntries (counted per step in flight) to repair 100 conflicting entries", rejects)
	}
}

// TestRaftCompactKeepsTrailingBytes: compaction keeps TrailingLogs entries
// below the snapshot for followers slightly behind, but never more than
// trailingLogBytes of their data: a log of large transactions goes down to
// what the bound allows, a log of small entries keeps its count.
func TestRaftCompactKeepsTrailingBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		size, n, snapAt int
		wantOffset      uint64
	}{
		{"small entries keep TrailingLogs", 100, 100, 80, 80 - 10},
		{"large entries keep what fits", trailingLogBytes / 4, 100, 80, 80 - 4},
		{"one entry over the bound keeps none", trailingLogBytes + 1, 100, 80, 80},
		{"nothing below the trailing ones", 100, 100, 8, 0},
	} {
		r := &raftCore{cfg: raftCoreConfig{TrailingLogs: 10}}
		for i := 1; i <= tc.n; i++ {
			r.log.entries = append(r.log.entries, raftEntry{Index: uint64(i), Term: 1, Type: raftEntryCommand, Data: make([]byte, tc.size)})
		}
		r.applied = uint64(tc.n)
		r.compact(uint64(tc.snapAt))
		if r.log.offset != tc.wantOffset || r.log.lastIndex() != uint64(tc.n) {
			t.Errorf("%s: log from %d to %d, want from %d to %d", tc.name, r.log.offset, r.log.lastIndex(), tc.wantOffset, tc.n)
		}
	}
}
