// agent_timeline.go: the agent's timeline of protocol events, for the live
// teaching view (/ui/cluster, ui_cluster.go) and GET /v1/agent/events
// (http_cluster.go): elections and votes, leadership changes, snapshots
// taken, sent and installed, gossip members suspected, refuted, failed and
// left, user events, and the teaching controls used.
//
// Data flow: the drivers record what their pure cores reported, never the
// cores themselves: the Raft driver (raft_observe.go) from each ready's
// messages, the messages it steps and its published status; the gossip
// driver (swim_observe.go) from each ready's events and its core's refute
// count. Each event names the file and the paper section that implements
// it (Ref), so a reader can go from what happened to why.
//
// The timeline is a bounded ring (timelineSize events): the oldest go
// first. Every event gets the next index, from 1, which the blocking list
// (?index=) waits past, as Consul's blocking queries do.
//
// Concurrency: a mutex guards the ring, its index and the channel closed
// (and replaced) at each record, on which readers wait.
package main

import (
	"sync"
	"time"
)

// timelineSize is how many events an agent keeps.
const timelineSize = 512

// timelineEvent is one thing that happened, as one agent saw it.
type timelineEvent struct {
	Index   uint64    // from 1, in the order recorded
	Time    time.Time // when the driver recorded it
	Node    string    // the agent that saw it
	Source  string    // "raft", "lan", "wan" or "debug"
	Type    string    // e.g. "vote-granted", "leader", "suspect", "refuted"
	Term    uint64    `json:",omitempty"` // Raft events: the term
	Member  string    `json:",omitempty"` // the other server or member concerned
	Summary string    // one sentence, for people
	Ref     string    // the file and paper section that implement it
}

// timeline is an agent's ring of recent events.
type timeline struct {
	node string

	mu      sync.Mutex
	events  []timelineEvent // oldest first, at most timelineSize
	last    uint64          // the index of the newest event
	changed chan struct{}   // closed at the next record
}

func newTimeline(node string) *timeline {
	return &timeline{node: node, changed: make(chan struct{})}
}

// record adds an event; Index, Time and Node are filled in. A nil timeline
// records nothing (a core driven by a test without an agent).
func (t *timeline) record(e timelineEvent) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last++
	e.Index, e.Time, e.Node = t.last, time.Now().UTC(), t.node
	if len(t.events) == timelineSize {
		t.events = append(t.events[:0], t.events[1:]...)
	}
	t.events = append(t.events, e)
	close(t.changed)
	t.changed = make(chan struct{})
}

// list returns the events after index after (all of them when after is
// beyond the newest, as after a restart), oldest first, the newest index,
// and a channel closed at the next record, for a blocking list to wait on.
func (t *timeline) list(after uint64) ([]timelineEvent, uint64, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if after > t.last {
		after = 0
	}
	out := []timelineEvent{}
	for _, e := range t.events {
		if e.Index > after {
			out = append(out, e)
		}
	}
	return out, t.last, t.changed
}
