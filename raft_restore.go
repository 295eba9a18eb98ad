// raft_restore.go: restoring a user's snapshot (PUT /v1/snapshot) through
// Raft, the way hashicorp/raft's Restore does it: never as a log entry (a
// snapshot may be far larger than any entry or RPC frame may be), but as
// the leader's new Raft snapshot (Raft §7).
//
// Data flow: off the loop, the spooled file (agent_restore.go) is copied,
// behind the configuration, into a snapshot file, fsynced; then on the
// leader's loop, in one turn, so nothing interleaves:
//
//	core.userSnapshotPoint → index = lastIndex+1, the term, the committed configuration (unchanged)
//	storage.adoptSnapshot(index) the file renamed into the storage
//	storage.compact(index)       the whole log is now below the snapshot
//	fsm.install(index)           the store takes the state already read from the file
//	core.restoreUserSnapshot     the log starts at index; a no-op follows at index+1
//
// then, as after any step, handleReady persists the no-op and sends every
// follower the snapshot in chunks (sendSnapshot, raft_snapshot.go), since its
// next entry lies in the hole below index. The caller is answered when the
// no-op commits: a quorum then holds the snapshot, and the restore is as
// durable as any write.
//
// The window (hashicorp/raft has the same one, and documents the
// operation as one for disaster recovery): the leader counts the snapshot
// as committed the moment its own disk holds it, before any follower
// does. If the leader crashes before a quorum has installed it, either
// it restarts before the others elect a leader (its log is the longer in
// the same term, so it wins, and the restore goes on), or they elect one
// without it, and the restarted old leader holds a snapshot the cluster
// never committed: its state diverges until its data dir is wiped. The
// client was not answered (the no-op never committed), so it knows the
// restore did not complete; the window lasts one snapshot transfer and
// install (1-3 s for 58 MB in TestBug_BigSnapshotRestore on a loaded
// machine). Closing it would mean replicating the snapshot as an
// uncommitted log position that a new leader may still overwrite, which
// InstallSnapshot cannot express; we accept it, as Consul does, rather
// than change the protocol.
//
// The core's part (userSnapshotPoint, restoreUserSnapshot) is pure, like
// the rest of raft.go; the driver's part is raftNode.restoreUserSnapshot.
//
// Concurrency: raftNode.restoreUserSnapshot is called from any goroutine;
// it writes the file on its own, and only the steps above run on the loop
// (onLoop).
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
)

// --- the core's part: pure, like the rest of raft.go ---

// userSnapshotPoint is where a leader installs a user's snapshot (PUT
// /v1/snapshot, hashicorp/raft's Restore): at the index after its log, in
// its term, with its configuration, which must be committed (a snapshot
// holds only a committed one). The driver makes the snapshot durable
// there, then calls restoreUserSnapshot.
func (r *raftCore) userSnapshotPoint() (index, term uint64, config raftConfiguration, err error) {
	switch {
	case r.role != roleLeader:
		return 0, 0, config, errNotLeader
	case r.transferee != "":
		return 0, 0, config, errTransferring
	case r.configIndex > r.commit:
		return 0, 0, config, errConfigPending
	case !r.committedInTerm():
		return 0, 0, config, errLeaderNotSettled
	}
	return r.log.lastIndex() + 1, r.term, r.config.clone(), nil
}

// restoreUserSnapshot makes the durable snapshot at index (from
// userSnapshotPoint, in this same turn of the driver's loop) the start of
// the leader's log, leaving a hole where index was never an entry:
// uncommitted entries are dropped, and every follower's next entry lies
// in the hole, so each is sent the snapshot (Raft §7). A no-op follows at
// index+1; it commits only once a quorum holds it, so once a quorum has
// installed the snapshot. The leader counts the snapshot as committed at
// once, as hashicorp/raft does: see raft_restore.go for the window this
// leaves.
func (r *raftCore) restoreUserSnapshot(index uint64) uint64 {
	r.logger.Info("restoring a user snapshot as the log's start", "index", index, "term", r.term)
	r.log = raftLog{offset: index, offsetTerm: r.term}
	r.snapConfig, r.configIndex = r.config.clone(), index
	r.commit, r.applied = index, index
	r.persistFrom = index + 1
	for _, pr := range r.progress {
		pr.state, pr.probeSent, pr.next = progressProbe, false, min(pr.match+1, index)
	}
	return r.appendEntries([]raftEntry{{Type: raftEntryNoop}})
}

// --- the driver's part ---

// errAbortedByRestore fails the proposals a restore drops from the log
// (hashicorp/raft's ErrAbortedByRestore).
var errAbortedByRestore = errors.New("snapshot restored while command was in flight")

// errConfigChanged: the configuration changed while a restore was being
// written; the caller may try again.
var errConfigChanged = errors.New("the Raft configuration changed while the snapshot was being written: try again")

// restoreUserSnapshot installs the store snapshot in the file at path,
// already verified and read into st, as the leader's Raft snapshot, and
// returns its index once a quorum holds it.
func (n *raftNode) restoreUserSnapshot(ctx context.Context, path string, st any) (uint64, error) {
	var config raftConfiguration
	var err error
	if e := n.onLoop(ctx, func() { _, _, config, err = n.core.userSnapshotPoint() }); e != nil {
		return 0, e
	}
	if err != nil {
		return 0, err
	}
	// The snapshot file is written off the loop, then renamed into the
	// storage on it: the loop (heartbeats) waits for a rename, not a copy.
	staged := path + ".raft"
	defer os.Remove(staged) // gone already once adopted
	err = writeFileAtomic(staged, staged+".tmp", func(w io.Writer) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeSnapshotFileFunc(w, config, func(w io.Writer) error {
			_, err := io.Copy(w, f)
			return err
		})
	})
	if err != nil {
		return 0, err
	}
	noop := &raftProposal{done: make(chan struct{})}
	var index uint64
	if e := n.onLoop(ctx, func() { index, err = n.installUserSnapshot(staged, config, st, noop) }); e != nil {
		return 0, e
	}
	if err != nil {
		return 0, err
	}
	select {
	case <-noop.done:
		return index, noop.err
	case <-n.stopCh:
		return 0, errRaftStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// installUserSnapshot is the loop's part: see the file comment. Nothing
// changes unless the snapshot is durable in the storage; a failure after
// that point is the storage's, and stops the node.
func (n *raftNode) installUserSnapshot(staged string, config raftConfiguration, st any, noop *raftProposal) (uint64, error) {
	index, term, now, err := n.core.userSnapshotPoint()
	if err != nil {
		return 0, err
	}
	if !slices.Equal(now.Servers, config.Servers) {
		return 0, errConfigChanged
	}
	if err := n.storage.adoptSnapshot(staged, index, term); err != nil {
		return 0, err
	}
	if err := n.storage.compact(index, term); err != nil {
		n.fail(err)
		return 0, err
	}
	n.fsm.install(st, index)
	noop.index, noop.term = n.core.restoreUserSnapshot(index), term
	n.snapIndex, n.appliedIndex, n.appliedBytes = index, index, 0
	for i, p := range n.pending {
		p.err = errAbortedByRestore
		close(p.done)
		delete(n.pending, i)
	}
	n.pending[noop.index] = noop
	n.wakeWaiters()
	n.logger.Info("user snapshot installed as the Raft snapshot; sending it to the followers",
		"index", index, "term", term, "servers", len(config.Servers))
	return index, nil
}
