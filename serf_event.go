// serf_event.go: user events (/v1/event/fire, /v1/event/list).
//
// A user event is a small named message for every agent of the datacenter
// (deploy hooks, cache flushes). Each agent keeps the last events it
// received in a ring (Consul keeps 256) and serves them to /v1/event/list;
// a list blocks until a newer event arrives. An event carries optional
// node, service and tag filters (regular expressions): an agent keeps only
// the events whose filters match it.
//
// Delivery: the LAN gossip pool broadcasts it (serf_lan.go, swim.go) with a
// Lamport time, and every member, the one that fired it included,
// delivers it once.
//
// Concurrency: eventRing.mu guards the ring, the Lamport clock and changed,
// a channel closed (and replaced) whenever an event is added.
package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

const (
	eventRingSize       = 256 // Consul's
	maxEventPayloadSize = 512 // Serf's user event size limit, roughly
)

// UserEvent is an event in Consul's JSON shape.
type UserEvent struct {
	ID            string
	Name          string
	Payload       []byte
	NodeFilter    string
	ServiceFilter string
	TagFilter     string
	Version       int
	LTime         uint64
}

type eventRing struct {
	mu      sync.Mutex
	events  []*UserEvent // oldest first, at most eventRingSize
	ltime   uint64       // Lamport clock of the events seen
	changed chan struct{}
}

func newEventRing() *eventRing { return &eventRing{changed: make(chan struct{})} }

// add keeps an event, unless it has it already, and wakes the blocked
// lists.
func (r *eventRing) add(e *UserEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.events {
		if old.ID == e.ID {
			return
		}
	}
	r.ltime = max(r.ltime, e.LTime)
	r.events = append(r.events, e)
	if len(r.events) > eventRingSize {
		r.events = r.events[len(r.events)-eventRingSize:]
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// nextLTime ticks the Lamport clock for an event fired here.
func (r *eventRing) nextLTime() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ltime++
	return r.ltime
}

// list returns the events named name ("" for all), the list's index, and a
// channel closed at the next event. The index is derived from the ID of the
// newest event listed, as Consul does, so it changes with each such event.
func (r *eventRing) list(name string) ([]*UserEvent, uint64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []*UserEvent{}
	for _, e := range r.events {
		if name == "" || e.Name == name {
			out = append(out, e)
		}
	}
	var idx uint64
	if len(out) > 0 {
		idx = eventIndex(out[len(out)-1].ID)
	}
	return out, idx, r.changed
}

// eventIndex folds an event's UUID into a uint64 as Consul's uuidToUint64
// does, and its clients' Event.IDToIndex, which watches compare with the
// X-Consul-Index to skip the events they have seen: the first 16 hex
// digits as a big-endian number, XOR the last 16.
func eventIndex(id string) uint64 {
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) < 16 {
		return 0
	}
	return binary.BigEndian.Uint64(b[0:8]) ^ binary.BigEndian.Uint64(b[8:16])
}

// eventMatches reports whether the event's filters select this agent.
func (a *Agent) eventMatches(e *UserEvent) bool {
	if e.NodeFilter != "" {
		if re, err := regexp.Compile(e.NodeFilter); err != nil || !re.MatchString(a.cfg.NodeName) {
			return false
		}
	}
	if e.ServiceFilter == "" {
		return true
	}
	svcRe, err := regexp.Compile(e.ServiceFilter)
	if err != nil {
		return false
	}
	tagRe, err := regexp.Compile(e.TagFilter)
	if err != nil {
		return false
	}
	for _, s := range a.local.serviceList() {
		if !svcRe.MatchString(s.Service) {
			continue
		}
		if e.TagFilter == "" {
			return true
		}
		for _, tag := range s.Tags {
			if tagRe.MatchString(tag) {
				return true
			}
		}
	}
	return false
}

func (h *httpAPI) registerEvent() {
	// Consul registers fire as PUT; Spring's client POSTs, which is harmless to accept.
	h.endpoint("/v1/event/fire/", []string{http.MethodPut, http.MethodPost}, h.eventFire)
	h.endpoint("/v1/event/list", []string{http.MethodGet}, h.eventList)
}

func (h *httpAPI) eventFire(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	name, err := pathArg(r, "/v1/event/fire/", "name")
	if err != nil {
		return nil, err
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxEventPayloadSize+1))
	if err != nil {
		return nil, badRequest("Failed to read the payload: %v", err)
	}
	if len(payload) > maxEventPayloadSize {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("Payload too large: max %d bytes", maxEventPayloadSize)}
	}
	if len(payload) == 0 {
		payload = nil
	}
	q := query(r)
	e := &UserEvent{ID: newUUID(), Name: name, Payload: payload, Version: 1,
		NodeFilter: q.Get("node"), ServiceFilter: q.Get("service"), TagFilter: q.Get("tag")}
	for _, f := range []string{e.NodeFilter, e.ServiceFilter, e.TagFilter} {
		if _, err := regexp.Compile(f); err != nil {
			return nil, badRequest("Invalid filter %q: %v", f, err)
		}
	}
	if err := h.eventFireAllowed(r, name); err != nil {
		return nil, err
	}
	e.LTime = h.a.events.nextLTime()
	if err := h.a.fireUserEvent(e); err != nil {
		return nil, err
	}
	h.a.logger.Debug("user event fired", "name", name, "id", e.ID)
	return e, nil
}

func (h *httpAPI) eventList(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	name := query(r).Get("name")
	z, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	answer := func(events []*UserEvent, idx uint64) (any, error) {
		h.setQueryMeta(w, q, idx)
		events, filtered := z.filterEvents(events) // after the name filter, as Consul's
		z.markFiltered(w, filtered)
		return events, nil
	}
	timer := time.NewTimer(q.wait)
	defer timer.Stop()
	for {
		events, idx, changed := h.a.events.list(name)
		if q.index == 0 || idx != q.index {
			return answer(events, idx)
		}
		select {
		case <-changed: // maybe an event of another name: look again
		case <-timer.C:
			return answer(events, idx)
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}
