// agent_cache_test.go: tests of the agent cache (agent_cache.go): the
// Cache-Control policy of a ?cached read, and the cache's bounds.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCachePolicy(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/v1/health/service/web?cached&stale-if-error=1m&index=5&tag=v1", nil)
	r.Header.Set("Cache-Control", "max-age=30, must-revalidate")
	p, err := parseCachePolicy(r)
	if err != nil || p.maxAge != 30*time.Second || p.staleIfError != time.Minute || !p.mustRevalidate {
		t.Fatalf("policy: %+v %v", p, err)
	}
	if key := cacheKey(r); key != "/v1/health/service/web?tag=v1" {
		t.Fatalf("key %q", key)
	}
	r.Header.Set("Cache-Control", "max-age=soon")
	if _, err := parseCachePolicy(r); err == nil {
		t.Fatal("a bad max-age was taken")
	}
}

// TestCacheBounds: the least recently read entry goes when the cache is
// full, its refresh with it; a first fetch the servers refuse is passed on
// and not kept.
func TestCacheBounds(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.cache.maxEntries = 2
	for _, tag := range []string{"a", "b", "c"} {
		if r := ta.must("GET", "/v1/health/service/web?cached&tag="+tag, "", nil); r.header.Get("X-Cache") != "MISS" {
			t.Fatalf("tag %s: X-Cache %q", tag, r.header.Get("X-Cache"))
		}
	}
	ta.cache.mu.Lock()
	_, first := ta.cache.entries["/v1/health/service/web?tag=a"]
	n := len(ta.cache.entries)
	ta.cache.mu.Unlock()
	if n != 2 || first {
		t.Fatalf("%d entries, the oldest kept: %v", n, first)
	}
	if r := ta.must("GET", "/v1/health/service/web?cached&tag=c", "", nil); r.header.Get("X-Cache") != "HIT" {
		t.Fatalf("a kept entry missed: %v", r.header)
	}
	ta.expect("GET", "/v1/health/service/web?cached&dc=nowhere", "", http.StatusInternalServerError, "No path to datacenter")
	ta.cache.mu.Lock()
	_, kept := ta.cache.entries["/v1/health/service/web?dc=nowhere"]
	ta.cache.mu.Unlock()
	if kept {
		t.Fatal("a refused fetch left an entry")
	}
}
