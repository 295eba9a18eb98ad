package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startProcCluster starts three servers as processes on ips, and a client
// agent on clientIP (e2e_test.go's harness, each with ports of its own),
// and returns the servers, the leader they agree on, and the client.
func startProcCluster(t *testing.T, ips []string, clientIP string, extra ...string) ([]*e2eServer, *e2eServer, *e2eServer) {
	c := newE2EProcesses(t)
	var servers []*e2eServer
	for i, ip := range ips {
		servers = append(servers, c.add(fmt.Sprintf("s%d", i+1), ip, append([]string{"-server", "-bootstrap-expect=3", "-dns-port=-1"}, extra...)...))
	}
	for _, s := range servers {
		for _, ip := range ips {
			s.args = append(s.args, "-retry-join="+ip) // the harness adds the port
		}
	}
	client := c.add("c1", clientIP, "-dns-port=-1", "-retry-join="+ips[0])
	for _, s := range c.servers {
		c.start(s)
	}
	return servers, c.waitLeader(servers...), client
}

// TestBug_BigSnapshotRestore: a 60 MB snapshot (110 values of 512 KiB),
// restored through the leader, then through a follower of three real
// servers, then through a client agent, reaches every server; before, the
// leader logged "entry … is over the limit" and stopped Raft, and a
// follower answered "rpc: frame over the size limit".
func TestBug_BigSnapshotRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("moves hundreds of MB through three processes")
	}
	t.Parallel()
	servers, leader, client := startProcCluster(t, []string{"127.0.0.121", "127.0.0.122", "127.0.0.123"}, "127.0.0.124")
	values := map[string][]byte{}
	for i := range 110 {
		v := make([]byte, 512<<10)
		rand.Read(v)
		key := fmt.Sprintf("big/%03d", i)
		values[key] = v
		// A set is idempotent: one refused while leadership moves (a
		// loaded machine can starve a heartbeat) is sent again, as a
		// client would.
		for deadline := time.Now().Add(30 * time.Second); ; {
			code, body, _ := leader.do(t, "PUT", "/v1/kv/"+key, bytes.NewReader(v), 30*time.Second)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("PUT %s: %d %s", key, code, body)
			}
			t.Logf("PUT %s: %d %s; sending it again", key, code, body)
			time.Sleep(100 * time.Millisecond)
		}
	}
	code, snap, _ := leader.do(t, "GET", "/v1/snapshot", nil, time.Minute)
	if code != 200 {
		t.Fatalf("GET /v1/snapshot: %d %s", code, snap)
	}
	t.Logf("snapshot: %.1f MB", float64(len(snap))/1e6)

	restoreVia := func(s *e2eServer, marker string) {
		t.Helper()
		if code, body, _ := leader.do(t, "PUT", "/v1/kv/"+marker, strings.NewReader("x"), 10*time.Second); code != 200 {
			t.Fatalf("PUT %s: %d %s", marker, code, body)
		}
		start := time.Now()
		code, body, _ := s.do(t, "PUT", "/v1/snapshot", bytes.NewReader(snap), 2*time.Minute)
		if code != 200 {
			t.Fatalf("restore through %s: %d %s", s.name, code, body)
		}
		t.Logf("restore of %.1f MB through %s: %v", float64(len(snap))/1e6, s.name, time.Since(start).Round(time.Millisecond))
		for _, c := range servers {
			eventually(t, 30*time.Second, c.name+" holds the restored state", func() bool {
				code, _, _ := c.do(t, "GET", "/v1/kv/"+marker+"?stale", nil, 5*time.Second)
				return code == 404
			})
			for _, key := range []string{"big/000", "big/057", "big/109"} {
				code, body, _ := c.do(t, "GET", "/v1/kv/"+key+"?stale&raw", nil, 10*time.Second)
				if code != 200 || !bytes.Equal(body, values[key]) {
					t.Fatalf("%s: %s after the restore: %d, %d bytes", c.name, key, code, len(body))
				}
			}
		}
		// Writes go on after it, on every server.
		if code, body, _ := s.do(t, "PUT", "/v1/kv/after-"+marker, strings.NewReader("y"), 10*time.Second); code != 200 {
			t.Fatalf("write after the restore: %d %s", code, body)
		}
	}
	restoreVia(leader, "through-leader")
	for _, s := range servers {
		if s != leader {
			restoreVia(s, "through-follower")
			break
		}
	}
	restoreVia(client, "through-client")
}

