// http_operator.go: /v1/operator/raft, the view and the levers of the
// Raft configuration, and /v1/operator/keyring, the gossip keys of the
// pool (Consul's operator API); /v1/operator/autopilot is in
// http_operator_autopilot.go.
//
// Raft reads answer from this server's Raft status; changes (removing a
// peer, transferring leadership) are the leader's to make, so a follower
// forwards them over the server port (server.go, leaderCall). Keyring
// requests go to every member of the WAN pool (a server) and of the LAN
// pool as a gossip query (serf_keyring.go, poolKeyringOp) from whichever agent
// is asked.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go) and asks Raft, the leader or the gossip pools.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// raftServerInfo is one server in GET /v1/operator/raft/configuration.
type raftServerInfo struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	ProtocolVersion string
	Voter           bool
	LastIndex       uint64 // the last index of its log the leader's autopilot knows (0 unknown)
}

func (h *httpAPI) registerOperator() {
	h.endpoint("/v1/operator/raft/configuration", []string{http.MethodGet}, h.raftConfiguration)
	h.endpoint("/v1/operator/raft/peer", []string{http.MethodDelete}, h.raftRemovePeer)
	h.endpoint("/v1/operator/raft/transfer-leader", []string{http.MethodPost}, h.raftTransferLeader)
	h.endpoint("/v1/operator/keyring", []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}, h.operatorKeyring)
	h.registerOperatorAutopilot()
}

func (h *httpAPI) raftConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	if err := h.a.readBarrier(r.Context(), q); err != nil {
		return nil, err
	}
	st := h.a.raft.raftStatus()
	out := struct {
		Servers []raftServerInfo
		Index   uint64
	}{Servers: []raftServerInfo{}, Index: st.Commit}
	// Each server's last index is this server's autopilot's, as Consul's
	// (known while it leads).
	var ap *autopilotState
	if h.a.autopilot != nil {
		ap = h.a.autopilot.currentState()
	}
	for _, s := range st.Config.Servers {
		info := raftServerInfo{ID: s.ID, Node: s.Node, Address: s.Address,
			Leader: s.ID == st.Leader, ProtocolVersion: "3", Voter: !s.NonVoter}
		if ap != nil {
			info.LastIndex = ap.Servers[s.ID].LastIndex
		}
		out.Servers = append(out.Servers, info)
	}
	return out, nil
}

// raftRemovePeer: DELETE /v1/operator/raft/peer?id=… or ?address=…
func (h *httpAPI) raftRemovePeer(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	id, address := query(r).Get("id"), query(r).Get("address")
	if id == "" && address == "" {
		return nil, badRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	}
	if id != "" && address != "" {
		return nil, badRequest("Must specify only one of ?id or ?address")
	}
	body, _ := json.Marshal(raftServer{ID: id, Address: address})
	ctx, cancel := context.WithTimeout(r.Context(), applyTimeout)
	defer cancel()
	_, err := h.a.leaderCall(ctx, rpcRaftRemove, body, func(ctx context.Context) ([]byte, error) {
		return nil, h.a.removeServerLocal(ctx, id, address)
	})
	return nil, err
}

// raftTransferLeader: POST /v1/operator/raft/transfer-leader[?id=…]
func (h *httpAPI) raftTransferLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	id := query(r).Get("id")
	body, _ := json.Marshal(id)
	ctx, cancel := context.WithTimeout(r.Context(), rpcHoldTimeout)
	defer cancel()
	_, err := h.a.leaderCall(ctx, rpcRaftTransfer, body, func(ctx context.Context) ([]byte, error) {
		return nil, h.a.raft.transferLeadership(ctx, id)
	})
	if err != nil {
		return nil, err
	}
	return map[string]bool{"Success": true}, nil
}

