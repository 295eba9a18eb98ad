// cli_lock.go: "lock", Consul's command that runs a child process while
// holding a lock (-n 1) or one of -n slots of a semaphore in the KV store,
// with the semantics of Consul's API client (api.Lock, api.Semaphore), so
// that miniconsul's and Consul's lock commands exclude each other:
//
//   - a session (TTL 15s, the server's default lock-delay; behavior
//     "release" for a lock, "delete" for a semaphore) renewed every TTL/2
//     and destroyed when the command ends;
//   - a lock is <prefix>/.lock acquired with the session and the lock flag
//     value 0x2ddccbc058a50c18; a failed acquisition (lock-delay) retries
//     after 5s, a held one waits on a blocking query;
//   - a semaphore is a contender key <prefix>/<session> acquired with the
//     session, and <prefix>/.lock holding {"Limit":N,"Holders":{id:true}}
//     (flag 0xe0f69a2baa414de0), changed by check-and-set; holders whose
//     contender key lost its session are pruned;
//   - the child runs with CONSUL_LOCK_HELD=true; if the lock is lost
//     (a monitor's consistent blocking query) or the command gets SIGINT or
//     SIGTERM (forwarded to the child), the child gets SIGTERM, then
//     SIGKILL after 5s; then the lock is released and, if no one else holds
//     or waits on it, deleted. Exit 0 even when the child fails, unless
//     -child-exit-code (2).
//
// Data flow: flags → /v1/agent/self (is there an agent) → /v1/session/…
// and /v1/kv/… (http_session.go, http_kv.go) → the child process → release.
//
// Concurrency: the command runs on the caller's goroutine; beside it one
// goroutine renews the session, one monitors the held lock, one waits for
// the child, one takes the process's signals. They share only channels,
// and the child's process under lockRun.mu.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	lockFlagValue      = 0x2ddccbc058a50c18 // api.LockFlagValue
	semaphoreFlagValue = 0xe0f69a2baa414de0 // api.SemaphoreFlagValue
	lockSessionTTL     = 15 * time.Second   // api.DefaultLockSessionTTL
	lockWaitTime       = 15 * time.Second   // api.DefaultLockWaitTime
	lockRetryTime      = 5 * time.Second    // api.DefaultLockRetryTime
	lockKillGrace      = 5 * time.Second
	lockMonitorRetry   = time.Second
)

var (
	errLockConflict      = errors.New("Existing key does not match lock use")
	errLockInUse         = errors.New("Lock in use")
	errSemaphoreConflict = errors.New("Existing key does not match semaphore use")
	errSemaphoreInUse    = errors.New("Semaphore in use")
)

func lockCommands() []cliCommand {
	return []cliCommand{{name: "lock", synopsis: "Execute a command holding a lock",
		help: cliFlagsUsage(lockHelp, newLockFlags(&lockOptions{})), run: runLock}}
}

const lockHelp = `Usage: consul lock [options] prefix child...

  Acquires a lock or semaphore at a given path, and invokes a child process
  when successful. The child process can assume the lock is held while it
  executes. If the lock is lost or communication is disrupted the child
  process will be sent a SIGTERM signal and given time to gracefully exit.
  After the grace period expires the process will be hard terminated.

  For Consul agents on Windows, the child process is always hard terminated
  with a SIGKILL, since Windows has no POSIX compatible notion for SIGTERM.

  When -n=1, only a single lock holder or leader exists providing mutual
  exclusion. Setting a higher value switches to a semaphore allowing multiple
  holders to coordinate.

  The prefix provided must have write privileges.`

// lockOptions are the command's flags.
type lockOptions struct {
	childExitCode, passStdin, shell, verbose bool
	limit, monitorRetry                      int
	name                                     string
	timeout                                  time.Duration
}

