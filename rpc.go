// rpc.go: the server RPC port (Consul's 8300).
//
// Servers talk to each other over it (Raft messages, forwarded writes,
// status), and client agents call servers over it (forward.go). One TCP listener
// serves two kinds of connection, told apart, as Consul does, by the first
// byte the dialler writes:
//
//	rpcConnRaft (1)   a one-way, ordered stream of Raft messages from one
//	                  server to another; nothing is ever written back
//	rpcConnMux  (2)   multiplexed calls: requests and responses matched by
//	                  request id, any number in flight, answered in any order
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
// Data flow: a caller's rpcPool.call writes a request on the pooled mux
// connection to the server; the server's reader for that connection starts
// a goroutine per request that runs rpcHandlers.call and writes the
// response; the pool's reader hands it to the waiting caller by request id.
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
//   - rpcPool: p.mu guards the maps of mux connections and raft peers. A
//     mux connection has one goroutine that dials it and then reads it; its
//     callers send requests themselves and wait on a channel of their own;
//     its mu guards the pending calls and why it broke. No two of these
//     mutexes are ever held together. A raft peer has one writer goroutine,
//     which owns its connection; sendRaft only queues to it.
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

// dialRPC dials a server's RPC port and says what kind of connection it is.
func dialRPC(addr string, kind byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, rpcDialTimeout)
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(rpcWriteTimeout))
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
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
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, typically: let some close, as net/http does.
			s.logger.Warn("rpc: accepting connection", "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		idle := s.idleTimeout
		s.wg.Go(func() { s.serveConn(c, idle) })
		s.mu.Unlock()
	}
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
	switch kind {
	case rpcConnRaft:
		err = s.serveRaftStream(c, br, idle)
	case rpcConnMux:
		err = s.serveMux(c, br, idle)
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

// --- client ---

// rpcPool is an agent's connections to servers' RPC ports: one mux
// connection per address, shared by every caller, and one raft stream per
// peer.
type rpcPool struct {
	logger *slog.Logger
	wg     sync.WaitGroup // each mux connection's dialler-and-reader, each raft peer's writer

	done chan struct{} // closed by close: raft peers' writers stop

	mu          sync.Mutex
	conns       map[string]*rpcMuxConn  // by address; guarded by mu
	peers       map[string]*rpcRaftPeer // by address; guarded by mu
	closed      bool                    // guarded by mu
	idleTimeout time.Duration           // given to each new mux connection; guarded by mu (tests shorten it)
}

// rpcMuxConn is a pooled mux connection to one server.
type rpcMuxConn struct {
	pool *rpcPool
	addr string
	idle time.Duration

	ready   chan struct{} // closed when dialling ends; conn and w, or dialErr, are set before
	conn    net.Conn
	w       *rpcConnWriter // sends requests on conn
	dialErr error

	mu       sync.Mutex
	pending  map[uint64]chan rpcResult // calls awaiting an answer, by request id; guarded by mu
	lastID   uint64                    // guarded by mu
	lastUsed time.Time                 // when the last call started; guarded by mu
	broken   error                     // why the connection closed or is closing; guarded by mu
}

type rpcResult struct {
	body []byte
	err  error
}

// rpcRaftPeer is the raft stream to one peer.
type rpcRaftPeer struct {
	addr  string
	queue chan []byte // encoded frames for the writer
	down  atomic.Bool // the last dial failed and the writer is backing off
}

func newRPCPool(logger *slog.Logger) *rpcPool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &rpcPool{
		logger:      logger,
		done:        make(chan struct{}),
		conns:       map[string]*rpcMuxConn{},
		peers:       map[string]*rpcRaftPeer{},
		idleTimeout: rpcPoolIdleTimeout,
	}
}

// call sends one request to the server at addr over the pooled mux
// connection to it, dialled on first use, and waits for its answer. ctx's
// deadline bounds the call; without one, rpcDefaultCallTimeout applies. A
// handler's error comes back as *rpcRemoteError; any other error is the
// transport's. A call whose connection breaks fails, and is not retried: the
// server may have run it. The next call dials anew.
func (p *rpcPool) call(ctx context.Context, addr, method string, body []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rpcDefaultCallTimeout)
		defer cancel()
	}
	for {
		c, err := p.muxConn(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("rpc: %s to %s: %w", method, addr, err)
		}
		resp, err := c.roundTrip(ctx, method, body)
		if errors.Is(err, errRPCNotSent) && ctx.Err() == nil {
			continue // it broke, or closed for idleness, just before: dial anew
		}
		var remote *rpcRemoteError
		if err != nil && !errors.As(err, &remote) {
			err = fmt.Errorf("rpc: %s to %s: %w", method, addr, err)
		}
		return resp, err
	}
}

