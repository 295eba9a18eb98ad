// rpc.go: the server RPC port (Consul's 8300).
//
// Servers talk to each other over it (Raft messages, forwarded writes,
// status), and client agents call servers over it (rpc_forward.go). One TCP listener
// serves two kinds of connection, told apart, as Consul does, by the first
// byte the dialler writes:
//
//	rpcConnRaft (1)   a one-way, ordered stream of Raft messages from one
//	                  server to another; nothing is ever written back
//	rpcConnMux  (2)   multiplexed calls: requests and responses matched by
//	                  request id, any number in flight, answered in any order
//	rpcConnTLS  (3)   a TLS connection follows, inside which one of the two
//	                  above is said (rpc_tls.go); with verify_incoming the
//	                  only kind accepted
//
// Any other first byte is logged and the connection closed. After it, both
// kinds carry the same frames, integers big endian:
//
//	[u32 length of the rest][u8 frame type][u64 request id][payload]
//
//	request (1)    payload: uvarint method length, method, body
//	response (2)   payload: the body the handler returned
//	error (3)      payload: the handler's error text
//	raft (4)       payload: opaque bytes for the Raft layer; request id 0
//	cancel (5)     no payload: the caller gave up on request id (its
//	               deadline passed, or its own client went away); the
//	               server cancels that call's context, so a blocking query
//	               it was waiting in ends now rather than at its wait
//
// The length counts the type, the id and the payload, so it is at least 9,
// and at most maxRPCFrame: it is checked before anything is allocated, and
// the buffer then grows with the bytes that arrive, not with the claim. The
// method length is a minimal uvarint, so every frame has one encoding. A
// frame too large or too short, truncated, of an unknown type, with a bad
// payload, or of a type the connection does not carry closes that
// connection with a logged error; only the calls on it fail.
//
// This file holds the frames and the server side; the client side, the
// pool of connections callers share, is rpc_pool.go.
//
// Data flow: a caller's rpcPool.call (rpc_pool.go) writes a request on the
// pooled mux connection to the server; the server's reader for that
// connection starts a goroutine per request that runs rpcHandlers.call and
// writes the response; the pool's reader hands it to the waiting caller by request id.
// rpcPool.sendRaft queues a frame for a per-peer writer; the server's
// reader for the stream hands each frame to rpcHandlers.raft, in order.
//
// Concurrency:
//   - Writes on a mux connection, from either side, go through its
//     rpcConnWriter, whose mutex serializes them and commits concurrent
//     frames in groups: the goroutine that finds no write in progress
//     writes what the others queued meanwhile, in one syscall.
//   - rpcServer: the accept loop owns the listener; each connection has one
//     reader goroutine, which owns reading it; each request runs on its own
//     goroutine, which sends its own response. s.mu guards the set of open
//     connections. close closes the listener and the connections, then
//     cancels the calls' ctx, and waits for every goroutine through s.wg.
//   - rpcPool: its own discipline, in rpc_pool.go.
//   - Every network operation has a deadline: dials rpcDialTimeout, writes
//     rpcWriteTimeout, reads the idle timeout of their side. A connection
//     with calls in flight is not idle, however long they take.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	rpcConnRaft byte = 1 // a one-way, ordered stream of Raft messages from one server to another
	rpcConnMux  byte = 2 // multiplexed request/response calls

	maxRPCFrame       = 64 << 20 // the largest length a frame's prefix may claim
	rpcFrameHeaderLen = 1 + 8    // type and request id: the least a length may claim
	rpcReadChunk      = 64 << 10 // what readFrame allocates before more of a frame arrives

	rpcDialTimeout        = time.Second
	rpcWriteTimeout       = 10 * time.Second
	rpcFirstByteTimeout   = 10 * time.Second // for a new connection to say its kind
	rpcServerIdleTimeout  = 5 * time.Minute
	rpcPoolIdleTimeout    = 2 * time.Minute
	rpcDefaultCallTimeout = 30 * time.Second
	rpcRaftQueueLen       = 1024 // frames waiting for a peer's writer
	rpcRaftBackoffMin     = 50 * time.Millisecond
	rpcRaftBackoffMax     = 2 * time.Second
)

type rpcFrameType byte

const (
	rpcFrameRequest  rpcFrameType = 1
	rpcFrameResponse rpcFrameType = 2
	rpcFrameError    rpcFrameType = 3
	rpcFrameRaft     rpcFrameType = 4
	rpcFrameCancel   rpcFrameType = 5
)

