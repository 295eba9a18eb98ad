// raft_restore.go: restoring a user's snapshot (PUT /v1/snapshot) through
// Raft, the way hashicorp/raft's Restore does it: never as a log entry (a
// snapshot may be far larger than any entry or RPC frame may be), but as
// the leader's new Raft snapshot (Raft §7).
//
// Data flow, on the leader's loop (one turn, so nothing interleaves):
//
//	core.userSnapshotPoint → index = lastIndex+1, the term, the committed configuration
//	storage.saveSnapshot(index) ← the spooled file (agent_restore.go), copied and fsynced
//	storage.compact(index)      the whole log is now below the snapshot
//	install(index)              the store takes the state already read from the file
//	core.restoreUserSnapshot    the log starts at index; a no-op follows at index+1
//
// then, as after any step, handleReady persists the no-op and sends every
// follower the snapshot in chunks (sendSnapshot, receiveChunk), since its
// next entry lies in the hole below index. The caller is answered when the
// no-op commits: a quorum then holds the snapshot, and the restore is as
// durable as any write.
//
// The window (hashicorp/raft has the same one, and documents the
// operation as one for disaster recovery): the leader counts the snapshot
// as committed the moment its own disk holds it, before any follower
// does. If the leader crashes before a quorum has installed it, the
// others elect a leader without it, and the restarted old leader holds a
// snapshot the cluster never committed: its state diverges until its data
// dir is wiped. The client was not answered (the no-op never committed),
// so it knows the restore did not complete; the window lasts one snapshot
// transfer (well under a second for 60 MB on a LAN). Closing it would mean
// replicating the snapshot as an uncommitted log position that a new
// leader may still overwrite, which InstallSnapshot cannot express; we
// accept it, as Consul does, rather than change the protocol.
//
// Concurrency: restoreUserSnapshot is called from any goroutine; the work
// runs on the loop (onLoop), which it blocks while the file is copied:
// heartbeats pause for that long (about as long as the fsync of the file).
package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// errAbortedByRestore fails the proposals a restore drops from the log
// (hashicorp/raft's ErrAbortedByRestore).
var errAbortedByRestore = errors.New("snapshot restored while command was in flight")

// restoreUserSnapshot installs the store snapshot in the file at path,
// already verified and read into the state that install publishes, as the
// leader's Raft snapshot, and returns its index once a quorum holds it.
func (n *raftNode) restoreUserSnapshot(ctx context.Context, path string, install func(index uint64)) (uint64, error) {
	noop := &raftProposal{done: make(chan struct{})}
	var index uint64
	var err error
	if e := n.onLoop(ctx, func() { index, err = n.installUserSnapshot(path, install, noop) }); e != nil {
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
// changes unless the snapshot is durable; a failure after that point is
// the storage's, and stops the node.
func (n *raftNode) installUserSnapshot(path string, install func(index uint64), noop *raftProposal) (uint64, error) {
	index, term, config, err := n.core.userSnapshotPoint()
	if err != nil {
		return 0, err
	}
	err = n.storage.saveSnapshot(index, term, func(w io.Writer) error {
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
	if err := n.storage.compact(index, term); err != nil {
		n.fail(err)
		return 0, err
	}
	install(index)
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
