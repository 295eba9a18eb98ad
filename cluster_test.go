// cluster_test.go: several servers in one process, on their own loopback
// addresses, forming a cluster through -bootstrap-expect and -retry-join
// and driven over HTTP: forwarding, failover of sessions and locks, lock
// contention across servers, membership changes through the operator API.
package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// testCluster is n servers on 127.0.0.2<i>, each on its own ports
// (testPorts).
type testCluster struct {
	t       testing.TB
	agents  []*testAgent
	configs []*Config
}

// clusterConfig is server i of n on 127.0.0.2<i> (clusterServerConfig).
func clusterConfig(t testing.TB, i, n int, dir string) *Config {
	var ips []string
	for j := 1; j <= n; j++ {
		ips = append(ips, fmt.Sprintf("127.0.0.2%d", j))
	}
	return clusterServerConfig(t, ips, i, dir)
}

// clusterServerConfig is server i (from 1) of the servers on ips, with the
// server and LAN ports testPorts chose for its address, expecting all of
// them, and retry-joining each one's LAN gossip address (host:port, as
// their ports differ), with the test's gossip key. HTTP binds port 0,
// DNS is off.
func clusterServerConfig(t testing.TB, ips []string, i int, dir string) *Config {
	cfg := testConfig(fmt.Sprintf("s%d", i))
	ip := ips[i-1]
	cfg.DevMode, cfg.Bootstrap = false, false
	cfg.DataDir = dir
	cfg.BootstrapExpect = len(ips)
	cfg.BindAddr, cfg.AdvertiseAddr = ip, ip
	cfg.Addresses = AddressesConfig{HTTP: []string{ip}}
	ports := testPorts(t, ip)
	cfg.Ports.Server, cfg.Ports.SerfLAN, cfg.Ports.DNS = ports.Server, ports.SerfLAN, -1
	cfg.Encrypt = testGossipKey(t)
	// Consul's production WAN timing, not -dev's 100 ms probe timeout, which
	// a machine loaded by the race detector misses: every server would be
	// suspected and refute, over and over, for the whole test.
	cfg.GossipWAN = defaultConfig().GossipWAN
	for _, other := range ips {
		cfg.RetryJoin = append(cfg.RetryJoin, lanAddr(t, other))
	}
	return cfg
}

func startTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return startTestClusterWith(t, n, nil)
}

// startTestClusterWith is startTestCluster with each configuration
// changed by mutate first.
func startTestClusterWith(t testing.TB, n int, mutate func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := 1; i <= n; i++ {
		c.configs = append(c.configs, clusterConfig(t, i, n, t.TempDir()))
		if mutate != nil {
			mutate(c.configs[i-1])
		}
		c.agents = append(c.agents, nil)
		c.start(i - 1)
	}
	leader := c.waitLeader(15 * time.Second)
	// Each server registers itself once it knows a leader, and the leader
	// gives it a passing serfHealth once its pool has the member.
	eventually(t, 15*time.Second, "every server registered with serfHealth passing", func() bool {
		var checks []HealthCheck
		c.agents[leader].must("GET", "/v1/health/state/passing", "", &checks)
		alive := 0
		for _, ch := range checks {
			if ch.CheckID == serfHealthID {
				alive++
			}
		}
		return alive == n
	})
	return c
}

