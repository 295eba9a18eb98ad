// main_test.go: tests of the command line (main.go): TestMain, which lets
// a test re-execute this binary as the agent, the subcommands and their
// exit codes, the agent's flags (each maps to a configuration key), the
// agent's logger, the descriptor limit checked at start,
// and a shutdown on SIGINT.
//
// Concurrency: each test uses only what it starts; nothing is shared
// between tests.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real command line in a child process: the
// test binary re-executes itself with MINICONSUL_MAIN=1 (see TestSIGINT),
// or with MINICONSUL_HEALTH_SERVER=1 as a plain HTTP server answering 200
// on a free loopback port, which it prints (BenchmarkHTTPChecks1000). With
// MINICONSUL_HOLD_DEFAULT_PORTS=1 the tests run while this process holds
// Consul's default ports (e2e_test.go). It sets the default of -parallel.
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
	// The parallel tests mostly wait on clocks (gossip and Raft rounds,
	// timeouts), not on the CPU: unless -parallel says otherwise, run up to
	// 8 at once rather than GOMAXPROCS.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", strconv.Itoa(max(8, runtime.GOMAXPROCS(0))))
	}
	if os.Getenv("MINICONSUL_HOLD_DEFAULT_PORTS") == "1" { // the proof that no test needs them (e2e_test.go)
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

// TestSIGINT runs the real binary (this test binary, re-executed as
// "consul") and checks that SIGINT stops it promptly with exit status 0.
func TestSIGINT(t *testing.T) {
	t.Parallel()
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

func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version", "-format=json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	var got struct {
		Version    string
		Revision   *string
		Prerelease *string
		BuildDate  time.Time
		RPC        struct{ Default, Min, Max int }
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	if got.Version != consulVersion || got.Revision == nil || got.Prerelease == nil || got.BuildDate.IsZero() ||
		got.RPC.Default != 2 || got.RPC.Min != 2 || got.RPC.Max != 3 {
		t.Errorf("version JSON = %s", stdout.String())
	}

	stdout.Reset()
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "Consul v"+consulVersion+"\n") || !strings.Contains(out, "\nBuild Date ") ||
		!strings.HasSuffix(out, "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)\n") {
		t.Errorf("version output = %q", out)
	}
}

// Exit codes as Consul 1.22's: 127 for no command or an unknown one, 1
// for bad usage of a known one; the message on stderr.
func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"frobnicate"}, 127}, {nil, 127}, {[]string{"version", "-format=xml"}, 1}} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || stderr.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want %d and a message", tc.args, code, stderr.String(), tc.code)
		}
	}
}

func TestRunAgentConfigError(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run([]string{"agent", "-dev", "-http-port=70000"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "flag -http-port") || !strings.Contains(stderr.String(), "70000") {
		t.Errorf("exit %d, stderr %q; want 1 naming the flag and value", code, stderr.String())
	}
}

func TestAgentLoggerLevels(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := newAgentLogger(&Config{LogLevel: "trace"}, &out)
	logger.Log(t.Context(), levelTrace, "deep detail")
	if !strings.Contains(out.String(), "level=TRACE") {
		t.Errorf("trace line = %q", out.String())
	}
	out.Reset()
	logger = newAgentLogger(&Config{LogLevel: "err", LogJSON: true}, &out)
	logger.Warn("hidden")
	logger.Error("shown")
	if strings.Contains(out.String(), "hidden") || !strings.Contains(out.String(), `"level":"ERROR"`) {
		t.Errorf("err-level JSON output = %q", out.String())
	}
}

// TestAgentFileLimitTooLow: as Consul, the agent refuses to start when its
// descriptor limit cannot hold limits.http_max_conns_per_client and 20.
func TestAgentFileLimitTooLow(t *testing.T) {
	t.Parallel()
	out := runAgentToExitAfter(t, "ulimit -n 100", "agent", "-dev", "-http-port", "-1", "-dns-port", "-1")
	const want = "error starting agent: system allows a max of 100 file descriptors, but limits.http_max_conns_per_client: 200 needs at least 220"
	if !strings.Contains(out, want) {
		t.Fatalf("output:\n%s\nwant %q", out, want)
	}
}

func TestAgentFlagsMapToKnownKeys(t *testing.T) {
	t.Parallel()
	for _, f := range agentFlags {
		if f.key == "" {
			continue
		}
		key := configRoot
		for name := range strings.SplitSeq(f.key, ".") {
			sub, ok := key.fields[name]
			if !ok {
				t.Errorf("flag -%s: key %q unknown", f.name, f.key)
				break
			}
			key = sub
		}
	}
}
