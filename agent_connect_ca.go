// agent_connect_ca.go: what every agent (server or client) keeps of the
// CA: the roots, through the agent cache, and a leaf certificate per
// service, made on demand and kept fresh. These are the entry points for
// the rest of the mesh: the HTTP handlers (http_connect_ca.go) and, through
// them, the built-in proxy.
//
//	connectRoots(ctx, minIndex): the agent cache's entry for
//	  /v1/connect/ca/roots (one background blocking query per agent)
//	connectLeaf(ctx, service, minIndex): the service's leaf; the first ask
//	  starts its renewer:
//	    key + CSR here → ConnectCA.Sign (a server; the leader signs) → leaf
//	    renewed at a random point between 60% and 90% of its lifetime
//	    (jitter, so many agents do not renew together), and at once when
//	    the active root changes (one roots watcher per agent kicks them)
//
// The private key never leaves the agent: only the CSR travels (the
// SPIFFE model, X.509-SVID §3).
//
// Concurrency: leafCerts.mu guards the entries map and every entry's
// fields; each entry's renewer goroutine signs without the lock and
// publishes under it, closing the entry's updated channel to wake the
// blocked readers. The roots watcher is one goroutine, started with the
// first leaf; both stop with the agent.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

const connectRootsPath = "/v1/connect/ca/roots"

// connectRoots returns the roots from the agent cache and their index,
// once the index passes minIndex (a blocking read: at most wait). miss
// says whether this read filled the cache.
func (a *Agent) connectRoots(ctx context.Context, minIndex uint64, wait time.Duration) (roots CARootList, index uint64, miss bool, err error) {
	resp, miss, err := a.cachedRoots(ctx, queryOptions{index: minIndex, wait: wait})
	if err != nil {
		return roots, 0, miss, err
	}
	if err := decodeResponse(resp, &roots); err != nil {
		return roots, 0, miss, err
	}
	index, _ = strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return roots, index, miss, nil
}

// cachedRoots is the cached answer of /v1/connect/ca/roots.
func (a *Agent) cachedRoots(ctx context.Context, q queryOptions) (forwardResponse, bool, error) {
	e, miss, err := a.cache.entry(ctx, connectRootsPath)
	if err != nil {
		var answer *cacheAnswerError
		if errors.As(err, &answer) {
			return answer.resp, miss, nil
		}
		return forwardResponse{}, miss, err
	}
	resp, err := a.http.waitCached(ctx, e, q)
	return resp, miss, err
}

// leafCerts are the agent's leaves, by service name.
type leafCerts struct {
	mu       sync.Mutex
	entries  map[string]*leafEntry
	watching bool // the roots watcher runs
}

// leafEntry is one service's leaf and its renewer; fields guarded by
// leafCerts.mu.
type leafEntry struct {
	service string
	cert    *IssuedCert   // nil until the first one is signed
	rootID  string        // the active root when it was asked for
	err     error         // the first signing failed with this
	updated chan struct{} // closed when cert or err changes
	kick    chan struct{} // renew now (buffered: one pending kick)
}

// connectLeaf returns the service's leaf, once its index passes minIndex
// (at most wait). miss says whether this read made the first one.
func (a *Agent) connectLeaf(ctx context.Context, service string, minIndex uint64, wait time.Duration) (*IssuedCert, bool, error) {
	l := &a.leaves
	l.mu.Lock()
	if l.entries == nil {
		l.entries = map[string]*leafEntry{}
	}
	e, miss := l.entries[service], false
	if e == nil {
		miss = true
		e = &leafEntry{service: service, updated: make(chan struct{}), kick: make(chan struct{}, 1)}
		l.entries[service] = e
		a.wg.Go(func() { a.renewLeaf(e) })
		if !l.watching {
			l.watching = true
			a.wg.Go(a.watchRootsForLeaves)
		}
	}
	var timeout <-chan time.Time // a blocking read's wait; the first leaf is waited for until ctx ends
	if minIndex > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		timeout = timer.C
	}
	timedOut := false
	for {
		if e.cert == nil && e.err != nil {
			err := e.err
			l.mu.Unlock()
			return nil, miss, err
		}
		if e.cert != nil && (e.cert.ModifyIndex > minIndex || timedOut) {
			c := *e.cert
			l.mu.Unlock()
			return &c, miss, nil
		}
		updated := e.updated
		l.mu.Unlock()
		select {
		case <-updated:
		case <-timeout:
			timedOut = true
		case <-ctx.Done():
			return nil, miss, ctx.Err()
		}
		l.mu.Lock()
	}
}

