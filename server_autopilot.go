// server_autopilot.go: the leader's management of the servers (Consul's
// autopilot, hashicorp/raft-autopilot): it keeps the Raft configuration
// in step with the servers of the LAN pool, and judges their health.
//
// Every autopilotInterval, and at once when a server's membership changes
// in the pool (serf_lan.go) or a server asks to join (server_join.go), the
// leader runs one pass:
//
//  1. the state: for each server of the configuration, its serf status,
//     and the leader's Raft view of it (raftNode.peerStats: when it last
//     answered, how far its log matches). A server is healthy, as autopilot
//     defines it, when it is alive in the pool, answered within
//     last_contact_threshold, is in the leader's term and trails the
//     leader's log by at most max_trailing_logs entries; StableSince is when
//     that last changed. GET /v1/operator/autopilot/health and /state
//     (http_operator_autopilot.go) show it.
//  2. a server that left the pool is removed from the configuration at
//     once (Consul's handleLeftMember).
//  3. a live server of this datacenter that is missing from the
//     configuration (removed by DELETE /v1/operator/raft/peer, say) is added
//     back as a non-voter (dissertation §4.2.1) once it has been missing
//     for a whole pass, so that a server leaving gracefully, which leaves
//     the configuration just before it leaves the pool, is not taken back.
//     Consul finds such a server at its reconcile, every 60 s; this pass
//     runs every second.
//  4. a non-voter healthy for server_stabilization_time is promoted to
//     voter (autopilot's stable promoter).
//  5. after a server was added (here or by a join), with
//     cleanup_dead_servers, servers the pool marks failed are removed:
//     non-voters always, voters only while that leaves at least min_quorum
//     voters and removes fewer than half of them (autopilot's
//     pruneDeadServers), so cleanup never costs the quorum.
//
// Each change is one single-server configuration change (dissertation
// §4.1) that the pass waits to see committed. The settings come from the
// state store (store_autopilot.go), which the leader seeds from its
// autopilot config block when the cluster has none.
//
// Concurrency: one goroutine (run) makes the passes; it is the only writer
// of the state, which mu guards for the HTTP handlers. kick never blocks.
package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"
)

// autopilotInterval is the time between two passes of the leader's
// autopilot (Consul's: health every 2 s, reconcile every 10 s).
const autopilotInterval = time.Second

// autopilotServer is one server in GET /v1/operator/autopilot/state, in
// Consul's shape.
type autopilotServer struct {
	ID          string
	Name        string
	Address     string
	NodeStatus  string // alive, failed, left, unknown (autopilot's NodeStatus)
	Version     string
	LastContact duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	StableSince time.Time
	ReadReplica bool
	Status      string // leader, voter, non-voter
	Meta        map[string]string
	NodeType    string
}

// autopilotState is GET /v1/operator/autopilot/state, in Consul's shape
// (Consul CE: OptimisticFailureTolerance is FailureTolerance).
type autopilotState struct {
	Healthy                    bool
	FailureTolerance           int
	OptimisticFailureTolerance int
	Servers                    map[string]autopilotServer
	Leader                     string
	Voters                     []string
}

// autopilot is the leader's server management. It exists on every server
// and works while the server leads.
type autopilot struct {
	a      *Agent
	kickCh chan struct{}

	// Owned by run.
	missingSince map[string]time.Time // live servers missing from the configuration → first seen so
	pruneDue     bool                 // a server was added: look for dead servers to remove
	clashLogged  map[string]bool      // servers in bootstrap mode not added, said once each

	mu    sync.Mutex
	state *autopilotState // the last pass's, nil before the first pass as leader
	added bool            // set by noteAdded, taken by run
}

func newAutopilot(a *Agent) *autopilot {
	return &autopilot{a: a, kickCh: make(chan struct{}, 1), missingSince: map[string]time.Time{}, clashLogged: map[string]bool{}}
}

// kick asks for a pass now.
func (ap *autopilot) kick() {
	select {
	case ap.kickCh <- struct{}{}:
	default:
	}
}

// noteAdded: a server joined the configuration; the next pass looks for
// dead servers it may replace.
func (ap *autopilot) noteAdded() {
	ap.mu.Lock()
	ap.added = true
	ap.mu.Unlock()
	ap.kick()
}

// currentState returns the last pass's state, or nil.
func (ap *autopilot) currentState() *autopilotState {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.state
}

func (ap *autopilot) run() {
	everyOrWhen(ap.a.shutdownCh, autopilotInterval, ap.kickCh, func(time.Time) {
		if !ap.a.raft.isLeader() {
			ap.mu.Lock()
			ap.state = nil
			ap.mu.Unlock()
			clear(ap.missingSince)
			return
		}
		ap.pass()
	})
}

