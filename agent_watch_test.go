// agent_watch_test.go: the agent's configured watches (agent_watch.go,
// config_watch.go) on in-process agents: a key watch whose args handler
// sees each change once, an event watch, an HTTP handler, a reload that
// adds and removes watches, and the configuration's errors in Consul
// 1.22's words.
//
// Concurrency: each test uses only what it starts (agents, an httptest
// server); handlers write to the test's own files.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startWatchAgent starts an agent from a config directory holding
// watches.json with the given content, so that a reload reads it again.
func startWatchAgent(t *testing.T, dir, watches string) *testAgent {
	t.Helper()
	writeWatches(t, dir, watches)
	args := []string{"-dev", "-config-dir", dir}
	loaded, _, err := loadConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	return startTestAgent(t, func(c *Config) { c.Watches, c.ConfigArgs = loaded.Watches, args })
}

func writeWatches(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "watches.json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordArgs is an args handler that appends its stdin to file and its
// CONSUL_INDEX to file.idx, as JSON for a config file.
func recordArgs(file string) string {
	// The index first: once file has a run's line, file.idx has its index.
	b, _ := json.Marshal([]string{"sh", "-c", `echo "$CONSUL_INDEX" >> "$0.idx"; cat >> "$0"`, file})
	return string(b)
}

// waitLines waits until file has n lines and returns them.
func waitLines(t *testing.T, file string, n int) []string {
	t.Helper()
	var lines []string
	eventually(t, 20*time.Second, fmt.Sprintf("%d lines in %s", n, filepath.Base(file)), func() (bool, string) {
		b, _ := os.ReadFile(file)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			lines = nil
		}
		return len(lines) >= n, fmt.Sprintf("%q", b)
	})
	return lines
}

// A key watch's handler runs at start (null: no key) and once for each
// change of the key, never for a write elsewhere, with the key in Consul's
// Go client's shape and CONSUL_INDEX its index.
func TestAgentWatchKeyArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "key.out")
	ta := startWatchAgent(t, dir, `{"watches": [{"type": "key", "key": "app/k", "args": `+recordArgs(out)+`}]}`)
	if got := waitLines(t, out, 1); got[0] != "null" {
		t.Fatalf("first run: %q, want null", got)
	}
	ta.must("PUT", "/v1/kv/app/k", "one", nil)
	waitLines(t, out, 2)
	ta.must("PUT", "/v1/kv/elsewhere", "x", nil) // a new index, not the key's
	ta.must("PUT", "/v1/kv/app/k", "two", nil)
	got := waitLines(t, out, 3)
	shape := regexp.MustCompile(`^\{"Key":"app/k","CreateIndex":(\d+),"ModifyIndex":(\d+),"LockIndex":0,"Flags":0,"Value":"([^"]*)","Session":""\}$`)
	var modify []string
	for i, want := range []string{"b25l", "dHdv"} {
		m := shape.FindStringSubmatch(got[i+1])
		if m == nil || m[3] != want {
			t.Fatalf("run %d: %q, want the key with value %s", i+2, got[i+1], want)
		}
		modify = append(modify, m[2])
	}
	idx, _ := os.ReadFile(out + ".idx")
	lines := strings.Fields(string(idx))
	if len(lines) != 3 || lines[1] != modify[0] || lines[2] != modify[1] {
		t.Errorf("CONSUL_INDEX: %q, want the key's ModifyIndex %q", lines, modify)
	}
	// The same value written again is a new ModifyIndex: a change.
	ta.must("PUT", "/v1/kv/app/k", "two", nil)
	ta.must("DELETE", "/v1/kv/app/k", "", nil)
	got = waitLines(t, out, 5)
	if len(got) != 5 || got[4] != "null" {
		t.Errorf("runs: %q", got)
	}
}

