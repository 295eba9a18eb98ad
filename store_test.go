package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
)

// testLog feeds commands to a store with consecutive indexes, the way the
// log will.
type testLog struct {
	t     *testing.T
	s     *Store
	index uint64
}

func newTestLog(t *testing.T) *testLog { return &testLog{t: t, s: newStore()} }

func (l *testLog) apply(cmd *command) applyResult {
	l.t.Helper()
	// Every command goes through its serialised form, as it will over Raft.
	b, err := cmd.encode()
	if err != nil {
		l.t.Fatal(err)
	}
	dec, err := decodeCommand(b)
	if err != nil {
		l.t.Fatal(err)
	}
	l.index++
	return l.s.apply(l.index, dec)
}

func (l *testLog) kv(op kvOp, key, value string, index uint64) applyResult {
	l.t.Helper()
	return l.apply(&command{Type: cmdKV, KV: &kvRequest{Op: op, Entry: KVEntry{Key: key, Value: []byte(value), ModifyIndex: index}}})
}

func (l *testLog) register(req *RegisterRequest) {
	l.t.Helper()
	if res := l.apply(&command{Type: cmdRegister, Register: req}); res.err != nil {
		l.t.Fatalf("register: %v", res.err)
	}
}

// fired reports whether the watch has been woken.
func fired(w *watch) bool {
	select {
	case <-w.fired:
		return true
	default:
		return false
	}
}

func TestSnapshotIsolation(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	l.kv(kvSet, "a", "1", 0)
	before := l.s.snapshot()
	l.kv(kvSet, "a", "2", 0)
	l.kv(kvSet, "b", "2", 0)
	l.kv(kvDeleteTree, "", "", 0)
	if e, _ := before.kvGet("a"); e == nil || string(e.Value) != "1" {
		t.Fatalf("old snapshot sees a later write: %+v", e)
	}
	if list, _ := before.kvList(""); len(list) != 1 {
		t.Fatalf("old snapshot lists %d keys", len(list))
	}
	if list, _ := l.s.snapshot().kvList(""); len(list) != 0 {
		t.Fatalf("delete-tree left %d keys", len(list))
	}
}

func TestKVIndexRules(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	if _, idx := l.s.snapshot().kvGet("x"); idx != 1 {
		t.Fatalf("empty store reports index %d, want 1 (never 0)", idx)
	}
	l.kv(kvSet, "app/a", "1", 0) // 1
	l.kv(kvSet, "app/b", "1", 0) // 2
	l.kv(kvSet, "other", "1", 0) // 3
	st := l.s.snapshot()
	if e, idx := st.kvGet("app/a"); idx != 1 || e.CreateIndex != 1 || e.ModifyIndex != 1 {
		t.Fatalf("get app/a: index %d, %+v", idx, e)
	}
	if _, idx := st.kvList("app/"); idx != 2 {
		t.Fatalf("list app/: index %d, want 2", idx)
	}
	if _, idx := st.kvGet("missing"); idx != 3 {
		t.Fatalf("missing key: index %d, want the table's 3", idx)
	}
	l.kv(kvSet, "app/a", "2", 0) // 4
	if e, _ := l.s.snapshot().kvGet("app/a"); e.CreateIndex != 1 || e.ModifyIndex != 4 {
		t.Fatalf("update: %+v", e)
	}
	// Deleting app/b must advance the prefix index although app/a (4) is
	// the newest entry left: the tombstone carries the delete's index.
	l.kv(kvDelete, "app/b", "", 0) // 5
	l.kv(kvSet, "other", "2", 0)   // 6
	if _, idx := l.s.snapshot().kvList("app/"); idx != 5 {
		t.Fatalf("list after delete: index %d, want 5", idx)
	}
	if _, idx := l.s.snapshot().kvGet("app/b"); idx != 6 {
		t.Fatalf("deleted key: index %d, want the table's 6", idx)
	}
	// Delete-tree leaves one tombstone at the prefix.
	l.kv(kvSet, "app/dir/x", "1", 0) // 7
	l.kv(kvDeleteTree, "app/dir/", "", 0)
	if _, idx := l.s.snapshot().kvList("app/"); idx != 8 {
		t.Fatalf("list after delete-tree: index %d, want 8", idx)
	}
	// Reaping tombstones never makes an index go backwards.
	l.apply(&command{Type: cmdReapTombstones, ReapIndex: 8}) // 9
	st = l.s.snapshot()
	if !st.tombstones.empty() {
		t.Fatal("tombstones not reaped")
	}
	if _, idx := st.kvList("app/"); idx != 8 {
		t.Fatalf("list after reap: index %d, want 8", idx)
	}
}