// raftPeerStats is what the leader knows of another server, as autopilot
// judges its health.
type raftPeerStats struct {
	LastContact         time.Time // its last answer in this term (zero: none yet)
	LastIndex, LastTerm uint64    // its log matches the leader's up to LastIndex, of term LastTerm
}

// peerStats returns the leader's view of every other server of the
// configuration (errNotLeader on a follower), taken on the Raft loop: the
// core's progress, and when the driver last had an answer (peerContact).
func (n *raftNode) peerStats(ctx context.Context) (map[string]raftPeerStats, error) {
	out := map[string]raftPeerStats{}
	var err error
	if e := n.onLoop(ctx, func() {
		if n.core.role != roleLeader {
			err = errNotLeader
			return
		}
		for id, pr := range n.core.progress {
			t, _ := n.core.log.term(pr.match)
			out[id] = raftPeerStats{LastContact: n.peerContact[id], LastIndex: pr.match, LastTerm: t}
		}
	}); e != nil {
		return nil, e
	}
	return out, err
}

// config is the stored autopilot configuration, or, before the leader has
// stored one, the one this server would store.
func (ap *autopilot) config() AutopilotConfiguration {
	if c := ap.a.store.snapshot().autopilotConfig(); c != nil {
		return *c
	}
	return ap.seed()
}

// seed is the configuration of this server's autopilot block.
func (ap *autopilot) seed() AutopilotConfiguration {
	c := ap.a.cfg.Autopilot
	out := defaultAutopilotConfiguration()
	out.CleanupDeadServers, out.LastContactThreshold = c.CleanupDeadServers, duration(c.LastContactThreshold)
	out.MaxTrailingLogs, out.MinQuorum = uint64(c.MaxTrailingLogs), uint(c.MinQuorum)
	out.ServerStabilizationTime = duration(c.ServerStabilizationTime)
	return out
}

// initConfig stores the seed when the cluster has no configuration yet
// (Consul's getOrCreateAutopilotConfig, at establishLeadership).
func (ap *autopilot) initConfig() {
	if ap.a.store.snapshot().autopilotConfig() != nil {
		return
	}
	res, err := ap.a.apply(ap.a.lifetime(), &command{Type: cmdAutopilot, Autopilot: &autopilotRequest{Config: ap.seed()}})
	if err == nil {
		err = res.err
	}
	if err != nil {
		ap.a.logger.Warn("autopilot: storing the initial configuration failed", "error", err)
	}
}

// lanServers are the members of the LAN pool that are servers of this
// datacenter, by server ID.
func (ap *autopilot) lanServers() map[string]swimMember {
	out := map[string]swimMember{}
	for _, m := range ap.a.lan().Members() {
		if m.Tags["role"] == "consul" && m.Tags["dc"] == ap.a.cfg.Datacenter && m.Tags["id"] != "" && m.Tags["port"] != "" {
			out[m.Tags["id"]] = m
		}
	}
	return out
}

// pass is one round of the leader's autopilot (the file's comment).
func (ap *autopilot) pass() {
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	conf := ap.config()
	members := ap.lanServers()
	st, err := ap.refresh(ctx, conf, members)
	if err != nil {
		return // no longer the leader
	}
	// One change at a time, each committed before the next is chosen.
	if ap.removeLeft(ctx, st, members) || ap.addMissing(ctx, members) || ap.promoteStable(ctx, conf, st) {
		ap.kick()
		return
	}
	ap.mu.Lock()
	prune := ap.added || ap.pruneDue
	ap.added, ap.pruneDue = false, false
	ap.mu.Unlock()
	if prune && conf.CleanupDeadServers {
		ap.pruneDeadServers(ctx, conf, members)
	}
}

