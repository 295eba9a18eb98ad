// store.go: the state store, the finite-state machine every server replicates.
//
// All of a datacenter's state (KV entries, nodes, services, health checks)
// lives here, in memory, as one immutable value: a state, whose tables are
// persistent trees (store_tree.go). Data flows one way:
//
//	write:  HTTP/RPC handler → command → log (Raft) → Store.apply(index, cmd)
//	          → new state published atomically → watchers of what changed woken
//	read:   handler → Store.snapshot() → a state frozen at one index
//
// Nothing writes the store except apply, so replaying the same log on every
// server yields the same state: apply is the state machine of Raft §5 (and
// Consul's FSM). apply never looks at the clock or at anything outside the
// command, and a command it refuses changes nothing. storeFSM, at the end of
// this file, is the adapter the Raft node drives: committed entries in,
// snapshots out and back in (store_snapshot.go).
//
// MVCC: apply builds the next state by path copying and publishes it with one
// atomic pointer store. A reader loads the pointer once and works on that
// version for as long as it likes: it never blocks a writer, never sees half
// a write, and a writer never waits for readers.
//
// Indexes, as Consul: every stored record carries CreateIndex/ModifyIndex
// (the log index of the command that wrote it). The indexes table holds, per
// table and per service or node name, the index of the last change, which is
// what X-Consul-Index reports. Deleted KV keys leave tombstones so that the
// index of a prefix never goes backwards when keys under it disappear.
//
// Blocking queries (watch): a reader names what it reads (a KV key, a KV
// prefix, a service, a node, a table) before taking its snapshot; apply
// wakes exactly the watchers of what it changed.
//
// Concurrency: apply must be called by one goroutine at a time (the log's
// apply loop). snapshot may be called from any goroutine, lock-free. The
// watch hub has its own mutex, held only to register watchers and to wake them.
package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// KVEntry is one key of the KV store, in Consul's JSON shape.
type KVEntry struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	CreateIndex uint64
	ModifyIndex uint64
	Session     string `json:",omitempty"`
}

// kvOp is a KV verb, as Consul's KVSOp and the /v1/txn verbs.
type kvOp string

const (
	kvSet        kvOp = "set"
	kvCAS        kvOp = "cas"
	kvDelete     kvOp = "delete"
	kvDeleteCAS  kvOp = "delete-cas"
	kvDeleteTree kvOp = "delete-tree"
)

// kvRequest is a KV write: the verb and the entry it applies to. For cas and
// delete-cas, Entry.ModifyIndex is the index the key must still have (0:
// the key must not exist).
type kvRequest struct {
	Op    kvOp
	Entry KVEntry
}

// commandType says what a command does; it is the first thing in every log
// entry, as Consul's MessageType.
type commandType string

const (
	cmdKV             commandType = "kv"
	cmdRegister       commandType = "register"
	cmdDeregister     commandType = "deregister"
	cmdReapTombstones commandType = "reap-tombstones"
	cmdSession        commandType = "session"
	cmdTxn            commandType = "txn"
	cmdAutopilot      commandType = "autopilot" // store_autopilot.go

	cmdConfigEntry commandType = "config-entry" // store_config_entry.go
)

// command is one state change, the unit the log orders and replicates.
// Exactly one body field is set, the one its Type names.
type command struct {
	Type commandType
	// Now is the proposer's clock (Unix nanoseconds) when it made the
	// command: apply's only notion of time, the same on every server.
	Now        int64
	KV         *kvRequest         `json:",omitempty"`
	Session    *sessionRequest    `json:",omitempty"`
	Txn        []txnOp            `json:",omitempty"`
	Register   *RegisterRequest   `json:",omitempty"`
	Deregister *DeregisterRequest `json:",omitempty"`
	Autopilot  *autopilotRequest  `json:",omitempty"`

	ConfigEntry *configEntryRequest `json:",omitempty"` // store_config_entry.go
	ConnectCA   *connectCARequest   `json:",omitempty"`
	ACL         *aclRequest         `json:",omitempty"` // store_acl.go

	ACLRepl *aclReplicateRequest `json:",omitempty"` // store_acl_replication.go

	PreparedQuery *preparedQueryRequest `json:",omitempty"` // store_query.go
	Coordinates   []CoordinateEntry     `json:",omitempty"` // store_coordinate.go
	// ReapIndex: tombstones at or below it are removed (cmdReapTombstones).
	ReapIndex uint64 `json:",omitempty"`
}

