// agent_monitor_test.go: the log fan-out, GET /v1/agent/monitor and the
// monitor command against in-process agents whose logger is the agent's
// own (newAgentLogger), so that their logs reach the monitors.
package main

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// startMonitorAgent is startTestAgent with the agent's logger (at info,
// written to the test's output), which fans out to monitors.
func startMonitorAgent(t *testing.T) *testAgent {
	t.Helper()
	return startMonitorAgentAt(t, "info")
}

// startMonitorAgentAt is startMonitorAgent with the agent logging at level.
func startMonitorAgentAt(t *testing.T, level string) *testAgent {
	t.Helper()
	cfg := testConfig("node1")
	cfg.LogLevel = level
	a, err := newAgent(cfg, newAgentLogger(cfg, t.Output()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return &testAgent{Agent: a, t: t, base: "http://" + a.HTTPAddrs()[0]}
}

// openMonitor starts a monitor request and returns its answer.
func openMonitor(t *testing.T, ta *testAgent, query string) *http.Response {
	t.Helper()
	resp, err := http.Get(ta.base + "/v1/agent/monitor" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// monitorLines reads a monitor's answer line by line until it ends.
func monitorLines(t *testing.T, resp *http.Response) <-chan string {
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(resp.Body)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case lines <- l:
			default: // the test looks no further
			}
		}
	}()
	return lines
}

// waitLine calls log (again every 100ms, until seen) and returns the first
// line holding marker.
func waitLine(t *testing.T, log func(), lines <-chan string, marker string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	log()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q", marker)
			}
			if strings.Contains(l, marker) {
				return l
			}
		case <-tick.C:
			log()
		case <-deadline:
			t.Fatalf("no line with %q", marker)
		}
	}
}

