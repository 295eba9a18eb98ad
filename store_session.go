// store_session.go: sessions and KV locks in the state store.
//
// A session (Consul's) ties locks to the health of a node: it names a node
// and some of its checks, and it is invalidated when it is destroyed, when
// its TTL runs out (the leader's timers, server_leader.go), when one of its
// checks turns critical, or when its node goes. Invalidation releases every
// key the session holds, or deletes them (Behavior "delete"), and blocks
// those keys from being acquired again for the session's LockDelay.
//
// Time: apply never reads the clock. Every command carries Now, the
// proposer's wall-clock time, and the lock delay is stored as an absolute
// deadline computed from it, so that every server applying the log agrees.
//
// Same concurrency rules as store.go: written only inside apply.
package main

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Session is a session, in Consul's JSON shape.
type Session struct {
	ID            string
	Name          string
	Node          string
	LockDelay     time.Duration
	Behavior      string
	TTL           string
	NodeChecks    []string
	ServiceChecks []ServiceCheck
	CreateIndex   uint64
	ModifyIndex   uint64
}

// ServiceCheck names a service check a session depends on.
type ServiceCheck struct {
	ID string
}

// Session behaviors: what invalidation does to the keys a session holds.
const (
	sessionRelease = "release"
	sessionDelete  = "delete"
)

// Session TTL bounds, as Consul's.
const (
	sessionTTLMin = 10 * time.Second
	sessionTTLMax = 24 * time.Hour
)

// KV lock verbs.
const (
	kvLock   kvOp = "lock"
	kvUnlock kvOp = "unlock"
)

// sessionRequest creates (Session set) or destroys (DestroyID set) a session.
type sessionRequest struct {
	Session   *Session `json:",omitempty"`
	DestroyID string   `json:",omitempty"`
}

const indexSessions = "sessions"

func (t *txn) applySession(req *sessionRequest) error {
	if req.DestroyID != "" {
		t.invalidateSession(req.DestroyID)
		return nil
	}
	s := req.Session
	if s == nil || s.ID == "" {
		return errors.New("Missing session ID")
	}
	if _, exists := t.st.sessions.get(s.ID); exists {
		return fmt.Errorf("Session %q already exists", s.ID)
	}
	if _, ok := t.st.nodes.get(s.Node); !ok {
		return fmt.Errorf("Missing node registration for %q", s.Node)
	}
	for _, id := range s.checkIDs() {
		c, ok := t.st.checks.get(itemKey(s.Node, id))
		if !ok {
			return fmt.Errorf("Missing check '%s' registration", id)
		}
		if c.Status == healthCritical {
			return fmt.Errorf("Check '%s' is in critical state", id)
		}
	}
	stored := *s
	stored.CreateIndex, stored.ModifyIndex = t.index, t.index
	t.st.sessions = t.st.sessions.set(s.ID, &stored)
	t.st.nodeSessions = t.st.nodeSessions.set(itemKey(s.Node, s.ID), struct{}{})
	t.bump(indexSessions)
	return nil
}

// checkIDs lists every check the session depends on.
func (s *Session) checkIDs() []string {
	ids := slices.Clone(s.NodeChecks)
	for _, sc := range s.ServiceChecks {
		ids = append(ids, sc.ID)
	}
	return ids
}

// invalidateSession ends a session: its keys are released (or deleted), and
// each gets the session's lock delay.
func (t *txn) invalidateSession(id string) {
	s, ok := t.st.sessions.get(id)
	if !ok {
		return
	}
	t.st.sessions, _ = t.st.sessions.delete(id)
	t.st.nodeSessions, _ = t.st.nodeSessions.delete(itemKey(s.Node, id))
	t.bump(indexSessions)
	t.deleteSessionQueries(id) // store_query.go
	t.pruneLockDelays()
	var held []string
	t.st.sessionKeys.ascendPrefix(id+"\x00", "", func(k string, _ struct{}) bool {
		held = append(held, k[len(id)+1:])
		return true
	})
	for _, key := range held {
		t.st.sessionKeys, _ = t.st.sessionKeys.delete(itemKey(id, key))
		e, ok := t.st.kvs.get(key)
		if !ok {
			continue
		}
		if s.LockDelay > 0 {
			t.st.lockDelays = t.st.lockDelays.set(key, t.now+int64(s.LockDelay))
		}
		if s.Behavior == sessionDelete {
			t.deleteKV(e)
			continue
		}
		released := *e
		released.Session, released.ModifyIndex = "", t.index
		t.st.kvs = t.st.kvs.set(key, &released)
		t.bump(indexKVs)
		t.kvKeys = append(t.kvKeys, key)
	}
}

