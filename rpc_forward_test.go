// rpc_forward_test.go: tests of request forwarding (rpc_forward.go): the
// codec, the server side, the choice of server, client agents and other
// datacenters end to end in one process.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// startTestClient starts a client agent on ip that joins the LAN pool
// through join (gossip addresses, host:port: lanAddr), and knows nothing
// else of the servers. Its LAN port is testPorts's for ip.
func startTestClient(t testing.TB, name, ip string, join ...string) *testAgent {
	t.Helper()
	return startTestClientWith(t, name, ip, func(c *Config) { c.RetryJoin = join })
}

func startTestClientWith(t testing.TB, name, ip string, mutate func(*Config)) *testAgent {
	t.Helper()
	cfg := testConfig(name)
	cfg.Server, cfg.DevMode, cfg.Bootstrap = false, false, false
	cfg.DataDir = t.TempDir()
	cfg.BindAddr, cfg.AdvertiseAddr = ip, ip
	cfg.Addresses = AddressesConfig{HTTP: []string{ip}, DNS: []string{ip}}
	cfg.Ports.SerfLAN = testPorts(t, ip).SerfLAN // others may be told it before it starts
	cfg.Encrypt = testGossipKey(t)
	mutate(cfg)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", name)
	a, err := newAgent(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return &testAgent{Agent: a, t: t, base: "http://" + a.HTTPAddrs()[0]}
}

// dnsAsk sends one question over UDP and returns the answer.
func dnsAskUDP(t testing.TB, addr, name string, qt dnsmessage.Type) dnsmessage.Message {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(dnsQuery(name, qt, 0)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClientAgent: a client agent given only one gossip address finds the
// servers through the pool and answers the HTTP API and DNS through them:
// KV, blocking queries, its own services with their checks, sessions on
// its node, the agent cache; when its server dies it moves to another, and
// with every server gone its cached reads still answer.
func TestClientAgent(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	cl := startTestClient(t, "web1", "127.0.0.31", lanAddr(t, "127.0.0.22"))
	eventually(t, 10*time.Second, "the client knows the 3 servers", func() bool { return len(cl.lanServers()) == 3 })

	// KV through the client, read back through a server and the client.
	cl.must("PUT", "/v1/kv/app/config", "v1", nil)
	var pairs []KVEntry
	c.agents[0].must("GET", "/v1/kv/app/config?consistent", "", &pairs)
	if len(pairs) != 1 || string(pairs[0].Value) != "v1" {
		t.Fatalf("KV through a server: %+v", pairs)
	}
	r := cl.must("GET", "/v1/kv/app/config", "", &pairs)
	if r.index() == 0 || r.header.Get("X-Consul-KnownLeader") != "true" || string(pairs[0].Value) != "v1" {
		t.Fatalf("KV through the client: %d %v %+v", r.index(), r.header, pairs)
	}
	cl.expect("GET", "/v1/kv/nope", "", http.StatusNotFound, "")
	cl.expect("POST", "/v1/kv/app/config", "x", http.StatusMethodNotAllowed, "")

	// A blocking query through the client wakes on a write through a server.
	ch := cl.blockingGet(fmt.Sprintf("/v1/kv/app/config?index=%d&wait=20s", r.index()))
	c.agents[1].must("PUT", "/v1/kv/app/config", "v2", nil)
	select {
	case br := <-ch:
		if br.code != 200 || !strings.Contains(br.body, "djI=") || br.index() <= r.index() {
			t.Fatalf("blocking query through the client: %d %s", br.code, br.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the blocking query did not return after the write")
	}

	// The client's own service and check reach the catalog; the leader
	// registered its node from the pool.
	cl.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":8080,"Tags":["v1"],
		"Check":{"CheckID":"web-ttl","TTL":"30s","Status":"passing"}}`, nil)
	eventually(t, 10*time.Second, "web is passing in the catalog", func() bool {
		var entries []CheckServiceNode
		c.agents[2].must("GET", "/v1/health/service/web?passing", "", &entries)
		return len(entries) == 1 && entries[0].Node.Node == "web1" && entries[0].Node.Address == "127.0.0.31" &&
			slices.ContainsFunc(entries[0].Checks, func(h *HealthCheck) bool { return h.CheckID == serfHealthID })
	})

	// DNS on the client.
	dnsAddr := cl.DNSAddrs()[0]
	m := dnsAskUDP(t, dnsAddr, "web.service.consul.", dnsmessage.TypeSRV)
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
		t.Fatalf("web SRV through the client: %v %+v", m.RCode, m.Answers)
	}
	if srv := m.Answers[0].Body.(*dnsmessage.SRVResource); srv.Port != 8080 || srv.Target.String() != "web1.node.dc1.consul." {
		t.Fatalf("web SRV: %+v", srv)
	}
	if m := dnsAskUDP(t, dnsAddr, "s2.node.consul.", dnsmessage.TypeA); len(m.Answers) != 1 {
		t.Fatalf("s2 A through the client: %v %+v", m.RCode, m.Answers)
	}
	if m := dnsAskUDP(t, dnsAddr, "nope.service.consul.", dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
		t.Fatalf("a missing service through the client: %v", m.RCode)
	}

	// Events are the agent's own: fired into the pool, listed from its ring.
	var fired UserEvent
	cl.must("PUT", "/v1/event/fire/deploy", "v1", &fired)
	eventually(t, 10*time.Second, "the event in the client's list", func() bool {
		var events []UserEvent
		r := cl.must("GET", "/v1/event/list?name=deploy", "", &events)
		return len(events) == 1 && events[0].ID == fired.ID && r.header.Get("X-Consul-KnownLeader") == "true"
	})

	// A session created through the client is on the client's node.
	var created struct{ ID string }
	cl.must("PUT", "/v1/session/create", `{"Name":"lock"}`, &created)
	var sessions []Session
	c.agents[0].must("GET", "/v1/session/info/"+created.ID, "", &sessions)
	if len(sessions) != 1 || sessions[0].Node != "web1" {
		t.Fatalf("session through the client: %+v", sessions)
	}

	// The agent cache: a miss, then hits; a change reaches it in the
	// background; a blocking read on the cache wakes on it.
	first := cl.must("GET", "/v1/health/service/web?cached", "", nil)
	if first.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first cached read: X-Cache %q", first.header.Get("X-Cache"))
	}
	hit := cl.must("GET", "/v1/health/service/web?cached", "", nil)
	if hit.header.Get("X-Cache") != "HIT" || hit.header.Get("Age") != "0" || hit.body != first.body {
		t.Fatalf("second cached read: %v", hit.header)
	}
	waiting := cl.blockingGet(fmt.Sprintf("/v1/health/service/web?cached&index=%d&wait=20s", hit.index()))
	cl.must("PUT", "/v1/agent/check/warn/web-ttl?note=slow", "", nil)
	select {
	case br := <-waiting:
		if br.code != 200 || br.header.Get("X-Cache") != "HIT" || !strings.Contains(br.body, `"Status":"warning"`) {
			t.Fatalf("blocking cached read: %d %v %s", br.code, br.header, br.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the blocking cached read did not wake")
	}
	cl.expect("GET", "/v1/health/service/web?cached&consistent", "", http.StatusBadRequest, "?cached")

	// Anti-entropy from a client: a service deregistered on the servers by
	// hand comes back with the next full sync.
	c.agents[0].must("PUT", "/v1/catalog/deregister", `{"Node":"web1","ServiceID":"web"}`, nil)
	cl.local.triggerSync()
	eventually(t, 10*time.Second, "web back in the catalog", func() bool {
		var entries []CheckServiceNode
		c.agents[0].must("GET", "/v1/health/service/web", "", &entries)
		return len(entries) == 1
	})
	eventually(t, 10*time.Second, "the cache has web back", func() bool {
		return strings.Contains(cl.must("GET", "/v1/health/service/web?cached", "", nil).body, `"web1"`)
	})

	// The client's server dies: its next reads go to another.
	current := cl.router.pick(nil)
	for i, a := range c.agents {
		if a.serverAddr() == current {
			c.stop(i)
		}
	}
	c.waitLeader(15 * time.Second)
	for i := range 5 {
		cl.must("GET", fmt.Sprintf("/v1/kv/app/config?stale&try=%d", i), "", nil)
	}
	if next := cl.router.pick(nil); next == current {
		t.Fatalf("still on the dead server %s", current)
	}

	// Every server gone: cached reads still answer, others fail clearly.
	for i, a := range c.agents {
		if a != nil {
			c.stop(i)
		}
	}
	stale := cl.must("GET", "/v1/health/service/web?cached", "", nil)
	if stale.header.Get("X-Cache") != "HIT" || !strings.Contains(stale.body, `"web1"`) {
		t.Fatalf("cached read with no server: %v %s", stale.header, stale.body)
	}
	eventually(t, 20*time.Second, "uncached reads fail without servers", func() bool {
		return cl.do("GET", "/v1/kv/app/config?stale", "").code == http.StatusInternalServerError
	})

	// A check's change while no server answers reaches the catalog once
	// they are back. (The client is joined to them at once here; by
	// itself it would find them within the pool's reconnect interval.)
	cl.must("PUT", "/v1/agent/check/pass/web-ttl", "", nil)
	for i := range c.agents {
		c.start(i)
	}
	leader := c.waitLeader(15 * time.Second)
	if err := cl.joinLAN([]string{lanAddr(t, "127.0.0.21")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web passing in the catalog after the outage", func() bool {
		var entries []CheckServiceNode
		c.agents[leader].must("GET", "/v1/health/service/web?passing", "", &entries)
		return len(entries) == 1
	})
}

func TestForwardCodec(t *testing.T) {
	t.Parallel()
	req := forwardRequest{Method: "PUT", URI: "/v1/kv/a%2Fb?cas=3", Header: http.Header{"X-Consul-Token": {"t"}}, Body: []byte("v")}
	got, err := decodeForwardRequest(req.encode())
	if err != nil || got.Method != req.Method || got.URI != req.URI || got.Header.Get("X-Consul-Token") != "t" || string(got.Body) != "v" {
		t.Fatalf("request round trip: %+v %v", got, err)
	}
	resp := forwardResponse{Status: 404, Header: http.Header{"X-Consul-Index": {"7"}}, Body: nil}
	gotResp, err := decodeForwardResponse(resp.encode())
	if err != nil || gotResp.Status != 404 || gotResp.Header.Get("X-Consul-Index") != "7" || len(gotResp.Body) != 0 {
		t.Fatalf("response round trip: %+v %v", gotResp, err)
	}
	enc := req.encode()
	for i := range enc {
		if _, err := decodeForwardRequest(enc[:i]); err == nil {
			t.Fatalf("a request cut at %d of %d bytes decoded", i, len(enc))
		}
	}
	if _, err := decodeForwardResponse(appendUvarints(nil, 7, 0, 0)); err == nil {
		t.Fatal("status 7 decoded")
	}
}

func FuzzForwardRequest(f *testing.F) {
	f.Add((&forwardRequest{Method: "GET", URI: "/v1/kv/a?recurse", Header: http.Header{"A": {"b", "c"}}}).encode())
	f.Add(appendUvarints(nil, 1<<40))
	f.Fuzz(func(t *testing.T, p []byte) {
		req, err := decodeForwardRequest(p)
		if err != nil {
			return
		}
		again, err := decodeForwardRequest(req.encode())
		if err != nil || again.Method != req.Method || again.URI != req.URI || !bytes.Equal(again.Body, req.Body) {
			t.Fatalf("re-encoding %+v: %+v %v", req, again, err)
		}
	})
}

// A forwarded request on a server goes through its own HTTP handler, with
// its method checks and errors; a bad URI is refused.
func TestServeForwarded(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ctx := context.Background()
	resp, err := ta.serveLocal(ctx, forwardRequest{Method: "PUT", URI: "/v1/kv/x", Body: []byte("1")})
	if err != nil || resp.Status != 200 || string(resp.Body) != "true" {
		t.Fatalf("PUT: %+v %v", resp, err)
	}
	resp, err = ta.serveLocal(ctx, forwardRequest{Method: "POST", URI: "/v1/kv/x"})
	if err != nil || resp.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %+v %v", resp, err)
	}
	if _, err := ta.serveLocal(ctx, forwardRequest{Method: "GET", URI: "http://elsewhere/v1/kv/x"}); err == nil {
		t.Fatal("an absolute URI was served")
	}
	if _, err := ta.serveClientApply(ctx, []byte(`{"Type":"kv","KV":{"Op":"set","Key":"k"}}`)); err == nil {
		t.Fatal("Client.Apply took a KV command")
	}
}

func TestServerRouter(t *testing.T) {
	t.Parallel()
	servers := []string{"a:1", "b:1", "c:1"}
	rt := &serverRouter{servers: func() []string { return slices.Clone(servers) }}
	first := rt.pick(nil)
	for range 10 {
		if got := rt.pick(nil); got != first {
			t.Fatalf("not sticky: %s then %s", first, got)
		}
	}
	rt.failed(first)
	if next := rt.pick([]string{first}); next == first || next == "" {
		t.Fatalf("after a failure: %q", next)
	}
	servers = nil
	if got := rt.pick(nil); got != "" {
		t.Fatalf("no servers: %q", got)
	}
}

// BenchmarkClientHealth compares health reads through a client agent,
// forwarded to its server or answered from the agent cache
// (go test -bench ClientHealth -run ^$).
func BenchmarkClientHealth(b *testing.B) {
	srv := startTestAgent(b, func(c *Config) { c.Encrypt = testGossipKey(b) }) // the client's key
	srv.must("PUT", "/v1/catalog/register", `{"Node":"node1","Address":"127.0.0.10",
		"Service":{"Service":"web","Port":8080},"Check":{"CheckID":"web","ServiceID":"web","Status":"passing"}}`, nil)
	cl := startTestClient(b, "bench", "127.0.0.32", srv.lan().Addr())
	eventually(b, 10*time.Second, "the client knows the server", func() bool { return len(cl.lanServers()) == 1 })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, mode := range []string{"forwarded", "cached"} {
		url := cl.base + "/v1/health/service/web"
		if mode == "cached" {
			url += "?cached"
		}
		b.Run(mode, func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("%s: %d", url, resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// TestForwardToOtherDatacenter: with dc1's and dc2's servers in one WAN
// pool, a request for dc2 (?dc=dc2, or a DNS name under .dc2) made to
// dc1's server or to a dc1 client is served by dc2's server; an unknown
// datacenter is "No path to datacenter", or NXDOMAIN.
func TestForwardToOtherDatacenter(t *testing.T) {
	t.Parallel()
	cfg1 := wanDCServer("dc1", "127.0.0.86")
	cfg1.Ports.DNS, cfg1.Addresses.DNS = 0, []string{"127.0.0.86"}
	s1 := startWANAgent(t, cfg1)
	s2 := startWANAgent(t, wanDCServer("dc2", "127.0.0.87", s1.wan().Addr()))
	eventually(t, 10*time.Second, "dc1 knows dc2's server", func() bool { return len(s1.dcServers("dc2")) == 1 })

	cl := startTestClientWith(t, "app1", "127.0.0.33", func(c *Config) {
		c.Encrypt, c.RetryJoin = wanTestKey, []string{s1.lan().Addr()}
	})
	eventually(t, 10*time.Second, "the client knows dc1's server", func() bool { return len(cl.lanServers()) == 1 })

	s1.must("PUT", "/v1/kv/where?dc=dc2", "there", nil)
	var pairs []KVEntry
	s2.must("GET", "/v1/kv/where", "", &pairs)
	if len(pairs) != 1 || string(pairs[0].Value) != "there" {
		t.Fatalf("dc2's KV: %+v", pairs)
	}
	s1.expect("GET", "/v1/kv/where", "", http.StatusNotFound, "")
	cl.must("GET", "/v1/kv/where?dc=dc2", "", &pairs)

	s2.must("PUT", "/v1/catalog/register", `{"Node":"n2","Address":"127.0.0.10","Service":{"Service":"api","Port":9090}}`, nil)
	var entries []CheckServiceNode
	cl.must("GET", "/v1/health/service/api?dc=dc2", "", &entries)
	if len(entries) != 1 || entries[0].Node.Node != "n2" {
		t.Fatalf("dc2's api through a dc1 client: %+v", entries)
	}
	if r := cl.must("GET", "/v1/health/service/api?dc=dc2&cached", "", &entries); len(entries) != 1 || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("cached dc2 read: %v %+v", r.header, entries)
	}
	for _, dnsAddr := range []string{s1.DNSAddrs()[0], cl.DNSAddrs()[0]} {
		m := dnsAskUDP(t, dnsAddr, "api.service.dc2.consul.", dnsmessage.TypeSRV)
		if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
			t.Fatalf("api.service.dc2 at %s: %v %+v", dnsAddr, m.RCode, m.Answers)
		}
		if srv := m.Answers[0].Body.(*dnsmessage.SRVResource); srv.Port != 9090 || srv.Target.String() != "n2.node.dc2.consul." {
			t.Fatalf("api.service.dc2 at %s: %+v", dnsAddr, srv)
		}
		if m := dnsAskUDP(t, dnsAddr, "api.service.consul.", dnsmessage.TypeSRV); m.RCode != dnsmessage.RCodeNameError {
			t.Fatalf("api in dc1 at %s: %v", dnsAddr, m.RCode)
		}
	}
	// A user event fired for dc2, through dc1's client, goes round dc2's pool.
	var fired UserEvent
	cl.must("PUT", "/v1/event/fire/deploy?dc=dc2", "v2", &fired)
	eventually(t, 10*time.Second, "the event in dc2", func() bool {
		var events []UserEvent
		s2.must("GET", "/v1/event/list?name=deploy", "", &events)
		return len(events) == 1 && events[0].ID == fired.ID
	})
	var local []UserEvent
	if cl.must("GET", "/v1/event/list?name=deploy", "", &local); len(local) != 0 {
		t.Fatalf("dc2's event reached dc1's client: %+v", local)
	}
	s1.expect("GET", "/v1/kv/where?dc=dc9", "", http.StatusInternalServerError, "No path to datacenter")
	cl.expect("GET", "/v1/kv/where?dc=dc9", "", http.StatusInternalServerError, "No path to datacenter")
	if m := dnsAskUDP(t, s1.DNSAddrs()[0], "api.service.dc9.consul.", dnsmessage.TypeSRV); m.RCode != dnsmessage.RCodeNameError {
		t.Fatalf("an unknown datacenter: %v", m.RCode)
	}
}
