package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// --- helpers ---

func rpcTestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// countingListener counts the connections a server accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// echoCall answers every call with "<method>: <body>".
func echoCall(_ context.Context, method string, body []byte) ([]byte, error) {
	return fmt.Appendf(nil, "%s: %s", method, body), nil
}

// startRPCServer serves h on addr ("127.0.0.1:0" for a free port). A nil
// handler drops raft frames, or echoes calls.
func startRPCServer(t testing.TB, addr string, h rpcHandlers) (*rpcServer, *countingListener) {
	t.Helper()
	if h.raft == nil {
		h.raft = func(string, []byte) {}
	}
	if h.call == nil {
		h.call = echoCall
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	s := newRPCServer(cl, h, rpcTestLogger(t))
	t.Cleanup(s.close)
	return s, cl
}

// checkClosedByServer reads c until the server closes it.
func checkClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
}

// rawFrame is a frame built by hand, valid or not.
func rawFrame(typ byte, id uint64, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+8+len(payload)))
	b = append(b, typ)
	b = binary.BigEndian.AppendUint64(b, id)
	return append(b, payload...)
}

func mustAppendFrame(t testing.TB, f rpcFrame) []byte {
	t.Helper()
	b, err := appendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- framing ---

func TestRPCFrameRoundTrip(t *testing.T) {
	t.Parallel()
	frames := []rpcFrame{
		{typ: rpcFrameRequest, id: 1, method: "Status.Leader", body: []byte(`{"x":1}`)},
		{typ: rpcFrameRequest, id: 2},
		{typ: rpcFrameRequest, id: 1 << 63, method: string(bytes.Repeat([]byte("m"), 300)), body: []byte{0}},
		{typ: rpcFrameResponse, id: 3, body: []byte("answer")},
		{typ: rpcFrameResponse, id: 4},
		{typ: rpcFrameError, id: 5, body: []byte("no cluster leader")},
		{typ: rpcFrameRaft, body: []byte{1, 2, 3}},
	}
	for _, f := range frames {
		got, err := readFrame(bytes.NewReader(mustAppendFrame(t, f)))
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if got.typ != f.typ || got.id != f.id || got.method != f.method || !bytes.Equal(got.body, f.body) {
			t.Fatalf("got %+v, want %+v", got, f)
		}
	}
	// Frames follow one another on a stream, which ends cleanly between them.
	var stream []byte
	for _, f := range frames {
		stream = append(stream, mustAppendFrame(t, f)...)
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	for i := range frames {
		if got, err := readFrame(br); err != nil || got.id != frames[i].id {
			t.Fatalf("frame %d: got %+v, %v", i, got, err)
		}
	}
	if _, err := readFrame(br); err != io.EOF {
		t.Fatalf("at the end: got %v, want io.EOF", err)
	}
}

// headerOnlyReader gives a length prefix, then fails the test if read again.
type headerOnlyReader struct {
	t      *testing.T
	header []byte
}

func (r *headerOnlyReader) Read(p []byte) (int, error) {
	if r.header == nil {
		r.t.Error("readFrame read past a length prefix it should have refused")
		return 0, io.EOF
	}
	n := copy(p, r.header)
	r.header = r.header[n:]
	if len(r.header) == 0 {
		r.header = nil
	}
	return n, nil
}

func TestRPCFrameTooLarge(t *testing.T) {
	for _, n := range []uint32{maxRPCFrame + 1, 1 << 30, 1<<32 - 1} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readFrame(&headerOnlyReader{t: t, header: binary.BigEndian.AppendUint32(nil, n)})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, errRPCFrameTooLarge) {
			t.Fatalf("length %d: got %v, want errRPCFrameTooLarge", n, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Fatalf("length %d: refusing it allocated %d bytes", n, alloc)
		}
	}

	big := make([]byte, maxRPCFrame-rpcFrameHeaderLen+1)
	for _, f := range []rpcFrame{
		{typ: rpcFrameRaft, body: big},
		{typ: rpcFrameResponse, id: 7, body: big},
		{typ: rpcFrameRequest, id: 8, method: "Catalog.Register", body: big[:maxRPCFrame-rpcFrameHeaderLen-len("Catalog.Register")]},
	} {
		buf, err := appendFrame([]byte("kept"), f)
		if !errors.Is(err, errRPCFrameTooLarge) || string(buf) != "kept" {
			t.Fatalf("type %d: got %d bytes, %v; want the buffer untouched and errRPCFrameTooLarge", f.typ, len(buf), err)
		}
	}
	// The largest frame allowed is accepted.
	if _, err := appendFrame(nil, rpcFrame{typ: rpcFrameRaft, body: big[:len(big)-1]}); err != nil {
		t.Fatal(err)
	}
}

func TestRPCFrameMalformed(t *testing.T) {
	t.Parallel()
	request := func(payload ...byte) []byte { return rawFrame(byte(rpcFrameRequest), 9, payload) }
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty stream", nil, io.EOF},
		{"partial length prefix", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated header", rawFrame(2, 1, nil)[:8], io.ErrUnexpectedEOF},
		{"truncated payload", rawFrame(2, 1, []byte("answer"))[:15], io.ErrUnexpectedEOF},
		{"length shorter than the header", []byte{0, 0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0}, errRPCBadFrame},
		{"zero length", []byte{0, 0, 0, 0}, errRPCBadFrame},
		{"type 0", rawFrame(0, 1, nil), errRPCBadFrame},
		{"cancel with a payload", rawFrame(5, 1, []byte("x")), errRPCBadFrame},
		{"type 6", rawFrame(6, 1, nil), errRPCBadFrame},
		{"type 255", rawFrame(255, 1, nil), errRPCBadFrame},
		{"request without a method length", request(), errRPCBadFrame},
		{"method longer than the payload", request(5, 'a', 'b'), errRPCBadFrame},
		{"non-minimal method length", request(0x80, 0x00), errRPCBadFrame},
		{"overflowing method length", request(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), errRPCBadFrame},
	}
	for _, c := range cases {
		_, err := readFrame(bytes.NewReader(c.input))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzRPCFrame(f *testing.F) {
	for _, fr := range []rpcFrame{
		{typ: rpcFrameRequest, id: 1, method: "Status.Ping", body: []byte("body")},
		{typ: rpcFrameResponse, id: 2, body: []byte("ok")},
		{typ: rpcFrameError, id: 3, body: []byte("boom")},
		{typ: rpcFrameRaft, body: []byte{0, 1, 2}},
		{typ: rpcFrameCancel, id: 4},
	} {
		b := mustAppendFrame(f, fr)
		f.Add(b)
		f.Add(append(b, b...))
		f.Add(b[:len(b)-1])
	}
	f.Add(rawFrame(byte(rpcFrameRequest), 4, []byte{0x80, 0x00}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			start := len(data) - r.Len()
			fr, err := readFrame(r)
			if err != nil {
				return
			}
			end := len(data) - r.Len()
			again, err := appendFrame(nil, fr)
			if err != nil {
				t.Fatalf("a decoded frame does not encode: %v", err)
			}
			if !bytes.Equal(again, data[start:end]) {
				t.Fatalf("re-encoded %x, read %x", again, data[start:end])
			}
		}
	})
}

// --- mux calls ---

func TestRPCMuxConcurrentCallsAnsweredOutOfOrder(t *testing.T) {
	t.Parallel()
	const callers = 64
	type held struct {
		n       int
		release chan struct{}
	}
	arrivals := make(chan held)
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		n, _ := strconv.Atoi(string(body))
		h := held{n, make(chan struct{})}
		select {
		case arrivals <- h:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return fmt.Appendf(nil, "answer to %d", n), nil
	}})
	p := startRPCPool(t)
	addr := ln.Addr().String()

	results := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			resp, err := p.call(ctx, addr, "Test.Hold", []byte(strconv.Itoa(i)))
			if err == nil && string(resp) != fmt.Sprintf("answer to %d", i) {
				err = fmt.Errorf("caller %d got %q", i, resp)
			}
			results[i] = err
		})
	}
	// Every request is held until all have arrived, which only multiplexing
	// allows; then the latest to arrive is answered first.
	var hold []held
	for range callers {
		hold = append(hold, <-arrivals)
	}
	for i := len(hold) - 1; i >= 0; i-- {
		close(hold[i].release)
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Fatalf("the calls used %d connections, want 1", n)
	}
}

