// http_txn_test.go: tests and benchmarks of /v1/txn (http_txn.go).
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHTTPTxn(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	var out txnResponse
	ta.must("PUT", "/v1/txn", `[{"KV":{"Verb":"cas","Key":"a","Value":"eA==","Index":0}},{"KV":{"Verb":"set","Key":"b","Value":"eQ=="}}]`, &out)
	if len(out.Results) != 2 || out.Results[0].KV.Key != "a" {
		t.Fatalf("txn: %+v", out)
	}
	r := ta.do("PUT", "/v1/txn", `[{"KV":{"Verb":"set","Key":"c","Value":"eg=="}},{"KV":{"Verb":"check-not-exists","Key":"a"}}]`)
	if r.code != 409 || !strings.Contains(r.body, `"OpIndex":1`) {
		t.Fatalf("failing txn: %d %s", r.code, r.body)
	}
	if ta.do("GET", "/v1/kv/c", "").code != 404 {
		t.Fatal("rolled-back txn left a write")
	}
	// Read-only: answered from a snapshot, with the query meta.
	r = ta.must("PUT", "/v1/txn", `[{"KV":{"Verb":"get","Key":"b"}}]`, &out)
	if r.index() == 0 || string(out.Results[0].KV.Value) != "y" {
		t.Fatalf("read txn: %s", r.body)
	}
	// Catalog operations, in Consul's JSON shape.
	ta.must("PUT", "/v1/txn", `[{"Node":{"Verb":"set","Node":{"Node":"tx-node","Address":"10.2.2.2"}}},
		{"Service":{"Verb":"set","Node":"tx-node","Service":{"Service":"tx-svc","Port":7000}}}]`, &out)
	if len(out.Results) != 2 || out.Results[0].Node.Node != "tx-node" || out.Results[1].Service.Port != 7000 {
		t.Fatalf("catalog txn: %+v", out)
	}
	if r := ta.must("GET", "/v1/catalog/service/tx-svc", "", nil); !strings.Contains(r.body, `"ServicePort":7000`) {
		t.Fatalf("service from a txn: %s", r.body)
	}
	var ops []string
	for i := 0; i < 129; i++ {
		ops = append(ops, `{"KV":{"Verb":"get","Key":"a"}}`)
	}
	ta.expect("PUT", "/v1/txn", "["+strings.Join(ops, ",")+"]", 413, "Transaction contains too many operations (129 > 128)")
}

// BenchmarkTxn10 runs 10-operation write transactions from parallel clients.
func BenchmarkTxn10(b *testing.B) {
	_, base := benchAgent(b)
	runTxn10(b, base)
}

// runTxn10 runs 10-operation write transactions from parallel clients,
// spread over the agents at bases.
func runTxn10(b *testing.B, bases ...string) {
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			var ops []string
			for k := 0; k < 10; k++ {
				ops = append(ops, fmt.Sprintf(`{"KV":{"Verb":"set","Key":"txn/%d/%d","Value":"eA=="}}`, i%1000, k))
			}
			base := bases[int(i)%len(bases)]
			if out := benchDo(b, "PUT", base+"/v1/txn", "["+strings.Join(ops, ",")+"]"); !strings.Contains(out, "Results") {
				b.Errorf("txn: %s", out)
			}
		}
	})
}

// TestTxnLockWithoutSession: a lock in a transaction with no session fails
// the transaction with Consul's "missing session" (its kvsLockTxn).
func TestTxnLockWithoutSession(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	r := ta.do("PUT", "/v1/txn", `[{"KV":{"Verb":"lock","Key":"k","Value":"eA=="}}]`)
	if r.code != 409 || !strings.Contains(r.body, `"What":"missing session"`) {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

// TestTxnCatalogShapes: what Consul's client compares in a catalog
// transaction: a node written by a transaction is this datacenter's; a
// check registered in the catalog without a Type gets the kind its
// definition describes (Consul's Catalog.Register); a node check's
// ServiceTags are null in transaction results (they are [] in the health
// endpoints).
func TestTxnCatalogShapes(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"foo","Address":"10.0.0.1","Checks":[
		{"CheckID":"tcp","Status":"passing","Definition":{"TCP":"1.1.1.1:80","Interval":"5s"}},
		{"CheckID":"no-interval","Status":"passing","Definition":{"HTTP":"http://x"}},
		{"CheckID":"udp","Status":"passing","Type":"custom","Definition":{"UDP":"1.1.1.1:53","Interval":"5s"}}]}`, nil)
	var out struct {
		Results []struct {
			Node  *Node
			Check *struct {
				CheckID     string
				Type        string
				ServiceTags []string
			}
		}
	}
	ta.must("PUT", "/v1/txn", `[{"Node":{"Verb":"set","Node":{"Node":"bar","Address":"10.0.0.2"}}},
		{"Check":{"Verb":"get","Check":{"Node":"foo","CheckID":"tcp"}}},
		{"Check":{"Verb":"get","Check":{"Node":"foo","CheckID":"no-interval"}}},
		{"Check":{"Verb":"get","Check":{"Node":"foo","CheckID":"udp"}}}]`, &out)
	if len(out.Results) != 4 || out.Results[0].Node == nil || out.Results[0].Node.Datacenter != "dc1" {
		t.Fatalf("results: %+v", out.Results)
	}
	for i, want := range []string{"tcp", "", "custom"} {
		c := out.Results[i+1].Check
		if c == nil || c.Type != want || c.ServiceTags != nil {
			t.Errorf("check %d: %+v, want Type %q and null ServiceTags", i, c, want)
		}
	}
	var checks []HealthCheck
	ta.must("GET", "/v1/health/node/foo", "", &checks)
	if len(checks) == 0 || checks[0].ServiceTags == nil {
		t.Errorf("health endpoint: node check tags %v, want []", checks)
	}
}
