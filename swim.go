// swim.go: the gossip layer's membership core, which tells every agent of a
// datacenter (the LAN pool) or every server of all datacenters (the WAN
// pool) who is a member, how to reach it, its tags, and whether it is alive.
// It is the protocol under Consul's Serf; the layer above (agent, catalog
// reconciliation) consumes its events.
//
// It follows SWIM (Das, Gupta & Motivala, 2002, cited as "SWIM §n") with the
// Lifeguard extensions (Dadgar, Phillips & Currey, 2018, "Lifeguard §n"), and
// the parameters of memberlist and Serf as Consul configures them:
//
//   - failure detection by randomized probing: one ping per protocol
//     period, round-robin over a list shuffled each cycle (SWIM §4.3), then
//     ping-req through k others (SWIM §4.2) with nacks (Lifeguard §IV.A) and
//     a TCP ping, then suspicion (SWIM §4.4);
//   - suspicion whose timeout shrinks with independent confirmations
//     (Lifeguard §IV.B), refuted by the suspect raising its incarnation;
//     the suspicion rides on whatever we send the suspect itself, so it
//     hears of it first (Lifeguard §IV.C, the buddy system);
//   - local health awareness: a member that misses acks and nacks, or must
//     refute, slows its own probing (Lifeguard §IV.A);
//   - infection-style dissemination piggybacked on pings and acks and on a
//     gossip tick (SWIM §4.1), plus periodic full-state push-pull over TCP,
//     and Serf's reconnect (push-pull with a failed member now and then),
//     which heals partitions;
//   - graceful leave, reaping, tags (Serf's meta) and user events with a
//     Lamport clock (Serf).
//
// Data flow and concurrency. The core is a pure state machine, like
// raft.go: no goroutines, no clock, no I/O, no lock; it is owned by one
// goroutine (the gossip driver, swim_node.go). Time enters as the monotonic "now" passed to every input:
//
//	tick(now)                        timers: probes, suspicions, gossip, push-pull, reaping
//	step(now, from, packet)          a UDP packet from address from
//	stepStream(now, from, payload)   a TCP exchange opened by a peer; returns the reply
//	streamReply(now, to, reply, err) the reply to a TCP exchange this core asked for
//	join, leave, setTags, broadcastUser; forceLeave, query, respond (swim_serf.go)
//
// and it answers through ready(): UDP packets to send, TCP exchanges to
// perform (each one's reply or error goes back through streamReply), and
// membership events. Randomness comes from cfg.Rand, so a test can run a
// whole pool in one goroutine and replay it from a seed (swim_test.go).
//
// Three layers, three names. SWIM is membership and failure detection:
// who is in a pool, at which address, and whether it is alive (this core;
// swim_probe.go, its failure detector; swim_wire.go, its codec; and
// swim_node.go, the driver that gives it sockets, a clock and keys). Serf
// is what Consul builds on that membership: tags, user events, queries and
// leave intents (swim_serf.go, in the same core), the keyring that seals
// every message (serf_keyring.go), the servers' WAN pool (serf_wan.go) and
// the user events an agent keeps (serf_event.go). The agent's view is what
// the LAN pool becomes in the catalog: serf_lan.go turns members into
// nodes with a serfHealth check, through the leader's reconciliation at
// the end of that file.
//
// Wire format and its bounded decoder: swim_wire.go.
package main

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// swimState is a member's state as one member sees it.
type swimState uint8

const (
	swimAlive   swimState = iota
	swimSuspect           // missed a probe; failed unless it refutes in time (SWIM §4.4)
	swimFailed            // dead: its suspicion timed out
	swimLeft              // dead by its own word: a graceful leave
)

func (st swimState) String() string {
	return [...]string{"alive", "suspect", "failed", "left", "unknown"}[min(st, 4)]
}

// swimMember is what the layer above sees of one member.
type swimMember struct {
	Name        string
	Addr        string // its gossip address, host:port (UDP and TCP)
	Tags        map[string]string
	State       swimState
	Incarnation uint64 // raised only by the member itself, to refute or to announce a change
}

type swimEventType uint8

const (
	swimEventJoin    swimEventType = iota + 1 // a new member, or one back from failed or left
	swimEventUpdate                           // its address or tags changed, or it refuted a suspicion
	swimEventSuspect                          // alive → suspect
	swimEventFailed                           // its suspicion timed out
	swimEventLeft                             // it left gracefully
	swimEventReap                             // forgotten: failed or left for longer than the reconnect or tombstone timeout
	swimEventUser                             // a user event (User is set)
	swimEventQuery                            // a query to answer, or not (Query is set; swim_serf.go)
)

func (t swimEventType) String() string {
	return [...]string{"?", "join", "update", "suspect", "failed", "left", "reap", "user", "query", "?"}[min(t, 9)]
}