// A command's log entry is binary for KV writes and JSON for the rest
// (encode and decodeCommand, store_command_wire.go).

// applyResult is what a command did. ok is false when a conditional write
// (cas, acquire) did not hold: nothing was written, and Consul answers
// "false". err is set when the command was refused as invalid. A
// transaction reports its results, or the errors that rolled it back.
type applyResult struct {
	ok         bool
	err        error
	txnResults []txnResult
	txnErrors  []txnError
	index      uint64 // the log index it was applied at (on the server that applied it)
}

// Index names in the indexes table.
const (
	indexKVs              = "kvs"
	indexNodes            = "nodes"
	indexServices         = "services"
	indexChecks           = "checks"
	indexServiceExtinct   = "service-extinction" // last time a service name lost its last instance
	indexNodePrefix       = "node."
	indexServiceKeyPrefix = "service."
)

// state is one immutable version of everything the store holds.
type state struct {
	index uint64 // log index of the last command applied
	// restores counts the snapshots restored into this state's lineage: a
	// blocking query returns when it changes, whatever the indexes say, as
	// Consul's do when its state store is abandoned.
	restores uint64

	kvs         tree[*KVEntry]
	tombstones  tree[uint64] // deleted key (or delete-tree prefix) → index of the delete
	reapedIndex uint64       // highest tombstone index ever reaped

	nodes        tree[*Node]
	services     tree[*Service]     // node \x00 service ID
	serviceNames tree[serviceRef]   // service name \x00 node \x00 service ID
	connectNames tree[serviceRef]   // mesh destination \x00 node \x00 service ID (store_connect.go)
	checks       tree[*HealthCheck] // node \x00 check ID
	// checksByService holds the same checks by what they belong to: node \x00
	// service ID \x00 check ID, with an empty service ID for the node's own
	// (Consul's node_service index): an instance's health reads its own.
	checksByService tree[*HealthCheck]

	sessions     tree[*Session]
	nodeSessions tree[struct{}] // node \x00 session ID
	sessionKeys  tree[struct{}] // session ID \x00 key: the keys a session holds
	lockDelays   tree[int64]    // key → Unix nanoseconds before which it cannot be acquired

	indexes tree[uint64] // table or name → index of its last change

	autopilot *AutopilotConfiguration // nil until the first leader stores one (store_autopilot.go)

	configEntries tree[*configEntry]     // kind \x00 name (store_config_entry.go)
	connectCA     *connectCAState        // nil until the first leader makes the CA (store_connect_ca.go)
	acl           aclState               // tokens, policies, roles (store_acl.go)
	queries       queryState             // prepared queries (store_query.go)
	coordinates   tree[*CoordinateEntry] // node → its network coordinate (store_coordinate.go)
}

// Store holds the current state and the watchers waiting for it to change.
type Store struct {
	current atomic.Pointer[state]
	hub     watchHub
}

func newStore() *Store {
	s := &Store{}
	s.current.Store(&state{})
	s.hub.init()
	return s
}

// snapshot returns the current state. It never changes afterwards.
func (s *Store) snapshot() *state { return s.current.Load() }

// txn accumulates one command's changes on a private copy of the state.
type txn struct {
	st     state
	index  uint64
	now    int64               // the command's Now
	topics map[string]struct{} // index names changed, to wake their watchers
	kvKeys []string            // KV keys written or deleted
	kvCuts []string            // prefixes removed by delete-tree
}

