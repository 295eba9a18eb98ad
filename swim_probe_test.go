// swim_probe_test.go: the SWIM core's failure detector (swim_probe.go), on
// the simulated network of swim_test.go: completeness and accuracy of
// failure detection (SWIM §5), local health awareness against a control
// run without it (Lifeguard §IV.A), nacks in time, the TCP ping fallback,
// and the suspicion timeout's fall with confirmations (Lifeguard §IV.B).
package main

import (
	"fmt"
	"testing"
	"time"
)

// SWIM §5 (completeness and accuracy): a killed member is marked failed by
// every other member within the bound, at 50 members with 1% loss, and no
// healthy member is ever marked failed. Lifeguard §IV.B: with confirmations
// the typical detection is far below the maximum suspicion timeout.
func TestSwimFailureDetection(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 50, nil)
	s.net.drop = 0.01
	s.joinAll(35 * time.Second)
	s.protectAll()
	victim := s.nodes[17]
	delete(s.protected, victim.name)
	at := s.failedAt(victim.name)
	victim.down = true
	killed := s.now
	cfg := swimLANConfig()
	lo := victim.core.suspicionTimeout(50)
	hi := lo * time.Duration(cfg.SuspicionMaxTimeoutMult)
	// The first probe of the victim comes within a few periods (49 members
	// probe one each per period), the suspicion lasts at most hi, and the
	// failure spreads in about a second.
	bound := 5*cfg.ProbeInterval + hi + 2*time.Second
	if _, ok := s.runUntil(bound, func() bool { return len(at) == 49 }); !ok {
		t.Fatalf("%d of 49 members marked %s failed within %v", len(at), victim.name, bound)
	}
	var ds []time.Duration
	for _, when := range at {
		ds = append(ds, when-killed)
	}
	med, mx := swimMedianMax(ds)
	t.Logf("50 members, 1%% loss: failure detected in median %v, max %v (suspicion timeout %v..%v)", med, mx, lo, hi)
	if med > hi/2 {
		t.Errorf("median detection %v: confirmations did not shorten the suspicion (max %v)", med, hi)
	}
	s.run(30 * time.Second) // accuracy: keep watching the healthy members
	for _, obs := range s.live() {
		for _, m := range s.live() {
			if st := s.view(obs.name, m.name); m != obs && st != swimAlive {
				t.Errorf("%s sees healthy %s as %v", obs.name, m.name, st)
			}
		}
	}
}

// Lifeguard §IV.A: a member starved of CPU (it neither ticks nor reads its
// socket for seconds at a time; packets queue) comes back with stale timers
// that fire before it drains its backlog of acks. Lifeguard's claims: no
// healthy member is declared failed by anyone, and local health awareness
// makes the slow member raise fewer false suspicions: its health score
// rises and stretches its own probe timeouts. The same run without it
// (AwarenessMax 0) is the control. (The slow member itself was
// unresponsive; it is not protected.)
func TestSwimLifeguardSlowMember(t *testing.T) {
	t.Parallel()
	seed := swimTestSeed(t)
	withLHA, maxScore := swimStarvedRun(t, seed, nil)
	without, _ := swimStarvedRun(t, seed, func(c *swimConfig) { c.AwarenessMax = 0 })
	t.Logf("false suspicions raised by the starved member: %d with local health awareness (score up to %d), %d without",
		withLHA, maxScore, without)
	if withLHA >= without {
		t.Errorf("local health awareness did not reduce the starved member's false suspicions: %d vs %d", withLHA, without)
	}
}

