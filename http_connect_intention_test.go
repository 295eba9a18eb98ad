package main

import (
	"strings"
	"testing"
	"time"
)

// TestIntentionAPI: the older intentions API over service-intentions
// entries, with Consul 1.22.7's answers (checked on the real binary).
func TestIntentionAPI(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"web","Action":"deny"}]}`, nil)
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/v1/connect/intentions/exact?source=db&destination=api", `{"Action":"allow","Description":"hi"}`, 200, `true`},
		{"PUT", "/v1/connect/intentions/exact?source=*&destination=api", `{"Action":"deny"}`, 200, `true`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=*", `{"Action":"allow","Meta":{"k":"v"}}`, 500, `Meta must not be specified`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=*", `{"Action":"allow"}`, 200, `true`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=*", `{"Action":"allow","Meta":{"k":"v"}}`, 500,
			`Meta must not be specified, or should be unchanged during an update.`},
		{"GET", "/v1/connect/intentions/exact?source=web&destination=api", "", 200,
			`{"SourceNS":"default","SourceName":"web","DestinationNS":"default","DestinationName":"api","SourceType":"consul","Action":"deny","Precedence":9,`},
		{"GET", "/v1/connect/intentions/exact?source=web&destination=*", "", 200, `"Action":"allow","Precedence":6,`},
		{"GET", "/v1/connect/intentions/exact?source=default/web&destination=default/*", "", 200, `"Action":"allow","Precedence":6,`},
		{"GET", "/v1/connect/intentions/exact?source=foo/web&destination=*", "", 500, `Invalid SourceNS "foo": Namespaces is a Consul Enterprise feature`},
		{"GET", "/v1/connect/intentions/exact?source=nope&destination=api", "", 404, `Intention not found`},
		{"GET", "/v1/connect/intentions/check?source=web&destination=api", "", 200, `{"Allowed":false}`},
		{"GET", "/v1/connect/intentions/check?source=db&destination=api", "", 200, `{"Allowed":true}`},
		{"GET", "/v1/connect/intentions/check?source=x&destination=api", "", 200, `{"Allowed":false}`},
		{"GET", "/v1/connect/intentions/check?source=x&destination=y", "", 200, `{"Allowed":true}`},
		{"GET", "/v1/connect/intentions/check?source=web&destination=y", "", 200, `{"Allowed":true}`},
		// Names may carry the namespace (default, the only one of Consul CE).
		{"GET", "/v1/connect/intentions/check?source=default/web&destination=default/api", "", 200, `{"Allowed":false}`},
		{"GET", "/v1/connect/intentions/check?source=default/default/db&destination=api", "", 200, `{"Allowed":true}`},
		{"GET", "/v1/connect/intentions/check?source=foo/web&destination=api", "", 500, `Invalid source namespace "foo": Namespaces is a Consul Enterprise feature`},
		{"GET", "/v1/connect/intentions/check?source=a/b/c/web&destination=api", "", 500, `source "a/b/c/web" is invalid: input can contain at most two '/'`},
		{"GET", "/v1/connect/intentions/match?by=destination&name=foo/api", "", 500, `Invalid match entry namespace "foo": Namespaces is a Consul Enterprise feature`},
		{"GET", "/v1/config/service-intentions/api", "", 200,
			`"Sources":[{"Name":"web","Action":"deny","Precedence":9,"Type":"consul"},{"Name":"db","Action":"allow","Precedence":9,"Type":"consul","Description":"hi"},{"Name":"*","Action":"deny","Precedence":8,"Type":"consul"}]`},
		// Errors, as Consul's.
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=api", `{"Action":"maybe"}`, 500, `Sources[0].Action must be set to 'allow' or 'deny'`},
		{"PUT", "/v1/connect/intentions/exact?source=web", `{"Action":"allow"}`, 500, `required query parameter 'destination' not set`},
		{"PUT", "/v1/connect/intentions/exact?destination=web", `{"Action":"allow"}`, 500, `required query parameter 'source' not set`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=api", `{"Action":"allow","Bogus":1}`, 400, `Request decode failed: json: unknown field "Bogus"`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=api", ``, 400, `Request decode failed: EOF`},
		{"POST", "/v1/connect/intentions/exact?source=web&destination=api", ``, 405, `method POST not allowed`},
		{"GET", "/v1/connect/intentions/match?by=foo&name=web", "", 500, `'by' parameter must be one of 'source' or 'destination'`},
		{"GET", "/v1/connect/intentions/match?name=web", "", 500, `required query parameter 'by' not set`},
		{"GET", "/v1/connect/intentions/match?by=source", "", 500, `required query parameter 'name' not set`},
		{"GET", "/v1/connect/intentions/check?destination=web", "", 500, `required query parameter 'source' not set`},
		// Deletes: a missing one is deleted already; the last source takes its entry along.
		{"DELETE", "/v1/connect/intentions/exact?source=nope&destination=nope2", "", 200, `true`},
		{"DELETE", "/v1/connect/intentions/exact?source=web&destination=*", "", 200, `true`},
		{"GET", "/v1/config/service-intentions/*", "", 404, `Config entry not found for "service-intentions" / "*"`},
		{"DELETE", "/v1/connect/intentions/exact?source=db&destination=api", "", 200, `true`},
		{"GET", "/v1/connect/intentions/exact?source=db&destination=api", "", 404, `Intention not found`},
	}
	for _, s := range steps {
		r := ta.do(s.method, s.path, s.body)
		if r.code != s.code || !strings.Contains(r.body, s.want) {
			t.Errorf("%s %s %s: got %d %q, want %d containing %q", s.method, s.path, s.body, r.code, r.body, s.code, s.want)
		}
	}

	var list []Intention
	ta.must("GET", "/v1/connect/intentions", "", &list)
	var got []string
	for _, x := range list {
		got = append(got, x.SourceName+">"+x.DestinationName)
		if x.SourceType != "consul" || x.SourceNS != "default" || x.DestinationNS != "default" || x.CreateIndex == 0 {
			t.Errorf("listed %+v", x)
		}
	}
	if s := strings.Join(got, " "); s != "web>api *>api" {
		t.Fatalf("list: %q", s)
	}
	var match map[string][]Intention
	ta.must("GET", "/v1/connect/intentions/match?by=source&name=web&name=default/db", "", &match)
	if len(match["web"]) != 2 || len(match["default/db"]) != 1 || match["default/db"][0].SourceName != "*" {
		t.Fatalf("match: %+v", match)
	}
}

// TestAgentConnectAuthorize: reasons and errors as Consul 1.22.7's.
func TestAgentConnectAuthorize(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"web","Action":"deny"},{"Name":"db","Action":"allow"}]}`, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-intentions","Name":"*","Sources":[{"Name":"web","Action":"allow"}]}`, nil)
	uri := func(svc string) string {
		return "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/" + svc
	}
	for _, c := range []struct{ body, want string }{
		{`{"Target":"api","ClientCertURI":"` + uri("web") + `"}`,
			`{"Authorized":false,"Reason":"Matched L4 intention: default/web =\u003e default/api (Precedence: 9, Action: DENY)"}`},
		{`{"Target":"api","ClientCertURI":"` + uri("db") + `"}`,
			`{"Authorized":true,"Reason":"Matched L4 intention: default/db =\u003e default/api (Precedence: 9, Action: ALLOW)"}`},
		{`{"Target":"zz","ClientCertURI":"` + uri("web") + `"}`,
			`{"Authorized":true,"Reason":"Matched L4 intention: default/web =\u003e default/* (Precedence: 6, Action: ALLOW)"}`},
		{`{"Target":"zz","ClientCertURI":"` + uri("db") + `"}`, `{"Authorized":true,"Reason":"Default behavior configured by ACLs"}`},
	} {
		if r := ta.must("POST", "/v1/agent/connect/authorize", c.body, nil); r.body != c.want {
			t.Errorf("%s: %s, want %s", c.body, r.body, c.want)
		}
	}
	ta.expect("POST", "/v1/agent/connect/authorize", `{"Target":"api","ClientCertURI":"http://x"}`, 400, "ClientCertURI not a valid Connect identifier")
	ta.expect("POST", "/v1/agent/connect/authorize", `{"Target":"api"}`, 400, "ClientCertURI not a valid Connect identifier")
	ta.expect("POST", "/v1/agent/connect/authorize", `{"ClientCertURI":"`+uri("web")+`"}`, 400, "Target service must be specified")
	ta.expect("POST", "/v1/agent/connect/authorize", `{"Target":"api","Bogus":1}`, 400, `Request decode failed: json: unknown field "Bogus"`)
	ta.expect("POST", "/v1/agent/connect/authorize", ``, 400, "Request decode failed: EOF")
	ta.expect("GET", "/v1/agent/connect/authorize", ``, 405, "method GET not allowed")
}

