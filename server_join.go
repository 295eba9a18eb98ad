// server_join.go: cluster formation: how a server finds the others, and
// bootstraps with them or joins the cluster they form.
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
// Data flow: formCluster asks each server it knows of for its serverInfo
// (a Status.Self call over the server port, answered by selfInfo), and
// merges the servers those know of; then it either bootstraps the Raft node
// or sends Raft.AddServer to the leader, which serves it with
// addServerLocal: a Raft configuration change. removeServerLocal is its
// inverse (a graceful leave, and the operator's remove-peer).
//
// Concurrency: formCluster is one goroutine owned by the agent, which stops
// with it; a.discoveredMu guards a.discovered, the servers it has heard of,
// which selfInfo reads. The Raft node and the RPC pool have their own
// disciplines.
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

// serverInfo is what Status.Self answers: enough for discovery.
type serverInfo struct {
	ID, Node, Address, Datacenter string
	BootstrapExpect               int
	Bootstrapped                  bool         // it has a configuration: a cluster exists
	Known                         []raftServer // the servers it has heard of, itself included
	Leader                        string       // the leader's address, "" if unknown
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
	if a.lan() == nil {
		return nil
	}
	for _, m := range a.lan().Members() {
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

// --- Status.Self: what a server tells of itself ---

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

// --- changing the Raft configuration, on the leader ---

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

// isPeerNotFound: err is removeServerLocal's answer for a server that is
// not in the configuration, here or from the leader over RPC (its text).
func isPeerNotFound(err error) bool {
	return err != nil && strings.HasSuffix(err.Error(), "was not found in the Raft configuration")
}

// removeServerLocal removes the voter with id, or at address, on the leader.
func (a *Agent) removeServerLocal(ctx context.Context, id, address string) error {
	return a.raft.changeConfig(ctx, func(c raftConfiguration) (raftConfiguration, error) {
		i := slices.IndexFunc(c.Servers, func(s raftServer) bool {
			return id != "" && s.ID == id || address != "" && s.Address == address
		})
		if i < 0 { // Consul's words, and its 500
			if id != "" {
				return c, fmt.Errorf("id %q was not found in the Raft configuration", id)
			}
			return c, fmt.Errorf("address %q was not found in the Raft configuration", address)
		}
		a.logger.Info("removing server "+serverName(c.Servers[i])+" from the Raft configuration", "id", c.Servers[i].ID)
		c.Servers = slices.Delete(c.Servers, i, i+1)
		return c, nil
	})
}
