// raft.go: the Raft consensus core, which orders every write of the
// servers of a datacenter into one replicated log.
//
// It follows the Raft paper (Ongaro & Ousterhout, 2014, cited as "Raft §n")
// and Ongaro's dissertation ("Consensus: Bridging Theory and Practice",
// 2014, cited as "dissertation §n"): leader election (§5.2) with the
// election restriction (§5.4.1), pre-vote and check-quorum (dissertation
// §9.6), log replication with the consistency check and fast back-off
// (§5.3), commitment by counting replicas of current-term entries only
// (§5.4.2), snapshots (§7), single-server membership changes (dissertation
// §4.1) with non-voting members that catch up before they count
// (dissertation §4.2.1), leadership transfer (dissertation §3.10) and
// linearizable reads by read index, or by a leader lease (dissertation
// §6.4).
//
// The core is a pure state machine, as in etcd's raft: no goroutines, no
// clock, no I/O, no lock. It is driven by three inputs,
//
//	tick()        one unit of logical time (raftNode ticks every 100 ms × raft_multiplier)
//	step(m)       a message from another server (if admitted: raft_admit.go)
//	propose(…)    a client command, a membership change, a read request
//
// and it answers through ready(), which returns what the driver must do, in
// this order (the contract raft_node.go keeps):
//
//  1. persist the hard state (term, vote, commit) and the new entries, and
//     any snapshot received: durable before anything that depends on it is
//     sent (Raft §5.1: a server answers an RPC only after updating its
//     stable storage). A leader's own AppendEntries may go out before its
//     own write finishes (dissertation §10.2.1): the leader counts itself
//     towards a commit only in a later step, which the driver runs after
//     the write.
//  2. send the messages;
//  3. apply the committed entries to the state machine, in log order.
//
// Before step takes a message, admit (raft_admit.go) checks that it comes
// from a server of the latest configuration and that its term is below
// maxRaftTerm (2^62): a term is never adopted, nor campaigned into, that
// could make term+1 wrap around.
//
// Because the core has no clock and takes its randomness from the rand it
// is given, a test can run a whole cluster in one goroutine, message by
// message, and replay any run from its seed (raft_test.go).
//
// The core spans several files, all of them pure like this one: raft.go
// holds its types, step and the elections (becomeX, tick, votes),
// proposals and ready; raft_log.go the log held in memory; raft_replication.go
// the leader's replication to each follower and AppendEntries on the
// follower; raft_read.go heartbeat rounds, leases, read index and
// leadership transfer; raft_admit.go the admission check before step;
// raft_suffrage.go who votes; raft_restore.go the core's part of a user's
// snapshot restore. The driver that runs it is raft_node.go.
//
// Concurrency: none; the core is owned by the one goroutine that drives it
// (the Raft loop in raft_node.go, or a test).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
)

// raftEntryType says what a log entry holds; the Raft core defines the kinds.
type raftEntryType uint8

// raftEntry is one entry of the replicated log: a store command (or a Raft
// no-op or configuration change) at an index, from a leader's term.
type raftEntry struct {
	Index, Term uint64
	Type        raftEntryType
	Data        []byte
}

// raftHardState is what a server must not forget across a crash: its
// currentTerm, whom it voted for in it, and how far it knows the log is
// committed.
type raftHardState struct {
	Term   uint64
	Vote   string
	Commit uint64
}

// The kinds of log entries.
const (
	raftEntryCommand raftEntryType = 1 // a store command (store.go's command, encoded)
	raftEntryNoop    raftEntryType = 2 // appended by a new leader to commit its term (Raft §5.4.2, §8)
	raftEntryConfig  raftEntryType = 3 // a raftConfiguration: the members from this entry on (dissertation §4.1)
)

