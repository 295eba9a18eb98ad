// server.go: what makes an agent a server: its Raft node and the server
// RPC port, and the writes and reads that go through the leader. Forming
// the cluster is server_join.go; what the leader does because it leads is
// server_leader.go; the port's frames and pool are rpc.go and rpc_pool.go.
//
// Writes: Agent.apply encodes the command; on the leader it goes straight
// to raftNode.apply; on a follower it is forwarded over the server port
// (rpc.go) as a Raft.Apply call, which the leader serves the same way.
// Either way the caller gets the store's result once the command is
// committed and applied on the leader.
//
// Reads (Consul's consistency modes): ?stale reads this server's store as
// it is. The default and ?consistent first get a read index from the leader
// (dissertation §6.4), by its lease (default) or by a quorum round
// (?consistent), then wait until this server has applied that index, and
// only then read the local store: a follower serves linearizable reads
// without shipping the query to the leader.
//
// Calls: serveRPC dispatches every call the server port serves; those only
// the leader serves (leaderRPCMethods) are refused by a follower, and the
// caller's leaderCall asks again where the leader is now.
//
// Concurrency: none of its own. The Raft node and the RPC pool have their
// own disciplines; the functions here only call them, from the caller's
// goroutine or the RPC server's goroutine for the call.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// The calls servers serve on the server port (and, from clients and other
// datacenters, rpcHTTPRequest and rpcClientApply: rpc_forward.go; from any
// agent, rpcSnapshotRestore: agent_restore.go).
const (
	rpcRaftApply     = "Raft.Apply"
	rpcRaftReadIndex = "Raft.ReadIndex"
	rpcRaftAddServer = "Raft.AddServer"
	rpcRaftRemove    = "Raft.RemoveServer"
	rpcRaftTransfer  = "Raft.TransferLeader"
	rpcRaftSnapshot  = "Raft.InstallSnapshot" // a chunk of one (raft_snapshot.go), served by any server
	rpcSessionRenew  = "Session.Renew"
	rpcStatusSelf    = "Status.Self"
)

const (
	// rpcHoldTimeout: how long a request waits for a leader to be known
	// (Consul's rpc_hold_timeout).
	rpcHoldTimeout = 7 * time.Second
	// applyTimeout bounds one write, from proposal to the store's result.
	applyTimeout = 30 * time.Second
)

// wireApplyResult is applyResult over the wire, encoded by marshalExact:
// a transaction's results may hold keys that are not UTF-8.
type wireApplyResult struct {
	OK         bool
	Err        string      `json:",omitempty"`
	TxnResults []txnResult `json:",omitempty"`
	TxnErrors  []txnError  `json:",omitempty"`
}

func toWire(r applyResult) wireApplyResult {
	w := wireApplyResult{OK: r.ok, TxnResults: r.txnResults, TxnErrors: r.txnErrors}
	if r.err != nil {
		w.Err = r.err.Error()
	}
	return w
}

func (w wireApplyResult) result() applyResult {
	r := applyResult{ok: w.OK, txnResults: w.TxnResults, txnErrors: w.TxnErrors}
	if w.Err != "" {
		r.err = errors.New(w.Err)
	}
	return r
}

