// agent_cache.go: the agent cache (Consul's agent caching, the
// background-refresh kind), which answers ?cached reads from the agent's
// memory.
//
// The first ?cached read of a result is a miss: the agent fetches it from
// the servers and starts, for that result, one background blocking query
// that re-asks as soon as the result changes. Every later read is a hit,
// answered at once from memory, however many applications ask; blocking
// reads (?cached&index=) wait on the entry, so N local watchers cost one
// watch on the servers. A result no read asked for in cacheEntryTTL is
// dropped.
//
//	?cached GET → entry (new: fetch, start refresh) → X-Cache, Age → body
//	refresh: roundTrip(uri&index=<last>&wait=10m) → entry.resp, wake readers
//
// This is what keeps an application working when the servers cannot be
// reached: the entry keeps its last result and reads stay hits. Age is 0
// while refreshes succeed and counts from the first failed one after that,
// as Consul reports it; Cache-Control max-age (or ?max-age) asks for a
// fresh fetch once the result is older than that, and stale-if-error then
// allows the cached one on a failure within that age; must-revalidate
// always fetches.
//
// The same cache serves DNS on a client agent with dns_config.use_cache.
// With ACLs, an entry belongs to one token: its fetches carry it, so the
// servers filter it for that token, and another token has its own entry
// (agent_acl_token.go).
//
// Concurrency: agentCache.mu guards the entry map and every entry's fields;
// each entry's refresh goroutine does its fetches without the lock and
// publishes results under it, closing the entry's updated channel to wake
// its readers.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	cacheEntryTTL     = 72 * time.Hour   // Consul's TTL for background-refresh results
	cacheMaxEntries   = 10000            // beyond this the least recently read entry goes
	cacheRefreshWait  = 10 * time.Minute // a refresh's blocking wait (Consul's MaxQueryTime)
	cacheBackoffAfter = 3                // failed refreshes retried at once (Consul's CacheRefreshBackoffMin)
	cacheBackoffMax   = time.Minute      // Consul's CacheRefreshMaxWait
)

// cachedPaths are the reads ?cached applies to.
var cachedPaths = []string{"/v1/health/service/", "/v1/health/connect/", "/v1/catalog/services", "/v1/catalog/service/"}

