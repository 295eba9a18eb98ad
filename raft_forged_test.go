// raft_forged_test.go: issue 11, item 1, against real processes
// (e2e_test.go's harness: this test binary re-executed as the agent): three
// servers on three loopback addresses of their own, with ports picked free
// at run time.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newProcCluster names n servers, on addresses in a random 127.a.b.0/24
// (nobody else uses them), each with ports of its own (testPorts), each
// retry-joining the others; e2eCluster.start runs one.
func newProcCluster(t *testing.T, n int) *e2eCluster {
	c := newE2EProcesses(t)
	base := fmt.Sprintf("127.%d.%d.", 100+rand.IntN(150), rand.IntN(250))
	for i := 1; i <= n; i++ {
		c.add(fmt.Sprintf("s%d", i), base+strconv.Itoa(i), "-server", "-bootstrap-expect="+strconv.Itoa(n), "-dns-port=-1")
	}
	for _, s := range c.servers {
		for _, other := range c.servers {
			s.args = append(s.args, "-retry-join="+other.lanAddr())
		}
	}
	return c
}

// raftStats reads a server's Raft state from /v1/agent/self.
func raftStats(s *e2eServer) (state string, term uint64, err error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + s.httpAddr() + "/v1/agent/self")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var self struct{ Stats map[string]map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&self); err != nil {
		return "", 0, err
	}
	term, err = strconv.ParseUint(self.Stats["raft"]["term"], 10, 64)
	return self.Stats["raft"]["state"], term, err
}

// waitLeader waits until one server leads and the others follow in its
// term, which must be sane, and returns the leader and the term.
func waitRaftLeader(c *e2eCluster, within time.Duration) (*e2eServer, uint64) {
	c.t.Helper()
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var leader *e2eServer
		terms := map[uint64]bool{}
		var seen []string
		for _, s := range c.servers {
			state, term, err := raftStats(s)
			seen = append(seen, fmt.Sprintf("%s: %s term %d %v", s.name, state, term, err))
			if err != nil {
				continue
			}
			terms[term] = true
			if state == "Leader" {
				leader = s
			}
		}
		last = strings.Join(seen, "; ")
		for term := range terms {
			if term > 1000 {
				c.t.Fatalf("a server took an insane term: %s", last)
			}
		}
		if leader != nil && len(terms) == 1 {
			for term := range terms {
				return leader, term
			}
		}
	}
	for _, s := range c.servers {
		c.t.Logf("%s's log:\n%s", s.name, s.logs())
	}
	c.t.Fatalf("no stable leader within %v: %s", within, last)
	return nil, 0
}

// forgedFrame is the attack: the raft-stream kind byte, then one
// raft frame, a heartbeat response from a made-up node with Term 2^64-1.
func forgedFrame() []byte {
	payload := encodeRaftMessage(nil, &raftMessage{Type: msgHeartbeatResp, From: "evil-node", FromAddr: "10.6.6.6:8300",
		To: "leader", Term: math.MaxUint64, Seq: 1})
	frame, err := appendFrame([]byte{rpcConnRaft}, rpcFrame{typ: rpcFrameRaft, body: payload})
	if err != nil {
		panic(err)
	}
	return frame
}

func sendRaw(t *testing.T, addr string, b []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Issue 11, item 1: one forged ~60-byte frame made every server adopt
// Term = 2^64-1; the next election wrapped to term 0, and no leader was
// ever elected again, even after restarting all three.
func TestBug_ForgedRaftFrameThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	t.Parallel()
	c := newProcCluster(t, 3)
	for _, s := range c.servers {
		c.start(s)
	}
	leader, term := waitRaftLeader(c, 30*time.Second)
	t.Logf("leader %s in term %d", leader.name, term)

	frame := forgedFrame()
	t.Logf("forged frame: %d bytes", len(frame))
	for range 20 { // many times: the drop is logged once
		for _, s := range c.servers {
			sendRaw(t, s.serverAddr(), frame)
		}
	}
	for _, s := range c.servers { // until each has taken the frame, one way or the other
		eventually(t, 10*time.Second, s.name+" takes the frame", func() bool {
			_, term, err := raftStats(s)
			return strings.Contains(s.logs(), "dropping a raft message") || err == nil && term > 1000
		})
	}
	after, term2 := waitRaftLeader(c, 15*time.Second)
	if after != leader || term2 != term {
		t.Errorf("the forged frame moved leadership: %s term %d → %s term %d", leader.name, term, after.name, term2)
	}
	for _, s := range c.servers {
		var drops []string
		for _, line := range strings.Split(s.logs(), "\n") {
			if strings.Contains(line, "dropping a raft message") {
				drops = append(drops, line)
			}
		}
		if len(drops) != 1 || !strings.Contains(drops[0], "from=evil-node") || !strings.Contains(drops[0], "remote=127.") ||
			!strings.Contains(drops[0], "not in this server's Raft configuration") {
			t.Errorf("%s: the drop is not logged once with its sender: %q", s.name, drops)
		}
	}

	// All three restarted from their data directories elect a leader.
	for _, s := range c.servers {
		go s.cmd.Process.Signal(syscall.SIGINT)
	}
	for _, s := range c.servers {
		c.stop(s)
	}
	for _, s := range c.servers {
		c.start(s)
	}
	leader, term = waitRaftLeader(c, 30*time.Second)
	t.Logf("after restarting all three: leader %s in term %d", leader.name, term)
}

// Issue 11, item 1: a term of 2^64-1 persisted in the data dir (as the
// forged frame left it) made every restart wrap the term; the agent now
// refuses to start and says how to recover.
func TestBug_RaftPersistedTermBeyondLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	t.Parallel()
	c := newProcCluster(t, 1)
	s := c.servers[0]
	c.start(s)
	waitRaftLeader(c, 15*time.Second)
	c.stop(s)
	w, ws, err := openWAL(s.dataDir, walOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := ws.HardState
	hs.Term = math.MaxUint64
	if err := w.setHardState(hs); err != nil {
		t.Fatal(err)
	}
	w.close()
	out := runAgentToExit(t, c.agentArgs(s)...)
	want := fmt.Sprintf("the Raft state in %s has term %d, beyond the limit", filepath.Join(s.dataDir, "raft"), uint64(math.MaxUint64))
	if !strings.Contains(out, want) || !strings.Contains(out, "move "+s.dataDir+"/raft aside") {
		t.Fatalf("the agent's output does not say what is wrong and how to recover:\n%s", out)
	}
	t.Logf("the agent refused to start: %s", strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
}
