// raft_replication.go: log replication (Raft §5.3, §5.4.2, §7), part of
// the pure consensus core (raft.go): the leader's view of each follower
// (progress: probe, pipelined replicate, snapshot), the AppendEntries it
// sends and the answers it takes, commitment by counting replicas of
// current-term entries only, and, on a follower, AppendEntries and
// InstallSnapshot as the receiver handles them.
//
// Data flow: a leader's proposal (raft.go: appendEntries) or a heartbeat
// answer from a lagging follower leads to sendAppend, which sends entries
// from raftLog (raft_log.go), or a snapshot once they are compacted away;
// the follower's handleAppend checks prevLogIndex/prevLogTerm, cuts a
// conflicting suffix, appends and answers; the leader's stepLeader
// (raft.go) passes the answer to handleAppendAccept or handleAppendReject,
// and maybeCommit advances the commit index the driver applies from.
//
// Concurrency: none of its own; like the rest of the core, owned by the
// one goroutine that drives it (the Raft loop, or a test).
package main

import (
	"fmt"
	"slices"
)

// progressState is how a leader replicates to one follower (as etcd's raft).
type progressState uint8

const (
	progressProbe     progressState = iota // one AppendEntries at a time, to find where the logs match
	progressReplicate                      // pipelined: next runs ahead of match by up to MaxInflight
	progressSnapshot                       // an InstallSnapshot is on its way
)

// progress is the leader's view of one follower (Raft Figure 2: nextIndex,
// matchIndex).
type progress struct {
	match, next uint64
	state       progressState
	probeSent   bool   // probe: an AppendEntries is unanswered; wait for its answer or a heartbeat
	snapshotIdx uint64 // snapshot: the index of the snapshot being sent
	ackedSeq    uint64 // the highest leader round it answered
}

// handleAppend is AppendEntries on the receiver (Raft §5.3, Figure 2).
func (r *raftCore) handleAppend(m raftMessage) {
	resp := raftMessage{Type: msgAppResp, To: m.From, LogIndex: m.LogIndex, Seq: m.Seq}
	if m.LogIndex < r.commit {
		// Everything up to commit already matches the leader's log.
		resp.Hint = r.commit
		r.send(resp)
		return
	}
	if t, ok := r.log.term(m.LogIndex); !ok || t != m.LogTerm {
		resp.Reject = true
		if !ok {
			resp.Hint = r.log.lastIndex() + 1
		} else {
			// Fast back-off: skip the whole conflicting term at once.
			resp.HintTerm = t
			i := m.LogIndex
			for i-1 > r.commit {
				if pt, _ := r.log.term(i - 1); pt != t {
					break
				}
				i--
			}
			resp.Hint = i
		}
		r.send(resp)
		return
	}
	// Append what is new; an existing entry that conflicts, and everything
	// after it, is replaced.
	for i, e := range m.Entries {
		t, ok := r.log.term(e.Index)
		if ok && t == e.Term {
			continue
		}
		if ok {
			if e.Index <= r.commit {
				panic(fmt.Sprintf("raft %s: entry %d conflicts with the committed log", r.id, e.Index))
			}
			r.truncateFrom(e.Index)
		}
		r.appendFollower(m.Entries[i:])
		break
	}
	lastNew := m.LogIndex + uint64(len(m.Entries))
	if c := min(m.Commit, lastNew); c > r.commit {
		r.commit = c
	}
	resp.Hint = lastNew
	r.send(resp)
}

// truncateFrom drops entries at i and after (never committed ones). The
// kept entries move to a new array: messages not yet sent may still share
// the old one, and appends must not overwrite what they carry.
func (r *raftCore) truncateFrom(i uint64) {
	r.log.entries = slices.Clone(r.log.entries[:i-r.log.offset-1])
	r.persistFrom = min(r.persistFrom, i)
	if r.configIndex >= i {
		r.config, r.configIndex = r.latestConfig()
	}
}

func (r *raftCore) appendFollower(es []raftEntry) {
	r.log.entries = append(r.log.entries, es...)
	for _, e := range es {
		r.noteConfig(e)
	}
}