func TestRPCRemoteError(t *testing.T) {
	t.Parallel()
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if method == "KVS.Get" {
			return nil, fmt.Errorf("no key %q", body)
		}
		return echoCall(ctx, method, body)
	}})
	p := startRPCPool(t)
	addr := ln.Addr().String()

	_, err := p.call(context.Background(), addr, "KVS.Get", []byte("web"))
	remote, ok := err.(*rpcRemoteError)
	if !ok || remote.Error() != `no key "web"` {
		t.Fatalf("got %T %v, want *rpcRemoteError `no key \"web\"`", err, err)
	}
	// The connection serves on after a handler's error.
	if resp, err := p.call(context.Background(), addr, "Status.Ping", nil); err != nil || string(resp) != "Status.Ping: " {
		t.Fatalf("got %q, %v", resp, err)
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestRPCUnknownConnectionKindRefused(t *testing.T) {
	t.Parallel()
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{7})
	checkClosedByServer(t, c)
}

// A bad frame closes its own connection and no other.
func TestRPCBadFrameClosesOnlyItsConnection(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		close(started)
		<-release
		return []byte("done"), nil
	}})
	addr := ln.Addr().String()
	p := startRPCPool(t)
	result := make(chan error, 1)
	go func() {
		resp, err := p.call(context.Background(), addr, "Test.Hold", nil)
		if err == nil && string(resp) != "done" {
			err = fmt.Errorf("got %q", resp)
		}
		result <- err
	}()
	<-started

	for _, bad := range []struct {
		name string
		data []byte
	}{
		{"frame over the limit", append([]byte{rpcConnMux}, binary.BigEndian.AppendUint32(nil, maxRPCFrame+1)...)},
		{"unknown frame type", append([]byte{rpcConnMux}, rawFrame(9, 1, nil)...)},
		{"raft frame on a mux connection", append([]byte{rpcConnMux}, rawFrame(byte(rpcFrameRaft), 0, nil)...)},
		{"bad method length", append([]byte{rpcConnMux}, rawFrame(byte(rpcFrameRequest), 1, []byte{9})...)},
		{"call on a raft stream", append([]byte{rpcConnRaft}, rawFrame(byte(rpcFrameRequest), 1, []byte{0})...)},
		{"truncated frame", append([]byte{rpcConnMux}, rawFrame(byte(rpcFrameRequest), 1, []byte{4, 'a'})[:10]...)},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(bad.data)
		if bad.name == "truncated frame" {
			c.(*net.TCPConn).CloseWrite()
		}
		checkClosedByServer(t, c)
		c.Close()
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("the call on the good connection: %v", err)
	}
}

