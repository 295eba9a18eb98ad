package main

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestProxyConfigFromConfigEntries: a sidecar's Proxy.Config, in the agent's
// view and in the catalog, is its own Config over the destination's
// service-defaults protocol over proxy-defaults, and follows every change
// of the entries (the answers of Consul 1.22.7 to the same requests).
func TestProxyConfigFromConfigEntries(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"http","local_connect_timeout_ms":1000}}`, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"api","Protocol":"grpc"}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Port":8080,"Connect":{"SidecarService":{"Proxy":{"Config":{"own":1,"local_connect_timeout_ms":5}}}}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"api","Port":8081,"Connect":{"SidecarService":{}}}`, nil)
	views := func(id string) (agent, catalog map[string]any) {
		var svc struct {
			Proxy struct{ Config map[string]any }
		}
		ta.must("GET", "/v1/agent/service/"+id, "", &svc)
		var entries []struct {
			ServiceProxy struct{ Config map[string]any }
		}
		ta.must("GET", "/v1/catalog/service/"+id, "", &entries)
		if len(entries) != 1 {
			t.Fatalf("catalog %s: %d entries", id, len(entries))
		}
		return svc.Proxy.Config, entries[0].ServiceProxy.Config
	}
	expect := func(id string, want map[string]any) {
		t.Helper()
		eventually(t, 10*time.Second, id+"'s Proxy.Config", func() (bool, string) {
			agent, catalog := views(id)
			return reflect.DeepEqual(agent, want) && reflect.DeepEqual(catalog, want),
				fmt.Sprintf("agent %v, catalog %v, want %v", agent, catalog, want)
		})
	}
	// At once, for a registration through the API: no waiting for a watch.
	if agent, _ := views("web-sidecar-proxy"); !reflect.DeepEqual(agent, map[string]any{"own": 1.0, "local_connect_timeout_ms": 5.0, "protocol": "http"}) {
		t.Fatalf("web's proxy right after registering: %v", agent)
	}
	expect("web-sidecar-proxy", map[string]any{"own": 1.0, "local_connect_timeout_ms": 5.0, "protocol": "http"})
	expect("api-sidecar-proxy", map[string]any{"local_connect_timeout_ms": 1000.0, "protocol": "grpc"})

	ta.must("PUT", "/v1/config", `{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"tcp"}}`, nil)
	expect("web-sidecar-proxy", map[string]any{"own": 1.0, "local_connect_timeout_ms": 5.0, "protocol": "tcp"})
	expect("api-sidecar-proxy", map[string]any{"protocol": "grpc"})

	ta.must("DELETE", "/v1/config/service-defaults/api", "", nil)
	expect("api-sidecar-proxy", map[string]any{"protocol": "tcp"})
	ta.must("DELETE", "/v1/config/proxy-defaults/global", "", nil)
	expect("api-sidecar-proxy", nil)
	expect("web-sidecar-proxy", map[string]any{"own": 1.0, "local_connect_timeout_ms": 5.0})

	// A proxy registered on its own, not as a sidecar, gets them too.
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"db-proxy","Kind":"connect-proxy","Port":21500,"Proxy":{"DestinationServiceName":"db"}}`, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"db","Protocol":"http2"}`, nil)
	expect("db-proxy", map[string]any{"protocol": "http2"})
}
