// raft_admit.go: which messages the Raft core (raft.go) takes from the
// network, and how the Raft layer's log lines name servers: the core's
// admit and campaign guard (pure), and the driver's (raft_node.go) lines
// about dropped messages and about the leader a follower follows.
//
// Every message passes admit before the core steps it; a message it
// refuses changes nothing and is returned to the driver as an error, which
// the driver logs with the sender's connection address, at most once per
// sender per raftDropLogInterval (raftDropLog), so a flood of forged frames
// costs one line a minute, not one per frame.
//
// Two rules, both pure (no clock, no I/O: this is still the core):
//
//   - Terms stay below maxRaftTerm. A term grows by one per election, so a
//     real cluster never comes near it; a message claiming a term at or
//     beyond it is forged or corrupt, and adopting it would make the next
//     election's term+1 wrap around to 0 at 2^64, after which no server
//     could ever win a vote again. The core never campaigns into the bound
//     (campaignAllowed), and a persisted term at or beyond it stops the
//     agent at start (checkPersistedTerm).
//   - The sender must be a server of this server's latest configuration,
//     committed or not (dissertation §4.1: a configuration takes effect as
//     soon as it is in the log, so a server being added is accepted by the
//     leader that appended it, and answers it). A server that has no
//     configuration yet (it waits to be bootstrapped or added) accepts
//     everyone: the leader adding it is not in any configuration it has. A
//     server removed from the configuration is no longer heard by the
//     cluster, whatever term it campaigns in.
//
// The dissertation (§4.1) has servers take messages from outside their
// configuration, for liveness; we take only what liveness needs, because
// without authentication on the server port anyone who can reach it could
// otherwise depose the leader: a leader's messages at this server's own
// term, when it follows no one else (strangerLeads), so that a server that
// missed the entry adding a server, and then finds that server leading,
// still follows it and learns the entry. Frames
// are authenticated once the server port has TLS (the security issue):
// until then these checks stop made-up senders and impossible terms, not a
// forger who names a real member with a plausible term.
//
// Concurrency: the core's part has none of its own (owned, like the core,
// by the goroutine that drives it); raftDropLog's mutex guards its table
// of senders, which the Raft loop and the connections' reader goroutines
// both log into.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxRaftTerm bounds every term: one election per millisecond would take
// 146 million years to reach it, and it leaves 2^64 − 2^62 of room below
// the wrap, so no increment of an accepted term can overflow.
const maxRaftTerm = 1 << 62

var (
	errRaftNotMember = errors.New("the sender is not in this server's Raft configuration")
	errRaftBadTerm   = errors.New("the message's term is beyond the limit, or below a term it carries")
)

// step takes one message from another server, or msgSnapStatus from the
// driver. A message admit refuses changes nothing: the reason is returned,
// for the driver to log.
func (r *raftCore) step(m raftMessage) error {
	if err := r.admit(m); err != nil {
		return err
	}
	r.stepAdmitted(m)
	return nil
}

// admit decides whether the core takes m (see the file comment).
func (r *raftCore) admit(m raftMessage) error {
	if m.Type == msgSnapStatus {
		return nil // from the driver, about a send this core asked for
	}
	if len(r.config.Servers) > 0 && !r.config.has(m.From) && !r.strangerLeads(m) {
		return errRaftNotMember
	}
	if m.Term >= maxRaftTerm || m.LogTerm > m.Term || m.Snapshot != nil && m.Snapshot.Term > m.Term {
		return errRaftBadTerm
	}
	for _, e := range m.Entries {
		if e.Term > m.Term {
			return errRaftBadTerm // a leader's entries are of its term or earlier
		}
	}
	return nil
}

// strangerLeads is the one exception to membership, for liveness
// (dissertation §4.1): a server that missed the entry adding server X, and
// finds X leading, must follow X to learn that entry. It learns X's term
// from the servers it knows (their answers to its pre-votes), and then
// takes X's AppendEntries and heartbeats at exactly that term, while it
// knows no other leader of that term, and then X's snapshot (whose chunks
// the driver buffers only from the leader it follows). A stranger can never
// raise the term, nor displace a leader this server follows.
func (r *raftCore) strangerLeads(m raftMessage) bool {
	switch {
	case m.Term != r.term:
		return false
	case m.Type == msgApp || m.Type == msgHeartbeat:
		return r.leader == "" || r.leader == m.From
	case m.Type == msgSnap:
		return r.leader == m.From
	}
	return false
}