// swimEvent is a change the layer above must know of. Events about the
// local member itself are not reported; members() lists it.
type swimEvent struct {
	Type   swimEventType
	Member swimMember    // all but user events: the member after the change
	User   swimUserEvent // user events
	Query  swimQuery     // queries
}

// swimUserEvent is a broadcast of the layer above (Serf's user events),
// delivered once to every member.
type swimUserEvent struct {
	LTime   uint64 // the sender's Lamport clock when it sent it
	Name    string
	Payload []byte
}

// swimPacket is a UDP packet to send.
type swimPacket struct {
	To   string
	Data []byte
}

// swimStream is a TCP exchange the driver must perform: connect to To, send
// Payload, read one reply, and hand it (or the error) to streamReply.
type swimStream struct {
	To      string
	Payload []byte
}

// swimReady is what the driver must do after an input.
type swimReady struct {
	Packets []swimPacket
	Streams []swimStream
	Events  []swimEvent
	// Left: leave() was called and its message has been gossiped as often
	// as every other broadcast; the driver may now stop the core.
	Left bool
	// Queries this member asked that are over: every answer, at the
	// deadline or once every member alive at the time has answered.
	Queries []swimQueryResult
	// Pings: the direct probes answered with a payload (swim_ping.go).
	Pings []swimPing
	// Probes: how long each probe that ended took, acknowledged or failed
	// (the driver's memberlist.probeNode).
	Probes []time.Duration
}

// swimStats counts what the core rejected or did, for the tests (statistics).
type swimStats struct {
	BadPackets  uint64 // UDP packets the decoder rejected
	BadStreams  uint64 // stream payloads or replies the decoder rejected
	Misdirected uint64 // pings meant for another member
	Refutes     uint64 // times this member refuted a suspicion or death
}

// swimConfig tunes a core. swimLANConfig and swimWANConfig give Consul's
// defaults; Name, Addr, Tags and Rand are the caller's.
type swimConfig struct {
	Name string
	Addr string
	Tags map[string]string // at most swimMaxTags bytes encoded (swimCheckTags)

	ProbeInterval  time.Duration // the protocol period (SWIM §4)
	ProbeTimeout   time.Duration // wait this long for a direct ack before ping-req
	IndirectChecks int           // k, the members asked to ping-req (SWIM §4.2)
	// SuspicionMult: the minimum suspicion timeout is
	// SuspicionMult·max(1, log10(N+1))·ProbeInterval; the maximum is
	// SuspicionMaxTimeoutMult times that (Lifeguard §IV.B).
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	AwarenessMax            int // the health score saturates here (Lifeguard §IV.A's S)
	// RetransmitMult: each broadcast is sent RetransmitMult·ceil(log10(N+1)) times (SWIM §4.1).
	RetransmitMult      int
	GossipInterval      time.Duration
	GossipNodes         int
	GossipToTheDeadTime time.Duration // keep gossiping to failed and left members this long
	PushPullInterval    time.Duration // full state sync, scaled up above 32 members
	ReconnectInterval   time.Duration // try a failed member this often (Serf's reconnect)
	ReconnectTimeout    time.Duration // failed members are reaped after this
	TombstoneTimeout    time.Duration // left members are reaped after this
	PacketSize          int           // UDP payload limit for compound packets
	EventBuffer         int           // user events remembered for deduplication, by Lamport time
	DisableTCPPings     bool
	// AckPayloads: this member announces swimTagAckPayload and its acks
	// carry the payload setAckPayload gave it (swim_ping.go).
	AckPayloads bool

	Rand   *rand.Rand
	Logger *slog.Logger
}

// swimLANConfig: memberlist's DefaultLANConfig with Serf's and Consul's
// timeouts (reconnect_timeout 72 h, Serf's tombstone timeout 24 h).
func swimLANConfig() swimConfig {
	return swimConfig{
		ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, IndirectChecks: 3,
		SuspicionMult: 4, SuspicionMaxTimeoutMult: 6, AwarenessMax: 8, RetransmitMult: 4,
		GossipInterval: 200 * time.Millisecond, GossipNodes: 3, GossipToTheDeadTime: 30 * time.Second,
		PushPullInterval: 30 * time.Second, ReconnectInterval: 30 * time.Second,
		ReconnectTimeout: 72 * time.Hour, TombstoneTimeout: 24 * time.Hour,
		PacketSize: 1400, EventBuffer: 64,
	}
}

// swimWANConfig: memberlist's DefaultWANConfig, for the servers' WAN pool.
func swimWANConfig() swimConfig {
	c := swimLANConfig()
	c.ProbeInterval, c.ProbeTimeout = 5*time.Second, 3*time.Second
	c.SuspicionMult = 6
	c.GossipInterval, c.GossipNodes, c.GossipToTheDeadTime = 500*time.Millisecond, 4, 60*time.Second
	c.PushPullInterval = 60 * time.Second
	return c
}