// muxConn returns the pooled connection to addr, dialling it if there is
// none, once it is ready.
func (p *rpcPool) muxConn(ctx context.Context, addr string) (*rpcMuxConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errRPCPoolClosed
	}
	c := p.conns[addr]
	if c == nil {
		c = &rpcMuxConn{pool: p, addr: addr, idle: p.idleTimeout, ready: make(chan struct{}),
			pending: map[uint64]chan rpcResult{}}
		p.conns[addr] = c
		p.wg.Go(c.run)
	}
	p.mu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.dialErr != nil {
		return nil, c.dialErr
	}
	return c, nil
}

// drop removes c from the pool, if it is still there.
func (p *rpcPool) drop(c *rpcMuxConn) {
	p.mu.Lock()
	if p.conns[c.addr] == c {
		delete(p.conns, c.addr)
	}
	p.mu.Unlock()
}

// run dials the connection, then reads answers and hands each to its
// caller until the connection breaks; then it fails every pending call.
func (c *rpcMuxConn) run() {
	conn, err := dialRPC(c.addr, rpcConnMux)
	c.mu.Lock()
	if err == nil && c.broken != nil { // the pool closed while we dialled
		conn.Close()
		conn, err = nil, c.broken
	}
	c.conn, c.dialErr = conn, err
	if conn != nil {
		c.w = &rpcConnWriter{conn: conn}
	}
	c.mu.Unlock()
	if err != nil {
		c.pool.drop(c)
		close(c.ready)
		return
	}
	close(c.ready)

	br := bufio.NewReader(conn)
	for {
		if err = awaitFrame(conn, br, c.idle, c.inUse); err != nil {
			break
		}
		var f rpcFrame
		if f, err = readFrame(br); err != nil {
			break
		}
		res := rpcResult{body: f.body}
		if f.typ == rpcFrameError {
			res = rpcResult{err: &rpcRemoteError{msg: string(f.body)}}
		} else if f.typ != rpcFrameResponse {
			err = fmt.Errorf("%w: frame type %d from a server", errRPCBadFrame, f.typ)
			break
		}
		c.mu.Lock()
		ch := c.pending[f.id]
		delete(c.pending, f.id)
		c.mu.Unlock()
		if ch != nil { // else its caller gave up waiting
			ch <- res
		}
	}

	c.mu.Lock()
	if c.broken == nil {
		c.broken = err
	}
	cause, pending := c.broken, c.pending
	c.pending = nil
	c.mu.Unlock()
	c.pool.drop(c)
	conn.Close()
	if !quietClose(cause) {
		c.pool.logger.Warn("rpc: connection to server broken", "server", c.addr, "error", cause, "failed_calls", len(pending))
	}
	for _, ch := range pending {
		ch <- rpcResult{err: fmt.Errorf("connection broken: %w", cause)}
	}
}

// inUse reports whether the connection has a call in flight or had one
// started within its idle time. If not, it marks the connection broken, in
// the same critical section, so that no call starts on it any more.
func (c *rpcMuxConn) inUse() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 || time.Since(c.lastUsed) < c.idle {
		return true
	}
	if c.broken == nil {
		c.broken = errRPCIdle
	}
	return false
}

// breakWith closes the connection (if it is dialled yet); its reader then
// fails the pending calls with err.
func (c *rpcMuxConn) breakWith(err error) {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = err
	}
	conn := c.conn
	c.mu.Unlock()
	c.pool.drop(c)
	if conn != nil {
		conn.Close()
	}
}

func (c *rpcMuxConn) roundTrip(ctx context.Context, method string, body []byte) ([]byte, error) {
	ch := make(chan rpcResult, 1) // the reader never blocks on it
	c.mu.Lock()
	if c.broken != nil {
		err := fmt.Errorf("%w: %w", errRPCNotSent, c.broken)
		c.mu.Unlock()
		c.pool.drop(c)
		return nil, err
	}
	c.lastID++
	id := c.lastID
	c.pending[id] = ch
	c.lastUsed = time.Now()
	c.mu.Unlock()

	err := c.w.send(rpcFrame{typ: rpcFrameRequest, id: id, method: method, body: body})
	if errors.Is(err, errRPCFrameTooLarge) {
		c.forget(id)
		return nil, err
	}
	if err != nil {
		c.pool.logger.Warn("rpc: sending request", "server", c.addr, "method", method, "error", err)
		c.breakWith(err) // the reader fails this call with the others
	}
	select {
	case res := <-ch:
		return res.body, res.err
	case <-ctx.Done():
		if c.forget(id) {
			c.w.send(rpcFrame{typ: rpcFrameCancel, id: id}) // best effort: a broken connection ends the call anyway
		}
		return nil, ctx.Err()
	}
}

