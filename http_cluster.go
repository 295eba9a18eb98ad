// http_cluster.go: the endpoints of the live teaching view (/ui/cluster,
// ui_cluster.go), which show Raft and gossip at work, and its controls.
//
//	GET /v1/operator/raft/state     every server's Raft state (raftStateView), operator:read;
//	                                ?local: this server's only
//	GET /v1/agent/gossip/state      this agent's view of its gossip pools (LAN; WAN on servers), agent:read
//	GET /v1/agent/events            this agent's timeline (agent_timeline.go), agent:read;
//	                                blocking with ?index= and ?wait= as Consul's
//	PUT /v1/operator/debug/raft/step-down            this leader becomes a follower
//	PUT /v1/operator/debug/raft/pause?duration=10s   this server's Raft loop stops
//	PUT /v1/operator/debug/gossip/drop?member=X&duration=10s[&wan]
//	                                lose gossip with member X (X = this agent: with everyone)
//
// The controls are operator:write and exist only with enable_debug (on in
// -dev): otherwise 404 with a message saying so, as Consul's pprof
// endpoints answer 404 without it. Durations are at most a minute.
//
// Data flow. Each server answers for its own Raft state (raftNode.stateView,
// raft_observe.go); GET /v1/operator/raft/state gathers them: the server
// asked calls every other server of its configuration over the server port
// (Operator.RaftState, at most two seconds each, all at once), so a page
// needs one request and no server's HTTP address, and a server that does
// not answer shows as such. A client agent forwards the request to a
// server (rpc_forward.go). The gossip state and the timeline are the
// agent's own (swim_observe.go; the drivers record the events).
//
// Concurrency: none of its own; each request runs on its own goroutine,
// the gathering ones with one goroutine per server.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The teaching view's calls between servers: a server's raftStateView,
// and the step-down control, sent on to the leader.
const (
	rpcOperatorRaftState = "Operator.RaftState"
	rpcOperatorStepDown  = "Operator.StepDown"
)

// maxControlDuration bounds the pause and drop controls.
const maxControlDuration = time.Minute

func (h *httpAPI) registerCluster() {
	h.endpoint("/v1/operator/raft/state", []string{http.MethodGet}, h.raftState)
	h.endpoint("/v1/agent/gossip/state", []string{http.MethodGet}, h.gossipState)
	h.endpoint("/v1/agent/events", []string{http.MethodGet}, h.timelineList)
	h.endpoint("/v1/operator/debug/raft/step-down", []string{http.MethodPut}, h.debugStepDown)
	h.endpoint("/v1/operator/debug/raft/pause", []string{http.MethodPut}, h.debugPause)
	h.endpoint("/v1/operator/debug/gossip/drop", []string{http.MethodPut}, h.debugDrop)
}

// raftClusterState is the answer of GET /v1/operator/raft/state.
type raftClusterState struct {
	Leader  string // the leader's node name, as the server asked knows it
	Term    uint64 // the server asked's term
	Servers []raftStateView
}

func (h *httpAPI) raftState(w http.ResponseWriter, r *http.Request) (any, error) {
	if h.a.raft == nil {
		return nil, &httpError{http.StatusBadRequest, "this agent is not a server"}
	}
	self := h.a.raft.stateView(r.Context())
	if queryFlag(r, "local") {
		return self, nil
	}
	st := h.a.raft.raftStatus()
	out := raftClusterState{Leader: self.Leader, Term: self.Term, Servers: make([]raftStateView, len(st.Config.Servers))}
	var wg sync.WaitGroup
	for i, s := range st.Config.Servers {
		if s.ID == st.ID {
			out.Servers[i] = self
			continue
		}
		wg.Go(func() { out.Servers[i] = h.a.peerRaftState(r.Context(), s) })
	}
	wg.Wait()
	slices.SortFunc(out.Servers, func(a, b raftStateView) int { return cmp.Compare(a.Node, b.Node) })
	return out, nil
}

// peerRaftState asks server s for its state, for at most two seconds.
func (a *Agent) peerRaftState(ctx context.Context, s raftServer) raftStateView {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v := raftStateView{ID: s.ID, Node: s.Node, Address: s.Address}
	out, err := a.pool.call(ctx, s.Address, rpcOperatorRaftState, nil)
	if err == nil {
		err = json.Unmarshal(out, &v)
	}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}