// startServer opens the server port and the Raft storage and node. It
// reports whether this server must still form or join a cluster
// (formCluster, started once the LAN pool runs).
func (a *Agent) startServer() (form bool, err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.Ports.Server)))
	if err != nil {
		return false, fmt.Errorf("server RPC listener: %w", err)
	}
	a.rpcPort = ln.Addr().(*net.TCPAddr).Port
	a.pool = newRPCPool(a.logger)
	a.pool.tls, a.pool.source = a.tls, a.rpcSource()
	fsm := storeFSM{a.store}
	var storage raftStorage
	var st raftRestored
	if a.cfg.DevMode || a.cfg.DataDir == "" {
		storage = &memRaftStorage{}
	} else {
		w, ws, err := openWAL(a.cfg.DataDir, walOptions{Logger: a.logger})
		if err != nil {
			ln.Close()
			return false, fmt.Errorf("opening the Raft log: %w", err)
		}
		if err := checkPersistedTerm(ws.HardState.Term, a.cfg.DataDir); err != nil {
			w.close()
			ln.Close()
			return false, err
		}
		if st, err = loadRaftState(ws, w, fsm); err != nil {
			w.close()
			ln.Close()
			return false, fmt.Errorf("loading the Raft state: %w", err)
		}
		storage = w
		a.logger.Info("raft state loaded", "term", st.HardState.Term, "snapshot", st.SnapIndex,
			"entries", len(st.Entries))
	}
	a.raft = newRaftNode(raftNodeConfig{
		ID: a.nodeID, Address: a.serverAddr(),
		Tick:              time.Duration(a.cfg.RaftMultiplier) * 100 * time.Millisecond,
		SnapshotThreshold: uint64(a.cfg.RaftSnapshotThreshold), TrailingLogs: uint64(a.cfg.RaftTrailingLogs),
		SpoolDir: a.spool, Logger: a.logger, Timeline: a.timeline, Metrics: newRaftMetrics(a.telemetry),
	}, st, storage, fsm, poolTransport{a.pool})
	ln = newConnLimiter(ln, a.cfg.RPCMaxConnsPerClient, "limits.rpc_max_conns_per_client", nil, a.logger) // Consul closes the excess
	a.rpcServer = newRPCServer(ln, rpcHandlers{raft: a.raft.receive, call: a.serveRPC, tls: a.tls}, a.logger)

	hasState := st.HardState.Term > 0 || len(st.Entries) > 0 || st.SnapIndex > 0
	switch {
	case hasState:
	case a.cfg.DevMode || a.cfg.Bootstrap || a.cfg.BootstrapExpect == 1:
		if err := a.raft.bootstrap(raftConfiguration{Servers: []raftServer{a.selfServer()}}); err != nil {
			return false, err
		}
	case a.cfg.BootstrapExpect > 1 || len(a.cfg.RetryJoin) > 0:
		form = true
	default:
		a.logger.Warn("no -bootstrap-expect and nothing to join: this server waits to be added to a cluster")
	}
	if len(st.Entries) == 0 && a.raft.raftStatus().Config.has(a.nodeID) && len(a.raft.raftStatus().Config.Servers) == 1 {
		a.waitLeader(5 * time.Second) // alone: elected within a few steps of its loop
	}
	return form, nil
}

// waitLeader waits, at most d, until this server leads.
func (a *Agent) waitLeader(d time.Duration) {
	deadline := time.After(d)
	for {
		changed := a.raft.changed()
		if a.raft.isLeader() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			return
		}
	}
}

func (a *Agent) selfServer() raftServer {
	return raftServer{ID: a.nodeID, Node: a.cfg.NodeName, Address: a.serverAddr()}
}

// stopServer stops the server side. A leader first hands its leadership to
// the most up-to-date other voter (dissertation §3.10), so that a rolling
// restart costs an election round trip rather than an election timeout.
func (a *Agent) stopServer() {
	if a.raft != nil && a.raft.isLeader() && len(a.raft.raftStatus().Config.Servers) > 1 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := a.raft.transferLeadership(ctx, ""); err == nil {
			st := a.raft.raftStatus()
			a.logger.Info("leadership transferred before shutdown to " + st.Config.describe(st.Leader))
		} else {
			a.logger.Warn("leadership transfer before shutdown did not complete: the others elect a leader", "error", err)
		}
		cancel()
	}
	if a.rpcServer != nil {
		a.rpcServer.close()
	}
	if a.raft != nil {
		a.raft.stop()
		a.raft.storage.close()
	}
	if a.pool != nil {
		a.pool.close()
	}
}

// --- writes and reads through the leader ---

