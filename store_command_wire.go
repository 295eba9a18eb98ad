// store_command_wire.go: the binary form of the commands that make most of
// the log (KV writes, and transactions made of KV operations alone), and
// of the result a leader sends back for a command a follower proposed.
//
// Every server decodes every command it applies, so the command's codec is
// on the write path three times per write in a three-server cluster; with
// JSON it was about two thirds of the apply cost (issue 15's profile:
// reflection, base64, a scan for \ufffd). These forms use wire.go's
// appenders and reader: integers as uvarints, strings and values as a
// length then their bytes, which keeps every byte of a key (no UTF-8
// question to answer, as Consul's msgpack log) and decodes without
// reflection.
//
//	command:  0x02 kind(1 kv, 2 txn) uvarint(Now) body
//	  kv:     verb key value(flag, bytes) flags lockIndex createIndex modifyIndex session
//	  txn:    uvarint(n), n × (verb key value flags index session)
//	result:   0x02 ok err uvarint(n), n × (KV entry), uvarint(m), m × (opIndex what)
//
// Any other command, or a result carrying catalog records, keeps the JSON
// form (store_codec.go); decodeCommand and decodeApplyResult tell the two
// apart by the first byte (JSON starts with '{', a respelled JSON form
// with 0x01), so a log holding both reads back. A server of an earlier
// version cannot read the binary forms: servers are upgraded, not
// downgraded, and all of a cluster's servers run one version.
//
// A value is copied out of the entry into a buffer of its own size, so the
// store never keeps a log entry (or the network frame it arrived in) alive
// for one value in it.
//
// Concurrency: pure functions.
package main

import (
	"errors"
	"fmt"
)

const (
	binaryFormMarker = 0x02
	binaryKindKV     = 1
	binaryKindTxn    = 2
)

var commandWireErrors = wireErrors{
	truncated: errors.New("truncated"),
	badVarint: errors.New("bad integer"),
	length:    func(n uint64, left, _ int) error { return fmt.Errorf("field of %d bytes with %d left", n, left) },
}

// encode is the command's log entry: the binary form for a KV write or a
// KV-only transaction, JSON keeping every string's bytes (store_codec.go)
// for the rest.
func (c *command) encode() ([]byte, error) {
	switch {
	case c.Type == cmdKV && c.KV != nil:
		e := &c.KV.Entry
		b := make([]byte, 0, 32+len(e.Key)+len(e.Value)+len(e.Session))
		b = append(b, binaryFormMarker, binaryKindKV)
		b = appendUvarints(b, uint64(c.Now))
		b = appendString(b, string(c.KV.Op))
		return appendEntry(b, e), nil
	case c.Type == cmdTxn && kvOnly(c.Txn):
		n := 16
		for _, op := range c.Txn {
			n += 32 + len(op.KV.Key) + len(op.KV.Value) + len(op.KV.Session)
		}
		b := make([]byte, 0, n)
		b = append(b, binaryFormMarker, binaryKindTxn)
		b = appendUvarints(b, uint64(c.Now), uint64(len(c.Txn)))
		for _, op := range c.Txn {
			kv := op.KV
			b = appendString(b, string(kv.Verb))
			b = appendString(b, kv.Key)
			b = appendValue(b, kv.Value)
			b = appendUvarints(b, kv.Flags, kv.Index)
			b = appendString(b, kv.Session)
		}
		return b, nil
	}
	return marshalExact(c)
}

func decodeCommand(b []byte) (*command, error) {
	var c command
	if len(b) == 0 || b[0] != binaryFormMarker {
		if err := unmarshalExact(b, &c); err != nil {
			return nil, fmt.Errorf("decoding command: %w", err)
		}
		return &c, nil
	}
	r := wireReader{b: b[1:], errs: &commandWireErrors}
	kind := r.byte()
	c.Now = int64(r.uvarint())
	switch kind {
	case binaryKindKV:
		c.Type = cmdKV
		c.KV = &kvRequest{Op: readVerb(&r)}
		readEntry(&r, &c.KV.Entry)
	case binaryKindTxn:
		c.Type = cmdTxn
		n := r.uvarint()
		if r.err == nil && (n == 0 || n > uint64(len(r.b))) { // each operation takes bytes
			return nil, fmt.Errorf("decoding command: %d operations in %d bytes", n, len(r.b))
		}
		c.Txn = make([]txnOp, n)
		kvs := make([]txnKVOp, n)
		for i := range kvs {
			kv := &kvs[i]
			kv.Verb = readVerb(&r)
			kv.Key = r.string()
			kv.Value = readValue(&r)
			kv.Flags, kv.Index = r.uvarint(), r.uvarint()
			kv.Session = r.string()
			c.Txn[i].KV = kv
		}
	default:
		if r.err == nil {
			return nil, fmt.Errorf("decoding command: unknown binary kind %d", kind)
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the command", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decoding command: %w", r.err)
	}
	return &c, nil
}