// bump records that the named table or name changed at this index.
func (t *txn) bump(names ...string) {
	for _, n := range names {
		t.st.indexes = t.st.indexes.setIn(t.index, n, t.index)
		t.topics[n] = struct{}{}
	}
}

// advance moves the state to log index idx without a change: Raft's own
// entries (a new leader's no-op, configurations) take log positions too.
func (s *Store) advance(idx uint64) {
	next := *s.snapshot()
	next.index = idx
	s.current.Store(&next)
}

// apply is the state machine: it applies the command at log index idx and
// publishes the new state. Replaying the same commands gives the same state.
func (s *Store) apply(idx uint64, cmd *command) applyResult {
	t := &txn{st: *s.snapshot(), index: idx, now: cmd.Now, topics: map[string]struct{}{}}
	var res applyResult
	switch cmd.Type {
	case cmdKV:
		if cmd.KV == nil {
			res.err = errors.New("kv command without a body")
			break
		}
		res = t.applyKV(cmd.KV)
	case cmdRegister:
		if cmd.Register == nil {
			res.err = errors.New("register command without a body")
			break
		}
		res.err = t.applyRegister(cmd.Register)
		res.ok = res.err == nil
	case cmdDeregister:
		if cmd.Deregister == nil {
			res.err = errors.New("deregister command without a body")
			break
		}
		res.err = t.applyDeregister(cmd.Deregister)
		res.ok = res.err == nil
	case cmdReapTombstones:
		t.reapTombstones(cmd.ReapIndex)
		res.ok = true
	case cmdSession:
		if cmd.Session == nil {
			res.err = errors.New("session command without a body")
			break
		}
		res.err = t.applySession(cmd.Session)
		res.ok = res.err == nil
	case cmdTxn:
		res = t.applyTxn(cmd.Txn)
	case cmdAutopilot:
		if cmd.Autopilot == nil {
			res.err = errors.New("autopilot command without a body")
			break
		}
		res.ok, res.err = t.applyAutopilot(cmd.Autopilot)
	case cmdConfigEntry:
		if cmd.ConfigEntry == nil {
			res.err = errors.New("config entry command without a body")
			break
		}
		res.ok, res.err = t.applyConfigEntry(cmd.ConfigEntry)
	case cmdConnectCA:
		if cmd.ConnectCA == nil {
			res.err = errors.New("connect-ca command without a body")
			break
		}
		res.ok, res.err = t.applyConnectCA(cmd.ConnectCA)
	case cmdACL:
		if cmd.ACL == nil {
			res.err = errors.New("acl command without a body")
			break
		}
		res.ok, res.err = t.applyACL(cmd.ACL)
	case cmdACLReplicate:
		if cmd.ACLRepl == nil {
			res.err = errors.New("acl replication command without a body")
			break
		}
		res.ok, res.err = true, t.applyACLReplicate(cmd.ACLRepl)
	case cmdPreparedQuery:
		if cmd.PreparedQuery == nil {
			res.err = errors.New("prepared query command without a body")
			break
		}
		res.err = t.applyPreparedQuery(cmd.PreparedQuery)
		res.ok = res.err == nil
	case cmdCoordinates:
		res.err = t.applyCoordinates(cmd.Coordinates)
		res.ok = res.err == nil
	default:
		res.err = fmt.Errorf("unknown command type %q", cmd.Type)
	}
	next := &t.st
	if res.err != nil || !res.ok {
		// Refused or conditional write lost: the state is unchanged, but the
		// log position still advances.
		cur := *s.snapshot()
		next = &cur
		t.topics, t.kvKeys, t.kvCuts = nil, nil, nil
	}
	next.index = idx
	s.current.Store(next)
	s.hub.notify(t.topics, t.kvKeys, t.kvCuts)
	res.index = idx
	return res
}