// renewLeaf keeps a service's leaf: signs one, then renews it before it
// expires or when kicked (a root rotation), until the agent stops. A first
// signing that fails is reported to the readers and the entry dropped (the
// next read tries anew); a renewal that fails is retried with back-off
// while the current leaf is served.
func (a *Agent) renewLeaf(e *leafEntry) {
	ctx := a.lifetime()
	failures := 0
	for {
		cert, rootID, err := a.issueLeaf(ctx, e.service)
		if ctx.Err() != nil {
			return
		}
		l := &a.leaves
		l.mu.Lock()
		first := e.cert == nil
		if err == nil {
			e.cert, e.rootID, e.err = cert, rootID, nil
		} else if first {
			e.err = err
			delete(l.entries, e.service)
		}
		close(e.updated)
		e.updated = make(chan struct{})
		l.mu.Unlock()
		if err != nil && first {
			return
		}
		var next time.Duration
		if err != nil {
			failures++
			a.logger.Warn("connect: renewing a leaf certificate failed", "service", e.service, "error", err)
			next = retryBackoff(failures, time.Minute)
		} else {
			failures = 0
			next = time.Until(leafRenewAt(cert))
		}
		timer := time.NewTimer(next)
		select {
		case <-timer.C:
		case <-e.kick:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// leafRenewAt is when to renew a leaf: at a random point between 60% and
// 90% of its lifetime, so that agents that got theirs together do not all
// come back together, and well before it expires.
func leafRenewAt(cert *IssuedCert) time.Time {
	life := cert.ValidBefore.Sub(cert.ValidAfter)
	return cert.ValidAfter.Add(life*6/10 + rand.N(life*3/10+1))
}

// issueLeaf makes a key and CSR for the service and has a server sign it.
func (a *Agent) issueLeaf(ctx context.Context, service string) (*IssuedCert, string, error) {
	if !a.cfg.Connect.Enabled {
		return nil, "", errConnectDisabled
	}
	roots, _, _, err := a.connectRoots(ctx, 0, 0)
	if err != nil {
		return nil, "", err
	}
	if roots.TrustDomain == "" {
		return nil, "", errors.New("CA is uninitialized and unable to sign certificates yet: no root certificate")
	}
	id := spiffeService{TrustDomain: roots.TrustDomain, Namespace: "default", Datacenter: a.cfg.Datacenter, Service: service}
	keyPEM, csrPEM, err := newLeafRequest(id)
	if err != nil {
		return nil, "", err
	}
	body, _ := json.Marshal(caSignRequest{CSR: csrPEM})
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	var out []byte
	if a.cfg.Server {
		out, err = a.connectCASign(ctx, body)
	} else {
		out, err = a.serverCall(ctx, rpcConnectCASign, body, true) // signing twice only makes two leaves
	}
	if err != nil {
		return nil, "", err
	}
	var cert IssuedCert
	if err := json.Unmarshal(out, &cert); err != nil {
		return nil, "", err
	}
	cert.PrivateKeyPEM = keyPEM
	return &cert, roots.ActiveRootID, nil
}

// watchRootsForLeaves follows the roots and kicks every leaf signed under
// another active root, so that the agent holds leaves of the new root at
// once after a rotation.
func (a *Agent) watchRootsForLeaves() {
	followIndex(a.lifetime(), func(ctx context.Context, index uint64) (uint64, error) {
		roots, idx, _, err := a.connectRoots(ctx, index, cacheRefreshWait)
		if err != nil || roots.ActiveRootID == "" {
			return idx, err
		}
		a.leaves.mu.Lock()
		defer a.leaves.mu.Unlock()
		for _, e := range a.leaves.entries {
			if e.cert != nil && e.rootID != roots.ActiveRootID {
				select {
				case e.kick <- struct{}{}:
				default:
				}
			}
		}
		return idx, nil
	})
}
