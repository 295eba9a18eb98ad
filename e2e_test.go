// e2e_test.go: the harness the tests share for what runs outside one
// goroutine: ports, agent processes, and waiting.
//
// Data flow: a test names its agents (e2eCluster.add: a name, a loopback
// address, flags), each given its ports by testPorts; e2eCluster.start runs
// one as a process (startAgentProcess: this test binary re-executed as
// "consul", TestMain's MINICONSUL_MAIN=1) and waits for "agent started";
// the test talks to it over HTTP (e2eCluster.do, e2eServer.do), waits with
// eventually, and kills (SIGKILL, a crash), stops (SIGINT) or restarts it
// from its data dir with the same ports. At cleanup every process still
// running is killed, and the output of each start is printed if the test
// failed.
//
// Concurrency: each test owns its cluster and processes; a process's
// output is gathered by one goroutine under a mutex (startAgentProcess's
// mu guards the output so far); testAgentPorts, shared by parallel tests
// and keyed by test, is guarded by testPortsMu.
//
// Ports: chosen at run time. No test relies on a fixed port being free: an in-process agent
// binds port 0 and reports what it bound (testConfig), and an agent that
// others must find before it starts, or that keeps its addresses across a
// restart (the servers of a cluster, a process told its ports by flags),
// gets ports found free when the test first asks (testPorts). The agents
// still use distinct loopback addresses (127.0.0.x), which keep their logs
// and members apart; their ports differ too, so a -retry-join names a
// server as host:port (the LAN gossip port), and the servers find each
// other's RPC port in the LAN pool's tags, as Consul's.
//
// The proof: MINICONSUL_HOLD_DEFAULT_PORTS=1 makes TestMain hold Consul's
// default ports (8300-8302, 8500, 8600) on 0.0.0.0 and :: for TCP and UDP
// while the tests run, as another agent on the machine would. Run it in a
// network namespace of its own to leave the machine's ports alone:
//
//	unshare -rn sh -c 'ip link set lo up && MINICONSUL_HOLD_DEFAULT_PORTS=1 go test -run TestClusterE2E .'
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// consulDefaultPorts are the ports a Consul agent binds unless told
// otherwise: server RPC, LAN and WAN gossip, HTTP, DNS.
var consulDefaultPorts = []int{8300, 8301, 8302, 8500, 8600}

// holdDefaultPorts binds every port of consulDefaultPorts on 0.0.0.0 and
// ::, TCP and UDP; release closes them.
func holdDefaultPorts() (release func(), err error) {
	var held []interface{ Close() error }
	release = func() {
		for _, c := range held {
			c.Close()
		}
	}
	for _, port := range consulDefaultPorts {
		for _, network := range []string{"tcp4", "tcp6", "udp4", "udp6"} {
			addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
			if network[3] == '6' {
				addr = net.JoinHostPort("::", strconv.Itoa(port))
			}
			var c interface{ Close() error }
			if network[0] == 't' {
				c, err = net.Listen(network, addr)
			} else {
				c, err = net.ListenPacket(network, addr)
			}
			if err != nil {
				release()
				return nil, fmt.Errorf("holding %s %s: %w", network, addr, err)
			}
			held = append(held, c)
		}
	}
	return release, nil
}

// freePort returns a port that is free for both TCP and UDP (a gossip
// port and a DNS port serve both) on every one of ips when it is called.
// Nothing holds it afterwards: the agent told to use it binds it later.
// So the port is drawn from below the kernel's ephemeral range, from which
// every bind to port 0 (the in-process agents', the dialers') is served:
// a port handed out here is never given to one of those in the meantime.
// Between tests, testPorts keeps the ports it handed out apart.
func freePort(t testing.TB, ips ...string) int {
	t.Helper()
	lo, hi := 10000, ephemeralPortsFrom()-1
	if hi <= lo {
		t.Fatalf("the ephemeral port range starts at %d: no room below it for test ports", hi+1)
	}
	for range 1000 {
		port := lo + rand.IntN(hi-lo+1)
		free := true
		var held []interface{ Close() error }
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			c, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			held = append(held, c)
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				free = false
				break
			}
			held = append(held, u)
		}
		for _, c := range held {
			c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on %v in 1000 tries", ips)
	return 0
}

