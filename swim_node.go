// swim_node.go: the gossip driver, which gives a SWIM core (swim.go) its
// sockets, its clock and its keys: one gossipPool per pool, the LAN pool
// of a datacenter (port 8301) or the servers' WAN pool (8302).
//
// Data flow:
//
//	UDP socket → readUDP → open with the keyring → inbox → loop: core.step
//	TCP accept → serveStream: one framed request → loop: core.stepStream → framed reply
//	loop: core.tick every gossipTick; after each input, core.ready():
//	    packets → seal → UDP; streams → a goroutine dials, sends, reads the reply
//	    → loop: core.streamReply; events → the pool's events channel;
//	    queries → a goroutine answers (answer) → loop: core.respond;
//	    results of our own queries → the caller of Query waiting for them
//
// A TCP exchange is one frame each way, [u32 big-endian length][payload],
// the payload sealed like a UDP packet when the pool is encrypted. What a
// peer's header may claim is bounded by what our membership needs
// (gossipStreamLimit: a push-pull of twice the members we know, plus a
// floor); a reply to our own stream by swimMaxStream. A longer claim is
// refused before anything is allocated, and memory then grows with the
// bytes that arrive, not with the claim (readClaimed). At most
// gossipMaxStreams peer streams are served at once (memberlist's cap on
// push-pulls); beyond that a new connection is closed at once. Every
// connection has a deadline. A packet or stream that
// cannot be opened with the keyring (a wrong key, or plaintext in an
// encrypted pool, or the reverse) is dropped, counted and logged: a member
// with the wrong key cannot join.
//
// Queries (swim_serf.go) are answered by the pool itself: those it knows
// are the keyring's (serf_keyring.go, Serf's internal key queries); others are
// ignored.
//
// Concurrency: the loop goroutine owns the core and the map of callers
// waiting for their queries; the socket readers, stream and answering
// goroutines only pass bytes to it through channels. members and the
// counters are published for other goroutines through atomics.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	gossipTick          = 20 * time.Millisecond // the core's timers are no finer than this
	gossipStreamTimeout = 10 * time.Second
	gossipMaxStreams    = 128 // peer streams served at once (memberlist's maxPushPullRequests)
	// gossipMaxMemberState is the most one member takes in a push-pull
	// (swim_wire.go): name and address with their length prefixes,
	// state, incarnation, tags.
	gossipMaxMemberState = 2*(2+swimMaxName) + 1 + binary.MaxVarintLen64 + 2 + swimMaxTags
	// gossipStreamFloor is what a push-pull needs besides its members: the
	// recent user events, or a query response, with room to spare.
	gossipStreamFloor = 1 << 20
)

// gossipStreamLimit is the largest stream a peer may open to a member that
// knows of members others: a push-pull of them all, each at its largest,
// and as many again (a partition may have met members this one has not),
// plus the floor, but never more than swimMaxStream. The replies to our own
// streams may be up to swimMaxStream: a joining member knows nobody yet.
func gossipStreamLimit(members int) int {
	return min(gossipStreamFloor+2*members*gossipMaxMemberState, swimMaxStream)
}

// gossipConfig configures a pool.
type gossipConfig struct {
	Pool string // "lan" or "wan": logs, and the encryption label
	Bind string // host:port for UDP and TCP; port 0 picks one (tests)
	// Advertise is the host other members reach this one at; "" means the
	// bound host (which must then not be 0.0.0.0).
	Advertise string
	Swim      swimConfig
	Keyring   *keyring // nil: gossip in the clear
	Logger    *slog.Logger
	Timeline  *timeline      // the agent's, for the teaching view (swim_observe.go); nil: none
	Metrics   *gossipMetrics // agent_metrics.go; nil: none
}

type gossipPacket struct {
	from string
	data []byte
}

type gossipStreamIn struct {
	from    string
	payload []byte
	reply   chan []byte
}

type gossipStreamOut struct {
	to    string
	reply []byte
	err   error
}

// gossipCounters are what the pool dropped, for logs and tests.
type gossipCounters struct {
	Undecryptable atomic.Uint64 // packets and streams no key opened
	Oversize      atomic.Uint64 // stream frames over the limit
	Refused       atomic.Uint64 // peer streams closed at once, over gossipMaxStreams
}