func newLockFlags(o *lockOptions) *cliFlags {
	f := newCLIFlags(true, true)
	f.BoolVar(&o.childExitCode, "child-exit-code", false, "Exit 2 if the child process exited with an error if this is true, otherwise this doesn't propagate an error from the child. The default value is false.")
	f.IntVar(&o.limit, "n", 1, "Optional limit on the number of concurrent lock holders. The underlying implementation switches from a lock to a semaphore when the value is greater than 1. The default value is 1.")
	f.IntVar(&o.monitorRetry, "monitor-retry", 3, "Number of times to retry if Consul returns a 500 error while monitoring the lock. This allows riding out brief periods of unavailability without causing leader elections, but increases the amount of time required to detect a lost lock in some cases. The default value is 3, with a 1s wait between retries. Set this value to 0 to disable retires.")
	f.StringVar(&o.name, "name", "", "Optional name to associate with the lock session. It not provided, one is generated based on the provided child command.")
	f.BoolVar(&o.passStdin, "pass-stdin", false, "Pass stdin to the child process.")
	f.BoolVar(&o.shell, "shell", true, "Use a shell to run the command (can set a custom shell via the SHELL environment variable).")
	f.DurationVar(&o.timeout, "timeout", 0, "Maximum amount of time to wait to acquire the lock, specified as a duration like \"1s\" or \"3h\". The default value is 0.")
	f.BoolVar(&o.verbose, "verbose", false, "Enable verbose (debugging) output.")
	f.DurationVar(&o.timeout, "try", 0, "DEPRECATED. Use -timeout instead.")
	return f
}

// lockRun is one run of the command.
type lockRun struct {
	c       *cliEnv
	cl      *cliClient
	o       lockOptions
	prefix  string
	session string
	renewCh chan struct{} // closed to stop renewing and destroy the session
	renewed chan struct{} // closed when the renewing goroutine has ended

	mu    sync.Mutex
	child *os.Process // guarded by mu
}

func (l *lockRun) info(format string, args ...any) {
	if l.o.verbose {
		fmt.Fprintf(l.c.stdout, format+"\n", args...)
	}
}

func runLock(c *cliEnv, args []string) int {
	l := &lockRun{c: c}
	f := newLockFlags(&l.o)
	if !f.parse(c, args) {
		return 1
	}
	if l.o.limit <= 0 {
		c.errorf("Lock holder limit must be positive")
		return 1
	}
	extra := f.Args()
	if len(extra) < 2 {
		c.errorf("Key prefix and child command must be specified")
		return 1
	}
	l.prefix = strings.TrimPrefix(extra[0], "/")
	if l.o.timeout < 0 {
		c.errorf("Timeout must be positive")
		return 1
	}
	if l.o.name == "" {
		l.o.name = fmt.Sprintf("Consul lock for '%s' at '%s'", strings.Join(extra[1:], " "), l.prefix)
	}
	if l.o.monitorRetry < 0 {
		c.errorf("Number for 'monitor-retry' must be >= 0")
		return 1
	}
	if l.cl = f.connect(c); l.cl == nil {
		return 1
	}
	if _, err := l.cl.call("GET", "/v1/agent/self", nil, nil, nil); err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}

	// SIGINT and SIGTERM: forwarded to the child, and the command shuts
	// down (kills the child, releases).
	shutdown := make(chan struct{})
	sigCh := make(chan os.Signal, 4)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigCh)
	done := make(chan struct{})
	defer close(done)
	go func() {
		var once sync.Once
		for {
			select {
			case sig := <-sigCh:
				l.mu.Lock()
				if l.child != nil {
					if err := l.child.Signal(sig); err != nil {
						c.errorf("Warning, could not forward signal: failed to send signal %q: %v", sig, err)
					}
				}
				l.mu.Unlock()
				once.Do(func() { close(shutdown) })
			case <-done:
				return
			}
		}
	}()

	semaphore := l.o.limit > 1
	if semaphore {
		l.info("Setting up semaphore (limit %d) at prefix: %s", l.o.limit, l.prefix)
	} else {
		l.info("Setting up lock at path: %s", path.Join(l.prefix, ".lock"))
	}
	l.info("Attempting lock acquisition")
	var lost <-chan struct{}
	var err error
	if semaphore {
		lost, err = l.acquireSemaphore(shutdown)
	} else {
		lost, err = l.acquireLock(shutdown)
	}
	if lost == nil {
		if err == nil {
			c.errorf("Shutdown triggered or timeout during lock acquisition")
		} else {
			c.errorf("Lock acquisition failed: %s", err)
		}
		return 1
	}

	childCode := 0
	select {
	case <-shutdown:
		c.errorf("Shutdown triggered during lock acquisition")
	default:
		childErr := make(chan error, 1)
		go func() { childErr <- l.startChild(extra[1:]) }()
		select {
		case <-shutdown:
			l.info("Shutdown triggered, killing child")
			l.killChild(childErr)
		case <-lost:
			l.info("Lock lost, killing child")
			l.killChild(childErr)
		case err := <-childErr:
			if err != nil {
				childCode = 2
			}
			l.info("Child terminated, releasing lock")
		}
	}

	var inUse error
	if semaphore {
		err, inUse = l.releaseSemaphore(), errSemaphoreInUse
	} else {
		err, inUse = l.releaseLock(), errLockInUse
	}
	if err != nil {
		c.errorf("Lock release failed: %s", err)
		return 1
	}
	if semaphore {
		err = l.destroySemaphore()
	} else {
		err = l.destroyLock()
	}
	switch {
	case err == nil:
		l.info("Cleanup succeeded")
	case err != inUse:
		c.errorf("Lock cleanup failed: %s", err)
		return 1
	default:
		l.info("Cleanup aborted, lock in use")
	}
	if l.o.childExitCode {
		return childCode
	}
	return 0
}

