// raft_node_test.go: the Raft driver's wire format and storage adapters.
package main

import (
	"io"
	"reflect"
	"testing"
)

func TestRaftFrameRoundTrip(t *testing.T) {
	m := raftMessage{Type: msgApp, From: "a", FromAddr: "127.0.0.1:8300", To: "b", Term: 3, LogIndex: 7,
		LogTerm: 2, Commit: 6, Seq: 9, Hint: 4, HintTerm: 1, Reject: true, Force: true,
		Entries: []raftEntry{{Index: 8, Term: 3, Type: raftEntryCommand, Data: []byte("x")}, {Index: 9, Term: 3, Type: raftEntryNoop, Data: []byte{}}}}
	got, chunk, err := decodeRaftFrame(encodeRaftMessage(nil, &m))
	if err != nil || chunk != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v %v %v, want %+v", got, chunk, err, m)
	}
	c := &snapChunk{From: "a", FromAddr: "x", Term: 3, Seq: 1, Index: 10, SnapTerm: 2, Offset: 4, Total: 9, Data: []byte("abcde")}
	_, gotc, err := decodeRaftFrame(encodeSnapChunk(c))
	if err != nil || !reflect.DeepEqual(gotc, c) {
		t.Fatalf("chunk round trip: %+v %v", gotc, err)
	}
	for _, bad := range [][]byte{nil, {'m'}, {'z', 1}, append(encodeRaftMessage(nil, &m), 0),
		{'m', byte(msgSnapStatus), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                       // local-only type
		{'m', byte(msgApp), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} { // huge entry count
		if _, _, err := decodeRaftFrame(bad); err == nil {
			t.Errorf("decoded a bad frame %q", bad)
		}
	}
}

// FuzzRaftFrame: the decoder never panics, and what it accepts re-encodes
// to a frame that decodes to the same message.
func FuzzRaftFrame(f *testing.F) {
	m := raftMessage{Type: msgApp, From: "a", To: "b", Term: 1, Entries: []raftEntry{{Index: 1, Term: 1, Type: 1, Data: []byte("d")}}}
	f.Add(encodeRaftMessage(nil, &m))
	f.Add(encodeSnapChunk(&snapChunk{From: "a", Total: 3, Data: []byte("abc")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, c, err := decodeRaftFrame(b)
		if err != nil {
			return
		}
		var again []byte
		if c != nil {
			again = encodeSnapChunk(c)
		} else {
			again = encodeRaftMessage(nil, &m)
		}
		// Varints may have longer encodings than the shortest; compare decoded values.
		m2, c2, err := decodeRaftFrame(again)
		if err != nil || !reflect.DeepEqual(m, m2) || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoding changed the frame: %v", err)
		}
	})
}

// The in-memory storage of -dev behaves like the wal for the driver:
// overwrite on conflict, compaction, truncation.
func TestMemRaftStorage(t *testing.T) {
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