// gossipPool is one running pool.
type gossipPool struct {
	cfg    gossipConfig
	logger *slog.Logger
	udp    *net.UDPConn
	tcp    net.Listener
	addr   string // the address bound, host:port

	core      *swim            // owned by loop
	coords    *poolCoordinates // the Vivaldi client, owned by loop; published coordinates (serf_coordinate.go)
	inbox     chan gossipPacket
	streamIn  chan gossipStreamIn
	streamOut chan gossipStreamOut
	calls     chan func(now time.Duration)
	events    chan swimEvent
	members   atomic.Pointer[[]swimMember]
	counters  gossipCounters
	streams   chan struct{} // a token per peer stream being served
	start     time.Time
	onLeft    chan struct{}                      // closed once the leave is gossiped; owned by loop
	waiting   map[uint64]chan swimQueryResult    // our queries' callers, by id; owned by loop
	joins     map[string][]chan gossipJoinResult // Join's callers, by address, waiting for its push-pull; owned by loop
	obs       gossipObserver                     // the timeline's bookkeeping; owned by loop (swim_observe.go)
	drops     gossipDrops                        // the drop control's filter (swim_observe.go)
	metrics   *gossipMetrics
	failedAt  map[string]time.Time // when members failed, for serf.member.flap; owned by loop

	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
}

// startGossip binds the pool's sockets and starts it. The core's Name and
// Tags come from cfg.Swim; its Addr is the address bound.
func startGossip(cfg gossipConfig) (*gossipPool, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// UDP and TCP on one port (listenDNS, agent.go, retries a port 0 whose
	// TCP side is taken).
	pc, tcp, err := listenDNS(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip %s listener: %w", cfg.Pool, err)
	}
	udp := pc.(*net.UDPConn)
	p := &gossipPool{
		cfg: cfg, logger: cfg.Logger.With("pool", cfg.Pool), udp: udp, tcp: tcp,
		addr:  udp.LocalAddr().String(),
		inbox: make(chan gossipPacket, 1024), streamIn: make(chan gossipStreamIn),
		streamOut: make(chan gossipStreamOut, 64), calls: make(chan func(time.Duration)),
		events: make(chan swimEvent, 1024), stopCh: make(chan struct{}), start: time.Now(),
		waiting: map[uint64]chan swimQueryResult{}, streams: make(chan struct{}, gossipMaxStreams),
		joins: map[string][]chan gossipJoinResult{}, obs: gossipObserver{timeline: cfg.Timeline},
		metrics: cfg.Metrics, failedAt: map[string]time.Time{},
	}
	if p.metrics == nil {
		p.metrics = newGossipMetrics(nil, "")
	}
	if cfg.Advertise != "" {
		p.addr = net.JoinHostPort(cfg.Advertise, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
	}
	cfg.Swim.Addr = p.addr
	cfg.Swim.Logger = p.logger
	cfg.Swim.AckPayloads = true
	p.core = newSwim(cfg.Swim)
	p.coords = newPoolCoordinates(p.core.rand)
	p.core.setAckPayload(encodeCoordinate(p.Coordinate()))
	p.publish()
	p.wg.Go(p.readUDP)
	p.wg.Go(p.acceptStreams)
	p.wg.Go(p.loop)
	return p, nil
}

// Addr is the pool's gossip address, host:port.
func (p *gossipPool) Addr() string { return p.addr }

// Events delivers the membership and user events of the pool, in order.
// When the reader falls behind by more than the buffer, events are dropped
// and logged (the next push-pull brings the state again).
func (p *gossipPool) Events() <-chan swimEvent { return p.events }

// Members is the membership as last published by the loop.
func (p *gossipPool) Members() []swimMember { return *p.members.Load() }

func (p *gossipPool) now() time.Duration { return time.Since(p.start) }

// do runs f on the loop with the core's current time, and waits.
func (p *gossipPool) do(f func(now time.Duration)) error {
	done := make(chan struct{})
	select {
	case p.calls <- func(now time.Duration) { f(now); close(done) }:
	case <-p.stopCh:
		return errors.New("gossip pool stopped")
	}
	<-done
	return nil
}

// gossipJoinResult is how one join's push-pull with addr ended.
type gossipJoinResult struct {
	addr string
	err  error
}

// Join asks the members at addrs for their state (a push-pull each) and
// waits for the exchanges, as memberlist's Join: it returns how many
// addresses answered and, when none did, every failure in go-multierror's
// format ("Failed to join <addr>: <why>"), which Consul's /v1/agent/join
// answers. The wait is bounded by the stream's dial and exchange timeouts.
func (p *gossipPool) Join(addrs []string) (int, error) {
	results := make(chan gossipJoinResult, len(addrs))
	if err := p.do(func(now time.Duration) {
		for _, a := range addrs {
			p.joins[a] = append(p.joins[a], results)
		}
		p.core.join(now, addrs)
	}); err != nil {
		return 0, err
	}
	why := map[string]error{}
	for range addrs {
		select {
		case res := <-results:
			if res.err != nil {
				why[res.addr] = res.err
			}
		case <-p.stopCh:
			return 0, errors.New("gossip pool stopped")
		}
	}
	if joined := len(addrs) - len(why); joined > 0 || len(addrs) == 0 {
		return joined, nil
	}
	var failed gossipJoinError
	for _, a := range addrs {
		if err := why[a]; err != nil {
			failed = append(failed, fmt.Sprintf("Failed to join %s: %v", a, err))
			delete(why, a) // an address listed twice is reported once
		}
	}
	return 0, failed
}

// gossipJoinError lists why each address of a join failed; its text is
// go-multierror's, as Consul answers it.
type gossipJoinError []string

func (e gossipJoinError) Error() string { return multiErrorText(e) }

// SetTags replaces this member's tags, announced to the pool.
func (p *gossipPool) SetTags(tags map[string]string) error {
	var err error
	if e := p.do(func(now time.Duration) { err = p.core.setTags(now, tags) }); e != nil {
		return e
	}
	return err
}

// UserEvent broadcasts a user event to every member.
func (p *gossipPool) UserEvent(name string, payload []byte) error {
	var err error
	if e := p.do(func(now time.Duration) { err = p.core.broadcastUser(now, name, payload) }); e != nil {
		return e
	}
	return err
}

// ForceLeave moves a failed member to left everywhere (with prune, erases
// it); errSwimNoMember if the pool does not know it.
func (p *gossipPool) ForceLeave(name string, prune bool) error {
	var err error
	if e := p.do(func(now time.Duration) { err = p.core.forceLeave(now, name, prune) }); e != nil {
		return e
	}
	return err
}

// Query asks every member and returns their answers once the query is over
// (the core's timeout, or every member answered), or ctx's error.
func (p *gossipPool) Query(ctx context.Context, name string, payload []byte) (swimQueryResult, error) {
	done := make(chan swimQueryResult, 1)
	var err error
	if e := p.do(func(now time.Duration) {
		var id uint64
		if id, err = p.core.query(now, name, payload); err == nil {
			p.waiting[id] = done
		}
	}); e != nil {
		return swimQueryResult{}, e
	}
	if err != nil {
		return swimQueryResult{}, err
	}
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		return swimQueryResult{}, ctx.Err() // the loop still drops its result into done
	case <-p.stopCh:
		return swimQueryResult{}, errors.New("gossip pool stopped")
	}
}

