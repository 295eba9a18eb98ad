package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testSegmentSize makes segments of about ten test entries.
const testSegmentSize = 400

func openTestWAL(t *testing.T, dir string) (*wal, walState) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, st, err := openWAL(dir, walOptions{SegmentSize: testSegmentSize, Logger: logger})
	if err != nil {
		t.Fatalf("openWAL: %v", err)
	}
	t.Cleanup(func() { w.close() })
	return w, st
}

// reopen closes w, as a crash after its last fsync would, and opens the
// directory again.
func reopen(t *testing.T, w *wal, dir string) (*wal, walState) {
	t.Helper()
	if err := w.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openTestWAL(t, dir)
}

func makeEntries(first, last, term uint64) []raftEntry {
	var es []raftEntry
	for i := first; i <= last; i++ {
		es = append(es, raftEntry{Index: i, Term: term, Type: raftEntryType(i % 3),
			Data: fmt.Appendf(nil, "command %d of term %d", i, term)})
	}
	return es
}

func mustAppend(t *testing.T, w *wal, es []raftEntry) {
	t.Helper()
	if err := w.append(es); err != nil {
		t.Fatalf("append %d..%d: %v", es[0].Index, es[len(es)-1].Index, err)
	}
}

func checkEntries(t *testing.T, got, want []raftEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("entry %d: got %d/%d/%d %q, want %d/%d/%d %q",
				i, g.Index, g.Term, g.Type, g.Data, w.Index, w.Term, w.Type, w.Data)
		}
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "raft", "log-*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestWALRoundTripAcrossSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, st := openTestWAL(t, dir)
	if len(st.Entries) != 0 || st.SnapshotIndex != 0 || st.HardState != (raftHardState{}) {
		t.Fatalf("fresh wal: %+v", st)
	}
	want := makeEntries(1, 100, 1)
	for i := 0; i < len(want); i += 7 {
		mustAppend(t, w, want[i:min(i+7, len(want))])
	}
	if n := len(segmentFiles(t, dir)); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	w, st = reopen(t, w, dir)
	checkEntries(t, st.Entries, want)

	more := makeEntries(101, 130, 2)
	mustAppend(t, w, more)
	_, st = reopen(t, w, dir)
	checkEntries(t, st.Entries, append(want, more...))
}

// Raft §5.3: a follower deletes a conflicting entry and all that follow it.
func TestWALTruncateConflictingSuffix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		at   uint64
	}{
		{"middle of the last segment", 57},
		{"across segments", 12},
		{"at a segment's first entry", 0}, // filled in below
		{"whole log", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openTestWAL(t, dir)
			old := makeEntries(1, 60, 1)
			mustAppend(t, w, old)
			if tc.at == 0 {
				tc.at = w.segments[2].first
			}
			repl := makeEntries(tc.at, tc.at+4, 2)
			mustAppend(t, w, repl)
			want := append(old[:tc.at-1:tc.at-1], repl...)
			w, st := reopen(t, w, dir)
			checkEntries(t, st.Entries, want)

			// The new log continues, and no stale entries resurface.
			next := makeEntries(tc.at+5, tc.at+30, 2)
			mustAppend(t, w, next)
			_, st = reopen(t, w, dir)
			checkEntries(t, st.Entries, append(want, next...))
		})
	}
}

func TestWALAppendRefusesGap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	if err := w.append(makeEntries(2, 3, 1)); err == nil {
		t.Fatal("a fresh log accepted index 2 first")
	}
	mustAppend(t, w, makeEntries(1, 5, 1))
	if err := w.append(makeEntries(7, 8, 1)); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("append at 7 after 5: %v", err)
	}
	holey := append(makeEntries(6, 6, 1), makeEntries(8, 8, 1)...)
	if err := w.append(holey); err == nil || !strings.Contains(err.Error(), "contiguous") {
		t.Fatalf("append 6, 8: %v", err)
	}
	huge := []raftEntry{{Index: 6, Term: 1, Data: make([]byte, maxWALRecord)}}
	if err := w.append(huge); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("append of a record open would refuse: %v", err)
	}
	// A refused append changes nothing, and the wal goes on.
	mustAppend(t, w, makeEntries(6, 6, 1))
	_, st := reopen(t, w, dir)
	checkEntries(t, st.Entries, makeEntries(1, 6, 1))
}

