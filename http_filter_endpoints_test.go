// http_filter_endpoints_test.go: ?filter on every list endpoint that has
// it (http_filter.go), through HTTP on an in-process agent.
//
// Concurrency: each test uses only the agent it starts.
package main

import (
	"encoding/json"
	"net/url"
	"reflect"
	"sort"
	"testing"
	"time"
)

// filterIDs GETs path with ?filter=expr and returns field of each element
// of the JSON answer (a list, or a map's values), sorted.
func (ta *testAgent) filterIDs(path, expr, field string) []string {
	ta.t.Helper()
	sep := "?"
	if u, _ := url.Parse(path); u.RawQuery != "" {
		sep = "&"
	}
	r := ta.do("GET", path+sep+"filter="+url.QueryEscape(expr), "")
	if r.code != 200 {
		ta.t.Fatalf("%s filter %q: %d %s", path, expr, r.code, r.body)
	}
	var list []map[string]any
	if json.Unmarshal([]byte(r.body), &list) != nil {
		var m map[string]map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			ta.t.Fatalf("%s: %v: %s", path, err, r.body)
		}
		for _, v := range m {
			list = append(list, v)
		}
	}
	out := []string{}
	for _, e := range list {
		s, _ := e[field].(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestHTTPFilterEndpoints(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext1","Address":"10.0.0.1","NodeMeta":{"rack":"r1"},
		"Service":{"ID":"web-1","Service":"web","Port":8080,"Tags":["blue","v1"],"Meta":{"version":"2"}},
		"Checks":[{"CheckID":"web-ok","ServiceID":"web-1","Status":"passing"}]}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext2","Address":"10.0.0.2","NodeMeta":{"rack":"r2"},
		"Service":{"ID":"web-2","Service":"web","Port":9090,"Tags":["green"]},
		"Checks":[{"CheckID":"web-warn","ServiceID":"web-2","Status":"warning"}]}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext1","Address":"10.0.0.1","NodeMeta":{"rack":"r1"},
		"Service":{"ID":"web-1-proxy","Service":"web-proxy","Kind":"connect-proxy","Port":21000,
			"Proxy":{"DestinationServiceName":"web","DestinationServiceID":"web-1"}}}`, nil)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"ext2","Address":"10.0.0.2","NodeMeta":{"rack":"r2"},
		"Service":{"ID":"web-2-proxy","Service":"web-proxy","Kind":"connect-proxy","Port":21000,
			"Proxy":{"DestinationServiceName":"web","DestinationServiceID":"web-2"}}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"ID":"api-1","Name":"api","Port":7000,"Tags":["a"],"Meta":{"team":"x"},"Check":{"TTL":"30s"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"ID":"api-2","Name":"api","Port":7001,"Tags":["b"],"Check":{"TTL":"30s"}}`, nil)

	for _, tc := range []struct {
		path, expr, field string
		want              []string
	}{
		{"/v1/catalog/nodes", `Meta.rack == r1`, "Node", []string{"ext1"}},
		{"/v1/catalog/nodes", `Node matches "^ext" and Address != "10.0.0.1"`, "Node", []string{"ext2"}},
		{"/v1/catalog/service/web", `NodeMeta.rack == r2`, "ServiceID", []string{"web-2"}},
		{"/v1/catalog/service/web", `ServiceTags contains blue and ServicePort == 8080`, "ServiceID", []string{"web-1"}},
		{"/v1/catalog/service/web", `ServiceMeta is empty`, "ServiceID", []string{"web-2"}},
		{"/v1/catalog/service/web?tag=green", `ServicePort == 8080`, "ServiceID", []string{}},
		{"/v1/catalog/connect/web", `Node == ext1`, "ServiceID", []string{"web-1-proxy"}},
		{"/v1/health/node/ext2", `Status == warning`, "CheckID", []string{"web-warn"}},
		{"/v1/health/checks/web", `Status == passing`, "CheckID", []string{"web-ok"}},
		{"/v1/health/state/any", `ServiceName == web and Status != passing`, "CheckID", []string{"web-warn"}},
		{"/v1/agent/services", `Meta.team == x`, "ID", []string{"api-1"}},
		{"/v1/agent/services", `Port == 7001 or a in Tags`, "ID", []string{"api-1", "api-2"}},
		{"/v1/agent/checks", `ServiceID == "api-2"`, "CheckID", []string{"service:api-2"}},
		{"/v1/agent/members", `Name == node1`, "Name", []string{"node1"}},
		{"/v1/agent/members", `Name == nobody`, "Name", []string{}},
	} {
		got := ta.filterIDs(tc.path, tc.expr, tc.field)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s ?filter=%s: got %v, want %v", tc.path, tc.expr, got, tc.want)
		}
	}

	// /v1/health/service: a selector through the list of checks matches
	// if any check does.
	var csns []CheckServiceNode
	ta.must("GET", "/v1/health/service/web?filter="+url.QueryEscape(`Checks.Status == warning and Node.Meta.rack == r2`), "", &csns)
	if len(csns) != 1 || csns[0].Service.ID != "web-2" {
		t.Fatalf("health/service filter: %+v", csns)
	}
	ta.must("GET", "/v1/health/connect/web?filter="+url.QueryEscape(`Service.Proxy.DestinationServiceID == "web-2"`), "", &csns)
	if len(csns) != 1 || csns[0].Service.ID != "web-2-proxy" {
		t.Fatalf("health/connect filter: %+v", csns)
	}
	// /v1/catalog/services filters the instances, then lists names and tags.
	var services map[string][]string
	ta.must("GET", "/v1/catalog/services?filter="+url.QueryEscape(`ServiceName == web and NodeMeta.rack == r1`), "", &services)
	if !reflect.DeepEqual(services, map[string][]string{"web": {"blue", "v1"}}) {
		t.Fatalf("catalog/services filter: %v", services)
	}
	// /v1/catalog/node/<n> filters its Services map; node-services its list.
	var node struct{ Services map[string]Service }
	ta.must("GET", "/v1/catalog/node/ext1?filter="+url.QueryEscape(`Kind == "connect-proxy"`), "", &node)
	if len(node.Services) != 1 || node.Services["web-1-proxy"].ID != "web-1-proxy" {
		t.Fatalf("catalog/node filter: %+v", node)
	}
	var nodeList struct{ Services []Service }
	ta.must("GET", "/v1/catalog/node-services/ext1?filter="+url.QueryEscape(`Port == 8080`), "", &nodeList)
	if len(nodeList.Services) != 1 || nodeList.Services[0].ID != "web-1" {
		t.Fatalf("catalog/node-services filter: %+v", nodeList)
	}

	// A bad expression: Consul's 500 and text, even when nothing matches.
	for _, tc := range []struct{ path, expr, want string }{
		{"/v1/catalog/services", `Bogus==1`, `Failed to create boolean expression evaluator: Selector "Bogus" is not valid`},
		{"/v1/catalog/service/nothing", `ServiceTags is empty and`, `Failed to create boolean expression evaluator: 1:25 (24): no match found, expected: [ \t\r\n]`},
		{"/v1/health/service/nothing", `Node.Meta.rack is empty`, `Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector "Node.Meta.rack"`},
		{"/v1/agent/services", `Port == abc`, `Failed to create boolean expression evaluator: Failed to coerce value "abc" for selector "Port": strconv.ParseInt: parsing "abc": invalid syntax`},
		{"/v1/agent/checks", `Bogus == 1`, `Selector "Bogus" is not valid`},
	} {
		r := ta.do("GET", tc.path+"?filter="+url.QueryEscape(tc.expr), "")
		if r.code != 500 || r.body != tc.want || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s ?filter=%s: %d %q, want 500 %q", tc.path, tc.expr, r.code, r.body, tc.want)
		}
	}
	// A blocking query's index is the unfiltered read's.
	all := ta.do("GET", "/v1/catalog/service/web", "")
	none := ta.do("GET", "/v1/catalog/service/web?filter="+url.QueryEscape(`ServicePort == 1`), "")
	if all.index() != none.index() || none.body != "[]" {
		t.Fatalf("filtered index %d body %s, unfiltered index %d", none.index(), none.body, all.index())
	}
}

