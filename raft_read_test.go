// raft_read_test.go: leadership transfer, read index and lease reads
// (raft_read.go), on raft_test.go's simulated network.
package main

import (
	"testing"
)

// Leadership transfer (dissertation §3.10): the target leads in the next
// term, quickly, and nothing committed is lost.
func TestRaftLeadershipTransfer(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	i := s.mustCommit("x", 50)
	to := s.others(l.id)[1]
	if err := l.core.transferLeadership(to); err != nil {
		t.Fatal(err)
	}
	s.process(l)
	if _, _, err := l.core.propose([][]byte{[]byte("y")}); err != errTransferring {
		t.Fatalf("proposal during a transfer: %v", err)
	}
	for range 5 * simStepsPerTick { // well under an election timeout
		if nl := s.leader(); nl != nil && nl.id != l.id {
			break
		}
		s.step()
	}
	l2 := s.checkOneLeader(1)
	if l2.id != to {
		t.Fatalf("leadership went to %s, not %s", l2.id, to)
	}
	s.checkCommitted(i, 10)
	s.mustCommit("z", 50)
}

// Read index (dissertation §6.4): a read is confirmed by a quorum round;
// an isolated leader's reads never are.
func TestRaftReadIndex(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	s.noLease = true
	for _, nd := range s.nodes {
		nd.core.cfg.DisableLeases = true
	}
	var got []raftReadState
	s.readHooks = append(s.readHooks, func(n *simNode, rs raftReadState) { got = append(got, rs) })
	l := s.checkOneLeader(50)
	i := s.mustCommit("a", 50)
	l.core.readIndex(1, false)
	s.process(l)
	if len(got) != 0 {
		t.Fatal("a read was confirmed without a round of heartbeats")
	}
	s.run(2)
	if len(got) != 1 || got[0].Failed || got[0].Index < i {
		t.Fatalf("read states %+v, want one at ≥ %d", got, i)
	}
	s.partition([]string{l.id}, s.others(l.id))
	l.core.readIndex(2, false)
	s.process(l)
	s.run(30)
	if len(got) != 2 || !got[1].Failed {
		t.Fatalf("an isolated leader's read: %+v, want it failed", got)
	}
}

// Lease reads (dissertation §6.4.1): a leader serves reads without a round
// while a quorum acknowledged it within the lease; not after.
func TestRaftLeaseRead(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	var got []raftReadState
	s.readHooks = append(s.readHooks, func(n *simNode, rs raftReadState) { got = append(got, rs) })
	l := s.checkOneLeader(50)
	s.mustCommit("a", 50)
	l.core.readIndex(1, true)
	s.process(l)
	if len(got) != 1 || got[0].Failed {
		t.Fatalf("lease read: %+v, want served at once", got)
	}
	s.partition([]string{l.id}, s.others(l.id))
	s.run(l.core.cfg.LeaseTicks + 1)
	l.core.readIndex(2, true)
	s.process(l)
	if len(got) != 1 {
		t.Fatalf("a lease read was served after the lease ran out: %+v", got)
	}
}

// A leader transferring leadership holds no lease: the server it sends
// TimeoutNow to may be elected at once (dissertation §3.10), before the
// lease would have run out, and then commit writes this leader never sees.
// Its lease reads wait for a round; once TimeoutNow went out they do for
// the rest of its term, even when the transfer times out.
func TestRaftTransferGivesUpTheLease(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	var got []raftReadState
	s.readHooks = append(s.readHooks, func(n *simNode, rs raftReadState) { got = append(got, rs) })
	l := s.checkOneLeader(50)
	s.mustCommit("a", 50)
	s.run(2) // every follower up to date
	if l.core.leaseReadTicks() == 0 {
		t.Fatal("no lease before the transfer")
	}
	to := s.others(l.id)[0]
	s.partition([]string{l.id, s.others(l.id)[1]}, []string{to}) // the TimeoutNow is lost
	if err := l.core.transferLeadership(to); err != nil {
		t.Fatal(err)
	}
	if !l.core.leaseGivenUp {
		t.Fatal("no TimeoutNow went to an up-to-date target")
	}
	l.core.readIndex(1, true)
	s.process(l)
	if len(got) != 0 || l.core.leaseReadTicks() != 0 {
		t.Fatalf("a lease read during a transfer was served without a round: %+v", got)
	}
	s.run(l.core.cfg.ElectionTicks + 1) // the transfer times out; l keeps leading with the other follower
	if l.core.role != roleLeader || l.core.transferee != "" {
		t.Fatalf("role %v, transferee %q: want the transfer timed out under the same leader", l.core.role, l.core.transferee)
	}
	if l.core.leaseReadTicks() != 0 {
		t.Fatal("the leader has its lease back in the term it sent TimeoutNow")
	}
}