// forget drops a call nobody waits for any more; it reports whether the
// call was still pending (no answer had come).
func (c *rpcMuxConn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, pending := c.pending[id]
	delete(c.pending, id)
	return pending
}

// sendRaft queues one raft frame for the peer at addr, on a raft stream of
// its own, so that replication does not delay calls. It never blocks: if
// the peer's queue is full, or its last dial failed and the writer is
// backing off, the frame is dropped and sendRaft returns false (Raft
// retransmits). payload is copied; the caller may reuse it.
func (p *rpcPool) sendRaft(addr string, payload []byte) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	peer := p.peers[addr]
	if peer == nil {
		peer = &rpcRaftPeer{addr: addr, queue: make(chan []byte, rpcRaftQueueLen)}
		p.peers[addr] = peer
		p.wg.Go(func() { p.streamRaft(peer) })
	}
	p.mu.Unlock()
	if peer.down.Load() {
		return false
	}
	frame, err := appendFrame(nil, rpcFrame{typ: rpcFrameRaft, body: payload})
	if err != nil {
		p.logger.Warn("rpc: dropping raft frame", "peer", addr, "error", err)
		return false
	}
	select {
	case peer.queue <- frame:
		return true
	default:
		return false
	}
}

// streamRaft is a raft peer's writer. It dials when it has a frame to send
// and no connection, writes frames in order through a buffer, and flushes
// whenever the queue is momentarily empty, so a burst of frames costs few
// writes. After a failed dial it drops the queued frames and backs off,
// doubling the wait up to rpcRaftBackoffMax, so a down peer costs one dial
// per backoff, not one per frame, and one warning per outage: the first
// failed dial is logged, the next ones at debug, and the dial that
// succeeds again says how many failed.
func (p *rpcPool) streamRaft(peer *rpcRaftPeer) {
	var conn net.Conn
	var bw *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := rpcRaftBackoffMin
	failedDials := 0
	for {
		var frame []byte
		select {
		case frame = <-peer.queue:
		case <-p.done:
			return
		}
		if conn == nil {
			c, err := dialRPC(peer.addr, rpcConnRaft)
			if err != nil {
				level := slog.LevelDebug
				if failedDials == 0 {
					level = slog.LevelWarn
				}
				failedDials++
				p.logger.Log(context.Background(), level, "rpc: raft peer unreachable, dropping its frames until it is back",
					"peer", peer.addr, "error", err, "failed_dials", failedDials, "retry_in", backoff)
				peer.down.Store(true)
				for len(peer.queue) > 0 {
					<-peer.queue
				}
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-p.done:
					t.Stop()
					return
				}
				peer.down.Store(false)
				backoff = min(2*backoff, rpcRaftBackoffMax)
				continue
			}
			if failedDials > 0 {
				p.logger.Info("rpc: raft peer reachable again", "peer", peer.addr, "failed_dials", failedDials)
			}
			conn, bw = c, bufio.NewWriterSize(c, 64<<10)
			backoff, failedDials = rpcRaftBackoffMin, 0
		}
		conn.SetWriteDeadline(time.Now().Add(rpcWriteTimeout))
		_, err := bw.Write(frame)
		if err == nil && len(peer.queue) == 0 {
			err = bw.Flush()
		}
		if err != nil {
			p.logger.Warn("rpc: raft stream broken", "peer", peer.addr, "error", err)
			conn.Close()
			conn = nil
		}
	}
}

// close closes every connection and returns once every goroutine of the
// pool has ended; pending calls fail, and later calls and sends too.
func (p *rpcPool) close() {
	p.mu.Lock()
	var conns []*rpcMuxConn
	if !p.closed {
		p.closed = true
		close(p.done)
		for _, c := range p.conns {
			conns = append(conns, c)
		}
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.breakWith(errRPCPoolClosed)
	}
	p.wg.Wait()
}
