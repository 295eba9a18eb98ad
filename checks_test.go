package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startCheckAgent is a test agent whose checks may probe every few
// milliseconds and whose reaper runs often.
func startCheckAgent(t *testing.T, mutate func(*Config)) *testAgent {
	return startTestAgent(t, func(c *Config) {
		c.CheckMinInterval = time.Millisecond
		c.CheckReapInterval = 10 * time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	})
}

// waitCheck waits until the agent's check has status and an output
// containing want, in the local state and in the catalog.
func waitCheck(t *testing.T, ta *testAgent, id, status, want string) HealthCheck {
	t.Helper()
	var c HealthCheck
	eventually(t, 10*time.Second, fmt.Sprintf("check %s %s with %q", id, status, want), func() bool {
		c = ta.local.checkList()[id]
		if c.Status != status || !strings.Contains(c.Output, want) {
			return false
		}
		for _, r := range ta.store.snapshot().nodeChecks(ta.cfg.NodeName) {
			if r.CheckID == id {
				return r.Status == status && r.Output == c.Output
			}
		}
		return false
	})
	return c
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// closedAddr is a loopback address nothing listens on (for a while).
func closedAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc.Close()
		return pc.LocalAddr().String()
	}
	ln := listenTCP(t)
	ln.Close()
	return ln.Addr().String()
}

func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	var conns, okProbes atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		okProbes.Add(1)
		io.WriteString(w, "fine")
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusServiceUnavailable) })
	var slowCut atomic.Int32 // slow probes the checker gave up on: each costs its connection
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			slowCut.Add(1)
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.Header.Get("X-Probe") != "yes" || string(body) != "ping" || r.UserAgent() != "Consul Health Check" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "pong")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 10000)) })
	ln := listenTCP(t)
	srv := &http.Server{Handler: mux, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()

	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Checks":[
		{"CheckID":"ok","HTTP":"`+base+`/ok","Interval":"20ms"},
		{"CheckID":"busy","HTTP":"`+base+`/busy","Interval":"20ms"},
		{"CheckID":"down","HTTP":"`+base+`/down","Interval":"20ms","Status":"passing"},
		{"CheckID":"slow","HTTP":"`+base+`/slow","Interval":"20ms","Timeout":"50ms","Status":"passing"},
		{"CheckID":"echo","HTTP":"`+base+`/echo","Method":"PUT","Header":{"X-Probe":["yes"]},"Body":"ping","Interval":"20ms"},
		{"CheckID":"big","HTTP":"`+base+`/big","Interval":"20ms"}]}`, nil)
	waitCheck(t, ta, "ok", healthPassing, "HTTP GET "+base+"/ok: 200 OK Output: fine")
	waitCheck(t, ta, "busy", healthWarning, "429 Too Many Requests")
	waitCheck(t, ta, "down", healthCritical, "503 Service Unavailable Output: broken")
	waitCheck(t, ta, "slow", healthCritical, "deadline exceeded")
	waitCheck(t, ta, "echo", healthPassing, "HTTP PUT "+base+"/echo: 200 OK Output: pong")
	big := waitCheck(t, ta, "big", healthPassing, "(body cut at 4096 bytes)")
	if !strings.HasPrefix(big.Output, "HTTP GET "+base+"/big: 200 OK Output: "+strings.Repeat("x", 4096)+" ...") {
		t.Fatalf("big body: %.200q", big.Output)
	}
	// The output is shown by /v1/health too.
	if r := ta.must("GET", "/v1/health/checks/web", "", nil); !strings.Contains(r.body, "Output: pong") {
		t.Fatalf("health/checks: %s", r.body)
	}
	// Probes reuse kept-alive connections: many probes, few connections.
	// The slow check's timed-out requests each cost one (as many as a
	// loaded machine makes them), so they are not counted.
	before, cutBefore, probed := conns.Load(), slowCut.Load(), okProbes.Load()
	eventually(t, 10*time.Second, "25 more probes of /ok", func() bool { return okProbes.Load() >= probed+25 })
	// In that time the other checks probed about as often: 100 requests.
	if n := conns.Load() - before - (slowCut.Load() - cutBefore); n > 10 {
		t.Fatalf("%d new connections for about 100 probes: kept-alive connections not reused", n)
	}
}

func TestCheckHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"tls-skip","HTTP":"`+srv.URL+`","TLSSkipVerify":true,"Interval":"20ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"tls-verify","HTTP":"`+srv.URL+`","TLSServerName":"example.com","Interval":"20ms","Status":"passing"}`, nil)
	waitCheck(t, ta, "tls-skip", healthPassing, "200 OK")
	waitCheck(t, ta, "tls-verify", healthCritical, "certificate")
}

