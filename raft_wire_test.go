// raft_wire_test.go: the Raft driver's wire format (raft_wire.go).
package main

import (
	"reflect"
	"testing"
)

func TestRaftFrameRoundTrip(t *testing.T) {
	t.Parallel()
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
