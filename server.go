// server.go: what makes an agent a server: its Raft node, the server RPC
// port, forwarding to the leader, and forming the cluster.
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
// Forming the cluster: -dev and -bootstrap start a one-server cluster. With
// -bootstrap-expect=N, a new server asks the -retry-join addresses (and
// every server they know of) about themselves until it knows N servers,
// then bootstraps with exactly those: every one of the N does the same, so
// all write the same first configuration, every server a voter. A new
// server finding an existing cluster asks it to be added instead (one
// server at a time, dissertation §4.1): as a non-voter, which the leader's
// autopilot promotes once it is stable (server_autopilot.go). The servers
// to ask come from the LAN pool (members tagged role=consul, with their
// server port) and from the -retry-join entries given as a host alone, at
// this server's own server port; an entry with a port names a gossip port,
// which says nothing of the server port there, so that server is found
// through the pool.
//
// Concurrency: the Raft node and the RPC pool have their own disciplines;
// the goroutines here (discovery, leadership monitor) only call them and
// stop with the agent.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The calls servers serve on the server port (and, from clients and other
// datacenters, rpcHTTPRequest and rpcClientApply: forward.go; from any
// agent, rpcSnapshotRestore: agent_restore.go).
const (
	rpcRaftApply     = "Raft.Apply"
	rpcRaftReadIndex = "Raft.ReadIndex"
	rpcRaftAddServer = "Raft.AddServer"
	rpcRaftRemove    = "Raft.RemoveServer"
	rpcRaftTransfer  = "Raft.TransferLeader"
	rpcRaftSnapshot  = "Raft.InstallSnapshot" // a chunk of one (raft_install.go), served by any server
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

// serverInfo is what Status.Self answers: enough for discovery.
type serverInfo struct {
	ID, Node, Address, Datacenter string
	BootstrapExpect               int
	Bootstrapped                  bool         // it has a configuration: a cluster exists
	Known                         []raftServer // the servers it has heard of, itself included
	Leader                        string       // the leader's address, "" if unknown
}

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
		SpoolDir: a.spool, Logger: a.logger,
	}, st, storage, fsm, poolTransport{a.pool})
	ln = newConnLimiter(ln, a.cfg.RPCMaxConnsPerClient, "limits.rpc_max_conns_per_client", nil, a.logger) // Consul closes the excess
	a.rpcServer = newRPCServer(ln, rpcHandlers{raft: a.raft.receive, call: a.serveRPC}, a.logger)

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
			// Until another server leads, and this one has heard of it.
			for (a.raft.isLeader() || a.raft.leaderAddr() == "") && ctx.Err() == nil {
				select {
				case <-a.raft.changed():
				case <-ctx.Done():
				}
			}
			if st := a.raft.raftStatus(); st.Leader != "" && st.Leader != a.nodeID {
				a.logger.Info("leadership transferred before shutdown to " + st.Config.describe(st.Leader))
			} else {
				a.logger.Warn("leadership transfer before shutdown did not complete: the others elect a leader")
			}
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
func (a *Agent) apply(cmd *command) (applyResult, error) {
	cmd.Now = time.Now().UnixNano()
	data, err := cmd.encode()
	if err != nil {
		return applyResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	var out []byte
	if a.cfg.Server {
		out, err = a.leaderCall(ctx, rpcRaftApply, data, func(ctx context.Context) ([]byte, error) {
			return a.applyLocal(ctx, data)
		})
	} else {
		out, err = a.serverCall(ctx, rpcClientApply, data, false)
	}
	if err != nil {
		return applyResult{}, err
	}
	var w wireApplyResult
	if err := unmarshalExact(out, &w); err != nil {
		return applyResult{}, fmt.Errorf("decoding the leader's answer: %w", err)
	}
	return w.result(), nil
}

func (a *Agent) applyLocal(ctx context.Context, data []byte) ([]byte, error) {
	res, err := a.raft.apply(ctx, data)
	if err != nil {
		return nil, err
	}
	r, _ := res.(applyResult)
	return marshalExact(toWire(r))
}

// readBarrier makes a read of the local store as fresh as q asks (see the
// file comment).
func (a *Agent) readBarrier(ctx context.Context, q queryOptions) error {
	if q.stale {
		return nil
	}
	lease := !q.consistent
	body, _ := json.Marshal(lease)
	out, err := a.leaderCall(ctx, rpcRaftReadIndex, body, func(ctx context.Context) ([]byte, error) {
		return a.readIndexLocal(ctx, lease)
	})
	if err != nil {
		return err
	}
	var index uint64
	if err := json.Unmarshal(out, &index); err != nil {
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
	switch method {
	case rpcStatusSelf:
		return json.Marshal(a.selfInfo())
	case rpcHTTPRequest:
		return a.serveForwarded(ctx, body)
	case rpcClientApply:
		return a.serveClientApply(body)
	case rpcSnapshotRestore:
		return nil, a.receiveSnapshotChunk(ctx, body)
	case rpcRaftSnapshot:
		return nil, a.raft.receiveSnapshotChunk(rpcRemote(ctx), body)
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
	}
	return nil, fmt.Errorf("unknown rpc method %q", method)
}

// leaderRPCMethods are the calls only the leader serves (serveRPC).
var leaderRPCMethods = []string{rpcRaftApply, rpcRaftReadIndex, rpcSessionRenew, rpcRaftAddServer, rpcRaftRemove, rpcRaftTransfer,
	rpcAutopilotState}

func (a *Agent) selfInfo() serverInfo {
	st := a.raft.raftStatus()
	info := serverInfo{
		ID: a.nodeID, Node: a.cfg.NodeName, Address: a.serverAddr(), Datacenter: a.cfg.Datacenter,
		BootstrapExpect: a.cfg.BootstrapExpect, Bootstrapped: len(st.Config.Servers) > 0,
		Leader: a.raft.leaderAddr(),
	}
	a.discoveredMu.Lock()
	info.Known = slices.Clone(a.discovered)
	a.discoveredMu.Unlock()
	if !slices.ContainsFunc(info.Known, func(s raftServer) bool { return s.ID == a.nodeID }) {
		info.Known = append(info.Known, a.selfServer())
	}
	return info
}

// addServerLocal adds a server, or updates its address, on the leader. As
// Consul's autopilot.AddServer, a new server joins as a non-voter (it
// catches up first, dissertation §4.2.1), which autopilot promotes once it
// is stable; an address update keeps its suffrage. Once it is added,
// autopilot looks for failed servers it replaces.
func (a *Agent) addServerLocal(ctx context.Context, s raftServer) error {
	err := a.raft.changeConfig(ctx, func(c raftConfiguration) (raftConfiguration, error) {
		for i, old := range c.Servers {
			if old.ID == s.ID {
				if old.Node == s.Node && old.Address == s.Address {
					return c, errAlreadyMember
				}
				s.NonVoter = old.NonVoter
				c.Servers[i] = s
				a.logger.Info("updating server "+serverName(old)+" in the Raft configuration", "id", s.ID, "node", s.Node, "address", s.Address)
				return c, nil
			}
			if old.Address == s.Address {
				return c, fmt.Errorf("address %s is already used by server %s (%s): remove it first", s.Address, old.Node, old.ID)
			}
		}
		s.NonVoter = true
		c.Servers = append(c.Servers, s)
		a.logger.Info("adding server "+serverName(s)+" to the Raft configuration as a non-voter", "id", s.ID)
		return c, nil
	})
	if err == nil {
		a.autopilot.noteAdded()
	}
	return err
}

var errAlreadyMember = errors.New("already a member of the Raft configuration")

// removeServerLocal removes the voter with id, or at address, on the leader.
func (a *Agent) removeServerLocal(ctx context.Context, id, address string) error {
	return a.raft.changeConfig(ctx, func(c raftConfiguration) (raftConfiguration, error) {
		i := slices.IndexFunc(c.Servers, func(s raftServer) bool {
			return id != "" && s.ID == id || address != "" && s.Address == address
		})
		if i < 0 {
			what := id
			if what == "" {
				what = address
			}
			return c, notFound("Raft peer %q not found", what)
		}
		a.logger.Info("removing server "+serverName(c.Servers[i])+" from the Raft configuration", "id", c.Servers[i].ID)
		c.Servers = slices.Delete(c.Servers, i, i+1)
		return c, nil
	})
}

// --- forming the cluster ---

// joinAddr turns a -retry-join entry given as a host alone into the server
// RPC address on that host, assuming this server's own server port (the
// servers of a datacenter usually share the default). An entry host:port
// names a LAN gossip port, which says nothing of the server port on that
// host (servers may use different ones, or the host may run other agents):
// ok is false, and the server is found by its tags once the LAN pool has
// joined it (lanServers).
func (a *Agent) joinAddr(s string) (addr string, ok bool) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return "", false
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(a.cfg.Ports.Server)), true
}

