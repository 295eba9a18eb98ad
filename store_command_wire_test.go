package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// wireCommands are KV writes and KV transactions in every shape the binary
// form must keep: nil, empty and binary values, keys that are not UTF-8,
// every verb, large integers.
var wireCommands = []*command{
	{Type: cmdKV, Now: 1, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "a", Value: []byte("v"), Flags: 42}}},
	{Type: cmdKV, Now: 2, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "empty", Value: []byte{}}}},
	{Type: cmdKV, Now: 3, KV: &kvRequest{Op: kvDelete, Entry: KVEntry{Key: "nil"}}},
	{Type: cmdKV, Now: 1 << 62, KV: &kvRequest{Op: kvCAS, Entry: KVEntry{Key: "x\xff", Value: []byte{0, 0xff}, ModifyIndex: 1<<64 - 1, Flags: 1<<64 - 1}}},
	{Type: cmdKV, KV: &kvRequest{Op: kvLock, Entry: KVEntry{Key: "l", Session: "5e55\xfe", LockIndex: 7, CreateIndex: 3}}},
	{Type: cmdKV, KV: &kvRequest{Op: kvUnlock, Entry: KVEntry{Key: "l", Session: "s"}}},
	{Type: cmdKV, KV: &kvRequest{Op: kvDeleteTree, Entry: KVEntry{Key: "p/"}}},
	{Type: cmdKV, KV: &kvRequest{Op: kvDeleteCAS, Entry: KVEntry{Key: "k", ModifyIndex: 9}}},
	{Type: cmdKV, KV: &kvRequest{Op: "some-future-verb", Entry: KVEntry{Key: "k"}}},
	{Type: cmdTxn, Now: 5, Txn: []txnOp{
		{KV: &txnKVOp{Verb: kvSet, Key: "t\xff", Value: []byte{0xff}, Flags: 3}},
		{KV: &txnKVOp{Verb: kvCAS, Key: "t", Value: []byte{}, Index: 12}},
		{KV: &txnKVOp{Verb: kvGet, Key: "t"}},
		{KV: &txnKVOp{Verb: kvCheckSession, Key: "t", Session: "s"}},
		{KV: &txnKVOp{Verb: kvDeleteTree, Key: ""}},
	}},
}

// TestCommandWireForm: KV writes and KV-only transactions take the binary
// form, which decodes to exactly what the JSON form of the same command
// decodes to (the form older logs hold, which still decodes), so servers
// replaying either agree; other commands keep JSON.
func TestCommandWireForm(t *testing.T) {
	t.Parallel()
	for _, c := range wireCommands {
		b, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != binaryFormMarker {
			t.Errorf("%+v: not in binary form", c)
		}
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		j, err := marshalExact(c)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := decodeCommand(j)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, fromJSON) {
			t.Errorf("binary and JSON forms decode differently:\n%#v\n%#v", got, fromJSON)
		}
		// Exact-size values of their own, not views into the entry.
		if got.KV != nil && got.KV.Entry.Value != nil && cap(got.KV.Entry.Value) != len(got.KV.Entry.Value) {
			t.Errorf("value of capacity %d for %d bytes", cap(got.KV.Entry.Value), len(got.KV.Entry.Value))
		}
		if got.KV != nil && len(got.KV.Entry.Value) > 0 && bytes.Contains(b, got.KV.Entry.Value) {
			got.KV.Entry.Value[0] ^= 0xff
			if again, _ := decodeCommand(b); reflect.DeepEqual(again, got) {
				t.Error("the decoded value aliases the log entry")
			}
		}
	}
	mixed := &command{Type: cmdTxn, Txn: []txnOp{{KV: &txnKVOp{Verb: kvSet, Key: "k"}}, {Node: &txnNodeOp{Verb: kvSet, Node: Node{Node: "n"}}}}}
	for _, c := range []*command{mixed, {Type: cmdTxn}, {Type: cmdSession, Session: &sessionRequest{DestroyID: "x"}}} {
		if b, _ := c.encode(); b[0] == binaryFormMarker {
			t.Errorf("%+v: in binary form", c)
		}
	}
}

// TestCommandWireRefusesCorruption: every truncation of a binary command,
// trailing bytes and impossible counts are refused with an error.
func TestCommandWireRefusesCorruption(t *testing.T) {
	t.Parallel()
	for _, c := range wireCommands {
		b, _ := c.encode()
		for n := 1; n < len(b); n++ {
			if got, err := decodeCommand(b[:n]); err == nil {
				t.Errorf("%q: truncated to %d bytes decoded as %+v", b, n, got)
			}
		}
		if _, err := decodeCommand(append(b, 0)); err == nil || !strings.Contains(err.Error(), "after the command") {
			t.Errorf("trailing byte: %v", err)
		}
	}
	for _, b := range [][]byte{{binaryFormMarker, 9, 0}, {binaryFormMarker, binaryKindTxn, 0, 0xff, 0xff, 0xff, 0x0f}, {binaryFormMarker, binaryKindKV, 0, 1, 's', 0, 7}} {
		if _, err := decodeCommand(b); err == nil {
			t.Errorf("%q decoded", b)
		}
	}
}

// TestApplyResultWireForm: the leader's answer round-trips in both forms.
func TestApplyResultWireForm(t *testing.T) {
	t.Parallel()
	results := []applyResult{
		{ok: true},
		{ok: false},
		{err: errNotLeader},
		{ok: true, txnResults: []txnResult{{KV: &KVEntry{Key: "x\xff", Value: []byte{}, Flags: 1, CreateIndex: 2, ModifyIndex: 3, LockIndex: 4, Session: "s"}}, {KV: &KVEntry{Key: "y"}}}},
		{txnErrors: []txnError{{OpIndex: 3, What: "key \"x\" doesn't exist"}, {OpIndex: 0, What: "w\xff"}}},
		{ok: true, txnResults: []txnResult{{Node: &Node{Node: "n\xff"}}}}, // catalog records: JSON
	}
	for _, r := range results {
		b, err := encodeApplyResult(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeApplyResult(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := toWire(r).result(); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n%#v\nwant\n%#v", b, got, want)
		}
		for n := 1; n < len(b) && b[0] == binaryFormMarker; n++ {
			if _, err := decodeApplyResult(b[:n]); err == nil {
				t.Errorf("%q truncated to %d bytes decoded", b, n)
			}
		}
	}
}

// FuzzDecodeCommand: no input makes decodeCommand panic, and a binary
// command it accepts encodes back to bytes that decode to the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range wireCommands {
		b, _ := c.encode()
		f.Add(b)
	}
	f.Add([]byte(`{"Type":"kv","KV":{"Op":"set","Entry":{"Key":"k"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil || b[0] != binaryFormMarker {
			return
		}
		again, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		if c2, err := decodeCommand(again); err != nil || !reflect.DeepEqual(c2, c) || again[0] != binaryFormMarker {
			t.Errorf("%q decoded as %+v, encoded again as %q, decoded as %+v (%v)", b, c, again, c2, err)
		}
		decodeApplyResult(b)
	})
}
