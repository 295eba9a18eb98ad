// cluster_e2e_test.go: the end-to-end test of a three-server cluster made
// of real processes (e2e_test.go's harness: this test binary re-executed as
// the agent), on 127.0.0.51-53, each on ports chosen at run time
// (testPorts) and told by flags, driven only over HTTP and killed with
// SIGKILL, as a crash is.
//
// Everything waits by polling with a deadline (eventually) and fails with
// what it last saw; each server's output is kept and printed if the test
// fails; every process is killed by its PID on cleanup.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
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
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three servers")
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
	// The reads above take seconds; on a loaded machine a missed heartbeat
	// may have moved leadership meanwhile: check the configuration against
	// the leader all agree on now.
	leader = c.waitLeader(c.servers...)
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

// newE2ECluster names the three servers, on 127.0.0.51-53, each
// retry-joining the three LAN gossip addresses.
func newE2ECluster(t *testing.T) *e2eCluster {
	c := newE2EProcesses(t)
	for i := 1; i <= 3; i++ {
		c.add(fmt.Sprintf("s%d", i), fmt.Sprintf("127.0.0.5%d", i), "-server", "-bootstrap-expect=3", "-log-level=debug")
	}
	for _, s := range c.servers {
		for _, other := range c.servers {
			s.args = append(s.args, "-retry-join="+other.lanAddr())
		}
	}
	return c
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
