// raft_observe.go: what the Raft driver (raft_node.go) shows of a server
// for the live teaching view: its state (raftStateView, served by
// GET /v1/operator/raft/state, http_cluster.go), the events it records in
// the agent's timeline (agent_timeline.go), and the two teaching controls
// that act on it, step down and pause (enable_debug only).
//
// Data flow. The pure core (raft.go) knows nothing of this: the driver
// watches what the core hands it, as any driver must: the messages of each
// ready (a vote granted, an election started, a snapshot sent, a
// leadership transfer's TimeoutNow), the messages it steps (votes received)
// and the status it publishes (a new leader, a step-down), and records an
// event for each, with the file and paper section that explain it.
// Heartbeats and appends are never recorded: they are the state, not
// events.
//
// Concurrency: everything here but pause's flag runs on the Raft loop
// goroutine, which owns the core (observeReady, observeStep,
// observeStatus, observeSnapshot are called by the loop; stateView and
// stepDown go through onLoop). pausedUntil is an atomic, read by any
// goroutine: a paused loop answers nothing, so stateView answers from the
// published status instead.
package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// raftObserver is the driver's bookkeeping for the teaching view.
type raftObserver struct {
	timeline    *timeline    // the agent's; nil records nothing
	pausedUntil atomic.Int64 // Unix nanoseconds: the loop sleeps until then (pause)
}

// raftFollowerView is the leader's view of one follower (Raft Figure 2's
// nextIndex and matchIndex, and how it replicates: raft_replication.go).
type raftFollowerView struct {
	ID, Node, Address string
	Voter             bool
	MatchIndex        uint64
	NextIndex         uint64
	InFlight          uint64 // entries sent and not yet acknowledged (replicate state)
	State             string // probe, replicate or snapshot
	ProbeSent         bool   `json:",omitempty"` // probe: an AppendEntries is unanswered
	SnapshotIndex     uint64 `json:",omitempty"` // snapshot: the index being sent
	LastContact       int64  // milliseconds since its last answer; -1: none yet
}

// raftStateView is one server's Raft state, as GET /v1/operator/raft/state
// shows it.
type raftStateView struct {
	ID, Node, Address string
	Role              string // leader, follower, candidate or pre-candidate
	Term              uint64
	Vote              string // the node voted for in Term, "" if none
	Leader            string // the leader's node name, "" if none known
	Voter             bool
	CommitIndex       uint64
	AppliedIndex      uint64 // applied to the store
	LastLogIndex      uint64
	LastLogTerm       uint64
	SnapshotIndex     uint64             // the newest durable snapshot
	LastContact       int64              // milliseconds since the leader was last heard from (0 on the leader)
	Servers           int                // in the configuration
	Followers         []raftFollowerView `json:",omitempty"` // on the leader
	// PausedUntil: the teaching control stopped this server's loop; the
	// state is what it last published (no vote, no log term).
	PausedUntil *time.Time `json:",omitempty"`
	Error       string     `json:",omitempty"` // the server did not answer (gathered views only)
}

// nodeName is a server's node name, from the configuration, else its ID.
func (n *raftNode) nodeName(id string) string {
	if s, ok := n.core.config.server(id); ok && s.Node != "" {
		return s.Node
	}
	return id
}

func (n *raftNode) record(e timelineEvent) {
	e.Source = "raft"
	n.obs.timeline.record(e)
}

// observeReady records what a ready's messages say happened: votes
// granted, elections begun, snapshots sent, transfers.
func (n *raftNode) observeReady(rd *raftReady) {
	if n.obs.timeline == nil {
		return
	}
	campaigned := map[raftMsgType]bool{}
	for _, m := range rd.Messages {
		to := n.nodeName(m.To)
		switch {
		case m.Type == msgVoteResp && !m.Reject:
			n.record(timelineEvent{Type: "vote-granted", Term: m.Term, Member: to,
				Summary: fmt.Sprintf("voted for %s in term %d: its log is at least as up to date, and no other vote was cast in this term", to, m.Term),
				Ref:     "raft.go stepVoteRequest, Raft §5.2, §5.4.1"})
		case m.Type == msgPreVoteResp && !m.Reject:
			n.record(timelineEvent{Type: "pre-vote-granted", Term: m.Term, Member: to,
				Summary: fmt.Sprintf("granted %s a pre-vote for term %d: no leader heard from lately", to, m.Term),
				Ref:     "raft.go stepVoteRequest, dissertation §9.6"})
		case (m.Type == msgVote || m.Type == msgPreVote) && !campaigned[m.Type]:
			campaigned[m.Type] = true
			e := timelineEvent{Type: "election", Term: m.Term,
				Summary: fmt.Sprintf("no leader heard for an election timeout: became candidate for term %d and asked for votes", m.Term),
				Ref:     "raft.go becomeCandidate, Raft §5.2"}
			if m.Force {
				e.Summary = fmt.Sprintf("leadership transferred here: became candidate for term %d at once", m.Term)
				e.Ref = "raft.go becomeCandidate, dissertation §3.10"
			}
			if m.Type == msgPreVote {
				e = timelineEvent{Type: "pre-vote", Term: m.Term,
					Summary: fmt.Sprintf("election timeout: asking for pre-votes before campaigning for term %d", m.Term),
					Ref:     "raft.go becomePreCandidate, dissertation §9.6"}
			}
			n.record(e)
		case m.Type == msgTimeoutNow:
			n.record(timelineEvent{Type: "transfer", Term: m.Term, Member: to,
				Summary: fmt.Sprintf("handing leadership to %s: its log is up to date, told it to campaign now", to),
				Ref:     "raft_read.go transferLeadership, dissertation §3.10"})
		case m.Type == msgSnap && m.Snapshot != nil:
			n.record(timelineEvent{Type: "snapshot-sent", Term: m.Term, Member: to,
				Summary: fmt.Sprintf("%s needs entries compacted away: sending it the snapshot at index %d", to, m.Snapshot.Index),
				Ref:     "raft_replication.go sendAppend, raft_snapshot.go, Raft §7"})
		}
	}
}

