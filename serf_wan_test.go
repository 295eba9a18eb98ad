// serf_wan_test.go: the WAN pool. Unit tests of what serf_wan.go reads from the
// pool's members (server addresses, the datacenter list), then datacenters
// in one process on their own loopback addresses (dc1: three servers on
// 127.0.0.81-83; dc2 and dc3: one server each on 127.0.0.91 and .92),
// federated through -retry-join-wan and /v1/agent/join?wan.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func wanTestMember(name, dc, port string, st swimState) swimMember {
	return swimMember{Name: name + "." + dc, Addr: "10.0.0.1:8302", State: st,
		Tags: map[string]string{"role": "consul", "dc": dc, "port": port}}
}

func TestWANServerAddrs(t *testing.T) {
	t.Parallel()
	a := wanTestMember("a", "dc1", "8300", swimAlive)
	b := wanTestMember("b", "dc1", "9300", swimSuspect) // still alive as far as routing goes
	b.Addr = "10.0.0.2:8302"
	members := []swimMember{
		a, b,
		wanTestMember("c", "dc1", "8300", swimFailed),
		wanTestMember("d", "dc1", "8300", swimLeft),
		wanTestMember("e", "dc1", "x", swimAlive),     // a malformed port tag
		wanTestMember("f", "dc1", "70000", swimAlive), // out of range
		wanTestMember("g", "dc2", "8300", swimAlive),
		{Name: "client", Addr: "10.0.0.9:8301", Tags: map[string]string{"role": "node", "dc": "dc1", "port": "8300"}},
		{Name: "noaddr.dc1", Addr: "nonsense", Tags: map[string]string{"role": "consul", "dc": "dc1", "port": "8300"}},
	}
	if got, want := wanServerAddrs(members, "dc1"), []string{"10.0.0.1:8300", "10.0.0.2:9300"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dc1 servers %v, want %v", got, want)
	}
	if got := wanServerAddrs(members, "dc2"); !reflect.DeepEqual(got, []string{"10.0.0.1:8300"}) {
		t.Errorf("dc2 servers %v", got)
	}
	if got := wanServerAddrs(members, "dc9"); len(got) != 0 {
		t.Errorf("servers of an unknown datacenter: %v", got)
	}
	v6 := wanTestMember("h", "dc3", "8300", swimAlive)
	v6.Addr = "[2001:db8::1]:8302"
	if got := wanServerAddrs([]swimMember{v6}, "dc3"); !reflect.DeepEqual(got, []string{"[2001:db8::1]:8300"}) {
		t.Errorf("IPv6 server %v", got)
	}
}

func TestKnownDatacenters(t *testing.T) {
	t.Parallel()
	members := []swimMember{
		wanTestMember("a", "dc2", "8300", swimAlive),
		wanTestMember("b", "dc1", "8300", swimAlive),
		wanTestMember("c", "east", "8300", swimFailed), // listed until reaped, as Consul's
		wanTestMember("d", "dc2", "8300", swimAlive),
		wanTestMember("e", "dc0", "8300", swimLeft),
		{Name: "client", Tags: map[string]string{"role": "node", "dc": "zz"}}, // not a server: no datacenter of its own
	}
	if got, want := knownDatacenters(members, "dc2"), []string{"dc2", "dc0", "dc1", "east"}; !reflect.DeepEqual(got, want) {
		t.Errorf("datacenters %v, want %v", got, want)
	}
	if got := knownDatacenters(nil, "dc1"); !reflect.DeepEqual(got, []string{"dc1"}) {
		t.Errorf("with an empty pool: %v", got)
	}
}

func TestWANFloodTargets(t *testing.T) {
	t.Parallel()
	server := func(name, dc, addr, wanPort string, st swimState) swimMember {
		return swimMember{Name: name, Addr: addr, State: st,
			Tags: map[string]string{"role": "consul", "dc": dc, "port": "8300", "wan_join_port": wanPort}}
	}
	lan := []swimMember{
		server("s1", "dc1", "10.0.0.1:8301", "8302", swimAlive), // in the WAN pool already
		server("s2", "dc1", "10.0.0.2:8301", "9302", swimAlive),
		server("s3", "dc1", "10.0.0.3:8301", "8302", swimFailed),
		server("s4", "dc1", "10.0.0.4:8301", "", swimAlive), // announces no WAN port
		server("s5", "dc1", "10.0.0.5:8301", "0", swimAlive),
		server("s6", "dc9", "10.0.0.6:8301", "8302", swimAlive), // another datacenter's, on our LAN
		{Name: "c1", Addr: "10.0.0.7:8301", State: swimAlive, Tags: map[string]string{"role": "node", "dc": "dc1"}},
		server("s8", "dc1", "[2001:db8::8]:8301", "8302", swimAlive),
	}
	wan := []swimMember{{Name: "s1.dc1"}, {Name: "s2.dc2"}} // s2.dc2 is not dc1's s2
	if got, want := floodTargets(lan, wan, "dc1"), []string{"10.0.0.2:9302", "[2001:db8::8]:8302"}; !reflect.DeepEqual(got, want) {
		t.Errorf("flood targets %v, want %v", got, want)
	}
}

