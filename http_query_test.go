package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// queryNodes is the sorted node names of an execute answer.
func queryNodes(res queryExecuteResponse) []string {
	var out []string
	for _, n := range res.Nodes {
		out = append(out, n.Node.Node)
	}
	slices.Sort(out)
	return out
}

// registerQueryCatalog registers web on four nodes: n1 passing (tags v1,
// primary; rack r1; version 1), n2 warning (v2), n3 critical, n4 passing
// with a critical check "flaky" (v1; rack r2; version 2).
func registerQueryCatalog(ta *testAgent) {
	for _, r := range []string{
		`{"Node":"n1","Address":"10.0.0.1","NodeMeta":{"rack":"r1"},"Service":{"Service":"web","Port":80,"Tags":["v1","Primary"],"Meta":{"version":"1"}},
		  "Check":{"CheckID":"ok","ServiceID":"web","Status":"passing"}}`,
		`{"Node":"n2","Address":"10.0.0.2","NodeMeta":{"rack":"r1"},"Service":{"Service":"web","Port":80,"Tags":["v2"]},
		  "Check":{"CheckID":"slow","ServiceID":"web","Status":"warning"}}`,
		`{"Node":"n3","Address":"10.0.0.3","Service":{"Service":"web","Port":80,"Tags":["v1"]},
		  "Check":{"CheckID":"down","ServiceID":"web","Status":"critical"}}`,
		`{"Node":"n4","Address":"10.0.0.4","NodeMeta":{"rack":"r2"},"Service":{"Service":"web","Port":80,"Tags":["v1"],"Meta":{"version":"2"}},
		  "Check":{"CheckID":"flaky","Status":"critical"}}`,
	} {
		ta.must("PUT", "/v1/catalog/register", r, nil)
	}
}

