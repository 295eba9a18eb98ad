// http_limits_test.go: what one client can hold of the agent's listeners
// (issue 11, item 6): connections per source IP on the HTTP API and the
// server port, idle keep-alive connections, slowly sent bodies, and a
// descriptor flood against the real binary within a lowered ulimit -n.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src (127.0.0.x).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getOn sends a GET on c and reads its answer.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: agent\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// readUntilClosed reads c until the peer closes it, within the deadline,
// and returns what arrived; a close with our bytes unread is a reset.
func readUntilClosed(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the agent did not close the connection within %v: %v (read %q)", within, err, b)
	}
	return string(b)
}

// TestBug_HTTPConnsPerClient: one IP could hold any number of connections
// (issue 11, item 6). Beyond limits.http_max_conns_per_client, a
// connection gets Consul's 429, byte for byte, and is closed; another IP
// is served at once, and a freed place is taken again.
func TestBug_HTTPConnsPerClient(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.HTTPMaxConnsPerClient = 4 })
	addr := ta.HTTPAddrs()[0]
	var held []net.Conn
	for range 4 {
		c := dialFrom(t, "127.0.0.1", addr)
		if resp := getOn(t, c, bufio.NewReader(c), "/v1/status/leader"); resp.StatusCode != 200 {
			t.Fatalf("a connection within the limit: %s", resp.Status)
		}
		held = append(held, c)
	}
	const want = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 81\r\n" +
		"Connection: close\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n"
	if got := readUntilClosed(t, dialFrom(t, "127.0.0.1", addr), 5*time.Second); got != want {
		t.Fatalf("over the limit:\n got %q\nwant %q", got, want)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if resp := getOn(t, other, bufio.NewReader(other), "/v1/status/leader"); resp.StatusCode != 200 {
		t.Fatalf("another IP: %s", resp.Status)
	}
	held[0].Close()
	eventually(t, 5*time.Second, "a freed place taken again", func() bool {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /v1/status/leader HTTP/1.1\r\nHost: agent\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err == nil && resp.StatusCode == 200
	})
}

// TestBug_HTTPIdleTimeout: an idle keep-alive connection stayed open for
// good (issue 11, item 6); http_config.idle_timeout closes it.
func TestBug_HTTPIdleTimeout(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.HTTPIdleTimeout = 300 * time.Millisecond })
	c := dialFrom(t, "127.0.0.1", ta.HTTPAddrs()[0])
	br := bufio.NewReader(c)
	if resp := getOn(t, c, br, "/v1/status/leader"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %s, close %v", resp.Status, resp.Close)
	}
	start := time.Now()
	readUntilClosed(t, c, 5*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

// TestBug_HTTPSlowBody: a body sent slowly was held for good (issue 11,
// item 6); http_config.read_timeout cuts it off, and nothing is written.
func TestBug_HTTPSlowBody(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.HTTPReadTimeout = 500 * time.Millisecond })
	c := dialFrom(t, "127.0.0.1", ta.HTTPAddrs()[0])
	fmt.Fprintf(c, "PUT /v1/kv/slow HTTP/1.1\r\nHost: agent\r\nContent-Length: 1000\r\n\r\nsome")
	readUntilClosed(t, c, 5*time.Second)
	ta.expect("GET", "/v1/kv/slow", "", 404, "")
}

// TestBug_HTTPStalledBody: within read_timeout (15m by default), a body
// that stops arriving is cut off once it has sent nothing for the stall
// timeout; a body that keeps arriving, however slowly, is read.
func TestBug_HTTPStalledBody(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.http.bodyStall = 300 * time.Millisecond
	c := dialFrom(t, "127.0.0.1", ta.HTTPAddrs()[0])
	fmt.Fprintf(c, "PUT /v1/kv/stalled HTTP/1.1\r\nHost: agent\r\nContent-Length: 1000\r\n\r\nsome")
	readUntilClosed(t, c, 5*time.Second)
	ta.expect("GET", "/v1/kv/stalled", "", 404, "")

	c = dialFrom(t, "127.0.0.1", ta.HTTPAddrs()[0])
	fmt.Fprintf(c, "PUT /v1/kv/trickled HTTP/1.1\r\nHost: agent\r\nContent-Length: 5\r\n\r\n")
	for _, b := range []byte("slow!") {
		time.Sleep(100 * time.Millisecond) // each byte within the stall timeout; the whole body beyond it
		c.Write([]byte{b})
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("trickled body: %v %v", resp, err)
	}
	if r := ta.do("GET", "/v1/kv/trickled?raw", ""); r.body != "slow!" {
		t.Errorf("trickled value: %q", r.body)
	}
}