// answer runs the pool's handler for a query and sends its answer, if any.
func (p *gossipPool) answer(q swimQuery) {
	payload, ok := answerKeyQuery(p.cfg.Keyring, q.Name, q.Payload)
	if !ok {
		p.logger.Debug("query ignored", "name", q.Name, "from", q.From)
		return
	}
	var err error
	if e := p.do(func(now time.Duration) { err = p.core.respond(now, q, payload) }); e == nil && err != nil {
		p.logger.Warn("query not answered", "name", q.Name, "from", q.From, "error", err)
	}
}

// Leave announces a graceful leave and waits, at most until ctx ends, for
// it to be gossiped; then the pool stops.
func (p *gossipPool) Leave(ctx context.Context) error {
	left := make(chan struct{})
	if err := p.do(func(now time.Duration) { p.core.leave(now); p.onLeft = left }); err != nil {
		return err
	}
	select {
	case <-left:
	case <-ctx.Done():
	}
	p.Stop()
	return ctx.Err()
}

// Stop closes the sockets and stops every goroutine, without a leave (as
// a crash would look to the others).
func (p *gossipPool) Stop() {
	p.stopOnce.Do(func() {
		close(p.stopCh)
		p.udp.Close()
		p.tcp.Close()
	})
	p.wg.Wait()
}

// --- the loop ---

