// rpc_pool.go: the client side of the server RPC port (rpc.go): an agent's
// pooled connections to servers, and the Raft transport over them.
//
// Data flow: a caller's rpcPool.call writes a request frame on the pooled
// mux connection to the server, dialled on first use (dial), and waits on
// a channel of its own; the connection's reader hands each response or
// error frame to the waiting caller by request id. Raft messages take the
// other kind of connection: rpcPool.sendRaft queues an encoded frame for the
// peer's writer, which owns a one-way raft stream to it and redials with
// backoff when it breaks. poolTransport adapts the pool to the Raft node
// (raft_node.go): messages by sendRaft, snapshot chunks by call.
//
// Concurrency: p.mu guards the maps of mux connections and raft peers. A
// mux connection has one goroutine that dials it and then reads it; its
// callers send requests themselves (through its rpcConnWriter) and wait on a
// channel of their own; its mu guards the pending calls and why it broke. No
// two of these mutexes are ever held together. A raft peer has one writer
// goroutine, which owns its connection; sendRaft only queues to it. close
// stops them all and waits for them through p.wg.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
	tls         *agentTLS               // TLS for outgoing connections (rpc_tls.go); nil: plain; set before use
	source      *net.TCPAddr            // the local address connections leave from (the agent's bind address); nil: the kernel's choice; set before use
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
	conn, err := c.pool.dial(c.addr, rpcConnMux)
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
			c, err := p.dial(peer.addr, rpcConnRaft)
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

// dial dials a server's RPC port, upgrades the connection to TLS if the
// agent's configuration says so, and says what kind of connection it is.
func (p *rpcPool) dial(addr string, kind byte) (net.Conn, error) {
	d := net.Dialer{Timeout: rpcDialTimeout}
	if p.source != nil {
		d.LocalAddr = p.source
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		if c, err = p.tls.wrapRPCClient(c, addr); err != nil {
			return nil, err
		}
	}
	c.SetWriteDeadline(time.Now().Add(rpcWriteTimeout))
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// --- the Raft transport ---

// poolTransport sends Raft frames over the RPC pool's raft streams.
type poolTransport struct{ pool *rpcPool }

func (t poolTransport) send(addr string, payload []byte) bool { return t.pool.sendRaft(addr, payload) }

func (t poolTransport) sendChunk(ctx context.Context, addr string, payload []byte) error {
	_, err := t.pool.call(ctx, addr, rpcRaftSnapshot, payload)
	return err
}