// Limits of the wire format.
const (
	swimMaxPacket        = 65507    // the largest UDP payload
	swimMaxStream        = 20 << 20 // a push-pull of a very large pool (memberlist's limit)
	swimMaxName          = 255      // names and addresses: an alive message always fits a packet
	swimMaxTags          = 512      // a member's encoded tags (Serf's meta limit)
	swimMaxUserEvent     = 1024     // a user event's name and payload (Consul raises Serf's 512-byte UserEventSizeLimit); a query's too (Serf's QuerySizeLimit)
	swimMaxQueryResponse = 64 << 10 // a query answer: one packet if it fits, else a stream
	swimMaxQueryTimeout  = time.Hour
	swimPartOverhead     = 3 // a compound part's length prefix, for packets under 2 MiB
)

// swimCheckTags reports whether tags fit in an alive message.
func swimCheckTags(tags map[string]string) error {
	if len(encodeSwimTags(tags)) > swimMaxTags {
		return fmt.Errorf("swim: tags exceed %d bytes encoded", swimMaxTags)
	}
	return nil
}

// swimNode is one member as this core tracks it.
type swimNode struct {
	swimMember
	stateChange time.Duration // when State last changed
	suspicion   *suspicion    // while suspect
	intent      uint64        // 1 + the incarnation of the last leave intent passed on while it was alive
}

// swimBroadcast is a message being gossiped (SWIM §4.1).
type swimBroadcast struct {
	about     string // the member it is about; "" for user events, which nothing invalidates
	msg       []byte
	transmits int
	id        uint64
}

// swimSeen holds the user events of one Lamport time.
type swimSeen struct {
	ltime  uint64
	events []swimUserEvent
}

// swim is one member's membership core. Owned by one goroutine.
type swim struct {
	cfg     swimConfig
	name    string
	logger  *slog.Logger
	rand    *rand.Rand
	now     time.Duration
	started bool
	leaving bool

	nodes map[string]*swimNode // everyone known, including ourselves
	self  *swimNode
	// order lists every other member: the probe list, shuffled each cycle
	// (SWIM §4.3), and the deterministic order of every scan.
	order      []*swimNode
	probeIndex int
	probe      *swimProbe
	relays     []*ackHandler
	seq        uint64
	suspects   []string // members with a running suspicion timer
	live       int      // other members alive or suspect
	awareness  int      // the local health score (Lifeguard §IV.A)

	broadcasts  []*swimBroadcast
	broadcastOf map[string]*swimBroadcast // the queued broadcast about each member
	broadcastID uint64

	clock uint64     // the user events' Lamport clock
	seen  []swimSeen // recent user events by ltime mod EventBuffer
	// eventFloor: user events before it are not delivered; a join sets it
	// to the clock of the member joined, so a newcomer does not replay the
	// pool's history (Consul joins with Serf's ignoreOld).
	eventFloor   uint64
	joining      map[string]bool     // addresses of join push-pulls in flight
	qclock       uint64              // the queries' Lamport clock (Serf keeps one apart)
	seenQueries  []swimSeenQueries   // recent queries by ltime mod EventBuffer
	queries      []*swimPendingQuery // queries we asked, collecting answers
	queryResults []swimQueryResult   // finished, for ready
	probeTimes   []time.Duration     // the probes that ended, for ready

	nextProbe, nextGossip, nextPushPull, nextReconnect, nextReap time.Duration

	packets []swimPacket
	streams []swimStream
	events  []swimEvent
	stats   swimStats

	ackPayload []byte     // what our acks carry (swim_ping.go)
	pings      []swimPing // for ready
}

func newSwim(cfg swimConfig) *swim {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	cfg.PacketSize = min(cmp.Or(cfg.PacketSize, 1400), swimMaxPacket)
	cfg.EventBuffer = cmp.Or(cfg.EventBuffer, 64)
	s := &swim{
		cfg: cfg, name: cfg.Name, logger: cfg.Logger.With("swim", cfg.Name), rand: cfg.Rand,
		nodes: map[string]*swimNode{}, broadcastOf: map[string]*swimBroadcast{}, seen: make([]swimSeen, cfg.EventBuffer), joining: map[string]bool{},
		seenQueries: make([]swimSeenQueries, cfg.EventBuffer),
	}
	tags := s.withAckTag(cfg.Tags)
	if err := swimCheckTags(tags); err != nil {
		s.logger.Error("starting without tags", "err", err)
		tags = nil
	}
	s.self = &swimNode{swimMember: swimMember{Name: cfg.Name, Addr: cfg.Addr, Tags: tags, State: swimAlive, Incarnation: 1}}
	s.nodes[cfg.Name] = s.self
	s.announceSelf() // gossiped to the members a join brings, besides their push-pull
	return s
}

// --- inputs ---

