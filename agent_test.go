package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TestMain lets a test run the real command line in a child process: the
// test binary re-executes itself with MINICONSUL_MAIN=1 (see TestSIGINT),
// or with MINICONSUL_HEALTH_SERVER=1 as a plain HTTP server answering 200
// on a free loopback port, which it prints (BenchmarkHTTPChecks1000). With
// MINICONSUL_HOLD_DEFAULT_PORTS=1 the tests run while this process holds
// Consul's default ports (agent_ports_test.go).
func TestMain(m *testing.M) {
	if os.Getenv("MINICONSUL_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getenv("MINICONSUL_HEALTH_SERVER") == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(1)
		}
		fmt.Println(ln.Addr())
		http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		os.Exit(1)
	}
	if os.Getenv("MINICONSUL_HOLD_DEFAULT_PORTS") == "1" { // the proof that no test needs them (agent_ports_test.go)
		release, err := holdDefaultPorts()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		code := m.Run()
		release()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// testAgent is a running agent on 127.0.0.1 with free ports.
type testAgent struct {
	*Agent
	t    testing.TB
	base string // http://127.0.0.1:port
}

// testConfig is a dev agent's configuration on 127.0.0.1, with free ports
// (0) for HTTP and DNS.
func testConfig(node string) *Config {
	cfg := defaultConfig()
	applyDevDefaults(cfg)
	cfg.NodeName = node
	cfg.AdvertiseAddr = "127.0.0.1"
	cfg.PrimaryDatacenter = cfg.Datacenter
	cfg.Addresses = AddressesConfig{HTTP: []string{"127.0.0.1"}, DNS: []string{"127.0.0.1"}}
	cfg.Ports.HTTP, cfg.Ports.DNS, cfg.Ports.Server, cfg.Ports.SerfLAN, cfg.Ports.SerfWAN = 0, 0, 0, 0, 0
	return cfg
}

// benchAgent starts an agent with HTTP only, for a benchmark.
func benchAgent(b *testing.B) (*Agent, string) {
	cfg := testConfig("bench")
	cfg.Ports.DNS = -1
	a, err := newAgent(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Shutdown)
	return a, "http://" + a.HTTPAddrs()[0]
}

func startTestAgent(t testing.TB, mutate func(*Config)) *testAgent {
	t.Helper()
	cfg := testConfig("node1")
	if mutate != nil {
		mutate(cfg)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newAgent(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return &testAgent{Agent: a, t: t, base: "http://" + a.HTTPAddrs()[0]}
}

// response is an HTTP answer with its body read.
type response struct {
	code   int
	header http.Header
	body   string
}

func (r response) index() uint64 {
	idx, _ := strconv.ParseUint(r.header.Get("X-Consul-Index"), 10, 64)
	return idx
}

func (ta *testAgent) do(method, path, body string) response {
	ta.t.Helper()
	req, err := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if err != nil {
		ta.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// must does a request that must answer 200, and decodes its JSON into out.
func (ta *testAgent) must(method, path, body string, out any) response {
	ta.t.Helper()
	r := ta.do(method, path, body)
	if r.code != http.StatusOK {
		ta.t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			ta.t.Fatalf("%s %s: decoding %q: %v", method, path, r.body, err)
		}
	}
	return r
}

// expect does a request that must fail with code and a body containing msg.
func (ta *testAgent) expect(method, path, body string, code int, msg string) {
	ta.t.Helper()
	r := ta.do(method, path, body)
	if r.code != code || !strings.Contains(r.body, msg) {
		ta.t.Fatalf("%s %s: got %d %q, want %d containing %q", method, path, r.code, r.body, code, msg)
	}
}

func TestHTTPKV(t *testing.T) {
	ta := startTestAgent(t, nil)
	if r := ta.must("PUT", "/v1/kv/greeting?flags=42", "hello", nil); r.body != "true" {
		t.Fatalf("PUT answered %q", r.body)
	}
	if r := ta.must("GET", "/v1/kv/greeting?raw", "", nil); r.body != "hello" {
		t.Fatalf("raw: %q", r.body)
	}
	var entries []KVEntry
	r := ta.must("GET", "/v1/kv/greeting", "", &entries)
	if len(entries) != 1 || string(entries[0].Value) != "hello" || entries[0].Flags != 42 || entries[0].CreateIndex == 0 {
		t.Fatalf("get: %+v", entries)
	}
	if !strings.Contains(r.body, `"Value":"aGVsbG8="`) {
		t.Fatalf("value not base64 in %s", r.body)
	}
	for _, h := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"} {
		if r.header.Get(h) == "" {
			t.Fatalf("missing %s", h)
		}
	}
	ta.must("PUT", "/v1/kv/dir/a", "1", nil)
	ta.must("PUT", "/v1/kv/dir/sub/b", "2", nil)
	ta.must("PUT", "/v1/kv/dir//double", "3", nil) // not "cleaned" into dir/double
	var keys []string
	ta.must("GET", "/v1/kv/dir/?keys&separator=/", "", &keys)
	if strings.Join(keys, ",") != "dir//,dir/a,dir/sub/" {
		t.Fatalf("keys: %v", keys)
	}
	ta.must("GET", "/v1/kv/?recurse", "", &entries)
	if len(entries) != 4 {
		t.Fatalf("recurse: %d entries", len(entries))
	}
	// A missing key is 404 with an empty body and the meta headers.
	miss := ta.do("GET", "/v1/kv/nope", "")
	if miss.code != 404 || miss.body != "" || miss.index() == 0 || miss.header.Get("X-Consul-LastContact") == "" {
		t.Fatalf("missing key: %d %q %v", miss.code, miss.body, miss.header)
	}
	// Check-and-set.
	cur := entries[0].ModifyIndex
	if r := ta.must("PUT", fmt.Sprintf("/v1/kv/dir/a?cas=%d", cur-1), "x", nil); r.body != "false" {
		t.Fatal("stale cas succeeded")
	}
	ta.must("GET", "/v1/kv/dir/a", "", &entries)
	if r := ta.must("PUT", fmt.Sprintf("/v1/kv/dir/a?cas=%d", entries[0].ModifyIndex), "x", nil); r.body != "true" {
		t.Fatal("current cas failed")
	}
	// Delete-tree.
	if r := ta.must("DELETE", "/v1/kv/dir/?recurse", "", nil); r.body != "true" {
		t.Fatalf("delete recurse: %q", r.body)
	}
	if r := ta.do("GET", "/v1/kv/dir/?recurse", ""); r.code != 404 {
		t.Fatalf("after delete-tree: %d", r.code)
	}
	if r := ta.must("PUT", "/v1/kv/empty", "", nil); r.body != "true" {
		t.Fatal(r.body)
	}
	if r := ta.must("GET", "/v1/kv/empty", "", nil); !strings.Contains(r.body, `"Value":null`) {
		t.Fatalf("empty value: %s", r.body)
	}
}

func TestHTTPBadInput(t *testing.T) {
	ta := startTestAgent(t, nil)
	ta.expect("PUT", "/v1/kv/big", strings.Repeat("x", 512*1024+1), 413, "too large")
	ta.expect("PUT", "/v1/kv/", "v", 400, "Missing key name")
	ta.expect("GET", "/v1/kv/", "", 400, "Missing key name")
	ta.expect("PUT", "/v1/kv/k?flags=abc", "v", 400, "Invalid flags")
	ta.expect("PUT", "/v1/kv/k?cas=1&acquire=x", "v", 400, "Conflicting flags")
	ta.expect("POST", "/v1/kv/k", "v", 405, "not allowed")
	if r := ta.do("POST", "/v1/kv/k", "v"); r.header.Get("Allow") != "GET, PUT, DELETE" {
		t.Fatalf("Allow: %q", r.header.Get("Allow"))
	}
	ta.expect("GET", "/v1/kv/k?dc=elsewhere", "", 500, "No path to datacenter")
	ta.expect("GET", "/v1/kv/k?stale&consistent", "", 400, "Cannot specify ?stale with ?consistent")
	ta.expect("GET", "/v1/kv/k?index=x", "", 400, "Invalid index")
	ta.expect("GET", "/v1/kv/k?index=1&wait=forever", "", 400, "Invalid wait")
	ta.expect("PUT", "/v1/catalog/register", "{not json", 400, "Request decode failed")
	ta.expect("PUT", "/v1/catalog/register", `{"Node":"n"}`, 400, "Missing node address")
	ta.expect("PUT", "/v1/catalog/register", `{"Node":"n","Address":"1.2.3.4","Check":{"CheckID":"c","ServiceID":"nope"}}`, 400, "Unknown service")
	ta.expect("GET", "/v1/health/state/bogus", "", 400, "Invalid check state")
	ta.expect("PUT", "/v1/agent/service/register", `{"Port":80}`, 400, "Missing service name")
	ta.expect("PUT", "/v1/agent/check/register", `{"Name":"c"}`, 400, "TTL")
	ta.expect("PUT", "/v1/agent/check/register", `{"Name":"c","Args":["true"],"Interval":"1s"}`, 500, "Scripts are disabled") // 500, as Consul
	ta.expect("PUT", "/v1/agent/check/pass/nope", "", 404, "Unknown check ID")
	ta.expect("PUT", "/v1/agent/maintenance", "", 400, "Missing value for enable")
	ta.expect("PUT", "/v1/snapshot", "garbage", 500, "failed to read snapshot file: corrupt snapshot: not a miniconsul snapshot") // 500, as Consul
	// Nothing of the refused writes is there.
	if r := ta.do("GET", "/v1/catalog/node/n", ""); r.body != "null" {
		t.Fatalf("refused registration left a node: %s", r.body)
	}
}

// blockingGet starts a blocking GET and returns a channel with its answer.
func (ta *testAgent) blockingGet(path string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		resp, err := http.Get(ta.base + path)
		if err != nil {
			ch <- response{code: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{resp.StatusCode, resp.Header, string(b)}
	}()
	return ch
}

func TestHTTPBlockingQueries(t *testing.T) {
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/watched", "0", nil)
	idx := ta.must("GET", "/v1/kv/watched", "", nil).index()
	// Without a change, the query answers when its wait runs out, with the
	// same index.
	start := time.Now()
	r := <-ta.blockingGet(fmt.Sprintf("/v1/kv/watched?index=%d&wait=200ms", idx))
	if r.code != 200 || r.index() != idx || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("timed-out query: %d index %d after %v", r.code, r.index(), time.Since(start))
	}
	// A write to the key answers it at once, with the new value.
	ch := ta.blockingGet(fmt.Sprintf("/v1/kv/watched?index=%d&wait=1m", idx))
	ta.must("PUT", "/v1/kv/watched", "1", nil)
	r = <-ch
	if r.code != 200 || r.index() <= idx || !strings.Contains(r.body, `"Value":"MQ=="`) {
		t.Fatalf("woken query: %d %d %s", r.code, r.index(), r.body)
	}
	// A blocking query on a prefix advances when a key under it is deleted.
	ta.must("PUT", "/v1/kv/p/a", "1", nil)
	ta.must("PUT", "/v1/kv/p/b", "1", nil)
	list := ta.must("GET", "/v1/kv/p/?recurse", "", nil)
	ch = ta.blockingGet(fmt.Sprintf("/v1/kv/p/?recurse&index=%d&wait=1m", list.index()))
	ta.must("DELETE", "/v1/kv/p/a", "", nil)
	if r = <-ch; r.index() <= list.index() || strings.Contains(r.body, `"p/a"`) {
		t.Fatalf("prefix after delete: %d %s", r.index(), r.body)
	}
	// Health of one service: a registration of another does not answer it;
	// a change to it does.
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Service":{"Service":"web","Port":80}}`, nil)
	h := ta.must("GET", "/v1/health/service/web", "", nil)
	ch = ta.blockingGet(fmt.Sprintf("/v1/health/service/web?index=%d&wait=1m", h.index()))
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Service":{"Service":"db","Port":5432}}`, nil)
	select {
	case r := <-ch:
		t.Fatalf("registering db answered a query on web: %s", r.body)
	default:
	}
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Check":{"CheckID":"web-down","ServiceID":"web","Status":"critical"}}`, nil)
	if r = <-ch; r.index() <= h.index() || !strings.Contains(r.body, "web-down") {
		t.Fatalf("health of web after its check changed: %s", r.body)
	}
}

func TestHTTPCatalogAndHealth(t *testing.T) {
	ta := startTestAgent(t, nil)
	reg := `{"Node":"ext1","Address":"10.0.0.1","NodeMeta":{"rack":"r1"},
		"Service":{"ID":"web-1","Service":"web","Port":8080,"Tags":["blue","v1"]},
		"Checks":[{"CheckID":"web-ok","ServiceID":"web-1","Status":"passing"}]}`
	ta.must("PUT", "/v1/catalog/register", reg, nil)
	reg2 := `{"Node":"ext2","Address":"10.0.0.2","Service":{"ID":"web-2","Service":"web","Port":8080,"Tags":["green"]},
		"Checks":[{"CheckID":"web-warn","ServiceID":"web-2","Status":"warning"}]}`
	ta.must("PUT", "/v1/catalog/register", reg2, nil)

	var services map[string][]string
	ta.must("GET", "/v1/catalog/services", "", &services)
	if len(services["web"]) != 3 || services["consul"] == nil {
		t.Fatalf("services: %v", services)
	}
	var insts []catalogServiceNode
	ta.must("GET", "/v1/catalog/service/web?tag=blue&tag=v1", "", &insts)
	if len(insts) != 1 || insts[0].ServiceID != "web-1" || insts[0].Address != "10.0.0.1" || insts[0].NodeMeta["rack"] != "r1" {
		t.Fatalf("service by tags: %+v", insts)
	}
	var nodes []Node
	ta.must("GET", "/v1/catalog/nodes?node-meta=rack:r1", "", &nodes)
	if len(nodes) != 1 || nodes[0].Node != "ext1" {
		t.Fatalf("nodes by meta: %+v", nodes)
	}
	var health []CheckServiceNode
	ta.must("GET", "/v1/health/service/web", "", &health)
	if len(health) != 2 {
		t.Fatalf("health: %d entries", len(health))
	}
	ta.must("GET", "/v1/health/service/web?passing", "", &health)
	if len(health) != 1 || health[0].Service.ID != "web-1" {
		t.Fatalf("?passing must leave out the warning instance: %+v", health)
	}
	var checks []HealthCheck
	ta.must("GET", "/v1/health/state/warning", "", &checks)
	if len(checks) != 1 || checks[0].CheckID != "web-warn" {
		t.Fatalf("state warning: %+v", checks)
	}
	ta.must("GET", "/v1/health/checks/web", "", &checks)
	if len(checks) != 2 {
		t.Fatalf("service checks: %+v", checks)
	}
	var node struct {
		Node     Node
		Services map[string]Service
	}
	ta.must("GET", "/v1/catalog/node/ext1", "", &node)
	if node.Node.Address != "10.0.0.1" || node.Services["web-1"].Port != 8080 {
		t.Fatalf("node: %+v", node)
	}
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"ext1","ServiceID":"web-1"}`, nil)
	ta.must("GET", "/v1/catalog/service/web", "", &insts)
	if len(insts) != 1 {
		t.Fatalf("after deregistering web-1: %+v", insts)
	}
	// The agent registered itself: node, serfHealth, and "consul" on a server.
	ta.must("GET", "/v1/health/node/node1", "", &checks)
	if len(checks) != 1 || checks[0].CheckID != "serfHealth" || checks[0].Status != healthPassing {
		t.Fatalf("self checks: %+v", checks)
	}
	ta.must("GET", "/v1/catalog/service/consul", "", &insts)
	if len(insts) != 1 || insts[0].Node != "node1" || insts[0].ServicePort != ta.rpcPort {
		t.Fatalf("consul service: %+v", insts)
	}
	var dcs []string
	ta.must("GET", "/v1/catalog/datacenters", "", &dcs)
	if len(dcs) != 1 || dcs[0] != "dc1" {
		t.Fatal(dcs)
	}
}

func TestHTTPAgentServicesAndTTL(t *testing.T) {
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"api","ID":"api-1","Port":9000,"Tags":["v2"],
		"Check":{"TTL":"30s"}}`, nil)
	var svcs map[string]Service
	ta.must("GET", "/v1/agent/services", "", &svcs)
	if svcs["api-1"].Port != 9000 {
		t.Fatalf("agent services: %+v", svcs)
	}
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	c, ok := checks["service:api-1"]
	if !ok || c.Status != healthCritical || c.ServiceName != "api" || c.Type != "ttl" {
		t.Fatalf("embedded TTL check: %+v", checks)
	}
	h := ta.must("GET", "/v1/health/service/api?passing", "", nil)
	if h.body != "[]" {
		t.Fatalf("critical instance listed as passing: %s", h.body)
	}
	ch := ta.blockingGet(fmt.Sprintf("/v1/health/service/api?passing&index=%d&wait=1m", h.index()))
	ta.must("PUT", "/v1/agent/check/pass/service:api-1?note="+url.QueryEscape("all good"), "", nil)
	if r := <-ch; !strings.Contains(r.body, `"Output":"all good"`) {
		t.Fatalf("after pass: %s", r.body)
	}
	ta.must("PUT", "/v1/agent/check/update/service:api-1", `{"Status":"warning","Output":"slow"}`, nil)
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if c := checks["service:api-1"]; c.Status != healthWarning || c.Output != "slow" {
		t.Fatalf("after update: %+v", c)
	}
	// Maintenance mode takes the service out of healthy answers.
	ta.must("PUT", "/v1/agent/service/maintenance/api-1?enable=true&reason=deploy", "", nil)
	var health []CheckServiceNode
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health) != 1 || aggregateStatus(health[0].Checks) != healthCritical {
		t.Fatalf("maintenance: %+v", health)
	}
	ta.must("PUT", "/v1/agent/service/maintenance/api-1?enable=false", "", nil)
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health[0].Checks) != 2 {
		t.Fatalf("maintenance check not removed: %+v", health[0].Checks)
	}
	ta.must("PUT", "/v1/agent/service/deregister/api-1", "", nil)
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health) != 0 {
		t.Fatalf("deregistered service still in the catalog: %+v", health)
	}
}

