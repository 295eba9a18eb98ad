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
// saveSnapshot, which the snapshot goroutine calls while the loop goes on.
// memRaftStorage's mutex guards the snapshot (snap, snapIndex, snapTerm)
// for that reason; the rest is the loop's alone.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
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
// survives a restart, as in Consul's dev mode.
type memRaftStorage struct {
	hs        raftHardState
	entries   []raftEntry
	snapIndex uint64
	snapTerm  uint64
	snap      []byte
	mu        sync.Mutex // guards snap, snapIndex and snapTerm, which saveSnapshot writes from another goroutine
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
	k := min(int(first-base-1), len(s.entries))
	s.entries = append(s.entries[:k:k], es...)
	return nil
}

func (s *memRaftStorage) setHardState(hs raftHardState) error { s.hs = hs; return nil }

func (s *memRaftStorage) saveSnapshot(index, term uint64, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = buf.Bytes()
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
	for len(s.entries) > 0 && s.entries[0].Index <= index {
		s.entries = s.entries[1:]
	}
	return nil
}

func (s *memRaftStorage) truncate(index uint64) error {
	for len(s.entries) > 0 && s.entries[len(s.entries)-1].Index >= index {
		s.entries = s.entries[:len(s.entries)-1]
	}
	return nil
}

// memSnapshotReader is a snapshot held in memory, opened.
type memSnapshotReader struct{ *bytes.Reader }

func (memSnapshotReader) Close() error { return nil }

func (s *memRaftStorage) openSnapshot() (uint64, uint64, io.ReadSeekCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		return 0, 0, nil, errNoSnapshot
	}
	return s.snapIndex, s.snapTerm, memSnapshotReader{bytes.NewReader(s.snap)}, nil
}

func (s *memRaftStorage) close() error { return nil }
