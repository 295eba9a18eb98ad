package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// sessionLog is a test log whose commands carry a controllable clock.
type sessionLog struct {
	*testLog
	now int64
}

func newSessionLog(t *testing.T) *sessionLog {
	l := &sessionLog{testLog: newTestLog(t), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	l.register(&RegisterRequest{Node: "n1", Address: "10.0.0.1",
		Checks: []*HealthCheck{{CheckID: "serfHealth", Status: healthPassing}, {CheckID: "disk", Status: healthPassing}}})
	return l
}

func (l *sessionLog) do(cmd *command) applyResult {
	l.t.Helper()
	cmd.Now = l.now
	return l.apply(cmd)
}

func (l *sessionLog) createSession(id string, delay time.Duration, behavior string, checks ...string) {
	l.t.Helper()
	if checks == nil {
		checks = []string{"serfHealth"}
	}
	s := &Session{ID: id, Node: "n1", LockDelay: delay, Behavior: behavior, NodeChecks: checks}
	if res := l.do(&command{Type: cmdSession, Session: &sessionRequest{Session: s}}); res.err != nil {
		l.t.Fatalf("create session %s: %v", id, res.err)
	}
}

func (l *sessionLog) lock(op kvOp, key, session, value string) applyResult {
	l.t.Helper()
	return l.do(&command{Type: cmdKV, KV: &kvRequest{Op: op, Entry: KVEntry{Key: key, Session: session, Value: []byte(value)}}})
}

func (l *sessionLog) entry(key string) *KVEntry {
	e, _ := l.s.snapshot().kvGet(key)
	return e
}

func TestLockAcquireRelease(t *testing.T) {
	l := newSessionLog(t)
	l.createSession("s1", 0, sessionRelease)
	l.createSession("s2", 0, sessionRelease)
	if res := l.lock(kvLock, "leader", "s1", "me"); !res.ok {
		t.Fatalf("first acquire: %+v", res)
	}
	if e := l.entry("leader"); e.Session != "s1" || e.LockIndex != 1 {
		t.Fatalf("after acquire: %+v", e)
	}
	if res := l.lock(kvLock, "leader", "s2", "you"); res.ok {
		t.Fatal("a second session acquired a held lock")
	}
	if res := l.lock(kvUnlock, "leader", "s2", ""); res.ok {
		t.Fatal("a session released a lock it does not hold")
	}
	// A plain write does not take the lock away.
	l.kv(kvSet, "leader", "still me", 0)
	if e := l.entry("leader"); e.Session != "s1" || string(e.Value) != "still me" {
		t.Fatalf("plain write changed the holder: %+v", e)
	}
	if res := l.lock(kvUnlock, "leader", "s1", "released"); !res.ok {
		t.Fatal("holder could not release")
	}
	if res := l.lock(kvLock, "leader", "s2", "you"); !res.ok {
		t.Fatal("lock not free after release")
	}
	if e := l.entry("leader"); e.Session != "s2" || e.LockIndex != 2 {
		t.Fatalf("second holder: %+v", e)
	}
	if res := l.lock(kvLock, "other", "nope", ""); res.err == nil {
		t.Fatal("acquire with an unknown session accepted")
	}
}

// Every way a session ends releases its locks (or deletes the keys).
func TestSessionInvalidation(t *testing.T) {
	cases := []struct {
		name     string
		behavior string
		end      func(l *sessionLog)
	}{
		{"destroy", sessionRelease, func(l *sessionLog) {
			l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s1"}})
		}},
		{"destroy with delete behavior", sessionDelete, func(l *sessionLog) {
			l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s1"}})
		}},
		{"check critical", sessionRelease, func(l *sessionLog) {
			l.register(&RegisterRequest{Node: "n1", SkipNodeUpdate: true, Check: &HealthCheck{CheckID: "disk", Status: healthCritical}})
		}},
		{"check deregistered", sessionRelease, func(l *sessionLog) {
			l.do(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n1", CheckID: "disk"}})
		}},
		{"node deregistered", sessionRelease, func(l *sessionLog) {
			l.do(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n1"}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newSessionLog(t)
			l.createSession("s1", 0, tc.behavior, "serfHealth", "disk")
			l.lock(kvLock, "a", "s1", "1")
			l.lock(kvLock, "b", "s1", "2")
			l.kv(kvSet, "free", "3", 0)
			tc.end(l)
			st := l.s.snapshot()
			if st.session("s1") != nil {
				t.Fatal("session survived")
			}
			for _, k := range []string{"a", "b"} {
				e, _ := st.kvGet(k)
				switch {
				case tc.behavior == sessionDelete && e != nil:
					t.Fatalf("%s not deleted", k)
				case tc.behavior == sessionRelease && (e == nil || e.Session != "" || e.LockIndex != 1):
					t.Fatalf("%s not released: %+v", k, e)
				}
			}
			if e, _ := st.kvGet("free"); e == nil {
				t.Fatal("a key the session did not hold was touched")
			}
			if !st.sessionKeys.empty() {
				t.Fatal("held-key index not emptied")
			}
		})
	}
}

func TestSessionLockDelay(t *testing.T) {
	l := newSessionLog(t)
	l.createSession("s1", 5*time.Second, sessionRelease)
	l.createSession("s2", 0, sessionRelease)
	l.lock(kvLock, "k", "s1", "")
	l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s1"}})
	l.now += int64(4 * time.Second)
	if res := l.lock(kvLock, "k", "s2", ""); res.ok {
		t.Fatal("acquired inside the lock delay")
	}
	l.now += int64(2 * time.Second)
	if res := l.lock(kvLock, "k", "s2", ""); !res.ok {
		t.Fatal("could not acquire after the lock delay")
	}
	// The next invalidation forgets the delay that ran out.
	l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s2"}})
	if l.s.snapshot().lockDelayUntil("k") != 0 {
		t.Fatal("an expired lock delay was kept")
	}
}

func TestSessionCreateRefused(t *testing.T) {
	l := newSessionLog(t)
	l.register(&RegisterRequest{Node: "n1", SkipNodeUpdate: true, Check: &HealthCheck{CheckID: "disk", Status: healthCritical}})
	for name, s := range map[string]*Session{
		"critical check": {ID: "x", Node: "n1", NodeChecks: []string{"disk"}},
		"missing check":  {ID: "y", Node: "n1", NodeChecks: []string{"nope"}},
		"missing node":   {ID: "z", Node: "n9"},
	} {
		if res := l.do(&command{Type: cmdSession, Session: &sessionRequest{Session: s}}); res.err == nil {
			t.Errorf("%s: session created", name)
		}
	}
	if len(l.s.snapshot().sessionList("")) != 0 {
		t.Fatal("a refused session was stored")
	}
}

func txnKV(verb kvOp, key, value string, index uint64, session string) txnOp {
	return txnOp{KV: &txnKVOp{Verb: verb, Key: key, Value: []byte(value), Index: index, Session: session}}
}

func TestTxnVerbs(t *testing.T) {
	l := newSessionLog(t)
	l.createSession("s1", 0, sessionRelease)
	l.kv(kvSet, "a", "1", 0)
	l.kv(kvSet, "t/x", "1", 0)
	l.kv(kvSet, "t/y", "1", 0)
	ia := l.entry("a").ModifyIndex
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		txnKV(kvGet, "a", "", 0, ""),
		txnKV(kvGetTree, "t/", "", 0, ""),
		txnKV(kvCheckIndex, "a", "", ia, ""),
		txnKV(kvCheckNotExists, "nope", "", 0, ""),
		txnKV(kvSet, "b", "2", 0, ""),
		txnKV(kvCAS, "a", "3", ia, ""),
		txnKV(kvLock, "l", "held", 0, "s1"),
		txnKV(kvCheckSession, "l", "", 0, "s1"),
		txnKV(kvUnlock, "l", "free", 0, "s1"),
		txnKV(kvDelete, "b", "", 0, ""),
		txnKV(kvDeleteTree, "t/", "", 0, ""),
	}})
	if !res.ok || len(res.txnErrors) != 0 {
		t.Fatalf("txn failed: %+v", res.txnErrors)
	}
	// get (1) + get-tree (2) + check-index + set + cas + lock + check-session + unlock = 9
	if len(res.txnResults) != 9 {
		t.Fatalf("%d results", len(res.txnResults))
	}
	if string(res.txnResults[0].KV.Value) != "1" || res.txnResults[3].KV.Value != nil {
		t.Fatal("get must carry the value, writes must not")
	}
	st := l.s.snapshot()
	if e, _ := st.kvGet("a"); string(e.Value) != "3" {
		t.Fatal("cas not applied")
	}
	if e, _ := st.kvGet("l"); e.Session != "" || string(e.Value) != "free" {
		t.Fatalf("lock/unlock: %+v", e)
	}
	if list, _ := st.kvList("t/"); len(list) != 0 {
		t.Fatal("delete-tree not applied")
	}
	// delete-cas with the right index.
	ia = l.entry("a").ModifyIndex
	if res := l.do(&command{Type: cmdTxn, Txn: []txnOp{txnKV(kvDeleteCAS, "a", "", ia, "")}}); !res.ok {
		t.Fatalf("delete-cas: %+v", res.txnErrors)
	}
}