var (
	errRPCFrameTooLarge = errors.New("rpc: frame over the size limit")
	errRPCBadFrame      = errors.New("rpc: malformed frame")
	errRPCIdle          = errors.New("rpc: connection idle")
	errRPCNotSent       = errors.New("rpc: connection closed before the request was sent")
	errRPCPoolClosed    = errors.New("rpc: pool closed")
)

// rpcFrame is one decoded frame. body is the request or response body, the
// error text or the raft payload; method is set on requests only.
type rpcFrame struct {
	typ    rpcFrameType
	id     uint64
	method string
	body   []byte
}

// rpcRemoteError is an error a server's handler returned to a call.
type rpcRemoteError struct{ msg string }

func (e *rpcRemoteError) Error() string { return e.msg }

// --- framing ---

// appendFrame appends f, encoded, to buf. It refuses a frame that would be
// over maxRPCFrame, before growing buf.
func appendFrame(buf []byte, f rpcFrame) ([]byte, error) {
	n := rpcFrameHeaderLen + len(f.body)
	if f.typ == rpcFrameRequest {
		n += uvarintLen(uint64(len(f.method))) + len(f.method)
	}
	if n > maxRPCFrame {
		return buf, fmt.Errorf("%w: %d bytes", errRPCFrameTooLarge, n)
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, byte(f.typ))
	buf = binary.BigEndian.AppendUint64(buf, f.id)
	if f.typ == rpcFrameRequest {
		buf = binary.AppendUvarint(buf, uint64(len(f.method)))
		buf = append(buf, f.method...)
	}
	return append(buf, f.body...), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// readFrame reads one frame. It returns io.EOF only at a frame boundary, and
// checks the length prefix before it allocates or reads anything more.
func readFrame(r io.Reader) (rpcFrame, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return rpcFrame{}, err
	}
	n := binary.BigEndian.Uint32(prefix[:])
	if n > maxRPCFrame {
		return rpcFrame{}, fmt.Errorf("%w: length prefix says %d bytes", errRPCFrameTooLarge, n)
	}
	if n < rpcFrameHeaderLen {
		return rpcFrame{}, fmt.Errorf("%w: length %d is shorter than the header", errRPCBadFrame, n)
	}
	buf, err := readClaimed(r, int(n))
	if err != nil {
		return rpcFrame{}, err
	}
	f := rpcFrame{typ: rpcFrameType(buf[0]), id: binary.BigEndian.Uint64(buf[1:9]), body: buf[9:]}
	switch f.typ {
	case rpcFrameRequest:
		l, k := binary.Uvarint(f.body)
		// A minimal uvarint ends in a zero byte only when it is the zero itself.
		if k <= 0 || (k > 1 && f.body[k-1] == 0) || l > uint64(len(f.body)-k) {
			return rpcFrame{}, fmt.Errorf("%w: bad method length in request %d", errRPCBadFrame, f.id)
		}
		f.method = string(f.body[k : k+int(l)])
		f.body = f.body[k+int(l):]
	case rpcFrameCancel:
		if len(f.body) != 0 {
			return rpcFrame{}, fmt.Errorf("%w: a cancel of request %d with a payload", errRPCBadFrame, f.id)
		}
	case rpcFrameResponse, rpcFrameError, rpcFrameRaft:
	default:
		return rpcFrame{}, fmt.Errorf("%w: unknown frame type %d", errRPCBadFrame, f.typ)
	}
	return f, nil
}

// readClaimed reads the n bytes a length prefix announced (gossip streams
// use it too). Memory follows the bytes that arrive, not the claim: the
// buffer starts at rpcReadChunk and doubles as it fills, so it is never more
// than twice what was received, plus a chunk. An early end is
// io.ErrUnexpectedEOF.
func readClaimed(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, rpcReadChunk))
	for read := 0; ; {
		m, err := io.ReadFull(r, buf[read:])
		read += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if read == n {
			return buf, nil
		}
		buf = append(buf, make([]byte, min(n-read, len(buf)))...)
	}
}

// awaitFrame waits for the first byte of the next frame and gives the rest
// of the frame idle to arrive. A connection silent for idle is idle, and
// awaitFrame returns errRPCIdle, unless inUse says otherwise (calls are in
// flight on it): then it waits on.
func awaitFrame(c net.Conn, br *bufio.Reader, idle time.Duration, inUse func() bool) error {
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		_, err := br.Peek(1)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(idle))
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if !inUse() {
			return errRPCIdle
		}
	}
}