// start (re)starts server i from its configuration and data directory.
func (c *testCluster) start(i int) {
	c.t.Helper()
	logger := slog.New(slog.NewTextHandler(c.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).
		With("node", c.configs[i].NodeName)
	a, err := newAgent(c.configs[i], logger)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(a.Shutdown)
	c.agents[i] = &testAgent{Agent: a, t: c.t, base: "http://" + a.HTTPAddrs()[0]}
}

func (c *testCluster) stop(i int) {
	c.agents[i].Shutdown()
	c.agents[i] = nil
}

// restartAll stops every server, starts them again from their data
// directories, and waits for a leader.
func (c *testCluster) restartAll() {
	c.t.Helper()
	for i := range c.agents {
		c.stop(i)
	}
	for i := range c.agents {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)
}

func (c *testCluster) live() []*testAgent {
	var out []*testAgent
	for _, a := range c.agents {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// waitLeader waits until every live server knows the same leader, and
// returns its index in agents.
func (c *testCluster) waitLeader(within time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		leader, agree := "", true
		for _, a := range c.live() {
			l := a.raft.leaderAddr()
			if l == "" || leader != "" && l != leader {
				agree = false
				break
			}
			leader = l
		}
		if agree && leader != "" {
			for i, a := range c.agents {
				if a != nil && a.serverAddr() == leader && a.raft.isLeader() {
					return i
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader within %v", within)
	return -1
}

// follower returns a live server other than the leader.
func (c *testCluster) follower(leader int) *testAgent {
	for i, a := range c.agents {
		if a != nil && i != leader {
			return a
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// TestClusterForwardingAndStatus: a follower forwards writes; every server
// reports the same leader and peers; reads in every consistency mode see an
// acknowledged write.
func TestClusterForwardingAndStatus(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	f := c.follower(leader)
	if r := f.must("PUT", "/v1/kv/k", "v", nil); r.body != "true" {
		t.Fatalf("PUT through a follower: %q", r.body)
	}
	for _, a := range c.live() {
		for _, mode := range []string{"", "&consistent"} {
			if r := a.must("GET", "/v1/kv/k?raw"+mode, "", nil); r.body != "v" {
				t.Fatalf("%s GET%s: %q", a.cfg.NodeName, mode, r.body)
			}
		}
		r := a.must("GET", "/v1/kv/k?stale", "", nil) // may lag, but must answer with the headers
		if r.header.Get("X-Consul-KnownLeader") != "true" || r.header.Get("X-Consul-LastContact") == "" {
			t.Fatalf("%s stale read headers: %v", a.cfg.NodeName, r.header)
		}
		var l string
		a.must("GET", "/v1/status/leader", "", &l)
		if l != c.agents[leader].serverAddr() {
			t.Fatalf("%s says the leader is %q, not %q", a.cfg.NodeName, l, c.agents[leader].serverAddr())
		}
		var peers []string
		a.must("GET", "/v1/status/peers", "", &peers)
		if len(peers) != 3 {
			t.Fatalf("%s peers: %v", a.cfg.NodeName, peers)
		}
	}
	var conf struct {
		Servers []raftServerInfo
		Index   uint64
	}
	f.must("GET", "/v1/operator/raft/configuration", "", &conf)
	leaders := 0
	for _, s := range conf.Servers {
		if s.Leader {
			leaders++
		}
	}
	if len(conf.Servers) != 3 || leaders != 1 || conf.Index == 0 {
		t.Fatalf("raft configuration: %+v", conf)
	}
	// Every server registered itself in the catalog.
	var nodes []Node
	f.must("GET", "/v1/catalog/nodes", "", &nodes)
	if len(nodes) != 3 {
		t.Fatalf("catalog nodes: %+v", nodes)
	}
}

// TestClusterSessionSurvivesFailover: a lock held through a session
// survives the loss of the leader; the new leader rebuilt the session's
// timer, so when the holder stops renewing the lock is released by the TTL
// rule, and another session gets it only after the lock delay.
func TestClusterSessionSurvivesFailover(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	f := c.follower(leader)
	sid := f.createSession(`{"TTL":"10s","LockDelay":"1s"}`)
	other := f.createSession(`{"TTL":"30s","LockDelay":"0s"}`)
	if r := f.must("PUT", "/v1/kv/service/leader?acquire="+sid, "me", nil); r.body != "true" {
		t.Fatal("could not acquire")
	}
	c.stop(leader)
	newLeader := c.waitLeader(10 * time.Second)
	nl := c.agents[newLeader]
	f = c.follower(newLeader)
	var entries []KVEntry
	f.must("GET", "/v1/kv/service/leader?consistent", "", &entries)
	if entries[0].Session != sid {
		t.Fatalf("the lock did not survive the election: %+v", entries[0])
	}
	if r := f.do("PUT", "/v1/session/renew/"+sid, ""); r.code != 200 {
		t.Fatalf("renew after failover: %d %s", r.code, r.body)
	}
	eventually(t, 5*time.Second, "the new leader takes up its leadership", func() bool {
		return nl.leaderTerm.Load() == nl.raft.raftStatus().Term
	})
	if !hasTimer(nl.sessions, sid) {
		t.Fatal("the new leader has no TTL timer for the session")
	}
	// The holder stops renewing. A TTL shorter than the API allows, set on
	// the leader's timer, keeps the test quick.
	r := f.must("GET", "/v1/kv/service/leader", "", nil)
	expiring := time.Now() // the session is invalidated after this, so its lock delay ends after expiring+1s
	nl.sessions.reset(sid, 50*time.Millisecond)
	r = <-f.blockingGet(fmt.Sprintf("/v1/kv/service/leader?index=%d&wait=10s", r.index()))
	entries = nil
	f.must("GET", "/v1/kv/service/leader?consistent", "", &entries)
	if entries[0].Session != "" {
		t.Fatalf("lock still held after its session expired: %+v", entries[0])
	}
	// Only a success before expiring+1s proves the delay broken: on a
	// loaded machine the first attempt may already come after it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r := f.must("PUT", "/v1/kv/service/leader?acquire="+other, "you", nil); r.body == "true" {
			if waited := time.Since(expiring); waited < time.Second {
				t.Fatalf("acquired %v after the session began to expire, inside the 1s lock delay", waited)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never acquired after the lock delay")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasTimer(s *sessionTimers, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timers[id] != nil
}

// TestClusterLockContention: the contention test of the single server, with
// the clients spread over three servers.
func TestClusterLockContention(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	lockContention(t, c.live())
}

// TestClusterRemovePeerAndRejoin: the operator API removes a server; the
// cluster goes on with two; the server, restarted empty, joins again.
func TestClusterRemovePeerAndRejoin(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	victim := (leader + 1) % 3
	addr := c.agents[victim].serverAddr()
	c.stop(victim)
	c.agents[leader].expect("DELETE", "/v1/operator/raft/peer?address=127.0.0.99:1", "", 500, `address "127.0.0.99:1" was not found in the Raft configuration`)
	c.agents[(leader+2)%3].must("DELETE", "/v1/operator/raft/peer?address="+addr, "", nil)
	var peers []string
	c.agents[leader].must("GET", "/v1/status/peers", "", &peers)
	if len(peers) != 2 || strings.Contains(strings.Join(peers, ","), addr) {
		t.Fatalf("peers after removal: %v", peers)
	}
	c.agents[leader].must("PUT", "/v1/kv/after-removal", "x", nil)
	// Back with an empty data directory: it asks the cluster to add it.
	c.configs[victim].DataDir = t.TempDir()
	c.start(victim)
	eventually(t, 10*time.Second, "the server rejoins", func() (bool, string) {
		c.agents[leader].must("GET", "/v1/status/peers", "", &peers)
		return len(peers) == 3, fmt.Sprintf("peers %v", peers)
	})
	if r := c.agents[victim].must("GET", "/v1/kv/after-removal?raw", "", nil); r.body != "x" {
		t.Fatalf("the rejoined server reads %q", r.body)
	}
}

// TestClusterRestartKeepsData: every server stopped and started again from
// its data directory; the data and the configuration are all there.
func TestClusterRestartKeepsData(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	for i := range 50 {
		c.agents[i%3].must("PUT", fmt.Sprintf("/v1/kv/r/%d", i), fmt.Sprint(i), nil)
	}
	c.restartAll()
	for i := range 50 {
		if r := c.agents[(i+1)%3].must("GET", fmt.Sprintf("/v1/kv/r/%d?raw", i), "", nil); r.body != fmt.Sprint(i) {
			t.Fatalf("key r/%d after restart: %q", i, r.body)
		}
	}
}

// TestClusterNoLeader: with a quorum gone, writes answer 500 "No cluster
// leader" (after the hold timeout) and reads say KnownLeader false, except
// ?stale, which any server answers.
func TestClusterNoLeader(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out the RPC hold timeout")
	}
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	c.agents[leader].must("PUT", "/v1/kv/k", "v", nil)
	survivor := c.follower(leader)
	for i, a := range c.agents {
		if a != survivor {
			c.stop(i)
		}
	}
	// The stopped servers handed leadership on as they went, so the
	// survivor may lead for a moment, until check-quorum makes it step
	// down: a write proposed then fails with "leadership lost". Or it may
	// still forward to the leader that is going away, whose connection
	// then breaks. After that, with no quorum, writes wait out the hold
	// timeout and get "No cluster leader".
	for attempt := 0; ; attempt++ {
		r := survivor.do("PUT", "/v1/kv/k", "w")
		if r.code == 500 && strings.Contains(r.body, "No cluster leader") {
			break
		}
		transient := strings.Contains(r.body, "leadership lost") || strings.Contains(r.body, "connection broken")
		if attempt == 3 || r.code != 500 || !transient {
			t.Fatalf("PUT without a quorum: %d %q, want 500 No cluster leader", r.code, r.body)
		}
	}
	r := survivor.must("GET", "/v1/kv/k?stale&raw", "", nil)
	if r.body != "v" || r.header.Get("X-Consul-KnownLeader") != "false" {
		t.Fatalf("stale read without a leader: %q %v", r.body, r.header)
	}
}

// TestClusterSnapshotCatchUp: with a low snapshot threshold, servers
// snapshot and compact their logs while writes go on; a follower that was
// down longer than the leader's log reaches is brought back by
// InstallSnapshot, and a restart of every server loads its snapshot.
func TestClusterSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	c := &testCluster{t: t}
	for i := 1; i <= 3; i++ {
		cfg := clusterConfig(t, i, 3, t.TempDir())
		cfg.RaftSnapshotThreshold, cfg.RaftTrailingLogs = 20, 5
		c.configs = append(c.configs, cfg)
		c.agents = append(c.agents, nil)
		c.start(i - 1)
	}
	leader := c.waitLeader(15 * time.Second)
	lagging := (leader + 1) % 3
	c.stop(lagging)
	for i := range 120 {
		c.agents[leader].must("PUT", fmt.Sprintf("/v1/kv/s/%d", i), fmt.Sprint(i), nil)
	}
	if off := c.agents[leader].raft.compactedTo(); off == 0 {
		t.Fatal("the leader never compacted its log")
	}
	c.start(lagging)
	eventually(t, 10*time.Second, "the lagging server catches up", func() (bool, string) {
		r := c.agents[lagging].do("GET", "/v1/kv/s/119?raw&stale", "")
		return r.code == 200 && r.body == "119", fmt.Sprintf("%d %q", r.code, r.body)
	})
	if c.agents[lagging].raft.raftStatus().Applied < 100 || c.agents[lagging].raft.compactedTo() == 0 {
		t.Fatalf("the lagging server caught up without a snapshot: %+v", c.agents[lagging].raft.raftStatus())
	}
	c.restartAll()
	for i := range 120 {
		if r := c.agents[i%3].must("GET", fmt.Sprintf("/v1/kv/s/%d?raw", i), "", nil); r.body != fmt.Sprint(i) {
			t.Fatalf("s/%d after restart: %q", i, r.body)
		}
	}
}

// BenchmarkClusterTxn10: 10-operation write transactions on three servers
// with durable logs, clients spread over the servers.
func BenchmarkClusterTxn10(b *testing.B) {
	c := startTestCluster(b, 3)
	b.ResetTimer()
	runTxn10(b, c.agents[0].base, c.agents[1].base, c.agents[2].base)
}

// BenchmarkClusterLockHandoff: as BenchmarkLockHandoff, on three servers:
// the holder releases through one follower, the waiter blocks and acquires
// through another.
func BenchmarkClusterLockHandoff(b *testing.B) {
	c := startTestCluster(b, 3)
	leader := c.waitLeader(5 * time.Second)
	var fs []*testAgent
	for i, a := range c.agents {
		if i != leader {
			fs = append(fs, a)
		}
	}
	var ids [2]string
	for i := range ids {
		ids[i] = fs[i].createSession(`{"LockDelay":"0s"}`)
	}
	lockPath := "/v1/kv/handoff"
	fs[0].must("PUT", lockPath+"?acquire="+ids[0], "", nil)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		holder, waiter := fs[i%2], fs[(i+1)%2]
		hid, wid := ids[i%2], ids[(i+1)%2]
		cur := waiter.must("GET", lockPath+"?consistent", "", nil)
		acquired := make(chan time.Time, 1)
		go func() {
			// The waiter's loop, as api.Lock does it: block on the key, then acquire.
			benchDo(b, "GET", fmt.Sprintf("%s%s?index=%d&wait=10s", waiter.base, lockPath, cur.index()), "")
			if benchDo(b, "PUT", waiter.base+lockPath+"?acquire="+wid, "") != "true" {
				b.Error("waiter could not acquire")
			}
			acquired <- time.Now()
		}()
		for !watched(waiter.store, "handoff") {
			time.Sleep(50 * time.Microsecond)
		}
		start := time.Now()
		holder.must("PUT", lockPath+"?release="+hid, "", nil)
		total += (<-acquired).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/handoff")
}

// TestClusterGossip: the servers form one LAN pool through -retry-join; a
// user event fired on one reaches every agent; a server that dies is
// marked failed by the pool and its serfHealth turns critical in the
// catalog (reconciled by the leader), and passing again when it returns.
func TestClusterGossip(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	for _, a := range c.live() {
		eventually(t, 10*time.Second, a.cfg.NodeName+" sees 3 alive members", func() bool {
			var members []agentMember
			a.must("GET", "/v1/agent/members", "", &members)
			alive := 0
			for _, m := range members {
				if m.Status == memberAlive && m.Tags["role"] == "consul" && m.Tags["dc"] == "dc1" {
					alive++
				}
			}
			return alive == 3
		})
	}
	var fired UserEvent
	c.agents[0].must("PUT", "/v1/event/fire/deploy", "v9", &fired)
	for _, a := range c.live() {
		eventually(t, 10*time.Second, a.cfg.NodeName+" has the event", func() bool {
			var events []UserEvent
			a.must("GET", "/v1/event/list?name=deploy", "", &events)
			return len(events) == 1 && events[0].ID == fired.ID && string(events[0].Payload) == "v9"
		})
	}
	leader := c.waitLeader(5 * time.Second)
	victim := (leader + 1) % 3
	name := c.configs[victim].NodeName
	c.stop(victim)
	serfHealth := func(status string) func() bool {
		return func() bool {
			var checks []HealthCheck
			c.agents[leader].must("GET", "/v1/health/node/"+name, "", &checks)
			for _, ch := range checks {
				if ch.CheckID == "serfHealth" {
					return ch.Status == status
				}
			}
			return false
		}
	}
	eventually(t, 40*time.Second, name+"'s serfHealth critical", serfHealth(healthCritical))
	c.start(victim)
	eventually(t, 40*time.Second, name+"'s serfHealth passing again", serfHealth(healthPassing))
}

// TestClusterGracefulLeave: a server that leaves takes itself out of the
// Raft configuration, the pool records it as left (not failed), and the
// leader deregisters its node from the catalog.
func TestClusterGracefulLeave(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	for _, leaving := range []int{(leader + 1) % 3, leader} { // a follower, then the leader itself
		name := c.configs[leaving].NodeName
		c.agents[leaving].must("PUT", "/v1/agent/leave", "", nil)
		select {
		case <-c.agents[leaving].Left():
		case <-time.After(10 * time.Second):
			t.Fatal("the agent did not report that it left")
		}
		c.stop(leaving)
		rest := c.live()
		eventually(t, 20*time.Second, name+" out of peers, left in the pool, out of the catalog", func() bool {
			var peers []string
			var members []agentMember
			rest[0].must("GET", "/v1/status/peers", "", &peers)
			rest[0].must("GET", "/v1/agent/members", "", &members)
			left := false
			for _, m := range members {
				left = left || m.Name == name && m.Status == memberLeft
			}
			r := rest[0].do("GET", "/v1/catalog/node/"+name+"?stale", "")
			return len(peers) == len(rest) && left && r.body == "null"
		})
		c.waitLeader(10 * time.Second)
		if len(rest) == 1 {
			break
		}
	}
	// The last server leads alone.
	c.live()[0].must("PUT", "/v1/kv/alone", "x", nil)
}

// compactedTo is the index of the newest durable snapshot (0: none yet).
func (n *raftNode) compactedTo() uint64 { return n.snapIndexPub.Load() }