// ephemeralPortsFrom is the first port of the kernel's ephemeral range
// (Linux's net.ipv4.ip_local_port_range; its default where that is not
// readable).
func ephemeralPortsFrom() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	if f := strings.Fields(string(b)); len(f) == 2 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 32768
}

// agentPorts are the ports of one test agent.
type agentPorts struct{ HTTP, DNS, Server, SerfLAN, SerfWAN int }

// testAgentPorts remembers, per test and per loopback address, the ports
// testPorts chose; each entry is dropped when its test ends. testPortsMu
// makes choosing and remembering one step, so that no two tests are given
// the same port on one address, even while the agent holding it is stopped
// for a restart (another test's agent there would be joined in its place).
var (
	testPortsMu    sync.Mutex
	testAgentPorts = map[testPortsKey]agentPorts{}
)

type testPortsKey struct {
	t  testing.TB
	ip string
}

// testPorts returns the ports of the agent on ip in the test t: found free
// the first time they are asked for, the same ones afterwards, so that
// other agents can be told them before it starts and it keeps them across
// restarts. Two tests using the same address get different ports.
func testPorts(t testing.TB, ip string) agentPorts {
	t.Helper()
	testPortsMu.Lock()
	defer testPortsMu.Unlock()
	key := testPortsKey{t, ip}
	if p, ok := testAgentPorts[key]; ok {
		return p
	}
	reserved := map[int]bool{}
	for k, p := range testAgentPorts {
		if k.ip == ip {
			for _, port := range []int{p.HTTP, p.DNS, p.Server, p.SerfLAN, p.SerfWAN} {
				reserved[port] = true
			}
		}
	}
	var picked []int // five different ports: a port just closed may be found free again
	for len(picked) < 5 {
		if port := freePort(t, ip); !slices.Contains(picked, port) && !reserved[port] {
			picked = append(picked, port)
		}
	}
	p := agentPorts{HTTP: picked[0], DNS: picked[1], Server: picked[2], SerfLAN: picked[3], SerfWAN: picked[4]}
	testAgentPorts[key] = p
	t.Cleanup(func() {
		testPortsMu.Lock()
		defer testPortsMu.Unlock()
		delete(testAgentPorts, key)
	})
	return p
}

// testGossipKey is the gossip encryption key of the test t's agents. The
// tests run agents with the same names (s1, s2, s3) on the same loopback
// addresses, and a port one test's agent bound by port 0 may have been
// another's before: one test's pool, reconnecting to a member it lost,
// would merge with another's, and two members named s2 would then refute
// each other without end. A key per test keeps every test's pools apart.
func testGossipKey(t testing.TB) string {
	sum := sha256.Sum256([]byte("miniconsul test " + t.Name()))
	return base64.StdEncoding.EncodeToString(sum[:16])
}

// lanAddr is the LAN gossip address of the agent on ip in the test t: what
// another agent's -retry-join or /v1/agent/join names.
func lanAddr(t testing.TB, ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(testPorts(t, ip).SerfLAN))
}

// startAgentProcess runs the real command line (this test binary,
// re-executed as "consul", see TestMain) until the agent has started. The
// process is interrupted and waited for at cleanup; logs returns its output
// so far, and exited is closed once the process has closed its output
// (it exited: Wait may be called). If the test failed, its output is
// printed at cleanup.
func startAgentProcess(t *testing.T, args ...string) (cmd *exec.Cmd, logs func() string, exited <-chan struct{}) {
	t.Helper()
	return startAgentProcessAfter(t, "", args...)
}

// startAgentProcessAfter is startAgentProcess with shell commands run
// before the agent in its process ("ulimit -n 256"); "" runs none.
func startAgentProcessAfter(t *testing.T, setup string, args ...string) (cmd *exec.Cmd, logs func() string, exited <-chan struct{}) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	consul := filepath.Join(t.TempDir(), "consul")
	if err := os.Symlink(self, consul); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(consul, args...)
	if setup != "" {
		cmd = exec.Command("sh", append([]string{"-c", setup + ` && exec "$0" "$@"`, consul}, args...)...)
	}
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder // guarded by mu
	logs = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	started, scanned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "agent started") {
				close(started)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-scanned:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-scanned
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("the agent's output (%v):\n%s", cmd.ProcessState, logs())
		}
	})
	select {
	case <-started:
	case <-scanned:
		t.Fatalf("agent exited before starting:\n%s", logs())
	case <-time.After(10 * time.Second):
		t.Fatalf("agent did not start within 10 s:\n%s", logs())
	}
	return cmd, logs, scanned
}