// --- KV ---

func (t *txn) applyKV(req *kvRequest) applyResult {
	failure, err := t.kvWrite(req)
	return applyResult{ok: err == nil && failure == "", err: err}
}

// kvWrite performs one KV write. failure says why a conditional write did
// not hold (Consul answers false, or a transaction error); err means the
// request itself is invalid.
func (t *txn) kvWrite(req *kvRequest) (failure string, err error) {
	e := req.Entry
	if e.Key == "" && req.Op != kvDeleteTree {
		return "", errors.New("Missing key name")
	}
	existing, exists := t.st.kvs.get(e.Key)
	switch req.Op {
	case kvSet:
		t.putKV(e, existing)
	case kvCAS:
		if (e.ModifyIndex == 0 && exists) || (e.ModifyIndex != 0 && (!exists || existing.ModifyIndex != e.ModifyIndex)) {
			return fmt.Sprintf("failed to set key %q, index is stale", e.Key), nil
		}
		t.putKV(e, existing)
	case kvLock:
		return t.lockKV(e, existing)
	case kvUnlock:
		return t.unlockKV(e, existing), nil
	case kvDelete:
		t.deleteKV(existing)
	case kvDeleteCAS:
		// A key that is gone already is deleted, whatever the index: Consul
		// answers true (its kvsDeleteCASTxn), in a transaction too.
		if exists && existing.ModifyIndex != e.ModifyIndex {
			return fmt.Sprintf("failed to delete key %q, index is stale", e.Key), nil
		}
		t.deleteKV(existing) // nil: nothing to delete
	case kvDeleteTree:
		t.deleteKVTree(e.Key)
	default:
		return "", fmt.Errorf("Invalid KV operation %q", req.Op)
	}
	return "", nil
}

func (t *txn) putKV(e KVEntry, existing *KVEntry) {
	stored := &KVEntry{Key: e.Key, Flags: e.Flags, Value: e.Value, CreateIndex: t.index, ModifyIndex: t.index}
	if existing != nil {
		// A plain write keeps the lock: only release gives it up.
		stored.CreateIndex = existing.CreateIndex
		stored.LockIndex = existing.LockIndex
		stored.Session = existing.Session
	}
	t.st.kvs = t.st.kvs.setIn(t.index, e.Key, stored)
	// A key written again is no longer a tombstone.
	t.st.tombstones, _ = t.st.tombstones.delete(e.Key)
	t.bump(indexKVs)
	t.kvKeys = append(t.kvKeys, e.Key)
}

// deleteKV removes an entry (nil: nothing to do, as Consul's delete of a
// missing key succeeds) and leaves a tombstone.
func (t *txn) deleteKV(existing *KVEntry) {
	if existing == nil {
		return
	}
	t.forgetLock(existing)
	t.st.kvs, _ = t.st.kvs.delete(existing.Key)
	t.st.tombstones = t.st.tombstones.set(existing.Key, t.index)
	t.bump(indexKVs)
	t.kvKeys = append(t.kvKeys, existing.Key)
}

// deleteKVTree removes every key under prefix in O(log n), leaving a single
// tombstone at the prefix (as Consul's graveyard does) rather than one per key.
func (t *txn) deleteKVTree(prefix string) {
	rest, cut := t.st.kvs.cutPrefix(prefix)
	if cut.empty() {
		return
	}
	t.st.kvs = rest
	cut.each(func(_ string, e *KVEntry) bool {
		t.forgetLock(e)
		return true
	})
	// Tombstones under the prefix are covered by the new one.
	t.st.tombstones, _ = t.st.tombstones.cutPrefix(prefix)
	t.st.tombstones = t.st.tombstones.set(prefix, t.index)
	t.bump(indexKVs)
	t.kvCuts = append(t.kvCuts, prefix)
}

