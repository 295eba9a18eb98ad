// serf_lan.go: the agent's side of the LAN gossip pool (Serf's role in
// Consul): what this member announces (its tags), joining, what other
// members are, user events across the pool, leaving.
//
// Data flow: the pool (swim_node.go over swim.go) delivers membership and
// user events to handleLANEvents. A user event goes into this agent's event
// ring (serf_event.go) if its filters match. A membership event, on the
// leader, is reconciled into the catalog (reconcileMember, in
// server_leader.go with the rest of what the leader does); an event about
// a server also wakes the leader's autopilot (server_autopilot.go), which
// keeps the Raft configuration in step with the pool.
//
// Joining: -retry-join addresses are tried every retryJoinInterval until
// one answers (retryJoin, which the WAN pool, serf_wan.go, shares). A host
// without a port means the LAN port (8301), as in Consul; server discovery
// over the server port (server_join.go) uses the hosts given alone.
//
// Concurrency: one goroutine (handleLANEvents) consumes the pool's events;
// reconciliation goes through Agent.apply like any write.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	retryJoinInterval = 2 * time.Second
	reconcileInterval = 30 * time.Second
	serfHealthID      = "serfHealth"
)

// memberTags are what this agent announces to the pool, as Consul's Serf
// tags (the go client and the CLI read role, dc, port and id). A server
// also announces its WAN port (wan_join_port) once its WAN pool runs.
func (a *Agent) memberTags() map[string]string {
	cfg := a.cfg
	tags := map[string]string{
		"role": "node", "dc": cfg.Datacenter, "id": a.nodeID, "segment": "",
		"build": consulVersion + ":", "vsn": "2", "vsn_min": "2", "vsn_max": "3",
	}
	if cfg.Server {
		tags["role"] = "consul"
		tags["port"] = strconv.Itoa(a.rpcPort)
		if a.wan() != nil { // for the flood joins of the other servers (serf_wan.go)
			_, port, _ := net.SplitHostPort(a.wan().Addr())
			tags["wan_join_port"] = port
		}
		tags["raft_vsn"] = "3"
		if cfg.Bootstrap {
			tags["bootstrap"] = "1"
		}
		if cfg.BootstrapExpect > 0 {
			tags["expect"] = strconv.Itoa(cfg.BootstrapExpect)
		}
	}
	return tags
}

// openPool starts a gossip pool ("lan" or "wan") on port, with its keyring
// kept in data_dir/serf/<keyringFile>.
func (a *Agent) openPool(pool, keyringFile string, sc swimConfig, port int) (*gossipPool, error) {
	keyPath := ""
	if a.cfg.DataDir != "" && !a.cfg.DevMode {
		keyPath = filepath.Join(a.cfg.DataDir, "serf", keyringFile)
	}
	kr, err := openKeyring(pool, keyPath, a.cfg.Encrypt)
	if err != nil {
		return nil, fmt.Errorf("%s gossip keyring: %w", pool, err)
	}
	return startGossip(gossipConfig{
		Pool: pool, Bind: net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(port)),
		Advertise: a.cfg.AdvertiseAddr, Swim: sc, Keyring: kr, Logger: a.logger, Timeline: a.timeline,
		Metrics: newGossipMetrics(a.telemetry, pool),
	})
}

// startLAN joins this agent to its datacenter's LAN pool.
func (a *Agent) startLAN() error {
	sc := swimLANConfig()
	sc.Name, sc.Tags = a.cfg.NodeName, a.memberTags()
	lan, err := a.openPool("lan", "local.keyring", sc, a.cfg.Ports.SerfLAN)
	if err != nil {
		return err
	}
	a.lanPool.Store(lan)
	a.wg.Go(a.handleLANEvents)
	if len(a.cfg.RetryJoin) > 0 {
		a.wg.Go(func() { a.retryJoin(lan, a.cfg.RetryJoin, a.cfg.Ports.SerfLAN) })
	}
	return nil
}

// joinAddr turns a join address into a gossip address: a host without a
// port means the pool's port (8301 on the LAN, 8302 on the WAN), as in
// Consul.
func joinAddr(s string, port int) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(port))
}

// retryJoin joins the pool through the addresses of a -retry-join or
// -retry-join-wan until some other member is known.
func (a *Agent) retryJoin(pool *gossipPool, entries []string, port int) {
	var addrs []string
	for _, j := range entries {
		if addr := joinAddr(j, port); addr != pool.Addr() {
			addrs = append(addrs, addr)
		}
	}
	var lastErr string
	for attempt := 0; ; attempt++ {
		if n := len(pool.Members()); n > 1 {
			a.logger.Info("joined the gossip pool", "pool", pool.cfg.Pool, "members", n)
			return
		}
		// Say why each attempt fails (nobody there, a different gossip key),
		// once per reason and then about every 30 s, as Consul's "Join
		// cluster failed, will retry".
		if _, err := pool.Join(addrs); err != nil {
			if isShutdown(pool.stopCh) {
				return
			}
			msg := err.Error()
			if failed, ok := err.(gossipJoinError); ok {
				msg = strings.Join(failed, "; ")
			}
			if msg != lastErr || attempt%15 == 0 {
				a.logger.Warn("retry-join failed, will retry", "pool", pool.cfg.Pool, "retry_interval", retryJoinInterval, "error", msg)
				lastErr = msg
			}
		}
		select {
		case <-a.shutdownCh:
			return
		case <-time.After(retryJoinInterval):
		}
	}
}

