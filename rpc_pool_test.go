package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// --- the client pool (rpc_pool.go) ---

func startRPCPool(t testing.TB) *rpcPool {
	p := newRPCPool(rpcTestLogger(t))
	t.Cleanup(p.close)
	return p
}

func (p *rpcPool) muxConnCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func TestRPCCallDeadline(t *testing.T) {
	t.Parallel()
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if method == "Test.Hang" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return echoCall(ctx, method, body)
	}})
	p := startRPCPool(t)
	addr := ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.call(ctx, addr, "Test.Hang", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %v past a 100ms deadline", d)
	}
	// A late answer to the abandoned call would be dropped; others are fine.
	if resp, err := p.call(context.Background(), addr, "Status.Ping", []byte("x")); err != nil || string(resp) != "Status.Ping: x" {
		t.Fatalf("got %q, %v", resp, err)
	}
}

func TestRPCServerCloseFailsPendingCallsAndPoolRecovers(t *testing.T) {
	t.Parallel()
	const pending = 8
	started := make(chan struct{}, pending)
	s, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	p := startRPCPool(t)
	addr := ln.Addr().String()

	errs := make(chan error, pending)
	for range pending {
		go func() {
			_, err := p.call(context.Background(), addr, "Test.Hang", nil) // the 30s default deadline
			errs <- err
		}()
	}
	for range pending {
		<-started
	}
	s.close()
	for range pending {
		err := <-errs
		var remote *rpcRemoteError
		if err == nil || errors.As(err, &remote) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the connection's failure", err)
		}
	}
	if n := p.muxConnCount(); n != 0 {
		t.Fatalf("the pool kept %d broken connections", n)
	}

	_, ln2 := startRPCServer(t, addr, rpcHandlers{})
	if resp, err := p.call(context.Background(), addr, "Status.Ping", []byte("again")); err != nil || string(resp) != "Status.Ping: again" {
		t.Fatalf("after the server came back: got %q, %v", resp, err)
	}
	if n := ln2.accepted.Load(); n != 1 {
		t.Fatalf("the new server accepted %d connections, want 1", n)
	}
}

func TestRPCDialRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startRPCPool(t)
	_, err = p.call(context.Background(), addr, "Status.Ping", nil)
	var remote *rpcRemoteError
	if err == nil || errors.As(err, &remote) {
		t.Fatalf("got %v, want a dial error", err)
	}
	if n := p.muxConnCount(); n != 0 {
		t.Fatalf("the pool kept %d failed connections", n)
	}
}

// A server that answers with a bad frame fails the calls on that connection.
func TestRPCPoolRefusesBadAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		br.ReadByte()
		req, err := readFrame(br)
		if err != nil {
			return
		}
		c.Write(rawFrame(byte(rpcFrameRequest), req.id, []byte{0})) // a server never sends requests
		io.Copy(io.Discard, c)
	}()
	p := startRPCPool(t)
	_, err = p.call(context.Background(), ln.Addr().String(), "Status.Ping", nil)
	if !errors.Is(err, errRPCBadFrame) {
		t.Fatalf("got %v, want errRPCBadFrame", err)
	}
}

func TestRPCPoolClose(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	p := newRPCPool(rpcTestLogger(t))
	result := make(chan error, 1)
	go func() {
		_, err := p.call(context.Background(), ln.Addr().String(), "Test.Hang", nil)
		result <- err
	}()
	<-started
	p.close()
	if err := <-result; !errors.Is(err, errRPCPoolClosed) {
		t.Fatalf("the pending call: got %v, want errRPCPoolClosed", err)
	}
	if _, err := p.call(context.Background(), ln.Addr().String(), "Status.Ping", nil); !errors.Is(err, errRPCPoolClosed) {
		t.Fatalf("a call after close: got %v, want errRPCPoolClosed", err)
	}
	if p.sendRaft(ln.Addr().String(), []byte("x")) {
		t.Fatal("sendRaft after close took a frame")
	}
}

func TestRPCIdleConnections(t *testing.T) {
	t.Parallel()
	const idle = 50 * time.Millisecond
	s, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if method == "Test.Slow" {
			time.Sleep(6 * idle) // a call outlasting several idle timeouts
		}
		return echoCall(ctx, method, body)
	}})
	addr := ln.Addr().String()

	t.Run("server keeps a connection with a call in flight, closes it when idle", func(t *testing.T) {
		s.mu.Lock()
		s.idleTimeout = idle
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.idleTimeout = rpcServerIdleTimeout
			s.mu.Unlock()
		}()
		p := startRPCPool(t)
		if _, err := p.call(context.Background(), addr, "Test.Slow", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the server to close the idle connection", func() bool { return p.muxConnCount() == 0 })
	})
	t.Run("pool keeps a connection with a call in flight, closes it when idle", func(t *testing.T) {
		p := startRPCPool(t)
		p.mu.Lock()
		p.idleTimeout = idle
		p.mu.Unlock()
		if _, err := p.call(context.Background(), addr, "Test.Slow", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the pool to close the idle connection", func() bool { return p.muxConnCount() == 0 })
		// The next call dials anew.
		if _, err := p.call(context.Background(), addr, "Status.Ping", nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRPCRaftPeerDownThenUp(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startRPCPool(t)

	// Nobody listens: sendRaft returns at once, and drops frames once the
	// queue is full or the dial has failed.
	taken := 0
	for i := range 4 * rpcRaftQueueLen {
		if p.sendRaft(addr, fmt.Appendf(nil, "lost %d", i)) {
			taken++
		}
	}
	if taken == 4*rpcRaftQueueLen {
		t.Fatal("sendRaft dropped no frame for a down peer")
	}

	got := make(chan []byte, 16*rpcRaftQueueLen)
	startRPCServer(t, addr, rpcHandlers{raft: func(_ string, payload []byte) { got <- payload }})
	eventually(t, 10*time.Second, "a frame to reach the peer once it listens", func() bool {
		p.sendRaft(addr, []byte("probe"))
		return len(got) > 0
	})
	for i := range 100 {
		if !p.sendRaft(addr, fmt.Appendf(nil, "after %d", i)) {
			t.Fatalf("frame %d dropped by a peer that is up", i)
		}
	}
	next := 0
	for next < 100 {
		select {
		case b := <-got:
			if bytes.HasPrefix(b, []byte("lost ")) {
				continue // queued before the first dial; it may or may not be sent
			}
			if string(b) == "probe" && next == 0 {
				continue
			}
			if want := fmt.Sprintf("after %d", next); string(b) != want {
				t.Fatalf("got %q, want %q", b, want)
			}
			next++
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %d did not arrive", next)
		}
	}
}
