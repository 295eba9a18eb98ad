// swim_serf.go: the two Serf messages of the membership core beyond user
// events: leave intents, which a force-leave sends, and queries, a request
// to every member that each answers to the source directly. Both belong to
// the same pure state machine as swim.go, whose wire format and bounded
// decoder (swim_wire.go) carry them. Concurrency: none of its own (no
// goroutines, clock, I/O or lock); the gossip driver's goroutine owns it.
//
// Force-leave (Serf's RemoveFailedNode). The intent names a member at its
// incarnation as the sender knows it. It is gossiped like any broadcast,
// and sent straight to the member and to every other member too. A member
// that sees the named member failed records it as left, and with prune
// erases it; about a member alive or suspect it changes nothing and is
// passed on once, so it reaches the member, which refutes it with a higher
// incarnation (SWIM §4.4). An erased member that was in fact alive comes
// back with its next alive message, like any new member; a stale rumour
// cannot be alive, as only a failed member is erased and its own alive
// rumours are long over.
//
// Queries (Serf's queries). A query carries a Lamport time of the query
// clock (kept apart from the user events' clock, as Serf does, and
// exchanged in push-pulls), an id the source picks, the source's name and
// gossip address, a timeout, a name and a payload of at most
// swimMaxUserEvent bytes. It is gossiped like a user event, and sent to
// every member directly as well (as a force-leave is: gossip alone misses
// a member now and then, and these are rare operator actions), and every
// member delivers it once (deduplicated by Lamport time and id within the
// last EventBuffer times) to the layer above as a swimEventQuery, which
// answers with respond, or not. An answer (Lamport time, id, the
// responder's name and a payload of at most swimMaxQueryResponse bytes)
// goes straight to the source: a UDP packet when it fits one, otherwise a
// TCP stream. The source keeps one answer per member until the timeout, or
// until as many members as were alive when it asked have answered, then
// reports all of them in ready().Queries. The default timeout is Serf's:
// GossipInterval·16·ceil(log10(N+1)).
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// --- force-leave ---

// errSwimNoMember: a force-leave names no member this core knows.
var errSwimNoMember = errors.New("swim: no such member")

// forceLeave sends a leave intent about the member named.
func (s *swim) forceLeave(now time.Duration, name string, prune bool) error {
	s.now = now
	n := s.nodes[name]
	if n == nil {
		return errSwimNoMember
	}
	m := swimMsg{Type: swimMsgLeaveIntent, Incarnation: n.Incarnation, Node: name, From: s.name, Prune: prune}
	s.logger.Info("force-leave", "member", name, "state", n.State.String(), "prune", prune)
	// Gossip alone reaches every member only with high probability, and a
	// push-pull does not repair a prune: so the intent also goes to every
	// member directly, the named one first (if alive after all, it hears
	// of it at once). An operator's rare action: one packet per member.
	if n != s.self {
		s.packets = append(s.packets, swimPacket{To: n.Addr, Data: m.encode()})
	}
	s.sendToAll(m, n)
	s.handleLeaveIntent(m, true)
	return nil
}

// sendToAll sends m in a packet of its own to every member alive or
// suspect but skip.
func (s *swim) sendToAll(m swimMsg, skip *swimNode) {
	b := m.encode()
	for _, o := range s.order {
		if o != skip && (o.State == swimAlive || o.State == swimSuspect) {
			s.packets = append(s.packets, swimPacket{To: o.Addr, Data: b})
		}
	}
}

// handleLeaveIntent applies a leave intent and passes it on once. An
// intent older than the member's incarnation was refuted already.
func (s *swim) handleLeaveIntent(m swimMsg, local bool) {
	n := s.nodes[m.Node]
	if n == nil || m.Incarnation < n.Incarnation {
		return
	}
	if n == s.self {
		if !s.leaving {
			s.refute(m.Incarnation, "forced to leave", m.From)
		}
		return
	}
	switch n.State {
	case swimFailed:
		n.State, n.stateChange = swimLeft, s.now
		s.logger.Info("failed member forced to leave", "member", n.Name, "by", m.From)
		s.emit(swimEventLeft, n)
	case swimLeft:
		if !m.Prune && !local {
			return // nothing new
		}
	default: // alive or suspect: only the member itself settles it
		if n.intent > m.Incarnation && !local {
			return // passed on already
		}
		n.intent = m.Incarnation + 1
	}
	// Keyed apart from the member's own rumours, which it must not replace.
	s.queueBroadcast(m.Node+"\x00intent", &m)
	if m.Prune && n.State == swimLeft {
		s.erase(n)
	}
}

// erase forgets a left member at once (a prune).
func (s *swim) erase(n *swimNode) {
	delete(s.nodes, n.Name)
	s.order = slices.DeleteFunc(s.order, func(o *swimNode) bool { return o == n })
	s.probeIndex = min(s.probeIndex, len(s.order))
	if b := s.broadcastOf[n.Name]; b != nil {
		b.msg = nil
		delete(s.broadcastOf, n.Name)
	}
	s.logger.Info("member pruned", "member", n.Name, "incarnation", n.Incarnation)
	s.emit(swimEventReap, n)
}

// --- queries ---

// swimQuery is a query delivered to this member.
type swimQuery struct {
	LTime    uint64
	ID       uint64
	From     string // the source's name
	Addr     string // the source's gossip address, where answers go
	Name     string
	Payload  []byte
	deadline time.Duration // by our clock: later answers are useless
}