// observeStep records the answers to this server's own election.
func (n *raftNode) observeStep(m raftMessage) {
	if n.obs.timeline == nil || m.Type != msgVoteResp || m.Term != n.core.term {
		return
	}
	from := n.nodeName(m.From)
	if m.Reject {
		n.record(timelineEvent{Type: "vote-refused", Term: m.Term, Member: from,
			Summary: fmt.Sprintf("%s refused its vote in term %d (it voted for another, or its log is more up to date)", from, m.Term),
			Ref:     "raft.go stepCandidate, Raft §5.2, §5.4.1"})
		return
	}
	n.record(timelineEvent{Type: "vote-received", Term: m.Term, Member: from,
		Summary: fmt.Sprintf("%s voted for this server in term %d", from, m.Term),
		Ref:     "raft.go stepCandidate, Raft §5.2"})
}

// observeStatus records the changes of role and leader between two
// published statuses.
func (n *raftNode) observeStatus(old, st *raftStatus) {
	if n.obs.timeline == nil || old == nil {
		return
	}
	switch {
	case st.Role == roleLeader && (old.Role != roleLeader || old.Term != st.Term):
		var votes []string
		for id, ok := range n.core.votes {
			if ok {
				votes = append(votes, n.nodeName(id))
			}
		}
		slices.Sort(votes)
		n.record(timelineEvent{Type: "leader", Term: st.Term,
			Summary: fmt.Sprintf("won the election of term %d with the votes of %s: leader, appending a no-op to commit its term", st.Term, strings.Join(votes, ", ")),
			Ref:     "raft.go becomeLeader, Raft §5.2, §5.4.2, §8"})
	case old.Role == roleLeader && st.Role != roleLeader:
		n.record(timelineEvent{Type: "step-down", Term: st.Term,
			Summary: fmt.Sprintf("stepped down as leader in term %d (a higher term, no quorum heard for an election timeout, or the step-down control)", st.Term),
			Ref:     "raft.go becomeFollower, Raft §5.1, dissertation §6.2"})
	}
	if st.Role == roleFollower && st.Leader != "" && (old.Leader != st.Leader || old.Term != st.Term) {
		leader := n.nodeName(st.Leader)
		n.record(timelineEvent{Type: "follower", Term: st.Term, Member: leader,
			Summary: fmt.Sprintf("follows %s, the leader of term %d", leader, st.Term),
			Ref:     "raft.go stepFollower, Raft §5.2, §5.3"})
	}
}

// observeSnapshot records a snapshot taken here or installed from the
// leader.
func (n *raftNode) observeSnapshot(installed bool, index uint64) {
	e := timelineEvent{Type: "snapshot-taken", Term: n.core.term,
		Summary: fmt.Sprintf("took a snapshot at index %d and compacted the log behind it", index),
		Ref:     "raft_snapshot.go, Raft §7"}
	if installed {
		e.Type, e.Summary = "snapshot-installed", fmt.Sprintf("installed the leader's snapshot at index %d, replacing the log up to it", index)
		e.Ref = "raft_replication.go handleSnapshot, raft_snapshot.go installSnapshot, Raft §7"
	}
	n.record(e)
}

