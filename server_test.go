package main

import (
	"context"
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
