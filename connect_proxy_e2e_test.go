// connect_proxy_e2e_test.go: the mesh end to end with real processes: an
// agent, apps registered with sidecars, and `consul connect proxy
// -sidecar-for` processes between them.
//
// Data flow: the test registers "web" (an upstream to api on a local
// port) and two instances of "api", each with a SidecarService on this
// test's address and a port found free; it starts one proxy process per
// sidecar (this test binary re-executed as "consul connect proxy", as
// e2e_test.go runs agents); then it plays web's application, dialing the
// upstream port: web's proxy → mTLS → an api proxy → an api app that
// echoes and says which instance it is.
//
// Concurrency: each test owns its processes and apps; an app's accept
// loop runs on its own goroutine until the test's cleanup closes it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startProxyProcess runs `consul connect proxy args…` until it says its
// listeners are up; it is interrupted and waited for at cleanup, and its
// output shown if the test failed.
func startProxyProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	consul := filepath.Join(t.TempDir(), "consul")
	if err := os.Symlink(self, consul); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(consul, append([]string{"connect", "proxy", "-log-level=debug"}, args...)...)
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
	started, scanned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), `msg=listening listener="public listener"`) {
				once.Do(func() { close(started) })
			}
		}
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
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
			t.Logf("proxy %v (%v):\n%s", args, cmd.ProcessState, logs())
		}
	})
	select {
	case <-started:
	case <-scanned:
		t.Fatalf("proxy %v exited:\n%s", args, logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("proxy %v did not listen within 30 s:\n%s", args, logs())
	}
	return cmd
}

// startNamedEchoApp is an app that answers each line with its name and
// the line.
func startNamedEchoApp(t *testing.T, name string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s: %s\n", name, sc.Text())
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// askThrough sends one line through the upstream at addr and returns the
// answer ("" if the connection was refused or closed without one).
func askThrough(addr, line string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, line)
	answer, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(answer)
}

func TestConnectProxyE2E(t *testing.T) {
	t.Parallel()
	const ip = "127.0.0.116"
	c := newE2EProcesses(t)
	agent := c.add("mesh1", ip, "-dev")
	c.start(agent)
	put := func(path, body string) {
		t.Helper()
		if code, out, _ := agent.do(t, http.MethodPut, path, strings.NewReader(body), 10*time.Second); code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, code, out)
		}
	}
	register := func(id, name string, appPort int, sidecar map[string]any) int {
		t.Helper()
		port := freePort(t, ip)
		sidecar["Address"], sidecar["Port"] = ip, port
		body, _ := json.Marshal(map[string]any{"ID": id, "Name": name, "Port": appPort,
			"Connect": map[string]any{"SidecarService": sidecar}})
		put("/v1/agent/service/register", string(body))
		return port
	}
	upstream := net.JoinHostPort(ip, strconv.Itoa(freePort(t, ip)))
	_, upPort, _ := net.SplitHostPort(upstream)
	upstreamPort, _ := strconv.Atoi(upPort)
	register("web", "web", startNamedEchoApp(t, "web"), map[string]any{"Proxy": map[string]any{
		"Upstreams": []map[string]any{{"DestinationName": "api", "LocalBindAddress": ip, "LocalBindPort": upstreamPort}}}})
	register("api-1", "api", startNamedEchoApp(t, "api-1"), map[string]any{})
	register("api-2", "api", startNamedEchoApp(t, "api-2"), map[string]any{})

	httpAddr := "-http-addr=" + agent.httpAddr()
	startProxyProcess(t, httpAddr, "-sidecar-for=web")
	api1 := startProxyProcess(t, httpAddr, "-sidecar-for=api-1")
	startProxyProcess(t, httpAddr, "-sidecar-for=api-2")

	// Both api proxies pass their TCP check (every 10 s) and web's proxy
	// spreads connections over them.
	seen := map[string]bool{}
	eventually(t, 60*time.Second, "web reaches both api instances through its upstream", func() (bool, string) {
		answer := askThrough(upstream, "hello")
		if name, rest, ok := strings.Cut(answer, ": "); ok && rest == "hello" {
			seen[name] = true
		}
		return seen["api-1"] && seen["api-2"], answer
	})

	// deny web → api refuses new connections; allow restores them.
	put("/v1/connect/intentions/exact?source=web&destination=api", `{"Action":"deny"}`)
	eventually(t, 10*time.Second, "a deny refuses new connections", func() (bool, string) {
		answer := askThrough(upstream, "denied?")
		return answer == "", answer
	})
	for range 5 {
		if answer := askThrough(upstream, "denied?"); answer != "" {
			t.Fatalf("denied, yet %q", answer)
		}
	}
	put("/v1/connect/intentions/exact?source=web&destination=api", `{"Action":"allow"}`)
	eventually(t, 10*time.Second, "an allow restores new connections", func() (bool, string) {
		answer := askThrough(upstream, "allowed?")
		return strings.HasSuffix(answer, ": allowed?"), answer
	})

	// Killing api-1's proxy: every new connection gets to api-2, at once
	// (before the health check notices, the dial fails over).
	api1.Process.Kill()
	for i := range 10 {
		if answer := askThrough(upstream, "failover "+strconv.Itoa(i)); answer != "api-2: failover "+strconv.Itoa(i) {
			t.Fatalf("after api-1's proxy died, connection %d: %q", i, answer)
		}
	}
}
