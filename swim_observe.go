// swim_observe.go: what a gossip pool shows of itself for the live
// teaching view: its state (gossipPoolView, served by
// GET /v1/agent/gossip/state, http_cluster.go), the events its driver
// records in the agent's timeline (agent_timeline.go), and the teaching
// control that drops gossip to a member (enable_debug only).
//
// Data flow. The view is built by the core itself (swim.view), purely,
// from the time the driver passes in, on the driver's loop. The events are
// the driver's (swim_node.go's handleReady calls observe): the membership
// events each ready carries (join, suspect, failed, left, user events; an
// update of a member that was suspect is its refutation) and this member's
// own refutations, which the core counts. The drop control is a filter in
// the driver's sockets: packets to and from the member are not sent or
// not taken, as a network that loses them would; the core never knows.
//
// Concurrency: view runs on the pool's loop (through do); observe and the
// observer's map of last states are the loop's; the drop filter
// (gossipDrops) has its own mutex, since the UDP reader and the stream
// goroutines consult it too.
package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// gossipSuspicionView is a suspicion in progress (Lifeguard §IV.B): its
// timeout shrinks from Max towards Min as independent confirmations come.
type gossipSuspicionView struct {
	Accusers      []string // the first accuser and every confirmer
	Confirmations int      // beyond the first accusation
	Expected      int      // the confirmations that bring the timeout down to Min (k)
	Elapsed       int64    // milliseconds since it began
	Timeout       int64    // milliseconds from its start to the deadline, as of now
	Min, Max      int64    // milliseconds
}

// gossipMemberView is one member as this member sees it.
type gossipMemberView struct {
	Name, Addr  string
	Status      string // alive, suspect, failed or left
	Incarnation uint64
	Since       int64                `json:",omitempty"` // milliseconds since its status last changed (0: since it joined)
	Suspicion   *gossipSuspicionView `json:",omitempty"`
	Dropped     bool                 `json:",omitempty"` // the drop control is losing its gossip
}

// gossipPoolView is one pool's state at one member.
type gossipPoolView struct {
	Pool        string // lan or wan
	Self        string
	HealthScore int // Lifeguard §IV.A's local health multiplier: 0 is healthy
	// HealthScoreMax: the score saturates here; probe intervals and
	// timeouts are stretched by (HealthScore+1).
	HealthScoreMax int
	ProbeInterval  int64 // milliseconds, as stretched by the health score
	Members        []gossipMemberView
	Refutes        uint64 // times this member refuted a suspicion or death of itself
}

// view is the core's state for the teaching view, as of now. Pure: it
// reads the core and changes nothing.
func (s *swim) view(now time.Duration) gossipPoolView {
	v := gossipPoolView{Self: s.name, HealthScore: s.awareness, HealthScoreMax: s.cfg.AwarenessMax,
		ProbeInterval: s.scale(s.cfg.ProbeInterval).Milliseconds(), Refutes: s.stats.Refutes}
	for _, m := range s.members() {
		n := s.nodes[m.Name]
		mv := gossipMemberView{Name: m.Name, Addr: m.Addr, Status: m.State.String(), Incarnation: m.Incarnation}
		if n.stateChange > 0 {
			mv.Since = (now - n.stateChange).Milliseconds()
		}
		if sp := n.suspicion; sp != nil {
			accusers := make([]string, 0, len(sp.accusers))
			for a := range sp.accusers {
				accusers = append(accusers, a)
			}
			slices.Sort(accusers)
			mv.Suspicion = &gossipSuspicionView{Accusers: accusers, Confirmations: sp.confirmations,
				Expected: sp.k, Elapsed: (now - sp.start).Milliseconds(),
				Timeout: (sp.deadline() - sp.start).Milliseconds(), Min: sp.min.Milliseconds(), Max: sp.max.Milliseconds()}
		}
		v.Members = append(v.Members, mv)
	}
	return v
}

// View returns the pool's state, from its loop.
func (p *gossipPool) View() (gossipPoolView, error) {
	var v gossipPoolView
	err := p.do(func(now time.Duration) { v = p.core.view(now) })
	v.Pool = p.cfg.Pool
	for i := range v.Members {
		v.Members[i].Dropped = v.Members[i].Name != v.Self && p.drops.dropping(v.Members[i].Addr)
	}
	return v, err
}

// gossipObserver is the driver's bookkeeping for the timeline. Owned by the
// pool's loop.
type gossipObserver struct {
	timeline *timeline            // the agent's; nil records nothing
	states   map[string]swimState // each member's state as last reported
	refutes  uint64               // the core's refute count last seen
}

