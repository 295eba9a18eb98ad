// store_txn.go: transactions (/v1/txn), many KV operations applied as one.
//
// A transaction is one command, so it is one log entry: every operation is
// applied to the same private copy of the state, and the copy is published
// only if none failed (all-or-nothing, as Consul). A transaction that only
// reads is answered from a snapshot without a write (readTxn).
//
// Same concurrency rules as store.go.
package main

import "fmt"

// Read and check verbs, besides the write verbs of kvOp.
const (
	kvGet            kvOp = "get"
	kvGetTree        kvOp = "get-tree"
	kvCheckIndex     kvOp = "check-index"
	kvCheckSession   kvOp = "check-session"
	kvCheckNotExists kvOp = "check-not-exists"
)

// txnOp is one operation of a transaction (Consul's TxnOp; only KV for now).
type txnOp struct {
	KV *txnKVOp `json:",omitempty"`
}

// txnKVOp is a KV operation in Consul's shape.
type txnKVOp struct {
	Verb    kvOp
	Key     string
	Value   []byte
	Flags   uint64
	Index   uint64
	Session string
}

// txnError says which operation failed and why.
type txnError struct {
	OpIndex int
	What    string
}

// readOnly reports whether a transaction only reads.
func readOnly(ops []txnOp) bool {
	for _, op := range ops {
		if op.KV == nil {
			return false
		}
		switch op.KV.Verb {
		case kvGet, kvGetTree, kvCheckIndex, kvCheckSession, kvCheckNotExists:
		default:
			return false
		}
	}
	return true
}

// applyTxn runs every operation; any failure rolls the whole back (apply
// publishes nothing unless ok).
func (t *txn) applyTxn(ops []txnOp) applyResult {
	var results []*KVEntry
	var errs []txnError
	for i, op := range ops {
		if op.KV == nil {
			errs = append(errs, txnError{i, "only KV operations are supported in transactions"})
			continue
		}
		entries, what, err := t.txnKV(op.KV)
		if err != nil {
			what = err.Error()
		}
		if what != "" {
			errs = append(errs, txnError{i, what})
			continue
		}
		results = append(results, entries...)
	}
	if len(errs) > 0 {
		return applyResult{txnErrors: errs}
	}
	return applyResult{ok: true, txnResults: results}
}

// txnKV runs one KV operation and returns the entries to report: with their
// values for get and get-tree, without for the others (as Consul).
func (t *txn) txnKV(op *txnKVOp) (results []*KVEntry, failure string, err error) {
	existing, exists := t.st.kvs.get(op.Key)
	blank := func(e *KVEntry) []*KVEntry {
		if e == nil {
			return nil
		}
		c := *e
		c.Value = nil
		return []*KVEntry{&c}
	}
	switch op.Verb {
	case kvGet:
		if !exists {
			return nil, fmt.Sprintf("key %q doesn't exist", op.Key), nil
		}
		return []*KVEntry{existing}, "", nil
	case kvGetTree:
		t.st.kvs.ascendPrefix(op.Key, "", func(_ string, e *KVEntry) bool {
			results = append(results, e)
			return true
		})
		return results, "", nil
	case kvCheckIndex:
		switch {
		case !exists:
			return nil, fmt.Sprintf("key %q doesn't exist", op.Key), nil
		case existing.ModifyIndex != op.Index:
			return nil, fmt.Sprintf("current modify index %d != %d", existing.ModifyIndex, op.Index), nil
		}
		return blank(existing), "", nil
	case kvCheckSession:
		switch {
		case !exists:
			return nil, fmt.Sprintf("key %q doesn't exist", op.Key), nil
		case existing.Session != op.Session:
			return nil, fmt.Sprintf("failed session check for key %q, current session %q != %q", op.Key, existing.Session, op.Session), nil
		}
		return blank(existing), "", nil
	case kvCheckNotExists:
		if exists {
			return nil, fmt.Sprintf("key %q exists", op.Key), nil
		}
		return nil, "", nil
	}
	value := op.Value
	if len(value) == 0 {
		value = nil // as a PUT of an empty body: Consul shows null
	}
	req := &kvRequest{Op: op.Verb, Entry: KVEntry{Key: op.Key, Value: value, Flags: op.Flags, ModifyIndex: op.Index, Session: op.Session}}
	if failure, err := t.kvWrite(req); failure != "" || err != nil {
		return nil, failure, err
	}
	switch op.Verb {
	case kvDelete, kvDeleteCAS, kvDeleteTree:
		return nil, "", nil
	}
	e, _ := t.st.kvs.get(op.Key)
	return blank(e), "", nil
}

// readTxn answers a read-only transaction from st, writing nothing.
func (st *state) readTxn(ops []txnOp) applyResult {
	t := &txn{st: *st, index: st.index, topics: map[string]struct{}{}}
	return t.applyTxn(ops)
}
