// connect_proxy_pipe.go: how the built-in proxy (connect_proxy.go) moves
// bytes between a plain TCP connection and a TLS one, at close to the
// speed of the loopback.
//
// Data flow: plain → TLS: one read of up to pipeBuffer bytes becomes one
// tls.Write, whose records (16 KiB each, RFC 8446 §5.1) gather in the
// meshConn's write buffer and leave in one write system call. TLS →
// plain: the raw bytes arrive through the meshConn's read buffer, many
// records per system call; the proxy decrypts records while a whole one
// is already buffered (so the next read cannot block), and writes what
// it gathered to the plain side at once. Each direction ends with a
// half-close (a TLS close_notify, RFC 8446 §6.1, or a TCP FIN), so each
// side sees the other's EOF and can still answer; an error in one
// direction closes both connections, which ends the other.
//
// Concurrency: a pipe runs one goroutine per direction. The meshConn's
// read buffer belongs to the TLS→plain goroutine (tls.Conn reads only
// from its reader); its write buffer is guarded by mu, since tls.Conn may
// write from either goroutine (a close_notify, a key update).
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
)

// pipeBuffer is the most one read gathers and one write sends, each way.
const pipeBuffer = 256 << 10

// tlsRecordHeader is the TLS record header's length (RFC 8446 §5.1:
// type, legacy version, 16-bit length).
const tlsRecordHeader = 5

// meshConn is the TCP connection under a mesh TLS connection, with
// buffers both ways once batch is called (before: unbuffered writes, as
// the handshake needs its flights sent when tls.Conn writes them).
type meshConn struct {
	net.Conn
	r *bufio.Reader

	mu sync.Mutex
	w  *bufio.Writer // guarded by mu; nil until batch
}

func newMeshConn(c net.Conn) *meshConn {
	return &meshConn{Conn: c, r: bufio.NewReaderSize(c, pipeBuffer)}
}

func (c *meshConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *meshConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return c.Conn.Write(p)
	}
	return c.w.Write(p)
}

// batch buffers writes from now on; flush sends them.
func (c *meshConn) batch() {
	c.mu.Lock()
	c.w = bufio.NewWriterSize(c.Conn, pipeBuffer+pipeBuffer/8) // a tls.Write of pipeBuffer, with its records' overhead
	c.mu.Unlock()
}

// unbatch flushes, and writes unbuffered from now on.
func (c *meshConn) unbatch() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return nil
	}
	err := c.w.Flush()
	c.w = nil
	return err
}

func (c *meshConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return nil
	}
	return c.w.Flush()
}

// recordBuffered says whether a whole TLS record is waiting in the read
// buffer: decrypting it will not block.
func (c *meshConn) recordBuffered() bool {
	n := c.r.Buffered()
	if n < tlsRecordHeader {
		return false
	}
	h, _ := c.r.Peek(tlsRecordHeader)
	return n >= tlsRecordHeader+(int(h[3])<<8|int(h[4]))
}

// proxyPipe copies both ways between a plain connection and a TLS one
// (over mc) until both directions end, and returns the first error
// either met. It closes neither connection (its callers do).
func proxyPipe(plain *net.TCPConn, tc *tls.Conn, mc *meshConn) error {
	done := make(chan error, 1)
	go func() {
		err := copyStream(tc, plain, nil, mc.flush)
		if err == nil {
			// tls.Conn sends its close_notify and then sets a past
			// write deadline: the alert must leave unbuffered.
			if err = mc.unbatch(); err == nil {
				err = tc.CloseWrite()
			}
		}
		done <- closeOnError(err, plain, tc)
	}()
	err := copyStream(plain, tc, mc.recordBuffered, nil)
	if err == nil {
		err = plain.CloseWrite()
	}
	err = closeOnError(err, plain, tc)
	if err2 := <-done; err == nil {
		err = err2
	}
	return err
}

// closeOnError closes both connections if err is set, so that the other
// direction ends too.
func closeOnError(err error, a, b net.Conn) error {
	if err != nil {
		a.Close()
		b.Close()
	}
	return err
}

// copyStream copies src to dst until src's EOF (nil) or an error: each
// read continues while more says another read will not block, then what
// was gathered goes to dst in one write, and flush (if any) sends what dst
// buffered.
func copyStream(dst io.Writer, src io.Reader, more func() bool, flush func() error) error {
	buf := make([]byte, pipeBuffer)
	for {
		n, err := src.Read(buf)
		for err == nil && more != nil && pipeBuffer-n >= 16<<10 && more() {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush != nil {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