// noteConfig makes a configuration entry take effect as soon as it is in
// the log, committed or not (dissertation §4.1).
func (r *raftCore) noteConfig(e raftEntry) {
	if e.Type != raftEntryConfig {
		return
	}
	c, err := decodeConfiguration(e.Data)
	if err != nil {
		r.logger.Error("undecodable configuration entry", "index", e.Index, "error", err)
		return
	}
	r.config, r.configIndex = c, e.Index
	if r.role == roleLeader {
		for _, s := range c.Servers {
			r.addProgress(s.ID)
		}
		for id := range r.progress {
			if !c.has(id) {
				delete(r.progress, id)
			}
		}
	}
}

// handleSnapshot is InstallSnapshot on the receiver (Raft §7).
func (r *raftCore) handleSnapshot(m raftMessage) {
	s := m.Snapshot
	resp := raftMessage{Type: msgAppResp, To: m.From, LogIndex: s.Index, Seq: m.Seq}
	if s.Index <= r.commit {
		resp.Hint = r.commit
		r.send(resp)
		return
	}
	if t, ok := r.log.term(s.Index); ok && t == s.Term {
		// The log already holds the snapshot's entries: keep what follows.
		r.commit = s.Index
		resp.Hint = s.Index
		r.send(resp)
		return
	}
	r.logger.Info("installing snapshot from the leader", "index", s.Index, "term", s.Term, "leader", s.Config.describe(m.From))
	r.log = raftLog{offset: s.Index, offsetTerm: s.Term}
	r.snapConfig = s.Config.clone()
	r.config, r.configIndex = r.snapConfig, s.Index
	r.commit, r.applied = s.Index, s.Index
	r.persistFrom = s.Index + 1
	r.snapshot = s
	resp.Hint = s.Index
	r.send(resp)
}

func (r *raftCore) handleAppendAccept(id string, pr *progress, m raftMessage) {
	committed := false
	if m.Hint > pr.match {
		pr.match = m.Hint
		committed = r.maybeCommit()
	}
	if pr.state != progressReplicate {
		// The logs match up to match: from here, pipeline.
		pr.state, pr.next = progressReplicate, pr.match+1
	}
	pr.next = max(pr.next, pr.match+1)
	pr.probeSent = false
	if committed {
		r.broadcastAppend()
	} else if pr.next <= r.log.lastIndex() {
		r.sendAppend(id)
	}
	if id == r.transferee && pr.match == r.log.lastIndex() {
		r.leaseGivenUp = true
		r.send(raftMessage{Type: msgTimeoutNow, To: id})
	}
}

// handleAppendReject backs next off to where the follower says the logs may
// match (Raft §5.3, with the optimisation the paper sketches at its end).
func (r *raftCore) handleAppendReject(id string, pr *progress, m raftMessage) {
	if m.LogIndex < pr.match || pr.state == progressProbe && m.LogIndex != pr.next-1 {
		return // stale: answers an AppendEntries sent before a later one succeeded
	}
	if m.HintTerm == 0 && m.Hint <= pr.match {
		r.followerLostLog(id, pr, m.Hint-1)
	}
	next := m.Hint
	if m.HintTerm > 0 {
		// If the leader has entries of the follower's conflicting term, the
		// logs may match up to the last of them.
		for i := min(m.LogIndex, r.log.lastIndex()); i > r.log.offset; i-- {
			t, _ := r.log.term(i)
			if t == m.HintTerm {
				next = i + 1
				break
			}
			if t < m.HintTerm {
				break
			}
		}
	}
	pr.next = max(pr.match+1, min(next, m.LogIndex))
	pr.state, pr.probeSent = progressProbe, false
	r.sendAppend(id)
}

// followerLostLog: a follower's log ends at holds, before what it
// acknowledged. It restarted without its Raft state (moved aside to recover
// from corruption: raft_admit.go); replicate again from where its log ends,
// or the leader would resend from its old match for ever.
func (r *raftCore) followerLostLog(id string, pr *progress, holds uint64) {
	r.logger.Info("a follower's log ends before what it acknowledged: replicating it again",
		"follower", r.config.describe(id), "acknowledged", pr.match, "holds", holds)
	pr.match = holds
	pr.state, pr.next, pr.probeSent = progressProbe, holds+1, false
}