// raftServer is one member of the cluster.
type raftServer struct {
	ID      string // the server's node ID
	Node    string // its node name
	Address string // its server RPC address, host:port
	// NonVoter: the leader replicates the log to it, but it counts in no
	// quorum (commit, elections, read index, lease, check-quorum) and never
	// campaigns: a new server catches up this way before it is promoted
	// (dissertation §4.2.1; hashicorp/raft's Nonvoter). Absent in the JSON
	// of configurations written before it existed: a voter.
	NonVoter bool `json:",omitempty"`
}

// raftConfiguration is the set of servers, voting or not.
type raftConfiguration struct {
	Servers []raftServer
}

func (c raftConfiguration) has(id string) bool {
	return slices.ContainsFunc(c.Servers, func(s raftServer) bool { return s.ID == id })
}

func (c raftConfiguration) server(id string) (raftServer, bool) {
	i := slices.IndexFunc(c.Servers, func(s raftServer) bool { return s.ID == id })
	if i < 0 {
		return raftServer{}, false
	}
	return c.Servers[i], true
}

func (c raftConfiguration) clone() raftConfiguration {
	return raftConfiguration{Servers: slices.Clone(c.Servers)}
}

func encodeConfiguration(c raftConfiguration) []byte {
	b, _ := json.Marshal(c)
	return b
}

func decodeConfiguration(b []byte) (raftConfiguration, error) {
	var c raftConfiguration
	err := json.Unmarshal(b, &c)
	return c, err
}

type raftRole uint8

const (
	roleFollower raftRole = iota
	rolePreCandidate
	roleCandidate
	roleLeader
)

func (r raftRole) String() string {
	return [...]string{"follower", "pre-candidate", "candidate", "leader"}[r]
}

type raftMsgType uint8

const (
	msgPreVote raftMsgType = iota + 1
	msgPreVoteResp
	msgVote
	msgVoteResp
	msgApp // AppendEntries (Raft §5.3)
	msgAppResp
	msgHeartbeat // an AppendEntries without entries, carrying only the commit index and Seq
	msgHeartbeatResp
	msgSnap       // InstallSnapshot (Raft §7); the transport carries Snapshot.Data in chunks
	msgTimeoutNow // leadership transfer: start an election now (dissertation §3.10)
	msgSnapStatus // local, from the driver: a snapshot send to From finished (Reject if it failed)
	maxRaftMsgType
)

