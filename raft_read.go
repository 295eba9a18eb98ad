// raft_read.go: how a Raft leader knows it still leads, part of the pure
// consensus core (raft.go): heartbeat rounds acknowledged by a quorum,
// the leader lease built on them (dissertation §6.4.1), linearizable reads
// by read index (dissertation §6.4), and leadership transfer
// (dissertation §3.10).
//
// Data flow: the leader's tick (raft.go) starts a round (newRound) with
// each heartbeat; the answers raise each follower's ackedSeq (stepLeader),
// and quorumSeq is the newest round a quorum acknowledged. A read request
// (readIndex) is answered at once by a valid lease or a single-voter
// cluster, or waits in pendingReads for the next round, which
// confirmReads releases into ready()'s ReadStates. Check-quorum
// (tickLeader) steps down on quorumContact.
//
// Concurrency: none of its own; like the rest of the core, owned by the
// one goroutine that drives it (the Raft loop, or a test).
package main

import "fmt"

// newRound starts round seq+1; rounds older than what a quorum has
// acknowledged are forgotten.
func (r *raftCore) newRound() {
	r.seq++
	r.seqTick[r.seq] = r.now
	acked := r.quorumSeq()
	for s := range r.seqTick {
		if s < acked {
			delete(r.seqTick, s)
		}
	}
}

// quorumSeq is the newest round acknowledged by a quorum (the leader
// acknowledges its own rounds at once).
func (r *raftCore) quorumSeq() uint64 {
	return r.quorumValue(r.seq, func(pr *progress) uint64 { return pr.ackedSeq })
}

// quorumContact is the tick at which the newest round a quorum acknowledged
// began: at that moment a quorum still followed this leader.
func (r *raftCore) quorumContact() uint64 {
	if t, ok := r.seqTick[r.quorumSeq()]; ok {
		return t
	}
	return r.leaderSince
}

// leaseValid: no other leader can have been elected since a quorum last
// acknowledged this one, because each of them refuses votes for an
// election timeout after hearing from it (dissertation §6.4.1).
func (r *raftCore) leaseValid() bool { return r.leaseTicksLeft() > 0 }

// leaseTicksLeft is how many ticks the leader's lease still holds (0: it
// does not). A leader transferring leadership, or that has sent TimeoutNow
// this term, holds none: the server it chose may win an election at once.
func (r *raftCore) leaseTicksLeft() int {
	if r.cfg.DisableLeases || r.role != roleLeader || r.transferee != "" || r.leaseGivenUp {
		return 0
	}
	t, ok := r.seqTick[r.quorumSeq()]
	if !ok {
		return 0
	}
	return max(r.cfg.LeaseTicks-int(r.now-t), 0)
}

// leaseReadTicks is how many ticks a lease read may be answered with the
// commit index without a trip through the core (the driver publishes it,
// raft_node.go): while the lease holds, or while this server is the only
// voter, once this leader has committed an entry of its term.
func (r *raftCore) leaseReadTicks() int {
	if r.role != roleLeader || !r.committedInTerm() {
		return 0
	}
	if r.quorum() == 1 {
		return 1 // until the next tick: a configuration change may add a voter
	}
	return r.leaseTicksLeft()
}

func (r *raftCore) committedInTerm() bool {
	t, _ := r.log.term(r.commit)
	return t == r.term
}

// readIndex asks to serve a linearizable read (dissertation §6.4): the read
// may be served once the state machine reaches the commit index as of now,
// after the leader confirms it still leads: by the lease when lease is set
// and the lease holds, otherwise by a round of heartbeats acknowledged by a
// quorum. The answer comes in a later ready().
func (r *raftCore) readIndex(id uint64, lease bool) {
	if r.role != roleLeader || !r.committedInTerm() {
		// A new leader does not know the commit index until it commits an
		// entry of its term (§6.4 step 1); the caller retries.
		r.reads = append(r.reads, raftReadState{ID: id, Failed: true})
		return
	}
	if r.quorum() == 1 || lease && r.leaseValid() {
		r.reads = append(r.reads, raftReadState{ID: id, Index: r.commit})
		return
	}
	// Confirmed by the next round, which ready() starts: every read that
	// arrives before it shares it (one heartbeat per follower for a batch).
	r.pendingReads = append(r.pendingReads, raftReadState{ID: id, Index: r.commit})
	r.readSeqs = append(r.readSeqs, r.seq+1)
	r.readRound = r.seq + 1
}

// confirmReads releases the reads whose round a quorum has acknowledged.
func (r *raftCore) confirmReads() {
	if r.role != roleLeader || len(r.pendingReads) == 0 {
		return
	}
	acked := r.quorumSeq()
	n := 0
	for n < len(r.readSeqs) && r.readSeqs[n] <= acked {
		n++
	}
	r.reads = append(r.reads, r.pendingReads[:n]...)
	r.pendingReads, r.readSeqs = r.pendingReads[n:], r.readSeqs[n:]
}

// transferLeadership hands leadership to another voter (dissertation
// §3.10): stop taking proposals, bring it up to date, then tell it to
// campaign at once.
func (r *raftCore) transferLeadership(to string) error {
	if r.role != roleLeader {
		return errNotLeader
	}
	pr := r.progress[to]
	if pr == nil || !r.config.hasVoter(to) {
		return fmt.Errorf("%q is not a voter", to)
	}
	r.transferee, r.transferTick = to, r.now
	r.logger.Info("transferring leadership", "to", r.config.describe(to), "term", r.term)
	if pr.match == r.log.lastIndex() {
		r.leaseGivenUp = true
		r.send(raftMessage{Type: msgTimeoutNow, To: to})
	} else {
		r.sendAppend(to)
	}
	return nil
}