// leaderCall runs a call on the leader: locally, with local, when this
// server leads; otherwise over RPC. It waits up to rpcHoldTimeout for a
// leader, and retries when the server it asked is no longer the leader.
func (a *Agent) leaderCall(ctx context.Context, method string, body []byte, local func(context.Context) ([]byte, error)) ([]byte, error) {
	hold := time.NewTimer(rpcHoldTimeout)
	defer hold.Stop()
	for {
		changed := a.raft.changed()
		if a.raft.isLeader() {
			out, err := local(ctx)
			if !errors.Is(err, errNotLeader) && !errors.Is(err, errTransferring) {
				return out, err
			}
		} else if addr := a.raft.leaderAddr(); addr != "" && addr != a.serverAddr() {
			out, err := a.pool.call(ctx, addr, method, body)
			var remote *rpcRemoteError
			if err == nil || errors.As(err, &remote) && !isNotLeader(remote) {
				return out, remoteError(err)
			}
			if !errors.As(err, &remote) && !notDelivered(err) && method == rpcRaftApply {
				// The leader may have received the write: retrying could apply it twice.
				return nil, fmt.Errorf("forwarding to the leader %s: %w", addr, err)
			}
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond): // the leader we asked is stepping down, and we may not know yet
		case <-hold.C:
			return nil, errNoLeader
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.shutdownCh:
			return nil, errRaftStopped
		}
	}
}