// startChild runs the child to its end; its error is Wait's.
func (l *lockRun) startChild(args []string) error {
	l.info("Starting handler")
	var cmd *exec.Cmd
	if l.o.shell {
		shell := l.c.getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		cmd = exec.Command(shell, "-c", strings.Join(args, " "))
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	cmd.Env = append(os.Environ(), "CONSUL_LOCK_HELD=true")
	if l.o.passStdin {
		l.info("Stdin passed to handler process")
		cmd.Stdin = l.c.stdin
	}
	cmd.Stdout, cmd.Stderr = l.c.stdout, l.c.stderr
	l.mu.Lock()
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		l.c.errorf("Error starting handler: %s", err)
		return err
	}
	l.child = cmd.Process
	l.mu.Unlock()
	if err := cmd.Wait(); err != nil {
		l.c.errorf("Error running handler: %s", err)
		return err
	}
	return nil
}

// killChild sends the child SIGTERM, then SIGKILL after the grace period.
func (l *lockRun) killChild(childErr <-chan error) {
	l.mu.Lock()
	child := l.child
	l.mu.Unlock()
	if child == nil {
		// The child goroutine may still be starting it: wait for it briefly.
		select {
		case <-childErr:
			return
		case <-time.After(100 * time.Millisecond):
		}
		l.mu.Lock()
		child = l.child
		l.mu.Unlock()
		if child == nil {
			l.info("No child process to kill")
			return
		}
	}
	l.info("Terminating child pid %d", child.Pid)
	if err := child.Signal(syscall.SIGTERM); err != nil {
		l.c.errorf("Failed to terminate %d: %v", child.Pid, err)
		return
	}
	select {
	case <-childErr:
		l.info("Child terminated")
		return
	case <-time.After(lockKillGrace):
		l.info("Child did not exit after grace period of %v", lockKillGrace)
	}
	l.info("Killing child pid %d", child.Pid)
	if err := child.Signal(syscall.SIGKILL); err != nil {
		l.c.errorf("Failed to kill %d: %v", child.Pid, err)
	}
}

// --- session ---

// createSession makes the session and starts renewing it every TTL/2
// until renewCh closes, which destroys it.
func (l *lockRun) createSession(behavior string) error {
	body, _ := json.Marshal(map[string]string{"Name": l.o.name, "TTL": lockSessionTTL.String(), "Behavior": behavior})
	var out struct{ ID string }
	if _, err := l.cl.call("PUT", "/v1/session/create", nil, strings.NewReader(string(body)), &out); err != nil {
		return err
	}
	l.session, l.renewCh, l.renewed = out.ID, make(chan struct{}), make(chan struct{})
	go func(id string, stop <-chan struct{}, ended chan<- struct{}) {
		defer close(ended)
		t := time.NewTicker(lockSessionTTL / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				resp, err := l.cl.do("PUT", "/v1/session/renew/"+id, nil, nil)
				if err == nil && resp.code == 404 {
					return // expired: the monitor sees the lock go
				}
			case <-stop:
				l.cl.do("PUT", "/v1/session/destroy/"+id, nil, nil)
				return
			}
		}
	}(l.session, l.renewCh, l.renewed)
	return nil
}

