// cluster_e2e_test.go: the end-to-end test of a three-server cluster made
// of real processes (the built binary), on 127.0.0.51-53, each on ports
// chosen at run time (testPorts) and told by flags, driven only over HTTP
// and killed with SIGKILL, as a crash is.
//
// Everything waits by polling with a deadline (eventually) and fails with
// what it last saw; each server's output goes to a file that the test
// prints when it fails; every process is killed by its PID on cleanup.
package main

import (
	"context"
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
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterE2E proves, with three real servers, that:
//   - they form one cluster from -bootstrap-expect=3 and -retry-join, and
//     all agree on one leader;
//   - with clients writing concurrently through every server (followers
//     forward), a kill -9 of the leader loses no acknowledged write: each
//     reads back with ?consistent from both survivors, and is listed by
//     ?keys&consistent; and a new leader takes writes within 15 s;
//   - the killed server, restarted from its data dir, catches up (?stale);
//   - all three killed at once and restarted from their data dirs elect a
//     leader and still hold every acknowledged write;
//   - /v1/operator/raft/configuration lists three voters, one the leader;
//   - with two of three gone, the leader left alone steps down, and a write
//     answers 500 "No cluster leader".
func TestClusterE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three servers")
	}
	c := newE2ECluster(t)
	for _, s := range c.servers {
		c.start(s)
	}
	leader := c.waitLeader(c.servers...)
	t.Logf("cluster formed, leader %s", leader.name)

	// Concurrent clients write unique keys to random servers.
	const writers, perWriter = 8, 300
	var (
		mu     sync.Mutex
		acked  []e2eWrite // answered 200 "true"
		failed int        // 5xx, refused, timed out: maybe applied, maybe not
		wg     sync.WaitGroup
	)
	writeDeadline := time.Now().Add(25 * time.Second)
	for g := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter && time.Now().Before(writeDeadline) && t.Context().Err() == nil; i++ {
				w := e2eWrite{key: fmt.Sprintf("e2e/w%d/k%03d", g, i), value: fmt.Sprintf("v-%d-%d-%x", g, i, rand.Uint32()),
					server: c.servers[rand.IntN(len(c.servers))], start: time.Now()}
				code, body, err := c.do(http.MethodPut, w.server, "/v1/kv/"+w.key, w.value, 10*time.Second)
				w.end = time.Now()
				mu.Lock()
				if err == nil && code == http.StatusOK && body == "true" {
					acked = append(acked, w)
				} else {
					failed++
				}
				mu.Unlock()
				if err != nil || code != http.StatusOK {
					time.Sleep(25 * time.Millisecond) // pace the failures so a failover does not use up the keys
				}
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	t.Cleanup(func() { <-writersDone }) // t.Context, cancelled first, stops them

	// Kill the leader a quarter of the way in, and time the first write
	// made after that to be acknowledged.
	eventually(t, 20*time.Second, "600 acknowledged writes before the kill", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 600, fmt.Sprintf("%d acknowledged", len(acked))
	})
	crashed := leader
	c.kill(crashed)
	killed := time.Now()
	survivors := c.others(crashed)
	var failover time.Duration
	eventually(t, 15*time.Second, "a write acknowledged after the leader's kill", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range acked {
			if w.start.After(killed) && (failover == 0 || w.end.Sub(killed) < failover) {
				failover = w.end.Sub(killed)
			}
		}
		return failover > 0, fmt.Sprintf("%d acknowledged, %d failed so far", len(acked), failed)
	})
	t.Logf("killed leader %s; first write acknowledged %v after the kill", crashed.name, failover)
	<-writersDone
	t.Logf("writers: %d acknowledged, %d failed or unknown", len(acked), failed)
	leader = c.waitLeader(survivors...)
	t.Logf("new leader %s", leader.name)
	for _, s := range survivors {
		c.checkAcked(s, acked, "consistent", 0)
		c.checkKeys(s, acked)
	}

	// The killed server, restarted, catches up.
	c.start(crashed)
	t.Logf("%s restarted", crashed.name)
	c.checkAcked(crashed, acked, "stale", 20*time.Second)

	// All three crash at once; restarted, they still hold every write.
	for _, s := range c.servers {
		c.kill(s)
	}
	for _, s := range c.servers {
		c.start(s)
	}
	leader = c.waitLeader(c.servers...)
	t.Logf("all three restarted, leader %s", leader.name)
	for _, s := range c.servers {
		c.checkAcked(s, acked, "consistent", 0)
	}
	c.checkKeys(leader, acked)
	c.checkRaftConfiguration(c.others(leader)[0], leader)

	// Last: with two servers gone, the one left (the leader) must step
	// down, and a write must say there is no leader.
	for _, s := range c.others(leader) {
		c.kill(s)
	}
	eventually(t, 10*time.Second, leader.name+" alone to know no leader", func() (bool, string) {
		code, body, err := c.do(http.MethodGet, leader, "/v1/status/leader", "", 2*time.Second)
		return err == nil && code == http.StatusOK && body == `""`, fmt.Sprintf("%d %s %v", code, body, err)
	})
	start := time.Now()
	code, body, err := c.do(http.MethodPut, leader, "/v1/kv/e2e/no-leader", "x", 10*time.Second)
	if err != nil || code != http.StatusInternalServerError || !strings.Contains(body, "No cluster leader") {
		t.Fatalf("PUT without a leader: %d %q %v after %v, want 500 \"No cluster leader\"", code, body, err, time.Since(start))
	}
}