// refresh computes the state of every server of the configuration and
// publishes it.
func (ap *autopilot) refresh(ctx context.Context, conf AutopilotConfiguration, members map[string]swimMember) (*autopilotState, error) {
	stats, err := ap.a.raft.peerStats(ctx)
	if err != nil {
		return nil, err
	}
	rs := ap.a.raft.raftStatus()
	now := time.Now()
	prev := ap.currentState()
	catalog := ap.a.store.snapshot()
	next := &autopilotState{Healthy: true, Servers: map[string]autopilotServer{}, Leader: rs.ID, Voters: []string{}}
	healthyVoters := 0
	for _, s := range rs.Config.Servers {
		srv := autopilotServer{ID: s.ID, Name: s.Node, Address: s.Address, NodeStatus: "unknown",
			Version: consulVersion, Status: "voter", NodeType: "voter", Meta: map[string]string{}}
		if m, ok := members[s.ID]; ok {
			srv.NodeStatus = autopilotNodeStatus(m.State)
		}
		if n := catalog.node(srv.Name); n != nil && n.Meta != nil {
			srv.Meta = maps.Clone(n.Meta)
		}
		switch {
		case s.ID == rs.ID:
			srv.Status, srv.LastTerm, srv.LastIndex = "leader", rs.Term, rs.LastIndex
		default:
			ps := stats[s.ID]
			srv.LastTerm, srv.LastIndex = ps.LastTerm, ps.LastIndex
			if !ps.LastContact.IsZero() {
				srv.LastContact = duration(now.Sub(ps.LastContact))
			} else {
				srv.LastTerm = 0 // never answered this leader: not healthy
			}
			if s.NonVoter {
				srv.Status = "non-voter"
			}
		}
		// autopilot's isHealthy
		srv.Healthy = srv.NodeStatus == "alive" && srv.LastContact <= conf.LastContactThreshold &&
			srv.LastTerm == rs.Term && srv.LastIndex+conf.MaxTrailingLogs >= rs.LastIndex
		srv.StableSince = now
		if p, ok := prev.server(s.ID); ok && p.Healthy == srv.Healthy {
			srv.StableSince = p.StableSince
		}
		next.Healthy = next.Healthy && srv.Healthy
		if !s.NonVoter {
			next.Voters = append(next.Voters, s.ID)
			if srv.Healthy {
				healthyVoters++
			}
		}
		next.Servers[s.ID] = srv
	}
	slices.Sort(next.Voters)
	next.FailureTolerance = max(0, healthyVoters-(len(next.Voters)/2+1))
	next.OptimisticFailureTolerance = next.FailureTolerance
	ap.mu.Lock()
	ap.state = next
	ap.mu.Unlock()
	return next, nil
}

func (st *autopilotState) server(id string) (autopilotServer, bool) {
	if st == nil {
		return autopilotServer{}, false
	}
	s, ok := st.Servers[id]
	return s, ok
}

// autopilotNodeStatus maps a pool state to autopilot's NodeStatus (a
// suspect member is alive until it fails, as in Serf).
func autopilotNodeStatus(s swimState) string {
	switch s {
	case swimAlive, swimSuspect:
		return "alive"
	case swimFailed:
		return "failed"
	case swimLeft:
		return "left"
	}
	return "unknown"
}

// serverName is how logs name a server: "s2 (127.0.0.12:8300)".
func serverName(s raftServer) string { return fmt.Sprintf("%s (%s)", s.Node, s.Address) }

// removeLeft removes a server that left the pool.
func (ap *autopilot) removeLeft(ctx context.Context, st *autopilotState, members map[string]swimMember) bool {
	for _, s := range ap.a.raft.raftStatus().Config.Servers {
		if m, ok := members[s.ID]; ok && m.State == swimLeft && s.ID != st.Leader {
			ap.a.logger.Info("autopilot: removing server "+serverName(s)+": it left the LAN pool", "id", s.ID)
			return ap.change(ctx, s, func(c *raftConfiguration) {
				c.Servers = slices.DeleteFunc(c.Servers, func(x raftServer) bool { return x.ID == s.ID })
			})
		}
	}
	return false
}

