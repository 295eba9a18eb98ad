package main

import (
	"bytes"
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

func TestSnapshotKeepsSessionsAndLocks(t *testing.T) {
	t.Parallel()
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

// lockDelayUntil is the time before which key cannot be acquired (0: none).
func (st *state) lockDelayUntil(key string) int64 {
	until, _ := st.lockDelays.get(key)
	return until
}