// e2eWrite is one PUT a client made, and when.
type e2eWrite struct {
	key, value string
	server     *e2eServer
	start, end time.Time
}

// e2eServer is one server process: its address and ports, data dir and
// log file, and while it runs, its command.
type e2eServer struct {
	name, ip         string
	ports            agentPorts // the same across restarts
	dataDir, logPath string
	args             []string // the agent's flags besides -node, -bind, -client, -data-dir, -log-level and the ports
	cmd              *exec.Cmd
	exited           chan struct{} // closed once the process has been reaped
}

func (s *e2eServer) httpAddr() string   { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.HTTP)) }
func (s *e2eServer) dnsAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.DNS)) }
func (s *e2eServer) serverAddr() string { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.Server)) }
func (s *e2eServer) lanAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.SerfLAN)) }
func (s *e2eServer) wanAddr() string    { return net.JoinHostPort(s.ip, strconv.Itoa(s.ports.SerfWAN)) }

type e2eCluster struct {
	t       *testing.T
	bin     string
	servers []*e2eServer
	client  *http.Client
}

// newE2ECluster builds the binary and names the three servers, on
// 127.0.0.51-53, each retry-joining the three LAN gossip addresses.
func newE2ECluster(t *testing.T) *e2eCluster {
	c := newE2EProcesses(t)
	for i := 1; i <= 3; i++ {
		c.add(fmt.Sprintf("s%d", i), fmt.Sprintf("127.0.0.5%d", i), "-server", "-bootstrap-expect=3")
	}
	for _, s := range c.servers {
		for _, other := range c.servers {
			s.args = append(s.args, "-retry-join="+other.lanAddr())
		}
	}
	return c
}

// add names one more agent process, with its flags, on ip with the ports
// testPorts chose for it.
func (c *e2eCluster) add(name, ip string, args ...string) *e2eServer {
	dir := filepath.Dir(c.bin)
	s := &e2eServer{name: name, ip: ip, ports: testPorts(c.t, ip), dataDir: filepath.Join(dir, name),
		logPath: filepath.Join(dir, name+".log"), args: args}
	c.servers = append(c.servers, s)
	return s
}

// agentArgs are s's command line. A -retry-join or -retry-join-wan that
// names an agent of c by its address alone is given that agent's port
// (its host:port form): the agents here do not share the default ports.
func (c *e2eCluster) agentArgs(s *e2eServer) []string {
	args := []string{"agent", "-node=" + s.name, "-bind=" + s.ip, "-client=" + s.ip,
		"-data-dir=" + s.dataDir, "-log-level=debug", "-http-port=" + strconv.Itoa(s.ports.HTTP),
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
	return args
}

// newE2EProcesses builds the binary, for agents named with add; the
// cleanup kills whichever still runs and, if the test failed, prints their
// logs.
func newE2EProcesses(t *testing.T) *e2eCluster {
	dir := t.TempDir()
	c := &e2eCluster{t: t, bin: filepath.Join(dir, "miniconsul"),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			c.kill(s)
		}
		c.client.CloseIdleConnections()
		if !t.Failed() {
			return
		}
		for _, s := range c.servers {
			out, err := os.ReadFile(s.logPath)
			t.Logf("--- %s log (%v):\n%s", s.name, err, out)
		}
	})
	return c
}

