package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzKVRequest throws arbitrary KV requests at the HTTP handler. Whatever
// comes in, the answer is one of Consul's, a server error never appears
// except for an unknown datacenter, and a PUT answered "true" is read back
// exactly.
func FuzzKVRequest(f *testing.F) {
	cfg := testConfig("fuzz")
	cfg.Ports.HTTP, cfg.Ports.DNS = -1, -1 // no listeners: requests go straight to the handler
	a, err := newAgent(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Shutdown)
	handler := a.http

	f.Add("PUT", "a/b", "flags=3", []byte("value"))
	f.Add("PUT", "a/b", "cas=0", []byte(""))
	f.Add("GET", "a/", "recurse&index=1&wait=1ms", []byte(nil))
	f.Add("GET", "", "keys&separator=/", []byte(nil))
	f.Add("DELETE", "a", "recurse&cas=1", []byte(nil))
	f.Add("PUT", "k", "acquire=x&release=y", []byte("v"))
	f.Add("GET", "k", "dc=other&stale&consistent", []byte(nil))
	f.Fuzz(func(t *testing.T, method, key, query string, body []byte) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		// Keep blocking queries short.
		if q.Has("index") {
			q.Set("wait", "1ms")
		}
		send := func(method, key string, q url.Values, body []byte) *httptest.ResponseRecorder {
			req := &http.Request{
				Method: method, URL: &url.URL{Path: kvPath + key, RawQuery: q.Encode()},
				Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			return rec
		}
		rec := send(method, key, q, body)
		switch rec.Code {
		case 200, 400, 404, 405, 413, 501:
		case 500:
			if !strings.Contains(rec.Body.String(), "No path to datacenter") {
				t.Fatalf("%s %q ?%s: 500 %s", method, key, query, rec.Body.String())
			}
		default:
			t.Fatalf("%s %q ?%s: unexpected status %d", method, key, query, rec.Code)
		}
		if method == "PUT" && rec.Code == 200 && rec.Body.String() == "true" {
			got := send("GET", key, url.Values{"raw": {""}}, nil)
			if got.Code != 200 || !bytes.Equal(got.Body.Bytes(), body) {
				t.Fatalf("PUT %q stored %q, read back %d %q", key, body, got.Code, got.Body.String())
			}
		}
	})
}

// BenchmarkBlockingQueryWake measures how long after a write its blocking
// query answers: from just before the PUT to the GET's answer.
func BenchmarkBlockingQueryWake(b *testing.B) {
	a, base := benchAgent(b)
	put := func(v int) uint64 {
		benchDo(b, "PUT", base+"/v1/kv/wake", fmt.Sprint(v))
		e, _ := a.store.snapshot().kvGet("wake")
		return e.ModifyIndex
	}
	idx := put(0)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		done := make(chan time.Time, 1)
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/v1/kv/wake?index=%d&wait=10s", base, idx))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- time.Now()
		}()
		// Write only once the query is waiting on the key.
		for !watched(a.store, "wake") {
			time.Sleep(50 * time.Microsecond)
		}
		start := time.Now()
		idx = put(i + 1)
		total += (<-done).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/wake")
}

func watched(s *Store, key string) bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.kvKeys[key]) > 0
}

func TestHTTPKV(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	if r := ta.must("PUT", "/v1/kv/greeting?flags=42", "hello", nil); r.body != "true" {
		t.Fatalf("PUT answered %q", r.body)
	}
	if r := ta.must("GET", "/v1/kv/greeting?raw", "", nil); r.body != "hello" {
		t.Fatalf("raw: %q", r.body)
	}
	var entries []KVEntry
	r := ta.must("GET", "/v1/kv/greeting", "", &entries)
	if len(entries) != 1 || string(entries[0].Value) != "hello" || entries[0].Flags != 42 || entries[0].CreateIndex == 0 {
		t.Fatalf("get: %+v", entries)
	}
	if !strings.Contains(r.body, `"Value":"aGVsbG8="`) {
		t.Fatalf("value not base64 in %s", r.body)
	}
	for _, h := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"} {
		if r.header.Get(h) == "" {
			t.Fatalf("missing %s", h)
		}
	}
	ta.must("PUT", "/v1/kv/dir/a", "1", nil)
	ta.must("PUT", "/v1/kv/dir/sub/b", "2", nil)
	ta.must("PUT", "/v1/kv/dir//double", "3", nil) // not "cleaned" into dir/double
	var keys []string
	ta.must("GET", "/v1/kv/dir/?keys&separator=/", "", &keys)
	if strings.Join(keys, ",") != "dir//,dir/a,dir/sub/" {
		t.Fatalf("keys: %v", keys)
	}
	ta.must("GET", "/v1/kv/?recurse", "", &entries)
	if len(entries) != 4 {
		t.Fatalf("recurse: %d entries", len(entries))
	}
	// A missing key is 404 with an empty body and the meta headers.
	miss := ta.do("GET", "/v1/kv/nope", "")
	if miss.code != 404 || miss.body != "" || miss.index() == 0 || miss.header.Get("X-Consul-LastContact") == "" {
		t.Fatalf("missing key: %d %q %v", miss.code, miss.body, miss.header)
	}
	// Check-and-set.
	cur := entries[0].ModifyIndex
	if r := ta.must("PUT", fmt.Sprintf("/v1/kv/dir/a?cas=%d", cur-1), "x", nil); r.body != "false" {
		t.Fatal("stale cas succeeded")
	}
	ta.must("GET", "/v1/kv/dir/a", "", &entries)
	if r := ta.must("PUT", fmt.Sprintf("/v1/kv/dir/a?cas=%d", entries[0].ModifyIndex), "x", nil); r.body != "true" {
		t.Fatal("current cas failed")
	}
	// Delete-tree.
	if r := ta.must("DELETE", "/v1/kv/dir/?recurse", "", nil); r.body != "true" {
		t.Fatalf("delete recurse: %q", r.body)
	}
	if r := ta.do("GET", "/v1/kv/dir/?recurse", ""); r.code != 404 {
		t.Fatalf("after delete-tree: %d", r.code)
	}
	if r := ta.must("PUT", "/v1/kv/empty", "", nil); r.body != "true" {
		t.Fatal(r.body)
	}
	if r := ta.must("GET", "/v1/kv/empty", "", nil); !strings.Contains(r.body, `"Value":null`) {
		t.Fatalf("empty value: %s", r.body)
	}
}