// stateView returns this server's state, from the loop; when the loop is
// paused or does not answer within a second, from its published status.
func (n *raftNode) stateView(ctx context.Context) raftStateView {
	if until := n.obs.pausedUntil.Load(); until > time.Now().UnixNano() {
		return n.publishedView(time.Unix(0, until))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var v raftStateView
	if err := n.onLoop(ctx, func() { v = n.loopView() }); err != nil {
		v = n.publishedView(time.Time{})
		v.Error = "the Raft loop did not answer: " + err.Error()
	}
	return v
}

// loopView is stateView on the loop.
func (n *raftNode) loopView() raftStateView {
	c := n.core
	self, _ := c.config.server(c.id)
	v := raftStateView{ID: c.id, Node: self.Node, Address: n.cfg.Address, Role: c.role.String(),
		Term: c.term, Vote: n.nodeNameOrEmpty(c.vote), Leader: n.nodeNameOrEmpty(c.leader), Voter: c.isVoter(),
		CommitIndex: c.commit, AppliedIndex: n.appliedIndex, LastLogIndex: c.log.lastIndex(),
		LastLogTerm: c.log.lastTerm(), SnapshotIndex: n.snapIndex, Servers: len(c.config.Servers),
		LastContact: n.sinceContact().Milliseconds()}
	if c.role == roleLeader {
		v.LastContact = 0
	}
	for _, s := range c.config.Servers {
		pr := c.progress[s.ID]
		if pr == nil {
			continue
		}
		f := raftFollowerView{ID: s.ID, Node: s.Node, Address: s.Address, Voter: !s.NonVoter,
			MatchIndex: pr.match, NextIndex: pr.next, State: pr.state.String(), ProbeSent: pr.probeSent,
			LastContact: -1}
		if pr.state == progressReplicate && pr.next > pr.match+1 {
			f.InFlight = pr.next - 1 - pr.match
		}
		if pr.state == progressSnapshot {
			f.SnapshotIndex = pr.snapshotIdx
		}
		if t, ok := n.peerContact[s.ID]; ok {
			f.LastContact = time.Since(t).Milliseconds()
		}
		v.Followers = append(v.Followers, f)
	}
	return v
}

func (n *raftNode) nodeNameOrEmpty(id string) string {
	if id == "" {
		return ""
	}
	return n.nodeName(id)
}

// publishedView is the state as the loop last published it, for when the
// loop cannot be asked.
func (n *raftNode) publishedView(pausedUntil time.Time) raftStateView {
	st := n.raftStatus()
	self, _ := st.Config.server(st.ID)
	v := raftStateView{ID: st.ID, Node: self.Node, Address: n.cfg.Address, Role: st.Role.String(), Term: st.Term,
		Voter: st.Config.hasVoter(st.ID), CommitIndex: st.Commit, AppliedIndex: n.appliedPub.Load(),
		LastLogIndex: st.LastIndex, SnapshotIndex: n.snapIndexPub.Load(), Servers: len(st.Config.Servers),
		LastContact: n.sinceContact().Milliseconds()}
	if s, ok := st.Config.server(st.Leader); ok {
		v.Leader = s.Node
	}
	if !pausedUntil.IsZero() {
		v.PausedUntil = &pausedUntil
	}
	return v
}

func (s progressState) String() string {
	return [...]string{"probe", "replicate", "snapshot"}[s]
}

var errRaftPaused = errors.New("this server's Raft is paused")

// stepDown makes this leader a follower of no one in its term (the
// teaching control): the others hear no heartbeat, time out, and elect a
// leader in a new term (Raft §5.2); it may be this server again.
func (n *raftNode) stepDown(ctx context.Context) error {
	if n.obs.pausedUntil.Load() > time.Now().UnixNano() {
		return errRaftPaused
	}
	var err error
	if e := n.onLoop(ctx, func() {
		if n.core.role != roleLeader {
			err = errNotLeader
			return
		}
		n.record(timelineEvent{Type: "control", Term: n.core.term,
			Summary: "step-down control: this leader becomes a follower; the others will time out and elect a leader",
			Ref:     "raft_observe.go stepDown, Raft §5.2"})
		n.core.becomeFollower(n.core.term, "")
	}); e != nil {
		return e
	}
	return err
}

// pause stops this server's Raft loop for d (the teaching control), as a
// long GC pause or a stalled VM would: no ticks, no messages (the inbox
// overflows and drops them), no writes. It returns once the loop is
// paused. On waking, the loop catches up the ticks it missed
// (catchUpTicks): a leader finds it has heard from no quorum and steps
// down (dissertation §6.2), a follower learns the new term.
func (n *raftNode) pause(ctx context.Context, d time.Duration) error {
	until := time.Now().Add(d)
	if old := n.obs.pausedUntil.Load(); old > time.Now().UnixNano() || !n.obs.pausedUntil.CompareAndSwap(old, until.UnixNano()) {
		return errRaftPaused
	}
	paused := make(chan struct{})
	go n.onLoop(context.Background(), func() {
		n.record(timelineEvent{Type: "control", Term: n.core.term,
			Summary: fmt.Sprintf("pause control: this server's Raft loop stops for %v (no ticks, no messages)", d),
			Ref:     "raft_observe.go pause, raft_node.go catchUpTicks, dissertation §6.2"})
		close(paused)
		timer := time.NewTimer(time.Until(until))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-n.stopCh:
		}
		n.record(timelineEvent{Type: "control", Term: n.core.term,
			Summary: "resumed after the pause: catching up the ticks missed",
			Ref:     "raft_node.go catchUpTicks, dissertation §6.4.1"})
	})
	select {
	case <-paused:
		return nil
	case <-n.stopCh:
		return errRaftStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}
