// raft_snapshot.go: Raft snapshots (Raft §7) as the driver keeps them,
// part of the consensus layer: taking them, the snapshot file's format,
// restoring from one at start, and carrying one to a follower in chunks.
//
// Data flow:
//   - taking: every SnapshotThreshold applied entries (or snapshotBytes of
//     them) maybeSnapshot takes the store's current state (immutable, so
//     free to take) and a goroutine writes it through the storage
//     (saveSnapshot) while writes go on; snapshotDone then compacts the
//     storage and the core.
//   - the file: writeSnapshotFileFunc writes the configuration at the
//     snapshot's index, then the store's snapshot (store_snapshot.go);
//     readSnapshotFile reads both back. At start, loadRaftState restores
//     the store from the newest snapshot and keeps the log that follows it.
//   - InstallSnapshot, as the driver carries it:
//     the leader's sendSnapshot sends the file in chunks, read one at a time,
//     each one "Raft.InstallSnapshot" call (apart from the message stream, so
//     heartbeats never queue behind a snapshot); the follower writes them to
//     a file in its spool dir, and after the last one reads the file off the
//     loop (the configuration header, then the state through the FSM) and only
//     then steps the snapshot into the core, whose ready has installSnapshot
//     rename the file into the storage and publish the state already read.
//     The loop is never blocked for longer than a rename and a few fsyncs,
//     however large the snapshot: the follower goes on answering heartbeats.
//
// Concurrency: maybeSnapshot, snapshotDone and installSnapshot run on the
// loop goroutine, which owns the node's state; the snapshot write runs on a
// goroutine of its own and reports to the loop through snapDoneCh. A send
// runs on a goroutine of its own, which reports to the loop through the
// inbox (msgSnapStatus). The received calls run on the RPC server's
// goroutines; chunksMu takes them one at a time, and guards chunks.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// snapResult is what the snapshot goroutine reports to the loop (snapDoneCh).
type snapResult struct {
	index, term uint64
	err         error
}

// maybeSnapshot starts a snapshot once enough entries were applied since
// the last one. The store's state is immutable, so the write happens on
// another goroutine while the loop goes on.
func (n *raftNode) maybeSnapshot() {
	if n.snapshotting || n.appliedIndex < n.snapIndex+n.cfg.SnapshotThreshold && n.appliedBytes < snapshotBytes {
		return
	}
	start := time.Now()
	index, write := n.fsm.snapshot()
	n.metrics.snapshotCreate.measureSince(start)
	term, ok := n.core.log.term(index)
	if !ok || index <= n.snapIndex {
		return
	}
	config := n.core.configAt(index)
	n.snapshotting = true
	go func() {
		persist := time.Now()
		err := n.storage.saveSnapshot(index, term, func(w io.Writer) error {
			return writeSnapshotFileFunc(w, config, write)
		})
		n.metrics.snapshotPersist.measureSince(persist)
		n.metrics.snapshotTake.measureSince(start)
		n.snapDoneCh <- snapResult{index, term, err}
	}()
}

func (n *raftNode) snapshotDone(res snapResult) {
	n.snapshotting = false
	if res.err != nil {
		n.logger.Error("snapshot failed", "index", res.index, "error", res.err)
		return
	}
	if res.index <= n.snapIndex {
		return // a newer snapshot was installed meanwhile, from the leader or restored
	}
	if err := n.storage.compact(res.index, res.term); err != nil {
		n.logger.Error("log compaction failed", "index", res.index, "error", err)
		return
	}
	n.snapIndex, n.appliedBytes = res.index, 0
	n.core.compact(res.index)
	n.logger.Info("snapshot saved, log compacted", "index", res.index)
	n.observeSnapshot(false, res.index)
}

// snapshotBytes: a snapshot is also taken once the entries applied since
// the last one hold this much data, so that a log of large transactions
// does not grow to a long replay at restart.
const snapshotBytes = 64 << 20

// snapshotChunkSize: InstallSnapshot carries the file in pieces this large.
const snapshotChunkSize = 4 << 20

// snapshotTimeout bounds a call that may handle a whole snapshot of size
// bytes (the last chunk: the file read and installed): a minute, and a
// second more per 10 MB.
func snapshotTimeout(size int64) time.Duration {
	return time.Minute + time.Duration(size/10e6)*time.Second
}