// An event watch runs with [] at start, then with the events fired since
// the last run only; CONSUL_INDEX is the last event's index (Consul's
// IDToIndex).
func TestAgentWatchEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "event.out")
	ta := startWatchAgent(t, dir, `{"watches": [{"type": "event", "name": "deploy", "args": `+recordArgs(out)+`}]}`)
	if got := waitLines(t, out, 1); got[0] != "[]" {
		t.Fatalf("first run: %q, want []", got)
	}
	ta.must("PUT", "/v1/event/fire/deploy", "v1", nil)
	got := waitLines(t, out, 2)
	var events []map[string]any
	if err := json.Unmarshal([]byte(got[1]), &events); err != nil || len(events) != 1 {
		t.Fatalf("second run: %q %v", got[1], err)
	}
	shape := regexp.MustCompile(`^\[\{"ID":"[0-9a-f-]{36}","Name":"deploy","Payload":"djE=","NodeFilter":"","ServiceFilter":"","TagFilter":"","Version":1,"LTime":\d+\}\]$`)
	if !shape.MatchString(got[1]) {
		t.Errorf("event JSON: %s", got[1])
	}
	ta.must("PUT", "/v1/event/fire/deploy", "v2", nil)
	got = waitLines(t, out, 3)
	if err := json.Unmarshal([]byte(got[2]), &events); err != nil || len(events) != 1 || events[0]["Payload"] != "djI=" {
		t.Fatalf("third run, the new event alone: %q %v", got[2], err)
	}
	idx, _ := os.ReadFile(out + ".idx")
	want, _ := watchEventIndex(events[0]["ID"].(string))
	if lines := strings.Fields(string(idx)); len(lines) != 3 || lines[2] != strconv.FormatUint(want, 10) {
		t.Errorf("CONSUL_INDEX: %q, want the event's index %d last", lines, want)
	}
}

// An HTTP handler gets the JSON POSTed with Content-Type, X-Consul-Index
// and the configured headers, at start and on each change.
func TestAgentWatchHTTPHandler(t *testing.T) {
	t.Parallel()
	type hook struct {
		method, body string
		header       http.Header
	}
	hooks := make(chan hook, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- hook{r.Method, string(b), r.Header}
	}))
	t.Cleanup(srv.Close)
	ta := startWatchAgent(t, t.TempDir(), `{"watches": [{"type": "services", "handler_type": "http",
		"http_handler_config": {"path": "`+srv.URL+`/hook", "header": {"X-Team": ["ops", "dev"]}, "timeout": "30s"}}]}`)
	next := func() hook {
		t.Helper()
		select {
		case h := <-hooks:
			return h
		case <-time.After(20 * time.Second):
			t.Fatal("the HTTP handler was not called")
		}
		return hook{}
	}
	h := next()
	if h.method != "POST" || h.body != "{\"consul\":[]}\n" || h.header.Get("Content-Type") != "application/json" ||
		strings.Join(h.header.Values("X-Team"), ",") != "ops,dev" {
		t.Fatalf("first call: %+v", h)
	}
	first, err := strconv.ParseUint(h.header.Get("X-Consul-Index"), 10, 64)
	if err != nil || first == 0 {
		t.Fatalf("X-Consul-Index %q", h.header.Get("X-Consul-Index"))
	}
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Tags":["v1"]}`, nil)
	h = next()
	if idx, _ := strconv.ParseUint(h.header.Get("X-Consul-Index"), 10, 64); h.body != "{\"consul\":[],\"web\":[\"v1\"]}\n" || idx <= first {
		t.Fatalf("after a registration: %+v", h)
	}
}

// A reload starts the new watches and stops those gone; one configured
// before keeps running without running its handler again. A bad watch
// refuses the reload.
func TestAgentWatchReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outA, outB, outC := filepath.Join(dir, "a.out"), filepath.Join(dir, "b.out"), filepath.Join(dir, "c.out")
	watchA := `{"type": "key", "key": "a", "args": ` + recordArgs(outA) + `}`
	watchB := `{"type": "keyprefix", "prefix": "b/", "args": ` + recordArgs(outB) + `}`
	watchC := `{"type": "key", "key": "c", "handler": "cat >> '` + outC + `'"}`
	ta := startWatchAgent(t, dir, `{"watches": [`+watchA+`, `+watchB+`]}`)
	waitLines(t, outA, 1)
	waitLines(t, outB, 1)
	running := func() int {
		ta.watches.mu.Lock()
		defer ta.watches.mu.Unlock()
		return len(ta.watches.running)
	}

	writeWatches(t, dir, `{"watches": [`+watchA+`, `+watchC+`]}`)
	ta.must("PUT", "/v1/agent/reload", "", nil)
	if got := waitLines(t, outC, 1); got[0] != "null" {
		t.Fatalf("the new watch's first run: %q", got)
	}
	if n := running(); n != 2 {
		t.Fatalf("%d watches running, want 2", n)
	}
	ta.must("PUT", "/v1/kv/b/x", "1", nil) // B is gone
	ta.must("PUT", "/v1/kv/a", "1", nil)
	if got := waitLines(t, outA, 2); len(got) != 2 || !strings.Contains(got[1], `"Key":"a"`) {
		t.Fatalf("the kept watch ran again on the reload, or missed the change: %q", got)
	}
	ta.must("PUT", "/v1/kv/c", "1", nil)
	waitLines(t, outC, 2)
	if b, _ := os.ReadFile(outB); strings.Count(string(b), "\n") != 1 {
		t.Errorf("the removed watch still runs: %q", b)
	}

	// A changed watch starts over: its handler runs with the current result.
	outA2 := filepath.Join(dir, "a2.out")
	writeWatches(t, dir, `{"watches": [{"type": "key", "key": "a", "args": `+recordArgs(outA2)+`}, `+watchC+`]}`)
	ta.must("PUT", "/v1/agent/reload", "", nil)
	if got := waitLines(t, outA2, 1); !strings.Contains(got[0], `"Key":"a"`) {
		t.Fatalf("the changed watch's first run: %q", got)
	}
	if n := running(); n != 2 {
		t.Fatalf("%d watches running after a change, want 2", n)
	}

	writeWatches(t, dir, `{"watches": [{"type": "nosuch", "args": ["true"]}]}`)
	ta.expect("PUT", "/v1/agent/reload", "", 500, "Unsupported watch type: nosuch")
	if n := running(); n != 2 {
		t.Errorf("a refused reload changed the watches: %d running", n)
	}
	writeWatches(t, dir, `{}`)
	ta.must("PUT", "/v1/agent/reload", "", nil)
	if n := running(); n != 0 {
		t.Errorf("%d watches running after all were removed", n)
	}
}