// wanFast is gossip_wan at about Consul's -dev timing, a little slower so a
// busy test machine does not suspect healthy servers.
var wanFast = GossipConfig{GossipInterval: 100 * time.Millisecond, GossipNodes: 4, ProbeInterval: 250 * time.Millisecond,
	ProbeTimeout: 150 * time.Millisecond, RetransmitMult: 4, SuspicionMult: 4}

const wanTestKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

// wanDCServer is the configuration of the lone server of a datacenter, in
// the style of -dev, on its own loopback address; its WAN pool binds port 0
// (a.wan().Addr() says which), and retryJoinWAN are host:port addresses.
func wanDCServer(dc, ip string, retryJoinWAN ...string) *Config {
	cfg := testConfig("s1") // the same node name as in dc1: the WAN names differ by datacenter
	cfg.Datacenter, cfg.PrimaryDatacenter = dc, "dc1"
	cfg.BindAddr, cfg.AdvertiseAddr = ip, ip
	cfg.Addresses = AddressesConfig{HTTP: []string{ip}}
	cfg.Ports.DNS = -1
	cfg.RetryJoinWAN = retryJoinWAN
	cfg.GossipWAN, cfg.Encrypt = wanFast, wanTestKey
	return cfg
}

func startWANAgent(t *testing.T, cfg *Config) *testAgent {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).
		With("node", cfg.NodeName+"."+cfg.Datacenter)
	a, err := newAgent(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return &testAgent{Agent: a, t: t, base: "http://" + a.HTTPAddrs()[0]}
}

