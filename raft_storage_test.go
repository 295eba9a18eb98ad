// raft_storage_test.go: the in-memory Raft storage of -dev (raft_storage.go).
package main

import (
	"io"
	"testing"
)

// The in-memory storage of -dev behaves like the wal for the driver:
// overwrite on conflict, compaction, truncation.
func TestMemRaftStorage(t *testing.T) {
	t.Parallel()
	s := &memRaftStorage{}
	es := func(from, to, term uint64) []raftEntry {
		var out []raftEntry
		for i := from; i <= to; i++ {
			out = append(out, raftEntry{Index: i, Term: term})
		}
		return out
	}
	s.append(es(1, 5, 1))
	s.append(es(4, 6, 2)) // overwrites 4 and 5
	if len(s.entries) != 6 || s.entries[3].Term != 2 {
		t.Fatalf("after overwrite: %+v", s.entries)
	}
	s.saveSnapshot(3, 1, func(w io.Writer) error { _, err := w.Write([]byte("snap")); return err })
	s.compact(3, 1)
	if len(s.entries) != 3 || s.entries[0].Index != 4 {
		t.Fatalf("after compact: %+v", s.entries)
	}
	if err := s.append(es(2, 2, 3)); err == nil {
		t.Fatal("appended inside the snapshot")
	}
	s.truncate(5)
	if len(s.entries) != 1 {
		t.Fatalf("after truncate: %+v", s.entries)
	}
	i, term, r, err := s.openSnapshot()
	b, _ := io.ReadAll(r)
	if err != nil || i != 3 || term != 1 || string(b) != "snap" {
		t.Fatalf("snapshot %d %d %q %v", i, term, b, err)
	}
}