// --- raft streams ---

func TestRPCRaftStreamInOrder(t *testing.T) {
	t.Parallel()
	const frames = 1000
	got := make(chan []byte, frames)
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{raft: func(_ string, payload []byte) { got <- payload }})
	p := startRPCPool(t)
	addr := ln.Addr().String()
	payload := make([]byte, 0, 32)
	for i := range frames {
		payload = fmt.Appendf(payload[:0], "append entries %d", i) // sendRaft copies it
		if !p.sendRaft(addr, payload) {
			t.Fatalf("frame %d dropped", i)
		}
	}
	for i := range frames {
		select {
		case b := <-got:
			if want := fmt.Sprintf("append entries %d", i); string(b) != want {
				t.Fatalf("frame %d: got %q, want %q", i, b, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %d did not arrive", i)
		}
	}
}

// --- benchmarks ---

const rpcBenchCallers = 64

// runRPCBench makes b.N calls from rpcBenchCallers goroutines.
func runRPCBench(b *testing.B, call func() error) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range rpcBenchCallers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := call(); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

var rpcBenchBody = bytes.Repeat([]byte("x"), 64)

func BenchmarkRPCMux(b *testing.B) {
	_, ln := startRPCServer(b, "127.0.0.1:0", rpcHandlers{})
	p := startRPCPool(b)
	addr := ln.Addr().String()
	runRPCBench(b, func() error {
		_, err := p.call(context.Background(), addr, "Status.Ping", rpcBenchBody)
		return err
	})
	if n := ln.accepted.Load(); n != 1 {
		b.Fatalf("%d connections, want 1", n)
	}
}

func BenchmarkRPCConnPerCall(b *testing.B) {
	_, ln := startRPCServer(b, "127.0.0.1:0", rpcHandlers{})
	addr := ln.Addr().String()
	runRPCBench(b, func() error {
		p := newRPCPool(nil)
		defer p.close()
		_, err := p.call(context.Background(), addr, "Status.Ping", rpcBenchBody)
		return err
	})
}

// TestRPCCancel: a caller that gives up on a call (its context ends) tells
// the server, whose handler's context ends at once, not when the handler
// would have returned; other calls on the connection are unharmed.
func TestRPCCancel(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan struct{}), make(chan struct{})
	_, ln := startRPCServer(t, "127.0.0.1:0", rpcHandlers{call: func(ctx context.Context, method string, body []byte) ([]byte, error) {
		if method == "Block" {
			close(started)
			select {
			case <-ctx.Done():
				close(cancelled)
				return nil, ctx.Err()
			case <-time.After(time.Minute):
				return []byte("late"), nil
			}
		}
		return body, nil
	}})
	p := startRPCPool(t)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.call(ctx, addr, "Block", nil)
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller got %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's handler was not cancelled")
	}
	if out, err := p.call(context.Background(), addr, "Echo", []byte("still")); err != nil || string(out) != "still" {
		t.Fatalf("a call after the cancel: %q %v", out, err)
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestRPCPoolDialsFromSource: outgoing connections leave from the pool's
// source address (the agent's bind address), not from the kernel's choice.
func TestRPCPoolDialsFromSource(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()
	p := newRPCPool(nil)
	defer p.close()
	p.source = &net.TCPAddr{IP: net.ParseIP("127.0.0.77")}
	c, err := p.dial(ln.Addr().String(), rpcConnMux)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case from := <-accepted:
		if from.(*net.TCPAddr).IP.String() != "127.0.0.77" {
			t.Fatalf("the connection came from %v, want 127.0.0.77", from)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
}