// After a failed write the disk holds an unknown part of it: the wal stops
// until it is reopened, and the reopen sees every acknowledged entry.
func TestWALFailedWriteIsSticky(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	mustAppend(t, w, makeEntries(1, 5, 1))
	w.tail.Close() // the next write fails
	if err := w.append(makeEntries(6, 6, 1)); err == nil {
		t.Fatal("append to a closed segment succeeded")
	}
	if err := w.setHardState(raftHardState{Term: 2}); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("setHardState after a failed append: %v", err)
	}
	_, st := openTestWAL(t, dir)
	checkEntries(t, st.Entries, makeEntries(1, 5, 1))
}

func TestWALTornTailIsCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tear func(b []byte, lastRecord int) []byte
	}{
		{"partial record", func(b []byte, last int) []byte { return b[:last+(len(b)-last)/2] }},
		{"partial header", func(b []byte, last int) []byte { return b[:last+5] }},
		{"garbage", func(b []byte, _ int) []byte { return append(b, "\x17\x00\x00\x00garbage after a crash"...) }},
		{"zeros", func(b []byte, _ int) []byte { return append(b, make([]byte, 4096)...) }}, // a preallocated end
		{"partial record, then zeros", func(b []byte, last int) []byte {
			return append(b[:last+(len(b)-last)/2], make([]byte, 4096)...) // a crash writing over preallocated zeros
		}},
		{"huge length", func(b []byte, _ int) []byte { return append(b, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5) }},
		{"bad checksum", func(b []byte, last int) []byte { b[len(b)-1] ^= 1; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openTestWAL(t, dir)
			want := makeEntries(1, 25, 1)
			mustAppend(t, w, want)
			mustAppend(t, w, makeEntries(26, 26, 1))
			seg := w.segments[len(w.segments)-1]
			lastRecord := int(seg.size) - len(appendRecord(nil, makeEntries(26, 26, 1)[0]))
			w.close()
			b, err := os.ReadFile(seg.path)
			if err != nil {
				t.Fatal(err)
			}
			b = b[:seg.size] // the records, without the preallocated zeros
			torn := tc.tear(b, lastRecord)
			if err := os.WriteFile(seg.path, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			if len(torn) > len(b) && bytes.Equal(torn[:len(b)], b) {
				want = append(want, makeEntries(26, 26, 1)...) // the last record is whole
			}

			w, st := openTestWAL(t, dir)
			checkEntries(t, st.Entries, want)
			if fi, _ := os.Stat(seg.path); fi.Size() > int64(len(b)) && tc.name != "zeros" {
				t.Fatalf("torn tail not cut: %d bytes, had %d", fi.Size(), len(b))
			}
			next := makeEntries(uint64(len(want))+1, 40, 2)
			mustAppend(t, w, next)
			_, st = reopen(t, w, dir)
			checkEntries(t, st.Entries, append(want, next...))
		})
	}
}

func TestWALMidLogCorruptionRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, segs []string) string // returns the file to blame
	}{
		{"bad checksum before valid records", func(t *testing.T, segs []string) string {
			return flipByte(t, segs[len(segs)-1], 20)
		}},
		{"bad checksum in an earlier segment", func(t *testing.T, segs []string) string {
			return flipByte(t, segs[1], -1)
		}},
		{"torn record in an earlier segment", func(t *testing.T, segs []string) string {
			b, _ := os.ReadFile(segs[1])
			os.WriteFile(segs[1], b[:len(b)-3], 0o600)
			return segs[1]
		}},
		{"index going backwards", func(t *testing.T, segs []string) string {
			last := segs[len(segs)-1]
			f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(appendRecord(nil, raftEntry{Index: 3, Term: 1}))
			f.Close()
			return last
		}},
		{"missing segment", func(t *testing.T, segs []string) string {
			os.Remove(segs[1])
			return segs[2]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openTestWAL(t, dir)
			mustAppend(t, w, makeEntries(1, 40, 1))
			w.close()
			blame := tc.corrupt(t, segmentFiles(t, dir))
			_, _, err := openWAL(dir, walOptions{SegmentSize: testSegmentSize})
			if !errors.Is(err, errWALCorrupt) || !strings.Contains(err.Error(), filepath.Base(blame)) {
				t.Fatalf("open: %v; want corruption naming %s", err, filepath.Base(blame))
			}
			t.Logf("refused: %v", err)
		})
	}
}

