// agent_test.go: the in-process agent of the tests (agent.go's Agent on
// 127.0.0.1, every port 0): testConfig, startTestAgent, and the HTTP
// helpers do, must and expect that the endpoint tests speak through. The
// processes, ports and waiting the tests share are e2e_test.go's.
//
// Concurrency: each testAgent belongs to one test; nothing is shared
// between tests.
package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

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
