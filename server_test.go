package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Issue 11: a follower answered a call of an unknown method "not the
// leader", so a caller would go on to ask the leader; every server now
// says the method is unknown.
func TestBug_UnknownRPCMethodOnFollower(t *testing.T) {
	t.Parallel()
	// A server waiting to be added to a cluster: it is not the leader.
	ta := startTestAgent(t, func(c *Config) { c.DevMode, c.Bootstrap = false, false })
	if ta.raft.isLeader() {
		t.Fatal("the server leads")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := ta.pool.call(ctx, ta.serverAddr(), "Raft.Frobnicate", nil)
	if err == nil || err.Error() != `unknown rpc method "Raft.Frobnicate"` {
		t.Fatalf("answer: %v", err)
	}
	// A known leader-only call still says where to go.
	if _, err := ta.pool.call(ctx, ta.serverAddr(), rpcRaftApply, nil); err == nil || err.Error() != errNotLeader.Error() {
		t.Fatalf("Raft.Apply on a follower: %v", err)
	}
}

// A caller that gives up on a write stops its wait, promptly and with its
// context's error, and nothing else: a command already proposed is still
// committed and applied whole (issue 12 §2).
func TestApplyCancelledWait(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	// Hold the Raft loop: the proposal waits in proposeCh, not applied.
	release, held := make(chan struct{}), make(chan struct{})
	go ta.raft.onLoop(context.Background(), func() { close(held); <-release })
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := ta.apply(ctx, &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "slow", Value: []byte("v")}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("apply: %v, want %v", err, context.Canceled)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("apply returned %v after its caller gave up", d)
	}
	close(release)
	// The command was proposed before the caller gave up: it is applied,
	// whole, once the loop runs again.
	res, err := ta.apply(context.Background(), &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "after", Value: []byte("w")}}})
	if err != nil || res.err != nil {
		t.Fatalf("the next write: %v %v", err, res.err)
	}
	if e, _ := ta.store.snapshot().kvGet("slow"); e == nil || string(e.Value) != "v" {
		t.Fatalf("the abandoned write: %+v", e)
	}

	// A follower with no leader waits up to rpcHoldTimeout for one; a
	// request whose client hung up stops waiting at once, with a 499.
	fol := startTestAgent(t, func(c *Config) { c.DevMode, c.Bootstrap = false, false })
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, err := fol.apply(ctx, &command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "k"}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("apply on a follower with no leader: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	rec := httptest.NewRecorder()
	fol.http.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "PUT", "/v1/kv/k", strings.NewReader("v")))
	if rec.Code != statusClientClosedRequest {
		t.Fatalf("PUT whose client hung up: %d %s", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the follower's waits took %v", d)
	}
}
