// swim_probe.go: the failure detector of the SWIM core (swim.go), part of
// its pure core: randomized probing (SWIM §4.3), ping-req through k other
// members with nacks (SWIM §4.2, Lifeguard §IV.A), the local health score
// that slows a member that may itself be the slow one (Lifeguard §IV.A),
// and the suspicion timers that shrink with independent confirmations
// (Lifeguard §IV.B).
//
// Data flow: tick (swim.go) runs tickProbe, tickRelays and tickSuspicions;
// an ack or nack that step decodes reaches handleAck or the probe's nack
// count; a probe with no ack ends in suspectNode, and a suspicion that
// times out in deadNode (swim.go's membership rules), whose news the
// dissemination queue gossips.
//
// Concurrency: none of its own. Like the rest of the core it has no
// goroutines, clock, I/O or lock; the driver's goroutine owns it.
package main

import (
	"math"
	"slices"
	"time"
)

// suspicion is the timer of one suspect (Lifeguard §IV.B): it starts at
// max and shrinks towards min as independent confirmations arrive.
type suspicion struct {
	start         time.Duration
	min, max      time.Duration
	k             int             // the confirmations expected
	accusers      map[string]bool // the first accuser and every confirmer
	confirmations int
}

// confirm counts a suspicion from another member; it reports whether it was
// new, and so worth gossiping on.
func (sp *suspicion) confirm(from string) bool {
	if sp.confirmations >= sp.k || sp.accusers[from] {
		return false
	}
	sp.accusers[from] = true
	sp.confirmations++
	return true
}

// deadline: Lifeguard §IV.B, timeout = max(min, max − (max−min)·log(C+1)/log(K+1)).
func (sp *suspicion) deadline() time.Duration {
	if sp.k < 1 {
		return sp.start + sp.min // nobody to confirm: memberlist takes the minimum
	}
	frac := math.Log(float64(sp.confirmations)+1) / math.Log(float64(sp.k)+1)
	t := sp.max - time.Duration(frac*float64(sp.max-sp.min))
	return sp.start + max(t, sp.min)
}

// swimProbe is the probe of the current protocol period (SWIM §4.3).
type swimProbe struct {
	target        string
	incarnation   uint64 // the target's, when the probe began
	seq           uint64
	sentAt        time.Duration // the ping's time: an ack's RTT is from here (swim_ping.go)
	timeoutAt     time.Duration // no ack by then: ping-req and TCP ping
	endAt         time.Duration // no ack by then: suspect
	indirect      bool
	expectedNacks int
	nacks         int
}

// ackHandler is a ping-req this member relays (SWIM §4.2): it pinged the
// target with its own seq and forwards the ack until the deadline; without
// one by nackAt it sends a nack, early enough (Lifeguard §IV.A: at 80% of
// the probe timeout) to reach the requester before its probe ends.
type ackHandler struct {
	seq       uint64 // of the relayed ping
	requester string // the ping-req's sender address
	reqSeq    uint64 // the requester's probe seq
	nack      bool   // a nack is asked for and not sent yet
	nackAt    time.Duration
	deadline  time.Duration
}

// --- probing: SWIM §4.2, §4.3; Lifeguard §IV.A ---

// scale stretches a timeout by the local health score (Lifeguard §IV.A):
// a member that misses acks may be the slow one, so it waits longer.
func (s *swim) scale(d time.Duration) time.Duration { return d * time.Duration(s.awareness+1) }

func (s *swim) applyAwareness(delta int) {
	before := s.awareness
	s.awareness = min(max(s.awareness+delta, 0), s.cfg.AwarenessMax)
	if s.awareness != before {
		s.logger.Debug("health score", "score", s.awareness)
	}
}

func (s *swim) tickProbe() {
	if p := s.probe; p != nil {
		if !p.indirect && s.now >= p.timeoutAt {
			s.probeIndirect(p)
		}
		if s.now >= p.endAt {
			s.probe = nil
			s.probeTimes = append(s.probeTimes, s.now-p.sentAt)
			s.probeFailed(p)
		}
	}
	if s.now >= s.nextProbe {
		s.nextProbe = s.now + s.scale(s.cfg.ProbeInterval)
		s.probeNext()
	}
}

// probeNext pings the next member of the round-robin (SWIM §4.3): every
// member is probed once per cycle, so a failure is detected within a
// bounded time, not just in expectation.
func (s *swim) probeNext() {
	for range len(s.order) + 1 {
		if s.probeIndex >= len(s.order) {
			s.rand.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
			s.probeIndex = 0
			if len(s.order) == 0 {
				return
			}
		}
		n := s.order[s.probeIndex]
		s.probeIndex++
		if n.State == swimAlive || n.State == swimSuspect {
			s.probeNode(n)
			return
		}
	}
}

