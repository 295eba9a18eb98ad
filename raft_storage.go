// raft_storage.go: what the Raft driver makes durable, part of the
// consensus layer: the raftStorage interface, and memRaftStorage, its
// in-memory implementation for -dev mode and the tests. A server with a
// data directory uses *wal (raft_wal.go) instead.
//
// Data flow: raftNode.handleReady persists the core's hard state and new
// entries (setHardState, append) before the messages that depend on them
// go out; a snapshot is saved (saveSnapshot) or adopted from the leader
// (adoptSnapshot), then the log it covers is compacted (compact); at start,
// loadRaftState (raft_snapshot.go) reads back the newest snapshot
// (openSnapshot).
//
// Concurrency: a storage is owned by the driver's loop goroutine, except
// saveSnapshot, which the snapshot goroutine calls while the loop goes on,
// and openSnapshot, which a snapshot send calls from its own goroutine.
// memRaftStorage's mutex guards the snapshot (snapWrite, snapIndex,
// snapTerm) for that reason; the rest is the loop's alone.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// raftStorage is what the node makes durable: *wal on a server with a
// data directory, memRaftStorage in -dev mode and in tests.
type raftStorage interface {
	append(entries []raftEntry) error
	setHardState(hs raftHardState) error
	saveSnapshot(index, term uint64, write func(io.Writer) error) error
	compact(index, term uint64) error
	truncate(index uint64) error
	openSnapshot() (index, term uint64, r io.ReadSeekCloser, err error)
	// adoptSnapshot makes the snapshot file at path (written and fsynced,
	// on the data dir's file system) the one at index and term.
	adoptSnapshot(path string, index, term uint64) error
	close() error
}

// memRaftStorage keeps the Raft state in memory: -dev mode, where nothing
// survives a restart, as in Consul's dev mode. Its snapshot is kept as the
// function that writes it, not as bytes: the state it writes is immutable
// (the store's at snapIndex, or an adopted file's bytes), so a snapshot is
// written out only when a follower needs one (openSnapshot), and a -dev
// agent, which has no follower, never holds a second copy of its data.
type memRaftStorage struct {
	hs        raftHardState
	entries   []raftEntry
	snapIndex uint64
	snapTerm  uint64
	snapWrite func(io.Writer) error // writes the snapshot at snapIndex; nil: none yet
	mu        sync.Mutex            // guards snapWrite, snapIndex and snapTerm, which saveSnapshot sets from another goroutine
}

func (s *memRaftStorage) append(es []raftEntry) error {
	if len(es) == 0 {
		return nil
	}
	first := es[0].Index
	s.mu.Lock()
	base := s.snapIndex
	s.mu.Unlock()
	if len(s.entries) > 0 {
		base = s.entries[0].Index - 1
	}
	if first <= base {
		return fmt.Errorf("append at %d inside the snapshot at %d", first, base)
	}
	if k := int(first - base - 1); k < len(s.entries) {
		// A conflicting suffix goes (Raft §5.3); a new array, so that a
		// reader of the old one never sees it overwritten.
		s.entries = s.entries[:k:k]
	}
	s.entries = append(s.entries, es...)
	return nil
}

func (s *memRaftStorage) setHardState(hs raftHardState) error { s.hs = hs; return nil }

func (s *memRaftStorage) saveSnapshot(index, term uint64, write func(io.Writer) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapWrite = write
	s.snapTerm, s.snapIndex = term, max(s.snapIndex, index)
	return nil
}

func (s *memRaftStorage) adoptSnapshot(path string, index, term uint64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	os.Remove(path)
	return s.saveSnapshot(index, term, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func (s *memRaftStorage) compact(index, term uint64) error {
	n := 0
	for n < len(s.entries) && s.entries[n].Index <= index {
		n++
	}
	if n > 0 { // a new array: the old one would keep the compacted entries' data
		s.entries = slices.Clone(s.entries[n:])
	}
	return nil
}

func (s *memRaftStorage) truncate(index uint64) error {
	for len(s.entries) > 0 && s.entries[len(s.entries)-1].Index >= index {
		s.entries = s.entries[:len(s.entries)-1]
	}
	return nil
}

// memSnapshotReader is a snapshot written out for a reader.
type memSnapshotReader struct{ *bytes.Reader }

func (memSnapshotReader) Close() error { return nil }

// openSnapshot writes the snapshot out, off the lock (a large state takes
// a while, and append, on the loop, takes the lock too).
func (s *memRaftStorage) openSnapshot() (uint64, uint64, io.ReadSeekCloser, error) {
	s.mu.Lock()
	index, term, write := s.snapIndex, s.snapTerm, s.snapWrite
	s.mu.Unlock()
	if write == nil {
		return 0, 0, nil, errNoSnapshot
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return 0, 0, nil, err
	}
	return index, term, memSnapshotReader{bytes.NewReader(buf.Bytes())}, nil
}

func (s *memRaftStorage) close() error { return nil }