// swimStarvedRun starves one of 20 members for 3 s of every 5 for a minute
// and returns the suspicions it raised and its highest health score.
func swimStarvedRun(t *testing.T, seed uint64, tweak func(*swimConfig)) (suspicions, maxScore int) {
	s := newSwimSim(t, seed, 20, tweak)
	s.net.drop = 0.01
	s.joinAll(35 * time.Second)
	s.protectAll()
	slow := s.nodes[7]
	delete(s.protected, slow.name)
	s.onEvent = append(s.onEvent, func(obs *swimSimNode, ev swimEvent) {
		if ev.Type == swimEventSuspect && obs == slow {
			suspicions++
		}
	})
	for range 12 {
		slow.paused = true
		s.run(3 * time.Second)
		slow.paused = false
		slow.core.tick(s.now) // its timers fire before it reads the socket
		s.process(slow)
		s.runUntil(2*time.Second, func() bool {
			maxScore = max(maxScore, slow.core.healthScore())
			return false
		})
	}
	s.run(40 * time.Second)
	names := s.names()
	if !s.everyoneSees(swimAlive, names...) {
		t.Fatalf("not every member sees every other alive after the stalls: %v", s.stuck(swimAlive, names...))
	}
	return suspicions, maxScore
}

// The TCP ping: a member whose UDP is filtered is still probed successfully
// over TCP and never suspected; without TCP pings (the control) it is.
func TestSwimTCPFallback(t *testing.T) {
	t.Parallel()
	for _, tcp := range []bool{true, false} {
		s := newSwimSim(t, swimTestSeed(t), 8, func(c *swimConfig) { c.DisableTCPPings = !tcp })
		s.joinAll(35 * time.Second)
		x := s.nodes[3]
		suspected := 0
		s.onEvent = append(s.onEvent, func(obs *swimSimNode, ev swimEvent) {
			if ev.Type == swimEventSuspect && ev.Member.Name == x.name {
				suspected++
			}
		})
		s.udpBlocked[x.name] = true
		s.run(20 * time.Second)
		t.Logf("TCP pings %v: %s suspected %d times in 20 s with its UDP filtered", tcp, x.name, suspected)
		if tcp && suspected > 0 || !tcp && suspected == 0 {
			t.Errorf("TCP pings %v: %s suspected %d times", tcp, x.name, suspected)
		}
	}
}

// Lifeguard §IV.B: the suspicion timeout falls from max to min with the
// logarithm of the confirmations.
func TestSwimSuspicionTimeout(t *testing.T) {
	t.Parallel()
	sp := &suspicion{min: 2 * time.Second, max: 12 * time.Second, k: 3, accusers: map[string]bool{"a": true}}
	want := []time.Duration{12 * time.Second, 7 * time.Second, 4075 * time.Millisecond, 2 * time.Second}
	for i, w := range want {
		if d := sp.deadline(); d/time.Millisecond != w/time.Millisecond {
			t.Errorf("%d confirmations: timeout %v, want %v", i, d, w)
		}
		if i < 3 && !sp.confirm(fmt.Sprintf("c%d", i)) {
			t.Fatalf("confirmation %d not counted", i)
		}
	}
	if sp.confirm("a") || sp.confirm("c9") {
		t.Error("the first accuser, or one more than k, counted as a confirmation")
	}
	if d := (&suspicion{min: time.Second, max: 6 * time.Second}).deadline(); d != time.Second {
		t.Errorf("k=0: timeout %v, want the minimum", d)
	}
}

// TestSwimNacksInTime: the relays of a probe of a dead member send their
// nacks in time for the prober's period (Lifeguard §IV.A: at 80% of the
// probe timeout), so probing a dead member costs the healthy ones no local
// health: their scores stay 0.
func TestSwimNacksInTime(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 8, nil)
	s.joinAll(35 * time.Second)
	s.protectAll()
	victim := s.nodes[3]
	delete(s.protected, victim.name)
	at := s.failedAt(victim.name)
	victim.down = true
	if _, ok := s.runUntil(60*time.Second, func() bool { return len(at) == 7 }); !ok {
		t.Fatalf("%d of 7 members marked %s failed", len(at), victim.name)
	}
	for _, n := range s.live() {
		if score := n.core.healthScore(); score != 0 {
			t.Errorf("%s's health score is %d after probing a dead member", n.name, score)
		}
	}
}