func (p *gossipPool) loop() {
	ticker := time.NewTicker(gossipTick)
	defer ticker.Stop()
	for {
		select {
		case <-p.stopCh:
			return
		case <-ticker.C:
			start := time.Now()
			p.core.tick(p.now())
			if p.handleReady() > 0 {
				p.metrics.gossip.measureSince(start)
			}
			p.metrics.healthScore.setValue(float64(p.core.awareness))
			continue
		case pk := <-p.inbox:
			p.core.step(p.now(), pk.from, pk.data)
		case in := <-p.streamIn:
			in.reply <- p.core.stepStream(p.now(), in.from, in.payload)
		case out := <-p.streamOut:
			p.core.streamReply(p.now(), out.to, out.reply, out.err)
			if ws := p.joins[out.to]; len(ws) > 0 {
				ws[0] <- gossipJoinResult{out.to, out.err}
				if p.joins[out.to] = ws[1:]; len(ws) == 1 {
					delete(p.joins, out.to)
				}
			}
		case f := <-p.calls:
			f(p.now())
		}
		p.handleReady()
	}
}

// handleReady carries out the core's ready; it returns the packets sent.
func (p *gossipPool) handleReady() int {
	rd := p.core.ready()
	p.observe(rd.Events)
	for _, pk := range rd.Packets {
		p.sendPacket(pk)
	}
	for _, st := range rd.Streams {
		p.wg.Go(func() { p.exchange(st) })
	}
	for _, ping := range rd.Pings {
		p.observePing(ping)
	}
	for _, res := range rd.Queries {
		if ch := p.waiting[res.ID]; ch != nil {
			ch <- res
			delete(p.waiting, res.ID)
		}
	}
	for _, ev := range rd.Events {
		if ev.Type == swimEventQuery {
			p.wg.Go(func() { p.answer(ev.Query) })
			continue
		}
		if ev.Type == swimEventReap {
			p.forgetCoordinate(ev.Member.Name)
		}
		p.countEvent(ev)
		select {
		case p.events <- ev:
		default:
			p.logger.Warn("gossip events dropped: the reader is behind", "event", ev.Type.String(), "member", ev.Member.Name)
		}
	}
	if rd.Left && p.onLeft != nil {
		close(p.onLeft)
		p.onLeft = nil
	}
	if len(rd.Events) > 0 {
		p.publish()
	}
	for _, d := range rd.Probes {
		p.metrics.probeNode.observe(float64(d)/float64(time.Millisecond), time.Now())
	}
	return len(rd.Packets)
}

// countEvent counts a membership event as Serf's serf.member.* metrics: a
// member that joins again within serfFlapTimeout of failing flapped.
func (p *gossipPool) countEvent(ev swimEvent) {
	switch ev.Type {
	case swimEventJoin:
		p.metrics.join.inc()
		if at, ok := p.failedAt[ev.Member.Name]; ok && time.Since(at) < serfFlapTimeout {
			p.metrics.flap.inc()
		}
		delete(p.failedAt, ev.Member.Name)
	case swimEventFailed:
		p.metrics.failed.inc()
		p.failedAt[ev.Member.Name] = time.Now()
	case swimEventLeft:
		p.metrics.left.inc()
		delete(p.failedAt, ev.Member.Name)
	case swimEventReap:
		delete(p.failedAt, ev.Member.Name)
	}
}

func (p *gossipPool) publish() {
	m := p.core.members()
	p.members.Store(&m)
}

func (p *gossipPool) seal(b []byte) ([]byte, error) {
	if p.cfg.Keyring == nil {
		return b, nil
	}
	return p.cfg.Keyring.seal(b)
}

func (p *gossipPool) open(b []byte, from string) ([]byte, bool) {
	if p.cfg.Keyring == nil {
		return b, true
	}
	plain, err := p.cfg.Keyring.open(b)
	if err != nil {
		if p.counters.Undecryptable.Add(1)%100 == 1 {
			p.logger.Warn("dropping gossip that no key decrypts", "from", from, "error", err)
		}
		return nil, false
	}
	return plain, true
}

func (p *gossipPool) sendPacket(pk swimPacket) {
	if p.drops.dropping(pk.To) {
		return
	}
	addr, err := net.ResolveUDPAddr("udp", pk.To)
	if err != nil {
		p.logger.Debug("bad member address", "addr", pk.To, "error", err)
		return
	}
	b, err := p.seal(pk.Data)
	if err == nil {
		_, err = p.udp.WriteToUDP(b, addr)
	}
	if err != nil {
		p.logger.Debug("gossip packet not sent", "to", pk.To, "error", err)
	}
}