func TestKVCheckAndSet(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	if res := l.kv(kvCAS, "k", "v1", 0); !res.ok {
		t.Fatal("cas 0 on a missing key must create it")
	}
	if res := l.kv(kvCAS, "k", "v2", 0); res.ok {
		t.Fatal("cas 0 on an existing key must fail")
	}
	if res := l.kv(kvCAS, "k", "v2", 7); res.ok {
		t.Fatal("cas with a stale index must fail")
	}
	if res := l.kv(kvCAS, "k", "v2", 1); !res.ok {
		t.Fatal("cas with the current index must succeed")
	}
	if res := l.kv(kvDeleteCAS, "k", "", 1); res.ok {
		t.Fatal("delete-cas with a stale index must fail")
	}
	e, _ := l.s.snapshot().kvGet("k")
	if string(e.Value) != "v2" || e.ModifyIndex != 4 {
		t.Fatalf("after cas: %+v", e)
	}
	if res := l.kv(kvDeleteCAS, "k", "", 4); !res.ok {
		t.Fatal("delete-cas with the current index must succeed")
	}
	if res := l.kv(kvDeleteCAS, "k", "", 9); !res.ok || res.err != nil {
		t.Fatalf("delete-cas of a key that is gone: %+v, want true as Consul", res) // TestBug: it answered false
	}
	if res := l.kv(kvSet, "", "x", 0); res.err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestKVKeysWithSeparator(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	for _, k := range []string{"a/1", "a/b/2", "a/b/3", "a/c/4", "a/d", "b"} {
		l.kv(kvSet, k, "", 0)
	}
	got, _ := l.s.snapshot().kvKeys("a/", "/")
	if want := []string{"a/1", "a/b/", "a/c/", "a/d"}; !slices.Equal(got, want) {
		t.Fatalf("keys: %v, want %v", got, want)
	}
	got, _ = l.s.snapshot().kvKeys("", "")
	if len(got) != 6 {
		t.Fatalf("all keys: %v", got)
	}
}

func TestWatchesWakeOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	key, prefix, other := l.s.newWatch(), l.s.newWatch(), l.s.newWatch()
	key.watchKVKey("app/a")
	prefix.watchKVPrefix("app/")
	other.watchKVPrefix("zzz/")
	defer key.stop()
	defer prefix.stop()
	defer other.stop()
	l.kv(kvSet, "unrelated", "1", 0)
	if fired(key) || fired(prefix) || fired(other) {
		t.Fatal("a write to an unrelated key woke a watcher")
	}
	l.kv(kvSet, "app/b", "1", 0)
	if fired(key) || !fired(prefix) || fired(other) {
		t.Fatalf("write app/b: key=%v prefix=%v other=%v", fired(key), fired(prefix), fired(other))
	}
}

func TestWatchDeleteTreeWakesKeysUnderIt(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	l.kv(kvSet, "app/a", "1", 0)
	key, outside := l.s.newWatch(), l.s.newWatch()
	key.watchKVKey("app/a")
	outside.watchKVKey("apple")
	l.kv(kvDeleteTree, "app/", "", 0)
	if !fired(key) || fired(outside) {
		t.Fatalf("delete-tree: key=%v outside=%v", fired(key), fired(outside))
	}
	key.stop()
	outside.stop()
	if len(l.s.hub.kvKeys) != 0 {
		t.Fatal("stopped watches still registered")
	}
}