type agentCache struct {
	a          *Agent
	maxEntries int // cacheMaxEntries (tests lower it)

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

// cacheEntry is one result and its refresh; all fields guarded by
// agentCache.mu.
type cacheEntry struct {
	uri         string
	token       string // the ACL token its reads carry: entries are per token (agent_acl_token.go)
	resp        forwardResponse
	index       uint64
	version     uint64        // counts the results stored
	decoded     any           // resp decoded (cachedValue), nil until asked for
	valid       bool          // resp holds a result
	err         error         // the last fetch failed with this
	lostContact time.Time     // when refreshes began failing; zero while they succeed
	lastRead    time.Time     // when a read last asked for it
	updated     chan struct{} // closed when resp or err changes
	stop        chan struct{} // closed when the entry is dropped
}

func newAgentCache(a *Agent) *agentCache {
	return &agentCache{a: a, maxEntries: cacheMaxEntries, entries: map[string]*cacheEntry{}}
}

// cacheKey is the request without what does not change its result.
func cacheKey(r *http.Request) string {
	q := url.Values{}
	for k, vs := range query(r) {
		switch k {
		case "cached", "index", "wait", "max-age", "stale-if-error":
		default:
			q[k] = vs
		}
	}
	if len(q) == 0 {
		return r.URL.EscapedPath()
	}
	return r.URL.EscapedPath() + "?" + q.Encode()
}

// cachedValue returns uri's cached result decoded as a T, with its index.
// The result is decoded once per refresh and shared by every caller, who
// must not modify it (DNS's use: a question costs no JSON decoding).
func cachedValue[T any](ctx context.Context, c *agentCache, uri, token string) (T, uint64, error) {
	var v T
	e, _, err := c.entryFor(ctx, uri, token)
	if err != nil {
		return v, 0, err
	}
	c.mu.Lock()
	resp, index, version := e.resp, e.index, e.version
	v, ok := e.decoded.(T)
	c.mu.Unlock()
	if ok {
		return v, index, nil
	}
	if err := decodeResponse(resp, &v); err != nil {
		return v, 0, err
	}
	c.mu.Lock()
	if e.version == version {
		e.decoded = v
	}
	c.mu.Unlock()
	return v, index, nil
}

// entry returns uri's entry once it holds a result, creating it (miss) if
// there is none. A first fetch that fails drops the entry and returns the
// server's answer or the error.
func (c *agentCache) entry(ctx context.Context, uri string) (e *cacheEntry, miss bool, err error) {
	return c.entryFor(ctx, uri, "")
}

// entryFor is entry for the reads of one ACL token.
func (c *agentCache) entryFor(ctx context.Context, uri, token string) (e *cacheEntry, miss bool, err error) {
	c.mu.Lock()
	e = c.entries[cacheEntryKey(uri, token)]
	if e == nil {
		miss = true
		e = &cacheEntry{uri: uri, token: token, updated: make(chan struct{}), stop: make(chan struct{})}
		if len(c.entries) >= c.maxEntries {
			c.evictLocked()
		}
		c.entries[cacheEntryKey(uri, token)] = e
		c.a.wg.Go(func() { c.refresh(e) })
	}
	e.lastRead = time.Now()
	for !e.valid && e.err == nil {
		updated := e.updated
		c.mu.Unlock()
		select {
		case <-updated:
		case <-ctx.Done():
			return nil, miss, ctx.Err()
		}
		c.mu.Lock()
	}
	err = e.err
	valid := e.valid
	c.mu.Unlock()
	if !valid {
		return nil, miss, err
	}
	return e, miss, nil
}

// evictLocked drops the entry read longest ago.
func (c *agentCache) evictLocked() {
	var oldest *cacheEntry
	for _, e := range c.entries {
		if oldest == nil || e.lastRead.Before(oldest.lastRead) {
			oldest = e
		}
	}
	if oldest != nil {
		c.dropLocked(oldest)
	}
}

func (c *agentCache) dropLocked(e *cacheEntry) {
	if k := cacheEntryKey(e.uri, e.token); c.entries[k] == e {
		delete(c.entries, k)
		close(e.stop)
	}
}

// refresh keeps an entry's result current with blocking queries until the
// entry goes unread for cacheEntryTTL, is evicted, or the agent stops.
func (c *agentCache) refresh(e *cacheEntry) {
	defer func() {
		c.mu.Lock()
		if !e.valid && e.err == nil { // dropped before its first result: wake its readers
			c.store(e, forwardResponse{}, errors.New("cache: the entry was dropped before it was filled"))
		}
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
		case <-c.a.shutdownCh:
		case <-ctx.Done(): // refresh returned
		}
		cancel()
	}()
	failures := 0
	for {
		c.mu.Lock()
		index, valid := e.index, e.valid
		if valid && time.Since(e.lastRead) > cacheEntryTTL {
			c.dropLocked(e)
		}
		c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		uri := e.uri
		if valid {
			uri = withQuery(uri, "index="+strconv.FormatUint(index, 10)+"&wait="+cacheRefreshWait.String())
		}
		resp, err := c.fetch(ctx, uri, e.token, cacheRefreshWait+cacheRefreshWait/16+rpcDefaultCallTimeout)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.store(e, resp, err)
		if !valid && err != nil {
			c.dropLocked(e) // the reader gets the error; the next read tries anew
		}
		c.mu.Unlock()
		if !valid && err != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		c.a.logger.Debug("cache: refresh failed", "uri", e.uri, "error", err)
		if failures++; failures > cacheBackoffAfter {
			wait := retryBackoff(failures-cacheBackoffAfter, cacheBackoffMax)
			select {
			case <-time.After(wait/2 + rand.N(wait/2)):
			case <-ctx.Done():
				return
			}
		}
	}
}

// fetch reads uri from the servers; an answer other than 200 is an error
// that carries it (*cacheAnswerError).
func (c *agentCache) fetch(ctx context.Context, uri, token string, timeout time.Duration) (forwardResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.a.roundTrip(ctx, forwardRequest{Method: http.MethodGet, URI: uri, Header: tokenHeader(token)}, true)
	if err == nil && resp.Status != http.StatusOK {
		err = &cacheAnswerError{resp}
	}
	return resp, err
}

// cacheAnswerError is a server's answer other than 200, which is passed on
// to the reader but not cached.
type cacheAnswerError struct{ resp forwardResponse }

func (e *cacheAnswerError) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.resp.Status, strings.TrimSpace(string(e.resp.Body)))
}