// formCluster discovers the other servers, then bootstraps with
// -bootstrap-expect of them, or joins a cluster that exists already.
func (a *Agent) formCluster() {
	defer a.wg.Done()
	known := map[string]raftServer{a.nodeID: a.selfServer()}
	targets := map[string]bool{}
	for _, j := range a.cfg.RetryJoin {
		if addr, ok := a.joinAddr(j); ok {
			targets[addr] = true
		}
	}
	for attempt := 0; ; attempt++ {
		if len(a.raft.raftStatus().Config.Servers) > 0 {
			return // bootstrapped, or added by a leader
		}
		// Servers the LAN pool knows of, by their tags.
		for _, addr := range a.lanServers() {
			targets[addr] = true
		}
		var cluster []string // servers that belong to a cluster already
		for addr := range targets {
			if addr == a.serverAddr() {
				continue
			}
			info, err := a.askServer(addr)
			if err != nil {
				if attempt%10 == 0 {
					a.logger.Info("retry-join: server not reachable yet", "addr", addr, "error", err)
				}
				continue
			}
			if info.Datacenter != a.cfg.Datacenter {
				a.logger.Warn("retry-join: server is in another datacenter", "addr", addr, "datacenter", info.Datacenter)
				continue
			}
			if info.Bootstrapped {
				cluster = append(cluster, addr)
			}
			for _, s := range info.Known {
				if _, ok := known[s.ID]; !ok {
					known[s.ID] = s
					targets[s.Address] = true
				}
			}
		}
		a.discoveredMu.Lock()
		a.discovered = mapValues(known)
		a.discoveredMu.Unlock()
		switch {
		case len(cluster) > 0:
			if a.askToJoin(cluster, attempt) {
				return
			}
		case a.cfg.BootstrapExpect > 1 && len(known) >= a.cfg.BootstrapExpect:
			servers := mapValues(known)
			a.logger.Info("bootstrapping the cluster", "servers", len(servers), "expect", a.cfg.BootstrapExpect)
			if err := a.raft.bootstrap(raftConfiguration{Servers: servers}); err != nil {
				a.logger.Error("bootstrap failed", "error", err)
			}
			return
		}
		select {
		case <-a.shutdownCh:
			return
		case <-time.After(time.Second):
		}
	}
}

