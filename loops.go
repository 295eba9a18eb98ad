// loops.go: the loops every long-lived goroutine of a server shares, a
// shared helper under the layers: every, the periodic loop (the check
// reaper, agent_local.go; autopilot, server_autopilot.go), acceptConns,
// a listener's accept loop (the RPC server, rpc.go; DNS over TCP, dns.go;
// gossip streams, swim_node.go), and followIndex, a blocking-query watch
// that never ends (the roots for the leaves, agent_connect_ca.go; the
// config entries for the proxies, agent_proxy_config.go), with
// retryBackoff, the pause after a failure.
//
// Data flow: a goroutine of the agent or of a server (started with its
// WaitGroup's Go) calls every, which calls fn on each tick of a
// time.Ticker, and also, with everyOrWhen, whenever a kick arrives, until
// the agent's shutdown channel closes; or acceptConns, which hands each
// accepted connection to the server's serve until the listener closes.
// Loops that also wait on other channels (the gossip events, the Raft and
// SWIM drivers) keep their own select.
//
// Concurrency: none of its own. fn and serve run on the calling goroutine,
// one call at a time; a call of fn that outlasts the interval delays the
// next, and the ticks missed meanwhile are dropped (time.Ticker). serve
// starts the goroutine that serves the connection.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// acceptBackoff is the pause after an Accept error other than a close.
const acceptBackoff = 50 * time.Millisecond

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

// acceptConns accepts connections from ln and hands each to serve, until
// ln is closed, or stopped (when not nil) says the server is stopping, or
// serve returns false. After any other Accept error it logs msg and pauses
// for acceptBackoff: out of descriptors, typically: let some close, as
// net/http does.
func acceptConns(ln net.Listener, stopped func() bool, logger *slog.Logger, msg string, serve func(c net.Conn) bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || (stopped != nil && stopped()) {
				return
			}
			logger.Warn(msg, "error", err)
			time.Sleep(acceptBackoff)
			continue
		}
		if !serve(c) {
			return
		}
	}
}

// retryBackoff is the pause after the failures-th failure in a row: 2 s,
// doubling, at most max.
func retryBackoff(failures int, max time.Duration) time.Duration {
	return min(time.Second<<min(failures, 6), max)
}

// followIndex runs a blocking-query watch until ctx ends: step waits for
// a result past index, acts on it and returns its index; a failure backs
// off (retryBackoff, at most a minute); an index that went back (a
// snapshot restore) starts over from 0.
func followIndex(ctx context.Context, step func(ctx context.Context, index uint64) (uint64, error)) {
	var index uint64
	failures := 0
	for ctx.Err() == nil {
		idx, err := step(ctx, index)
		if err != nil {
			failures++
			select {
			case <-time.After(retryBackoff(failures, time.Minute)):
			case <-ctx.Done():
			}
			continue
		}
		failures = 0
		if idx < index {
			idx = 0
		}
		index = idx
	}
}