// A snapshot file is the configuration at its index, then the store's
// snapshot (store_snapshot.go): [uvarint length][configuration JSON][store].
func writeSnapshotFileFunc(w io.Writer, c raftConfiguration, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	cb := encodeConfiguration(c)
	bw.Write(binary.AppendUvarint(nil, uint64(len(cb))))
	bw.Write(cb)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// readSnapshotFile reads a snapshot file: its configuration, and the state
// fsm reads from the rest.
func readSnapshotFile(r io.Reader, fsm raftFSM) (raftConfiguration, any, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	l, err := binary.ReadUvarint(br)
	if err != nil || l > maxSnapshotField {
		return raftConfiguration{}, nil, errors.New("snapshot file: bad configuration header")
	}
	cb := make([]byte, l)
	if _, err := io.ReadFull(br, cb); err != nil {
		return raftConfiguration{}, nil, fmt.Errorf("snapshot file: %w", err)
	}
	c, err := decodeConfiguration(cb)
	if err != nil {
		return raftConfiguration{}, nil, fmt.Errorf("snapshot file: %w", err)
	}
	st, err := fsm.read(br)
	return c, st, err
}

// loadRaftState reads what storage holds at start-up and restores fsm from
// the newest snapshot.
func loadRaftState(ws walState, storage raftStorage, fsm raftFSM) (raftRestored, error) {
	st := raftRestored{HardState: ws.HardState, Entries: ws.Entries, SnapIndex: ws.SnapshotIndex, SnapTerm: ws.SnapshotTerm}
	if ws.SnapshotIndex == 0 {
		return st, nil
	}
	index, term, r, err := storage.openSnapshot()
	if err != nil {
		return st, fmt.Errorf("the log is compacted to %d but its snapshot cannot be read: %w", ws.SnapshotIndex, err)
	}
	defer r.Close()
	if index != ws.SnapshotIndex || term != ws.SnapshotTerm {
		// saveSnapshot happens before compact: a newer file may exist whose
		// compaction did not happen. Its entries are still in the log, so
		// starting from it is as good; an older one would lose entries.
		if index < ws.SnapshotIndex {
			return st, fmt.Errorf("the newest snapshot (%d) is older than the compacted log (%d)", index, ws.SnapshotIndex)
		}
	}
	config, state, err := readSnapshotFile(r, fsm)
	if err != nil {
		return st, fmt.Errorf("restoring snapshot %d: %w", index, err)
	}
	fsm.install(state, index)
	// Entries the snapshot covers are dropped. If the log holds the
	// snapshot's last entry with its term, what follows is kept; otherwise
	// the whole log goes (Raft §7): a crash while installing a leader's
	// snapshot can leave a log that does not match it.
	matches := index == ws.SnapshotIndex
	for len(st.Entries) > 0 && st.Entries[0].Index <= index {
		matches = st.Entries[0].Index == index && st.Entries[0].Term == term
		st.Entries = st.Entries[1:]
	}
	if !matches && len(st.Entries) > 0 {
		if err := storage.truncate(st.Entries[0].Index); err != nil {
			return st, err
		}
		st.Entries = nil
	}
	if len(st.Entries) > 0 && st.Entries[0].Index != index+1 {
		return st, fmt.Errorf("the log starts at %d, after the snapshot at %d", st.Entries[0].Index, index)
	}
	st.SnapIndex, st.SnapTerm, st.SnapConfig, st.AppliedIndex = index, term, config, index
	return st, nil
}

// sendSnapshot sends the newest snapshot file to a follower in chunks, on a
// goroutine, and reports the outcome to the core (msgSnapStatus).
func (n *raftNode) sendSnapshot(m raftMessage, addr string) {
	index, term, r, err := n.storage.openSnapshot()
	report := func(failed bool) {
		select {
		case n.inbox <- raftMessage{Type: msgSnapStatus, From: m.To, To: n.cfg.ID, Reject: failed}:
		case <-n.stopCh:
		}
	}
	if err != nil {
		n.logger.Error("no snapshot to send", "to", n.core.config.describe(m.To), "error", err)
		go report(true)
		return
	}
	to := n.core.config.describe(m.To)
	n.logger.Info("sending snapshot", "to", to, "index", index)
	go func() {
		defer r.Close()
		size, err := r.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = r.Seek(0, io.SeekStart)
		}
		if err != nil {
			report(true)
			return
		}
		buf := make([]byte, min(size, snapshotChunkSize))
		for off, k := int64(0), int64(0); off < size || off == 0; off += k {
			k = min(int64(len(buf)), size-off)
			if _, err := io.ReadFull(r, buf[:k]); err != nil {
				n.logger.Warn("reading the snapshot to send failed", "to", to, "index", index, "error", err)
				report(true)
				return
			}
			c := &snapChunk{From: n.cfg.ID, FromAddr: n.cfg.Address, Term: m.Term, Seq: m.Seq,
				Index: index, SnapTerm: term, Offset: uint64(off), Total: uint64(size), Data: buf[:k]}
			ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout(size))
			err := n.transport.sendChunk(ctx, addr, encodeSnapChunk(c))
			cancel()
			if err != nil {
				n.logger.Warn("sending snapshot failed", "to", to, "index", index, "error", err)
				report(true)
				return
			}
			if size == 0 {
				break
			}
		}
		report(false)
	}()
}

// snapAssembly is one snapshot arriving from one leader, in its file.
type snapAssembly struct {
	index, term uint64
	file        *os.File
	written     uint64
}

