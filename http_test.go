// http_test.go: tests of the rules every endpoint shares (http.go): bad
// input, blocking queries, and the HTTP server's timeouts (idle keep-alive
// connections, slowly sent or stalled bodies; the helpers dialFrom, getOn
// and readUntilClosed are agent_limits_test.go's).
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHTTPBadInput(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.expect("PUT", "/v1/kv/big", strings.Repeat("x", 512*1024+1), 413, "too large")
	ta.expect("PUT", "/v1/kv/", "v", 400, "Missing key name")
	ta.expect("GET", "/v1/kv/", "", 400, "Missing key name")
	ta.expect("PUT", "/v1/kv/k?flags=abc", "v", 400, "Invalid flags")
	ta.expect("PUT", "/v1/kv/k?cas=1&acquire=x", "v", 400, "Conflicting flags")
	ta.expect("POST", "/v1/kv/k", "v", 405, "not allowed")
	if r := ta.do("POST", "/v1/kv/k", "v"); r.header.Get("Allow") != "GET, PUT, DELETE" {
		t.Fatalf("Allow: %q", r.header.Get("Allow"))
	}
	ta.expect("GET", "/v1/kv/k?dc=elsewhere", "", 500, "No path to datacenter")
	ta.expect("GET", "/v1/kv/k?stale&consistent", "", 400, "Cannot specify ?stale with ?consistent")
	ta.expect("GET", "/v1/kv/k?index=x", "", 400, "Invalid index")
	ta.expect("GET", "/v1/kv/k?index=1&wait=forever", "", 400, "Invalid wait")
	ta.expect("PUT", "/v1/catalog/register", "{not json", 400, "Request decode failed")
	ta.expect("PUT", "/v1/catalog/register", `{"Node":"n"}`, 400, "Missing node address")
	ta.expect("PUT", "/v1/catalog/register", `{"Node":"n","Address":"1.2.3.4","Check":{"CheckID":"c","ServiceID":"nope"}}`, 400, "Unknown service")
	ta.expect("GET", "/v1/health/state/bogus", "", 400, "Invalid check state")
	ta.expect("PUT", "/v1/agent/service/register", `{"Port":80}`, 400, "Missing service name")
	ta.expect("PUT", "/v1/agent/check/register", `{"Name":"c"}`, 400, "TTL")
	ta.expect("PUT", "/v1/agent/check/register", `{"Name":"c","Args":["true"],"Interval":"1s"}`, 500, "Scripts are disabled") // 500, as Consul
	ta.expect("PUT", "/v1/agent/check/pass/nope", "", 404, "Unknown check ID")
	ta.expect("PUT", "/v1/agent/maintenance", "", 400, "Missing value for enable")
	ta.expect("PUT", "/v1/snapshot", "garbage", 500, "failed to read snapshot file: corrupt snapshot: not a miniconsul snapshot") // 500, as Consul
	// Nothing of the refused writes is there.
	if r := ta.do("GET", "/v1/catalog/node/n", ""); r.body != "null" {
		t.Fatalf("refused registration left a node: %s", r.body)
	}
}

// blockingGet starts a blocking GET and returns a channel with its answer.
func (ta *testAgent) blockingGet(path string) <-chan response {
	return ta.blockingGetContext(context.Background(), path)
}

// blockingGetContext starts a GET that ends when ctx does, and returns a
// channel with its answer.
func (ta *testAgent) blockingGetContext(ctx context.Context, path string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ta.base+path, nil)
		if err != nil {
			ch <- response{code: -1, body: err.Error()}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- response{code: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{resp.StatusCode, resp.Header, string(b)}
	}()
	return ch
}

func TestHTTPBlockingQueries(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/watched", "0", nil)
	idx := ta.must("GET", "/v1/kv/watched", "", nil).index()
	// Without a change, the query answers when its wait runs out, with the
	// same index.
	start := time.Now()
	r := <-ta.blockingGet(fmt.Sprintf("/v1/kv/watched?index=%d&wait=200ms", idx))
	if r.code != 200 || r.index() != idx || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("timed-out query: %d index %d after %v", r.code, r.index(), time.Since(start))
	}
	// A write to the key answers it at once, with the new value.
	ch := ta.blockingGet(fmt.Sprintf("/v1/kv/watched?index=%d&wait=1m", idx))
	ta.must("PUT", "/v1/kv/watched", "1", nil)
	r = <-ch
	if r.code != 200 || r.index() <= idx || !strings.Contains(r.body, `"Value":"MQ=="`) {
		t.Fatalf("woken query: %d %d %s", r.code, r.index(), r.body)
	}
	// A blocking query on a prefix advances when a key under it is deleted.
	ta.must("PUT", "/v1/kv/p/a", "1", nil)
	ta.must("PUT", "/v1/kv/p/b", "1", nil)
	list := ta.must("GET", "/v1/kv/p/?recurse", "", nil)
	ch = ta.blockingGet(fmt.Sprintf("/v1/kv/p/?recurse&index=%d&wait=1m", list.index()))
	ta.must("DELETE", "/v1/kv/p/a", "", nil)
	if r = <-ch; r.index() <= list.index() || strings.Contains(r.body, `"p/a"`) {
		t.Fatalf("prefix after delete: %d %s", r.index(), r.body)
	}
	// Health of one service: a registration of another does not answer it;
	// a change to it does.
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Service":{"Service":"web","Port":80}}`, nil)
	h := ta.must("GET", "/v1/health/service/web", "", nil)
	ch = ta.blockingGet(fmt.Sprintf("/v1/health/service/web?index=%d&wait=1m", h.index()))
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Service":{"Service":"db","Port":5432}}`, nil)
	select {
	case r := <-ch:
		t.Fatalf("registering db answered a query on web: %s", r.body)
	default:
	}
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext","Address":"10.1.1.1","Check":{"CheckID":"web-down","ServiceID":"web","Status":"critical"}}`, nil)
	if r = <-ch; r.index() <= h.index() || !strings.Contains(r.body, "web-down") {
		t.Fatalf("health of web after its check changed: %s", r.body)
	}
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