// store publishes a fetch's outcome and wakes the entry's readers.
func (c *agentCache) store(e *cacheEntry, resp forwardResponse, err error) {
	if err != nil {
		e.err = err
		if e.lostContact.IsZero() {
			e.lostContact = time.Now()
		}
	} else {
		idx, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
		e.resp, e.index, e.valid, e.err, e.lostContact = resp, idx, true, nil, time.Time{}
		e.version++
		e.decoded = nil
	}
	close(e.updated)
	e.updated = make(chan struct{})
}

func withQuery(uri, q string) string {
	if strings.Contains(uri, "?") {
		return uri + "&" + q
	}
	return uri + "?" + q
}

// cachePolicy is what a read asked of the cache: Cache-Control's max-age,
// stale-if-error and must-revalidate, or ?max-age and ?stale-if-error.
type cachePolicy struct {
	maxAge, staleIfError time.Duration // 0: not given
	mustRevalidate       bool
}

func parseCachePolicy(r *http.Request) (cachePolicy, error) {
	var p cachePolicy
	for _, d := range strings.Split(r.Header.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		var dst *time.Duration
		switch strings.ToLower(name) {
		case "must-revalidate":
			p.mustRevalidate = true
		case "max-age":
			dst = &p.maxAge
		case "stale-if-error":
			dst = &p.staleIfError
		}
		if dst != nil {
			secs, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return p, badRequest("Cache-Control %s must be whole seconds: %q", name, val)
			}
			*dst = time.Duration(secs) * time.Second
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"max-age", &p.maxAge}, {"stale-if-error", &p.staleIfError}} {
		if v := query(r).Get(f.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return p, badRequest("Invalid %s: %q", f.name, v)
			}
			*f.dst = d
		}
	}
	return p, nil
}

// cachedRead answers a ?cached GET.
func (h *httpAPI) cachedRead(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := parseQueryOptions(r) // ?dc is the servers' to judge
	if err != nil {
		return nil, err
	}
	if q.consistent {
		return nil, badRequest("Cannot specify ?cached with ?consistent, conflicting semantics.")
	}
	policy, err := parseCachePolicy(r)
	if err != nil {
		return nil, err
	}
	c := h.a.cache
	e, miss, err := c.entryFor(r.Context(), cacheKey(r), h.requestSecret(r))
	if err != nil {
		return passOn(w, err)
	}
	c.mu.Lock()
	age := time.Duration(0)
	if !e.lostContact.IsZero() {
		age = time.Since(e.lostContact)
	}
	c.mu.Unlock()
	if !miss && (policy.mustRevalidate || policy.maxAge > 0 && age > policy.maxAge) {
		resp, err := c.fetch(r.Context(), e.uri, e.token, rpcDefaultCallTimeout)
		c.mu.Lock()
		c.store(e, resp, err)
		c.mu.Unlock()
		if err == nil {
			miss, age = true, 0
		} else if policy.staleIfError == 0 || age > policy.staleIfError {
			return passOn(w, err)
		}
	}
	resp, err := h.waitCached(r.Context(), e, q)
	if err != nil {
		return nil, err
	}
	w.Header().Set("X-Cache", map[bool]string{true: "MISS", false: "HIT"}[miss])
	w.Header().Set("Age", strconv.Itoa(int(age.Seconds())))
	writeForwarded(w, resp)
	return nil, nil
}

// passOn answers a read the cache could not: with the server's own answer
// when it gave one, else with the error.
func passOn(w http.ResponseWriter, err error) (any, error) {
	var answer *cacheAnswerError
	if errors.As(err, &answer) {
		writeForwarded(w, answer.resp)
		return nil, nil
	}
	return nil, err
}

// waitCached returns the entry's result, once its index passes ?index when
// that is given (a blocking query served by the cache).
func (h *httpAPI) waitCached(ctx context.Context, e *cacheEntry, q queryOptions) (forwardResponse, error) {
	c := h.a.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if q.index == 0 || e.index > q.index {
		return e.resp, nil
	}
	wait := q.wait
	if wait > 0 {
		wait += rand.N(wait/16 + 1)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for e.index <= q.index {
		updated := e.updated
		c.mu.Unlock()
		select {
		case <-updated:
		case <-timer.C:
			c.mu.Lock()
			return e.resp, nil
		case <-e.stop:
			c.mu.Lock()
			return e.resp, nil
		case <-ctx.Done():
			c.mu.Lock()
			return forwardResponse{}, ctx.Err()
		}
		c.mu.Lock()
	}
	return e.resp, nil
}