func (a *snapAssembly) discard() {
	a.file.Close()
	os.Remove(a.file.Name())
}

// receiveSnapshotChunk takes one chunk; the last one completes the
// snapshot and installs it. An error tells the leader to try again.
func (n *raftNode) receiveSnapshotChunk(remote string, payload []byte) error {
	_, c, err := decodeRaftFrame(payload)
	if err == nil && c == nil {
		err = errors.New("not a snapshot chunk")
	}
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	// A chunk the core would not admit (raft_admit.go) is dropped before
	// anything is written, and the sender's assembly with it.
	m := raftMessage{Type: msgSnap, From: c.From, FromAddr: c.FromAddr, Remote: remote, To: n.cfg.ID, Term: c.Term, Seq: c.Seq,
		Snapshot: &raftSnapshot{Index: c.Index, Term: c.SnapTerm}}
	var refused error
	if err := n.onLoop(context.Background(), func() { refused = n.core.admit(m) }); err != nil {
		return err
	}
	n.chunksMu.Lock()
	defer n.chunksMu.Unlock()
	a := n.chunks[c.From] // at most one entry: see Offset 0 below
	if refused != nil {
		if a != nil {
			a.discard()
			delete(n.chunks, c.From)
		}
		n.dropped(m, refused)
		return fmt.Errorf("raft: %w", refused)
	}
	if c.Offset == 0 {
		// One snapshot arrives at a time: a new one (the leader starting
		// over, or a new leader) replaces whatever was arriving, so no
		// sender, admitted or not, can hold more than one spool file.
		for from, old := range n.chunks {
			old.discard()
			delete(n.chunks, from)
		}
		f, err := os.CreateTemp(n.cfg.SpoolDir, "install-*.snap")
		if err != nil {
			return err
		}
		a = &snapAssembly{index: c.Index, term: c.SnapTerm, file: f}
		n.chunks[c.From] = a
	}
	if a == nil || a.index != c.Index || a.written != c.Offset {
		if a != nil {
			a.discard()
			delete(n.chunks, c.From)
		}
		return fmt.Errorf("raft: snapshot chunk at %d of snapshot %d out of order", c.Offset, c.Index)
	}
	if _, err := a.file.Write(c.Data); err != nil {
		a.discard()
		delete(n.chunks, c.From)
		return err
	}
	a.written += uint64(len(c.Data))
	if a.written < c.Total {
		return nil
	}
	delete(n.chunks, c.From)
	return n.installReceived(remote, c, a)
}

// installReceived reads the complete file and steps it into the core.
func (n *raftNode) installReceived(remote string, c *snapChunk, a *snapAssembly) error {
	path := a.file.Name()
	defer os.Remove(path) // gone already once installed
	err := syncAndClose(a.file, nil)
	var config raftConfiguration
	var st any
	if err == nil {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			config, st, err = readSnapshotFile(f, n.fsm)
			f.Close()
		}
	}
	if err != nil {
		n.logger.Error("bad snapshot from the leader", "from", c.From, "address", c.FromAddr, "error", err) // off the loop: no names
		return err
	}
	return n.onLoop(context.Background(), func() {
		n.addrs[c.From] = c.FromAddr
		n.lastContact.Store(time.Now().UnixNano())
		m := raftMessage{Type: msgSnap, From: c.From, FromAddr: c.FromAddr, Remote: remote, To: n.cfg.ID, Term: c.Term, Seq: c.Seq,
			Snapshot: &raftSnapshot{Index: c.Index, Term: c.SnapTerm, Config: config, Path: path, State: st}}
		if err := n.core.step(m); err != nil {
			n.dropped(m, err)
		}
		n.handleReady()
	})
}

// installSnapshot makes a snapshot from the leader durable, drops the log it
// replaces, and restores the store from it (Raft §7).
func (n *raftNode) installSnapshot(sn *raftSnapshot) error {
	if err := n.storage.adoptSnapshot(sn.Path, sn.Index, sn.Term); err != nil {
		return err
	}
	// The log after the snapshot does not match it (or the core would not
	// install it): cut it before recording the compaction, so that a crash
	// in between leaves nothing loadRaftState would keep.
	if err := n.storage.truncate(sn.Index + 1); err != nil {
		return err
	}
	if err := n.storage.compact(sn.Index, sn.Term); err != nil {
		return err
	}
	start := time.Now()
	n.fsm.install(sn.State, sn.Index)
	n.metrics.fsmRestore.measureSince(start)
	n.snapIndex, n.appliedIndex = sn.Index, sn.Index
	n.learnAddrs(sn.Config)
	n.observeSnapshot(true, sn.Index)
	for i, p := range n.pending {
		if i <= sn.Index {
			p.err = errLeadershipLost
			close(p.done)
			delete(n.pending, i)
		}
	}
	n.wakeWaiters()
	return nil
}
