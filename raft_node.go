// raft_node.go: the Raft driver, which gives the pure core (raft.go) a
// clock, a disk, a network and a state machine.
//
// Data flow of one write on the leader: Agent.apply calls raftNode.apply
// with an encoded command; the proposal waits in proposeCh; the loop takes
// every proposal queued (group commit: one batch, one fsync), hands them to
// core.propose, and runs handleReady:
//
//  1. AppendEntries to the followers go out at once (dissertation §10.2.1:
//     the leader writes its own log in parallel with theirs);
//  2. the term, vote and new entries are made durable (raft_wal.go: fsync);
//  3. every other message goes out: votes and acknowledgements promise
//     durable state, so they wait for step 2 (Raft §5.1);
//  4. committed entries are applied to the store, in order, and the
//     proposal whose index and term match gets the store's result; one
//     whose index was committed with another term was lost to a new leader.
//
// A follower runs the same loop: entries arrive in msgApp, are persisted,
// acknowledged, and applied once the leader's commit index covers them.
//
// Snapshots (Raft §7): every SnapshotThreshold applied entries the loop
// takes the store's current state (immutable, so free to take) and a
// goroutine writes it to disk while writes go on; then the wal drops the
// covered segments and the core the covered entries, less a trailing
// window. A follower too far behind gets the snapshot file in chunks
// (raft_snapshot.go); a user's snapshot is restored as one (raft_restore.go).
// A storage failure stops the node for good (fail), and the agent exits.
//
// This file is the driver loop and its API; the rest of the driver lives
// beside it: the codec of its messages (raft_wire.go), its storage
// (raftStorage, raft_storage.go; the wal, raft_wal.go), snapshots taken,
// loaded and sent (raft_snapshot.go), user snapshot restores
// (raft_restore.go), and the log of refused messages (raft_admit.go).
//
// Concurrency: the loop goroutine (run) owns the core, the storage, the
// pending proposals and reads; everything else talks to it through
// channels, and reads its published status through an atomic pointer. The
// log of dropped messages (raftDropLog) has its own mutex: the network's
// reader goroutines log undecodable frames in it too.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// raftFSM is the replicated state machine: the store.
type raftFSM interface {
	// apply applies one committed entry (a command, or a no-op or
	// configuration entry, which only advance the index) and returns the
	// result for the proposer.
	apply(e raftEntry) any
	// snapshot returns the state as of the last entry applied: its index,
	// and a function that writes it (called on another goroutine while
	// entries go on being applied).
	snapshot() (index uint64, write func(io.Writer) error)
	// read reads a snapshot into a state for install, on any goroutine.
	read(r io.Reader) (any, error)
	// install replaces the state with one read, as of log index index.
	install(st any, index uint64)
}

// raftTransport carries messages to other servers; it may drop them.
// Snapshot chunks go as calls, apart from the message stream, so that
// heartbeats never wait behind a snapshot.
type raftTransport interface {
	send(addr string, payload []byte) bool
	sendChunk(ctx context.Context, addr string, payload []byte) error
}

var (
	errLeadershipLost = errors.New("leadership lost while committing log")
	errRaftStopped    = errors.New("raft is shut down")
	errNoLeader       = errors.New("No cluster leader")
)

// raftNodeConfig configures a node.
type raftNodeConfig struct {
	ID, Address       string
	Tick              time.Duration // 100 ms × raft_multiplier
	SnapshotThreshold uint64        // take a snapshot after this many entries (default 16384)
	TrailingLogs      uint64        // entries kept after a snapshot (default 10240)
	SpoolDir          string        // where snapshots being received or restored are written
	Logger            *slog.Logger
	Timeline          *timeline    // the agent's, for the teaching view (raft_observe.go); nil: none
	Metrics           *raftMetrics // agent_metrics.go; nil: none
}

type raftProposal struct {
	data   []byte
	config *raftConfiguration // a membership change instead of a command
	index  uint64
	term   uint64
	result any
	err    error
	done   chan struct{}
	start  time.Time // when the leader's core took it (raft.commitTime)
}

type raftRead struct {
	lease bool
	index uint64
	err   error
	done  chan struct{}
}

type appliedWaiter struct {
	index uint64
	done  chan struct{}
}