// With ACLs on (default deny), a watch reads with its own token, or with
// none, which the API answers with acl.tokens.default, as Consul's.
func TestAgentWatchACL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, tokenParam, defaultToken string }{
		{"the watch's token", `"token": "root", `, ""},
		{"the default token", "", "root"},
	} {
		dir := t.TempDir()
		out := filepath.Join(dir, "key.out")
		writeWatches(t, dir, `{"watches": [{"type": "key", "key": "secret", `+tc.tokenParam+`"args": `+recordArgs(out)+`}]}`)
		loaded, _, err := loadConfig([]string{"-dev", "-config-dir", dir})
		if err != nil {
			t.Fatal(err)
		}
		ta := startTestAgent(t, func(c *Config) {
			aclOn(c)
			c.ACL.Tokens.InitialManagement, c.ACL.Tokens.Default, c.Watches = "root", tc.defaultToken, loaded.Watches
		})
		waitLines(t, out, 1)
		ta.mustToken("root", "PUT", "/v1/kv/secret", "s", nil)
		if got := waitLines(t, out, 2); !strings.Contains(got[1], `"Value":"cw=="`) {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

// Bad watch definitions stop the configuration from loading, with
// Consul's messages (as Consul 1.22.7's agent refuses to start).
func TestAgentWatchConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ watch, want string }{
		{`{"type": "bogus", "args": ["a", "b"], "datacenter": "dc1", "token": "x", "foo": 1}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"a", "b"}, "foo":1}): Unsupported watch type: bogus`},
		{`{"args": ["true"]}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"true"}, "handler_type":"script"}): Watch type must be specified`},
		{`{"type": "key", "args": ["true"]}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"true"}}): Must specify a single key to watch`},
		{`{"type": "key", "key": "k", "args": ["a"], "extra": true, "other": "x"}`,
			`Failed to parse watch (map[string]interface {}{"extra":true, "other":"x"}): Invalid parameters: [extra other]`},
		{`{"type": 5, "key": "k", "args": ["a"]}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"a"}, "handler_type":"script", "key":"k", "type":5}): Expecting type to be a string`},
		{`{"type": "key", "key": "k"}`, `Must define a watch handler`},
		{`{"type": "key", "key": "k", "args": ["a"], "handler": "b"}`, `Only one watch handler allowed`},
		{`{"type": "key", "key": "k", "handler_type": "http", "args": ["a"], "http_handler_config": {"path": "http://x"}}`, `Only one watch handler allowed`},
		{`{"type": "key", "key": "k", "handler_type": "bad", "args": ["a"]}`, `Handler type 'bad' not recognized`},
		{`{"type": "connect_roots", "args": ["a"]}`, `Watch type connect_roots is not allowed in agent config`},
		{`{"type": "key", "key": "k", "args": [1]}`, `Watch args must be a list of strings`},
		{`{"type": "key", "key": "k", "handler_type": "http"}`,
			`Failed to parse watch (map[string]interface {}{"key":"k"}): Handler type 'http' requires 'http_handler_config' to be set`},
		{`{"type": "key", "key": "k", "handler_type": "http", "http_handler_config": {"method": "PUT"}}`,
			`Failed to parse watch (map[string]interface {}{"http_handler_config":map[string]interface {}{"method":"PUT"}, "key":"k"}): Failed to parse 'http_handler_config': Requires 'path' to be set`},
		{`{"type": "key", "key": "k", "handler_type": "http", "http_handler_config": {"path": "http://x", "timeout": "zz"}}`,
			`Failed to parse watch (map[string]interface {}{"http_handler_config":map[string]interface {}{"path":"http://x", "timeout":"zz"}, "key":"k"}): Failed to parse 'http_handler_config': Failed to parse timeout: time: invalid duration "zz"`},
		{`{"type": "checks", "service": "a", "state": "b", "args": ["a"]}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"a"}}): Cannot specify service and state`},
		{`{"type": "service", "service": "web", "passingonly": "yes", "args": ["a"]}`,
			`Failed to parse watch (map[string]interface {}{"args":[]interface {}{"a"}, "passingonly":"yes"}): Expecting passingonly to be a boolean`},
		{`"key"`, `expected object, got string "key"`},
		{`{"type": "nodes", "args": []}`, `Watch args must name a command`},
	} {
		_, _, err := loadConfigFixtures(t, []string{`{"watches": [` + tc.watch + `]}`}, "-dev")
		if err == nil || !strings.Contains(err.Error(), `key "watches": `) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant …%s", tc.watch, err, tc.want)
		}
	}
	cfg, _, err := loadConfigFixtures(t, []string{
		`{"watches": [{"type": "nodes", "args": ["true"]}]}`,
		`{"watches": [{"type": "service", "service": "web", "tag": ["a", "b"], "passingonly": true, "handler": "true"},
			{"type": "checks", "state": "critical", "handler_type": "http", "http_handler_config": {"path": "http://127.0.0.1:1/"}}]}`,
	}, "-dev")
	if err != nil || len(cfg.Watches) != 3 {
		t.Fatalf("valid watches: %v, %d loaded", err, len(cfg.Watches))
	}
	// Watches call the agent's HTTP API: an agent without one refuses them.
	cfg = testConfig("node1")
	cfg.Ports.HTTP, cfg.Watches = -1, []map[string]any{{"type": "nodes", "args": []any{"true"}}}
	if a, err := newAgent(cfg, slog.New(slog.DiscardHandler)); err == nil {
		a.Shutdown()
		t.Error("an agent without HTTP started its watches")
	}
}