// notDelivered: the call never reached the server (it could not be
// dialled), so it is safe to send again, elsewhere.
func notDelivered(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isNotLeader(e *rpcRemoteError) bool {
	return e.Error() == errNotLeader.Error() || e.Error() == errTransferring.Error()
}

// remoteError turns a remote "No cluster leader" back into errNoLeader,
// so the HTTP layer answers it the same way wherever it happened.
func remoteError(err error) error {
	var remote *rpcRemoteError
	if errors.As(err, &remote) && remote.Error() == errNoLeader.Error() {
		return errNoLeader
	}
	return err
}

// apply puts a command in the replicated log and returns the store's
// result, from whichever agent this is: a client sends it to a server.
// ctx (the HTTP request's, or the agent's lifetime for a background write)
// ends the wait, never the command: once proposed it is committed and
// applied whole or not at all, whether anyone still waits; applyTimeout
// bounds the wait in any case.
func (a *Agent) apply(ctx context.Context, cmd *command) (applyResult, error) {
	if a.cfg.Server {
		defer a.metrics.applyOf(cmd.Type).measureSince(time.Now()) // kvs.apply… (agent_metrics.go)
	}
	cmd.Now = time.Now().UnixNano()
	data, err := cmd.encode()
	if err != nil {
		return applyResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	var out []byte
	if a.cfg.Server {
		// On the leader the store's result comes back as it is; only a
		// follower's call to the leader carries it in wire form.
		var res applyResult
		var applied bool
		out, err = a.leaderCall(ctx, rpcRaftApply, data, func(ctx context.Context) ([]byte, error) {
			var err error
			res, err = a.applyOnLeader(ctx, data)
			applied = err == nil
			return nil, err
		})
		if err == nil && applied {
			return res, nil
		}
	} else {
		out, err = a.serverCall(ctx, rpcClientApply, data, false)
	}
	if err != nil {
		return applyResult{}, err
	}
	return decodeApplyResult(out)
}

// applyOnLeader proposes an encoded command to this server's Raft node and
// returns the store's result once it is committed and applied.
func (a *Agent) applyOnLeader(ctx context.Context, data []byte) (applyResult, error) {
	res, err := a.raft.apply(ctx, data)
	if err != nil {
		return applyResult{}, err
	}
	r, _ := res.(applyResult)
	return r, nil
}

// applyLocal serves a follower's Raft.Apply: the result in wire form.
func (a *Agent) applyLocal(ctx context.Context, data []byte) ([]byte, error) {
	r, err := a.applyOnLeader(ctx, data)
	if err != nil {
		return nil, err
	}
	return encodeApplyResult(r)
}

// readBarrier makes a read of the local store as fresh as q asks (see the
// file comment).
func (a *Agent) readBarrier(ctx context.Context, q queryOptions) error {
	if q.stale {
		return nil
	}
	index, err := a.sharedReadIndex(ctx, !q.consistent) // server_read.go
	if err != nil {
		return err
	}
	return a.raft.waitApplied(ctx, index)
}

func (a *Agent) readIndexLocal(ctx context.Context, lease bool) ([]byte, error) {
	i, err := a.raft.readIndex(ctx, lease)
	if err != nil {
		return nil, err
	}
	return json.Marshal(i)
}

// renewSessionTimer restarts a session's TTL timer, which lives on the
// leader.
func (a *Agent) renewSessionTimer(id string, ttl time.Duration) error {
	body, _ := json.Marshal(sessionRenewal{ID: id, TTL: ttl})
	ctx, cancel := context.WithTimeout(context.Background(), rpcHoldTimeout)
	defer cancel()
	_, err := a.leaderCall(ctx, rpcSessionRenew, body, func(context.Context) ([]byte, error) {
		a.sessions.reset(id, ttl)
		return nil, nil
	})
	return err
}

type sessionRenewal struct {
	ID  string
	TTL time.Duration
}

// --- the server port's calls ---

// serveRPC serves one call from another server (rpc.go).
func (a *Agent) serveRPC(ctx context.Context, method string, body []byte) ([]byte, error) {
	a.metrics.rpcRequest.inc()
	switch method {
	case rpcStatusSelf:
		return json.Marshal(a.selfInfo())
	case rpcHTTPRequest:
		return a.serveForwarded(ctx, body)
	case rpcClientApply:
		return a.serveClientApply(ctx, body)
	case rpcSnapshotRestore:
		return nil, a.receiveSnapshotChunk(ctx, body)
	case rpcACLResolve: // a client's token resolution (server_acl.go)
		return a.serveACLResolve(ctx, body)
	case rpcConnectCASign: // any server: the leader signs (server_connect_ca.go)
		return a.connectCASign(ctx, body)
	case rpcRaftSnapshot:
		return nil, a.raft.receiveSnapshotChunk(rpcRemote(ctx), body)
	case rpcOperatorRaftState: // the teaching view's gathering (http_cluster.go)
		return json.Marshal(a.raft.stateView(ctx))
	case rpcOperatorStepDown: // the step-down control, sent on to the leader (http_cluster.go)
		return nil, a.stepDownLocal(ctx)
	}
	// The rest are the leader's to serve: a follower says so, and the
	// caller asks again where the leader is now. A method no server serves
	// is said to be unknown, by any server.
	if !slices.Contains(leaderRPCMethods, method) {
		return nil, fmt.Errorf("unknown rpc method %q", method)
	}
	if !a.raft.isLeader() {
		return nil, errNotLeader
	}
	switch method {
	case rpcRaftApply:
		return a.applyLocal(ctx, body)
	case rpcRaftReadIndex:
		var lease bool
		if err := json.Unmarshal(body, &lease); err != nil {
			return nil, err
		}
		return a.readIndexLocal(ctx, lease)
	case rpcSessionRenew:
		var r sessionRenewal
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		a.sessions.reset(r.ID, r.TTL)
		return nil, nil
	case rpcRaftAddServer:
		var s raftServer
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, err
		}
		return nil, a.addServerLocal(ctx, s)
	case rpcRaftRemove:
		var s raftServer
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, err
		}
		return nil, a.removeServerLocal(ctx, s.ID, s.Address)
	case rpcRaftTransfer:
		var id string
		if err := json.Unmarshal(body, &id); err != nil {
			return nil, err
		}
		return nil, a.raft.transferLeadership(ctx, id)
	case rpcAutopilotState:
		return a.autopilotStateLocal(ctx)
	case rpcACLReplicationStatus:
		return a.aclRepl.current(ctx)
	}
	return nil, fmt.Errorf("unknown rpc method %q", method)
}

// leaderRPCMethods are the calls only the leader serves (serveRPC).
var leaderRPCMethods = []string{rpcRaftApply, rpcRaftReadIndex, rpcSessionRenew, rpcRaftAddServer, rpcRaftRemove, rpcRaftTransfer,
	rpcAutopilotState, rpcACLReplicationStatus}

func isShutdown(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