// reapTombstones forgets tombstones written at or before idx (Consul's
// tombstone GC, run by the leader once they are older than the tombstone TTL).
// reapedIndex remembers the highest one, so prefix indexes stay monotonic.
func (t *txn) reapTombstones(idx uint64) {
	var reap []string
	t.st.tombstones.each(func(k string, at uint64) bool {
		if at <= idx {
			reap = append(reap, k)
			t.st.reapedIndex = max(t.st.reapedIndex, at)
		}
		return true
	})
	for _, k := range reap {
		t.st.tombstones, _ = t.st.tombstones.delete(k)
	}
}

// tableIndex is the index of the named table's last change, at least 1:
// Consul never reports index 0, since clients take it as "do not block".
func (st *state) tableIndex(name string) uint64 {
	idx, _ := st.indexes.get(name)
	return max(idx, 1)
}

// kvGet returns the entry at key and the index to report for it: its
// ModifyIndex, or the KV table's index when it is missing (Consul's rule).
func (st *state) kvGet(key string) (*KVEntry, uint64) {
	if e, ok := st.kvs.get(key); ok {
		return e, e.ModifyIndex
	}
	return nil, st.tableIndex(indexKVs)
}

// kvList returns the entries under prefix in key order, and the prefix's
// index: the highest ModifyIndex or tombstone under it, or the table index
// when the prefix is empty or holds nothing at all.
func (st *state) kvList(prefix string) ([]*KVEntry, uint64) {
	var out []*KVEntry
	idx := uint64(0)
	st.kvs.ascendPrefix(prefix, "", func(_ string, e *KVEntry) bool {
		out = append(out, e)
		idx = max(idx, e.ModifyIndex)
		return true
	})
	return out, st.prefixIndex(prefix, idx)
}

// kvKeys lists the keys under prefix; with a separator, keys are cut after
// the first separator that follows the prefix, and each cut key is listed
// once (a "directory").
func (st *state) kvKeys(prefix, separator string) ([]string, uint64) {
	var out []string
	idx := uint64(0)
	st.kvs.ascendPrefix(prefix, "", func(k string, e *KVEntry) bool {
		idx = max(idx, e.ModifyIndex)
		if separator != "" {
			if i := strings.Index(k[len(prefix):], separator); i >= 0 {
				k = k[:len(prefix)+i+len(separator)]
				if len(out) > 0 && out[len(out)-1] == k {
					return true
				}
			}
		}
		out = append(out, k)
		return true
	})
	return out, st.prefixIndex(prefix, idx)
}

func (st *state) prefixIndex(prefix string, entriesIndex uint64) uint64 {
	if prefix == "" {
		return st.tableIndex(indexKVs)
	}
	idx := entriesIndex
	st.tombstones.ascendPrefix(prefix, "", func(_ string, at uint64) bool {
		idx = max(idx, at)
		return true
	})
	if idx == 0 {
		return st.tableIndex(indexKVs)
	}
	return max(idx, st.reapedIndex)
}

// --- watches ---

// watch is one blocking query's interest. Register what it will read with
// the add methods, then take the snapshot, then wait on fired. Because
// registration happens before the snapshot, and apply publishes before it
// notifies, no change can slip between the read and the wait.
type watch struct {
	hub    *watchHub
	fired  chan struct{}
	closed bool // guarded by hub.mu

	topics, kvKeys, kvPrefixes []string
}

// watchHub finds the watchers a change affects.
type watchHub struct {
	mu         sync.Mutex
	topics     map[string]map[*watch]struct{} // index name → watchers
	kvKeys     map[string]map[*watch]struct{} // exact KV key → watchers
	kvPrefixes map[string]map[*watch]struct{} // KV prefix → watchers
}

func (h *watchHub) init() {
	h.topics = map[string]map[*watch]struct{}{}
	h.kvKeys = map[string]map[*watch]struct{}{}
	h.kvPrefixes = map[string]map[*watch]struct{}{}
}