func TestCheckTCP(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"tcp-up","TCP":"`+ln.Addr().String()+`","Interval":"20ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"tcp-down","TCP":"`+closedAddr(t, "tcp")+`","Interval":"20ms","Status":"passing"}`, nil)
	waitCheck(t, ta, "tcp-up", healthPassing, "TCP connect "+ln.Addr().String()+": Success")
	waitCheck(t, ta, "tcp-down", healthCritical, "connection refused")
}

func TestCheckUDP(t *testing.T) {
	t.Parallel()
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == udpCheckPayload {
				echo.WriteTo([]byte("hi"), from)
			}
		}
	}()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"udp-echo","UDP":"`+echo.LocalAddr().String()+`","Interval":"20ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"udp-silent","UDP":"`+silent.LocalAddr().String()+`","Interval":"20ms","Timeout":"50ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"udp-closed","UDP":"`+closedAddr(t, "udp")+`","Interval":"20ms","Timeout":"2s","Status":"passing"}`, nil)
	waitCheck(t, ta, "udp-echo", healthPassing, "UDP connect "+echo.LocalAddr().String()+": Success")
	waitCheck(t, ta, "udp-silent", healthPassing, "Success")
	waitCheck(t, ta, "udp-closed", healthCritical, "connection refused") // ICMP port unreachable
}

func TestCheckScript(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ta := startCheckAgent(t, func(c *Config) { c.EnableScriptChecks = true })
	for _, c := range []struct{ id, script, timeout string }{
		{"exit0", "echo all good", ""},
		{"exit1", "echo degraded >&2; exit 1", ""},
		{"exit2", "echo broken; exit 2", ""},
		{"stuck", "echo $$ > " + pidFile + "; sleep 30 & wait", "100ms"},
		{"chatty", "head -c 10000 /dev/zero | tr '\\0' a; echo END", ""},
	} {
		body := fmt.Sprintf(`{"Name":%q,"Args":["/bin/sh","-c",%q],"Interval":"50ms","Timeout":%q}`, c.id, c.script, c.timeout)
		ta.must("PUT", "/v1/agent/check/register", body, nil)
	}
	waitCheck(t, ta, "exit0", healthPassing, "all good")
	waitCheck(t, ta, "exit1", healthWarning, "degraded")
	waitCheck(t, ta, "exit2", healthCritical, "broken")
	waitCheck(t, ta, "stuck", healthCritical, "Timed out (100ms) running check")
	chatty := waitCheck(t, ta, "chatty", healthPassing, "END")
	if !strings.HasPrefix(chatty.Output, "Captured 4096 of 10004 bytes\n...\n") || !strings.HasSuffix(chatty.Output, "aaaaEND\n") {
		t.Fatalf("chatty output: %.80q ... %q", chatty.Output, chatty.Output[len(chatty.Output)-20:])
	}
	// The timed-out script's process group was killed, its child too.
	ta.local.removeCheck(context.Background(), "stuck")
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %q", b)
	}
	eventually(t, 5*time.Second, "the stuck script's process group gone", func() bool {
		return syscall.Kill(-pid, 0) == syscall.ESRCH
	})
}

// TestBug_ScriptDetachedChild: a script whose child leaves its process
// group and keeps the output pipe open is still reported once the script
// ends, and its check can be removed (the probe waited for the child).
func TestBug_ScriptDetachedChild(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	pidFile := filepath.Join(t.TempDir(), "pids")
	t.Cleanup(func() {
		b, _ := os.ReadFile(pidFile)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	ta := startCheckAgent(t, func(c *Config) { c.EnableScriptChecks = true })
	script := "setsid sh -c 'echo $$ >> " + pidFile + "; exec sleep 60' & echo started"
	ta.must("PUT", "/v1/agent/check/register", fmt.Sprintf(`{"Name":"detached","Args":["/bin/sh","-c",%q],"Interval":"50ms","Timeout":"30s"}`, script), nil)
	waitCheck(t, ta, "detached", healthPassing, "started")
	done := make(chan struct{})
	go func() { ta.local.removeCheck(context.Background(), "detached"); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("removing the check waited for the detached child")
	}
}

// Script checks are refused as Consul refuses them: without
// enable_script_checks from the API (500, Consul's message), and without
// either flag from the config files.
func TestCheckScriptPermission(t *testing.T) {
	t.Parallel()
	script := `{"Name":"s","Args":["/bin/true"],"Interval":"10s"}`
	ta := startCheckAgent(t, func(c *Config) { c.EnableLocalScriptChecks = true })
	ta.expect("PUT", "/v1/agent/check/register", script, 500,
		"Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true")
	ta.expect("PUT", "/v1/agent/service/register", `{"Name":"svc","Check":`+script+`}`, 500, "Scripts are disabled on this agent from remote calls")
	if len(ta.local.checkList()) != 0 || len(ta.local.serviceList()) != 0 {
		t.Fatalf("refused registration left state: %v %v", ta.local.checkList(), ta.local.serviceList())
	}
	// From the config files, enable_local_script_checks is enough.
	ok := startCheckAgent(t, func(c *Config) {
		c.EnableLocalScriptChecks = true
		c.Checks = []*checkDefinition{{Name: "local", Args: []string{"/bin/true"}, Interval: duration(time.Hour)}}
	})
	if _, found := ok.local.checkList()["local"]; !found {
		t.Fatal("script check from the config files refused with enable_local_script_checks")
	}
	cfg := testConfig("noscripts")
	cfg.Checks = []*checkDefinition{{Name: "local", Args: []string{"/bin/true"}, Interval: duration(time.Hour)}}
	if _, err := newAgent(cfg, ta.logger); err == nil || !strings.Contains(err.Error(), "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true") {
		t.Fatalf("script check from config without either flag: %v", err)
	}
}

// grpcHealthServer answers grpc.health.v1.Health/Check over h2c: SERVING
// for the service "ok" (and ""), NOT_SERVING otherwise.
func grpcHealthServer(t *testing.T) string {
	ln := listenTCP(t)
	srv := &http.Server{Protocols: new(http.Protocols), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != grpcHealthPath || r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" {
			http.Error(w, "not gRPC", http.StatusBadRequest)
			return
		}
		req, _ := io.ReadAll(r.Body)
		service := ""
		if len(req) > 7 {
			service = string(req[7:]) // prefix (5), key (1), length (1)
		}
		status := byte(2)
		if service == "" || service == "ok" {
			status = grpcServing
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		msg := []byte{protoVarintField1, status}
		w.Write(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))))
		w.Write(msg)
		w.Header().Set("Grpc-Status", "0")
	})}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestCheckGRPC(t *testing.T) {
	t.Parallel()
	addr := grpcHealthServer(t)
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"grpc-all","GRPC":"`+addr+`","Interval":"20ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"grpc-ok","GRPC":"`+addr+`/ok","Interval":"20ms"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"grpc-bad","GRPC":"`+addr+`/bad","Interval":"20ms","Status":"passing"}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"grpc-down","GRPC":"`+closedAddr(t, "tcp")+`","Interval":"20ms","Status":"passing"}`, nil)
	waitCheck(t, ta, "grpc-all", healthPassing, "gRPC check "+addr+": success")
	waitCheck(t, ta, "grpc-ok", healthPassing, "success")
	waitCheck(t, ta, "grpc-bad", healthCritical, "serving status: NOT_SERVING")
	waitCheck(t, ta, "grpc-down", healthCritical, "connection refused")
}

