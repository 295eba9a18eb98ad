// every.go: the one periodic loop, a shared helper for the agent's and the
// leader's background work that runs on a clock: the check reaper
// (agent_local.go) and autopilot (server_autopilot.go).
//
// Data flow: a goroutine of the agent (started with its WaitGroup's Go)
// calls every, which calls fn on each tick of a time.Ticker, and also,
// with everyOrWhen, whenever a kick arrives, until the agent's shutdown
// channel closes. Loops that also wait on other channels (the gossip
// events, the Raft and SWIM drivers) keep their own select.
//
// Concurrency: none of its own. fn runs on the calling goroutine, one call
// at a time; a call that outlasts the interval delays the next, and the
// ticks missed meanwhile are dropped (time.Ticker).
package main

import "time"

// every calls fn every interval, with the tick's time, until stop closes.
// The first call comes one interval after every starts.
func every(stop <-chan struct{}, interval time.Duration, fn func(now time.Time)) {
	everyOrWhen(stop, interval, nil, fn)
}

// everyOrWhen is every that also calls fn, with the time then, each time
// kick receives (a nil kick never does).
func everyOrWhen(stop <-chan struct{}, interval time.Duration, kick <-chan struct{}, fn func(now time.Time)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			fn(now)
		case <-kick:
			fn(time.Now())
		}
	}
}