// addMissing adds a live server of the pool that has been missing from
// the configuration for a whole pass, as a non-voter.
func (ap *autopilot) addMissing(ctx context.Context, members map[string]swimMember) bool {
	now := time.Now()
	config := ap.a.raft.raftStatus().Config
	for id := range ap.missingSince {
		if m, ok := members[id]; !ok || m.State != swimAlive || config.has(id) {
			delete(ap.missingSince, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(members)) {
		m := members[id]
		if m.State != swimAlive || config.has(id) {
			continue
		}
		since, seen := ap.missingSince[id]
		if !seen {
			ap.missingSince[id] = now
			continue
		}
		if now.Sub(since) < autopilotInterval {
			continue
		}
		if other, clash := bootstrapClash(m, members); clash {
			// Two servers that each bootstrapped a cluster of their own (two
			// -dev agents joined, say): adding one to the other would
			// merge two logs that never agreed. Consul refuses it too.
			if !ap.clashLogged[id] {
				ap.clashLogged[id] = true
				ap.a.logger.Error("autopilot: two servers are in bootstrap mode; only one should be: not adding server "+m.Name+" to the Raft configuration",
					"other", other)
			}
			continue
		}
		s, err := memberServer(m)
		if err != nil {
			ap.a.logger.Warn("autopilot: a server of the pool has bad tags", "node", m.Name, "error", err)
			continue
		}
		if i := slices.IndexFunc(config.Servers, func(x raftServer) bool { return x.Address == s.Address }); i >= 0 {
			ap.a.logger.Warn("autopilot: not adding server "+serverName(s)+": its address belongs to server "+
				serverName(config.Servers[i])+" of the configuration", "id", id)
			continue
		}
		s.NonVoter = true
		ap.a.logger.Info("autopilot: adding server "+serverName(s)+" as a non-voter: it is alive in the LAN pool but not in the Raft configuration", "id", id)
		delete(ap.missingSince, id)
		if ap.change(ctx, s, func(c *raftConfiguration) {
			// Worked out again if another change went first (changeConfig):
			// the server's own join may have added it meanwhile.
			if !slices.ContainsFunc(c.Servers, func(x raftServer) bool { return x.ID == s.ID || x.Address == s.Address }) {
				c.Servers = append(c.Servers, s)
			}
		}) {
			ap.pruneDue = true
			return true
		}
	}
	return false
}

// bootstrapClash: m is in bootstrap mode (-bootstrap, or -dev) and so is
// another server of the pool, which it names (Consul's joinConsulServer).
func bootstrapClash(m swimMember, members map[string]swimMember) (string, bool) {
	if m.Tags["bootstrap"] != "1" {
		return "", false
	}
	for _, o := range members {
		if o.Name != m.Name && o.Tags["bootstrap"] == "1" {
			return o.Name, true
		}
	}
	return "", false
}

// memberServer is the Raft server a pool member announces (its id and
// port tags, the address it gossips from).
func memberServer(m swimMember) (raftServer, error) {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return raftServer{}, err
	}
	return raftServer{ID: m.Tags["id"], Node: m.Name, Address: net.JoinHostPort(host, m.Tags["port"])}, nil
}

// promoteStable promotes a non-voter that has been healthy for
// server_stabilization_time (autopilot's stable promoter).
func (ap *autopilot) promoteStable(ctx context.Context, conf AutopilotConfiguration, st *autopilotState) bool {
	for _, s := range ap.a.raft.raftStatus().Config.Servers {
		srv, ok := st.Servers[s.ID]
		if !s.NonVoter || !ok || !srv.Healthy || time.Since(srv.StableSince) < time.Duration(conf.ServerStabilizationTime) {
			continue
		}
		ap.a.logger.Info("autopilot: promoting server "+serverName(s)+" to voter: healthy for "+
			time.Since(srv.StableSince).Round(time.Second).String(), "id", s.ID)
		return ap.change(ctx, s, func(c *raftConfiguration) {
			for i := range c.Servers {
				if c.Servers[i].ID == s.ID {
					c.Servers[i].NonVoter = false
				}
			}
		})
	}
	return false
}

// pruneDeadServers removes the servers the pool marks failed, as
// deadServers chooses them.
func (ap *autopilot) pruneDeadServers(ctx context.Context, conf AutopilotConfiguration, members map[string]swimMember) {
	remove, keep := deadServers(ap.a.raft.raftStatus().Config, members, conf.MinQuorum)
	for _, s := range keep {
		ap.a.logger.Info("autopilot: keeping failed server "+serverName(s)+": removing it would leave fewer voters than min_quorum, or remove half of them",
			"id", s.ID, "min_quorum", conf.MinQuorum)
	}
	for _, s := range remove {
		ap.a.logger.Info("autopilot: removing failed server "+serverName(s), "id", s.ID)
		if !ap.change(ctx, s, func(c *raftConfiguration) {
			c.Servers = slices.DeleteFunc(c.Servers, func(x raftServer) bool { return x.ID == s.ID })
		}) {
			return
		}
	}
}

// deadServers splits the servers of config that the pool marks failed
// into those to remove, in order, and those to keep (autopilot's
// pruneDeadServers): every failed non-voter goes; a failed voter goes
// only while at least minQuorum voters remain and fewer than half of them
// are removed (maxRemoval is (voters-1)/2), so cleanup never costs the
// quorum.
func deadServers(config raftConfiguration, members map[string]swimMember, minQuorum uint) (remove, keep []raftServer) {
	voters := config.voters()
	maxRemoval := (voters - 1) / 2
	for _, nonVoters := range []bool{true, false} {
		for _, s := range config.Servers {
			if m, ok := members[s.ID]; !ok || m.State != swimFailed || s.NonVoter != nonVoters {
				continue
			}
			if !s.NonVoter {
				if voters-1 < int(minQuorum) || maxRemoval < 1 {
					keep = append(keep, s)
					continue
				}
				voters--
				maxRemoval--
			}
			remove = append(remove, s)
		}
	}
	return remove, keep
}

// change makes one configuration change and waits until it is committed.
func (ap *autopilot) change(ctx context.Context, s raftServer, f func(c *raftConfiguration)) bool {
	err := ap.a.raft.changeConfig(ctx, func(c raftConfiguration) (raftConfiguration, error) {
		f(&c)
		return c, nil
	})
	if err != nil {
		ap.a.logger.Warn("autopilot: changing the Raft configuration for server "+serverName(s)+" failed", "error", err)
		return false
	}
	return true
}