// The loop's change rules on a scripted sequence of answers: an answer at
// the last index is no change; a new index with the same result is none
// either; an index that goes back is followed, and the next query starts
// over from 0; a failure is retried at the same index.
func TestWatchPlanChangeRules(t *testing.T) {
	t.Parallel()
	type answer struct {
		index  uint64
		result string
		err    error
	}
	script := []answer{
		{5, `{"v":1}`, nil},
		{5, `{"v":1}`, nil},  // the wait timed out
		{6, `{"v": 1}`, nil}, // a write elsewhere: the same result
		{7, `{"v":2}`, nil},
		{0, "", errors.New("agent unreachable")},
		{7, `{"v":2}`, nil},
		{3, `{"v":3}`, nil}, // a restore: the index went back
		{3, `{"v":3}`, nil},
		{8, `{"v":3}`, nil},
	}
	var asked []uint64
	var runs []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &watchPlan{Type: "key", fetch: func(_ context.Context, _ *cliClient, index uint64) (uint64, json.RawMessage, error) {
		asked = append(asked, index)
		a := script[0]
		if script = script[1:]; len(script) == 0 {
			cancel()
		}
		return a.index, json.RawMessage(a.result), a.err
	}}
	failures := 0
	p.run(ctx, nil, func(index uint64, result []byte) {
		runs = append(runs, fmt.Sprintf("%d %s", index, result))
	}, func(err error, retry time.Duration) { failures++ })
	if want := []string{`5 {"v":1}`, `7 {"v":2}`, `3 {"v":3}`}; !slices.Equal(runs, want) {
		t.Errorf("runs %q, want %q", runs, want)
	}
	if want := []uint64{0, 5, 5, 6, 7, 7, 7, 0, 3}; !slices.Equal(asked, want) || failures != 1 {
		t.Errorf("indexes asked %v, want %v; %d failures", asked, want, failures)
	}
}
