// agent_limits.go: how many connections one client may hold open on the
// agent's TCP listeners, as Consul's connlimit does: the HTTP API
// (limits.http_max_conns_per_client, 200) and the server RPC port
// (limits.rpc_max_conns_per_client, 100). Without it, one host holding
// idle connections could take every descriptor of the process, and with
// them the API from everyone else.
//
// Data flow: a connLimiter wraps a listener. Its Accept admits a
// connection while its source IP holds fewer than the limit; beyond it the
// connection is refused (HTTP: Consul's 429 written at once, then closed;
// RPC: closed), logged at the first refusal and every 100th after, and
// Accept goes on to the next, so other IPs are served at once. An admitted connection is released when it is closed,
// by whoever closes it. Errors of the listener itself are returned as they
// are, so the server's accept loop backs off on them (out of descriptors)
// as before.
//
// Concurrency: mu guards the count of open connections by source IP;
// Accept runs on the server's accept goroutine, Close on any; the count of
// refusals is atomic.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// httpTooManyConns is Consul's answer to a connection over
// limits.http_max_conns_per_client (go-connlimit's), byte for byte.
var httpTooManyConns = func() []byte {
	const msg = "Your IP is issuing too many concurrent connections, please rate limit your calls\n"
	return fmt.Appendf(nil, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"+
		"Connection: close\r\n\r\n%s", len(msg), msg)
}()

// connRefuseWriteTimeout bounds the write of a refusal, so a client that
// does not read cannot hold the accept loop (Consul's 10 ms).
const connRefuseWriteTimeout = 10 * time.Millisecond

// connLimiter is a listener that admits at most max connections per source
// IP at once; max 0 means no limit.
type connLimiter struct {
	net.Listener
	max     int
	key     string           // the limit's config key, for the log
	refuse  func(c net.Conn) // answers a connection over the limit (nil: nothing); Accept closes it after
	logger  *slog.Logger
	refused atomic.Uint64

	mu   sync.Mutex
	open map[string]int // admitted and not yet closed, by source IP; guarded by mu
}

func newConnLimiter(ln net.Listener, max int, key string, refuse func(c net.Conn), logger *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, max: max, key: key, refuse: refuse, logger: logger, open: map[string]int{}}
}

// refuseHTTP writes Consul's 429 to a connection over the HTTP limit.
func refuseHTTP(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(connRefuseWriteTimeout))
	c.Write(httpTooManyConns)
}

// Accept returns the next connection whose source IP is under the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := connSourceIP(c)
		l.mu.Lock()
		admit := l.max <= 0 || l.open[ip] < l.max
		if admit {
			l.open[ip]++
		}
		l.mu.Unlock()
		if admit {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		if n := l.refused.Add(1); n%100 == 1 {
			l.logger.Warn("refusing a connection: its IP holds too many", "from", ip, "listener", l.Addr().String(),
				"limit", l.max, "key", l.key, "refused", n)
		}
		if l.refuse != nil {
			l.refuse(c)
		}
		c.Close()
	}
}

func (l *connLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// connSourceIP is the IP a connection comes from (its whole address if it
// has no IP).
func connSourceIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// limitedConn is an admitted connection; its first Close releases its place.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close before closing, as it does on a bare
// TCP connection, so a client still reads an error answer it sent a body
// too large for.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