func (s *swim) probeNode(n *swimNode) {
	s.seq++
	s.probe = &swimProbe{target: n.Name, incarnation: n.Incarnation, seq: s.seq, sentAt: s.now,
		timeoutAt: s.now + s.scale(s.cfg.ProbeTimeout), endAt: s.now + s.scale(s.cfg.ProbeInterval)}
	msgs := [][]byte{(&swimMsg{Type: swimMsgPing, Seq: s.seq, Node: n.Name, From: s.name}).encode()}
	if n.State == swimSuspect {
		msgs = append(msgs, s.buddy(n))
	}
	s.sendPacket(n.Addr, msgs...)
}

// buddy: Lifeguard §IV.C, the buddy system. Whatever we send a suspect
// carries the suspicion, so it refutes at once instead of when the rumour
// reaches it: the rumour may have been lost, if we raised it while we were
// the one cut off.
func (s *swim) buddy(n *swimNode) []byte {
	return (&swimMsg{Type: swimMsgSuspect, Incarnation: n.Incarnation, Node: n.Name, From: s.name}).encode()
}

// probeIndirect: the direct ping timed out. Ask k members to ping the
// target (SWIM §4.2) and, in parallel, ping it over TCP in case UDP is
// filtered on the way.
func (s *swim) probeIndirect(p *swimProbe) {
	p.indirect = true
	target := s.nodes[p.target]
	if target == nil {
		return
	}
	helpers := s.randomMembers(s.cfg.IndirectChecks, func(n *swimNode) bool {
		return n.State == swimAlive && n.Name != p.target
	})
	req := (&swimMsg{Type: swimMsgPingReq, Seq: p.seq, Node: target.Name, Addr: target.Addr, Nack: true}).encode()
	for _, h := range helpers {
		s.sendPacket(h.Addr, req)
	}
	p.expectedNacks = len(helpers)
	if !s.cfg.DisableTCPPings {
		s.streams = append(s.streams, swimStream{To: target.Addr,
			Payload: (&swimMsg{Type: swimMsgPing, Seq: p.seq, Node: target.Name, From: s.name}).encode()})
	}
}

func (s *swim) handleAck(m swimMsg) {
	seq := m.Seq
	if p := s.probe; p != nil && p.seq == seq {
		s.probe = nil
		s.pinged(p, m.Payload)
		s.probeTimes = append(s.probeTimes, s.now-p.sentAt)
		s.applyAwareness(-1) // Lifeguard §IV.A: a successful probe lowers the score
		return
	}
	for i, h := range s.relays {
		if h.seq == seq {
			s.sendPacket(h.requester, (&swimMsg{Type: swimMsgAck, Seq: h.reqSeq}).encode())
			s.relays = slices.Delete(s.relays, i, i+1)
			return
		}
	}
}

// probeFailed: no ack by the end of the period. Lifeguard §IV.A: every nack
// that did not come means our own network or CPU may be at fault, so the
// health score rises by the missing nacks (by one if nobody was asked).
// Then the target is suspected (SWIM §4.4).
func (s *swim) probeFailed(p *swimProbe) {
	if p.expectedNacks > 0 {
		s.applyAwareness(p.expectedNacks - p.nacks)
	} else {
		s.applyAwareness(1)
	}
	s.logger.Debug("probe failed", "target", p.target, "nacks", p.nacks, "expected", p.expectedNacks)
	s.suspectNode(swimMsg{Type: swimMsgSuspect, Incarnation: p.incarnation, Node: p.target, From: s.name})
}

func (s *swim) tickRelays() {
	s.relays = slices.DeleteFunc(s.relays, func(h *ackHandler) bool {
		if h.nack && s.now >= h.nackAt {
			s.sendPacket(h.requester, (&swimMsg{Type: swimMsgNack, Seq: h.reqSeq}).encode())
			h.nack = false
		}
		return s.now >= h.deadline
	})
}

// suspicionTimeout: SuspicionMult·max(1, log10(N+1))·ProbeInterval, the
// minimum; the floor of 1 is memberlist's, for small pools.
func (s *swim) suspicionTimeout(n int) time.Duration {
	scale := max(1, math.Log10(float64(n)+1))
	return time.Duration(float64(s.cfg.SuspicionMult) * scale * float64(s.cfg.ProbeInterval))
}

func (s *swim) tickSuspicions() {
	s.suspects = slices.DeleteFunc(s.suspects, func(name string) bool {
		n := s.nodes[name]
		if n == nil || n.suspicion == nil {
			return true
		}
		if s.now < n.suspicion.deadline() {
			return false
		}
		s.logger.Info("suspect failed", "member", name, "incarnation", n.Incarnation,
			"confirmations", n.suspicion.confirmations, "after", s.now-n.suspicion.start)
		s.deadNode(swimMsg{Type: swimMsgDead, Incarnation: n.Incarnation, Node: name, From: s.name})
		return true
	})
}