// endSession stops renewing and destroys the session before it returns
// (Consul's client destroys it in the background, and its process often
// exits first, leaving the session to its TTL).
func (l *lockRun) endSession() {
	if l.renewCh != nil {
		close(l.renewCh)
		<-l.renewed
		l.renewCh = nil
	}
}

// --- KV ---

// lockKV is an entry of /v1/kv as the API sends it.
type lockKV struct {
	Key         string
	Flags       uint64
	Value       []byte
	Session     string
	ModifyIndex uint64
}

// kvGet reads key (recurse: the prefix's entries), blocking past index
// for at most wait if index > 0; a missing key is no entries.
func (l *lockRun) kvGet(key string, recurse, consistent bool, index uint64, wait time.Duration) ([]lockKV, uint64, error) {
	q := url.Values{}
	if recurse {
		q.Set("recurse", "")
	}
	if consistent {
		q.Set("consistent", "")
	}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
	}
	if wait > 0 {
		q.Set("wait", fmt.Sprintf("%dms", wait.Milliseconds()))
	}
	resp, err := l.cl.do("GET", "/v1/kv/"+key, q, nil)
	if err != nil {
		return nil, 0, err
	}
	if resp.code == 404 {
		return nil, resp.index(), nil
	}
	if resp.code != 200 {
		return nil, 0, &errCLIStatus{resp.code, string(resp.body)}
	}
	var out []lockKV
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, 0, err
	}
	return out, resp.index(), nil
}

// kvWrite is a PUT or DELETE of key with the query q; it answers whether
// the store took it.
func (l *lockRun) kvWrite(method, key string, q url.Values, value []byte) (bool, error) {
	var ok bool
	_, err := l.cl.call(method, "/v1/kv/"+key, q, strings.NewReader(string(value)), &ok)
	return ok, err
}

// retryable: a 500 or a transport error, as the API client's IsRetryableError.
func retryable(err error) bool {
	var se *errCLIStatus
	return !errors.As(err, &se) || se.code == 500
}

// waitTime is the wait of the next blocking query: the rest of -timeout
// after the first attempt, or the default; ok is false once it is over.
func (l *lockRun) waitTime(start time.Time, attempts int) (time.Duration, bool) {
	if l.o.timeout > 0 && attempts > 0 {
		elapsed := time.Since(start)
		if elapsed > l.o.timeout {
			return 0, false
		}
		return l.o.timeout - elapsed, true
	}
	if l.o.timeout > 0 {
		return l.o.timeout, true
	}
	return lockWaitTime, true
}

// monitor closes the returned channel when held(the key's entries) turns
// false, after monitor-retry retries of failed reads.
func (l *lockRun) monitor(key string, held func([]lockKV) bool) <-chan struct{} {
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		var index uint64
		retries := l.o.monitorRetry
		for {
			kvs, idx, err := l.kvGet(key, false, true, index, 0)
			if err != nil {
				if retries > 0 && retryable(err) {
					time.Sleep(lockMonitorRetry)
					retries--
					index = 0
					continue
				}
				return
			}
			if !held(kvs) {
				return
			}
			index, retries = idx, l.o.monitorRetry
		}
	}()
	return lost
}

// nextWait is the wait of the next blocking read of api.Lock's and
// api.Semaphore's loops: false once shutdown is closed or the timeout
// has passed.
func (l *lockRun) nextWait(shutdown <-chan struct{}, start time.Time, attempts *int) (time.Duration, bool) {
	select {
	case <-shutdown:
		return 0, false
	default:
	}
	wait, ok := l.waitTime(start, *attempts)
	*attempts++
	return wait, ok
}

// --- lock ---

