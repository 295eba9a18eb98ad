// server_leader.go: everything a server does because it leads, beyond
// ordering the log, as Consul's leader.go: taking up and dropping
// leadership, session TTLs, tombstone GC, and reconciling the LAN pool into
// the catalog.
//
// Data flow: monitorLeadership follows the Raft node's role. A new leader
// first applies everything committed before its term (a consistent read
// barrier), then restarts the session TTL timers, sets up autopilot's
// configuration and reconciles the LAN pool into the catalog (reconcileAll);
// a server that stops leading drops its timers. Whenever a leader becomes
// known, this agent's own registrations are pushed to it (syncSelf).
//
// The timers and the GC are driven by the leader's clock and act only
// through commands in the log, so every server's state stays the same. A
// new leader rebuilds them from the state it inherits (a lone server is
// always the leader): each session with a TTL gets a fresh full timer, so
// an election never expires a session early (Consul does the same).
//
// Concurrency: monitorLeadership is one goroutine owned by the agent; it
// only calls the Raft node, the timers and autopilot, which have their own
// disciplines. sessionTimers.mu guards the timer map; a timer's expiry runs
// on its own goroutine and goes through Agent.apply like any write. The
// tombstone GC is one goroutine owned by the agent.
package main

import (
	"context"
	"net"
	"sync"
	"time"
)

// --- taking up and dropping leadership ---

// monitorLeadership does what changes with leadership: a new leader
// (once it has applied everything committed before its term) restarts the
// session TTL timers and reconciles the gossip pool into the catalog; a
// server that stops leading drops the timers. Whenever a
// leader becomes known, this agent's own registrations are pushed to it
// (until the gossip layer's reconciliation and anti-entropy take over).
// wasLeader and synced say what newAgent did already: took up leadership,
// registered with the leader.
func (a *Agent) monitorLeadership(wasLeader bool, synced string) {
	for {
		changed := a.raft.changed()
		st := a.raft.raftStatus()
		isLeader := st.Role == roleLeader
		if isLeader != wasLeader {
			wasLeader = isLeader
			if isLeader {
				a.establishLeadership()
			} else {
				a.sessions.clearAll()
				a.aclRepl.stop()
			}
		}
		if st.Leader != "" && st.Leader != synced {
			if err := a.syncSelf(); err != nil && !isShutdown(a.shutdownCh) {
				a.logger.Warn("registering this agent with the leader failed; retrying", "error", err)
			} else {
				synced = st.Leader
			}
		}
		retry := time.After(time.Second)
		if st.Leader == synced {
			retry = nil
		}
		select {
		case <-a.shutdownCh:
			return
		case <-changed:
		case <-retry:
		}
	}
}

func (a *Agent) establishLeadership() {
	ctx, cancel := context.WithTimeout(context.Background(), rpcHoldTimeout)
	defer cancel()
	if err := a.readBarrier(ctx, queryOptions{consistent: true}); err != nil && !isShutdown(a.shutdownCh) {
		a.logger.Warn("new leader could not catch up with the log", "error", err)
		return
	}
	term := a.raft.raftStatus().Term
	a.logger.Info("cluster leadership acquired", "term", term)
	a.sessions.rebuild()
	a.leaderTerm.Store(term)
	a.autopilot.initConfig()
	a.initConnectCA()
	a.initACL()
	a.aclRepl.start() // a secondary datacenter's leader (server_acl_replication.go)
	if a.lan() != nil {
		a.reconcileAll() // what changed in the pool while no one led
		a.autopilot.kick()
	}
}

// syncSelf registers the agent's node and its services and checks.
func (a *Agent) syncSelf() error {
	ctx := a.lifetime()
	if err := a.registerSelf(ctx); err != nil {
		return err
	}
	return a.local.syncAll(ctx)
}

// --- session TTL timers and tombstone GC ---