func (s *Store) newWatch() *watch { return &watch{hub: &s.hub, fired: make(chan struct{})} }

func addWatcher(m map[string]map[*watch]struct{}, key string, w *watch) {
	set := m[key]
	if set == nil {
		set = map[*watch]struct{}{}
		m[key] = set
	}
	set[w] = struct{}{}
}

func removeWatcher(m map[string]map[*watch]struct{}, key string, w *watch) {
	if set := m[key]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// watchTopic waits for a table or name in the indexes table (a service, a node).
func (w *watch) watchTopic(names ...string) {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	for _, n := range names {
		addWatcher(w.hub.topics, n, w)
		w.topics = append(w.topics, n)
	}
}

// watchKVKey waits for a write or delete of exactly key.
func (w *watch) watchKVKey(key string) {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	addWatcher(w.hub.kvKeys, key, w)
	w.kvKeys = append(w.kvKeys, key)
}

// watchKVPrefix waits for any change to a key under prefix.
func (w *watch) watchKVPrefix(prefix string) {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	addWatcher(w.hub.kvPrefixes, prefix, w)
	w.kvPrefixes = append(w.kvPrefixes, prefix)
}

// stop unregisters the watch; call it once the query is answered.
func (w *watch) stop() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	for _, n := range w.topics {
		removeWatcher(w.hub.topics, n, w)
	}
	for _, k := range w.kvKeys {
		removeWatcher(w.hub.kvKeys, k, w)
	}
	for _, p := range w.kvPrefixes {
		removeWatcher(w.hub.kvPrefixes, p, w)
	}
	w.topics, w.kvKeys, w.kvPrefixes = nil, nil, nil
}

// fireLocked wakes every watcher in set. Callers hold h.mu.
func fireLocked(set map[*watch]struct{}) {
	for w := range set {
		if !w.closed {
			w.closed = true
			close(w.fired)
		}
	}
}

// notify wakes the watchers of the changed index names, of the written KV
// keys and of every prefix of them, and of anything under a cut prefix.
func (h *watchHub) notify(topics map[string]struct{}, kvKeys, kvCuts []string) {
	if len(topics) == 0 && len(kvKeys) == 0 && len(kvCuts) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for n := range topics {
		fireLocked(h.topics[n])
	}
	for _, k := range kvKeys {
		fireLocked(h.kvKeys[k])
		if len(h.kvPrefixes) > 0 {
			for i := 0; i <= len(k); i++ {
				fireLocked(h.kvPrefixes[k[:i]])
			}
		}
	}
	// A delete-tree touches every key under its prefix; walking the watchers
	// is cheaper than walking the (possibly many) deleted keys.
	for _, cut := range kvCuts {
		for k, set := range h.kvKeys {
			if strings.HasPrefix(k, cut) {
				fireLocked(set)
			}
		}
		for p, set := range h.kvPrefixes {
			if strings.HasPrefix(p, cut) || strings.HasPrefix(cut, p) {
				fireLocked(set)
			}
		}
	}
}

// --- the store as Raft's state machine ---

// storeFSM is the store as Raft's state machine.
type storeFSM struct{ store *Store }

func (f storeFSM) apply(e raftEntry) any {
	if e.Type != raftEntryCommand {
		f.store.advance(e.Index)
		return nil
	}
	cmd, err := decodeCommand(e.Data)
	if err != nil {
		f.store.advance(e.Index)
		return applyResult{err: err}
	}
	return f.store.apply(e.Index, cmd)
}

func (f storeFSM) snapshot() (uint64, func(w io.Writer) error) {
	st := f.store.snapshot()
	return st.index, func(w io.Writer) error { return writeSnapshot(st, w) }
}

func (f storeFSM) read(r io.Reader) (any, error) { return readSnapshot(r) }

func (f storeFSM) install(st any, index uint64) { f.store.install(st.(*state), index) }