func TestPreparedQueryCRUD(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	var created struct{ ID string }
	ta.must("POST", "/v1/query", `{"Name":"webq","Service":{"Service":"web"},"DNS":{"TTL":"10s"}}`, &created)
	if !isUUID(created.ID) {
		t.Fatalf("ID %q", created.ID)
	}
	var got []map[string]any
	r := ta.must("GET", "/v1/query/"+created.ID, "", &got)
	if len(got) != 1 || got[0]["Name"] != "webq" || got[0]["Token"] != "" || r.index() == 0 {
		t.Fatalf("GET: %s", r.body)
	}
	// Consul's JSON shape, nulls and all (what its Go client compares).
	svc, _ := json.Marshal(got[0]["Service"])
	want := `{"Connect":false,"Failover":{"Datacenters":null,"NearestN":0,"Targets":null},"IgnoreCheckIDs":null,"Near":"","NodeMeta":null,` +
		`"OnlyPassing":false,"Peer":"","SamenessGroup":"","Service":"web","ServiceMeta":null,"Tags":null}`
	if string(svc) != want {
		t.Fatalf("Service block\n got %s\nwant %s", svc, want)
	}
	for _, k := range []string{"ID", "Name", "Session", "Token", "Template", "Service", "DNS", "CreateIndex", "ModifyIndex"} {
		if _, ok := got[0][k]; !ok {
			t.Fatalf("GET lacks %s: %s", k, r.body)
		}
	}

	// A blocking list wakes on a write.
	list := ta.must("GET", "/v1/query", "", &got)
	if len(got) != 1 {
		t.Fatalf("list: %s", list.body)
	}
	woke := ta.blockingGet(fmt.Sprintf("/v1/query?index=%d&wait=30s", list.index()))
	if r := ta.do("PUT", "/v1/query/"+created.ID, `{"Name":"my-query","Service":{"Service":"web","Tags":["v1"]}}`); r.code != 200 || r.body != "" {
		t.Fatalf("PUT: %d %q", r.code, r.body)
	}
	select {
	case r := <-woke:
		if r.index() <= list.index() || !strings.Contains(r.body, "my-query") {
			t.Fatalf("woken list: %d %s", r.index(), r.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking list did not wake")
	}

	id := created.ID
	missing := "11111111-1111-1111-1111-111111111111"
	for _, c := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/v1/query/" + missing, "", 404, "Query not found"},
		{"GET", "/v1/query/nope", "", 500, "failed prepared query lookup: index error: UUID must be 36 characters"},
		{"GET", "/v1/query/nope/execute", "", 404, "Query not found"},
		{"GET", "/v1/query/nope/explain", "", 404, "Query not found"},
		{"DELETE", "/v1/query/" + missing, "", 500, "Cannot modify non-existent prepared query: '" + missing + "'"},
		{"PUT", "/v1/query/" + missing, `{"Name":"x","Service":{"Service":"web"}}`, 500, "Cannot modify non-existent prepared query: '" + missing + "'"},
		{"DELETE", "/v1/query/nope", "", 500, "Prepared Query lookup failed: failed prepared query lookup: index error: UUID must be 36 characters"},
		{"POST", "/v1/query", `{"Name":"MY-QUERY","Service":{"Service":"web"}}`, 500, "raft apply failed: name 'MY-QUERY' aliases an existing query name"},
		{"POST", "/v1/query", `{"Name":"x"}`, 500, "Invalid prepared query: Must provide a Service name to query"},
		{"POST", "/v1/query", `{"Service":{"Service":"web"}}`, 500, "Invalid prepared query: Must be bound to a session"},
		{"POST", "/v1/query", `{bad`, 400, "Request decode failed: "},
		{"POST", "/v1/query", `{"ID":"x","Name":"y","Service":{"Service":"web"}}`, 500, "ID must be empty when creating a new prepared query"},
		{"POST", "/v1/query", `{"Name":"t","Service":{"Service":"x"},"DNS":{"TTL":"zz"}}`, 500, `Invalid prepared query: Bad DNS TTL 'zz': time: invalid duration "zz"`},
		{"POST", "/v1/query", `{"Name":"t","Service":{"Service":"x","Failover":{"NearestN":-1}}}`, 500, "Invalid prepared query: Bad NearestN '-1', must be >= 0"},
		{"POST", "/v1/query", `{"Name":"t","Session":"` + missing + `","Service":{"Service":"x"}}`, 500, `raft apply failed: invalid session "` + missing + `"`},
		{"POST", "/v1/query", `{"Name":"t","Token":"<hidden>","Service":{"Service":"x"}}`, 500, "Invalid prepared query: Bad Token '<hidden>', it looks like a query definition with a redacted token was submitted"},
		{"POST", "/v1/query", `{"Name":"` + id + `","Service":{"Service":"x"}}`, 500, "raft apply failed: name '" + id + "' aliases an existing query ID"},
		{"POST", "/v1/query", `{"Name":"t","Template":{"Type":"bogus"},"Service":{"Service":"x"}}`, 500, "raft apply failed: failed compiling template: Bad Template.Type 'bogus'"},
		{"POST", "/v1/query", `{"Name":"t","Template":{"Type":"name_prefix_match","Regexp":"("},"Service":{"Service":"x"}}`, 500, "raft apply failed: failed compiling template: Bad Regexp: error parsing regexp: missing closing ): `(`"},
		{"POST", "/v1/query", `{"Name":"t","Template":{"Type":"name_prefix_match"},"Service":{"Service":"${foo}"}}`, 500, "raft apply failed: failed compiling template: Bad evaluation for '${foo}' in Service.Service: 1:3: unknown variable accessed: foo"},
		{"POST", "/v1/query", `{"Name":"t","Service":{"Service":"x","NodeMeta":{"a b":"1"}}}`, 500, "Invalid prepared query: Couldn't load metadata pair ('a b', '1'): Key contains invalid characters"},
		{"GET", "/v1/query/" + id + "/execute?limit=x", "", 500, `Bad limit: strconv.Atoi: parsing "x": invalid syntax`},
		{"PUT", "/v1/query/" + id + "/execute", "", 405, ""},
	} {
		ta.expect(c.method, c.path, c.body, c.code, c.msg)
	}

	if r := ta.do("DELETE", "/v1/query/"+id, ""); r.code != 200 || r.body != "" {
		t.Fatalf("DELETE: %d %q", r.code, r.body)
	}
	ta.expect("GET", "/v1/query/"+id, "", 404, "Query not found")
	if ta.must("GET", "/v1/query", "", &got); len(got) != 0 {
		t.Fatalf("list after delete: %v", got)
	}
}

func TestPreparedQueryExecute(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	registerQueryCatalog(ta)
	for _, c := range []struct {
		name, service string
		want          []string
	}{
		{"all", `{"Service":"web"}`, []string{"n1", "n2"}},
		{"passing", `{"Service":"web","OnlyPassing":true}`, []string{"n1"}},
		{"ignore", `{"Service":"web","IgnoreCheckIDs":["flaky","down"]}`, []string{"n1", "n2", "n3", "n4"}},
		{"tags", `{"Service":"web","Tags":["V1"],"IgnoreCheckIDs":["flaky"]}`, []string{"n1", "n4"}},
		{"not-tag", `{"Service":"web","Tags":["v1","!primary"],"IgnoreCheckIDs":["flaky"]}`, []string{"n4"}},
		{"node-meta", `{"Service":"web","NodeMeta":{"rack":"r1"}}`, []string{"n1", "n2"}},
		{"service-meta", `{"Service":"web","ServiceMeta":{"version":"2"},"IgnoreCheckIDs":["flaky"]}`, []string{"n4"}},
		{"none", `{"Service":"nothing"}`, nil},
	} {
		ta.must("POST", "/v1/query", `{"Name":"`+c.name+`","Service":`+c.service+`,"DNS":{"TTL":"7s"}}`, nil)
		var res queryExecuteResponse
		ta.must("GET", "/v1/query/"+c.name+"/execute", "", &res)
		if got := queryNodes(res); !slices.Equal(got, c.want) {
			t.Errorf("%s: nodes %v, want %v", c.name, got, c.want)
		}
		if res.Datacenter != "dc1" || res.DNS.TTL != "7s" || res.Failovers != 0 || !strings.EqualFold(res.Service, strings.Split(strings.Split(c.service, `"Service":"`)[1], `"`)[0]) {
			t.Errorf("%s: %+v", c.name, res)
		}
	}
	// The answer's shape: Nodes is [] when empty, the meta in the body too.
	r := ta.must("GET", "/v1/query/none/execute", "", nil)
	for _, s := range []string{`"Nodes":[]`, `"PeerName":""`, `"Index":1`, `"KnownLeader":true`, `"ConsistencyLevel":"leader"`, `"ResultsFilteredByACLs":false`} {
		if !strings.Contains(r.body, s) {
			t.Fatalf("execute body lacks %s: %s", s, r.body)
		}
	}
	var res queryExecuteResponse
	if ta.must("GET", "/v1/query/ignore/execute?limit=2", "", &res); len(res.Nodes) != 2 {
		t.Fatalf("limit 2: %v", queryNodes(res))
	}
	// ?near names a node, which goes first.
	for range 5 {
		if ta.must("GET", "/v1/query/ignore/execute?near=n3", "", &res); res.Nodes[0].Node.Node != "n3" {
			t.Fatalf("near n3: %v first", res.Nodes[0].Node.Node)
		}
	}
	// By ID, and the ID of an unnamed query bound to a session.
	var sess struct{ ID string }
	ta.must("PUT", "/v1/session/create", `{"Name":"s"}`, &sess)
	var created struct{ ID string }
	ta.must("POST", "/v1/query", `{"Session":"`+sess.ID+`","Service":{"Service":"web","OnlyPassing":true}}`, &created)
	if ta.must("GET", "/v1/query/"+created.ID+"/execute", "", &res); !slices.Equal(queryNodes(res), []string{"n1"}) {
		t.Fatalf("by ID: %v", queryNodes(res))
	}
	// Destroying the session deletes the query.
	ta.must("PUT", "/v1/session/destroy/"+sess.ID, "", nil)
	ta.expect("GET", "/v1/query/"+created.ID, "", 404, "Query not found")
	ta.expect("GET", "/v1/query/"+created.ID+"/execute", "", 404, "Query not found")
}

func TestPreparedQueryTemplates(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	registerQueryCatalog(ta)
	ta.must("PUT", "/v1/catalog/register", `{"Node":"n5","Address":"10.0.0.5","Service":{"Service":"api","Port":90,"Tags":["blue"]}}`, nil)
	ta.must("POST", "/v1/query", `{"Name":"geo-","Template":{"Type":"name_prefix_match","Regexp":"^geo-(.+?)-(.*)$","RemoveEmptyTags":true},
		"Service":{"Service":"${match(1)}","Tags":["${match(2)}"]}}`, nil)
	ta.must("POST", "/v1/query", `{"Name":"geo-web-","Template":{"Type":"name_prefix_match"},
		"Service":{"Service":"web","Tags":["${name.suffix}"],"IgnoreCheckIDs":["flaky"]}}`, nil)
	ta.must("POST", "/v1/query", `{"Name":"","Template":{"Type":"name_prefix_match"},"Service":{"Service":"${name.full}"}}`, nil)
	ta.expect("POST", "/v1/query", `{"Template":{"Type":"name_prefix_match"},"Service":{"Service":"x"}}`, 500,
		"raft apply failed: a query template with an empty name already exists")

	var ex queryExplainResponse
	ta.must("GET", "/v1/query/geo-api-blue/explain", "", &ex)
	if ex.Query.Name != "geo-" || ex.Query.Service.Service != "api" || !slices.Equal(ex.Query.Service.Tags, []string{"blue"}) {
		t.Fatalf("explain geo-api-blue: %+v", ex.Query)
	}
	ta.must("GET", "/v1/query/geo-api-/explain", "", &ex)
	if ex.Query.Service.Tags == nil || len(ex.Query.Service.Tags) != 0 {
		t.Fatalf("RemoveEmptyTags: %#v", ex.Query.Service.Tags)
	}
	var res queryExecuteResponse
	// The longest prefix wins: geo-web- over geo-.
	if ta.must("GET", "/v1/query/geo-web-v1/execute", "", &res); !slices.Equal(queryNodes(res), []string{"n1", "n4"}) {
		t.Fatalf("geo-web-v1: %v", queryNodes(res))
	}
	if ta.must("GET", "/v1/query/geo-api-blue/execute", "", &res); !slices.Equal(queryNodes(res), []string{"n5"}) || res.Service != "api" {
		t.Fatalf("geo-api-blue: %+v", res)
	}
	// The catch-all template answers any other name.
	if ta.must("GET", "/v1/query/api/execute", "", &res); !slices.Equal(queryNodes(res), []string{"n5"}) {
		t.Fatalf("catch-all api: %v", queryNodes(res))
	}
	ta.must("GET", "/v1/query/web/explain", "", &ex)
	if ex.Query.Name != "" || ex.Query.Service.Service != "web" {
		t.Fatalf("catch-all explain: %+v", ex.Query)
	}
	// A template is resolved by name, never by its ID.
	var list []PreparedQuery
	ta.must("GET", "/v1/query", "", &list)
	ta.expect("GET", "/v1/query/"+list[0].ID+"/execute", "", 500, "prepared query templates can only be resolved up by name, not by ID")
}

func TestPreparedQueryDNS(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	registerQueryCatalog(ta)
	ta.must("POST", "/v1/query", `{"Name":"webq","Service":{"Service":"web"},"DNS":{"TTL":"10s"}}`, nil)
	ta.must("POST", "/v1/query", `{"Name":"plain","Service":{"Service":"web","OnlyPassing":true}}`, nil)
	ta.must("POST", "/v1/query", `{"Name":"empty","Service":{"Service":"nothing"}}`, nil)
	dnsAddr := ta.DNSAddrs()[0]

	m := dnsAskUDP(t, dnsAddr, "webq.query.consul.", dnsmessage.TypeA)
	if got := dnsSorted(m.Answers); m.RCode != dnsmessage.RCodeSuccess || !slices.Equal(got, []string{"A 10.0.0.1", "A 10.0.0.2"}) {
		t.Fatalf("webq A: %v %v", m.RCode, got)
	}
	for _, a := range m.Answers {
		if a.Header.TTL != 10 {
			t.Fatalf("TTL %d, want 10", a.Header.TTL)
		}
	}
	m = dnsAskUDP(t, dnsAddr, "plain.query.dc1.consul.", dnsmessage.TypeSRV)
	if got := dnsSorted(m.Answers); !slices.Equal(got, []string{"SRV n1.node.dc1.consul."}) || m.Answers[0].Header.TTL != 0 {
		t.Fatalf("plain SRV: %v %+v", got, m.Answers)
	}
	if got := dnsSorted(m.Additionals); !slices.Equal(got, []string{"A 10.0.0.1", "TXT rack=r1"}) {
		t.Fatalf("plain SRV additional: %v", got)
	}
	for _, name := range []string{"nope.query.consul.", "empty.query.consul.", "webq.query.dc9.consul."} {
		if m := dnsAskUDP(t, dnsAddr, name, dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
			t.Fatalf("%s: %v", name, m.RCode)
		}
	}
}

func TestPreparedQueryFailover(t *testing.T) {
	t.Parallel()
	cfg1 := wanDCServer("dc1", "127.0.0.168")
	cfg1.Ports.DNS, cfg1.Addresses.DNS = 0, []string{"127.0.0.168"}
	s1 := startWANAgent(t, cfg1)
	s2 := startWANAgent(t, wanDCServer("dc2", "127.0.0.169", s1.wan().Addr()))
	eventually(t, 20*time.Second, "dc1 knows dc2's server", func() bool { return len(s1.dcServers("dc2")) == 1 })

	s2.must("PUT", "/v1/catalog/register", `{"Node":"far","Address":"10.2.0.1","NodeMeta":{"rack":"r9"},"Service":{"Service":"db","Port":5432,"Tags":["primary"]}}`, nil)
	s2.must("PUT", "/v1/catalog/register", `{"Node":"far2","Address":"10.2.0.2","Service":{"Service":"db","Port":5432}}`, nil)
	s1.must("POST", "/v1/query", `{"Name":"dbq","Service":{"Service":"db","Tags":["primary"],"Failover":{"Datacenters":["dc9","dc2"]}}}`, nil)
	s1.must("POST", "/v1/query", `{"Name":"nearest","Service":{"Service":"db","Failover":{"NearestN":1}}}`, nil)
	s1.must("POST", "/v1/query", `{"Name":"stay","Service":{"Service":"db"}}`, nil)

	var res queryExecuteResponse
	s1.must("GET", "/v1/query/dbq/execute", "", &res)
	if !slices.Equal(queryNodes(res), []string{"far"}) || res.Datacenter != "dc2" || res.Failovers != 1 {
		t.Fatalf("dbq: %v %s failovers %d", queryNodes(res), res.Datacenter, res.Failovers)
	}
	s1.must("GET", "/v1/query/nearest/execute?limit=1", "", &res)
	if len(res.Nodes) != 1 || res.Datacenter != "dc2" || res.Failovers != 1 {
		t.Fatalf("nearest: %v %s failovers %d", queryNodes(res), res.Datacenter, res.Failovers)
	}
	s1.must("GET", "/v1/query/stay/execute", "", &res)
	if len(res.Nodes) != 0 || res.Datacenter != "dc1" || res.Failovers != 0 {
		t.Fatalf("stay: %+v", res)
	}
	// Over DNS: the SRV target names dc2, the node's meta is in TXT.
	m := dnsAskUDP(t, s1.DNSAddrs()[0], "dbq.query.consul.", dnsmessage.TypeSRV)
	if got := dnsSorted(m.Answers); !slices.Equal(got, []string{"SRV far.node.dc2.consul."}) {
		t.Fatalf("dbq SRV: %v %v", m.RCode, got)
	}
	if got := dnsSorted(m.Additionals); !slices.Equal(got, []string{"A 10.2.0.1", "TXT rack=r9"}) {
		t.Fatalf("dbq SRV additional: %v", got)
	}
	// A client agent forwards execute, and DNS, to its server.
	cl := startTestClientWith(t, "app1", "127.0.0.170", func(c *Config) {
		c.Encrypt, c.RetryJoin = wanTestKey, []string{s1.lan().Addr()}
	})
	eventually(t, 20*time.Second, "the client knows dc1's server", func() bool { return len(cl.lanServers()) == 1 })
	cl.must("GET", "/v1/query/dbq/execute", "", &res)
	if !slices.Equal(queryNodes(res), []string{"far"}) || res.Datacenter != "dc2" || res.Failovers != 1 {
		t.Fatalf("dbq through a client: %v %s failovers %d", queryNodes(res), res.Datacenter, res.Failovers)
	}
	if m := dnsAskUDP(t, cl.DNSAddrs()[0], "dbq.query.consul.", dnsmessage.TypeA); !slices.Equal(dnsSorted(m.Answers), []string{"A 10.2.0.1"}) {
		t.Fatalf("dbq A through a client: %v %v", m.RCode, dnsSorted(m.Answers))
	}
	// Near "_agent" is the agent asked, the client, not its server.
	cl.must("PUT", "/v1/agent/service/register", `{"Name":"cache","Port":6379}`, nil)
	for _, n := range []string{"c1", "c2", "c3"} {
		s1.must("PUT", "/v1/catalog/register", `{"Node":"`+n+`","Address":"10.1.0.9","Service":{"Service":"cache","Port":6379}}`, nil)
	}
	s1.must("POST", "/v1/query", `{"Name":"cacheq","Service":{"Service":"cache","Near":"_agent"}}`, nil)
	eventually(t, 20*time.Second, "the client's cache instance in the catalog", func() bool {
		s1.must("GET", "/v1/query/cacheq/execute", "", &res)
		return len(res.Nodes) == 4
	})
	for range 5 {
		if cl.must("GET", "/v1/query/cacheq/execute", "", &res); res.Nodes[0].Node.Node != "app1" {
			t.Fatalf("Near _agent through the client: %s first", res.Nodes[0].Node.Node)
		}
		m := dnsAskUDP(t, cl.DNSAddrs()[0], "cacheq.query.consul.", dnsmessage.TypeA)
		if got := dnsAnswers(m.Answers); len(got) != 2 || got[0] != "A 127.0.0.170" {
			t.Fatalf("cacheq A through the client: %v", got)
		}
	}
	// Once dc1 has a healthy instance, it answers itself.
	s1.must("PUT", "/v1/catalog/register", `{"Node":"near","Address":"10.1.0.1","Service":{"Service":"db","Port":5432,"Tags":["primary"]}}`, nil)
	s1.must("GET", "/v1/query/dbq/execute", "", &res)
	if !slices.Equal(queryNodes(res), []string{"near"}) || res.Datacenter != "dc1" || res.Failovers != 0 {
		t.Fatalf("dbq with a local instance: %v %s %d", queryNodes(res), res.Datacenter, res.Failovers)
	}
	// dc2's own query, run from dc1 by ?dc=.
	s2.must("POST", "/v1/query", `{"Name":"there","Service":{"Service":"db"}}`, nil)
	if s1.must("GET", "/v1/query/there/execute?dc=dc2", "", &res); len(res.Nodes) != 2 || res.Datacenter != "dc2" {
		t.Fatalf("?dc=dc2: %+v", res)
	}
	if m := dnsAskUDP(t, s1.DNSAddrs()[0], "there.query.dc2.consul.", dnsmessage.TypeA); len(m.Answers) != 2 {
		t.Fatalf("there.query.dc2: %v %v", m.RCode, dnsSorted(m.Answers))
	}
	s1.expect("GET", "/v1/query/there/execute", "", http.StatusNotFound, "Query not found")
}

func TestPreparedQueryACLs(t *testing.T) {
	t.Parallel()
	a, writer := enforceAgentRules(t, `query_prefix "web" { policy = "write" }
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }`)
	reader := ACLToken{}
	a.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"qr","Rules":"query_prefix \"web\" { policy = \"read\" }"}`, nil)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"qr"}]}`, &reader)
	a.mustToken("root", "PUT", "/v1/catalog/register", `{"Node":"n2","Address":"10.0.0.2","Service":{"Service":"web","Port":81}}`, nil)

	var created struct{ ID string }
	a.mustToken(writer.SecretID, "POST", "/v1/query", `{"Name":"webq","Token":"root","Service":{"Service":"web"}}`, &created)
	a.expectToken(writer.SecretID, "POST", "/v1/query", `{"Name":"other","Service":{"Service":"web"}}`, 403, denied(writer, "query:write", "other"))
	a.expectToken("", "POST", "/v1/query", `{"Name":"other","Service":{"Service":"web"}}`, 403,
		`Permission denied: anonymous token lacks permission 'query:write' on "other"`+anonymousHint)
	a.mustToken("root", "POST", "/v1/query", `{"Name":"other","Service":{"Service":"web"}}`, nil)
	// Renaming a query needs write on the old name too.
	var list []PreparedQuery
	a.mustToken("root", "GET", "/v1/query", "", &list)
	other := list[0].ID
	if list[0].Name != "other" {
		other = list[1].ID
	}
	a.expectToken(writer.SecretID, "PUT", "/v1/query/"+other, `{"Name":"webz","Service":{"Service":"web"}}`, 403, denied(writer, "query:write", "other"))
	a.expectToken(reader.SecretID, "DELETE", "/v1/query/"+created.ID, "", 403, denied(reader, "query:write", "webq"))

	// Reads: query:read on the name; Token redacted without acl:write.
	tokens := func(secret string) (out []string, r response) {
		var got []PreparedQuery
		r = a.mustToken(secret, "GET", "/v1/query", "", &got)
		for _, q := range got {
			out = append(out, q.Name+"="+q.Token)
		}
		slices.Sort(out)
		return out, r
	}
	if got, r := tokens(reader.SecretID); !slices.Equal(got, []string{"webq=<hidden>"}) || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "true" {
		t.Fatalf("reader's list: %v %v", got, r.header)
	}
	if got, _ := tokens("root"); !slices.Equal(got, []string{"other=", "webq=root"}) {
		t.Fatalf("management list: %v", got)
	}
	if got, r := tokens(""); len(got) != 0 || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
		t.Fatalf("anonymous list: %v %v", got, r.header)
	}
	a.expectToken("", "GET", "/v1/query/"+created.ID, "", 403, "Permission denied")
	a.expectToken("", "GET", "/v1/query/webq/explain", "", 403, "Permission denied")
	var ex queryExplainResponse
	if a.mustToken(reader.SecretID, "GET", "/v1/query/webq/explain", "", &ex); ex.Query.Token != redactedToken {
		t.Fatalf("reader's explain: %+v", ex.Query)
	}
	// Execute runs with the query's own token: the anonymous caller sees n2.
	var res queryExecuteResponse
	if a.mustToken("", "GET", "/v1/query/webq/execute", "", &res); len(res.Nodes) != 1 {
		t.Fatalf("execute with the query's token: %+v", res)
	}
	if a.mustToken("", "GET", "/v1/query/other/execute", "", &res); len(res.Nodes) != 0 {
		t.Fatalf("execute with the anonymous token: %+v", res)
	}
}