// acquireLock takes <prefix>/.lock as api.Lock.Lock does: nil, nil when
// the shutdown or the timeout came first.
func (l *lockRun) acquireLock(shutdown <-chan struct{}) (<-chan struct{}, error) {
	key := path.Join(l.prefix, ".lock")
	if err := l.createSession("release"); err != nil {
		return nil, fmt.Errorf("failed to create session: %v", err)
	}
	held := false
	defer func() {
		if !held {
			l.endSession()
		}
	}()
	start, attempts := time.Now(), 0
	var index uint64
	for {
		wait, ok := l.nextWait(shutdown, start, &attempts)
		if !ok {
			return nil, nil
		}
		kvs, idx, err := l.kvGet(key, false, false, index, wait)
		if err != nil {
			return nil, fmt.Errorf("failed to read lock: %v", err)
		}
		if len(kvs) > 0 && kvs[0].Flags != lockFlagValue {
			return nil, errLockConflict
		}
		if len(kvs) > 0 && kvs[0].Session == l.session {
			break
		}
		if len(kvs) > 0 && kvs[0].Session != "" {
			index = idx
			continue
		}
		q := url.Values{"acquire": {l.session}, "flags": {strconv.FormatUint(lockFlagValue, 10)}}
		locked, err := l.kvWrite("PUT", key, q, nil)
		if err != nil {
			return nil, fmt.Errorf("failed to acquire lock: %v", err)
		}
		if locked {
			break
		}
		// Not taken: someone holds it, or its lock-delay runs.
		kvs, idx, err = l.kvGet(key, false, false, 0, wait)
		if err != nil {
			return nil, err
		}
		if len(kvs) > 0 && kvs[0].Session != "" {
			index = idx
			continue
		}
		index = 0
		select {
		case <-time.After(lockRetryTime):
		case <-shutdown:
			return nil, nil
		}
	}
	held = true
	session := l.session
	return l.monitor(key, func(kvs []lockKV) bool { return len(kvs) > 0 && kvs[0].Session == session }), nil
}

// releaseLock releases the lock and ends the session, as api.Lock.Unlock.
func (l *lockRun) releaseLock() error {
	defer l.endSession()
	q := url.Values{"release": {l.session}, "flags": {strconv.FormatUint(lockFlagValue, 10)}}
	_, err := l.kvWrite("PUT", path.Join(l.prefix, ".lock"), q, nil)
	return err
}

// destroyLock deletes the lock's key unless someone holds it.
func (l *lockRun) destroyLock() error {
	key := path.Join(l.prefix, ".lock")
	kvs, _, err := l.kvGet(key, false, false, 0, 0)
	if err != nil {
		return fmt.Errorf("failed to read lock: %v", err)
	}
	if len(kvs) == 0 {
		return nil
	}
	if kvs[0].Flags != lockFlagValue {
		return errLockConflict
	}
	if kvs[0].Session != "" {
		return errLockInUse
	}
	ok, err := l.kvWrite("DELETE", key, url.Values{"cas": {strconv.FormatUint(kvs[0].ModifyIndex, 10)}}, nil)
	if err != nil {
		return fmt.Errorf("failed to remove lock: %v", err)
	}
	if !ok {
		return errLockInUse
	}
	return nil
}

// --- semaphore ---

// semaphoreLock is the JSON of <prefix>/.lock.
type semaphoreLock struct {
	Limit   int
	Holders map[string]bool
}

// semaphoreState finds the lock entry among the prefix's entries (a
// missing one is a new lock of limit) and prunes its dead holders.
func (l *lockRun) semaphoreState(kvs []lockKV) (lockKV, *semaphoreLock, error) {
	key := path.Join(l.prefix, ".lock")
	entry := lockKV{Key: key, Flags: semaphoreFlagValue}
	for _, kv := range kvs {
		if kv.Key == key {
			entry = kv
		}
	}
	if entry.Flags != semaphoreFlagValue {
		return entry, nil, errSemaphoreConflict
	}
	lock := &semaphoreLock{Limit: l.o.limit, Holders: map[string]bool{}}
	if len(entry.Value) > 0 {
		if err := json.Unmarshal(entry.Value, lock); err != nil {
			return entry, nil, fmt.Errorf("lock decoding failed: %v", err)
		}
		if lock.Holders == nil {
			lock.Holders = map[string]bool{}
		}
	}
	alive := map[string]bool{}
	for _, kv := range kvs {
		if kv.Session != "" {
			alive[kv.Session] = true
		}
	}
	for h := range lock.Holders {
		if !alive[h] {
			delete(lock.Holders, h)
		}
	}
	return entry, lock, nil
}