func (t raftMsgType) String() string {
	names := [...]string{"?", "PreVote", "PreVoteResp", "Vote", "VoteResp", "App", "AppResp",
		"Heartbeat", "HeartbeatResp", "Snap", "TimeoutNow", "SnapStatus"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("msg(%d)", t)
}

// raftMessage is every message between servers: the requests and responses
// of the paper's RPCs, as one-way messages (responses are matched by content,
// not by call), so a transport may drop, delay or reorder any of them.
type raftMessage struct {
	Type     raftMsgType
	From, To string
	FromAddr string // the sender's address, set by the driver; the core ignores it
	Remote   string // the connection it arrived on, set by the receiving driver; not sent
	Term     uint64
	// Votes: the candidate's last log index and term. App: prevLogIndex and
	// prevLogTerm. AppResp: the prevLogIndex it answers.
	LogIndex, LogTerm uint64
	Entries           []raftEntry
	Commit            uint64
	// Seq is the leader's round number, echoed in responses: a response to
	// round s proves the responder still accepted this leader after s began
	// (check-quorum, the lease, read index).
	Seq    uint64
	Reject bool
	// AppResp: on success, the index up to which the follower's log matches
	// the leader's; on a reject, where the leader should try next: the first
	// index the follower holds of the conflicting term HintTerm, or its log
	// length + 1 (HintTerm 0). The fast back-off of Raft §5.3.
	// HeartbeatResp: the log's length + 1 (0 from a server that predates it).
	Hint, HintTerm uint64
	// Force marks the votes of a leadership transfer, which a follower grants
	// even while it hears from the current leader (dissertation §3.10, §4.2.3).
	Force    bool
	Snapshot *raftSnapshot
}

// raftSnapshot is a state machine image at a log index, with the
// configuration at that index (Raft §7).
type raftSnapshot struct {
	Index, Term uint64
	Config      raftConfiguration
	Data        []byte // the state machine's image, held in memory (raft_test.go's simulated cluster)
	// raftNode's instead: the received file, written and fsynced, and the
	// state already read from it (raft_snapshot.go). The core only passes
	// them on.
	Path  string
	State any
}

// raftReadState answers a read request: the read may be served once the
// state machine has applied Index. Failed: this server cannot confirm it
// leads (it is not the leader, or lost leadership before the read was
// confirmed).
type raftReadState struct {
	ID     uint64
	Index  uint64
	Failed bool
}

// raftReady is what the driver must do after a step or tick, in the order
// of the file's contract.
type raftReady struct {
	HardState        raftHardState
	HardStateChanged bool
	Snapshot         *raftSnapshot // received from the leader: persist, then restore the state machine from it
	Entries          []raftEntry   // new or overwriting entries to persist
	Messages         []raftMessage
	Committed        []raftEntry // to apply, in order
	Reads            []raftReadState
}

func (rd *raftReady) empty() bool {
	return !rd.HardStateChanged && rd.Snapshot == nil && len(rd.Entries) == 0 &&
		len(rd.Messages) == 0 && len(rd.Committed) == 0 && len(rd.Reads) == 0
}

var (
	errNotLeader        = errors.New("not the leader")
	errTransferring     = errors.New("leadership transfer in progress")
	errConfigPending    = errors.New("a configuration change is already in progress")
	errLeaderNotSettled = errors.New("the leader has not committed an entry in its term yet")
)

// raftCoreConfig tunes a core. Durations are in ticks.
type raftCoreConfig struct {
	ID             string
	ElectionTicks  int // a follower that hears no leader for a random [ElectionTicks, 2·ElectionTicks) campaigns
	HeartbeatTicks int // a leader heartbeats every HeartbeatTicks
	// LeaseTicks: a leader serves lease reads while a quorum acknowledged a
	// round it began fewer than LeaseTicks ago. It must stay below
	// ElectionTicks, the time a follower keeps refusing votes after hearing
	// from its leader; the gap covers clock drift.
	LeaseTicks    int
	MaxMsgBytes   int    // entries per AppendEntries, in bytes (at least one entry is sent)
	MaxInflight   uint64 // entries sent but not acknowledged, per follower
	TrailingLogs  uint64 // entries kept in memory below a snapshot, for followers slightly behind
	MaxApplyBatch int    // committed entries handed out per ready (default 1024)
	Rand          *rand.Rand
	Logger        *slog.Logger
	DisableLeases bool // tests: every read takes a heartbeat round
}

// raftRestored is what a server starts from: its durable state.
type raftRestored struct {
	HardState           raftHardState
	SnapIndex, SnapTerm uint64
	SnapConfig          raftConfiguration
	Entries             []raftEntry // after SnapIndex
	AppliedIndex        uint64      // how far the state machine is (the snapshot restored into it)
}

// raftCore is one server's Raft state. Owned by one goroutine.
type raftCore struct {
	cfg    raftCoreConfig
	id     string
	logger *slog.Logger

	// Persistent state on all servers (Raft Figure 2).
	term uint64
	vote string
	log  raftLog

	// Volatile state on all servers.
	commit  uint64
	applied uint64 // handed to the driver to apply
	role    raftRole
	leader  string

	// The configuration: the latest in the log, whether committed or not
	// (dissertation §4.1), and what it was in the snapshot.
	config      raftConfiguration
	configIndex uint64
	snapConfig  raftConfiguration

	votes map[string]bool // candidate: the (pre-)votes received

	// Leader state.
	progress     map[string]*progress
	seq          uint64            // the current round
	seqTick      map[uint64]uint64 // round → the tick it began
	leaderSince  uint64            // the tick it became leader
	pendingReads []raftReadState   // read index requests, each waiting for its round in readSeqs
	readSeqs     []uint64
	readRound    uint64 // the round pending reads wait for; ready() starts it
	transferee   string // leadership transfer target, "" when none
	transferTick uint64
	// leaseGivenUp: this leader sent TimeoutNow in its term. The server it
	// went to campaigns at once, and voters grant it their votes however
	// recently they heard from this leader (dissertation §3.10), so the
	// lease's premise (§6.4.1) no longer holds for the rest of the term.
	leaseGivenUp bool

	// Timers, in ticks.
	now               uint64 // ticks since start
	electionElapsed   int
	heartbeatElapsed  int
	randomizedTimeout int

	// Outputs not yet collected by ready.
	msgs        []raftMessage
	persistFrom uint64 // entries at and after it are not yet handed to the driver to persist
	snapshot    *raftSnapshot
	reads       []raftReadState
	lastHard    raftHardState
}

func newRaftCore(cfg raftCoreConfig, st raftRestored) *raftCore {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMsgBytes == 0 {
		cfg.MaxMsgBytes = 1 << 20
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = 4096
	}
	if cfg.MaxApplyBatch == 0 {
		cfg.MaxApplyBatch = 1024
	}
	r := &raftCore{
		cfg: cfg, id: cfg.ID, logger: cfg.Logger,
		term: st.HardState.Term, vote: st.HardState.Vote,
		log:        raftLog{offset: st.SnapIndex, offsetTerm: st.SnapTerm, entries: st.Entries},
		snapConfig: st.SnapConfig,
		lastHard:   st.HardState,
	}
	r.commit = max(st.HardState.Commit, st.SnapIndex)
	r.applied = max(st.AppliedIndex, st.SnapIndex)
	r.commit = min(r.commit, r.log.lastIndex())
	r.persistFrom = r.log.lastIndex() + 1
	r.config, r.configIndex = r.latestConfig()
	r.becomeFollower(r.term, "")
	if r.config.voters() == 1 && r.isVoter() {
		r.becomePreCandidate() // alone: elected at once
	}
	return r
}

// latestConfig scans the log back for the newest configuration entry.
func (r *raftCore) latestConfig() (raftConfiguration, uint64) {
	for i := len(r.log.entries) - 1; i >= 0; i-- {
		if e := r.log.entries[i]; e.Type == raftEntryConfig {
			if c, err := decodeConfiguration(e.Data); err == nil {
				return c, e.Index
			}
		}
	}
	return r.snapConfig, r.log.offset
}

// configAt returns the configuration in force at index i (for a snapshot
// at i), which must not be below the log's offset.
func (r *raftCore) configAt(i uint64) raftConfiguration {
	for j := min(i, r.log.lastIndex()); j > r.log.offset; j-- {
		if e := r.log.entry(j); e.Type == raftEntryConfig {
			if c, err := decodeConfiguration(e.Data); err == nil {
				return c
			}
		}
	}
	return r.snapConfig
}

// isVoter: this server may campaign and counts in quorums; a non-voter
// only follows (dissertation §4.2.1).
func (r *raftCore) isVoter() bool { return r.config.hasVoter(r.id) }

// quorum is a majority of the voters: non-voters never count.
func (r *raftCore) quorum() int { return r.config.voters()/2 + 1 }

// hardState is the persistent state of Figure 2 (with commit, so a restart
// applies no less than it had).
func (r *raftCore) hardState() raftHardState {
	return raftHardState{Term: r.term, Vote: r.vote, Commit: r.commit}
}

func (r *raftCore) send(m raftMessage) {
	m.From = r.id
	if m.Term == 0 {
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

// --- role changes ---

func (r *raftCore) resetTimers() {
	r.electionElapsed, r.heartbeatElapsed = 0, 0
	r.randomizedTimeout = r.cfg.ElectionTicks + r.cfg.Rand.IntN(r.cfg.ElectionTicks)
}

func (r *raftCore) becomeFollower(term uint64, leader string) {
	wasLeader := r.role == roleLeader
	if term > r.term {
		r.term, r.vote = term, ""
	}
	r.role, r.leader = roleFollower, leader
	r.resetTimers()
	if wasLeader {
		r.stepDownLeader()
	}
}

// stepDownLeader fails what only a leader could finish.
func (r *raftCore) stepDownLeader() {
	for _, rs := range r.pendingReads {
		r.reads = append(r.reads, raftReadState{ID: rs.ID, Failed: true})
	}
	r.pendingReads, r.readSeqs, r.readRound = nil, nil, 0
	r.progress, r.seqTick, r.transferee = nil, nil, ""
}

// becomePreCandidate starts a pre-vote (dissertation §9.6): ask whether an
// election could be won before disturbing anyone with a higher term.
func (r *raftCore) becomePreCandidate() {
	if !r.campaignAllowed() {
		r.resetTimers()
		return
	}
	r.role, r.leader = rolePreCandidate, ""
	r.resetTimers()
	r.votes = map[string]bool{r.id: true}
	r.logger.Debug("became pre-candidate", "term", r.term)
	if r.poll() {
		return
	}
	for _, s := range r.config.Servers {
		if s.ID != r.id && !s.NonVoter {
			r.send(raftMessage{Type: msgPreVote, To: s.ID, Term: r.term + 1,
				LogIndex: r.log.lastIndex(), LogTerm: r.log.lastTerm()})
		}
	}
}

// becomeCandidate starts an election (Raft §5.2): a new term, a vote for
// itself, RequestVote to everyone.
func (r *raftCore) becomeCandidate(force bool) {
	if !r.campaignAllowed() {
		r.resetTimers()
		return
	}
	r.role, r.leader = roleCandidate, ""
	r.term++
	r.vote = r.id
	r.resetTimers()
	r.votes = map[string]bool{r.id: true}
	r.logger.Info("became candidate", "term", r.term)
	if r.poll() {
		return
	}
	for _, s := range r.config.Servers {
		if s.ID != r.id && !s.NonVoter {
			r.send(raftMessage{Type: msgVote, To: s.ID, LogIndex: r.log.lastIndex(),
				LogTerm: r.log.lastTerm(), Force: force})
		}
	}
}

// poll counts the votes of voters; on a majority the (pre-)candidate moves on.
func (r *raftCore) poll() bool {
	granted := 0
	for id, ok := range r.votes {
		if ok && r.config.hasVoter(id) {
			granted++
		}
	}
	if granted < r.quorum() {
		return false
	}
	if r.role == rolePreCandidate {
		r.becomeCandidate(false)
	} else {
		r.becomeLeader()
	}
	return true
}

// becomeLeader: replicate to everyone (non-voters too) from the end of the
// log, and append a no-op so that entries of earlier terms get committed
// (Raft §5.4.2, §8).
func (r *raftCore) becomeLeader() {
	r.role, r.leader = roleLeader, r.id
	r.resetTimers()
	r.progress = map[string]*progress{}
	for _, s := range r.config.Servers {
		r.addProgress(s.ID)
	}
	r.seq, r.seqTick, r.leaderSince = 1, map[uint64]uint64{1: r.now}, r.now
	r.leaseGivenUp = false
	r.logger.Info("became leader", "term", r.term, "lastIndex", r.log.lastIndex())
	r.appendEntries([]raftEntry{{Type: raftEntryNoop}})
}

func (r *raftCore) addProgress(id string) {
	if id != r.id && r.progress[id] == nil {
		r.progress[id] = &progress{next: r.log.lastIndex() + 1}
	}
}

// --- time ---

func (r *raftCore) tick() {
	r.now++
	if r.role == roleLeader {
		r.tickLeader()
		return
	}
	r.electionElapsed++
	if r.isVoter() && r.electionElapsed >= r.randomizedTimeout {
		r.becomePreCandidate()
	}
}

func (r *raftCore) tickLeader() {
	// Check-quorum (dissertation §6.2, §9.6): a leader that has not heard
	// from a quorum for an election timeout steps down, so a leader cut off
	// in a minority stops serving.
	if int(r.now-r.quorumContact()) >= r.cfg.ElectionTicks {
		r.logger.Warn("stepping down: no quorum contact for an election timeout", "term", r.term)
		r.becomeFollower(r.term, "")
		return
	}
	if r.transferee != "" && int(r.now-r.transferTick) >= r.cfg.ElectionTicks {
		r.logger.Warn("leadership transfer timed out", "to", r.config.describe(r.transferee))
		r.transferee = ""
	}
	r.heartbeatElapsed++
	if r.heartbeatElapsed >= r.cfg.HeartbeatTicks {
		r.heartbeatElapsed = 0
		r.newRound()
		r.broadcastHeartbeat()
	}
}

// --- messages ---

// inLease: a follower that heard from a leader within the minimum election
// timeout ignores vote requests (dissertation §4.2.3), so a server removed
// from the configuration, or one rejoining from a partition, cannot depose
// a working leader.
//
// A server that started less than an election timeout ago counts as in
// lease too: before a crash it may have acknowledged a leader whose lease
// rests on that acknowledgement, and it no longer remembers it.
func (r *raftCore) inLease() bool {
	return r.leader != "" && r.electionElapsed < r.cfg.ElectionTicks || r.now < uint64(r.cfg.ElectionTicks)
}

// stepAdmitted is step (raft_admit.go) for a message admit has let in.
func (r *raftCore) stepAdmitted(m raftMessage) {
	switch {
	case m.Type == msgSnapStatus:
		r.stepSnapStatus(m)
		return
	case m.Term > r.term:
		if (m.Type == msgPreVote || m.Type == msgVote) && !m.Force && r.inLease() {
			r.logger.Debug("ignoring vote request while the leader is alive", "from", r.config.describe(m.From), "term", m.Term)
			return
		}
		switch {
		case m.Type == msgPreVote:
			// a pre-vote never changes the term
		case m.Type == msgPreVoteResp && !m.Reject:
			// a granted pre-vote carries the term the candidate will campaign in
		case m.Type == msgApp || m.Type == msgHeartbeat || m.Type == msgSnap:
			r.becomeFollower(m.Term, m.From)
		default:
			r.becomeFollower(m.Term, "")
		}
	case m.Term < r.term:
		switch m.Type {
		case msgApp, msgHeartbeat, msgSnap:
			// A stale leader: tell it the term, so it steps down (with
			// check-quorum, it may otherwise never learn of it).
			r.send(raftMessage{Type: msgAppResp, To: m.From, Reject: true})
		case msgPreVote:
			r.send(raftMessage{Type: msgPreVoteResp, To: m.From, Reject: true})
		}
		return
	}

	switch m.Type {
	case msgPreVote, msgVote:
		r.stepVoteRequest(m)
		return
	case msgTimeoutNow:
		if r.isVoter() && r.role != roleLeader {
			r.logger.Info("leadership transferred to this server: campaigning", "term", r.term+1)
			r.becomeCandidate(true)
		}
		return
	}
	switch r.role {
	case roleLeader:
		r.stepLeader(m)
	case rolePreCandidate, roleCandidate:
		r.stepCandidate(m)
	default:
		r.stepFollower(m)
	}
}

// stepVoteRequest grants a (pre-)vote to an up-to-date candidate (Raft
// §5.2, §5.4.1): a real vote once per term, a pre-vote to anyone who could
// win while this server has no live leader.
func (r *raftCore) stepVoteRequest(m raftMessage) {
	up := r.log.upToDate(m.LogIndex, m.LogTerm)
	if m.Type == msgPreVote {
		grant := up && m.Term > r.term && !r.inLease() && r.role != roleLeader
		resp := raftMessage{Type: msgPreVoteResp, To: m.From, Reject: !grant}
		if grant {
			resp.Term = m.Term
		}
		r.send(resp)
		return
	}
	grant := up && (r.vote == "" || r.vote == m.From)
	if grant {
		r.vote = m.From
		r.electionElapsed = 0
		r.logger.Debug("voted", "for", r.config.describe(m.From), "term", r.term)
	}
	r.send(raftMessage{Type: msgVoteResp, To: m.From, Reject: !grant})
}

func (r *raftCore) stepCandidate(m raftMessage) {
	switch m.Type {
	case msgPreVoteResp, msgVoteResp:
		want := msgVoteResp
		if r.role == rolePreCandidate {
			want = msgPreVoteResp
		}
		if m.Type != want {
			return
		}
		r.votes[m.From] = !m.Reject
		r.poll()
	case msgApp, msgHeartbeat, msgSnap:
		// A leader of this term exists (Raft §5.2).
		r.becomeFollower(m.Term, m.From)
		r.stepFollower(m)
	}
}

func (r *raftCore) stepFollower(m raftMessage) {
	switch m.Type {
	case msgApp:
		r.electionElapsed, r.leader = 0, m.From
		r.handleAppend(m)
	case msgHeartbeat:
		r.electionElapsed, r.leader = 0, m.From
		// The leader sends min(its commit, our match): known to be in our log.
		if m.Commit > r.commit && m.Commit <= r.log.lastIndex() {
			r.commit = m.Commit
		}
		r.send(raftMessage{Type: msgHeartbeatResp, To: m.From, Seq: m.Seq, Hint: r.log.lastIndex() + 1})
	case msgSnap:
		r.electionElapsed, r.leader = 0, m.From
		r.handleSnapshot(m)
	}
}

func (r *raftCore) stepLeader(m raftMessage) {
	pr := r.progress[m.From]
	if pr == nil {
		return
	}
	switch m.Type {
	case msgAppResp:
		pr.ackedSeq = max(pr.ackedSeq, m.Seq)
		if m.Reject {
			r.handleAppendReject(m.From, pr, m)
		} else {
			r.handleAppendAccept(m.From, pr, m)
		}
		r.confirmReads()
	case msgHeartbeatResp:
		pr.ackedSeq = max(pr.ackedSeq, m.Seq)
		r.confirmReads()
		if m.Hint > 0 && m.Hint-1 < pr.match {
			r.followerLostLog(m.From, pr, m.Hint-1)
		}
		if pr.match < r.log.lastIndex() {
			// Lagging: resend. In the replicate state this sends from next,
			// whose prevLogIndex the follower rejects if entries in flight
			// were lost, which moves it back to probing.
			if pr.state == progressReplicate && pr.next-pr.match-1 >= r.cfg.MaxInflight {
				pr.state, pr.next = progressProbe, pr.match+1
			}
			pr.probeSent = false
			r.sendAppend(m.From)
		}
	}
}

// --- proposals ---

// appendEntries adds entries to a leader's log in its term and replicates
// them.
func (r *raftCore) appendEntries(es []raftEntry) (first uint64) {
	first = r.log.lastIndex() + 1
	for i := range es {
		es[i].Index, es[i].Term = first+uint64(i), r.term
		r.log.entries = append(r.log.entries, es[i])
		r.noteConfig(es[i])
	}
	r.maybeCommit() // a lone server commits at once
	r.broadcastAppend()
	return first
}

// propose appends client commands to the log. It returns the index of the
// first and the term they are proposed in; they are committed, or lost to
// a new leader's log, later.
func (r *raftCore) propose(data [][]byte) (first, term uint64, err error) {
	if r.role != roleLeader {
		return 0, 0, errNotLeader
	}
	if r.transferee != "" {
		return 0, 0, errTransferring
	}
	es := make([]raftEntry, len(data))
	for i, d := range data {
		es[i] = raftEntry{Type: raftEntryCommand, Data: d}
	}
	return r.appendEntries(es), r.term, nil
}

// proposeConfig replaces the configuration with next, which must differ
// from the current one by at most one server (dissertation §4.1): added,
// removed, or promoted or demoted, which changes the voters by one. Only one
// change may be uncommitted at a time, and only once the leader has
// committed an entry of its term (the fix to single-server changes
// Ongaro posted to raft-dev in 2015).
func (r *raftCore) proposeConfig(next raftConfiguration) (uint64, error) {
	switch {
	case r.role != roleLeader:
		return 0, errNotLeader
	case r.transferee != "":
		return 0, errTransferring
	case r.configIndex > r.commit:
		return 0, errConfigPending
	case !r.committedInTerm():
		return 0, errLeaderNotSettled
	}
	added, removed, changed := 0, 0, 0
	for _, s := range next.Servers {
		if old, ok := r.config.server(s.ID); !ok {
			added++
		} else if old.NonVoter != s.NonVoter {
			changed++
		}
	}
	for _, s := range r.config.Servers {
		if !next.has(s.ID) {
			removed++
		}
	}
	if added+removed+changed > 1 {
		return 0, fmt.Errorf("a configuration change adds, removes, promotes or demotes one server at a time (this one: +%d -%d ~%d)", added, removed, changed)
	}
	return r.appendEntries([]raftEntry{{Type: raftEntryConfig, Data: encodeConfiguration(next)}}), nil
}

// bootstrap gives a new server its first configuration as entry 1 of term
// 1. Every server started with the same -bootstrap-expect set writes the
// same entry, so their logs agree.
func (r *raftCore) bootstrap(c raftConfiguration) error {
	if r.term != 0 || r.log.lastIndex() != 0 {
		return errors.New("raft: cannot bootstrap a server that has state")
	}
	r.term = 1
	e := raftEntry{Index: 1, Term: 1, Type: raftEntryConfig, Data: encodeConfiguration(c)}
	r.log.entries = append(r.log.entries, e)
	r.noteConfig(e)
	r.resetTimers()
	if c.voters() == 1 && c.hasVoter(r.id) {
		r.becomePreCandidate() // alone: elected at once
	}
	return nil
}

// ready collects what the driver must do now.
func (r *raftCore) ready() raftReady {
	var rd raftReady
	if r.role == roleLeader && r.readRound > r.seq {
		r.newRound()
		r.broadcastHeartbeat()
	}
	// The term and vote must be durable before any message of this ready
	// goes out. Commit is saved with them but not on its own: it is only a
	// hint for a faster restart, and a state file write per commit would
	// triple the fsyncs of every write.
	if hs := r.hardState(); hs.Term != r.lastHard.Term || hs.Vote != r.lastHard.Vote {
		rd.HardState, rd.HardStateChanged = hs, true
		r.lastHard = hs
	}
	rd.Snapshot, r.snapshot = r.snapshot, nil
	if r.persistFrom <= r.log.lastIndex() {
		rd.Entries = r.log.slice(r.persistFrom, r.log.lastIndex()+1, 1<<62)
		r.persistFrom = r.log.lastIndex() + 1
	}
	rd.Messages, r.msgs = r.msgs, nil
	if r.commit > r.applied {
		// At most MaxApplyBatch at a time: a server that restarts far behind
		// must not stop ticking and heartbeating while it catches up.
		hi := min(r.commit, r.applied+uint64(r.cfg.MaxApplyBatch))
		rd.Committed = r.log.slice(r.applied+1, hi+1, 1<<62)
		r.applied = hi
	}
	rd.Reads, r.reads = r.reads, nil
	return rd
}

// raftStatus is a summary for the HTTP API and logs.
type raftStatus struct {
	ID           string
	Term         uint64
	Role         raftRole
	Leader       string
	Commit       uint64
	Applied      uint64
	LastIndex    uint64
	Config       raftConfiguration
	Transferring bool
}

// applyPending: committed entries wait to be handed out by ready.
func (r *raftCore) applyPending() bool { return r.commit > r.applied }

func (r *raftCore) status() raftStatus {
	return raftStatus{ID: r.id, Term: r.term, Role: r.role, Leader: r.leader, Commit: r.commit,
		Applied: r.applied, LastIndex: r.log.lastIndex(), Config: r.config.clone(),
		Transferring: r.transferee != ""}
}
