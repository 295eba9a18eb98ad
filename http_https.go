// http_https.go: the HTTPS listener, Consul's `ports.https` (off unless
// set; 8501 by convention), on `addresses.https` (default: the client
// addresses), beside plain HTTP on `ports.http`, which stays open as in
// Consul.
//
// Data flow: each accepted connection is limited per client IP as HTTP's
// (agent_limits.go), then wrapped by crypto/tls with the agent's current
// HTTPS material (agent_tls.go: the certificate, and with
// tls.https.verify_incoming a client certificate required and verified
// against the CAs), and served by the agent's one http.Server with the
// same handler as HTTP. net/http answers a plain HTTP request sent to
// this port with 400 "Client sent an HTTP request to an HTTPS server."
// (as Consul's, which is the same server code), and logs every refused
// handshake with its reason (an unknown authority, an expired or missing
// client certificate) through the server's error log. Without a
// certificate the port listens, and every handshake fails ("no
// certificates configured"), as a Consul client agent's.
//
// Concurrency: the listeners are bound in newAgent (Agent.listen) and
// only read after; the http.Server owns serving them, and its Close (in
// Shutdown) closes them.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// listenHTTPS binds the HTTPS listeners, if ports.https is set, and
// serves them.
func (a *Agent) listenHTTPS() error {
	if a.cfg.Ports.HTTPS < 0 {
		return nil
	}
	for _, ip := range a.cfg.Addresses.HTTPS {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.HTTPS)))
		if err != nil {
			return fmt.Errorf("HTTPS listener: %w", err)
		}
		a.httpsListeners = append(a.httpsListeners, ln)
	}
	if a.httpServer == nil {
		a.httpServer = newHTTPServer(a.http, a.logger)
	}
	cfg := a.tls.listenerConfig(func(l *tlsLoaded) tlsMaterial { return l.https }, "h2", "http/1.1")
	for _, ln := range a.httpsListeners {
		// The excess is closed: a plain-text 429 would not be HTTPS.
		limited := newConnLimiter(ln, a.cfg.HTTPMaxConnsPerClient, "limits.http_max_conns_per_client", nil, a.logger)
		a.wg.Go(func() {
			if err := a.httpServer.Serve(tls.NewListener(limited, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("HTTPS server stopped", "addr", ln.Addr(), "error", err)
			}
		})
	}
	return nil
}

// HTTPSAddrs lists the addresses the HTTPS API listens on.
func (a *Agent) HTTPSAddrs() []string {
	var out []string
	for _, ln := range a.httpsListeners {
		out = append(out, ln.Addr().String())
	}
	return out
}