// Tombstone GC, as Consul's: a tombstone is reaped once older than the TTL;
// the age is tracked at the granularity of one mark per period.
const (
	tombstoneTTL         = 15 * time.Minute
	tombstoneGranularity = 30 * time.Second
)

// sessionTTLMultiplier: a session is invalidated this many TTLs after its
// last renewal (Consul's SessionTTLMultiplier), to tolerate a late renewal.
const sessionTTLMultiplier = 2

// sessionTimers are the leader's session TTL timers.
type sessionTimers struct {
	a       *Agent
	mu      sync.Mutex
	timers  map[string]*time.Timer // session ID → its expiry
	stopped bool
}

func newSessionTimers(a *Agent) *sessionTimers {
	return &sessionTimers{a: a, timers: map[string]*time.Timer{}}
}

// reset (re)starts a session's timer: at creation and at each renewal.
func (s *sessionTimers) reset(id string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if t := s.timers[id]; t != nil {
		t.Stop()
	}
	s.timers[id] = time.AfterFunc(sessionTTLMultiplier*ttl, func() { s.expire(id) })
}

// expire invalidates a session whose TTL ran out.
func (s *sessionTimers) expire(id string) {
	s.mu.Lock()
	delete(s.timers, id)
	stopped := s.stopped
	s.mu.Unlock()
	if stopped || s.a.store.snapshot().session(id) == nil {
		return
	}
	s.a.logger.Info("session TTL expired", "session", id)
	if _, err := s.a.apply(s.a.lifetime(), &command{Type: cmdSession, Session: &sessionRequest{DestroyID: id}}); err != nil {
		s.a.logger.Warn("invalidating an expired session failed", "session", id, "error", err)
	}
}

// clear drops a session's timer (the session was destroyed).
func (s *sessionTimers) clear(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.timers[id]; t != nil {
		t.Stop()
		delete(s.timers, id)
	}
}

// rebuild gives every session with a TTL in the current state a full timer.
func (s *sessionTimers) rebuild() {
	for _, sess := range s.a.store.snapshot().sessionList("") {
		if ttl, err := time.ParseDuration(sess.TTL); err == nil {
			s.reset(sess.ID, ttl)
		}
	}
}

// clearAll drops every timer: this server no longer leads.
func (s *sessionTimers) clearAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
}

func (s *sessionTimers) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
}

// tombstoneAges tells which tombstones are older than the TTL without a
// clock in the store: it remembers the log index at each tick, and once a
// remembered tick is a TTL old, every tombstone at or below its index is too.
type tombstoneAges struct {
	ttl   time.Duration
	marks []tombstoneMark
}

type tombstoneMark struct {
	at    time.Time
	index uint64
}

// tick records the index at now and returns the highest index whose
// tombstones may be reaped (0: none yet).
func (g *tombstoneAges) tick(now time.Time, index uint64) (reapTo uint64) {
	g.marks = append(g.marks, tombstoneMark{now, index})
	for len(g.marks) > 0 && now.Sub(g.marks[0].at) >= g.ttl {
		reapTo = g.marks[0].index
		g.marks = g.marks[1:]
	}
	return reapTo
}

// reapTombstones is the leader's tombstone GC: each granularity period it
// reaps, through the log like any other write, the tombstones older than
// the TTL.
func (a *Agent) reapTombstones() {
	ages := &tombstoneAges{ttl: tombstoneTTL}
	tick := time.NewTicker(tombstoneGranularity)
	defer tick.Stop()
	for {
		select {
		case <-a.shutdownCh:
			return
		case now := <-tick.C:
			if !a.raft.isLeader() {
				ages = &tombstoneAges{ttl: tombstoneTTL} // a new leader starts counting afresh
				continue
			}
			reapTo := ages.tick(now, a.store.snapshot().index)
			if reapTo > 0 && hasTombstonesUpTo(a.store.snapshot(), reapTo) {
				if _, err := a.apply(a.lifetime(), &command{Type: cmdReapTombstones, ReapIndex: reapTo}); err != nil {
					a.logger.Warn("tombstone reap failed", "error", err)
				}
			}
		}
	}
}

