// server_read.go: the read index that default and ?consistent reads wait
// for, shared by the reads that ask for it at the same time (issue 15,
// "Reads").
//
// A read that is not ?stale asks the leader for its commit index (by its
// lease for the default mode, by a quorum round for ?consistent; Raft
// dissertation §6.4 and §6.4.1), over the server RPC from a follower or
// through the Raft loop on the leader, then waits until this server has
// applied it (readBarrier, server.go). Under load many reads ask at once,
// and one answer serves all of them: the index a request fetched after a
// read arrived is as good for that read as one fetched for it alone, since
// everything committed before the read arrived is in it. So reads gather
// in rounds, as commits gather in a group commit: the reads that arrive
// while a request is out join the next round, which goes out, as one
// request, when that one comes back. A read never joins a round already
// sent, which might have been answered before it arrived (it would miss a
// write acknowledged in between). A follower under load then sends one
// request per round trip instead of one per read, and the leader answers
// it with one trip through its Raft loop.
//
// Concurrency: each readRounds has a mutex guarding whether a round is out
// and the round being gathered; a round's result is written by the
// goroutine that sends it (the read that found none out, then one goroutine
// for the rounds that follow it) before it closes done, and read after.
package main

import (
	"context"
	"encoding/json"
	"sync"
)

// readRounds gathers the reads of one mode into rounds.
type readRounds struct {
	mu      sync.Mutex
	sending bool       // a round is out
	next    *readRound // the round gathering the reads that arrived since; nil when none has
}

// readRound is one request for a read index, shared by the reads that
// joined it.
type readRound struct {
	done  chan struct{} // closed once index and err are set
	index uint64
	err   error
}

// sharedReadIndex returns a read index fetched after the call began, by the
// leader's lease (lease) or by a quorum round, shared with the concurrent
// reads of the same mode.
func (a *Agent) sharedReadIndex(ctx context.Context, lease bool) (uint64, error) {
	rs := &a.readRounds[0]
	if !lease {
		rs = &a.readRounds[1]
	}
	rs.mu.Lock()
	if rs.next == nil {
		rs.next = &readRound{done: make(chan struct{})}
	}
	rd := rs.next
	if rs.sending {
		rs.mu.Unlock()
		select {
		case <-rd.done:
			return rd.index, rd.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	// No round is out: this read sends its own at once, alone in it, with
	// its own context (an idle server pays no hand-off), and leaves the
	// rounds that gather meanwhile to a goroutine of their own.
	rs.sending, rs.next = true, nil
	rs.mu.Unlock()
	if next := a.sendReadRound(ctx, rs, rd, lease); next != nil {
		go func() {
			// Not any one read's context: a round outlives a reader that
			// hangs up. leaderCall gives up after rpcHoldTimeout or at shutdown.
			for next != nil {
				next = a.sendReadRound(context.Background(), rs, next, lease)
			}
		}()
	}
	return rd.index, rd.err
}

// sendReadRound sends rd and returns the round that gathered while it was
// out, now to be sent, if one did.
func (a *Agent) sendReadRound(ctx context.Context, rs *readRounds, rd *readRound, lease bool) *readRound {
	rd.index, rd.err = a.fetchReadIndex(ctx, lease)
	close(rd.done)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	next := rs.next
	rs.next, rs.sending = nil, next != nil
	return next
}

// fetchReadIndex asks the leader for a read index: the server RPC from a
// follower, the Raft loop on the leader.
func (a *Agent) fetchReadIndex(ctx context.Context, lease bool) (uint64, error) {
	body, _ := json.Marshal(lease)
	out, err := a.leaderCall(ctx, rpcRaftReadIndex, body, func(ctx context.Context) ([]byte, error) {
		return a.readIndexLocal(ctx, lease)
	})
	if err != nil {
		return 0, err
	}
	var index uint64
	if err := json.Unmarshal(out, &index); err != nil {
		return 0, err
	}
	return index, nil
}
