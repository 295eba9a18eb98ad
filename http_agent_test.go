// http_agent_test.go: tests of the agent endpoints (http_agent.go): local
// services and TTL checks, and the snapshot round trip.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHTTPAgentServicesAndTTL(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"api","ID":"api-1","Port":9000,"Tags":["v2"],
		"Check":{"TTL":"30s"}}`, nil)
	var svcs map[string]Service
	ta.must("GET", "/v1/agent/services", "", &svcs)
	if svcs["api-1"].Port != 9000 {
		t.Fatalf("agent services: %+v", svcs)
	}
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	c, ok := checks["service:api-1"]
	if !ok || c.Status != healthCritical || c.ServiceName != "api" || c.Type != "ttl" {
		t.Fatalf("embedded TTL check: %+v", checks)
	}
	h := ta.must("GET", "/v1/health/service/api?passing", "", nil)
	if h.body != "[]" {
		t.Fatalf("critical instance listed as passing: %s", h.body)
	}
	ch := ta.blockingGet(fmt.Sprintf("/v1/health/service/api?passing&index=%d&wait=1m", h.index()))
	ta.must("PUT", "/v1/agent/check/pass/service:api-1?note="+url.QueryEscape("all good"), "", nil)
	if r := <-ch; !strings.Contains(r.body, `"Output":"all good"`) {
		t.Fatalf("after pass: %s", r.body)
	}
	ta.must("PUT", "/v1/agent/check/update/service:api-1", `{"Status":"warning","Output":"slow"}`, nil)
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if c := checks["service:api-1"]; c.Status != healthWarning || c.Output != "slow" {
		t.Fatalf("after update: %+v", c)
	}
	// Maintenance mode takes the service out of healthy answers.
	ta.must("PUT", "/v1/agent/service/maintenance/api-1?enable=true&reason=deploy", "", nil)
	var health []CheckServiceNode
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health) != 1 || aggregateStatus(health[0].Checks) != healthCritical {
		t.Fatalf("maintenance: %+v", health)
	}
	ta.must("PUT", "/v1/agent/service/maintenance/api-1?enable=false", "", nil)
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health[0].Checks) != 2 {
		t.Fatalf("maintenance check not removed: %+v", health[0].Checks)
	}
	ta.must("PUT", "/v1/agent/service/deregister/api-1", "", nil)
	ta.must("GET", "/v1/health/service/api", "", &health)
	if len(health) != 0 {
		t.Fatalf("deregistered service still in the catalog: %+v", health)
	}
}

func TestHTTPTTLExpires(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"heartbeat","TTL":"100ms","Status":"passing"}`, nil)
	h := ta.must("GET", "/v1/health/state/critical", "", nil)
	// The expiry is a change to the checks table: wait for it as a client would.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var checks []HealthCheck
		r := <-ta.blockingGet(fmt.Sprintf("/v1/health/state/critical?index=%d&wait=5s", h.index()))
		json.Unmarshal([]byte(r.body), &checks)
		if len(checks) == 1 && checks[0].CheckID == "heartbeat" && checks[0].Output == ttlExpiredOutput {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("TTL did not expire: %s", r.body)
		}
		h = r
	}
}

func TestHTTPSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/snap", "before", nil)
	snap := ta.must("GET", "/v1/snapshot", "", nil)
	ta.must("PUT", "/v1/kv/snap", "after", nil)
	ta.must("PUT", "/v1/kv/only-after", "x", nil)
	before := ta.must("GET", "/v1/kv/snap", "", nil).index()
	ta.must("PUT", "/v1/snapshot", snap.body, nil)
	if r := ta.must("GET", "/v1/kv/snap?raw", "", nil); r.body != "before" {
		t.Fatalf("after restore: %q", r.body)
	}
	if r := ta.do("GET", "/v1/kv/only-after", ""); r.code != 404 {
		t.Fatalf("key written after the snapshot survived the restore: %d", r.code)
	}
	// Later writes get indexes above everything seen before the restore.
	ta.must("PUT", "/v1/kv/next", "x", nil)
	if idx := ta.must("GET", "/v1/kv/next", "", nil).index(); idx <= before {
		t.Fatalf("index went backwards after restore: %d <= %d", idx, before)
	}
	// The agent's own registration is back.
	if r := ta.must("GET", "/v1/catalog/service/consul", "", nil); !strings.Contains(r.body, "node1") {
		t.Fatalf("self registration lost: %s", r.body)
	}
}

// TestBug_ServiceRegisterNullCheck: a service whose "Checks" holds a null
// made the handler dereference it (net/http recovered the panic and the
// client saw EOF); a null is no check.
func TestBug_ServiceRegisterNullCheck(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"w","Checks":[null,{"TTL":"10s"}]}`, nil)
	var checks map[string]*HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if len(checks) != 1 || checks["service:w"] == nil {
		t.Errorf("checks: %v", checks)
	}
}

// TestAgentHost: /v1/agent/host in Consul's shape (what `consul debug`
// collects), behind operator:read.
func TestAgentHost(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	var host struct {
		Memory struct {
			Total, Available uint64
		} `json:"Memory"`
		CPU []struct {
			CPU       int32  `json:"cpu"`
			ModelName string `json:"modelName"`
		}
		Host struct {
			Hostname, OS, KernelVersion string
			Uptime                      uint64
		}
		Disk struct {
			Path  string
			Total uint64
		}
		CollectionTime int64
		Errors         []string
	}
	r := ta.must("GET", "/v1/agent/host", "", nil)
	if err := json.Unmarshal([]byte(r.body), &host); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"total":`, `"usedPercent":`, `"modelName":`, `"hostname":`, `"kernelVersion":`, `"inodesTotal":`} {
		if !strings.Contains(r.body, key) {
			t.Errorf("no %s in %s", key, r.body)
		}
	}
	if host.Memory.Total == 0 || len(host.CPU) == 0 || host.Host.OS != runtime.GOOS || host.Host.Uptime == 0 ||
		host.Disk.Path != "/" || host.Disk.Total == 0 || host.CollectionTime <= 0 || len(host.Errors) != 0 {
		t.Fatalf("host: %+v", host)
	}
	acl := startTestAgent(t, aclOn)
	acl.expectToken("", "GET", "/v1/agent/host", "", 403,
		"Permission denied: anonymous token lacks permission 'operator:read'. The anonymous token is used implicitly when a request does not specify a token.")
}
