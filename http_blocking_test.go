// http_blocking_test.go: blocking queries at scale (issue 15's "Also"):
// many waiters on one KV key woken by one write (a benchmark of the wake
// round), and catalog watchers of many services, of which a change must
// answer only those of the service (or node) it touched.
package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hubWatchers counts the watches registered on a topic or an exact KV key,
// under the hub's lock.
func hubWatchers(s *Store, topic, kvKey string) int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.topics[topic]) + len(s.hub.kvKeys[kvKey])
}

// blockingWakeWaiters: in one process both ends of every connection count
// against the open-file limit (20,000 on the machine measured), so the
// in-process figure uses half of the 10,000 waiters that
// /work/r4/tools/blockwake holds on a real agent process.
const blockingWakeWaiters = 5000

// BenchmarkKVBlockingWake holds blockingWakeWaiters blocking GETs of one key,
// then writes the key: each round's wake latency is the time from just before
// the PUT to each waiter's answer (p50/p99/max over all rounds), and the
// process's CPU (agent and clients together, getrusage) per waiter woken.
func BenchmarkKVBlockingWake(b *testing.B) {
	ta := startTestAgent(b, func(c *Config) { c.Ports.DNS, c.HTTPMaxConnsPerClient = -1, 0 })
	tr := &http.Transport{MaxIdleConnsPerHost: blockingWakeWaiters + 1, MaxConnsPerHost: blockingWakeWaiters + 1}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	get := func(path string) (uint64, error) {
		resp, err := client.Get(ta.base + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return response{header: resp.Header}.index(), nil
	}
	ta.must("PUT", "/v1/kv/wake", "0", nil)
	idx, err := get("/v1/kv/wake")
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	var cpu time.Duration
	b.ResetTimer()
	for round := range b.N {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			start  time.Time
			errs   []error
			latOne = make([]time.Duration, 0, blockingWakeWaiters)
		)
		mu.Lock() // held until start is set
		for range blockingWakeWaiters {
			wg.Go(func() {
				_, err := get(fmt.Sprintf("/v1/kv/wake?index=%d&wait=5m", idx))
				done := time.Now()
				mu.Lock()
				defer mu.Unlock()
				latOne = append(latOne, done.Sub(start))
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		eventually(b, 2*time.Minute, "every waiter blocked", func() bool {
			return hubWatchers(ta.store, "", "wake") == blockingWakeWaiters
		})
		before := processCPU(b)
		start = time.Now()
		mu.Unlock()
		ta.must("PUT", "/v1/kv/wake", fmt.Sprint(round+1), nil)
		wg.Wait()
		cpu += processCPU(b) - before
		if len(errs) > 0 {
			b.Fatalf("%d waiters failed, first: %v", len(errs), errs[0])
		}
		lat = append(lat, latOne...)
		if idx, err = get("/v1/kv/wake"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(len(lat)), "cpu-µs/waiter")
}

// processCPU is this process's user and system time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
