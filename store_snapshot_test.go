package main

import (
	"bytes"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	fillStore(t, l, 500)
	l.kv(kvDelete, "k/000007", "", 0)
	l.register(registerWeb("n1", "10.0.0.1", healthPassing))
	l.register(registerWeb("n2", "10.0.0.2", healthCritical))
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	restored := newStore()
	rst, err := readSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	restored.install(rst, l.index)
	// Same state: the restored store writes the identical snapshot.
	var again bytes.Buffer
	if err := writeSnapshot(restored.snapshot(), &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("restored state differs from the original")
	}
	st := restored.snapshot()
	if e, _ := st.kvGet("k/000042"); e == nil || e.Flags != 42 {
		t.Fatalf("restored entry: %+v", e)
	}
	if len(st.checkServiceNodes("web")) != 2 || st.index != l.index {
		t.Fatal("restored catalog or index wrong")
	}
}

func TestSnapshotCorruptRefused(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	fillStore(t, l, 100)
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	target := newStore()
	target.apply(1, &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "keep", Value: []byte("me")}}})
	cases := map[string][]byte{
		"flipped byte": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0x40; return b }(),
		"truncated":    good[:len(good)-10],
		"no checksum":  good[:len(good)-32],
		"empty":        nil,
		"garbage":      []byte("miniconsul-snapshot-1\n\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
	}
	for name, b := range cases {
		if _, err := readSnapshot(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: corrupt snapshot accepted", name)
		}
		if e, _ := target.snapshot().kvGet("keep"); e == nil {
			t.Fatalf("%s: a refused restore changed the store", name)
		}
	}
}