func (r *raftCore) stepSnapStatus(m raftMessage) {
	pr := r.progress[m.From]
	if r.role != roleLeader || pr == nil || pr.state != progressSnapshot {
		return
	}
	if m.Reject {
		r.logger.Warn("snapshot send failed", "to", r.config.describe(m.From), "index", pr.snapshotIdx)
	} else {
		pr.next = max(pr.next, pr.snapshotIdx+1)
	}
	// Either way probe from here: the follower's answer to the snapshot, or
	// to the next AppendEntries, tells where it is.
	pr.state, pr.probeSent = progressProbe, true
}

// maybeCommit advances commit to the highest index stored on a quorum, if
// that entry is from the current term (Raft §5.4.2: entries of earlier
// terms are committed only indirectly, Figure 8).
func (r *raftCore) maybeCommit() bool {
	n := r.quorumValue(r.log.lastIndex(), func(pr *progress) uint64 { return pr.match })
	if t, _ := r.log.term(n); n > r.commit && t == r.term {
		r.commit = n
		r.afterCommit()
		return true
	}
	return false
}

// quorumValue is the highest value a quorum of the voters has reached: own
// is this server's, of reads another's from its progress (a voter without
// progress counts as 0). It is 0 without voters. maybeCommit takes the
// match indexes, quorumSeq (raft_read.go) the acknowledged read rounds.
func (r *raftCore) quorumValue(own uint64, of func(*progress) uint64) uint64 {
	var vs []uint64
	for _, s := range r.config.Servers {
		if s.NonVoter {
			continue
		}
		if s.ID == r.id {
			vs = append(vs, own)
		} else if pr := r.progress[s.ID]; pr != nil {
			vs = append(vs, of(pr))
		} else {
			vs = append(vs, 0)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[len(vs)-r.quorum()]
}

// afterCommit: a leader whose removal from the configuration (or from its
// voters) is committed steps down (dissertation §4.2.2); reads waiting for
// the first commit of the term may now be confirmed.
func (r *raftCore) afterCommit() {
	if r.configIndex <= r.commit && !r.isVoter() {
		r.logger.Info("stepping down: no longer a voter in the configuration", "term", r.term)
		r.becomeFollower(r.term, "")
		return
	}
	r.confirmReads()
}

// broadcastAppend and broadcastHeartbeat go through the followers in the
// configuration's order, not the progress map's: the same run sends the
// same messages in the same order, so a simulation replays from its seed.
func (r *raftCore) broadcastAppend() {
	for _, s := range r.config.Servers {
		if r.progress[s.ID] != nil {
			r.sendAppend(s.ID)
		}
	}
}

func (r *raftCore) broadcastHeartbeat() {
	for _, s := range r.config.Servers {
		if pr := r.progress[s.ID]; pr != nil {
			r.send(raftMessage{Type: msgHeartbeat, To: s.ID, Commit: min(pr.match, r.commit), Seq: r.seq})
		}
	}
}

// sendAppend sends the follower what it lacks: entries from next (pipelined
// in the replicate state, one at a time while probing), or, when those are
// compacted away, a request to the driver to send the snapshot.
func (r *raftCore) sendAppend(id string) {
	pr := r.progress[id]
	if pr == nil || pr.state == progressSnapshot || pr.state == progressProbe && pr.probeSent {
		return
	}
	if pr.state == progressReplicate && pr.next-pr.match-1 >= r.cfg.MaxInflight {
		return
	}
	prevTerm, ok := r.log.term(pr.next - 1)
	if !ok {
		pr.state, pr.snapshotIdx = progressSnapshot, r.log.offset
		r.send(raftMessage{Type: msgSnap, To: id, Seq: r.seq})
		return
	}
	last := r.log.lastIndex()
	m := raftMessage{Type: msgApp, To: id, LogIndex: pr.next - 1, LogTerm: prevTerm,
		Commit: r.commit, Seq: r.seq}
	if pr.next <= last {
		m.Entries = r.log.slice(pr.next, last+1, r.cfg.MaxMsgBytes)
	}
	r.send(m)
	switch pr.state {
	case progressReplicate:
		pr.next += uint64(len(m.Entries))
	case progressProbe:
		pr.probeSent = true
	}
}