func TestTxnRollback(t *testing.T) {
	l := newSessionLog(t)
	l.kv(kvSet, "a", "1", 0)
	var before bytes.Buffer
	writeSnapshot(l.s.snapshot(), &before)
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		txnKV(kvSet, "new", "x", 0, ""),
		txnKV(kvDelete, "a", "", 0, ""),
		txnKV(kvCheckNotExists, "new", "", 0, ""), // fails: "new" was just set
		txnKV(kvCAS, "a", "y", 999, ""),           // fails too
	}})
	if res.ok || len(res.txnErrors) != 2 || res.txnErrors[0].OpIndex != 2 || res.txnErrors[1].OpIndex != 3 {
		t.Fatalf("errors: %+v", res.txnErrors)
	}
	if !strings.Contains(res.txnErrors[0].What, "exists") {
		t.Fatalf("what: %q", res.txnErrors[0].What)
	}
	// Nothing changed, but the log index, which the snapshot header holds.
	var after bytes.Buffer
	writeSnapshot(l.s.snapshot(), &after)
	skip := len(snapshotMagic) + 3 // tag and the two index uvarints (small here)
	if !bytes.Equal(before.Bytes()[skip:before.Len()-32], after.Bytes()[skip:after.Len()-32]) {
		t.Fatal("a rolled-back transaction changed the state")
	}
}