// gossipClusterState is the answer of GET /v1/agent/gossip/state.
type gossipClusterState struct {
	LAN gossipPoolView
	WAN *gossipPoolView `json:",omitempty"` // servers only
}

func (h *httpAPI) gossipState(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.agentRequire(r, aclResAgent, aclRead, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	var out gossipClusterState
	var err error
	if out.LAN, err = h.a.lan().View(); err != nil {
		return nil, err
	}
	if h.a.wan() != nil {
		wan, err := h.a.wan().View()
		if err != nil {
			return nil, err
		}
		out.WAN = &wan
	}
	return out, nil
}

// timelineList is GET /v1/agent/events: the events after ?index (all
// without it), oldest first; X-Consul-Index is the newest event's index.
func (h *httpAPI) timelineList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.agentRequire(r, aclResAgent, aclRead, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	q, err := parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(q.wait)
	defer timer.Stop()
	for {
		events, idx, changed := h.a.timeline.list(q.index)
		if q.index == 0 || idx != q.index {
			h.setQueryMeta(w, q, idx)
			return events, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			h.setQueryMeta(w, q, idx)
			return events, nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

// debugAllowed refuses the controls without enable_debug.
func (h *httpAPI) debugAllowed() error {
	if !h.a.cfg.EnableDebug {
		return &httpError{http.StatusNotFound, "the teaching controls are off: start the agent with enable_debug (on in -dev)"}
	}
	return nil
}

// controlDuration reads ?duration, 1 ms to a minute.
func controlDuration(r *http.Request) (time.Duration, error) {
	v := query(r).Get("duration")
	if v == "" {
		return 0, &httpError{http.StatusBadRequest, "missing ?duration (e.g. 10s)"}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxControlDuration {
		return 0, &httpError{http.StatusBadRequest, fmt.Sprintf("invalid ?duration %q: a duration up to %v, e.g. 10s", v, maxControlDuration)}
	}
	return d, nil
}

func (h *httpAPI) debugRaft() error {
	if err := h.debugAllowed(); err != nil {
		return err
	}
	if h.a.raft == nil {
		return &httpError{http.StatusBadRequest, "this agent is not a server: it has no Raft"}
	}
	return nil
}

// debugStepDown makes the leader step down: this server if it leads, else
// the leader it knows, asked once (a retry could depose the next leader).
func (h *httpAPI) debugStepDown(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.debugRaft(); err != nil {
		return nil, err
	}
	var err error
	if h.a.raft.isLeader() {
		err = h.a.stepDownLocal(r.Context())
	} else if addr := h.a.raft.leaderAddr(); addr != "" {
		_, err = h.a.pool.call(r.Context(), addr, rpcOperatorStepDown, nil)
		err = remoteError(err)
	} else {
		err = errNoLeader
	}
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "cannot step down: " + err.Error()}
	}
	return true, nil
}

// stepDownLocal is the step-down control on the leader itself, which must
// have enable_debug too.
func (a *Agent) stepDownLocal(ctx context.Context) error {
	if !a.cfg.EnableDebug {
		return fmt.Errorf("the leader %s has the teaching controls off (enable_debug)", a.cfg.NodeName)
	}
	return a.raft.stepDown(ctx)
}

func (h *httpAPI) debugPause(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.debugRaft(); err != nil {
		return nil, err
	}
	d, err := controlDuration(r)
	if err != nil {
		return nil, err
	}
	if err := h.a.raft.pause(r.Context(), d); err != nil {
		if err == errRaftPaused {
			return nil, &httpError{http.StatusBadRequest, "already paused"}
		}
		return nil, err
	}
	return true, nil
}

func (h *httpAPI) debugDrop(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.debugAllowed(); err != nil {
		return nil, err
	}
	member := query(r).Get("member")
	if member == "" {
		return nil, &httpError{http.StatusBadRequest, "missing ?member (a member's name)"}
	}
	d, err := controlDuration(r)
	if err != nil {
		return nil, err
	}
	pool := h.a.lan()
	if queryFlag(r, "wan") {
		if h.a.wan() == nil {
			return nil, &httpError{http.StatusBadRequest, "this agent is not a server: it has no WAN pool"}
		}
		pool = h.a.wan()
	}
	if err := pool.Drop(member, d); err != nil {
		return nil, err
	}
	return true, nil
}
