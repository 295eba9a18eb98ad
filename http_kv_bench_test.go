// http_kv_bench_test.go: the CPU and allocations of one KV read through an
// agent's http.Handler (issue 15, "Reads"), on a three-server cluster's
// leader and on a follower, in each consistency mode. The follower's
// default and ?consistent reads ask the leader for a read index over the
// server RPC; ?stale reads its own state.
//
//	go test -run '^$' -bench BenchmarkKVGet -benchmem .
package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkKVGet(b *testing.B) {
	c := startTestCluster(b, 3)
	leader := c.waitLeader(15 * time.Second)
	value := bytes.Repeat([]byte("v"), 128)
	c.agents[leader].must("PUT", "/v1/kv/bench/key-17", string(value), nil)
	servers := map[string]*testAgent{"leader": c.agents[leader], "follower": c.follower(leader)}
	for _, role := range []string{"leader", "follower"} {
		a := servers[role]
		for _, mode := range []string{"default", "consistent", "stale"} {
			target := "/v1/kv/bench/key-17"
			if mode != "default" {
				target += "?" + mode
			}
			b.Run(role+"/"+mode, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.RemoteAddr = "127.0.0.1:40000" // counted in api.http, as a real request
				w := &benchWriter{header: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					r := *req // a request of its own: the handler keeps its parsed query in r.Form
					clear(w.header)
					w.code, w.n = http.StatusOK, 0
					a.http.ServeHTTP(w, &r)
					if w.code != http.StatusOK || w.n == 0 {
						b.Fatalf("GET %s: %d, %d bytes", target, w.code, w.n)
					}
				}
			})
			// 16 reads at a time per core, as a server under kvbench's 32
			// clients sees them: default and ?consistent reads share read
			// indexes (server_read.go).
			b.Run(role+"/"+mode+"/parallel", func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.RemoteAddr = "127.0.0.1:40000"
				b.ReportAllocs()
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					w := &benchWriter{header: http.Header{}}
					for pb.Next() {
						r := *req
						clear(w.header)
						w.code, w.n = http.StatusOK, 0
						a.http.ServeHTTP(w, &r)
						if w.code != http.StatusOK || w.n == 0 {
							b.Errorf("GET %s: %d, %d bytes", target, w.code, w.n)
							return
						}
					}
				})
			})
		}
	}
}

// benchWriter is the least a ResponseWriter can do, so that the benchmark
// measures the handler rather than a recorder's copies.
type benchWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