// readUDP passes every packet to the loop; when the loop is behind, the
// packet is dropped, as a lossy network would.
func (p *gossipPool) readUDP() {
	buf := make([]byte, swimMaxPacket+sealOverhead)
	for {
		n, from, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		data, ok := p.open(buf[:n], from.String())
		if !ok || p.drops.dropping(from.String()) {
			continue
		}
		if p.cfg.Keyring == nil {
			data = append([]byte(nil), data...) // buf is reused
		}
		select {
		case p.inbox <- gossipPacket{from: from.String(), data: data}:
		default:
		}
	}
}

// acceptStreams serves each peer stream on its own goroutine, at most
// gossipMaxStreams at once.
func (p *gossipPool) acceptStreams() {
	acceptConns(p.tcp, nil, p.logger, "gossip: accepting a stream", func(c net.Conn) bool {
		select {
		case p.streams <- struct{}{}:
		default:
			if p.counters.Refused.Add(1)%100 == 1 {
				p.logger.Warn("gossip: refusing a stream: too many open", "from", c.RemoteAddr().String(),
					"limit", gossipMaxStreams, "refused", p.counters.Refused.Load())
			}
			c.Close()
			return true
		}
		p.wg.Go(func() { p.serveStream(c) })
		return true
	})
}

// serveStream answers one TCP exchange opened by another member.
func (p *gossipPool) serveStream(c net.Conn) {
	defer func() { <-p.streams }()
	defer c.Close()
	c.SetDeadline(time.Now().Add(gossipStreamTimeout))
	from := c.RemoteAddr().String()
	if p.drops.dropping("") {
		return
	}
	req, err := p.readStreamFrame(c, gossipStreamLimit(len(p.Members())))
	if err != nil {
		p.logger.Debug("bad gossip stream", "from", from, "error", err)
		return
	}
	payload, ok := p.open(req, from)
	if !ok {
		return
	}
	in := gossipStreamIn{from: from, payload: payload, reply: make(chan []byte, 1)}
	select {
	case p.streamIn <- in:
	case <-p.stopCh:
		return
	}
	reply := <-in.reply
	if reply == nil {
		return
	}
	if err := p.writeStreamFrame(c, reply); err != nil {
		p.logger.Debug("gossip stream reply not sent", "to", from, "error", err)
	}
}

// exchange performs a TCP exchange the core asked for, and hands the reply
// (or the error) back to it.
func (p *gossipPool) exchange(st swimStream) {
	reply, err := p.roundTrip(st)
	select {
	case p.streamOut <- gossipStreamOut{to: st.To, reply: reply, err: err}:
	case <-p.stopCh:
	}
}

func (p *gossipPool) roundTrip(st swimStream) ([]byte, error) {
	if p.drops.dropping(st.To) {
		return nil, errors.New("dropped by the drop control")
	}
	c, err := net.DialTimeout("tcp", st.To, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(gossipStreamTimeout))
	if err := p.writeStreamFrame(c, st.Payload); err != nil {
		return nil, err
	}
	b, err := p.readStreamFrame(c, swimMaxStream)
	if errors.Is(err, io.EOF) {
		// A member closes without a word on what it cannot open.
		return nil, errors.New("the member closed the connection without answering (a different gossip encryption key?)")
	}
	if err != nil {
		return nil, err
	}
	plain, ok := p.open(b, st.To)
	if !ok {
		return nil, errNoKeyOpens
	}
	return plain, nil
}

func (p *gossipPool) writeStreamFrame(w io.Writer, payload []byte) error {
	b, err := p.seal(payload)
	if err != nil {
		return err
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(frame, b...))
	return err
}

// readStreamFrame reads one frame whose payload is at most limit bytes
// (sealed: plus the seal's overhead), refusing a longer claim before
// allocating anything; memory then follows the bytes that arrive.
func (p *gossipPool) readStreamFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if p.cfg.Keyring != nil {
		limit += sealOverhead
	}
	if uint64(n) > uint64(limit) {
		p.counters.Oversize.Add(1)
		return nil, fmt.Errorf("gossip stream frame of %d bytes is over the limit of %d", n, limit)
	}
	return readClaimed(r, int(n))
}