// runAgentToExit runs the agent and returns its output once it exits,
// failing if it runs on (it started) or exits 0: the process of a test
// that the agent refuses to start.
func runAgentToExit(t *testing.T, args ...string) string {
	t.Helper()
	return runAgentToExitAfter(t, "", args...)
}

// runAgentToExitAfter is runAgentToExit with shell commands run before the
// agent in its process ("ulimit -n 100"); "" runs none.
func runAgentToExitAfter(t *testing.T, setup string, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	if setup != "" {
		cmd = exec.CommandContext(ctx, "sh", append([]string{"-c", setup + ` && exec "$0" "$@"`, self}, args...)...)
	}
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the agent ran on instead of refusing to start:\n%s", out)
	}
	if err == nil {
		t.Fatalf("the agent exited 0:\n%s", out)
	}
	return string(out)
}

// e2eServer is one agent process of a test (a server or a client): its
// address and ports, data dir, and while it runs, its command and output.
type e2eServer struct {
	name, ip string
	ports    agentPorts // the same across restarts
	dataDir  string
	args     []string // the agent's flags besides -node, -bind, -client, -data-dir and the ports
	cmd      *exec.Cmd
	logs     func() string   // the output of its last start
	exited   <-chan struct{} // closed once the process has exited
}

func (s *e2eServer) httpAddr() string   { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.HTTP)) }
func (s *e2eServer) dnsAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.DNS)) }
func (s *e2eServer) serverAddr() string { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.Server)) }
func (s *e2eServer) lanAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.SerfLAN)) }
func (s *e2eServer) wanAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.SerfWAN)) }

type e2eCluster struct {
	t       *testing.T
	dir     string // the data dirs
	servers []*e2eServer
	client  *http.Client
}

// add names one more agent process, with its flags, on ip with the ports
// testPorts chose for it.
func (c *e2eCluster) add(name, ip string, args ...string) *e2eServer {
	s := &e2eServer{name: name, ip: ip, ports: testPorts(c.t, ip), dataDir: filepath.Join(c.dir, name), args: args}
	c.servers = append(c.servers, s)
	return s
}

// agentArgs are s's command line, with this test's gossip key unless s
// has its own -encrypt. A -retry-join or -retry-join-wan that
// names an agent of c by its address alone is given that agent's port
// (its host:port form): the agents here do not share the default ports.
func (c *e2eCluster) agentArgs(s *e2eServer) []string {
	args := []string{"agent", "-node=" + s.name, "-bind=" + s.ip, "-client=" + s.ip,
		"-data-dir=" + s.dataDir, "-http-port=" + strconv.Itoa(s.ports.HTTP),
		"-dns-port=" + strconv.Itoa(s.ports.DNS), "-server-port=" + strconv.Itoa(s.ports.Server),
		"-serf-lan-port=" + strconv.Itoa(s.ports.SerfLAN), "-serf-wan-port=" + strconv.Itoa(s.ports.SerfWAN)}
	for _, arg := range s.args {
		name, host, _ := strings.Cut(arg, "=")
		if i := slices.IndexFunc(c.servers, func(o *e2eServer) bool { return o.ip == host }); i >= 0 {
			switch strings.TrimLeft(name, "-") {
			case "retry-join":
				arg = name + "=" + c.servers[i].lanAddr()
			case "retry-join-wan":
				arg = name + "=" + c.servers[i].wanAddr()
			}
		}
		args = append(args, arg)
	}
	if !slices.ContainsFunc(s.args, func(a string) bool { return strings.HasPrefix(a, "-encrypt") }) {
		args = append(args, "-encrypt="+testGossipKey(c.t)) // this test's pools only
	}
	return args
}