// pruneLockDelays forgets the lock delays that have run out, so the table
// holds only those of the last minute or so (LockDelay is at most 60 s).
func (t *txn) pruneLockDelays() {
	var expired []string
	t.st.lockDelays.each(func(k string, until int64) bool {
		if until <= t.now {
			expired = append(expired, k)
		}
		return true
	})
	for _, k := range expired {
		t.st.lockDelays, _ = t.st.lockDelays.delete(k)
	}
}

// invalidateSessionsOf ends the sessions that depend on a check of a node
// (checkID "" : every session of the node).
func (t *txn) invalidateSessionsOf(node, checkID string) {
	var ids []string
	t.st.nodeSessions.ascendPrefix(node+"\x00", "", func(k string, _ struct{}) bool {
		id := k[len(node)+1:]
		if s, ok := t.st.sessions.get(id); ok && (checkID == "" || slices.Contains(s.checkIDs(), checkID)) {
			ids = append(ids, id)
		}
		return true
	})
	for _, id := range ids {
		t.invalidateSession(id)
	}
}

// lockKV acquires key for e.Session: it fails (without error) when another
// session holds it or the key is inside a lock delay.
func (t *txn) lockKV(e KVEntry, existing *KVEntry) (failure string, err error) {
	if e.Session == "" {
		return "", errors.New("missing session") // Consul's kvsLockTxn
	}
	if _, ok := t.st.sessions.get(e.Session); !ok {
		return "", fmt.Errorf("invalid session %q", e.Session)
	}
	if until, ok := t.st.lockDelays.get(e.Key); ok && t.now < until {
		return fmt.Sprintf("failed to lock key %q, lock delay is in effect", e.Key), nil
	}
	stored := &KVEntry{Key: e.Key, Flags: e.Flags, Value: e.Value, Session: e.Session,
		CreateIndex: t.index, ModifyIndex: t.index, LockIndex: 1}
	if existing != nil {
		stored.CreateIndex = existing.CreateIndex
		switch existing.Session {
		case e.Session: // already held: an update under the lock
			stored.LockIndex = existing.LockIndex
		case "":
			stored.LockIndex = existing.LockIndex + 1
		default:
			return fmt.Sprintf("failed to lock key %q, lock is already held", e.Key), nil
		}
	}
	t.st.kvs = t.st.kvs.set(e.Key, stored)
	t.st.tombstones, _ = t.st.tombstones.delete(e.Key)
	t.st.sessionKeys = t.st.sessionKeys.set(itemKey(e.Session, e.Key), struct{}{})
	t.bump(indexKVs)
	t.kvKeys = append(t.kvKeys, e.Key)
	return "", nil
}

// unlockKV releases key if e.Session holds it, writing the new value.
func (t *txn) unlockKV(e KVEntry, existing *KVEntry) (failure string) {
	if existing == nil || existing.Session == "" || existing.Session != e.Session {
		return fmt.Sprintf("failed to unlock key %q, lock isn't held, or is held by another session", e.Key)
	}
	stored := &KVEntry{Key: e.Key, Flags: e.Flags, Value: e.Value,
		CreateIndex: existing.CreateIndex, ModifyIndex: t.index, LockIndex: existing.LockIndex}
	t.st.kvs = t.st.kvs.set(e.Key, stored)
	t.st.sessionKeys, _ = t.st.sessionKeys.delete(itemKey(e.Session, e.Key))
	t.bump(indexKVs)
	t.kvKeys = append(t.kvKeys, e.Key)
	return ""
}

// forgetLock drops a deleted key from its session's held keys.
func (t *txn) forgetLock(e *KVEntry) {
	if e != nil && e.Session != "" {
		t.st.sessionKeys, _ = t.st.sessionKeys.delete(itemKey(e.Session, e.Key))
	}
}

// --- reads ---

func (st *state) session(id string) *Session {
	s, _ := st.sessions.get(id)
	return s
}

// sessionList lists sessions, all or those of one node, by ID.
func (st *state) sessionList(node string) []*Session {
	out := []*Session{}
	st.sessions.each(func(_ string, s *Session) bool {
		if node == "" || s.Node == node {
			out = append(out, s)
		}
		return true
	})
	return out
}
