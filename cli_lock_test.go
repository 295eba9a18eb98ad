// cli_lock_test.go: "lock" against an in-process dev agent: its usage
// errors and exit codes in-process; and, with the test binary re-executed
// as the CLI (MINICONSUL_MAIN=1), that two lock processes on one prefix
// never run their children at the same time, that a semaphore admits -n
// holders, that SIGTERM to a holder releases at once, and that a SIGKILLed
// holder keeps the lock until its session expires (2×TTL) and the
// lock-delay passes, as the session's rules say.
package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCLILockUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	cases := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"lock"}, 1, "", "Key prefix and child command must be specified\n"},
		{[]string{"lock", "p"}, 1, "", "Key prefix and child command must be specified\n"},
		{[]string{"lock", "-n", "0", "p", "true"}, 1, "", "Lock holder limit must be positive\n"},
		{[]string{"lock", "-timeout=-1s", "p", "true"}, 1, "", "Timeout must be positive\n"},
		{[]string{"lock", "-monitor-retry=-1", "p", "true"}, 1, "", "Number for 'monitor-retry' must be >= 0\n"},
		{[]string{"lock", "p", "false"}, 0, "", "Error running handler: exit status 1\n"},
		{[]string{"lock", "-child-exit-code", "p", "false"}, 2, "", "Error running handler: exit status 1\n"},
		{[]string{"lock", "-child-exit-code", "p", "true"}, 0, "", ""},
		{[]string{"lock", "-shell=false", "p", "echo", "a", "b"}, 0, "a b\n", ""},
		{[]string{"lock", "p", "echo $CONSUL_LOCK_HELD"}, 0, "true\n", ""},
		{[]string{"lock", "-verbose", "p", "echo", "hi"}, 0, "Setting up lock at path: p/.lock\nAttempting lock acquisition\nStarting handler\nhi\nChild terminated, releasing lock\nCleanup succeeded\n", ""},
		{[]string{"lock", "-verbose", "-n", "2", "sem", "echo", "hi"}, 0, "Setting up semaphore (limit 2) at prefix: sem\nAttempting lock acquisition\nStarting handler\nhi\nChild terminated, releasing lock\nCleanup succeeded\n", ""},
	}
	for _, tc := range cases {
		out, errOut, code := runCLI(t, env, "", tc.args...)
		if code != tc.code || out != tc.stdout || errOut != tc.stderr {
			t.Errorf("%v: %d %q %q", tc.args, code, out, errOut)
		}
	}
	if out, _, code := runCLI(t, env, "piped\n", "lock", "-pass-stdin", "p", "cat"); code != 0 || out != "piped\n" {
		t.Errorf("-pass-stdin: %d %q", code, out)
	}
	if _, errOut, code := runCLI(t, env, "", "lock", "-bogus", "p", "true"); code != 1 || !strings.HasPrefix(errOut, "flag provided but not defined: -bogus\n") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	dead := map[string]string{"CONSUL_HTTP_ADDR": closedPort(t)}
	if _, errOut, code := runCLI(t, dead, "", "lock", "p", "true"); code != 1 || !strings.HasPrefix(errOut, "Error querying Consul agent: Get ") {
		t.Errorf("dead agent: %d %q", code, errOut)
	}
	// Everything released and cleaned up: no keys, no sessions.
	if r := ta.do("GET", "/v1/kv/?recurse", ""); r.code != 404 {
		t.Errorf("keys left: %d %s", r.code, r.body)
	}
	if r := ta.do("GET", "/v1/session/list", ""); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("sessions left: %s", r.body)
	}
	// A key that is not a lock is refused.
	ta.do("PUT", "/v1/kv/other/.lock", "x")
	if _, errOut, code := runCLI(t, env, "", "lock", "other", "true"); code != 1 || errOut != "Lock acquisition failed: Existing key does not match lock use\n" {
		t.Errorf("conflict: %d %q", code, errOut)
	}
}

// lockProcess starts the test binary as "consul lock args…" against ta,
// in its own process group; it returns the command and its output file.
func lockProcess(t *testing.T, ta *testAgent, args ...string) (*exec.Cmd, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	consul := filepath.Join(dir, "consul")
	if err := os.Symlink(self, consul); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(consul, append([]string{"lock"}, args...)...)
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1", "CONSUL_HTTP_ADDR="+strings.TrimPrefix(ta.base, "http://"))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, out
}

