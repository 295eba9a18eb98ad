// agent_gc.go: how much garbage the agent process lets grow before Go's
// collector runs, set from the live heap once a second.
//
// The collector starts a cycle when the heap reaches live × (1 + GOGC/100),
// and each cycle marks the whole live heap. A server's live heap is mostly
// the state store, so a fixed GOGC pulls two ways: 50 keeps the peak of a
// store of a million keys (480 MiB) within 1.5× of it (issue 15's memory
// goal), but collects a 10 MiB heap every 5 MiB allocated, which under a
// KV load of a few thousand requests a second was dozens of cycles a
// second and about a tenth of the servers' CPU (issue 15's profiles). So
// the agent asks for at least gcHeadroom of garbage, and at most half the
// live heap once that is larger:
//
//	GOGC = max(50, 100 × gcHeadroom / live)
//
// A GOGC in the environment wins: the tuner does not run. GOMEMLIMIT, if
// set, still bounds the heap (the runtime takes the lower goal).
//
// Concurrency: one goroutine, started by main for the process (GOGC is the
// process's, not an agent's: tests running many agents in one process
// leave it alone); it stops when stop closes.
package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	gcHeadroom   = 32 << 20 // garbage allowed to grow before a cycle, however small the live heap
	gcMinPercent = 50       // GOGC once the live heap is over twice gcHeadroom
)

// gcPercentFor is the GOGC for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live < gcHeadroom*100/gcMinPercent {
		return int(gcHeadroom * 100 / max(live, 1<<20))
	}
	return gcMinPercent
}

// tuneGC sets GOGC from the live heap now and once a second until stop
// closes, unless the environment sets GOGC.
func tuneGC(stop <-chan struct{}) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := -1
	set := func(time.Time) {
		metrics.Read(sample)
		p := gcPercentFor(sample[0].Value.Uint64())
		// SetGCPercent stops the world for a moment: only a change of more
		// than a tenth is worth one.
		if current < 0 || p*10 < current*9 || p*10 > current*11 {
			debug.SetGCPercent(p)
			current = p
		}
	}
	set(time.Now())
	go every(stop, time.Second, set)
}