// operatorKeyring: GET lists the keys of every member, POST installs
// {"Key": …} on every member, PUT makes it the primary everywhere, DELETE
// removes it everywhere. On a server, as Consul's, each operation goes to
// the WAN pool first, then to the LAN pool (the keyrings change in
// lock-step), and a list answers one KeyringResponse per pool; ?local-only
// lists the LAN pool alone. A client has no WAN pool and asks its LAN pool
// only (Consul's would forward to a server; the other datacenters' LAN
// pools are not asked either). ?relay-factor (0 to 5) is checked as Consul
// does; answers come straight back to this agent, so it changes nothing.
func (h *httpAPI) operatorKeyring(w http.ResponseWriter, r *http.Request) (any, error) {
	if v := query(r).Get("relay-factor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("Error parsing relay factor: %v", err)
		}
		if n < 0 || n > 5 {
			return nil, badRequest("Invalid relay-factor: relay factor must be in range: [0, 5]")
		}
	}
	localOnly := false
	if v := query(r).Get("local-only"); v != "" {
		var err error
		if localOnly, err = strconv.ParseBool(v); err != nil {
			return nil, badRequest("Error parsing local-only: %v", err)
		}
		if localOnly && r.Method != http.MethodGet {
			return nil, badRequest("Invalid use of local-only: local-only can only be set for list requests")
		}
	}
	name := keyQueryList
	var req struct{ Key string }
	if r.Method != http.MethodGet {
		if err := decodeBody(w, r, &req); err != nil {
			return nil, err
		}
		// Refused before any member is asked, so a bad key changes nothing.
		raw, err := base64.StdEncoding.DecodeString(req.Key)
		if err == nil && len(raw) != 16 && len(raw) != 24 && len(raw) != 32 {
			err = errors.New("key size must be 16, 24 or 32 bytes")
		}
		if err != nil {
			return nil, badRequest("Invalid key: %v", err)
		}
		name = map[string]string{http.MethodPost: keyQueryInstall, http.MethodPut: keyQueryUse, http.MethodDelete: keyQueryRemove}[r.Method]
	}
	pools := []*gossipPool{h.a.lan()}
	if h.a.wan() != nil && !localOnly {
		pools = []*gossipPool{h.a.wan(), h.a.lan()}
	}
	var responses []*KeyringResponse
	var failures []error // the pools' errors, in the order of responses
	for _, pool := range pools {
		resp, err := poolKeyringOp(r.Context(), pool, h.a.cfg.Datacenter, name, req.Key)
		if resp == nil {
			return nil, err // the query did not run
		}
		responses, failures = append(responses, resp), append(failures, err)
	}
	if slices.ContainsFunc(failures, func(err error) bool { return err != nil }) {
		return nil, keyringError(responses, failures)
	}
	if r.Method == http.MethodGet {
		return responses, nil
	}
	return nil, nil
}

// keyringError is Consul's answer when members failed: for each pool that
// failed, its error and each member's message, as one multierror list
// (members by name). failures[i] is nil for a pool that did not fail.
func keyringError(responses []*KeyringResponse, failures []error) error {
	var points []string
	for i, resp := range responses {
		if failures[i] == nil {
			continue
		}
		pool := resp.Datacenter + " (LAN)"
		if resp.WAN {
			pool = "WAN"
		}
		points = append(points, fmt.Sprintf("%s error: %v", pool, failures[i]))
		for _, node := range slices.Sorted(maps.Keys(resp.Messages)) {
			points = append(points, fmt.Sprintf("%s: %s", node, resp.Messages[node]))
		}
	}
	return &httpError{http.StatusInternalServerError, multiErrorText(points)}
}

// multiErrorText formats errors as hashicorp/go-multierror does, which
// Consul's clients and scripts see in its error bodies:
// "1 error occurred:\n\t* first\n\n".
func multiErrorText(errs []string) string {
	head := fmt.Sprintf("%d errors occurred:", len(errs))
	if len(errs) == 1 {
		head = "1 error occurred:"
	}
	return head + "\n\t* " + strings.Join(errs, "\n\t* ") + "\n\n"
}