// start runs s from its data dir, its output appended to its log file, and
// waits until it says it has bound every port: until then the addresses
// could be another process's (another run of this test).
func (c *e2eCluster) start(s *e2eServer) {
	c.t.Helper()
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	offset, _ := f.Seek(0, io.SeekEnd)
	fmt.Fprintf(f, "=== %s: starting %s\n", time.Now().Format(time.TimeOnly+".000"), s.name)
	cmd := exec.Command(c.bin, c.agentArgs(s)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", s.name, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.exited)
	eventually(c.t, 10*time.Second, s.name+" to log \"agent started\"", func() (bool, string) {
		select {
		case <-s.exited:
			c.t.Fatalf("%s exited while starting (its log is below)", s.name)
		default:
		}
		b, _ := os.ReadFile(s.logPath)
		return strings.Contains(string(b[min(offset, int64(len(b))):]), `msg="agent started"`), "not yet"
	})
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

// waitLeader waits until every server in live names the same leader, one
// of live, and returns it.
func (c *e2eCluster) waitLeader(live ...*e2eServer) *e2eServer {
	c.t.Helper()
	var leader *e2eServer
	eventually(c.t, 20*time.Second, "one leader agreed on by all live servers", func() (bool, string) {
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

// checkAcked reads every acknowledged write from s with ?raw&<query>; one
// that does not read back its value is read again until within has passed
// (0: read once).
func (c *e2eCluster) checkAcked(s *e2eServer, acked []e2eWrite, query string, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var (
		next atomic.Int64
		mu   sync.Mutex
		bad  []string
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(acked)); i = next.Add(1) - 1 {
				w := acked[i]
				for try := 0; ; try++ {
					code, body, err := c.do(http.MethodGet, s, "/v1/kv/"+w.key+"?raw&"+query, "", 10*time.Second)
					if err == nil && code == http.StatusOK && body == w.value {
						break
					}
					if try >= 1000 || !time.Now().Before(deadline) {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s (acknowledged by %s at %s): %d %q %v",
							w.key, w.server.name, w.end.Format(time.TimeOnly+".000"), code, body, err))
						mu.Unlock()
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		slices.Sort(bad)
		c.t.Errorf("%s, ?%s: %d of %d acknowledged writes do not read back, e.g.\n%s",
			s.name, query, len(bad), len(acked), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

// checkKeys checks that ?keys&consistent on s lists every acknowledged key.
func (c *e2eCluster) checkKeys(s *e2eServer, acked []e2eWrite) {
	c.t.Helper()
	code, body, err := c.do(http.MethodGet, s, "/v1/kv/?keys&consistent", "", 10*time.Second)
	var keys []string
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &keys) != nil {
		c.t.Errorf("%s: GET /v1/kv/?keys&consistent: %d %.200q %v", s.name, code, body, err)
		return
	}
	var missing []string
	for _, w := range acked {
		if !slices.Contains(keys, w.key) {
			missing = append(missing, w.key)
		}
	}
	if len(missing) > 0 {
		c.t.Errorf("%s: ?keys&consistent lists %d keys and misses %d acknowledged ones, e.g. %v",
			s.name, len(keys), len(missing), missing[:min(len(missing), 10)])
	}
}

// checkRaftConfiguration checks, on s, that the configuration lists the
// three servers (the agents run with -server) as voters, and leader alone
// as the leader.
func (c *e2eCluster) checkRaftConfiguration(s, leader *e2eServer) {
	c.t.Helper()
	code, body, err := c.do(http.MethodGet, s, "/v1/operator/raft/configuration", "", 10*time.Second)
	var conf struct{ Servers []raftServerInfo }
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &conf) != nil {
		c.t.Fatalf("%s: raft configuration: %d %q %v", s.name, code, body, err)
	}
	var voters, leaders []string
	for _, srv := range conf.Servers {
		if srv.Voter {
			voters = append(voters, srv.Node+"@"+srv.Address)
		}
		if srv.Leader {
			leaders = append(leaders, srv.Address)
		}
	}
	slices.Sort(voters)
	var want []string
	for _, srv := range c.servers {
		if slices.Contains(srv.args, "-server") {
			want = append(want, srv.name+"@"+srv.serverAddr())
		}
	}
	slices.Sort(want)
	if len(conf.Servers) != 3 || !slices.Equal(voters, want) || !slices.Equal(leaders, []string{leader.serverAddr()}) {
		c.t.Errorf("%s: raft configuration %s: want voters %s, leader %s alone", s.name, body, want, leader.name)
	}
}