// swimQueryResult is what a query this member asked collected.
type swimQueryResult struct {
	ID       uint64
	Name     string
	NumNodes int               // the members alive (this one included) when it asked
	Answers  map[string][]byte // by member name
}

// swimPendingQuery is a query this member asked, collecting answers.
type swimPendingQuery struct {
	swimQueryResult
	ltime    uint64
	deadline time.Duration
}

// swimSeenQueries holds the ids of the queries of one Lamport time.
type swimSeenQueries struct {
	ltime uint64
	ids   []uint64
}

// queryTimeout: Serf's default, GossipInterval·QueryTimeoutMult·ceil(log10(N+1)), with QueryTimeoutMult 16.
func (s *swim) queryTimeout() time.Duration {
	return s.cfg.GossipInterval * 16 * time.Duration(math.Ceil(math.Log10(float64(s.numLive())+1)))
}

// query asks every member; the answers come back in ready().Queries under
// the id returned.
func (s *swim) query(now time.Duration, name string, payload []byte) (uint64, error) {
	s.now = now
	if len(name)+len(payload) > swimMaxUserEvent {
		return 0, fmt.Errorf("swim: query exceeds %d bytes", swimMaxUserEvent)
	}
	if len(name) > swimMaxName {
		return 0, fmt.Errorf("swim: query name exceeds %d bytes", swimMaxName)
	}
	id := s.rand.Uint64()
	for id == 0 || slices.ContainsFunc(s.queries, func(q *swimPendingQuery) bool { return q.ID == id }) {
		id = s.rand.Uint64()
	}
	timeout := s.queryTimeout()
	m := swimMsg{Type: swimMsgQuery, LTime: s.qclock, Seq: id, From: s.name, Addr: s.self.Addr,
		Timeout: timeout, Name: name, Payload: slices.Clone(payload)}
	s.qclock++
	s.queries = append(s.queries, &swimPendingQuery{ltime: m.LTime, deadline: now + timeout,
		swimQueryResult: swimQueryResult{ID: id, Name: name, NumNodes: s.numLive(), Answers: map[string][]byte{}}})
	s.logger.Debug("query", "name", name, "id", id, "timeout", timeout)
	s.handleQuery(m) // delivered here too: this member answers its own query
	s.sendToAll(m, nil)
	return id, nil
}

// handleQuery delivers a query once, and passes it on.
func (s *swim) handleQuery(m swimMsg) {
	if m.LTime >= s.qclock {
		s.qclock = m.LTime + 1
	}
	size := uint64(len(s.seenQueries))
	if s.qclock > size && m.LTime < s.qclock-size {
		return // too old to tell whether it is a duplicate
	}
	slot := &s.seenQueries[m.LTime%size]
	if slot.ltime != m.LTime {
		*slot = swimSeenQueries{ltime: m.LTime}
	}
	if slices.Contains(slot.ids, m.Seq) {
		return
	}
	slot.ids = append(slot.ids, m.Seq)
	s.queueBroadcast("", &m)
	s.events = append(s.events, swimEvent{Type: swimEventQuery, Query: swimQuery{LTime: m.LTime, ID: m.Seq,
		From: m.From, Addr: m.Addr, Name: m.Name, Payload: m.Payload, deadline: s.now + m.Timeout}})
}

// respond answers a query delivered here, straight to its source.
func (s *swim) respond(now time.Duration, q swimQuery, payload []byte) error {
	s.now = now
	if len(payload) > swimMaxQueryResponse {
		return fmt.Errorf("swim: query answer exceeds %d bytes", swimMaxQueryResponse)
	}
	if now > q.deadline {
		return errors.New("swim: query timed out before the answer")
	}
	m := swimMsg{Type: swimMsgQueryResponse, LTime: q.LTime, Seq: q.ID, From: s.name, Payload: slices.Clone(payload)}
	if q.From == s.name {
		s.handleQueryResponse(m)
		return nil
	}
	b := m.encode()
	if len(b) <= s.cfg.PacketSize-1-binary.MaxVarintLen16-swimPartOverhead {
		s.sendPacket(q.Addr, b)
	} else {
		s.streams = append(s.streams, swimStream{To: q.Addr, Payload: b})
	}
	return nil
}

// handleQueryResponse keeps an answer to one of our queries; the first
// from each member counts, and one to a query over or unknown is dropped.
func (s *swim) handleQueryResponse(m swimMsg) {
	i := slices.IndexFunc(s.queries, func(q *swimPendingQuery) bool { return q.ID == m.Seq && q.ltime == m.LTime })
	if i < 0 {
		return
	}
	q := s.queries[i]
	if _, dup := q.Answers[m.From]; dup {
		return
	}
	q.Answers[m.From] = m.Payload
	if len(q.Answers) >= q.NumNodes {
		s.finishQuery(i)
	}
}

func (s *swim) finishQuery(i int) {
	q := s.queries[i]
	s.queries = slices.Delete(s.queries, i, i+1)
	s.logger.Debug("query done", "name", q.Name, "id", q.ID, "answers", len(q.Answers), "of", q.NumNodes)
	s.queryResults = append(s.queryResults, q.swimQueryResult)
}

// tickQueries ends the queries whose timeout has passed.
func (s *swim) tickQueries() {
	for i := 0; i < len(s.queries); {
		if s.now >= s.queries[i].deadline {
			s.finishQuery(i)
		} else {
			i++
		}
	}
}