// TestBug_SnapshotRestoreRefusesGarbageEarly: a 300 MB body that is not a
// snapshot is refused at its first bytes, with Consul's status, and the
// agent neither reads it all nor grows; before, it read the whole body
// into memory (RSS 821 MB).
func TestBug_SnapshotRestoreRefusesGarbageEarly(t *testing.T) {
	t.Parallel()
	ports := testPorts(t, "127.0.0.1")
	cmd, _, _ := startAgentProcess(t, "agent", "-dev", "-node", "garbage", "-bind", "127.0.0.1", "-http-port", strconv.Itoa(ports.HTTP),
		"-dns-port", "-1", "-server-port", strconv.Itoa(ports.Server),
		"-serf-lan-port", strconv.Itoa(ports.SerfLAN), "-serf-wan-port", strconv.Itoa(ports.SerfWAN))
	s := &e2eServer{name: "garbage", ip: "127.0.0.1", ports: ports}
	body := &countingReader{left: 300 << 20}
	code, msg, _ := s.do(t, "PUT", "/v1/snapshot", body, time.Minute)
	if code != 500 || !strings.Contains(string(msg), "failed to read snapshot file: corrupt snapshot: not a miniconsul snapshot") {
		t.Fatalf("random body: %d %q", code, msg)
	}
	if read := body.read.Load(); read > 16<<20 {
		t.Fatalf("the agent read %d MB of a body whose first bytes are not a snapshot", read>>20)
	}
	rss := processRSS(t, cmd.Process.Pid)
	t.Logf("refused after %d KB of the body were sent; agent RSS %d MB", body.read.Load()>>10, rss>>20)
	if rss > 200<<20 {
		t.Fatalf("agent RSS %d MB after a refused body", rss>>20)
	}
	// A Consul snapshot (gzip) is named as such.
	code, msg, _ = s.do(t, "PUT", "/v1/snapshot", bytes.NewReader([]byte{0x1f, 0x8b, 8, 0, 0, 0}), 10*time.Second)
	if code != 500 || !strings.Contains(string(msg), "gzip stream, as Consul's snapshots are") {
		t.Fatalf("gzip body: %d %q", code, msg)
	}
}

// countingReader yields left random bytes and counts what was read. The
// HTTP transport may go on reading it after the answer came back.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.left - r.read.Load()
	if left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), left))
	for i := range p[:n] {
		p[i] = byte(mrand.Uint32())
	}
	r.read.Add(int64(n))
	return n, nil
}

// processRSS reads a process's resident set from /proc.
func processRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestBug_SnapshotRestoreLimit: a snapshot over the limit is refused with
// 413 once the limit is passed, and no spool is left behind.
func TestBug_SnapshotRestoreLimit(t *testing.T) {
	t.Parallel()
	st := newStore()
	st.apply(1, &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "k", Value: make([]byte, 4096)}}})
	var buf bytes.Buffer
	if err := writeSnapshot(st.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err := spoolSnapshot(bytes.NewReader(buf.Bytes()), dir, 1024, true)
	if he, ok := err.(*httpError); !ok || he.code != 413 {
		t.Fatalf("over the limit: %v", err)
	}
	path, got, err := spoolSnapshot(bytes.NewReader(buf.Bytes()), dir, int64(buf.Len()), true)
	if err != nil || got == nil {
		t.Fatalf("at the limit: %v", err)
	}
	os.Remove(path)
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("spool files left: %v", left)
	}
}