// campaignAllowed: a campaign must not take the term to maxRaftTerm. The
// core's term is always below it (admit, checkPersistedTerm), so this only
// fails one step short of the bound, which no real cluster reaches.
func (r *raftCore) campaignAllowed() bool {
	if r.term+1 < maxRaftTerm {
		return true
	}
	r.logger.Error("not campaigning: the next term would reach the limit", "term", r.term, "limit", uint64(maxRaftTerm))
	return false
}

// checkPersistedTerm refuses to start from a term no real cluster reaches:
// the state is corrupt, or was adopted from a forged message before this
// check existed. Starting would make the next election wrap the term.
func checkPersistedTerm(term uint64, dataDir string) error {
	if term < maxRaftTerm {
		return nil
	}
	return fmt.Errorf("the Raft state in %s/raft has term %d, beyond the limit %d: it is corrupt (or adopted from a forged message). "+
		"To recover this server: stop it, move %s/raft aside, and start it again: it asks the cluster (-retry-join) to add it back, "+
		"under its node ID (kept in %s/node-id), and receives the log from the leader. If no server of the cluster can start, "+
		"bootstrap a new cluster and restore the latest snapshot (PUT /v1/snapshot)",
		dataDir, term, uint64(maxRaftTerm), dataDir, dataDir)
}

// describe names a server for the logs: "s2 (127.0.0.12:8300)" when the
// configuration knows it, else its ID.
func (c raftConfiguration) describe(id string) string {
	if s, ok := c.server(id); ok && s.Node != "" {
		return fmt.Sprintf("%s (%s)", s.Node, s.Address)
	}
	return id
}

// raftDropLogInterval: a sender whose messages are dropped is logged at
// most once per interval.
const raftDropLogInterval = time.Minute

// raftDropLog rate-limits the driver's lines about dropped messages, per
// sender. It is bounded: when it holds raftDropLogSenders senders, the
// entries older than the interval go, and if none is, the new sender's
// drops go unlogged until one is (a flood of made-up names costs no
// memory). The raft loop logs refused messages, the connections' readers
// undecodable frames: mu guards last.
type raftDropLog struct {
	mu   sync.Mutex
	last map[string]time.Time // sender and host → when a drop was last logged
}

const raftDropLogSenders = 256

// log logs a dropped message or frame from sender (the node it names, or
// "" for a frame that could not be decoded) over a connection from remote,
// unless the same sender from the same host was logged less than
// raftDropLogInterval ago.
func (d *raftDropLog) log(logger *slog.Logger, now time.Time, sender, remote string, msg string, args ...any) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	key := sender + "|" + host
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.last[key]; ok && now.Sub(t) < raftDropLogInterval {
		return
	}
	if d.last == nil {
		d.last = map[string]time.Time{}
	}
	if len(d.last) >= raftDropLogSenders {
		for k, t := range d.last {
			if now.Sub(t) >= raftDropLogInterval {
				delete(d.last, k)
			}
		}
		if len(d.last) >= raftDropLogSenders {
			return
		}
	}
	d.last[key] = now
	logger.Warn(msg, append([]any{"from", sender, "remote", remote, "next_report_in", raftDropLogInterval}, args...)...)
}

// dropped logs a message the core refused, rate-limited per sender.
func (n *raftNode) dropped(m raftMessage, err error) {
	n.dropLog.log(n.logger, time.Now(), m.From, m.Remote, "dropping a raft message", "type", m.Type.String(),
		"term", m.Term, "claimed_addr", m.FromAddr, "reason", err)
}

// narrateLeader logs, once, that a follower learned who leads, or lost
// the leader it followed.
func (n *raftNode) narrateLeader(old, st *raftStatus) {
	switch {
	case st.Leader != "":
		name := st.Config.describe(st.Leader)
		if name == st.Leader && n.addrs[st.Leader] != "" {
			name = fmt.Sprintf("%s (%s)", st.Leader, n.addrs[st.Leader]) // not in the configuration yet: it adds this server
		}
		n.logger.Info(fmt.Sprintf("following leader %s in term %d", name, st.Term))
	case old.Leader != n.cfg.ID:
		n.logger.Info(fmt.Sprintf("lost the leader %s; no leader in term %d", old.Config.describe(old.Leader), st.Term))
	}
}