// TestAuthorizeFollowsEveryChange: authorize answers from the agent's
// cache, which follows every change of the intentions: deny, allow, deny…
// each takes effect within a bounded poll (Consul 1.22.7 keeps a deny for
// minutes after an allow), on a server and on a client agent whose cache
// asks its server.
func TestAuthorizeFollowsEveryChange(t *testing.T) {
	t.Parallel()
	srv := startTestAgent(t, func(c *Config) { c.Encrypt = testGossipKey(t) }) // the client's key
	t.Run("server", func(t *testing.T) { followIntentionChanges(t, srv, srv) })
	cl := startTestClient(t, "int-client", "127.0.0.163", srv.lan().Addr())
	eventually(t, 10*time.Second, "the client knows the server", func() bool { return len(cl.lanServers()) == 1 })
	t.Run("client", func(t *testing.T) { followIntentionChanges(t, cl, cl) })
}

// followIntentionChanges flips web → api between deny and allow through
// writer, and waits each time for reader's authorize to follow.
func followIntentionChanges(t *testing.T, writer, reader *testAgent) {
	body := `{"Target":"api","ClientCertURI":"spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web"}`
	for i := range 4 {
		for _, action := range []string{"deny", "allow"} {
			writer.must("PUT", "/v1/connect/intentions/exact?source=web&destination=api", `{"Action":"`+action+`"}`, nil)
			want := `"Authorized":` + map[string]string{"deny": "false", "allow": "true"}[action]
			start := time.Now()
			eventually(t, 5*time.Second, action+" takes effect", func() (bool, string) {
				r := reader.do("POST", "/v1/agent/connect/authorize", body)
				return r.code == 200 && strings.Contains(r.body, want), r.body
			})
			t.Logf("round %d: %s took effect after %v", i, action, time.Since(start))
		}
	}
}