func TestHTTPTTLExpires(t *testing.T) {
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"heartbeat","TTL":"100ms","Status":"passing"}`, nil)
	h := ta.must("GET", "/v1/health/state/critical", "", nil)
	// The expiry is a change to the checks table: wait for it as a client would.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var checks []HealthCheck
		r := <-ta.blockingGet(fmt.Sprintf("/v1/health/state/critical?index=%d&wait=5s", h.index()))
		json.Unmarshal([]byte(r.body), &checks)
		if len(checks) == 1 && checks[0].CheckID == "heartbeat" && checks[0].Output == ttlExpiredOutput {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TTL did not expire: %s", r.body)
		}
		h = r
	}
}

func TestHTTPSnapshotRoundTrip(t *testing.T) {
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/snap", "before", nil)
	snap := ta.must("GET", "/v1/snapshot", "", nil)
	ta.must("PUT", "/v1/kv/snap", "after", nil)
	ta.must("PUT", "/v1/kv/only-after", "x", nil)
	before := ta.must("GET", "/v1/kv/snap", "", nil).index()
	ta.must("PUT", "/v1/snapshot", snap.body, nil)
	if r := ta.must("GET", "/v1/kv/snap?raw", "", nil); r.body != "before" {
		t.Fatalf("after restore: %q", r.body)
	}
	if r := ta.do("GET", "/v1/kv/only-after", ""); r.code != 404 {
		t.Fatalf("key written after the snapshot survived the restore: %d", r.code)
	}
	// Later writes get indexes above everything seen before the restore.
	ta.must("PUT", "/v1/kv/next", "x", nil)
	if idx := ta.must("GET", "/v1/kv/next", "", nil).index(); idx <= before {
		t.Fatalf("index went backwards after restore: %d <= %d", idx, before)
	}
	// The agent's own registration is back.
	if r := ta.must("GET", "/v1/catalog/service/consul", "", nil); !strings.Contains(r.body, "node1") {
		t.Fatalf("self registration lost: %s", r.body)
	}
}

// TestSIGINT runs the real binary (this test binary, re-executed as
// "consul") and checks that SIGINT stops it promptly with exit status 0.
func TestSIGINT(t *testing.T) {
	ports := testPorts(t, "127.0.0.1")
	cmd, logs, exited := startAgentProcess(t, "agent", "-dev", "-node", "sigtest", "-bind", "127.0.0.1",
		"-http-port", "-1", "-dns-port", "-1", "-server-port", fmt.Sprint(ports.Server),
		"-serf-lan-port", fmt.Sprint(ports.SerfLAN), "-serf-wan-port", fmt.Sprint(ports.SerfWAN))
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("agent still running 5 s after SIGINT")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v after %v\n%s", err, time.Since(start), logs())
	}
}

// TestDNSThroughAgent asks a running agent over real sockets: the agent's
// own "consul" service, and a service registered over HTTP, with a Go
// client and with dig (which CI installs).
func TestDNSThroughAgent(t *testing.T) {
	ta := startTestAgent(t, nil)
	dnsAddr := ta.DNSAddrs()[0]
	ta.must("PUT", "/v1/catalog/register", `{"Node":"web-host","Address":"127.0.0.10",
		"Service":{"Service":"web","Port":8080,"Tags":["v1"]},
		"Check":{"CheckID":"web-ok","ServiceID":"web","Status":"passing"}}`, nil)

	m := dnsAskUDP(t, dnsAddr, "consul.service.consul.", dnsmessage.TypeSRV)
	if len(m.Answers) != 1 {
		t.Fatalf("consul SRV: %+v", m.Answers)
	}
	srv, ok := m.Answers[0].Body.(*dnsmessage.SRVResource)
	if !ok || int(srv.Port) != ta.rpcPort || srv.Target.String() != "node1.node.dc1.consul." {
		t.Fatalf("consul SRV: %+v", m.Answers[0].Body)
	}

	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is not installed; .ci/run installs it")
		}
		t.Skip("dig not installed (apt-get install bind9-dnsutils)")
	}
	host, port, _ := net.SplitHostPort(dnsAddr)
	for _, q := range []struct{ name, qtype, want string }{
		{"web.service.consul", "A", "127.0.0.10"},
		{"v1.web.service.consul", "SRV", "1 1 8080 web-host.node.dc1.consul."},
		{"_web._tcp.service.consul", "SRV", "1 1 8080 web-host.node.dc1.consul."},
		{"web-host.node.consul", "A", "127.0.0.10"},
	} {
		out, err := exec.Command(dig, "@"+host, "-p", port, "+short", "+tries=1", "+time=5", q.name, q.qtype).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != q.want {
			t.Errorf("dig %s %s: %q %v, want %q", q.name, q.qtype, out, err, q.want)
		}
	}
	out, _ := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=5", "nope.service.consul", "A").CombinedOutput()
	if !strings.Contains(string(out), "NXDOMAIN") || !strings.Contains(string(out), "SOA") {
		t.Errorf("dig for a missing service: want NXDOMAIN with an SOA:\n%s", out)
	}
}

// Services and checks in config files are registered at start, in Consul's
// snake_case spelling; user data keys (meta) keep theirs.
func TestConfigDefinedServices(t *testing.T) {
	file := filepath.Join(t.TempDir(), "services.json")
	os.WriteFile(file, []byte(`{
		"services": [{"name": "web", "port": 8080, "tags": ["v1"], "meta": {"git_sha": "abc"},
		              "enable_tag_override": true,
		              "check": {"check_id": "web-ttl", "ttl": "30s", "deregister_critical_service_after": "90m"}}],
		"check": {"id": "disk", "name": "disk", "ttl": "1m", "status": "passing"}
	}`), 0o644)
	cfg, _, err := loadConfig([]string{"-dev", "-config-file", file})
	if err != nil {
		t.Fatal(err)
	}
	ta := startTestAgent(t, func(c *Config) { c.Services, c.Checks = cfg.Services, cfg.Checks })
	var svcs map[string]Service
	ta.must("GET", "/v1/agent/services", "", &svcs)
	if web := svcs["web"]; web.Port != 8080 || web.Meta["git_sha"] != "abc" || !web.EnableTagOverride {
		t.Fatalf("web from config: %+v", svcs)
	}
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if c := checks["web-ttl"]; c.ServiceID != "web" || time.Duration(c.Definition.DeregisterCriticalServiceAfter) != 90*time.Minute {
		t.Fatalf("web check from config: %+v", checks)
	}
	if checks["disk"].Status != healthPassing {
		t.Fatalf("node check from config: %+v", checks["disk"])
	}
	// A bad definition stops the agent with a message that names it.
	bad := testConfig("bad")
	bad.Services = []*serviceDefinition{{Port: 1}}
	if _, err := newAgent(bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "Missing service name") {
		t.Fatalf("bad service definition: %v", err)
	}
}