// tick runs the timers due at now.
func (s *swim) tick(now time.Duration) {
	s.now = now
	if !s.started {
		// Stagger the first rounds, so members started together do not
		// probe and gossip in lockstep.
		s.started = true
		s.nextProbe = now + s.randDuration(s.cfg.ProbeInterval)
		s.nextGossip = now + s.randDuration(s.cfg.GossipInterval)
		s.nextPushPull = now + s.randDuration(s.cfg.PushPullInterval)
		s.nextReconnect = now + s.cfg.ReconnectInterval
		s.nextReap = now + time.Second
	}
	if !s.leaving {
		s.tickProbe()
		if now >= s.nextPushPull {
			s.nextPushPull = now + swimPushPullScale(s.cfg.PushPullInterval, s.numLive())
			if n := s.randomMembers(1, func(n *swimNode) bool { return n.State == swimAlive }); len(n) == 1 {
				s.pushPull(n[0].Addr)
			}
		}
		if now >= s.nextReconnect {
			s.nextReconnect = now + s.cfg.ReconnectInterval
			s.reconnect()
		}
	}
	s.tickRelays()
	s.tickSuspicions()
	s.tickQueries()
	if now >= s.nextGossip {
		s.nextGossip = now + s.cfg.GossipInterval
		s.gossip()
	}
	if now >= s.nextReap {
		s.nextReap = now + time.Second
		s.reap()
	}
}

// step takes a UDP packet from address from.
func (s *swim) step(now time.Duration, from string, packet []byte) {
	s.now = now
	msgs, err := decodeSwimPacket(packet)
	if err != nil {
		s.stats.BadPackets++
		s.logger.Debug("bad packet", "from", from, "err", err)
	}
	for _, m := range msgs {
		s.handle(from, m)
	}
}

func (s *swim) handle(from string, m swimMsg) {
	switch m.Type {
	case swimMsgPing:
		if m.Node != s.name {
			s.stats.Misdirected++
			return
		}
		ack := [][]byte{(&swimMsg{Type: swimMsgAck, Seq: m.Seq, Payload: s.ackPayloadFor(m.From)}).encode()}
		if n := s.nodes[m.From]; n != nil && n.State == swimSuspect {
			ack = append(ack, s.buddy(n)) // its own probes still reach us: tell it
		}
		s.sendPacket(from, ack...)
	case swimMsgPingReq:
		// SWIM §4.2: ping the target for the requester; Lifeguard §IV.A:
		// if asked, tell the requester we tried but heard nothing.
		s.seq++
		s.relays = append(s.relays, &ackHandler{seq: s.seq, requester: from, reqSeq: m.Seq, nack: m.Nack,
			nackAt: s.now + s.cfg.ProbeTimeout*8/10, deadline: s.now + s.cfg.ProbeTimeout})
		s.sendPacket(m.Addr, (&swimMsg{Type: swimMsgPing, Seq: s.seq, Node: m.Node, From: s.name}).encode())
	case swimMsgAck:
		s.handleAck(m)
	case swimMsgNack:
		if p := s.probe; p != nil && p.seq == m.Seq {
			p.nacks++
		}
	case swimMsgAlive:
		s.aliveNode(m)
	case swimMsgSuspect:
		s.suspectNode(m)
	case swimMsgDead:
		s.deadNode(m)
	case swimMsgUser:
		s.handleUser(m)
	case swimMsgLeaveIntent:
		s.handleLeaveIntent(m, false)
	case swimMsgQuery:
		s.handleQuery(m)
	case swimMsgQueryResponse:
		s.handleQueryResponse(m)
	}
}

// stepStream serves a TCP exchange a peer opened: a push-pull (returns our
// state) or a TCP ping (returns an ack). A nil reply means close without
// answering.
func (s *swim) stepStream(now time.Duration, from string, payload []byte) []byte {
	s.now = now
	m, err := decodeSwimStream(payload)
	if err != nil {
		s.stats.BadStreams++
		s.logger.Debug("bad stream", "from", from, "err", err)
		return nil
	}
	switch m.Type {
	case swimMsgPing:
		if m.Node != s.name {
			s.stats.Misdirected++
			return nil
		}
		return (&swimMsg{Type: swimMsgAck, Seq: m.Seq}).encode()
	case swimMsgPushPull:
		s.mergeState(m)
		return s.localState() // after merging: a refutation travels back at once
	case swimMsgQueryResponse:
		s.handleQueryResponse(m)
		return (&swimMsg{Type: swimMsgAck}).encode() // seq 0 names no probe: a bare receipt
	}
	s.stats.BadStreams++
	return nil
}

