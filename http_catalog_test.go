// http_catalog_test.go: tests of the catalog and health endpoints
// (http_catalog.go).
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"encoding/json"
	"testing"
)

func TestHTTPCatalogAndHealth(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	reg := `{"Node":"ext1","Address":"10.0.0.1","NodeMeta":{"rack":"r1"},
		"Service":{"ID":"web-1","Service":"web","Port":8080,"Tags":["blue","v1"]},
		"Checks":[{"CheckID":"web-ok","ServiceID":"web-1","Status":"passing"}]}`
	ta.must("PUT", "/v1/catalog/register", reg, nil)
	reg2 := `{"Node":"ext2","Address":"10.0.0.2","Service":{"ID":"web-2","Service":"web","Port":8080,"Tags":["green"]},
		"Checks":[{"CheckID":"web-warn","ServiceID":"web-2","Status":"warning"}]}`
	ta.must("PUT", "/v1/catalog/register", reg2, nil)

	var services map[string][]string
	ta.must("GET", "/v1/catalog/services", "", &services)
	if len(services["web"]) != 3 || services["consul"] == nil {
		t.Fatalf("services: %v", services)
	}
	var insts []catalogServiceNode
	ta.must("GET", "/v1/catalog/service/web?tag=blue&tag=v1", "", &insts)
	if len(insts) != 1 || insts[0].ServiceID != "web-1" || insts[0].Address != "10.0.0.1" || insts[0].NodeMeta["rack"] != "r1" {
		t.Fatalf("service by tags: %+v", insts)
	}
	var nodes []Node
	ta.must("GET", "/v1/catalog/nodes?node-meta=rack:r1", "", &nodes)
	if len(nodes) != 1 || nodes[0].Node != "ext1" {
		t.Fatalf("nodes by meta: %+v", nodes)
	}
	var health []CheckServiceNode
	ta.must("GET", "/v1/health/service/web", "", &health)
	if len(health) != 2 {
		t.Fatalf("health: %d entries", len(health))
	}
	ta.must("GET", "/v1/health/service/web?passing", "", &health)
	if len(health) != 1 || health[0].Service.ID != "web-1" {
		t.Fatalf("?passing must leave out the warning instance: %+v", health)
	}
	var checks []HealthCheck
	ta.must("GET", "/v1/health/state/warning", "", &checks)
	if len(checks) != 1 || checks[0].CheckID != "web-warn" {
		t.Fatalf("state warning: %+v", checks)
	}
	ta.must("GET", "/v1/health/checks/web", "", &checks)
	if len(checks) != 2 {
		t.Fatalf("service checks: %+v", checks)
	}
	var node struct {
		Node     Node
		Services map[string]Service
	}
	ta.must("GET", "/v1/catalog/node/ext1", "", &node)
	if node.Node.Address != "10.0.0.1" || node.Services["web-1"].Port != 8080 {
		t.Fatalf("node: %+v", node)
	}
	ta.must("PUT", "/v1/catalog/deregister", `{"Node":"ext1","ServiceID":"web-1"}`, nil)
	ta.must("GET", "/v1/catalog/service/web", "", &insts)
	if len(insts) != 1 {
		t.Fatalf("after deregistering web-1: %+v", insts)
	}
	// The agent registered itself: node, serfHealth, and "consul" on a server.
	ta.must("GET", "/v1/health/node/node1", "", &checks)
	if len(checks) != 1 || checks[0].CheckID != "serfHealth" || checks[0].Status != healthPassing {
		t.Fatalf("self checks: %+v", checks)
	}
	ta.must("GET", "/v1/catalog/service/consul", "", &insts)
	if len(insts) != 1 || insts[0].Node != "node1" || insts[0].ServicePort != ta.rpcPort {
		t.Fatalf("consul service: %+v", insts)
	}
	var dcs []string
	ta.must("GET", "/v1/catalog/datacenters", "", &dcs)
	if len(dcs) != 1 || dcs[0] != "dc1" {
		t.Fatal(dcs)
	}
}

// TestCatalogRegisterSkipNodeUpdate: with SkipNodeUpdate, an existing node
// is left as it is, and a node that does not exist yet is made even with
// no address, as Consul's catalog does (Consul's own client tests register
// proxies so); without it, the address is required.
func TestCatalogRegisterSkipNodeUpdate(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"known","Address":"10.0.0.1","NodeMeta":{"a":"b"}}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"known","SkipNodeUpdate":true,"NodeMeta":{"c":"d"},
		"Service":{"Service":"web","Port":80}}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"new","SkipNodeUpdate":true,"Service":{"Service":"web","Port":81}}`, nil)
	var nodes []Node
	ta.must("GET", "/v1/catalog/nodes", "", &nodes)
	got := map[string]Node{}
	for _, n := range nodes {
		got[n.Node] = n
	}
	if k := got["known"]; k.Address != "10.0.0.1" || k.Meta["a"] != "b" || k.Meta["c"] != "" {
		t.Errorf("the known node changed: %+v", k)
	}
	if n, ok := got["new"]; !ok || n.Address != "" {
		t.Errorf("the new node: %+v (present %v)", n, ok)
	}
	var svcs []json.RawMessage
	if ta.must("GET", "/v1/catalog/service/web", "", &svcs); len(svcs) != 2 {
		t.Errorf("web instances: %d", len(svcs))
	}
	ta.expect("PUT", "/v1/catalog/register", `{"Node":"other"}`, 400, "Missing node address")
}