func TestSnapshotKeepsSessionsAndLocks(t *testing.T) {
	l := newSessionLog(t)
	l.createSession("s1", 5*time.Second, sessionRelease)
	l.createSession("s2", 5*time.Second, sessionRelease)
	l.lock(kvLock, "held", "s1", "")
	l.lock(kvLock, "gone", "s2", "")
	l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s2"}})
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	restored := newStore()
	read, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	restored.install(read, l.s.snapshot().index)
	st := restored.snapshot()
	if st.session("s1") == nil || st.lockDelayUntil("gone") != l.now+int64(5*time.Second) {
		t.Fatal("sessions or lock delays lost")
	}
	// The held-key index is rebuilt: invalidating s1 still releases "held".
	idx := st.index + 1
	restored.apply(idx, &command{Type: cmdSession, Now: l.now, Session: &sessionRequest{DestroyID: "s1"}})
	if e, _ := restored.snapshot().kvGet("held"); e.Session != "" {
		t.Fatal("lock survived its session after a restore")
	}
}

func TestTxnCatalogOperations(t *testing.T) {
	l := newSessionLog(t)
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Node: &txnNodeOp{Verb: kvSet, Node: Node{Node: "n2", Address: "10.0.0.2"}}},
		{Service: &txnServiceOp{Verb: kvSet, Node: "n2", Service: Service{Service: "web", Port: 80}}},
		{Check: &txnCheckOp{Verb: kvSet, Check: HealthCheck{Node: "n2", CheckID: "web-ok", ServiceID: "web", Status: healthPassing}}},
		{Service: &txnServiceOp{Verb: kvGet, Node: "n2", Service: Service{ID: "web"}}},
	}})
	if !res.ok || len(res.txnResults) != 4 || res.txnResults[3].Service == nil || res.txnResults[3].Service.Port != 80 {
		t.Fatalf("catalog txn: %+v %+v", res.txnResults, res.txnErrors)
	}
	if csn := l.s.snapshot().checkServiceNodes("web"); len(csn) != 1 || aggregateStatus(csn[0].Checks) != healthPassing {
		t.Fatalf("health after txn: %+v", csn)
	}
	nodeIdx := l.s.snapshot().node("n2").ModifyIndex
	// A stale cas on the node rolls back the service removal beside it.
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Service: &txnServiceOp{Verb: kvDelete, Node: "n2", Service: Service{ID: "web"}}},
		{Node: &txnNodeOp{Verb: kvCAS, Node: Node{Node: "n2", Address: "10.9.9.9", ModifyIndex: nodeIdx + 100}}},
	}})
	if res.ok || len(res.txnErrors) != 1 || res.txnErrors[0].OpIndex != 1 || !strings.Contains(res.txnErrors[0].What, "stale") {
		t.Fatalf("stale cas: %+v", res.txnErrors)
	}
	if len(l.s.snapshot().serviceInstances("web")) != 1 {
		t.Fatal("a rolled-back transaction removed a service")
	}
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Node: &txnNodeOp{Verb: kvCAS, Node: Node{Node: "n2", Address: "10.9.9.9", ModifyIndex: nodeIdx}}},
		{Node: &txnNodeOp{Verb: kvGet, Node: Node{Node: "n9"}}},
	}})
	if res.ok || res.txnErrors[0].OpIndex != 1 || !strings.Contains(res.txnErrors[0].What, "doesn't exist") {
		t.Fatalf("get of a missing node: %+v", res.txnErrors)
	}
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{{Node: &txnNodeOp{Verb: kvDeleteCAS, Node: Node{Node: "n2", ModifyIndex: nodeIdx}}}}})
	if !res.ok || l.s.snapshot().node("n2") != nil || len(l.s.snapshot().serviceInstances("web")) != 0 {
		t.Fatalf("delete-cas of the node: %+v", res.txnErrors)
	}
}
