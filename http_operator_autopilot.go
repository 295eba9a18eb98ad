// http_operator_autopilot.go: /v1/operator/autopilot, the view and the
// settings of the leader's server management (server_autopilot.go), in
// Consul's shapes.
//
// configuration reads the stored settings from this server's store after
// the usual read barrier, and writes them through the log (a follower's
// apply forwards to the leader). health and state are the leader's last
// autopilot pass: a follower asks the leader for it over the server port
// (rpcAutopilotState), as Consul forwards Operator.ServerHealth.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rpcAutopilotState asks the leader for its autopilot state (JSON).
const rpcAutopilotState = "Operator.AutopilotState"

func (h *httpAPI) registerOperatorAutopilot() {
	h.endpoint("/v1/operator/autopilot/configuration", []string{http.MethodGet, http.MethodPut}, h.autopilotConfiguration)
	h.endpoint("/v1/operator/autopilot/health", []string{http.MethodGet}, h.autopilotHealth)
	h.endpoint("/v1/operator/autopilot/state", []string{http.MethodGet}, h.autopilotStateEndpoint)
}

// autopilotConfiguration: GET the stored configuration; PUT a new one
// (fields the body omits take Consul's defaults), with ?cas=<ModifyIndex>
// a check-and-set that answers whether it won.
func (h *httpAPI) autopilotConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == http.MethodGet {
		q, err := h.parseQuery(r)
		if err != nil {
			return nil, err
		}
		if err := h.a.readBarrier(r.Context(), q); err != nil {
			return nil, err
		}
		c := h.a.store.snapshot().autopilotConfig()
		if c == nil {
			return nil, errors.New("autopilot config not initialized yet")
		}
		return c, nil
	}
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	req := autopilotRequest{Config: defaultAutopilotConfiguration()}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req.Config); err != nil {
		return nil, badRequest("Error parsing autopilot config: %v", err)
	}
	if req.Config.LastContactThreshold < 0 || req.Config.ServerStabilizationTime < 0 {
		return nil, badRequest("Error parsing autopilot config: LastContactThreshold and ServerStabilizationTime cannot be negative")
	}
	req.Config.CreateIndex, req.Config.ModifyIndex = 0, 0
	if v, ok := query(r)["cas"]; ok {
		cas, err := strconv.ParseUint(strings.Join(v, ""), 10, 64)
		if err != nil {
			return nil, badRequest("Error parsing cas value: %v", err)
		}
		req.Config.ModifyIndex, req.CAS = cas, true
	}
	res, err := h.a.apply(r.Context(), &command{Type: cmdAutopilot, Autopilot: &req})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return nil, err
	}
	return !req.CAS || res.ok, nil
}

// leaderAutopilotState is the leader's autopilot state, asked of the
// leader when this server does not lead; nil before the leader's first
// pass.
func (h *httpAPI) leaderAutopilotState(r *http.Request) (*autopilotState, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), rpcHoldTimeout)
	defer cancel()
	out, err := h.a.leaderCall(ctx, rpcAutopilotState, nil, h.a.autopilotStateLocal)
	if err != nil {
		return nil, err
	}
	var st *autopilotState
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, err
	}
	return st, nil
}

// autopilotStateLocal is the leader's side of rpcAutopilotState: its
// state as JSON, null before its first pass.
func (a *Agent) autopilotStateLocal(context.Context) ([]byte, error) {
	return json.Marshal(a.autopilot.currentState())
}

// autopilotStateEndpoint: GET /v1/operator/autopilot/state.
func (h *httpAPI) autopilotStateEndpoint(w http.ResponseWriter, r *http.Request) (any, error) {
	st, err := h.leaderAutopilotState(r)
	if err == nil && st == nil {
		err = errors.New("Failed to get autopilot state: no state found")
	}
	return st, err
}

// serverHealth is one server in GET /v1/operator/autopilot/health.
type serverHealth struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

// autopilotHealth: GET /v1/operator/autopilot/health, answered 429 when
// any server is unhealthy, as Consul's.
func (h *httpAPI) autopilotHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	st, err := h.leaderAutopilotState(r)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &autopilotState{} // Consul's empty reply: unhealthy, no servers
	}
	out := struct {
		Healthy          bool
		FailureTolerance int
		Servers          []serverHealth
	}{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance}
	for _, s := range st.Servers {
		serf := s.NodeStatus
		if serf == "unknown" {
			serf = "none"
		}
		out.Servers = append(out.Servers, serverHealth{ID: s.ID, Name: s.Name, Address: s.Address, SerfStatus: serf,
			Version: s.Version, Leader: s.Status == "leader", LastContact: s.LastContact, LastTerm: s.LastTerm,
			LastIndex: s.LastIndex, Healthy: s.Healthy, Voter: s.Status == "leader" || s.Status == "voter",
			StableSince: s.StableSince.Round(time.Second).UTC()})
	}
	slices.SortFunc(out.Servers, func(x, y serverHealth) int { return strings.Compare(x.Name, y.Name) })
	if !st.Healthy {
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encoding the health: %w", err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write(b)
		return nil, nil
	}
	return out, nil
}
