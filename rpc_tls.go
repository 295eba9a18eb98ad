// rpc_tls.go: TLS on the server port, as Consul's: a connection whose
// first byte is rpcConnTLS (Consul's RPCTLS, 3: agent/pool/conn.go) is a
// TLS connection (RFC 8446) after that byte, and inside it the usual first
// byte follows (rpcConnRaft or rpcConnMux, rpc.go).
//
// Data flow, the one place on each side:
//   - dialling (rpcPool.dial, rpc_pool.go): with internal_rpc
//     verify_outgoing, wrapRPCClient writes rpcConnTLS and completes the
//     handshake (agentTLS.rpcClientConfig: the server's chain, and with
//     verify_server_hostname its name server.<dc>.<domain>) before the
//     kind byte is written inside TLS. A refused handshake fails the dial,
//     and the pool's callers log it with the reason (an unknown authority,
//     an expired certificate, another datacenter's name).
//   - accepting (rpcServer.serveConn, rpc.go): upgradeRPC reads what
//     follows rpcConnTLS as a TLS handshake with the current certificate
//     (and, with verify_incoming, a client certificate required and
//     verified); a plain connection with verify_incoming is refused and
//     logged as Consul logs it ("Non-TLS connection attempted with
//     VerifyIncoming set"), and so is TLS inside TLS.
//
// So a server without a valid certificate neither reaches the others
// (its plain connections are refused) nor is reached (the leader's
// handshakes to it fail and say why): autopilot may list it as a
// non-voter, but no entry ever reaches it and it is never promoted.
//
// Concurrency: none of its own; each connection is upgraded by the
// goroutine that dials or serves it, under the deadline of that step.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

const rpcConnTLS byte = 3 // Consul's RPCTLS: TLS follows, then the connection's kind

// wrapRPCClient upgrades a dialled connection to a server at addr to TLS
// when internal_rpc verify_outgoing is on; otherwise it returns c as it
// is. On an error c is closed.
func (t *agentTLS) wrapRPCClient(c net.Conn, addr string) (net.Conn, error) {
	cfg := t.rpcClientConfig(t.serverDatacenter(addr))
	if cfg == nil {
		return c, nil
	}
	c.SetDeadline(time.Now().Add(rpcWriteTimeout))
	if _, err := c.Write([]byte{rpcConnTLS}); err != nil {
		c.Close()
		return nil, err
	}
	tc := tls.Client(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), rpcWriteTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	c.SetDeadline(time.Time{})
	return tc, nil
}

// errRPCNotTLS: a plain connection where verify_incoming wants TLS.
var errRPCNotTLS = errors.New("Non-TLS connection attempted with VerifyIncoming set")

// upgradeRPC takes an accepted connection whose first byte, kind, was
// read through br: a TLS one is upgraded and its inner kind read; a plain
// one passes unless verify_incoming refuses it. The returned connection
// and reader replace c and br.
func (s *rpcServer) upgradeRPC(c net.Conn, br *bufio.Reader, kind byte) (net.Conn, *bufio.Reader, byte, error) {
	t := s.h.tls
	if kind != rpcConnTLS {
		if t != nil && t.verifyIncomingRPC() {
			return nil, nil, 0, errRPCNotTLS
		}
		return c, br, kind, nil
	}
	if t == nil {
		return nil, nil, 0, errors.New("TLS connection attempted, server not configured for TLS")
	}
	tc := tls.Server(bufferedConn{c, br}, t.listenerConfig(func(l *tlsLoaded) tlsMaterial { return l.rpc }))
	ctx, cancel := context.WithTimeout(s.ctx, rpcFirstByteTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, 0, fmt.Errorf("TLS handshake: %w", err)
	}
	br = bufio.NewReader(tc)
	tc.SetReadDeadline(time.Now().Add(rpcFirstByteTimeout))
	kind, err := br.ReadByte()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("reading the connection's kind inside TLS: %w", err)
	}
	if kind == rpcConnTLS {
		return nil, nil, 0, errors.New("TLS connection attempting to establish inner TLS connection")
	}
	return tc, br, kind, nil
}

// bufferedConn reads what its reader buffered before the connection's own
// bytes: the TLS handshake may have arrived with the first byte.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