// casLock writes lock over the entry of modify index index.
func (l *lockRun) casLock(lock *semaphoreLock, index uint64) (bool, error) {
	b, _ := json.Marshal(lock)
	q := url.Values{"cas": {strconv.FormatUint(index, 10)}, "flags": {strconv.FormatUint(semaphoreFlagValue, 10)}}
	return l.kvWrite("PUT", path.Join(l.prefix, ".lock"), q, b)
}

// acquireSemaphore takes a slot as api.Semaphore.Acquire does.
func (l *lockRun) acquireSemaphore(shutdown <-chan struct{}) (<-chan struct{}, error) {
	if err := l.createSession("delete"); err != nil {
		return nil, fmt.Errorf("failed to create session: %v", err)
	}
	held := false
	defer func() {
		if !held {
			l.endSession()
		}
	}()
	q := url.Values{"acquire": {l.session}, "flags": {strconv.FormatUint(semaphoreFlagValue, 10)}}
	made, err := l.kvWrite("PUT", path.Join(l.prefix, l.session), q, nil)
	if err != nil || !made {
		return nil, fmt.Errorf("failed to make contender entry: %v", err)
	}
	start, attempts := time.Now(), 0
	var index uint64
	for {
		wait, ok := l.nextWait(shutdown, start, &attempts)
		if !ok {
			return nil, nil
		}
		kvs, idx, err := l.kvGet(l.prefix, true, false, index, wait)
		if err != nil {
			return nil, fmt.Errorf("failed to read prefix: %v", err)
		}
		entry, lock, err := l.semaphoreState(kvs)
		if err != nil {
			return nil, err
		}
		if lock.Limit != l.o.limit {
			return nil, fmt.Errorf("semaphore limit conflict (lock: %d, local: %d)", lock.Limit, l.o.limit)
		}
		if len(lock.Holders) >= lock.Limit {
			index = idx
			continue
		}
		lock.Holders[l.session] = true
		ok, err = l.casLock(lock, entry.ModifyIndex)
		if err != nil {
			return nil, fmt.Errorf("failed to update lock: %v", err)
		}
		if ok {
			break
		}
	}
	held = true
	session := l.session
	return l.monitor(path.Join(l.prefix, ".lock"), func(kvs []lockKV) bool {
		if len(kvs) == 0 {
			return false
		}
		var lock semaphoreLock
		return json.Unmarshal(kvs[0].Value, &lock) == nil && lock.Holders[session]
	}), nil
}

// releaseSemaphore leaves the holders, deletes the contender key and ends
// the session, as api.Semaphore.Release.
func (l *lockRun) releaseSemaphore() error {
	defer l.endSession()
	key := path.Join(l.prefix, ".lock")
	for {
		kvs, _, err := l.kvGet(key, false, false, 0, 0)
		if err != nil {
			return err
		}
		entry := lockKV{}
		if len(kvs) > 0 {
			entry = kvs[0]
		}
		var lock semaphoreLock
		if len(entry.Value) > 0 {
			if err := json.Unmarshal(entry.Value, &lock); err != nil {
				return fmt.Errorf("lock decoding failed: %v", err)
			}
		}
		if !lock.Holders[l.session] {
			break
		}
		delete(lock.Holders, l.session)
		ok, err := l.casLock(&lock, entry.ModifyIndex)
		if err != nil {
			return fmt.Errorf("failed to update lock: %v", err)
		}
		if ok {
			break
		}
	}
	_, err := l.kvWrite("DELETE", path.Join(l.prefix, l.session), nil, nil)
	return err
}

// destroySemaphore deletes <prefix>/.lock unless it has live holders.
func (l *lockRun) destroySemaphore() error {
	kvs, _, err := l.kvGet(l.prefix, true, false, 0, 0)
	if err != nil {
		return fmt.Errorf("failed to read prefix: %v", err)
	}
	entry, lock, err := l.semaphoreState(kvs)
	if err != nil {
		return err
	}
	if entry.ModifyIndex == 0 {
		return nil
	}
	if len(lock.Holders) > 0 {
		return errSemaphoreInUse
	}
	ok, err := l.kvWrite("DELETE", entry.Key, url.Values{"cas": {strconv.FormatUint(entry.ModifyIndex, 10)}}, nil)
	if err != nil {
		return fmt.Errorf("failed to remove semaphore: %v", err)
	}
	if !ok {
		return errSemaphoreInUse
	}
	return nil
}