// TestHTTPBlockingQueryOutlastsReadTimeout: the read timeout covers the
// request, not the wait of a blocking query, on a kept-alive connection.
func TestHTTPBlockingQueryOutlastsReadTimeout(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.HTTPReadTimeout = 300 * time.Millisecond })
	ta.must("PUT", "/v1/kv/k", "v", nil)
	c := dialFrom(t, "127.0.0.1", ta.HTTPAddrs()[0])
	br := bufio.NewReader(c)
	resp := getOn(t, c, br, "/v1/kv/k")
	start := time.Now()
	path := fmt.Sprintf("/v1/kv/k?index=%s&wait=1s", resp.Header.Get("X-Consul-Index"))
	if resp := getOn(t, c, br, path); resp.StatusCode != 200 {
		t.Fatalf("blocking query: %s", resp.Status)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("the blocking query returned after %v, before its wait", d)
	}
}

// TestBug_RPCConnsPerClient: limits.rpc_max_conns_per_client: beyond it a
// connection to the server port is closed at once, as Consul does; another
// IP still connects.
func TestBug_RPCConnsPerClient(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.RPCMaxConnsPerClient = 3 })
	addr := ta.rpcServer.Addr().String()
	for range 3 {
		dialFrom(t, "127.0.0.1", addr)
	}
	readUntilClosed(t, dialFrom(t, "127.0.0.1", addr), 5*time.Second)
	other := dialFrom(t, "127.0.0.2", addr)
	other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var ne net.Error
	if _, err := other.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a connection from another IP: %v, want it kept open", err)
	}
}

// TestBug_HTTPDescriptorFlood runs the real binary within ulimit -n 256 and
// opens more connections from one IP than it has descriptors: with 1,024
// descriptors, 1,007 idle connections made the API unreachable (issue 11,
// item 6). The API stays reachable from another IP and the agent lives.
func TestBug_HTTPDescriptorFlood(t *testing.T) {
	t.Parallel()
	ports := testPorts(t, "127.0.0.1")
	_, logs, exited := startAgentProcessAfter(t, "ulimit -n 256", "agent", "-dev", "-node", "flood",
		"-bind", "127.0.0.1", "-client", "127.0.0.1", "-http-port", strconv.Itoa(ports.HTTP), "-dns-port", "-1",
		"-server-port", strconv.Itoa(ports.Server), "-serf-lan-port", strconv.Itoa(ports.SerfLAN), "-serf-wan-port", strconv.Itoa(ports.SerfWAN))
	addr := "127.0.0.1:" + strconv.Itoa(ports.HTTP)
	conns := make([]net.Conn, 300) // bounded; every one is closed at cleanup
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", addr)
	}
	// The 200 allowed wait for a request; the others are answered 429.
	got := make([][]byte, len(conns))
	refused := func() int {
		n := 0
		for i, c := range conns {
			if !strings.HasPrefix(string(got[i]), "HTTP/1.1 429 ") {
				c.SetReadDeadline(time.Now().Add(time.Millisecond))
				b, _ := io.ReadAll(c)
				got[i] = append(got[i], b...)
			}
			if strings.HasPrefix(string(got[i]), "HTTP/1.1 429 ") {
				n++
			}
		}
		return n
	}
	eventually(t, 5*time.Second, "100 of 300 connections refused with 429", func() bool { return refused() >= 100 })
	if n := refused(); n != 100 {
		t.Errorf("%d of 300 connections refused with 429, want the 100 over the 200 allowed", n)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if resp := getOn(t, other, bufio.NewReader(other), "/v1/status/leader"); resp.StatusCode != 200 {
		t.Fatalf("another IP during the flood: %s", resp.Status)
	}
	select {
	case <-exited:
		t.Fatalf("the agent died:\n%s", logs())
	default:
	}
}

// TestAgentFileLimitTooLow: as Consul, the agent refuses to start when its
// descriptor limit cannot hold limits.http_max_conns_per_client and 20.
func TestAgentFileLimitTooLow(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `ulimit -n 100 && exec "$0" "$@"`, self, "agent", "-dev", "-http-port", "-1", "-dns-port", "-1")
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1")
	out, err := cmd.CombinedOutput()
	const want = "error starting agent: system allows a max of 100 file descriptors, but limits.http_max_conns_per_client: 200 needs at least 220"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("exit %v, output:\n%s\nwant %q", err, out, want)
	}
}