// TestHTTPFilterThroughClient: a client agent forwards ?filter with the
// rest of the query string, and the server filters.
func TestHTTPFilterThroughClient(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 1)
	cl := startTestClient(t, "filter-client", "127.0.0.166", lanAddr(t, c.agents[0].cfg.BindAddr))
	eventually(t, 15*time.Second, "the client knows the server", func() bool { return len(cl.lanServers()) == 1 })
	eventually(t, 15*time.Second, "the client is in the catalog", func() bool {
		return reflect.DeepEqual(cl.filterIDs("/v1/catalog/nodes", `Node == "filter-client"`, "Node"), []string{"filter-client"})
	})
	if got := cl.filterIDs("/v1/catalog/nodes", `Node != "filter-client"`, "Node"); len(got) != 1 || got[0] == "filter-client" {
		t.Fatalf("nodes but the client: %v", got)
	}
	r := cl.do("GET", "/v1/health/state/any?filter="+url.QueryEscape(`Bogus == 1`), "")
	if r.code != 500 || r.body != `Failed to create boolean expression evaluator: Selector "Bogus" is not valid` {
		t.Fatalf("bad filter through the client: %d %q", r.code, r.body)
	}
}

// TestHTTPFilterIntentionsAndConfig: the intention list and the
// service-defaults list take ?filter; other kinds refuse it, as Consul's.
func TestHTTPFilterIntentionsAndConfig(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-intentions","Name":"db","Sources":[{"Name":"web","Action":"allow"},{"Name":"api","Action":"deny"}]}`, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"web","Protocol":"http","Meta":{"team":"a"}}`, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"db","Protocol":"tcp"}`, nil)
	if got := ta.filterIDs("/v1/connect/intentions", `Action == deny and DestinationName == db`, "SourceName"); !reflect.DeepEqual(got, []string{"api"}) {
		t.Fatalf("intentions: %v", got)
	}
	if got := ta.filterIDs("/v1/config/service-defaults", `Protocol == http or Meta.team == b`, "Name"); !reflect.DeepEqual(got, []string{"web"}) {
		t.Fatalf("service-defaults: %v", got)
	}
	for _, tc := range []struct{ path, expr, want string }{
		{"/v1/connect/intentions", `CreateIndex == 1`, `Failed to create boolean expression evaluator: Selector "CreateIndex" is not valid`},
		{"/v1/config/service-defaults", `Bogus == 1`, `Failed to create boolean expression evaluator: Selector "Bogus" is not valid`},
		{"/v1/config/proxy-defaults", `Name == x`, `filtering not supported for config entry kind=proxy-defaults`},
	} {
		r := ta.do("GET", tc.path+"?filter="+url.QueryEscape(tc.expr), "")
		if r.code != 500 || r.body != tc.want {
			t.Errorf("%s ?filter=%s: %d %q, want 500 %q", tc.path, tc.expr, r.code, r.body, tc.want)
		}
	}
}
