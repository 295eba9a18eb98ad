// agent_persist_test.go: tests of the API registrations kept in the data
// directory across restarts (agent_persist.go).
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPersistedRegistrations: services and checks registered through the
// API survive a restart of the agent from its data dir; a deregistered one
// does not come back; a definition that the config files also give is the
// config's; an unreadable file is skipped.
func TestPersistedRegistrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mutate := func(c *Config) { c.DevMode, c.Bootstrap, c.DataDir = false, true, dir }
	ta := startTestAgent(t, mutate)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":8080,"Check":{"CheckID":"web-ttl","TTL":"30s"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"gone","Port":1}`, nil)
	ta.must("PUT", "/v1/agent/check/register", `{"Name":"disk","TTL":"1m"}`, nil)
	ta.must("PUT", "/v1/agent/service/deregister/gone", "", nil)
	if err := os.WriteFile(filepath.Join(dir, "checks", "junk.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta.Shutdown()

	ta = startTestAgent(t, mutate)
	var services map[string]*Service
	ta.must("GET", "/v1/agent/services", "", &services)
	if len(services) != 1 || services["web"] == nil || services["web"].Port != 8080 {
		t.Fatalf("services after a restart: %+v", services)
	}
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if _, ok := checks["web-ttl"]; !ok {
		t.Fatalf("the service's check after a restart: %+v", checks)
	}
	if _, ok := checks["disk"]; !ok {
		t.Fatalf("the node check after a restart: %+v", checks)
	}
	ta.Shutdown()

	// The config files define "web" now: theirs wins, and the kept one goes.
	ta = startTestAgent(t, func(c *Config) {
		mutate(c)
		c.Services = []*serviceDefinition{{Name: "web", Port: 9090}}
	})
	ta.must("GET", "/v1/agent/services", "", &services)
	if services["web"] == nil || services["web"].Port != 9090 {
		t.Fatalf("web with the config's definition: %+v", services["web"])
	}
	if _, err := os.Stat(persistFile(filepath.Join(dir, "services"), "web")); !os.IsNotExist(err) {
		t.Fatalf("the kept definition of web is still there: %v", err)
	}
}