// A line logged after the monitor connects is streamed, in hclog's format;
// the answer has no content type, as Consul's.
func TestAgentMonitorStreams(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	resp := openMonitor(t, ta, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "" {
		t.Fatalf("answer: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	line := waitLine(t, func() { ta.logger.Info("hello monitor", "service", "web", "latency", "491.74µs") }, monitorLines(t, resp), "hello monitor")
	if !strings.HasSuffix(line, ` [INFO]  agent: hello monitor: service=web latency="491.74µs"`+"\n") || !strings.Contains(line[:24], "T") {
		t.Errorf("line = %q", line)
	}
}

func TestAgentMonitorJSON(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	resp := openMonitor(t, ta, "?loglevel=warn&logjson")
	line := waitLine(t, func() { ta.logger.Warn("json line", "n", 3) }, monitorLines(t, resp), "json line")
	if !strings.HasPrefix(line, `{"@level":"warn","@message":"json line","@module":"agent","@timestamp":"`) || !strings.HasSuffix(line, `,"n":3}`+"\n") {
		t.Errorf("line = %q", line)
	}
}

// A monitor at debug sees debug lines of an agent at info; one at warn does
// not see info lines.
func TestAgentMonitorLevels(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	debug := monitorLines(t, openMonitor(t, ta, "?loglevel=DEBUG"))
	warn := monitorLines(t, openMonitor(t, ta, "?loglevel=warn"))
	waitLine(t, func() { ta.logger.Debug("below the agent") }, debug, "below the agent")
	ta.logger.Info("info for debug only")
	line := waitLine(t, func() { ta.logger.Warn("a warning") }, warn, "agent: ")
	// The first line the warn monitor sees is the warning: the info line
	// logged before it was filtered out.
	if !strings.Contains(line, "[WARN]  agent: a warning") {
		t.Errorf("line = %q", line)
	}
	waitLine(t, func() { ta.logger.Error("an error") }, warn, "[ERROR] agent: an error")
}

// An unknown level answers 400 with Consul's message.
func TestAgentMonitorUnknownLevel(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	r := ta.do("GET", "/v1/agent/monitor?loglevel=foo", "")
	if r.code != 400 || r.body != "Unknown log level: foo" {
		t.Errorf("answer: %d %q", r.code, r.body)
	}
}

// The hub alone: filtering, and a slow reader drops lines and never
// blocks the logging goroutine.
func TestLogHubSlowReaderDoesNotBlock(t *testing.T) {
	t.Parallel()
	logger := slog.New(newMonitorHandler(slog.NewTextHandler(io.Discard, nil)))
	hub := logHubOf(logger)
	slow := hub.subscribe(slog.LevelInfo, false)
	warn := hub.subscribe(slog.LevelWarn, false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range monitorBuffer + 100 {
			logger.Info("line", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked on a slow monitor")
	}
	if len(warn.lines) != 0 {
		t.Errorf("the warn monitor got %d info lines", len(warn.lines))
	}
	if dropped := hub.unsubscribe(slow); dropped != 100 {
		t.Errorf("dropped = %d, want 100", dropped)
	}
	hub.unsubscribe(warn)
	if logger.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("debug enabled with no monitor")
	}
}

// Through HTTP: a client that stops reading does not block the agent's
// logging, and the drop is logged when it goes away.
func TestAgentMonitorSlowClient(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgentAt(t, "error") // the flood reaches the monitors only
	resp := openMonitor(t, ta, "")
	big := strings.Repeat("x", 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 { // ~20MB: more than the socket buffers and the 512 lines
			ta.logger.Info("flood", "pad", big)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("logging blocked on a client that does not read")
	}
	watch := monitorLines(t, openMonitor(t, ta, "?loglevel=warn"))
	resp.Body.Close()
	line := waitLine(t, func() {}, watch, "Dropped logs during monitor request")
	if !strings.Contains(line, "dropped_count=") {
		t.Errorf("line = %q", line)
	}
}

// The monitor command against an in-process agent: it prints lines until
// interrupted (exit 0); a bad level exits 1 with Consul's message; the
// agent going away ends it with exit 1 and Consul's words.
func TestCLIMonitor(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	env := cliEnvFor(ta)
	out := &syncBuffer{}
	var errOut strings.Builder
	c := &cliEnv{stdout: out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(k string) string { return env[k] }}
	interrupt := make(chan struct{})
	code := make(chan int, 1)
	go func() { code <- runMonitor(c, []string{"-log-level=debug"}, interrupt) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "cli sees this") {
		if time.Now().After(deadline) {
			t.Fatalf("no line; stdout %q stderr %q", out.String(), errOut.String())
		}
		ta.logger.Debug("cli sees this")
		time.Sleep(50 * time.Millisecond)
	}
	close(interrupt)
	if got := <-code; got != 0 {
		t.Errorf("interrupted: exit %d", got)
	}
	if !strings.Contains(out.String(), "[DEBUG] agent: cli sees this\n") {
		t.Errorf("stdout %q", out.String())
	}

	if _, errs, code := runCLI(t, env, "", "monitor", "-log-level=foo"); code != 1 || errs != "Error starting monitor: Unexpected response code: 400 (Unknown log level: foo)\n" {
		t.Errorf("bad level: %d %q", code, errs)
	}
	if _, errs, code := runCLI(t, env, "", "monitor", "-log-json", "-log-level=foo"); code != 1 || errs != "Error starting JSON monitor: Unexpected response code: 400 (Unknown log level: foo)\n" {
		t.Errorf("bad level, JSON: %d %q", code, errs)
	}
	if _, errs, code := runCLI(t, env, "", "monitor", "-nope"); code != 1 || !strings.HasPrefix(errs, "flag provided but not defined: -nope\n") {
		t.Errorf("bad flag: %d %q", code, errs)
	}
	dead := closedPort(t)
	if _, errs, code := runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": dead}, "", "monitor"); code != 1 ||
		errs != `Error starting monitor: Get "http://`+dead+`/v1/agent/monitor?loglevel=INFO": dial tcp `+dead+`: connect: connection refused`+"\n" {
		t.Errorf("dead agent: %d %q", code, errs)
	}
	help, _, code2 := runCLI(t, nil, "", "monitor", "-h")
	want, err := os.ReadFile("testdata/cli/monitor_help.golden")
	if err != nil {
		t.Fatal(err)
	}
	if code2 != 0 || help != string(want) {
		t.Errorf("help: %d\n%s\nwant\n%s", code2, help, want)
	}
}

// The agent shutting down ends the stream: Consul's words, exit 1.
func TestCLIMonitorRemoteEnds(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	env := cliEnvFor(ta)
	out := &syncBuffer{}
	c := &cliEnv{stdout: out, stderr: io.Discard, stdin: strings.NewReader(""), getenv: func(k string) string { return env[k] }}
	code := make(chan int, 1)
	go func() { code <- runMonitor(c, nil, make(chan struct{})) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "before the end") {
		if time.Now().After(deadline) {
			t.Fatalf("no line; stdout %q", out.String())
		}
		ta.logger.Info("before the end")
		time.Sleep(50 * time.Millisecond)
	}
	ta.Shutdown()
	select {
	case got := <-code:
		if got != 1 || !strings.HasSuffix(out.String(), "\n\nRemote side ended the monitor! This usually means that the\nremote side has exited or crashed.\n") {
			t.Errorf("exit %d, stdout %q", got, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not end with the agent")
	}
}

// syncBuffer is a strings.Builder safe to read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAgentMonitorWrite: a monitor at debug receives the line of a write,
// Consul's "Request finished", with a ?token= hidden.
func TestAgentMonitorWrite(t *testing.T) {
	t.Parallel()
	ta := startMonitorAgent(t)
	resp := openMonitor(t, ta, "?loglevel=debug")
	line := waitLine(t, func() { ta.do("PUT", "/v1/kv/monitored?token=s3cret", "v") }, monitorLines(t, resp), "Request finished")
	if !strings.Contains(line, ` [DEBUG] agent: Request finished: method=PUT url=/v1/kv/monitored?token=<hidden> from=127.0.0.1:`) ||
		!strings.Contains(line, " latency=") || strings.Contains(line, "s3cret") {
		t.Errorf("line = %q", line)
	}
}

// TestQuoteMonitorValue: hclog's rule, bare only within ASCII "-" to "~".
func TestQuoteMonitorValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"web": "web", "/v1/kv/x?token=<hidden>": "/v1/kv/x?token=<hidden>", "127.0.0.1:8500": "127.0.0.1:8500",
		"": `""`, "a b": `"a b"`, "1+1": `"1+1"`, "491.74µs": `"491.74µs"`, `say "hi"`: `"say \"hi\""`,
	} {
		if got := quoteMonitorValue(in); got != want {
			t.Errorf("quoteMonitorValue(%q) = %s, want %s", in, got, want)
		}
	}
}