// quietClose reports whether a connection ended in the ordinary way: its
// peer hung up, it was idle, or this side closed it.
func quietClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, errRPCIdle) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, errRPCPoolClosed)
}

// --- server ---

// rpcHandlers are what the server port serves.
type rpcHandlers struct {
	// raft is called for every frame of a raft stream, in arrival order, on
	// the connection's reader goroutine, with the connection's remote
	// address. It must not block for long.
	raft func(remote string, payload []byte)
	// call serves one multiplexed request; it runs on its own goroutine, so
	// replies go out in any order. A returned error is sent to the caller as
	// an error response (its Error() text).
	call func(ctx context.Context, method string, body []byte) ([]byte, error)
	// tls upgrades connections that ask for it, and refuses plain ones
	// with verify_incoming (rpc_tls.go); nil: plain connections only.
	tls *agentTLS
}

// rpcServer serves the RPC port on one listener.
type rpcServer struct {
	ln     net.Listener
	h      rpcHandlers
	logger *slog.Logger
	ctx    context.Context // parent of every call's ctx; cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop, connection readers, running calls

	mu          sync.Mutex
	conns       map[net.Conn]struct{} // accepted and still open; guarded by mu
	closed      bool                  // guarded by mu
	idleTimeout time.Duration         // given to each accepted connection; guarded by mu (tests shorten it)
}

// newRPCServer serves ln with h until close. Both handlers must be set.
func newRPCServer(ln net.Listener, h rpcHandlers, logger *slog.Logger) *rpcServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &rpcServer{
		ln: ln, h: h, logger: logger, ctx: ctx, cancel: cancel,
		conns:       map[net.Conn]struct{}{},
		idleTimeout: rpcServerIdleTimeout,
	}
	s.wg.Go(s.accept)
	return s
}

func (s *rpcServer) Addr() net.Addr { return s.ln.Addr() }

// close closes the listener and every connection, cancels the ctx of the
// running calls, and returns once they and every other goroutine of the
// server have ended. The connections close first, so a pending call fails
// as a broken connection rather than with its handler's cancellation.
func (s *rpcServer) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *rpcServer) accept() {
	stopped := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closed
	}
	acceptConns(s.ln, stopped, s.logger, "rpc: accepting connection", func(c net.Conn) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			c.Close()
			return false
		}
		s.conns[c] = struct{}{}
		idle := s.idleTimeout
		s.wg.Go(func() { s.serveConn(c, idle) })
		return true
	})
}

// serveConn reads the connection's kind and serves it until it ends.
func (s *rpcServer) serveConn(c net.Conn, idle time.Duration) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(rpcFirstByteTimeout))
	kind, err := br.ReadByte()
	if err != nil {
		return
	}
	conn, br, kind, err := s.upgradeRPC(c, br, kind)
	if err != nil {
		s.logger.Warn("rpc: refusing connection: "+err.Error(), "conn", c.RemoteAddr())
		return
	}
	switch kind {
	case rpcConnRaft:
		err = s.serveRaftStream(conn, br, idle)
	case rpcConnMux:
		err = s.serveMux(conn, br, idle)
	default:
		s.logger.Warn("rpc: refusing connection of unknown kind", "remote", c.RemoteAddr(), "first_byte", kind)
		return
	}
	if quietClose(err) {
		s.logger.Debug("rpc: connection closed", "remote", c.RemoteAddr(), "reason", err)
	} else {
		s.logger.Warn("rpc: closing connection", "remote", c.RemoteAddr(), "error", err)
	}
}

// serveRaftStream hands each raft frame to the raft handler, in order.
func (s *rpcServer) serveRaftStream(c net.Conn, br *bufio.Reader, idle time.Duration) error {
	notInUse := func() bool { return false }
	for {
		if err := awaitFrame(c, br, idle, notInUse); err != nil {
			return err
		}
		f, err := readFrame(br)
		if err != nil {
			return err
		}
		if f.typ != rpcFrameRaft {
			return fmt.Errorf("%w: frame type %d on a raft stream", errRPCBadFrame, f.typ)
		}
		s.h.raft(c.RemoteAddr().String(), f.body)
	}
}