// kvOnly reports whether a transaction holds KV operations alone.
func kvOnly(ops []txnOp) bool {
	for _, op := range ops {
		if op.KV == nil || op.Node != nil || op.Service != nil || op.Check != nil {
			return false
		}
	}
	return len(ops) > 0
}

// appendValue appends a value with whether it is nil (JSON's null, which
// decodes as nil, where an empty value decodes as empty).
func appendValue(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	return appendBytes(append(b, 1), v)
}

// readValue reads what appendValue wrote, into a buffer of its own.
func readValue(r *wireReader) []byte {
	switch r.byte() {
	case 0:
		return nil
	case 1:
		v := r.bytes()
		if r.err != nil {
			return nil
		}
		return append(make([]byte, 0, len(v)), v...)
	}
	r.fail(errors.New("bad value flag"))
	return nil
}

// appendEntry appends a KV entry's fields.
func appendEntry(b []byte, e *KVEntry) []byte {
	b = appendString(b, e.Key)
	b = appendValue(b, e.Value)
	b = appendUvarints(b, e.Flags, e.LockIndex, e.CreateIndex, e.ModifyIndex)
	return appendString(b, e.Session)
}

// readEntry reads what appendEntry wrote into e.
func readEntry(r *wireReader, e *KVEntry) {
	e.Key = r.string()
	e.Value = readValue(r)
	e.Flags, e.LockIndex, e.CreateIndex, e.ModifyIndex = r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
	e.Session = r.string()
}

// readVerb reads a verb, sharing the constant's string for a known one
// (compared without a copy).
func readVerb(r *wireReader) kvOp {
	v := r.bytes()
	for _, op := range [...]kvOp{kvSet, kvCAS, kvDelete, kvDeleteCAS, kvDeleteTree, kvLock, kvUnlock} {
		if string(v) == string(op) {
			return op
		}
	}
	return kvOp(v)
}

// --- the leader's answer to a follower's Raft.Apply ---

// encodeApplyResult is r in the form a follower's apply decodes: binary
// unless a transaction's results hold catalog records.
func encodeApplyResult(r applyResult) ([]byte, error) {
	w := toWire(r)
	if !kvResultsOnly(w.TxnResults) {
		return marshalExact(w)
	}
	b := append(make([]byte, 0, 8+len(w.Err)), binaryFormMarker)
	b = appendBool(b, w.OK)
	b = appendString(b, w.Err)
	b = appendUvarints(b, uint64(len(w.TxnResults)))
	for _, res := range w.TxnResults {
		b = appendEntry(b, res.KV)
	}
	b = appendUvarints(b, uint64(len(w.TxnErrors)))
	for _, te := range w.TxnErrors {
		b = appendUvarints(b, uint64(te.OpIndex))
		b = appendString(b, te.What)
	}
	return b, nil
}

// decodeApplyResult reads what encodeApplyResult wrote.
func decodeApplyResult(b []byte) (applyResult, error) {
	var w wireApplyResult
	if len(b) == 0 || b[0] != binaryFormMarker {
		if err := unmarshalExact(b, &w); err != nil {
			return applyResult{}, fmt.Errorf("decoding the leader's answer: %w", err)
		}
		return w.result(), nil
	}
	r := wireReader{b: b[1:], errs: &commandWireErrors}
	w.OK = r.byte() == 1
	w.Err = r.string()
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		w.TxnResults = make([]txnResult, n)
		for i := range w.TxnResults {
			e := &KVEntry{}
			readEntry(&r, e)
			w.TxnResults[i].KV = e
		}
	} else if n > 0 {
		r.fail(fmt.Errorf("%d results in %d bytes", n, len(r.b)))
	}
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		w.TxnErrors = make([]txnError, n)
		for i := range w.TxnErrors {
			w.TxnErrors[i] = txnError{OpIndex: int(r.uvarint()), What: r.string()}
		}
	} else if n > 0 {
		r.fail(fmt.Errorf("%d errors in %d bytes", n, len(r.b)))
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the answer", len(r.b))
	}
	if r.err != nil {
		return applyResult{}, fmt.Errorf("decoding the leader's answer: %w", r.err)
	}
	return w.result(), nil
}