// joinLAN joins the pool through addrs now (/v1/agent/join).
func (a *Agent) joinLAN(addrs []string) error {
	for i, s := range addrs {
		addrs[i] = joinAddr(s, a.cfg.Ports.SerfLAN)
	}
	_, err := a.lan().Join(addrs)
	return err
}

// handleLANEvents consumes the pool's events until the agent stops.
func (a *Agent) handleLANEvents() {
	tick := time.NewTicker(reconcileInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.shutdownCh:
			return
		case ev := <-a.lan().Events():
			if a.cfg.Server && (ev.Type == swimEventJoin || ev.Type == swimEventUpdate) {
				a.floodWAN()
			}
			switch {
			case ev.Type == swimEventUser:
				a.receiveUserEvent(ev.User)
			case a.cfg.Server && a.raft.isLeader():
				a.reconcileMember(ev.Member, ev.Type)
				if ev.Member.Tags["role"] == "consul" {
					a.autopilot.kick() // a server joined, failed or left: the Raft configuration may follow
				}
			case !a.cfg.Server && ev.Type == swimEventJoin && ev.Member.Tags["role"] == "consul":
				a.local.triggerSync() // what was registered while no server was known (as Consul syncs then)
			}
		case <-tick.C:
			if a.cfg.Server && a.raft.isLeader() {
				a.reconcileAll()
			}
		}
	}
}

// --- user events across the pool ---

// fireUserEvent broadcasts an event to every member of the pool; each
// keeps it if its filters match (receiveUserEvent). This agent keeps it at
// once, so a list right after the fire sees it; its own copy from the pool
// is then a duplicate, which the ring drops.
func (a *Agent) fireUserEvent(e *UserEvent) error {
	if err := a.lan().UserEvent(e.Name, encodeUserEvent(e)); err != nil {
		return err
	}
	if a.eventMatches(e) {
		a.events.add(e)
	}
	return nil
}

func (a *Agent) receiveUserEvent(u swimUserEvent) {
	e, err := decodeUserEvent(u.Name, u.Payload)
	if err != nil {
		a.logger.Warn("dropping a malformed user event", "name", u.Name, "error", err)
		return
	}
	e.LTime = u.LTime + 1 // Consul's LTimes start at 1
	if a.eventMatches(e) {
		a.events.add(e)
	}
}

// A user event travels as the gossip event's name and a payload of: the
// 16 bytes of its ID, then the node, service and tag filters and the
// payload, each a uvarint length and its bytes.
func encodeUserEvent(e *UserEvent) []byte {
	id, _ := hex.DecodeString(strings.ReplaceAll(e.ID, "-", ""))
	b := append(make([]byte, 0, 16+len(e.Payload)+32), id...)
	for _, s := range [][]byte{[]byte(e.NodeFilter), []byte(e.ServiceFilter), []byte(e.TagFilter), e.Payload} {
		b = appendBytes(b, s)
	}
	return b
}

func decodeUserEvent(name string, p []byte) (*UserEvent, error) {
	if len(p) < 16 {
		return nil, errors.New("too short")
	}
	id := hex.EncodeToString(p[:16])
	r := newFrameReader(p[16:])
	e := &UserEvent{ID: id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:],
		Name: name, Version: 1}
	e.NodeFilter, e.ServiceFilter, e.TagFilter = string(r.bytes()), string(r.bytes()), string(r.bytes())
	if pl := r.bytes(); len(pl) > 0 {
		e.Payload = pl
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errors.New("trailing bytes")
	}
	return e, r.err
}

// --- leaving ---

// leave is a graceful departure (PUT /v1/agent/leave, Consul's `leave`): a
// server first takes itself out of the Raft configuration (the leader
// commits the change; a leader removing itself steps down once it is
// committed), then the agent announces its leave to the WAN pool (a
// server) and to the LAN pool, so the others record it as left, not
// failed, and the leader deregisters its node. Then the caller answers and
// calls announceLeft, which closes Left: the agent stops.
func (a *Agent) leave() error {
	a.leaveMu.Lock()
	defer a.leaveMu.Unlock()
	if a.hasLeft {
		return nil // left already
	}
	if a.cfg.Server && len(a.raft.raftStatus().Config.Servers) > 1 {
		self := a.selfServer()
		body, _ := json.Marshal(self)
		ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
		_, err := a.leaderCall(ctx, rpcRaftRemove, body, func(ctx context.Context) ([]byte, error) {
			return nil, a.removeServerLocal(ctx, self.ID, "")
		})
		cancel()
		if err != nil && !isPeerNotFound(err) { // removed already: fine
			return fmt.Errorf("leaving the Raft configuration: %w", err) // not left: it may be tried again
		}
	}
	// The WAN pool first, then the LAN pool, as a Consul server leaves.
	for _, pool := range []*gossipPool{a.wan(), a.lan()} {
		if pool == nil {
			continue // a client has no WAN pool
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if e := pool.Leave(ctx); e != nil {
			a.logger.Warn("the leave was not gossiped to everyone in time", "pool", pool.cfg.Pool, "error", e)
		}
		cancel()
	}
	a.logger.Info("left the cluster")
	a.hasLeft = true
	return nil
}

// announceLeft closes Left, once a leave's caller has answered (the
// process shuts down then, closing every connection).
func (a *Agent) announceLeft() {
	a.leaveMu.Lock()
	defer a.leaveMu.Unlock()
	if a.hasLeft && !isShutdown(a.leftCh) {
		close(a.leftCh)
	}
}

// Left is closed once the agent has left gracefully: the process should
// shut it down and exit.
func (a *Agent) Left() <-chan struct{} { return a.leftCh }
