// http_operator.go: /v1/operator/raft, the view and the levers of the
// Raft configuration (Consul's operator API).
//
// Reads answer from this server's Raft status; changes (removing a peer,
// transferring leadership) are the leader's to make, so a follower forwards
// them over the server port (server.go, leaderCall).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
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
}

func (h *httpAPI) registerOperator() {
	h.endpoint("/v1/operator/raft/configuration", []string{http.MethodGet}, h.raftConfiguration)
	h.endpoint("/v1/operator/raft/peer", []string{http.MethodDelete}, h.raftRemovePeer)
	h.endpoint("/v1/operator/raft/transfer-leader", []string{http.MethodPost}, h.raftTransferLeader)
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
	for _, s := range st.Config.Servers {
		out.Servers = append(out.Servers, raftServerInfo{ID: s.ID, Node: s.Node, Address: s.Address,
			Leader: s.ID == st.Leader, ProtocolVersion: "3", Voter: true})
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
	return nil, remoteNotFound(err)
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

// remoteNotFound keeps a peer-not-found answer a 404 when it came back from
// the leader over RPC.
func remoteNotFound(err error) error {
	var remote *rpcRemoteError
	if errors.As(err, &remote) && strings.HasPrefix(remote.Error(), "Raft peer ") {
		return notFound("%s", remote.Error())
	}
	return err
}