// flipByte flips one bit of the byte at off in path (from the end when
// negative) and returns path.
func flipByte(t *testing.T, path string, off int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Figure 2: currentTerm and votedFor are persistent state.
func TestWALHardState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	hs := raftHardState{Term: 3, Vote: "s2", Commit: 17}
	if err := w.setHardState(hs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "raft", "state")
	before, _ := os.Stat(path)
	if err := w.setHardState(hs); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("an unchanged hard state was written again")
	}
	w, st := reopen(t, w, dir)
	if st.HardState != hs {
		t.Fatalf("hard state %+v, want %+v", st.HardState, hs)
	}

	// A crash before the rename leaves a temp file: the old state stands.
	if err := os.WriteFile(path+".tmp", []byte("half a new state"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, st = reopen(t, w, dir)
	if st.HardState != hs {
		t.Fatalf("hard state %+v after a leftover temp file, want %+v", st.HardState, hs)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still there: %v", err)
	}

	// A damaged state file is refused, not read as term 0.
	flipByte(t, path, -1)
	if _, _, err := openWAL(dir, walOptions{}); !errors.Is(err, errWALCorrupt) {
		t.Fatalf("open with a damaged state file: %v", err)
	}
}

// Raft §7: the log before a snapshot is discarded.
func TestWALCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	all := makeEntries(1, 60, 1)
	mustAppend(t, w, all)
	segs := append([]walSegment(nil), w.segments...)
	snap := (segs[2].first + segs[2].last) / 2 // inside the third segment
	if err := w.compact(snap, 1); err != nil {
		t.Fatal(err)
	}
	got := segmentFiles(t, dir)
	if len(got) != len(segs)-2 || got[0] != segs[2].path {
		t.Fatalf("segments after compact(%d): %v; want all from %s", snap, got, segs[2].path)
	}
	w, st := reopen(t, w, dir)
	if st.SnapshotIndex != snap || st.SnapshotTerm != 1 {
		t.Fatalf("snapshot %d/%d, want %d/1", st.SnapshotIndex, st.SnapshotTerm, snap)
	}
	checkEntries(t, st.Entries, all[snap:])
	if err := w.append(makeEntries(snap, snap, 2)); err == nil {
		t.Fatal("append inside the snapshot accepted")
	}

	// A snapshot past the end of the log (InstallSnapshot) empties it.
	if err := w.compact(80, 3); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir); len(got) != 0 {
		t.Fatalf("segments left: %v", got)
	}
	mustAppend(t, w, makeEntries(81, 90, 3))
	_, st = reopen(t, w, dir)
	if st.SnapshotIndex != 80 || st.SnapshotTerm != 3 {
		t.Fatalf("snapshot %d/%d, want 80/3", st.SnapshotIndex, st.SnapshotTerm)
	}
	checkEntries(t, st.Entries, makeEntries(81, 90, 3))
}

// A crash inside compact, after the state file and before the segments go,
// leaves covered segments: open skips and removes them.
func TestWALCompactionCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	all := makeEntries(1, 60, 1)
	mustAppend(t, w, all)
	if err := w.writeState(w.hs, 45, 1); err != nil {
		t.Fatal(err)
	}
	_, st := reopen(t, w, dir)
	checkEntries(t, st.Entries, all[45:])
	if got := segmentFiles(t, dir); len(got) > 2 {
		t.Fatalf("covered segments left: %v", got)
	}
}

func TestWALSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	if _, _, _, err := w.openSnapshot(); !errors.Is(err, errNoSnapshot) {
		t.Fatalf("openSnapshot on an empty wal: %v", err)
	}
	for _, idx := range []uint64{10, 20, 30} {
		err := w.saveSnapshot(idx, 2, func(wr io.Writer) error {
			_, err := fmt.Fprintf(wr, "state at %d", idx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A failed write leaves nothing behind.
	boom := errors.New("store failed")
	if err := w.saveSnapshot(40, 2, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("saveSnapshot: %v", err)
	}
	// A crash mid-write leaves a temp file, ignored at open.
	snapDir := filepath.Join(dir, "raft", "snapshots")
	os.WriteFile(filepath.Join(snapDir, "snap-00000000000000000050-00000000000000000002.tmp"), []byte("partial"), 0o600)
	w, _ = reopen(t, w, dir)

	names, _ := filepath.Glob(filepath.Join(snapDir, "*"))
	if len(names) != 2 || !strings.Contains(names[0], "00020-") || !strings.Contains(names[1], "00030-") {
		t.Fatalf("snapshot files %v, want those at 20 and 30", names)
	}
	index, term, r, err := w.openSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	if index != 30 || term != 2 || string(b) != "state at 30" {
		t.Fatalf("newest snapshot %d/%d %q", index, term, b)
	}
}

// BenchmarkWALAppend shows group commit: one fsync per append, so entries
// per second grow with the batch.
func BenchmarkWALAppend(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			w, _, err := openWAL(b.TempDir(), walOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.close()
			es := make([]raftEntry, batch)
			for i := range es {
				es[i] = raftEntry{Term: 1, Data: bytes.Repeat([]byte{'x'}, 100)}
			}
			next := uint64(1)
			b.SetBytes(int64(batch * 100))
			for b.Loop() {
				for i := range es {
					es[i].Index = next
					next++
				}
				if err := w.append(es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// FuzzWALRecord: the segment decoder never panics on any bytes (a torn or
// corrupt segment), stops at the first bad frame, and every record it
// accepts re-encodes to exactly the bytes it came from.
func FuzzWALRecord(f *testing.F) {
	var seg []byte
	for i := uint64(1); i <= 3; i++ {
		seg = appendRecord(seg, raftEntry{Index: i, Term: 1, Type: raftEntryCommand, Data: []byte("data")})
	}
	f.Add(seg, uint64(1))
	f.Add(seg[:len(seg)-3], uint64(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}, uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, first uint64) {
		var again []byte
		end, err := scanRecords(b, first, func(off int, e raftEntry) {
			again = appendRecord(again, e)
		})
		if end > len(b) || (err == nil) != (end == len(b)) {
			t.Fatalf("scan stopped at %d of %d with %v", end, len(b), err)
		}
		if !bytes.Equal(again, b[:end]) {
			t.Fatalf("records re-encode differently")
		}
	})
}

// TestWALPreallocatedSegments: the last segment holds zeros past its
// records (preallocated), which reopening reads as its end; records go on
// over them after a reopen; a segment left behind is cut to its records.
func TestWALPreallocatedSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	first := makeEntries(1, 3, 1)
	mustAppend(t, w, first)
	seg := w.segments[len(w.segments)-1]
	if fi, err := os.Stat(seg.path); err != nil || fi.Size() <= seg.size || fi.Size() != seg.alloc {
		t.Fatalf("segment of %v bytes (%v) for %d bytes of records: not preallocated", fi.Size(), err, seg.size)
	}
	w, st := reopen(t, w, dir)
	checkEntries(t, st.Entries, first)
	more := makeEntries(4, 60, 1) // past testSegmentSize: new segments
	for _, e := range more {
		mustAppend(t, w, []raftEntry{e})
	}
	w, st = reopen(t, w, dir)
	checkEntries(t, st.Entries, append(first, more...))
	segs := segmentFiles(t, dir)
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	for i, p := range segs[:len(segs)-1] {
		b, _ := os.ReadFile(p)
		if end, err := scanRecords(b, w.segments[i].first, func(int, raftEntry) {}); err != nil || end != len(b) {
			t.Errorf("%s: %d bytes, records end at %d (%v): not cut to its records", p, len(b), end, err)
		}
	}
}