// lockHolder is the session holding prefix/.lock ("" if none).
func lockHolder(ta *testAgent, prefix string) string {
	var kvs []struct {
		Session string
		Flags   uint64
	}
	r := ta.do("GET", "/v1/kv/"+prefix+"/.lock", "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &kvs) != nil || len(kvs) == 0 || kvs[0].Flags != lockFlagValue {
		return ""
	}
	return kvs[0].Session
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two lock processes on one prefix: their children never overlap; both
// run, one after the other, and the lock key is gone at the end.
func TestCLILockMutualExclusion(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	log := filepath.Join(t.TempDir(), "log")
	child := "echo start >> " + log + "; sleep 1; echo end >> " + log
	a, _ := lockProcess(t, ta, "shared", child)
	b, _ := lockProcess(t, ta, "shared", child)
	for _, cmd := range []*exec.Cmd{a, b} {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(log)
	if string(got) != "start\nend\nstart\nend\n" {
		t.Errorf("children overlapped: %q", got)
	}
	if r := ta.do("GET", "/v1/kv/shared/.lock", ""); r.code != 404 {
		t.Errorf("lock key left: %d %s", r.code, r.body)
	}
}

// A semaphore of 2: two holders at once, a third waits; the lock entry
// is Consul's JSON with the flag value.
func TestCLILockSemaphore(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	log := filepath.Join(t.TempDir(), "log")
	for range 3 {
		// Each child says when it starts and ends (appends of one line).
		lockProcess(t, ta, "-n", "2", "sem", "echo start >> "+log+"; sleep 1; echo end >> "+log)
	}
	var lock struct {
		Limit   int
		Holders map[string]bool
	}
	waitFor(t, 10*time.Second, "two holders", func() bool {
		var kvs []struct {
			Value []byte
			Flags uint64
		}
		r := ta.do("GET", "/v1/kv/sem/.lock", "")
		return json.Unmarshal([]byte(r.body), &kvs) == nil && len(kvs) == 1 && kvs[0].Flags == semaphoreFlagValue &&
			json.Unmarshal(kvs[0].Value, &lock) == nil && len(lock.Holders) == 2
	})
	if lock.Limit != 2 {
		t.Errorf("limit %d, want 2", lock.Limit)
	}
	var lines []string
	waitFor(t, 20*time.Second, "the three children ran", func() bool {
		b, _ := os.ReadFile(log)
		lines = strings.Fields(string(b))
		return len(lines) == 6
	})
	running, most := 0, 0
	for _, l := range lines {
		if l == "start" {
			running++
		} else {
			running--
		}
		most = max(most, running)
	}
	if most > 2 { // two holders at once were seen above, in the lock itself
		t.Errorf("%d children ran at once, over the limit of 2: %v", most, lines)
	}
}

// SIGTERM to the holder: the child is stopped and the lock released at
// once; the waiter runs right after.
func TestCLILockSIGTERMReleases(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	dir := t.TempDir()
	holder, out := lockProcess(t, ta, "-verbose", "p", "exec sleep 30")
	waitFor(t, 10*time.Second, "the holder", func() bool { return lockHolder(ta, "p") != "" })
	waiter, _ := lockProcess(t, ta, "p", "touch "+filepath.Join(dir, "ran"))
	// The waiter contends once its session exists (it tries to acquire
	// right after creating it, then blocks on the lock key).
	waitFor(t, 10*time.Second, "the waiter's session", func() bool {
		var sessions []Session
		ta.must("GET", "/v1/session/list", "", &sessions)
		return len(sessions) == 2
	})
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil || lockHolder(ta, "p") == "" {
		t.Fatal("the waiter ran while the lock was held")
	}
	start := time.Now()
	holder.Process.Signal(syscall.SIGTERM)
	if err := holder.Wait(); err != nil {
		t.Errorf("holder: %v", err)
	}
	if err := waiter.Wait(); err != nil {
		t.Errorf("waiter: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("waiter ran: %v after %v", err, time.Since(start))
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "Shutdown triggered, killing child\n") {
		t.Errorf("holder's output: %q", b)
	}
}

// SIGKILL to the holder (and its child): the lock stays held by its
// session until the session expires (2×TTL after its last renewal), and
// the waiter gets it only after the lock-delay (15s) that follows.
func TestCLILockSIGKILLWaitsForSession(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a session TTL")
	}
	t.Parallel()
	ta := startTestAgent(t, nil)
	dir := t.TempDir()
	holder, _ := lockProcess(t, ta, "p", "exec sleep 120")
	waitFor(t, 10*time.Second, "the holder", func() bool { return lockHolder(ta, "p") != "" })
	session := lockHolder(ta, "p")
	syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
	killed := time.Now()
	waiter, _ := lockProcess(t, ta, "p", "touch "+filepath.Join(dir, "ran"))
	time.Sleep(2 * time.Second)
	if lockHolder(ta, "p") != session {
		t.Fatal("the killed holder's session lost the lock before its TTL")
	}
	if err := waiter.Wait(); err != nil {
		t.Fatalf("waiter: %v", err)
	}
	took := time.Since(killed)
	if _, err := os.Stat(filepath.Join(dir, "ran")); err != nil {
		t.Fatal("the waiter did not run")
	}
	// Expiry at most 2×15s after the last renewal (≤7.5s before the kill),
	// then 15s of lock-delay, then the client's 5s retry.
	if took < 15*time.Second || took > 2*lockSessionTTL+lockRetryTime+20*time.Second {
		t.Errorf("the waiter got the lock %v after the kill", took)
	}
}