// wanMemberList is GET /v1/agent/members?wan=1, by name.
func wanMemberList(a *testAgent) map[string]agentMember {
	var ms []agentMember
	a.must("GET", "/v1/agent/members?wan=1", "", &ms)
	out := map[string]agentMember{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func wanStatus(a *testAgent, name string) int { return wanMemberList(a)[name].Status }

// TestWANTwoDatacenters: the servers of dc1 (three) and dc2 (one) find each
// other through -retry-join-wan, given to one dc1 server only (the others
// flood-join through it), and dc3 joins through /v1/agent/join?wan.
// Every server lists every WAN member with Consul's fields and tags, and
// every datacenter, its own first; dcServers gives the RPC addresses of a
// datacenter's live servers in a shuffled order. A dc1 server that dies is
// marked failed and drops out of dcServers; dc3's server leaving gracefully
// is marked left.
func TestWANTwoDatacenters(t *testing.T) {
	t.Parallel()
	// dc2's and dc3's servers share a WAN port, so that dc3 can join dc2
	// naming its host alone (below).
	wanPort := freePort(t, "127.0.0.91", "127.0.0.92")
	dc1IPs := []string{"127.0.0.81", "127.0.0.82", "127.0.0.83"}
	dc2Config := wanDCServer("dc2", "127.0.0.91", net.JoinHostPort(dc1IPs[0], strconv.Itoa(testPorts(t, dc1IPs[0]).SerfWAN)))
	dc2Config.Ports.SerfWAN = wanPort
	dc2 := startWANAgent(t, dc2Config)
	c := &testCluster{t: t}
	for i := 1; i <= 3; i++ {
		cfg := clusterServerConfig(t, dc1IPs, i, t.TempDir())
		if i == 1 { // the others flood-join through s1
			cfg.RetryJoinWAN = []string{dc2.wan().Addr()}
		}
		cfg.Ports.SerfWAN, cfg.GossipWAN, cfg.Encrypt = testPorts(t, dc1IPs[i-1]).SerfWAN, wanFast, wanTestKey
		c.configs = append(c.configs, cfg)
		c.agents = append(c.agents, nil)
		c.start(i - 1)
	}
	leader := c.waitLeader(15 * time.Second)
	all := append(c.live(), dc2)

	// Federated: every server sees the four WAN members alive.
	for _, a := range all {
		eventually(t, 20*time.Second, a.cfg.NodeName+"."+a.cfg.Datacenter+" sees 4 alive WAN members", func() bool {
			ms := wanMemberList(a)
			alive := 0
			for _, m := range ms {
				if m.Status == memberAlive {
					alive++
				}
			}
			return len(ms) == 4 && alive == 4
		})
	}
	ms := wanMemberList(c.agents[0])
	for _, a := range all {
		name := a.cfg.NodeName + "." + a.cfg.Datacenter
		m, ok := ms[name]
		want := map[string]string{"role": "consul", "dc": a.cfg.Datacenter, "port": fmt.Sprint(a.rpcPort), "id": a.nodeID}
		for k, v := range want {
			if m.Tags[k] != v {
				t.Errorf("%s: tag %s = %q, want %q (member %+v)", name, k, m.Tags[k], v, m)
			}
		}
		if !ok || m.Addr != a.cfg.AdvertiseAddr || int(m.Port) != a.cfg.Ports.SerfWAN || m.ProtocolCur != 2 || m.DelegateCur != 4 {
			t.Errorf("%s: %+v", name, m)
		}
		for _, lanOnly := range []string{"segment", "wan_join_port"} {
			if _, ok := m.Tags[lanOnly]; ok {
				t.Errorf("%s: a WAN member with the LAN's %s tag", name, lanOnly)
			}
		}
	}
	var lan []agentMember
	c.agents[1].must("GET", "/v1/agent/members", "", &lan)
	wanPorts := map[string]string{}
	for _, a := range c.live() {
		wanPorts[a.cfg.NodeName] = strconv.Itoa(a.cfg.Ports.SerfWAN)
	}
	for _, m := range lan {
		if m.Tags["wan_join_port"] != wanPorts[m.Name] {
			t.Errorf("LAN member %s announces wan_join_port %q", m.Name, m.Tags["wan_join_port"])
		}
	}
	// The LAN pools stay apart.
	dc2.must("GET", "/v1/agent/members", "", &lan)
	if len(lan) != 1 || lan[0].Name != "s1" {
		t.Errorf("dc2's LAN pool: %+v", lan)
	}
	// The WAN pool has its own keyring file, seeded with -encrypt.
	if _, err := os.Stat(filepath.Join(c.configs[0].DataDir, "serf", "remote.keyring")); err != nil {
		t.Errorf("no WAN keyring file: %v", err)
	}

	// /v1/catalog/datacenters: the local datacenter first.
	for _, tc := range []struct {
		a    *testAgent
		want []string
	}{{c.agents[leader], []string{"dc1", "dc2"}}, {c.follower(leader), []string{"dc1", "dc2"}}, {dc2, []string{"dc2", "dc1"}}} {
		var dcs []string
		tc.a.must("GET", "/v1/catalog/datacenters", "", &dcs)
		if !reflect.DeepEqual(dcs, tc.want) {
			t.Errorf("%s: datacenters %v, want %v", tc.a.cfg.Datacenter, dcs, tc.want)
		}
	}

	// dcServers: the RPC addresses of the datacenter's servers, shuffled.
	var dc1Addrs []string
	for _, a := range c.live() {
		dc1Addrs = append(dc1Addrs, a.serverAddr())
	}
	slices.Sort(dc1Addrs)
	firsts := map[string]bool{}
	for range 100 {
		got := dc2.dcServers("dc1")
		firsts[got[0]] = true
		slices.Sort(got)
		if !reflect.DeepEqual(got, dc1Addrs) {
			t.Fatalf("dcServers(dc1) = %v, want %v", got, dc1Addrs)
		}
	}
	if len(firsts) < 2 {
		t.Errorf("dcServers(dc1) came in one order 100 times: %v", firsts)
	}
	if got := c.agents[leader].dcServers("dc2"); !reflect.DeepEqual(got, []string{dc2.serverAddr()}) {
		t.Errorf("dcServers(dc2) = %v, want [%s]", got, dc2.serverAddr())
	}
	if got := dc2.dcServers("dc9"); len(got) != 0 {
		t.Errorf("dcServers of an unknown datacenter: %v", got)
	}

	// dc3 joins over HTTP, through dc2's server named by its host alone: on
	// dc3's own WAN port, as memberlist's join.
	dc3Config := wanDCServer("dc3", "127.0.0.92")
	dc3Config.Ports.SerfWAN = wanPort
	dc3 := startWANAgent(t, dc3Config)
	dc3.must("PUT", "/v1/agent/join/127.0.0.91?wan=1", "", nil)
	eventually(t, 20*time.Second, "every server lists dc1, dc2 and dc3", func() bool {
		var dcs []string
		c.agents[leader].must("GET", "/v1/catalog/datacenters", "", &dcs)
		var dcs3 []string
		dc3.must("GET", "/v1/catalog/datacenters", "", &dcs3)
		return reflect.DeepEqual(dcs, []string{"dc1", "dc2", "dc3"}) && reflect.DeepEqual(dcs3, []string{"dc3", "dc1", "dc2"})
	})
	var self map[string]map[string]any
	dc3.must("GET", "/v1/agent/self", "", &self)
	if got := self["Stats"]["consul"].(map[string]any)["known_datacenters"]; got != "3" {
		t.Errorf("known_datacenters = %v", got)
	}

	// A dc1 server dies: failed in the WAN pool, out of dcServers.
	victim := c.follower(leader)
	victimName, victimAddr := victim.cfg.NodeName+".dc1", victim.serverAddr()
	for i, a := range c.agents {
		if a == victim {
			c.stop(i)
		}
	}
	eventually(t, 20*time.Second, victimName+" failed in dc2's view", func() bool {
		return wanStatus(dc2, victimName) == memberFailed
	})
	if got := dc2.dcServers("dc1"); len(got) != 2 || slices.Contains(got, victimAddr) {
		t.Errorf("dcServers(dc1) after %s died: %v", victimName, got)
	}
	// force-leave?wan makes the failed server left in the WAN pool.
	dc2.must("PUT", "/v1/agent/force-leave/"+victimName+"?wan", "", nil)
	eventually(t, 10*time.Second, victimName+" left after force-leave?wan", func() bool {
		return wanStatus(dc2, victimName) == memberLeft && wanStatus(c.agents[leader], victimName) == memberLeft
	})
	dc2.expect("PUT", "/v1/agent/force-leave/nobody.dc9?wan", "", http.StatusInternalServerError, "No node found")

	// dc3's server leaves gracefully: left, not failed.
	dc3.must("PUT", "/v1/agent/leave", "", nil)
	select {
	case <-dc3.Left():
	case <-time.After(10 * time.Second):
		t.Fatal("dc3's server did not report that it left")
	}
	dc3.Shutdown()
	eventually(t, 20*time.Second, "s1.dc3 left in dc2's and dc1's views", func() bool {
		return wanStatus(dc2, "s1.dc3") == memberLeft && wanStatus(c.agents[leader], "s1.dc3") == memberLeft
	})
	if got := dc2.dcServers("dc3"); len(got) != 0 {
		t.Errorf("dcServers(dc3) after it left: %v", got)
	}
}

// TestWANJoinBadInput: a join with a missing address is refused; a join
// through an address nobody answers at fails, as a LAN join does, and
// changes nothing.
func TestWANJoinBadInput(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.expect("PUT", "/v1/agent/join/?wan=1", "", 400, "Missing address")
	addr := closedPort(t)
	ta.expect("PUT", "/v1/agent/join/"+addr+"?wan=1", "", 500, "1 error occurred:\n\t* Failed to join "+addr+": dial tcp "+addr+": connect: connection refused\n\n")
	if ms := wanMemberList(ta); len(ms) != 1 || ms["node1.dc1"].Status != memberAlive {
		t.Errorf("WAN members of a lone server: %+v", ms)
	}
}

// TestBug_AgentJoinFailureIs500: a LAN join that reaches nobody answered
// 200, as if it had joined; Consul answers 500 with memberlist's errors.
func TestBug_AgentJoinFailureIs500(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	addr := closedPort(t)
	r := ta.do("PUT", "/v1/agent/join/"+addr, "")
	want := "1 error occurred:\n\t* Failed to join " + addr + ": dial tcp " + addr + ": connect: connection refused\n\n"
	if r.code != 500 || r.body != want {
		t.Errorf("join through a closed port: %d %q, want 500 %q", r.code, r.body, want)
	}
	if ms := ta.lan().Members(); len(ms) != 1 {
		t.Errorf("members after a failed join: %+v", ms)
	}
}

// closedPort is a loopback TCP address nothing listens on: one the kernel
// just handed out and was closed again.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// BenchmarkDCServers: what a request forwarded to another datacenter pays
// to pick its servers, in a WAN pool of 100 datacenters of 5 servers each.
func BenchmarkDCServers(b *testing.B) {
	var members []swimMember
	for dc := range 100 {
		for s := range 5 {
			m := wanTestMember(fmt.Sprintf("s%d", s), fmt.Sprintf("dc%d", dc), "8300", swimAlive)
			m.Addr = fmt.Sprintf("10.%d.0.%d:8302", dc, s)
			members = append(members, m)
		}
	}
	slices.SortFunc(members, func(x, y swimMember) int { return strings.Compare(x.Name, y.Name) })
	pool := &gossipPool{}
	pool.members.Store(&members)
	a := &Agent{cfg: &Config{Datacenter: "dc0"}}
	a.wanPool.Store(pool)
	b.ReportAllocs()
	for b.Loop() {
		if len(a.dcServers("dc42")) != 5 {
			b.Fatal("wrong servers")
		}
	}
}