// newE2EProcesses is an empty cluster, for agents named with add; the
// cleanup kills whichever still runs (startAgentProcess prints the output
// of each start if the test failed).
func newE2EProcesses(t *testing.T) *e2eCluster {
	c := &e2eCluster{t: t, dir: t.TempDir(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(func() {
		for _, s := range c.servers {
			c.kill(s)
		}
		c.client.CloseIdleConnections()
	})
	return c
}

// start runs s from its data dir (startAgentProcess: until it says it has
// bound every port; until then the addresses could be another process's).
// At cleanup it is killed, as a crash is, before startAgentProcess's
// interrupt.
func (c *e2eCluster) start(s *e2eServer) {
	c.t.Helper()
	s.cmd, s.logs, s.exited = startAgentProcess(c.t, c.agentArgs(s)...)
	c.t.Cleanup(func() { c.kill(s) })
}

// stop interrupts s and waits for it to exit (killing it after 15 s).
func (c *e2eCluster) stop(s *e2eServer) {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd.Wait()
	s.cmd = nil
}

// waitExit waits until s's process has exited by itself (after a leave).
func (c *e2eCluster) waitExit(s *e2eServer, within time.Duration) {
	c.t.Helper()
	select {
	case <-s.exited:
		s.cmd = nil
	case <-time.After(within):
		c.t.Fatalf("%s still running %v after it was told to leave", s.name, within)
	}
}

// kill sends SIGKILL to s's process, if it runs, and waits until it is gone.
func (c *e2eCluster) kill(s *e2eServer) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		c.t.Errorf("%s (pid %d) still there 10 s after SIGKILL", s.name, s.cmd.Process.Pid)
	}
	s.cmd = nil
}

// others returns the servers that are not in not.
func (c *e2eCluster) others(not ...*e2eServer) []*e2eServer {
	var out []*e2eServer
	for _, s := range c.servers {
		if !slices.Contains(not, s) {
			out = append(out, s)
		}
	}
	return out
}

// do makes one request to s and reads the answer; the test's end cancels it.
func (c *e2eCluster) do(method string, s *e2eServer, path, body string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.httpAddr()+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// do makes one request to s with a body of any size and reads the answer
// and its headers; an error is the answer's body, with code 0.
func (s *e2eServer) do(t *testing.T, method, path string, body io.Reader, timeout time.Duration) (int, []byte, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.httpAddr()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// waitLeader waits until every server in live names the same leader, one
// of live, and returns it.
func (c *e2eCluster) waitLeader(live ...*e2eServer) *e2eServer {
	c.t.Helper()
	var leader *e2eServer
	eventually(c.t, 30*time.Second, "one leader agreed on by all live servers", func() (bool, string) {
		var seen []string
		leader = nil
		agreed := true
		for _, s := range live {
			select {
			case <-s.exited:
				c.t.Fatalf("%s exited by itself", s.name)
			default:
			}
			code, body, err := c.do(http.MethodGet, s, "/v1/status/leader", "", 2*time.Second)
			var addr string
			if err == nil && code == http.StatusOK {
				json.Unmarshal([]byte(body), &addr)
			}
			seen = append(seen, fmt.Sprintf("%s→%q", s.name, addr))
			i := slices.IndexFunc(live, func(l *e2eServer) bool { return l.serverAddr() == addr })
			if i < 0 || leader != nil && live[i] != leader {
				agreed = false
			} else {
				leader = live[i]
			}
		}
		return agreed, strings.Join(seen, " ")
	})
	return leader
}

// eventually polls cond every 20 ms until it holds, and fails the test
// after within with what and, for a condition that says why it does not
// hold yet (func() (bool, string)), its last word. It is the one way the
// tests wait for something they cannot be told about.
func eventually[C func() bool | func() (bool, string)](t testing.TB, within time.Duration, what string, cond C) {
	t.Helper()
	check := func() (bool, string) {
		switch c := any(cond).(type) {
		case func() bool:
			return c(), ""
		case func() (bool, string):
			return c()
		}
		panic("unreachable")
	}
	for deadline := time.Now().Add(within); ; {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if last != "" {
				t.Fatalf("%s: not within %v; last: %s", what, within, last)
			}
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