func hasTombstonesUpTo(st *state, idx uint64) bool {
	found := false
	st.tombstones.each(func(_ string, at uint64) bool {
		found = at <= idx
		return !found
	})
	return found
}

// --- reconciling the LAN pool into the catalog ---

// Every alive member is a node with a passing serfHealth check, a failed
// one's serfHealth turns critical (so its services drop out of ?passing and
// DNS, and its sessions are invalidated), and a member that left, or was
// reaped, is deregistered. handleLANEvents (serf_lan.go) calls
// reconcileMember for each membership event; the leader also reconciles
// the whole pool when it takes office and every reconcileInterval, which
// repairs any event it missed.

// reconcileAll reconciles every member of the pool into the catalog, and
// deregisters the nodes the pool no longer knows (reaped while no leader
// was watching; Consul's reconcileReaped). Only nodes with a serfHealth
// check are the pool's: a node registered through /v1/catalog/register is
// left alone. A pool younger than reconcileInterval may not have heard of
// every member yet (it keeps no state across restarts, unlike Serf's
// snapshot), so it reaps nothing.
func (a *Agent) reconcileAll() {
	defer a.metrics.leaderReconcile.measureSince(time.Now())
	known := map[string]bool{}
	for _, m := range a.lan().Members() {
		known[m.Name] = true
		a.reconcileMember(m, 0)
	}
	if a.lan().now() < reconcileInterval {
		return
	}
	st := a.store.snapshot()
	for _, n := range st.nodeList() {
		if known[n.Node] {
			continue
		}
		for _, c := range st.nodeChecks(n.Node) {
			if c.CheckID == serfHealthID {
				a.reconcileMember(swimMember{Name: n.Node, State: swimLeft, Tags: map[string]string{"dc": a.cfg.Datacenter}}, swimEventReap)
				break
			}
		}
	}
}

// reconcileMember makes the catalog agree with what the pool says of one
// member (Consul's leader: handleAliveMember, handleFailedMember,
// handleLeftMember).
func (a *Agent) reconcileMember(m swimMember, ev swimEventType) {
	if m.Tags["dc"] != a.cfg.Datacenter || m.Name == "" {
		return
	}
	st := a.store.snapshot()
	var err error
	switch {
	case ev == swimEventReap || m.State == swimLeft:
		if st.node(m.Name) == nil {
			return
		}
		a.logger.Info("member left: deregistering its node", "node", m.Name)
		_, err = a.apply(a.lifetime(), &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: m.Name}})
	case m.State == swimAlive:
		err = a.setSerfHealth(st, m, healthPassing, "Agent alive and reachable")
	case m.State == swimFailed:
		err = a.setSerfHealth(st, m, healthCritical, "Agent not live or unreachable")
	}
	if err != nil && !isUnavailable(err) {
		a.logger.Warn("reconciling a member into the catalog failed", "node", m.Name, "error", err)
	}
}

// setSerfHealth registers the member's node if the catalog lacks it, and
// sets its serfHealth check, unless it already says so.
func (a *Agent) setSerfHealth(st *state, m swimMember, status, output string) error {
	for _, c := range st.nodeChecks(m.Name) {
		if c.CheckID == serfHealthID && c.Status == status {
			return nil
		}
	}
	host, _, _ := net.SplitHostPort(m.Addr)
	req := &RegisterRequest{
		Datacenter: a.cfg.Datacenter, ID: m.Tags["id"], Node: m.Name, Address: host, SkipNodeUpdate: true,
		Check: &HealthCheck{CheckID: serfHealthID, Name: "Serf Health Status", Status: status, Output: output},
	}
	if status == healthCritical {
		a.logger.Warn("member failed: its serfHealth is critical", "node", m.Name)
	}
	res, err := a.apply(a.lifetime(), &command{Type: cmdRegister, Register: req})
	if err == nil {
		err = res.err
	}
	return err
}
