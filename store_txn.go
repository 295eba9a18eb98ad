// store_txn.go: transactions (/v1/txn), many KV and catalog operations
// applied as one.
//
// A transaction is one command, so it is one log entry: every operation is
// applied to the same private copy of the state, and the copy is published
// only if none failed (all-or-nothing, as Consul). A transaction that only
// reads is answered from a snapshot without a write (readTxn).
//
// Same concurrency rules as store.go.
package main

import (
	"errors"
	"fmt"
)

// Read and check verbs, besides the write verbs of kvOp.
const (
	kvGet            kvOp = "get"
	kvGetTree        kvOp = "get-tree"
	kvCheckIndex     kvOp = "check-index"
	kvCheckSession   kvOp = "check-session"
	kvCheckNotExists kvOp = "check-not-exists"
)

// txnOp is one operation of a transaction (Consul's TxnOp): exactly one
// of its fields is set.
type txnOp struct {
	KV      *txnKVOp      `json:",omitempty"`
	Node    *txnNodeOp    `json:",omitempty"`
	Service *txnServiceOp `json:",omitempty"`
	Check   *txnCheckOp   `json:",omitempty"`
}

// Catalog verbs in transactions: set, cas, get, delete, delete-cas (kvOp's
// spellings). For cas and delete-cas, the record's ModifyIndex is the one
// it must still have.
type txnNodeOp struct {
	Verb kvOp
	Node Node
}

type txnServiceOp struct {
	Verb    kvOp
	Node    string
	Service Service
}

type txnCheckOp struct {
	Verb  kvOp
	Check HealthCheck
}