type raftNode struct {
	cfg       raftNodeConfig
	logger    *slog.Logger
	metrics   *raftMetrics
	storage   raftStorage
	fsm       raftFSM
	transport raftTransport

	core         *raftCore
	inbox        chan raftMessage
	proposeCh    chan *raftProposal
	readCh       chan *raftRead
	adminCh      chan func()
	snapDoneCh   chan snapResult
	kickCh       chan struct{} // more committed entries to apply: run the loop again
	stopCh       chan struct{}
	doneCh       chan struct{}
	failedCh     chan struct{} // closed when the storage failed (fail)
	failure      error         // why; written before failedCh closes
	stopOnce     sync.Once
	status       atomic.Pointer[raftStatus]
	changedCh    atomic.Pointer[chan struct{}] // closed when the role, term or leader changes
	lastContact  atomic.Int64                  // Unix nanoseconds of the last message from the leader
	snapIndexPub atomic.Uint64                 // snapIndex, for other goroutines (the tests' compactedTo)
	appliedPub   atomic.Uint64                 // appliedIndex, for other goroutines
	// Lease reads without a trip through the loop (readIndex): commitPub is
	// the core's commit index, stored before any proposal at or below it is
	// answered; leaseUntil, while this leader's lease holds, when it ends,
	// in nanoseconds since epoch on the monotonic clock (0: no lease;
	// publishLease).
	commitPub  atomic.Uint64
	leaseUntil atomic.Int64
	epoch      time.Time

	// Owned by the loop.
	addrs        map[string]string // server ID → address, from configurations and messages
	pending      map[uint64]*raftProposal
	reads        map[uint64]*raftRead
	nextReadID   uint64
	waiters      []appliedWaiter
	appliedIndex uint64
	snapIndex    uint64 // the newest durable snapshot
	snapshotting bool
	appliedBytes int                      // entry data applied since the newest snapshot was taken
	lastTick     time.Time                // when the core's last tick was due
	chunks       map[string]*snapAssembly // snapshots arriving, by sender; not the loop's: guarded by chunksMu
	chunksMu     sync.Mutex               // one chunk at a time (raft_snapshot.go)
	peerContact  map[string]time.Time     // leader: server ID → when its last answer arrived (peerStats)
	dropLog      raftDropLog              // messages refused, logged per sender (also from receive's goroutines)
	obs          raftObserver             // the teaching view's events and pause (raft_observe.go)
}

// newRaftNode starts a node from what storage holds (st) and fsm (already
// restored from st's snapshot, if any).
func newRaftNode(cfg raftNodeConfig, st raftRestored, storage raftStorage, fsm raftFSM, tr raftTransport) *raftNode {
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 16384
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 10240
	}
	n := &raftNode{
		cfg: cfg, logger: cfg.Logger, storage: storage, fsm: fsm, transport: tr,
		inbox: make(chan raftMessage, 4096), proposeCh: make(chan *raftProposal, 4096),
		readCh: make(chan *raftRead, 1024), adminCh: make(chan func()),
		snapDoneCh: make(chan snapResult, 1), kickCh: make(chan struct{}, 1), stopCh: make(chan struct{}), doneCh: make(chan struct{}), failedCh: make(chan struct{}),
		addrs: map[string]string{}, pending: map[uint64]*raftProposal{}, reads: map[uint64]*raftRead{},
		chunks: map[string]*snapAssembly{}, peerContact: map[string]time.Time{}, appliedIndex: st.AppliedIndex, snapIndex: st.SnapIndex,
		epoch: time.Now(),
	}
	if n.metrics = cfg.Metrics; n.metrics == nil {
		n.metrics = newRaftMetrics(nil)
	}
	n.core = newRaftCore(raftCoreConfig{
		ID: cfg.ID, ElectionTicks: 10, HeartbeatTicks: 1, LeaseTicks: 5, TrailingLogs: cfg.TrailingLogs,
		Rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), Logger: cfg.Logger,
	}, st)
	n.obs.timeline = cfg.Timeline
	n.appliedPub.Store(n.appliedIndex)
	n.learnAddrs(n.core.config)
	n.addrs[cfg.ID] = cfg.Address
	n.publish()
	go n.run()
	return n
}

// --- the API, for any goroutine ---

// apply replicates one command and returns the store's result once it is
// committed and applied. Only the leader takes proposals (errNotLeader).
func (n *raftNode) apply(ctx context.Context, data []byte) (any, error) {
	return n.propose(ctx, &raftProposal{data: data})
}

