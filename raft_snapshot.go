// raft_install.go: InstallSnapshot (Raft §7), as the driver carries it:
// the leader's sendSnapshot sends the file in chunks, read one at a time,
// each one "Raft.InstallSnapshot" call (apart from the message stream, so
// heartbeats never queue behind a snapshot); the follower writes them to
// a file in its spool dir, and after the last one reads the file off the
// loop (the configuration header, then the state through the FSM) and only
// then steps the snapshot into the core, whose ready has installSnapshot
// rename the file into the storage and publish the state already read.
// The loop is never blocked for longer than a rename and a few fsyncs,
// however large the snapshot: the follower goes on answering heartbeats.
//
// Concurrency: a send runs on a goroutine of its own, which reports to the
// loop through the inbox (msgSnapStatus). The received calls run on the
// RPC server's goroutines; chunksMu takes them one at a time, and guards
// chunks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

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
	a := n.chunks[c.From]
	if refused != nil {
		if a != nil {
			a.discard()
			delete(n.chunks, c.From)
		}
		n.dropped(m, refused)
		return fmt.Errorf("raft: %w", refused)
	}
	if c.Offset == 0 {
		if a != nil {
			a.discard() // the leader started over
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