// txnResult is one result, in Consul's shape: one field set.
type txnResult struct {
	KV      *KVEntry     `json:",omitempty"`
	Node    *Node        `json:",omitempty"`
	Service *Service     `json:",omitempty"`
	Check   *HealthCheck `json:",omitempty"`
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

// kvResultsOnly reports whether every result is a KV entry alone.
func kvResultsOnly(results []txnResult) bool {
	for _, r := range results {
		if r.KV == nil || r.Node != nil || r.Service != nil || r.Check != nil {
			return false
		}
	}
	return true
}

// readOnly reports whether a transaction only reads.
func readOnly(ops []txnOp) bool {
	for _, op := range ops {
		var verb kvOp
		switch {
		case op.KV != nil:
			verb = op.KV.Verb
		case op.Node != nil:
			verb = op.Node.Verb
		case op.Service != nil:
			verb = op.Service.Verb
		case op.Check != nil:
			verb = op.Check.Verb
		}
		switch verb {
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
	var results []txnResult
	var errs []txnError
	for i, op := range ops {
		var res []txnResult
		var what string
		var err error
		switch {
		case op.KV != nil:
			var entries []*KVEntry
			entries, what, err = t.txnKV(op.KV)
			for _, e := range entries {
				res = append(res, txnResult{KV: e})
			}
		case op.Node != nil:
			res, what, err = t.txnNode(op.Node)
		case op.Service != nil:
			res, what, err = t.txnService(op.Service)
		case op.Check != nil:
			res, what, err = t.txnCheck(op.Check)
		default:
			what = "operation with no KV, Node, Service or Check"
		}
		if err != nil {
			what = err.Error()
		}
		if what != "" {
			errs = append(errs, txnError{i, what})
			continue
		}
		results = append(results, res...)
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

// txnNode runs a node operation.
func (t *txn) txnNode(op *txnNodeOp) ([]txnResult, string, error) {
	name := op.Node.Node
	existing, exists := t.st.nodes.get(name)
	var have uint64
	if exists {
		have = existing.ModifyIndex
	}
	if failure := casFailure(op.Verb, "node", name, exists, have, op.Node.ModifyIndex); failure != "" {
		return nil, failure, nil
	}
	switch op.Verb {
	case kvGet:
		return []txnResult{{Node: existing}}, "", nil
	case kvSet, kvCAS:
		n := op.Node
		n.TaggedAddresses, n.Meta = orEmpty(n.TaggedAddresses), orEmpty(n.Meta)
		if n.Node == "" || n.Address == "" {
			return nil, "", errors.New("Missing node name or address")
		}
		if err := checkName("node name", n.Node); err != nil {
			return nil, "", err
		}
		t.upsertNode(&n)
		stored, _ := t.st.nodes.get(name)
		return []txnResult{{Node: stored}}, "", nil
	case kvDelete, kvDeleteCAS:
		if exists {
			t.deleteNode(name)
		}
		return nil, "", nil
	}
	return nil, "", fmt.Errorf("Invalid node verb %q", op.Verb)
}

// txnService runs a service operation on a node.
func (t *txn) txnService(op *txnServiceOp) ([]txnResult, string, error) {
	svc := op.Service
	if svc.ID == "" {
		svc.ID = svc.Service
	}
	key := itemKey(op.Node, svc.ID)
	existing, exists := t.st.services.get(key)
	var have uint64
	if exists {
		have = existing.ModifyIndex
	}
	if failure := casFailure(op.Verb, "service", svc.ID, exists, have, svc.ModifyIndex); failure != "" {
		return nil, failure, nil
	}
	switch op.Verb {
	case kvGet:
		return []txnResult{{Service: existing}}, "", nil
	case kvSet, kvCAS:
		if _, ok := t.st.nodes.get(op.Node); !ok {
			return nil, "", fmt.Errorf("Missing node registration for %q", op.Node)
		}
		if err := t.upsertService(op.Node, svc); err != nil {
			return nil, "", err
		}
		stored, _ := t.st.services.get(key)
		return []txnResult{{Service: stored}}, "", nil
	case kvDelete, kvDeleteCAS:
		t.deleteService(op.Node, svc.ID)
		return nil, "", nil
	}
	return nil, "", fmt.Errorf("Invalid service verb %q", op.Verb)
}

// txnCheck runs a check operation.
func (t *txn) txnCheck(op *txnCheckOp) ([]txnResult, string, error) {
	c := op.Check
	existing, exists := t.st.checks.get(itemKey(c.Node, c.CheckID))
	var have uint64
	if exists {
		have = existing.ModifyIndex
	}
	if failure := casFailure(op.Verb, "check", c.CheckID, exists, have, c.ModifyIndex); failure != "" {
		return nil, failure, nil
	}
	switch op.Verb {
	case kvGet:
		return []txnResult{{Check: existing}}, "", nil
	case kvSet, kvCAS:
		if err := t.upsertCheck(c.Node, c); err != nil {
			return nil, "", err
		}
		stored, _ := t.st.checks.get(itemKey(c.Node, c.CheckID))
		return []txnResult{{Check: stored}}, "", nil
	case kvDelete, kvDeleteCAS:
		t.deleteCheck(c.Node, c.CheckID)
		return nil, "", nil
	}
	return nil, "", fmt.Errorf("Invalid check verb %q", op.Verb)
}

// casFailure is the condition a catalog operation fails on, if any: get
// needs the record; cas needs its ModifyIndex to be want (0: that it does
// not exist yet); delete-cas needs it to exist at want.
func casFailure(verb kvOp, what, name string, exists bool, have, want uint64) string {
	switch verb {
	case kvGet:
		if !exists {
			return fmt.Sprintf("%s %q doesn't exist", what, name)
		}
	case kvCAS:
		if (want == 0 && exists) || (want != 0 && (!exists || have != want)) {
			return fmt.Sprintf("failed to set %s %q, index is stale", what, name)
		}
	case kvDeleteCAS:
		if !exists || have != want {
			return fmt.Sprintf("failed to delete %s %q, index is stale", what, name)
		}
	}
	return ""
}

// readTxn answers a read-only transaction from st, writing nothing.
func (st *state) readTxn(ops []txnOp) applyResult {
	t := &txn{st: *st, index: st.index, topics: map[string]struct{}{}}
	return t.applyTxn(ops)
}