func (n *raftNode) propose(ctx context.Context, p *raftProposal) (any, error) {
	p.done = make(chan struct{})
	select {
	case n.proposeCh <- p:
	case <-n.stopCh:
		return nil, errRaftStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-p.done:
		return p.result, p.err
	case <-n.stopCh:
		return nil, errRaftStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// changeConfig proposes the configuration that change makes of the current
// one, and waits until it is committed.
//
// Changes go one at a time (dissertation §4.1): while another is pending
// (autopilot promoting a server, say), this one waits for it to commit and
// is then worked out again from the configuration that results.
func (n *raftNode) changeConfig(ctx context.Context, change func(raftConfiguration) (raftConfiguration, error)) error {
	for {
		changed := n.changed()
		var next raftConfiguration
		var err error
		if e := n.onLoop(ctx, func() { next, err = change(n.core.config.clone()) }); e != nil {
			return e
		}
		if err != nil {
			return err
		}
		if _, err = n.propose(ctx, &raftProposal{config: &next}); !errors.Is(err, errConfigPending) {
			return err
		}
		select {
		case <-changed:
		case <-time.After(n.cfg.Tick):
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stopCh:
			return errRaftStopped
		}
	}
}

// readIndex returns an index that a linearizable read must wait for
// (dissertation §6.4): the leader's commit index, once the leader has
// confirmed it still leads, by its lease (lease) or by a quorum round.
func (n *raftNode) readIndex(ctx context.Context, lease bool) (uint64, error) {
	if until := n.leaseUntil.Load(); lease && until > 0 && int64(time.Since(n.epoch)) < until {
		// The lease holds: the commit index answers, as the core would
		// (raft_read.go), without the loop.
		return n.commitPub.Load(), nil
	}
	rq := &raftRead{lease: lease, done: make(chan struct{})}
	select {
	case n.readCh <- rq:
	case <-n.stopCh:
		return 0, errRaftStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case <-rq.done:
		return rq.index, rq.err
	case <-n.stopCh:
		return 0, errRaftStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// waitApplied returns once the store has applied index.
func (n *raftNode) waitApplied(ctx context.Context, index uint64) error {
	if n.appliedPub.Load() >= index {
		return nil // the common case: no trip through the loop
	}
	w := appliedWaiter{index: index, done: make(chan struct{})}
	if err := n.onLoop(ctx, func() {
		if n.appliedIndex >= index {
			close(w.done)
		} else {
			n.waiters = append(n.waiters, w)
		}
	}); err != nil {
		return err
	}
	select {
	case <-w.done:
		return nil
	case <-n.stopCh:
		return errRaftStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transferLeadership hands leadership to the server with id, or to the most
// up-to-date other voter when id is "" (dissertation §3.10), and waits, as
// Consul's transfer does (hashicorp/raft's LeadershipTransfer future),
// until another server leads and this one has heard of it: a caller that
// asks for the leader next sees the new one. The core gives a transfer an
// election timeout; past four it has failed.
func (n *raftNode) transferLeadership(ctx context.Context, id string) error {
	if err := n.startTransfer(ctx, id); err != nil {
		return err
	}
	giveUp := time.NewTimer(4 * time.Duration(n.core.cfg.ElectionTicks) * n.cfg.Tick)
	defer giveUp.Stop()
	for {
		changed := n.changed()
		if st := n.raftStatus(); st.Role != roleLeader && st.Leader != "" && st.Leader != st.ID {
			return nil
		}
		select {
		case <-changed:
		case <-giveUp.C:
			return errors.New("leadership transfer timeout")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startTransfer starts the core's leadership transfer on the loop.
func (n *raftNode) startTransfer(ctx context.Context, id string) error {
	var err error
	if e := n.onLoop(ctx, func() {
		if id == "" {
			var best uint64
			for pid, pr := range n.core.progress {
				if !n.core.config.hasVoter(pid) {
					continue // a non-voter cannot be elected
				}
				if id == "" || pr.match > best {
					id, best = pid, pr.match
				}
			}
			if id == "" {
				err = errors.New("cannot find peer") // Consul's (hashicorp/raft's) words: no other voter to transfer to
				return
			}
		}
		err = n.core.transferLeadership(id)
	}); e != nil {
		return e
	}
	return err
}

// bootstrap gives a new server its first configuration.
func (n *raftNode) bootstrap(c raftConfiguration) error {
	var err error
	if e := n.onLoop(context.Background(), func() {
		err = n.core.bootstrap(c)
		n.learnAddrs(c)
		n.publish() // the caller may look at the configuration at once
	}); e != nil {
		return e
	}
	return err
}

// onLoop runs f on the loop goroutine and waits for it.
func (n *raftNode) onLoop(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case n.adminCh <- func() { f(); close(done) }:
	case <-n.stopCh:
		return errRaftStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-n.stopCh:
		return errRaftStopped
	}
}

// raftStatus returns the status the loop last published.
func (n *raftNode) raftStatus() raftStatus { return *n.status.Load() }

// leaderAddr is the address of the leader this server knows, or "".
func (n *raftNode) leaderAddr() string {
	st := n.raftStatus()
	if st.Leader == "" {
		return ""
	}
	if s, ok := st.Config.server(st.Leader); ok {
		return s.Address
	}
	return ""
}

func (n *raftNode) isLeader() bool { return n.raftStatus().Role == roleLeader }

// sinceContact is how long ago this server last heard from the leader (0 on
// the leader itself), as X-Consul-LastContact reports it.
func (n *raftNode) sinceContact() time.Duration {
	if n.isLeader() {
		return 0
	}
	last := n.lastContact.Load()
	if last == 0 {
		return 0
	}
	return time.Since(time.Unix(0, last))
}

// receive takes one frame from the network, from a connection from
// remote. It never blocks: when the inbox is full the frame is dropped, as
// a lossy network would.
func (n *raftNode) receive(remote string, payload []byte) {
	m, chunk, err := decodeRaftFrame(payload)
	if err != nil {
		n.dropLog.log(n.logger, time.Now(), "", remote, "dropping a bad raft frame", "error", err)
		return
	}
	if chunk != nil {
		n.logger.Warn("dropping a snapshot chunk sent on the message stream", "from", chunk.From, "remote", remote)
		return
	}
	m.Remote = remote
	select {
	case n.inbox <- m:
	default:
	}
}

func (n *raftNode) stop() {
	n.stopOnce.Do(func() { close(n.stopCh) })
	<-n.doneCh
}

// --- the loop ---

func (n *raftNode) run() {
	defer close(n.doneCh)
	defer n.failAll(errRaftStopped)
	ticker := time.NewTicker(n.cfg.Tick)
	defer ticker.Stop()
	n.lastTick = time.Now()
	n.handleReady()
	for {
		var handle func()
		select {
		case <-n.stopCh:
			return
		case <-ticker.C:
			handle = func() {}
		case m := <-n.inbox:
			handle = func() { n.stepMessage(m) }
		case p := <-n.proposeCh:
			handle = func() { n.proposeBatch(p) }
		case rq := <-n.readCh:
			handle = func() { n.startRead(rq) }
		case f := <-n.adminCh:
			handle = f
		case res := <-n.snapDoneCh:
			handle = func() { n.snapshotDone(res) }
		case <-n.kickCh:
			handle = func() {}
		}
		n.catchUpTicks()
		handle()
		// Group commit: take whatever else is queued before one ready.
	drain:
		for range 1024 {
			select {
			case m := <-n.inbox:
				n.stepMessage(m)
			case p := <-n.proposeCh:
				n.proposeBatch(p)
			case rq := <-n.readCh:
				n.startRead(rq)
			default:
				break drain
			}
		}
		n.handleReady()
	}
}

// catchUpTicks gives the core one tick per tick interval elapsed on the
// monotonic clock, before anything else is handled. A ticker drops ticks
// when its reader is slow; a process paused for seconds (a GC pause, a
// stalled VM) would then wake believing little time had passed, and serve
// lease reads on a lease that ran out while it slept (dissertation §6.4.1).
func (n *raftNode) catchUpTicks() {
	due := time.Since(n.lastTick) / n.cfg.Tick
	if due > 1000 {
		n.lastTick = time.Now().Add(-1000 * n.cfg.Tick)
		due = 1000
	}
	for ; due > 0; due-- {
		n.core.tick()
		n.lastTick = n.lastTick.Add(n.cfg.Tick)
	}
}

func (n *raftNode) stepMessage(m raftMessage) {
	contact := m.Term >= n.core.term && (m.Type == msgApp || m.Type == msgHeartbeat || m.Type == msgSnap)
	if err := n.core.step(m); err != nil {
		n.dropped(m, err)
		return
	}
	n.observeStep(m)
	if m.FromAddr != "" {
		n.addrs[m.From] = m.FromAddr
	}
	if contact {
		n.lastContact.Store(time.Now().UnixNano())
	}
	if n.core.role == roleLeader && m.Term == n.core.term && (m.Type == msgAppResp || m.Type == msgHeartbeatResp) {
		now := time.Now()
		if prev, ok := n.peerContact[m.From]; ok {
			n.metrics.lastContact.observe(float64(now.Sub(prev))/float64(time.Millisecond), now)
		}
		n.peerContact[m.From] = now
	}
}

// proposeBatch hands p and every other queued proposal to the core.
func (n *raftNode) proposeBatch(p *raftProposal) {
	batch := []*raftProposal{p}
	for len(batch) < 1024 {
		select {
		case q := <-n.proposeCh:
			batch = append(batch, q)
			continue
		default:
		}
		break
	}
	var cmds []*raftProposal
	var datas [][]byte
	for _, q := range batch {
		if q.config != nil {
			i, err := n.core.proposeConfig(*q.config)
			n.track(q, i, err)
			continue
		}
		cmds = append(cmds, q)
		datas = append(datas, q.data)
	}
	if len(cmds) == 0 {
		return
	}
	first, _, err := n.core.propose(datas)
	now := time.Now()
	for k, q := range cmds {
		q.start = now
		if err == nil {
			n.metrics.apply.inc()
		}
		n.track(q, first+uint64(k), err)
	}
}

func (n *raftNode) track(p *raftProposal, index uint64, err error) {
	if err != nil {
		p.err = err
		close(p.done)
		return
	}
	p.index, p.term = index, n.core.term
	n.pending[index] = p
}

func (n *raftNode) startRead(rq *raftRead) {
	n.nextReadID++
	n.reads[n.nextReadID] = rq
	n.core.readIndex(n.nextReadID, rq.lease)
}

// handleReady carries out a ready, in the order of raft.go's contract.
func (n *raftNode) handleReady() {
	start := time.Now()
	for {
		if n.core.applyPending() && time.Since(start) > applyBudget {
			// Long catch-up: let the loop tick and take messages, and come
			// back at once (kickCh).
			select {
			case n.kickCh <- struct{}{}:
			default:
			}
			break
		}
		rd := n.core.ready()
		n.publishLease() // before a TimeoutNow in rd goes out, the lease is gone
		if rd.empty() {
			break
		}
		n.observeReady(&rd)
		var later []raftMessage
		for _, m := range rd.Messages {
			if m.Type == msgApp || m.Type == msgHeartbeat {
				n.sendMessage(m)
			} else {
				later = append(later, m)
			}
		}
		if err := n.persist(&rd); err != nil {
			n.fail(err)
			return
		}
		for _, m := range later {
			n.sendMessage(m)
		}
		n.applyCommitted(rd.Committed)
		for _, rs := range rd.Reads {
			rq := n.reads[rs.ID]
			delete(n.reads, rs.ID)
			if rq == nil {
				continue
			}
			if rs.Failed {
				rq.err = errNotLeader
			}
			rq.index = rs.Index
			close(rq.done)
		}
	}
	n.maybeSnapshot()
	n.publish()
}

// fail stops the node for good: its storage failed, so the disk no longer
// holds what the core believes, and it must not acknowledge what may not
// be durable. It leaves leadership at once (the published status says
// follower, no leader), and failed() tells the agent, which exits so that
// the others elect a leader and a supervisor restarts it.
func (n *raftNode) fail(err error) {
	select {
	case <-n.failedCh:
		return // already stopped
	default:
	}
	n.logger.Error("raft storage failed: stopping", "error", err)
	n.core.becomeFollower(n.core.term, "")
	n.publish()
	n.failure = err
	close(n.failedCh)
	n.failAll(err)
	n.stopOnce.Do(func() { close(n.stopCh) })
}

// failed is closed when the storage failed; failure then says why.
func (n *raftNode) failed() <-chan struct{} { return n.failedCh }

func (n *raftNode) persist(rd *raftReady) error {
	if rd.HardStateChanged {
		if err := n.storage.setHardState(rd.HardState); err != nil {
			return err
		}
	}
	if sn := rd.Snapshot; sn != nil {
		if err := n.installSnapshot(sn); err != nil {
			return err
		}
	}
	return n.storage.append(rd.Entries)
}

func (n *raftNode) applyCommitted(es []raftEntry) {
	for _, e := range es {
		start := time.Now()
		res := n.fsm.apply(e)
		n.metrics.fsmApply.measureSince(start)
		n.appliedIndex = e.Index
		n.appliedBytes += len(e.Data)
		if e.Type == raftEntryConfig {
			if c, err := decodeConfiguration(e.Data); err == nil {
				n.learnAddrs(c)
			}
		}
		p := n.pending[e.Index]
		if p == nil {
			continue
		}
		delete(n.pending, e.Index)
		if p.term != e.Term {
			p.err = errLeadershipLost
		} else {
			p.result = res
			if !p.start.IsZero() {
				n.metrics.commitTime.measureSince(p.start)
			}
		}
		close(p.done)
	}
	if len(es) > 0 {
		n.wakeWaiters()
	}
}

func (n *raftNode) wakeWaiters() {
	n.appliedPub.Store(n.appliedIndex)
	kept := n.waiters[:0]
	for _, w := range n.waiters {
		if w.index <= n.appliedIndex {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	n.waiters = kept
}

func (n *raftNode) learnAddrs(c raftConfiguration) {
	for _, s := range c.Servers {
		n.addrs[s.ID] = s.Address
	}
}

// failAll fails every pending proposal and read (the loop is stopping).
func (n *raftNode) failAll(err error) {
	for i, p := range n.pending {
		p.err = err
		close(p.done)
		delete(n.pending, i)
	}
	for id, rq := range n.reads {
		rq.err = err
		close(rq.done)
		delete(n.reads, id)
	}
}

// publishLease publishes the commit index and how long lease reads may use
// it (raftCore.leaseReadTicks): until the tick that ends the lease, counted
// from the one the core last took (catchUpTicks).
func (n *raftNode) publishLease() {
	n.commitPub.Store(n.core.commit)
	var until int64
	if ticks := n.core.leaseReadTicks(); ticks > 0 {
		until = max(int64(n.lastTick.Add(time.Duration(ticks)*n.cfg.Tick).Sub(n.epoch)), 1)
	}
	n.leaseUntil.Store(until)
}

func (n *raftNode) publish() {
	n.publishLease()
	n.snapIndexPub.Store(n.snapIndex)
	st := n.core.status()
	old := n.status.Swap(&st)
	n.observeStatus(old, &st)
	if old == nil || old.Role != st.Role || old.Term != st.Term || old.Leader != st.Leader ||
		len(old.Config.Servers) != len(st.Config.Servers) || old.Config.voters() != st.Config.voters() {
		if old != nil && old.Role != st.Role {
			// The core narrates elections; a follower, whom it follows.
			n.logger.Debug("raft role changed", "role", st.Role.String(), "term", st.Term)
		}
		if (old == nil || old.Role != st.Role) && st.Role == roleLeader {
			n.metrics.stateLeader.inc()
		}
		if (old == nil || old.Role != roleCandidate || old.Term != st.Term) && st.Role == roleCandidate {
			n.metrics.stateCandidate.inc() // an election started
		}
		if old != nil && old.Leader != st.Leader && st.Role != roleLeader {
			n.narrateLeader(old, &st)
		}
		if old != nil && old.Role == roleLeader && st.Role != roleLeader {
			// What it proposed may yet be committed by the next leader, or
			// not: the callers learn that they cannot know, as Consul's do.
			for i, p := range n.pending {
				p.err = errLeadershipLost
				close(p.done)
				delete(n.pending, i)
			}
		}
		ch := make(chan struct{})
		if prev := n.changedCh.Swap(&ch); prev != nil {
			close(*prev)
		}
	}
}

// changed returns a channel closed at the next change of role, term,
// leader, configuration size or number of voters.
func (n *raftNode) changed() <-chan struct{} { return *n.changedCh.Load() }

func (n *raftNode) sendMessage(m raftMessage) {
	addr := n.addrs[m.To]
	if addr == "" {
		return
	}
	if m.Type == msgSnap {
		n.sendSnapshot(m, addr)
		return
	}
	m.FromAddr = n.cfg.Address
	n.transport.send(addr, encodeRaftMessage(nil, &m))
}

// applyBudget: how long one pass of the loop applies committed entries
// before it looks at its clock and its inbox again.
const applyBudget = 50 * time.Millisecond