// serveMux starts a goroutine for each request. When the connection ends,
// its running calls are cancelled: their answers have nowhere to go.
func (s *rpcServer) serveMux(c net.Conn, br *bufio.Reader, idle time.Duration) error {
	ctx, cancel := context.WithCancel(context.WithValue(s.ctx, rpcRemoteKey{}, c.RemoteAddr().String()))
	defer cancel()
	var inFlight atomic.Int64
	w := &rpcConnWriter{conn: c}
	inUse := func() bool { return inFlight.Load() > 0 }
	var callsMu sync.Mutex
	calls := map[uint64]context.CancelFunc{} // the calls running, by request id; guarded by callsMu
	for {
		if err := awaitFrame(c, br, idle, inUse); err != nil {
			return err
		}
		f, err := readFrame(br)
		if err != nil {
			return err
		}
		switch f.typ {
		case rpcFrameRequest:
		case rpcFrameCancel:
			callsMu.Lock()
			if stop := calls[f.id]; stop != nil {
				stop()
			}
			callsMu.Unlock()
			continue
		default:
			return fmt.Errorf("%w: frame type %d from a caller", errRPCBadFrame, f.typ)
		}
		callCtx, stop := context.WithCancel(ctx)
		callsMu.Lock()
		calls[f.id] = stop
		callsMu.Unlock()
		inFlight.Add(1)
		s.wg.Go(func() {
			defer inFlight.Add(-1)
			defer func() {
				callsMu.Lock()
				delete(calls, f.id)
				callsMu.Unlock()
				stop()
			}()
			err := w.send(s.serveCall(callCtx, f))
			if errors.Is(err, errRPCFrameTooLarge) {
				s.logger.Warn("rpc: answer too large", "method", f.method, "error", err)
				err = w.send(rpcFrame{typ: rpcFrameError, id: f.id, body: []byte(err.Error())})
			}
			if err != nil {
				c.Close() // a partial frame leaves the stream unusable; the reader ends
			}
		})
	}
}

// rpcRemoteKey carries a call's connection address in its context, for
// the handlers' logs (rpcRemote).
type rpcRemoteKey struct{}

// rpcRemote is the address of the connection ctx's call came on, or "".
func rpcRemote(ctx context.Context) string {
	remote, _ := ctx.Value(rpcRemoteKey{}).(string)
	return remote
}

// serveCall runs the call handler and makes its answer.
func (s *rpcServer) serveCall(ctx context.Context, req rpcFrame) rpcFrame {
	body, err := s.h.call(ctx, req.method, req.body)
	if err != nil {
		return rpcFrame{typ: rpcFrameError, id: req.id, body: []byte(err.Error())}
	}
	return rpcFrame{typ: rpcFrameResponse, id: req.id, body: body}
}

// rpcConnWriter sends the frames of many goroutines on one mux connection,
// committing them in groups as the wal does: a goroutine that finds no
// write in progress writes every frame queued so far, then those queued
// meanwhile, until none is left; the others only queue theirs. Concurrent
// calls so share syscalls.
type rpcConnWriter struct {
	conn net.Conn

	mu      sync.Mutex
	queued  []byte // encoded frames not yet written; guarded by mu
	spare   []byte // a written batch's buffer, for reuse; guarded by mu
	writing bool   // a goroutine is writing; guarded by mu
	err     error  // the first write's error, which every later send returns; guarded by mu
}

// send queues f, and writes the queue if no other goroutine is writing it.
// A frame over maxRPCFrame is refused (errRPCFrameTooLarge) and the
// connection is unharmed. A nil error means f is queued: a failed write is
// returned to the goroutine that made it, which must then close the
// connection, failing the calls whose frames were lost with it.
func (w *rpcConnWriter) send(f rpcFrame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	buf, err := appendFrame(w.queued, f)
	if err != nil {
		return err
	}
	w.queued = buf
	if w.writing {
		return nil
	}
	w.writing = true
	for len(w.queued) > 0 && w.err == nil {
		batch := w.queued
		w.queued = w.spare[:0]
		w.mu.Unlock()
		w.conn.SetWriteDeadline(time.Now().Add(rpcWriteTimeout))
		_, err := w.conn.Write(batch)
		w.mu.Lock()
		w.err = err
		w.spare = nil
		if cap(batch) <= rpcReadChunk { // keep no large buffer for the connection's life
			w.spare = batch
		}
	}
	w.writing = false
	return w.err
}