func TestReadGRPCHealthMalformed(t *testing.T) {
	for _, in := range []string{"", "\x00\x00\x00\x00\x05\x08", "\x01\x00\x00\x00\x00", "\x00\x00\x00\x00\x02\x0a\x09"} {
		if _, err := readGRPCHealth(bufioReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	// A length past the limit is refused before anything is allocated.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := readGRPCHealth(bufioReader("\x00\xff\xff\xff\xff")); err == nil {
		t.Error("4 GiB length: no error")
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("4 GiB length: %d bytes allocated", n)
	}
	// An unknown length-delimited field is skipped.
	if st, err := readGRPCHealth(bufioReader("\x00\x00\x00\x00\x05\x12\x01z\x08\x01")); err != nil || st != grpcServing {
		t.Errorf("unknown field: %d %v", st, err)
	}
}

// TestStatusThresholds follows Consul's StatusHandler.
func TestStatusThresholds(t *testing.T) {
	t.Parallel()
	const P, W, C, none = healthPassing, healthWarning, healthCritical, ""
	for _, tc := range []struct {
		name             string
		success, warn, c int
		in, want         []string
	}{
		{"no thresholds", 0, 0, 0, []string{P, C, W, C}, []string{P, C, W, C}},
		{"success before passing", 2, 0, 0, []string{P, P, P, C, P, P}, []string{none, P, P, C, none, P}},
		{"failures before critical", 0, 0, 3, []string{C, C, C, P, C}, []string{none, none, C, P, none}},
		{"warning before critical", 0, 1, 3, []string{C, C, C, C, P}, []string{W, W, C, C, P}},
		{"a success resets the failures", 0, 0, 2, []string{C, P, C, C}, []string{none, P, none, C}},
	} {
		th := newStatusThresholds(&checkDefinition{SuccessBeforePassing: tc.success, FailuresBeforeWarning: tc.warn, FailuresBeforeCritical: tc.c})
		for i, in := range tc.in {
			got, ok := th.filter(in)
			if !ok {
				got = none
			}
			if got != tc.want[i] {
				t.Errorf("%s: result %d (%s): got %q, want %q", tc.name, i, in, got, tc.want[i])
			}
		}
	}
}

// The thresholds hold back what a real probe reports.
func TestCheckThresholdsEndToEnd(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	ln := listenTCP(t)
	var probes atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	healthy.Store(true)
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"th","HTTP":"http://`+ln.Addr().String()+`","Interval":"10ms",
		"SuccessBeforePassing":3,"FailuresBeforeCritical":3}`, nil)
	waitCheck(t, ta, "th", healthPassing, "200 OK")
	if n := probes.Load(); n < 3 {
		t.Fatalf("passing after %d probes, want at least 3", n)
	}
	healthy.Store(false)
	from := probes.Load()
	waitCheck(t, ta, "th", healthCritical, "500")
	if n := probes.Load() - from; n < 3 {
		t.Fatalf("critical after %d failed probes, want at least 3", n)
	}
}

func TestCheckTTLOutputTruncated(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"ttl","TTL":"1h"}`, nil)
	long := strings.Repeat("é", 2500) // 5000 bytes: the cut falls inside a rune
	ta.must("PUT", "/v1/agent/check/update/ttl", `{"Status":"passing","Output":"`+long+`"}`, nil)
	c := waitCheck(t, ta, "ttl", healthPassing, " ... (captured 4096 of 5000 bytes)")
	if c.Output != strings.Repeat("é", 2048)+" ... (captured 4096 of 5000 bytes)" {
		t.Fatalf("truncated output: %.40q…", c.Output)
	}
}