func registerWeb(node, addr, status string) *RegisterRequest {
	return &RegisterRequest{
		Node: node, Address: addr,
		Service: &Service{ID: "web1", Service: "web", Port: 80, Tags: []string{"v1"}},
		Checks: []*HealthCheck{
			{CheckID: "serfHealth", Name: "Serf Health Status", Status: healthPassing},
			{CheckID: "web-alive", ServiceID: "web1", Status: status},
		},
	}
}

func fillStore(t testing.TB, l *testLog, keys int) {
	for i := 0; i < keys; i++ {
		l.index++
		l.s.apply(l.index, &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: fmt.Sprintf("k/%06d", i), Value: []byte("value"), Flags: uint64(i)}}})
	}
}

func BenchmarkStorePut(b *testing.B) {
	s := newStore()
	val := bytes.Repeat([]byte("x"), 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.apply(uint64(i+1), &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: fmt.Sprintf("bench/key-%09d", i), Value: val}}})
	}
}

func BenchmarkStoreGet(b *testing.B) {
	l := &testLog{s: newStore()}
	fillStore(b, l, 100000)
	st := l.s.snapshot()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if e, _ := st.kvGet(fmt.Sprintf("k/%06d", i%100000)); e == nil {
			b.Fatal("missing")
		}
	}
}

func BenchmarkStoreList100(b *testing.B) {
	l := &testLog{s: newStore()}
	fillStore(b, l, 100000)
	st := l.s.snapshot()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if list, _ := st.kvList(fmt.Sprintf("k/%04d", i%1000)); len(list) != 100 {
			b.Fatal(len(list))
		}
	}
}

func BenchmarkStoreDeleteTree100k(b *testing.B) {
	l := &testLog{s: newStore()}
	fillStore(b, l, 100000)
	full := l.s.snapshot()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := newStore()
		s.current.Store(full) // states are immutable: every run starts from the same one
		s.apply(full.index+1, &command{Type: cmdKV, KV: &kvRequest{Op: kvDeleteTree, Entry: KVEntry{Key: "k/"}}})
		if !s.snapshot().kvs.empty() {
			b.Fatal("keys left")
		}
	}
}

// TestStoreMemoryPerKey reports the live heap of a store of 1M 100-byte
// values (run with MINICONSUL_MEM=1; it takes a few seconds).
func TestStoreMemoryPerKey(t *testing.T) {
	if os.Getenv("MINICONSUL_MEM") == "" {
		t.Skip("set MINICONSUL_MEM=1 to measure")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newStore()
	val := bytes.Repeat([]byte("v"), 100)
	for i := 0; i < 1_000_000; i++ {
		s.apply(uint64(i+1), &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: fmt.Sprintf("bench/%08d", i), Value: bytes.Clone(val)}}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("1M keys: live heap %d MiB (%d bytes per key)", (after.HeapAlloc-before.HeapAlloc)>>20, (after.HeapAlloc-before.HeapAlloc)/1_000_000)
	runtime.KeepAlive(s)
}

// BenchmarkStoreTxn64: a transaction of 64 sets of new keys, applied to a
// store of 200,000 keys (the 1M-key txn load of issue 15, in the small).
func BenchmarkStoreTxn64(b *testing.B) {
	l := &testLog{s: newStore()}
	fillStore(b, l, 200000)
	val := bytes.Repeat([]byte("x"), 100)
	b.ReportAllocs()
	next := 0
	for b.Loop() {
		ops := make([]txnOp, 64)
		for i := range ops {
			ops[i].KV = &txnKVOp{Verb: kvSet, Key: fmt.Sprintf("load/%09d", next), Value: val}
			next++
		}
		l.index++
		if res := l.s.apply(l.index, &command{Type: cmdTxn, Txn: ops}); !res.ok {
			b.Fatal(res.txnErrors)
		}
	}
}