// streamReply takes the reply to a TCP exchange this core asked for.
func (s *swim) streamReply(now time.Duration, to string, reply []byte, err error) {
	s.now = now
	joining := s.joining[to]
	delete(s.joining, to)
	if err != nil {
		s.logger.Debug("stream failed", "to", to, "err", err)
		return
	}
	m, err := decodeSwimStream(reply)
	if err != nil {
		s.stats.BadStreams++
		s.logger.Debug("bad stream reply", "from", to, "err", err)
		return
	}
	switch m.Type {
	case swimMsgAck:
		s.handleAck(m)
	case swimMsgPushPull:
		if joining {
			s.eventFloor = max(s.eventFloor, m.LTime)
		}
		s.mergeState(m)
	default:
		s.stats.BadStreams++
	}
}

// join asks the driver for a push-pull with each address: the members
// learn of each other through the exchanged state.
func (s *swim) join(now time.Duration, addrs []string) {
	s.now = now
	for _, a := range addrs {
		s.joining[a] = true
		s.pushPull(a)
	}
}

// leave announces a graceful leave: a dead message about ourselves at a new
// incarnation, which others record as left. Probing and push-pull stop;
// the core still answers pings and gossips until ready reports Left.
func (s *swim) leave(now time.Duration) {
	s.now = now
	if s.leaving {
		return
	}
	s.leaving = true
	s.self.Incarnation++
	s.self.State, s.self.stateChange = swimLeft, now
	s.probe = nil
	s.logger.Info("leaving", "incarnation", s.self.Incarnation)
	s.queueBroadcast(s.name, &swimMsg{Type: swimMsgDead, Incarnation: s.self.Incarnation, Node: s.name, From: s.name})
}

// setTags replaces our tags and announces them at a new incarnation.
func (s *swim) setTags(now time.Duration, tags map[string]string) error {
	s.now = now
	if err := swimCheckTags(tags); err != nil {
		return err
	}
	s.self.Tags = s.withAckTag(tags)
	s.self.Incarnation++
	s.announceSelf()
	return nil
}

// broadcastUser sends a user event to every member, ourselves included.
func (s *swim) broadcastUser(now time.Duration, name string, payload []byte) error {
	s.now = now
	if len(name)+len(payload) > swimMaxUserEvent {
		return fmt.Errorf("swim: user event exceeds %d bytes", swimMaxUserEvent)
	}
	m := swimMsg{Type: swimMsgUser, LTime: s.clock, Name: name, Payload: slices.Clone(payload)}
	s.clock++
	s.handleUser(m)
	return nil
}

// --- outputs ---

func (s *swim) ready() swimReady {
	rd := swimReady{Packets: s.packets, Streams: s.streams, Events: s.events, Queries: s.queryResults, Pings: s.pings, Probes: s.probeTimes}
	s.packets, s.streams, s.events, s.queryResults, s.pings, s.probeTimes = nil, nil, nil, nil, nil, nil
	// With nobody alive to tell, the leave is done at once (memberlist's
	// Leave waits only when anyAlive).
	rd.Left = s.leaving && (s.broadcastOf[s.name] == nil || s.live == 0)
	return rd
}