func TestCheckAliasLocal(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"CheckID":"web-ttl","TTL":"1h"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"proxy","Check":{"CheckID":"proxy-alias","AliasService":"web"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"orphan","Check":{"CheckID":"orphan-alias","AliasService":"nope"}}`, nil)
	waitCheck(t, ta, "proxy-alias", healthCritical, `Aliased check "Service 'web' check" failing`)
	waitCheck(t, ta, "orphan-alias", healthCritical, "Service nope could not be found on node node1")
	ta.must("PUT", "/v1/agent/check/pass/web-ttl", "", nil)
	waitCheck(t, ta, "proxy-alias", healthPassing, "All checks passing.")
	// A node-level check counts too.
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"disk","TTL":"1h","Status":"warning"}`, nil)
	waitCheck(t, ta, "proxy-alias", healthWarning, `Aliased check "disk" failing`)
}

// TestBug_AliasCycle: two services whose alias checks mirror each other
// quote each other's output; the output stays within
// check_output_max_size, so the pair settles instead of growing (and
// writing to the catalog) forever.
func TestBug_AliasCycle(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, func(c *Config) { c.CheckOutputMaxSize = 256 })
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"a","Check":{"CheckID":"a-alias","AliasService":"b"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"b","Check":{"CheckID":"b-alias","AliasService":"a"}}`, nil)
	waitCheck(t, ta, "a-alias", healthCritical, " ... (captured 256 of ")
	eventually(t, 10*time.Second, "the alias pair settled", func() bool {
		changed := ta.local.changes()
		select {
		case <-changed:
			return false
		case <-time.After(200 * time.Millisecond):
			return true
		}
	})
	for id, c := range ta.local.checkList() {
		if len(c.Output) > 256+64 {
			t.Errorf("%s: output of %d bytes", id, len(c.Output))
		}
	}
}

func TestCheckAliasRemoteNode(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, nil)
	register := func(status string) {
		ta.must("PUT", "/v1/catalog/register", `{"Node":"db-host","Address":"127.0.0.20",
			"Service":{"ID":"db","Service":"db"},
			"Check":{"CheckID":"db-ok","Name":"db ok","ServiceID":"db","Status":"`+status+`","Output":"from the catalog"}}`, nil)
	}
	register(healthCritical)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"db-alias","AliasNode":"db-host","AliasService":"db"}`, nil)
	waitCheck(t, ta, "db-alias", healthCritical, `Aliased check "db ok" failing: from the catalog`)
	register(healthPassing)
	waitCheck(t, ta, "db-alias", healthPassing, "All checks passing.")
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"db-host","ServiceID":"db"}`, nil)
	waitCheck(t, ta, "db-alias", healthCritical, "Service db could not be found on node db-host")
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// BenchmarkHTTPChecks1000 measures the CPU one agent spends running 1,000
// HTTP checks at a 10 s interval against a local HTTP server (a child
// process, so that only the agent's CPU is counted), over a 30 s window
// once every check has passed. It reports the share of one core and the
// probes per second; run with -benchtime=1x.
func BenchmarkHTTPChecks1000(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	server := exec.Command(self)
	server.Env = append(os.Environ(), "MINICONSUL_HEALTH_SERVER=1")
	out, err := server.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { server.Process.Kill(); server.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	a, _ := benchAgent(b)
	url := "http://" + strings.TrimSpace(addr) + "/health"
	for i := range 1000 {
		def := &checkDefinition{Name: fmt.Sprintf("check-%d", i), HTTP: url, Interval: duration(10 * time.Second)}
		if err := a.local.addCheck(context.Background(), def, sourceAPI); err != nil {
			b.Fatal(err)
		}
	}
	passing := func() int {
		n := 0
		for _, c := range a.local.checkList() {
			if c.Status == healthPassing {
				n++
			}
		}
		return n
	}
	eventually(b, 30*time.Second, "every check passing", func() bool { return passing() == 1000 })
	b.ResetTimer()
	for range b.N {
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		time.Sleep(30 * time.Second) // the measurement window
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		elapsed := time.Since(start)
		cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
		b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "%core")
	}
	if n := passing(); n != 1000 {
		b.Fatalf("%d of 1000 checks passing after the window", n)
	}
}