// observe records a ready's membership events and this member's own
// refutations.
func (p *gossipPool) observe(events []swimEvent) {
	o := &p.obs
	if o.timeline == nil {
		return
	}
	if o.states == nil {
		o.states = map[string]swimState{}
	}
	if r := p.core.stats.Refutes; r > o.refutes {
		o.refutes = r
		p.record(timelineEvent{Type: "refute", Member: p.core.name,
			Summary: fmt.Sprintf("another member suspected or declared this one dead: refuted it at incarnation %d, and raised the local health score to %d", p.core.self.Incarnation, p.core.awareness),
			Ref:     "swim.go refute, SWIM §4.4, Lifeguard §IV.A"})
	}
	for _, ev := range events {
		m := ev.Member
		prev, known := o.states[m.Name]
		if ev.Type != swimEventUser && ev.Type != swimEventQuery {
			o.states[m.Name] = m.State
		}
		e := timelineEvent{Member: m.Name}
		switch ev.Type {
		case swimEventJoin:
			e.Type, e.Ref = "join", "swim.go aliveNode, SWIM §4.4"
			e.Summary = fmt.Sprintf("%s joined at %s (incarnation %d)", m.Name, m.Addr, m.Incarnation)
			if known {
				e.Summary = fmt.Sprintf("%s is back from %s (incarnation %d)", m.Name, prev, m.Incarnation)
			}
		case swimEventUpdate:
			if !known || prev != swimSuspect {
				continue // an address or tag change: not a protocol event
			}
			e.Type, e.Ref = "refuted", "swim.go aliveNode, SWIM §4.4"
			e.Summary = fmt.Sprintf("%s refuted the suspicion: alive at incarnation %d", m.Name, m.Incarnation)
		case swimEventSuspect:
			e.Type, e.Ref = "suspect", "swim_probe.go, swim.go suspectNode, SWIM §4.4, Lifeguard §IV.B"
			e.Summary = fmt.Sprintf("%s is suspect (incarnation %d): it missed a probe, direct and indirect", m.Name, m.Incarnation)
			if n := p.core.nodes[m.Name]; n != nil && n.suspicion != nil {
				sp := n.suspicion
				e.Summary = fmt.Sprintf("%s is suspect (incarnation %d), accused by %s: failed in %v unless it refutes, sooner with up to %d confirmations (at least %v)",
					m.Name, m.Incarnation, strings.Join(mapKeysSorted(sp.accusers), ", "), sp.max.Round(time.Millisecond), sp.k, sp.min.Round(time.Millisecond))
				if sp.k < 1 {
					e.Summary = fmt.Sprintf("%s is suspect (incarnation %d), accused by %s: failed in %v unless it refutes (too few members to wait for confirmations)",
						m.Name, m.Incarnation, strings.Join(mapKeysSorted(sp.accusers), ", "), sp.min.Round(time.Millisecond))
				}
			}
		case swimEventFailed:
			e.Type, e.Ref = "failed", "swim_probe.go tickSuspicions, swim.go deadNode, SWIM §4.4, Lifeguard §IV.B"
			e.Summary = fmt.Sprintf("%s failed: its suspicion timed out without a refutation", m.Name)
		case swimEventLeft:
			e.Type, e.Ref = "left", "swim.go deadNode, Serf's leave (swim_serf.go)"
			e.Summary = fmt.Sprintf("%s left the pool gracefully", m.Name)
		case swimEventReap:
			delete(o.states, m.Name)
			e.Type, e.Ref = "reap", "swim.go reap, Serf's reconnect and tombstone timeouts"
			e.Summary = fmt.Sprintf("%s forgotten: %s for longer than the timeout", m.Name, m.State)
		case swimEventUser:
			e.Type, e.Member, e.Ref = "user-event", "", "swim.go handleUser, serf_event.go, Serf's user events (Lamport clock)"
			e.Summary = fmt.Sprintf("user event %q delivered (Lamport time %d, %d bytes)", ev.User.Name, ev.User.LTime, len(ev.User.Payload))
		default:
			continue
		}
		p.record(e)
	}
}

func (p *gossipPool) record(e timelineEvent) {
	e.Source = p.cfg.Pool
	p.obs.timeline.record(e)
}

func mapKeysSorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// gossipDrops is the drop control's filter: gossip addresses whose packets
// are lost until a time, or every address (all) while this member is cut
// off from the pool.
type gossipDrops struct {
	mu    sync.Mutex
	until map[string]time.Time // gossip address (host:port) → when the drop ends
	all   time.Time            // every member, streams from anyone too, until then
}

// drop loses gossip to and from addr (all: every member) for d.
func (g *gossipDrops) drop(addr string, all bool, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if all {
		g.all = time.Now().Add(d)
		return
	}
	if g.until == nil {
		g.until = map[string]time.Time{}
	}
	g.until[addr] = time.Now().Add(d)
}

// dropping reports whether gossip with addr is being lost now ("" asks
// whether everything is: for the streams other members open, which come
// from no gossip address).
func (g *gossipDrops) dropping(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if now.Before(g.all) {
		return true
	}
	until, ok := g.until[addr]
	if ok && !now.Before(until) {
		delete(g.until, addr)
		return false
	}
	return ok
}

// Drop is the teaching control: lose every packet and stream to and from
// member name for d; name being this member itself cuts it off from the
// whole pool, so that the others suspect it and, once the drop ends, it
// refutes (SWIM §4.4). Losing one other member alone shows SWIM's
// indirect probes at work (SWIM §4.2): others still reach it, so it is not
// suspected.
func (p *gossipPool) Drop(name string, d time.Duration) error {
	var addr string
	for _, m := range p.Members() {
		if m.Name == name {
			addr = m.Addr
		}
	}
	if addr == "" {
		return &httpError{http.StatusNotFound, fmt.Sprintf("no member %q in the %s pool", name, p.cfg.Pool)}
	}
	all := name == p.cfg.Swim.Name
	p.drops.drop(addr, all, d)
	what := fmt.Sprintf("drop control: losing all gossip with %s for %v", name, d)
	if all {
		what = fmt.Sprintf("drop control: this member is cut off from the whole pool for %v", d)
	}
	return p.do(func(time.Duration) {
		p.record(timelineEvent{Type: "control", Member: name, Summary: what,
			Ref: "swim_observe.go Drop, SWIM §4.2 (indirect probes), §4.4 (suspicion)"})
	})
}