// TestBug_RaftStorageFailureExits: a server whose Raft storage fails exits
// with status 1 and a clear error, so the others can elect a leader;
// before, it stayed up claiming leadership and answered every request 500
// "raft is shut down".
func TestBug_RaftStorageFailureExits(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "snap.json")
	if err := os.WriteFile(cfg, []byte(`{"raft_snapshot_threshold": 8}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := testPorts(t, "127.0.0.1")
	cmd, logs, exited := startAgentProcess(t, "agent", "-server", "-bootstrap", "-node", "failing", "-bind", "127.0.0.1",
		"-data-dir", dataDir, "-config-file", cfg, "-http-port", strconv.Itoa(ports.HTTP), "-dns-port", "-1",
		"-server-port", strconv.Itoa(ports.Server), "-serf-lan-port", strconv.Itoa(ports.SerfLAN), "-serf-wan-port", strconv.Itoa(ports.SerfWAN))
	s := &e2eServer{name: "failing", ip: "127.0.0.1", ports: ports}
	eventually(t, 10*time.Second, "a leader", func() bool {
		code, body, _ := s.do(t, "GET", "/v1/status/leader", nil, time.Second)
		return code == 200 && len(body) > 2
	})
	// The state file can no longer be replaced: the compaction after the
	// next snapshot fails, and the log with it.
	breakStateFile(t, dataDir)
	for i := 0; i < 100; i++ {
		select {
		case <-exited:
			i = 100
			continue
		default:
		}
		s.do(t, "PUT", fmt.Sprintf("/v1/kv/k%d", i), strings.NewReader("v"), 2*time.Second)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		code, body, _ := s.do(t, "GET", "/v1/status/leader", nil, time.Second)
		t.Fatalf("still running after its storage failed; status/leader: %d %s\n%s", code, body, logs())
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, logs())
	}
	if !strings.Contains(logs(), "Raft storage failed: exiting") {
		t.Fatalf("no clear error in the log:\n%s", logs())
	}
}

// TestBug_RaftStorageFailureClientMovesOn: of three servers, the leader's
// Raft storage fails: it exits 1, the others elect a leader, and a client
// agent's writes go on through them; before, the failed leader kept
// claiming leadership, and a client stuck to it got 500 "raft is shut
// down" for over a minute.
func TestBug_RaftStorageFailureClientMovesOn(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "snap.json")
	if err := os.WriteFile(cfg, []byte(`{"raft_snapshot_threshold": 8}`), 0o600); err != nil {
		t.Fatal(err)
	}
	servers, leader, client := startProcCluster(t, []string{"127.0.0.131", "127.0.0.132", "127.0.0.133"}, "127.0.0.134",
		"-config-file="+cfg)
	eventually(t, 20*time.Second, "the client finds the servers", func() bool {
		code, _, _ := client.do(t, "PUT", "/v1/kv/warmup", strings.NewReader("v"), 5*time.Second)
		return code == 200
	})
	breakStateFile(t, leader.dataDir)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-leader.exited:
		default:
			if time.Now().After(deadline) {
				code, body, _ := leader.do(t, "GET", "/v1/status/leader", nil, time.Second)
				t.Fatalf("the leader still runs 20 s and %d writes later; its status/leader: %d %s", i, code, body)
			}
			client.do(t, "PUT", fmt.Sprintf("/v1/kv/k%d", i), strings.NewReader("v"), 2*time.Second)
			continue
		}
		break
	}
	leader.cmd.Wait()
	if code := leader.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("the failed leader exited with %d, want 1", code)
	}
	var rest []*e2eServer
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	start := time.Now()
	for i := range 20 {
		eventually(t, 20*time.Second, "a write through the client", func() bool {
			code, _, _ := client.do(t, "PUT", fmt.Sprintf("/v1/kv/after/%d", i), strings.NewReader("v"), 5*time.Second)
			return code == 200
		})
	}
	t.Logf("20 writes through the client within %v of the leader's exit", time.Since(start).Round(time.Millisecond))
	for _, s := range rest {
		code, body, _ := s.do(t, "GET", "/v1/kv/after/19?raw", nil, 5*time.Second)
		if code != 200 || string(body) != "v" {
			t.Fatalf("%s: after/19: %d %q", s.name, code, body)
		}
	}
}

// TestRestoreWakesBlockingQueries: after a restore the tables carry the
// snapshot's indexes, as Consul's do, so X-Consul-Index goes back; every
// blocking query returns at once rather than waiting for an index the
// store will not reach soon (Consul's abandoned state store).
func TestRestoreWakesBlockingQueries(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/k", "old", nil)
	snapIndex := ta.must("GET", "/v1/kv/k", "", nil).index()
	snap := ta.must("GET", "/v1/snapshot", "", nil)
	for i := range 5 {
		ta.must("PUT", "/v1/kv/k", fmt.Sprint(i), nil)
	}
	high := ta.must("GET", "/v1/kv/k", "", nil).index()
	waiting := ta.blockingGet(fmt.Sprintf("/v1/kv/k?index=%d&wait=30s", high))
	otherTable := ta.blockingGet(fmt.Sprintf("/v1/catalog/nodes?index=%d&wait=30s", ta.must("GET", "/v1/catalog/nodes", "", nil).index()))
	eventually(t, 5*time.Second, "both queries blocked", func() bool {
		ta.store.hub.mu.Lock()
		defer ta.store.hub.mu.Unlock()
		return len(ta.store.hub.kvKeys["k"]) > 0 && len(ta.store.hub.topics[indexNodes]) > 0
	})
	ta.must("PUT", "/v1/snapshot", snap.body, nil)
	for _, ch := range []<-chan response{waiting, otherTable} {
		select {
		case r := <-ch:
			if r.code != 200 {
				t.Fatalf("blocking query after the restore: %d %s", r.code, r.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a blocking query still waits after the restore")
		}
	}
	r := ta.must("GET", "/v1/kv/k", "", nil)
	if r.index() != snapIndex || !strings.Contains(r.body, `"ModifyIndex":`+fmt.Sprint(snapIndex)) {
		t.Fatalf("after the restore: X-Consul-Index %d, want the snapshot's %d; %s", r.index(), snapIndex, r.body)
	}
}

// TestCheckSnapshot: the constant-memory check an agent makes of a snapshot
// it passes on accepts a good one and refuses a damaged one.
func TestCheckSnapshot(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	fillStore(t, l, 300)
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if err := checkSnapshot(bytes.NewReader(good)); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	for name, b := range map[string][]byte{
		"flipped byte": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0x40; return b }(),
		"truncated":    good[:len(good)-10],
		"no checksum":  good[:len(good)-32],
		"appended":     append(bytes.Clone(good), 0),
		"magic only":   []byte(snapshotMagic),
		"empty":        nil,
		"gzip":         {0x1f, 0x8b, 8, 0},
	} {
		if err := checkSnapshot(bytes.NewReader(b)); !errors.Is(err, errCorruptSnapshot) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// breakStateFile makes a server's Raft state file impossible to replace: a
// directory where its temp file goes. The server may be writing that temp
// file at this very moment: then the directory goes in once it is renamed.
func breakStateFile(t *testing.T, dataDir string) {
	t.Helper()
	path := filepath.Join(dataDir, "raft", "state.tmp")
	eventually(t, 5*time.Second, "a directory at "+path, func() (bool, string) {
		err := os.Mkdir(path, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
		return err == nil, fmt.Sprint(err)
	})
}
