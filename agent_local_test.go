// agent_local_test.go: tests of the agent's local state (agent_local.go):
// services reaped once critical past DeregisterCriticalServiceAfter.
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"testing"
	"time"
)

func TestDeregisterCriticalServiceAfter(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, func(c *Config) { c.CheckDeregisterIntervalMin = 0 })
	// doomed is critical from its registration on: the 100 ms count from
	// before it, not from after the two registrations that follow (which
	// can take that long on a loaded machine).
	start := time.Now()
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"doomed","Check":{"TTL":"1h","DeregisterCriticalServiceAfter":"100ms"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"healthy","Check":{"TTL":"1h","Status":"passing","DeregisterCriticalServiceAfter":"100ms"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"patient","Check":{"TTL":"1h"}}`, nil)
	eventually(t, 10*time.Second, "doomed reaped", func() bool {
		return !ta.local.hasService("doomed") && len(ta.store.snapshot().serviceInstances("doomed")) == 0
	})
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("reaped after %v, before DeregisterCriticalServiceAfter", d)
	}
	if !ta.local.hasService("healthy") || !ta.local.hasService("patient") {
		t.Fatal("a passing service, or one without DeregisterCriticalServiceAfter, was reaped")
	}
}

// check_deregister_interval_min raises a shorter DeregisterCriticalServiceAfter.
func TestDeregisterCriticalServiceAfterMinimum(t *testing.T) {
	t.Parallel()
	ta := startCheckAgent(t, func(c *Config) { c.CheckReapInterval, c.CheckDeregisterIntervalMin = time.Hour, time.Hour })
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"1h","DeregisterCriticalServiceAfter":"1m"}}`, nil)
	ta.local.reapCritical(time.Now().Add(30 * time.Minute))
	if !ta.local.hasService("web") {
		t.Fatal("reaped before check_deregister_interval_min")
	}
	ta.local.reapCritical(time.Now().Add(61 * time.Minute))
	if ta.local.hasService("web") {
		t.Fatal("not reaped after check_deregister_interval_min")
	}
}