// lanServers are the RPC addresses of the servers of this datacenter that
// the LAN pool lists alive.
func (a *Agent) lanServers() []string {
	var out []string
	if a.lan == nil {
		return nil
	}
	for _, m := range a.lan.Members() {
		if m.State != swimAlive || m.Tags["role"] != "consul" || m.Tags["dc"] != a.cfg.Datacenter || m.Tags["port"] == "" {
			continue
		}
		host, _, err := net.SplitHostPort(m.Addr)
		if err == nil {
			out = append(out, net.JoinHostPort(host, m.Tags["port"]))
		}
	}
	return out
}

func mapValues(m map[string]raftServer) []raftServer {
	var out []raftServer
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y raftServer) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (a *Agent) askServer(addr string) (serverInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, err := a.pool.call(ctx, addr, rpcStatusSelf, nil)
	if err != nil {
		return serverInfo{}, err
	}
	var info serverInfo
	err = json.Unmarshal(out, &info)
	return info, err
}

// askToJoin asks a server of an existing cluster to add this one; the
// server forwards the request to its leader. Failures are logged at the
// first attempt and every tenth, as formCluster's.
func (a *Agent) askToJoin(cluster []string, attempt int) bool {
	body, _ := json.Marshal(a.selfServer())
	for _, addr := range cluster {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := a.askServer(addr)
		if err == nil && info.Leader != "" {
			_, err = a.pool.call(ctx, info.Leader, rpcRaftAddServer, body)
		} else if err == nil {
			err = errNoLeader
		}
		cancel()
		var remote *rpcRemoteError
		if err == nil || errors.As(err, &remote) && remote.Error() == errAlreadyMember.Error() {
			a.logger.Info("joined the cluster", "via", addr)
			return true
		}
		if attempt%10 == 0 {
			a.logger.Info("retry-join: could not join yet", "via", addr, "attempt", attempt+1, "error", err)
		}
	}
	return false
}

func isShutdown(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