// members lists every known member, ourselves included, by name.
func (s *swim) members() []swimMember {
	out := make([]swimMember, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n.copy())
	}
	slices.SortFunc(out, func(a, b swimMember) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (n *swimNode) copy() swimMember {
	m := n.swimMember
	m.Tags = maps.Clone(m.Tags)
	delete(m.Tags, swimTagAckPayload) // the core's own (swim_ping.go): the layer above never sees it
	return m
}

func (s *swim) emit(t swimEventType, n *swimNode) {
	s.events = append(s.events, swimEvent{Type: t, Member: n.copy()})
}

// --- membership: the precedence rules of SWIM §4.4 ---

// numLive counts the members alive or suspect, ourselves included.
func (s *swim) numLive() int { return s.live + 1 }

// aliveNode: an alive message beats what we know if its incarnation is
// higher; a new member is added at a random place in the probe list.
func (s *swim) aliveNode(m swimMsg) {
	if m.Node == s.name {
		s.aliveSelf(m)
		return
	}
	n := s.nodes[m.Node]
	if n == nil {
		n = &swimNode{swimMember: swimMember{Name: m.Node, Addr: m.Addr, Tags: m.Tags, State: swimAlive,
			Incarnation: m.Incarnation}, stateChange: s.now}
		s.nodes[m.Node] = n
		s.live++
		// SWIM §4.3: a new member goes to a random position of the probe
		// list (the one there moves to the end), in O(1) as memberlist does.
		s.order = append(s.order, n)
		i := s.rand.IntN(len(s.order))
		s.order[i], s.order[len(s.order)-1] = s.order[len(s.order)-1], s.order[i]
		s.logger.Debug("member joined", "member", m.Node, "incarnation", m.Incarnation)
		s.emit(swimEventJoin, n)
		s.queueBroadcast(m.Node, &m)
		return
	}
	if m.Incarnation <= n.Incarnation {
		return
	}
	prev := n.State
	changed := n.Addr != m.Addr || !maps.Equal(n.Tags, m.Tags)
	n.Incarnation, n.Addr, n.Tags, n.State, n.suspicion = m.Incarnation, m.Addr, m.Tags, swimAlive, nil
	if prev != swimAlive {
		n.stateChange = s.now
	}
	switch {
	case prev == swimFailed || prev == swimLeft:
		s.live++
		s.logger.Debug("member rejoined", "member", m.Node, "incarnation", m.Incarnation)
		s.emit(swimEventJoin, n)
	case prev == swimSuspect:
		s.logger.Debug("suspect refuted", "member", m.Node, "incarnation", m.Incarnation)
		s.emit(swimEventUpdate, n)
	case changed:
		s.emit(swimEventUpdate, n)
	}
	s.queueBroadcast(m.Node, &m)
}

// aliveSelf: a claim about ourselves newer than ours (from before a
// restart, or another process with our name) must be overridden.
func (s *swim) aliveSelf(m swimMsg) {
	if s.leaving || m.Incarnation < s.self.Incarnation {
		return
	}
	if m.Incarnation > s.self.Incarnation || m.Addr != s.self.Addr || !maps.Equal(m.Tags, s.self.Tags) {
		s.refute(m.Incarnation, "", "")
	}
}

// suspectNode: SWIM §4.4. A suspect message at the member's incarnation or
// later makes an alive member suspect and starts its timer; about a member
// already suspect it is a confirmation (Lifeguard §IV.B).
func (s *swim) suspectNode(m swimMsg) {
	n := s.nodes[m.Node]
	if s.staleAccusation(n, m) {
		return
	}
	if n == nil || m.Incarnation < n.Incarnation || n.State == swimFailed || n.State == swimLeft {
		return
	}
	if n == s.self {
		if !s.leaving {
			s.refute(m.Incarnation, "suspected", m.From)
		}
		return
	}
	if n.State == swimSuspect {
		n.Incarnation = m.Incarnation
		if n.suspicion.confirm(m.From) {
			s.logger.Debug("suspect confirmed", "member", n.Name, "incarnation", n.Incarnation, "by", m.From,
				"confirmations", fmt.Sprintf("%d/%d", n.suspicion.confirmations, n.suspicion.k))
			s.queueBroadcast(m.Node, &m) // a new confirmation is news: pass it on
		}
		return
	}
	live := s.numLive()
	k := s.cfg.SuspicionMult - 2 // memberlist's expected confirmations
	if live-2 < k {
		k = 0
	}
	lo := s.suspicionTimeout(live)
	n.State, n.Incarnation, n.stateChange = swimSuspect, m.Incarnation, s.now
	n.suspicion = &suspicion{start: s.now, min: lo, max: lo * time.Duration(s.cfg.SuspicionMaxTimeoutMult),
		k: k, accusers: map[string]bool{m.From: true}}
	s.suspects = append(s.suspects, n.Name)
	s.logger.Debug("suspect", "member", n.Name, "incarnation", n.Incarnation, "by", m.From,
		"confirmations", fmt.Sprintf("0/%d", k))
	s.emit(swimEventSuspect, n)
	s.queueBroadcast(m.Node, &m)
}

// deadNode: a dead message at the member's incarnation or later marks it
// failed, or left if it comes from the member itself. Left is final for
// that incarnation: a later "failed" does not overwrite it.
func (s *swim) deadNode(m swimMsg) {
	n := s.nodes[m.Node]
	if s.staleAccusation(n, m) {
		return
	}
	if n == nil || m.Incarnation < n.Incarnation {
		return
	}
	leave := m.From == m.Node
	if n.State == swimLeft || (n.State == swimFailed && !leave) {
		return
	}
	if n == s.self {
		if !s.leaving {
			if leave { // our own leave, from before a restart
				s.refute(m.Incarnation, "", "")
			} else {
				s.refute(m.Incarnation, "declared dead", m.From)
			}
		}
		return
	}
	if n.State == swimAlive || n.State == swimSuspect {
		s.live--
	}
	n.Incarnation, n.suspicion, n.stateChange = m.Incarnation, nil, s.now
	if leave {
		n.State = swimLeft
		s.logger.Debug("member left", "member", n.Name, "incarnation", n.Incarnation)
		s.emit(swimEventLeft, n)
	} else {
		n.State = swimFailed
		s.logger.Debug("member failed", "member", n.Name, "incarnation", n.Incarnation, "by", m.From)
		s.emit(swimEventFailed, n)
	}
	s.queueBroadcast(m.Node, &m)
}

// refute: SWIM §4.4, someone suspects us or declared us dead at
// incarnation accused; announce we are alive at a higher one. Lifeguard
// §IV.A: being suspected hints that we are slow, so the health score rises.
// An accusation (suspect, dead, a leave intent) is worth a warning: this
// member was slow or unreachable to someone. An older claim about ourselves
// (what the pool remembers from before a restart) is routine.
func (s *swim) refute(accused uint64, accusation, by string) {
	s.self.Incarnation = max(s.self.Incarnation, accused) + 1
	s.stats.Refutes++
	s.applyAwareness(1)
	if accusation == "" {
		s.logger.Debug("announcing a newer incarnation than the pool remembers", "incarnation", s.self.Incarnation)
	} else {
		s.logger.Warn("refuting: "+accusation+" by another member", "by", by, "incarnation", s.self.Incarnation)
	}
	s.announceSelf()
}

// staleAccusation: a suspect or dead message about this member with an
// incarnation it has already refuted. Others drop it, but a member that
// took it before hearing the refutation still believes it, and the
// refutation's retransmissions may be spent; so the member announces its
// current incarnation again (memberlist only ignores it, leaving such a
// member wrong until a push-pull).
func (s *swim) staleAccusation(n *swimNode, m swimMsg) bool {
	if n != s.self || m.Incarnation >= n.Incarnation {
		return false
	}
	if !s.leaving {
		s.announceSelf()
	}
	return true
}

func (s *swim) announceSelf() {
	n := s.self
	s.queueBroadcast(s.name, &swimMsg{Type: swimMsgAlive, Incarnation: n.Incarnation, Node: n.Name, Addr: n.Addr, Tags: n.Tags})
}

// reap forgets members failed longer than ReconnectTimeout, or left
// longer than TombstoneTimeout.
func (s *swim) reap() {
	s.order = slices.DeleteFunc(s.order, func(n *swimNode) bool {
		if (n.State == swimFailed && s.now-n.stateChange >= s.cfg.ReconnectTimeout) ||
			(n.State == swimLeft && s.now-n.stateChange >= s.cfg.TombstoneTimeout) {
			delete(s.nodes, n.Name)
			s.emit(swimEventReap, n)
			return true
		}
		return false
	})
	s.probeIndex = min(s.probeIndex, len(s.order))
}

// --- push-pull and reconnect ---

func (s *swim) pushPull(addr string) {
	s.streams = append(s.streams, swimStream{To: addr, Payload: s.localState()})
}

func (s *swim) localState() []byte {
	m := swimMsg{Type: swimMsgPushPull, From: s.name, LTime: s.clock, QLTime: s.qclock, States: make([]swimMember, 0, len(s.nodes))}
	m.States = append(m.States, s.self.swimMember)
	for _, n := range s.order {
		m.States = append(m.States, n.swimMember)
	}
	for _, slot := range s.seen {
		m.Events = append(m.Events, slot.events...)
	}
	return m.encode()
}

// mergeState applies a peer's full state with the usual precedence. As in
// memberlist, a peer's "failed" only makes us suspect: we have not seen the
// failure ourselves, and the member gets its chance to refute.
func (s *swim) mergeState(m swimMsg) {
	s.clock = max(s.clock, m.LTime)    // witness the user events' clock (Serf)
	s.qclock = max(s.qclock, m.QLTime) // and the queries'
	for _, st := range m.States {
		switch st.State {
		case swimAlive:
			s.aliveNode(swimMsg{Type: swimMsgAlive, Incarnation: st.Incarnation, Node: st.Name, Addr: st.Addr, Tags: st.Tags})
		case swimLeft:
			s.deadNode(swimMsg{Type: swimMsgDead, Incarnation: st.Incarnation, Node: st.Name, From: st.Name})
		default:
			// Not a confirmation of a suspicion we hold: the peer may only
			// echo what we told it (Lifeguard §IV.B wants independent ones).
			if n := s.nodes[st.Name]; n != nil && n.State == swimSuspect {
				continue
			}
			s.suspectNode(swimMsg{Type: swimMsgSuspect, Incarnation: st.Incarnation, Node: st.Name, From: m.From})
		}
	}
	// Serf: the recent user events ride along, for members the gossip missed.
	for _, e := range m.Events {
		s.handleUser(swimMsg{Type: swimMsgUser, LTime: e.LTime, Name: e.Name, Payload: e.Payload})
	}
}

// swimPushPullScale: memberlist stretches the push-pull interval above 32
// members, by ceil(log2(n) − log2(32)) + 1, so the TCP load per member
// stays flat as the pool grows.
func swimPushPullScale(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	mult := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1
	return time.Duration(mult) * interval
}

// reconnect: Serf's reconnect. A push-pull with a random failed member, with
// a probability of failed/alive, so a healed partition merges again even
// though neither side probes or gossips to the other any more.
func (s *swim) reconnect() {
	failed := s.randomMembers(len(s.order), func(n *swimNode) bool { return n.State == swimFailed })
	if len(failed) == 0 {
		return
	}
	if s.rand.Float64() > float64(len(failed))/float64(s.numLive()) {
		return
	}
	s.logger.Debug("reconnecting", "member", failed[0].Name)
	s.pushPull(failed[0].Addr)
}

// --- dissemination: SWIM §4.1 ---

// retransmitLimit: RetransmitMult·ceil(log10(N+1)) sends per broadcast.
func (s *swim) retransmitLimit() int {
	return s.cfg.RetransmitMult * int(math.Ceil(math.Log10(float64(s.numLive())+1)))
}

// queueBroadcast starts gossiping m; it replaces any older message about
// the same member, which it makes obsolete (marked, dropped when next taken).
func (s *swim) queueBroadcast(about string, m *swimMsg) {
	s.broadcastID++
	b := &swimBroadcast{about: about, msg: m.encode(), id: s.broadcastID}
	if about != "" {
		if old := s.broadcastOf[about]; old != nil {
			old.msg = nil
		}
		s.broadcastOf[about] = b
	}
	s.broadcasts = append(s.broadcasts, b)
}

// takeBroadcasts picks the broadcasts that fit in room bytes, least sent
// first and newest first among equals, and counts them sent.
func (s *swim) takeBroadcasts(room int) [][]byte {
	if len(s.broadcasts) == 0 {
		return nil
	}
	slices.SortFunc(s.broadcasts, func(a, b *swimBroadcast) int {
		return cmp.Or(cmp.Compare(a.transmits, b.transmits), cmp.Compare(b.id, a.id))
	})
	var out [][]byte
	for _, b := range s.broadcasts {
		if need := len(b.msg) + swimPartOverhead; b.msg != nil && need <= room {
			room -= need
			out = append(out, b.msg)
			b.transmits++
		}
	}
	limit := s.retransmitLimit()
	s.broadcasts = slices.DeleteFunc(s.broadcasts, func(b *swimBroadcast) bool {
		if b.msg != nil && b.transmits < limit {
			return false
		}
		if s.broadcastOf[b.about] == b {
			delete(s.broadcastOf, b.about)
		}
		return true
	})
	return out
}

// sendPacket sends msgs to addr with as many broadcasts piggybacked as fit.
func (s *swim) sendPacket(addr string, msgs ...[]byte) {
	room := s.cfg.PacketSize - 1 - binary.MaxVarintLen16
	for _, m := range msgs {
		room -= len(m) + swimPartOverhead
	}
	msgs = append(msgs, s.takeBroadcasts(room)...)
	s.packets = append(s.packets, swimPacket{To: addr, Data: encodeSwimCompound(msgs)})
}

// gossip: every GossipInterval, send pending broadcasts to GossipNodes
// random members, including failed ones for a while, which may only be
// partitioned away.
func (s *swim) gossip() {
	if len(s.broadcasts) == 0 {
		return
	}
	targets := s.randomMembers(s.cfg.GossipNodes, func(n *swimNode) bool {
		return n.State == swimAlive || n.State == swimSuspect || s.now-n.stateChange < s.cfg.GossipToTheDeadTime
	})
	for _, n := range targets {
		bs := s.takeBroadcasts(s.cfg.PacketSize - 1 - binary.MaxVarintLen16)
		if len(bs) == 0 {
			return
		}
		s.packets = append(s.packets, swimPacket{To: n.Addr, Data: encodeSwimCompound(bs)})
	}
}

// randomMembers picks up to k other members that pass ok, uniformly.
func (s *swim) randomMembers(k int, ok func(*swimNode) bool) []*swimNode {
	var pool []*swimNode
	for _, n := range s.order {
		if ok(n) {
			pool = append(pool, n)
		}
	}
	for i := 0; i < k && i < len(pool); i++ {
		j := i + s.rand.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	return pool[:min(k, len(pool))]
}

func (s *swim) randDuration(d time.Duration) time.Duration {
	return time.Duration(s.rand.Int64N(int64(max(d, 0)) + 1))
}

// --- user events (Serf) ---

// handleUser delivers a user event once: witness its Lamport time, drop it
// if older than the dedup window (or the join), skip it if its name was
// seen at its time.
func (s *swim) handleUser(m swimMsg) {
	if m.LTime >= s.clock {
		s.clock = m.LTime + 1
	}
	size := uint64(len(s.seen))
	if (s.clock > size && m.LTime < s.clock-size) || m.LTime < s.eventFloor {
		return // too old to tell whether it is a duplicate
	}
	slot := &s.seen[m.LTime%size]
	if slot.ltime != m.LTime {
		*slot = swimSeen{ltime: m.LTime}
	}
	if slices.ContainsFunc(slot.events, func(e swimUserEvent) bool { return e.Name == m.Name }) {
		return
	}
	e := swimUserEvent{LTime: m.LTime, Name: m.Name, Payload: m.Payload}
	slot.events = append(slot.events, e)
	s.events = append(s.events, swimEvent{Type: swimEventUser, User: e})
	s.queueBroadcast("", &m)
}
