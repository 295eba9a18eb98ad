// raft_log.go: the log a Raft core holds in memory, part of the pure
// consensus core (raft.go): raftLog, the entries after the last snapshot,
// with the term lookups of the consistency check (Raft §5.3) and the
// election restriction (§5.4.1), and the core's compaction of it once the
// driver holds a durable snapshot (Raft §7).
//
// Data flow: entries enter through the leader's appendEntries
// (raft.go) or a follower's appendFollower (raft_replication.go), leave
// towards followers through sendAppend's slice, and are dropped by compact
// or cut by truncateFrom. The durable copy is the driver's (raft_wal.go).
//
// Concurrency: none of its own; like the rest of the core, owned by the
// one goroutine that drives it (the Raft loop, or a test).
package main

import (
	"slices"
)

// raftLog is the log held in memory: entries after offset, the index whose
// term is offsetTerm (the last entry compacted into a snapshot).
type raftLog struct {
	offset, offsetTerm uint64
	entries            []raftEntry // offset+1 …
}

func (l *raftLog) lastIndex() uint64 { return l.offset + uint64(len(l.entries)) }

func (l *raftLog) lastTerm() uint64 {
	t, _ := l.term(l.lastIndex())
	return t
}

// term returns the term of the entry at i; ok is false when i is compacted
// away or beyond the end.
func (l *raftLog) term(i uint64) (uint64, bool) {
	switch {
	case i == l.offset:
		return l.offsetTerm, true
	case i < l.offset || i > l.lastIndex():
		return 0, false
	}
	return l.entries[i-l.offset-1].Term, true
}

func (l *raftLog) entry(i uint64) *raftEntry { return &l.entries[i-l.offset-1] }

// slice returns entries lo..hi-1, at most maxBytes of data but at least one.
func (l *raftLog) slice(lo, hi uint64, maxBytes int) []raftEntry {
	if lo > hi {
		return nil
	}
	es := l.entries[lo-l.offset-1 : hi-l.offset-1]
	size := 0
	for i, e := range es {
		size += len(e.Data) + 24
		if i > 0 && size > maxBytes {
			return es[:i]
		}
	}
	return es
}

// upToDate: the election restriction (Raft §5.4.1): a candidate's log must
// end in a later term, or in the same term and be at least as long.
func (l *raftLog) upToDate(lastIndex, lastTerm uint64) bool {
	return lastTerm > l.lastTerm() || lastTerm == l.lastTerm() && lastIndex >= l.lastIndex()
}

// trailingLogBytes bounds the data of the trailing entries compact keeps.
const trailingLogBytes = 16 << 20

// compact drops in-memory entries up to i, once the driver holds a durable
// snapshot at snapIndex ≥ i, less the trailing ones kept for followers
// slightly behind (Raft §7: they are sent entries, not the snapshot): at
// most TrailingLogs of them, and no more than trailingLogBytes of data, so
// that a log of large transactions does not keep hundreds of MiB in memory
// for a follower that can as well take the snapshot.
func (r *raftCore) compact(i uint64) {
	kept, size := uint64(0), 0
	for j := i; j > r.log.offset && kept < r.cfg.TrailingLogs; j-- {
		if j <= r.log.lastIndex() {
			if size += len(r.log.entry(j).Data); size > trailingLogBytes {
				break
			}
		}
		kept++
	}
	i -= kept
	if i <= r.log.offset || i > r.applied {
		return
	}
	t, _ := r.log.term(i)
	r.snapConfig = r.configAt(i)
	r.log = raftLog{offset: i, offsetTerm: t, entries: slices.Clone(r.log.entries[i-r.log.offset:])}
}
