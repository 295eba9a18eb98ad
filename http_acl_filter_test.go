package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The rules of the test token: Consul's own example of a targeted policy,
// checked against Consul 1.22.7 with the same catalog.
const enforceRules = `service "web" { policy = "write" }
node_prefix "" { policy = "read" }`

// enforceAgent starts a server with ACLs on (default deny, "root" the
// management token) and the catalog the tests read: web on n1, db on n2
// with a service check; it returns the agent and a token with enforceRules.
func enforceAgent(t *testing.T, mutate func(*Config)) (*testAgent, ACLToken) {
	a := startTestAgent(t, func(cfg *Config) {
		aclOn(cfg)
		cfg.ACL.Tokens.InitialManagement = "root"
		if mutate != nil {
			mutate(cfg)
		}
	})
	eventually(t, 10*time.Second, "the initial management token", func() bool {
		return a.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	return a, enforceSetup(t, a)
}

func enforceSetup(t *testing.T, a *testAgent) ACLToken {
	body, _ := json.Marshal(map[string]string{"Name": "web", "Rules": enforceRules})
	a.mustToken("root", "PUT", "/v1/acl/policy", string(body), nil)
	var tok ACLToken
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"web"}]}`, &tok)
	a.mustToken("root", "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":80}}`, nil)
	a.mustToken("root", "PUT", "/v1/catalog/register", `{"Node":"n2","Address":"10.0.0.2","Service":{"Service":"db","Port":5432},
		"Check":{"Name":"c","ServiceID":"db","Status":"passing"}}`, nil)
	return tok
}

// filtered reports whether an answer carries the ACL filter header.
func filtered(r response) bool { return r.header.Get("X-Consul-Results-Filtered-By-Acls") == "true" }

func denied(tok ACLToken, perm, name string) string {
	msg := "Permission denied: token with AccessorID '" + tok.AccessorID + "' lacks permission '" + perm + "'"
	if name != "" {
		msg += ` on "` + name + `"`
	}
	return msg
}

// TestACLEnforceCatalogHealth: catalog and health reads keep what the token
// may read and say so; registrations need node:write and service:write;
// all answers as Consul 1.22.7's for the same catalog and token.
func TestACLEnforceCatalogHealth(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgent(t, nil)
	s := tok.SecretID

	for _, c := range []struct {
		path, want string
		filtered   bool
	}{
		{"/v1/catalog/services", `{"web":[]}`, true},
		{"/v1/catalog/service/db", `[]`, true},
		{"/v1/health/service/db", `[]`, true},
		{"/v1/health/checks/db", `[]`, true},
		{"/v1/health/node/n2", `[]`, true},
		{"/v1/health/connect/web", `[]`, false},
		{"/v1/catalog/connect/db", `[]`, false}, // Consul: empty, unmarked
	} {
		r := a.mustToken(s, "GET", c.path, "", nil)
		if r.body != c.want || filtered(r) != c.filtered {
			t.Errorf("GET %s: %s filtered=%v, want %s filtered=%v", c.path, r.body, filtered(r), c.want, c.filtered)
		}
	}
	var web []catalogServiceNode
	if r := a.mustToken(s, "GET", "/v1/catalog/service/web", "", &web); len(web) != 1 || filtered(r) {
		t.Errorf("catalog/service/web: %s", r.body)
	}
	var nodes []Node
	if r := a.mustToken(s, "GET", "/v1/catalog/nodes", "", &nodes); len(nodes) != 3 || filtered(r) {
		t.Errorf("catalog/nodes with node_prefix read: %s", r.body)
	}
	var node struct {
		Node     *Node
		Services map[string]*Service
	}
	if r := a.mustToken(s, "GET", "/v1/catalog/node/n2", "", &node); node.Node == nil || len(node.Services) != 0 || !filtered(r) {
		t.Errorf("catalog/node/n2: %s %v", r.body, r.header)
	}
	var checks []HealthCheck
	if r := a.mustToken(s, "GET", "/v1/health/state/any", "", &checks); len(checks) != 1 || checks[0].CheckID != "serfHealth" || !filtered(r) {
		t.Errorf("health/state/any: %s", r.body)
	}
	a.expectToken(s, "GET", "/v1/health/connect/db", "", 403, "Permission denied")

	// The anonymous token: filtered, never marked (Consul's maskResultsFilteredByACLs).
	if r := a.mustToken("", "GET", "/v1/catalog/nodes", "", nil); r.body != "[]" || filtered(r) {
		t.Errorf("anonymous catalog/nodes: %s %v", r.body, r.header)
	}
	if r := a.mustToken("", "GET", "/v1/catalog/node-services/n1", "", nil); r.body != `{"Node":null,"Services":null}` || filtered(r) {
		t.Errorf("anonymous node-services: %s", r.body)
	}
	a.mustToken("", "GET", "/v1/catalog/datacenters", "", nil)
	a.expectToken("bogus", "GET", "/v1/catalog/nodes", "", 403, "ACL not found")
	// The management token sees everything, unmarked.
	if r := a.mustToken("root", "GET", "/v1/catalog/service/db", "", &web); len(web) != 1 || filtered(r) {
		t.Errorf("management catalog/service/db: %s", r.body)
	}

	// Writes.
	a.expectToken(s, "PUT", "/v1/catalog/register", `{"Node":"n3","Address":"10.0.0.3","Service":{"Service":"web"}}`, 403, denied(tok, "node:write", "n3"))
	a.expectToken(s, "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"db"}}`, 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","ID":"web2","Port":81},
		"Checks":[{"Node":"n1","CheckID":"x","Name":"x","ServiceID":"web2"}]}`, nil) // the node unchanged: no node:write
	a.expectToken(s, "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1","Checks":[{"Node":"n1","CheckID":"y","Name":"y"}]}`, 403, denied(tok, "node:write", "n1"))
	a.expectToken(s, "PUT", "/v1/catalog/deregister", `{"Node":"n2","ServiceID":"db"}`, 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/catalog/deregister", `{"Node":"n2","ServiceID":"nope"}`, 500, "Unknown service ID 'nope'")
	a.expectToken(s, "PUT", "/v1/catalog/deregister", `{"Node":"n2"}`, 403, denied(tok, "node:write", "n2"))
	a.mustToken(s, "PUT", "/v1/catalog/deregister", `{"Node":"n1","ServiceID":"web2"}`, nil)
}

// TestACLEnforceAgent: the agent's own endpoints, as Consul's.
func TestACLEnforceAgent(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgent(t, nil)
	s := tok.SecretID
	node := a.cfg.NodeName

	a.expectToken(s, "GET", "/v1/agent/self", "", 403, denied(tok, "agent:read", node))
	a.expectToken(s, "GET", "/v1/agent/monitor", "", 403, denied(tok, "agent:read", node))
	a.expectToken(s, "PUT", "/v1/agent/reload", "", 403, denied(tok, "agent:write", node))
	a.expectToken(s, "PUT", "/v1/agent/join/127.0.0.1", "", 403, denied(tok, "agent:write", node))
	a.expectToken(s, "PUT", "/v1/agent/leave", "", 403, denied(tok, "agent:write", node))
	a.expectToken(s, "PUT", "/v1/agent/force-leave/x", "", 403, denied(tok, "operator:write", ""))
	a.expectToken(s, "PUT", "/v1/agent/maintenance?enable=true", "", 403, denied(tok, "node:write", node))
	a.mustToken("root", "GET", "/v1/agent/self", "", nil)

	var members []agentMember
	if r := a.mustToken(s, "GET", "/v1/agent/members", "", &members); len(members) != 1 || filtered(r) {
		t.Errorf("members with node_prefix read: %s", r.body)
	}
	if r := a.mustToken("", "GET", "/v1/agent/members", "", &members); len(members) != 0 || filtered(r) {
		t.Errorf("anonymous members: %s %v", r.body, r.header)
	}

	a.expectToken(s, "PUT", "/v1/agent/service/register", `{"Name":"db","Port":1}`, 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/agent/service/register", `{"Name":"web","Port":1,"Connect":{"SidecarService":{}}}`, 403,
		denied(tok, "service:write", "web-sidecar-proxy"))
	a.mustToken(s, "PUT", "/v1/agent/service/register", `{"Name":"web","Port":1,"Check":{"TTL":"30s"}}`, nil)
	a.mustToken("root", "PUT", "/v1/agent/service/register", `{"Name":"db","Port":2,"Check":{"TTL":"30s"}}`, nil)
	var services map[string]any
	if r := a.mustToken(s, "GET", "/v1/agent/services", "", &services); len(services) != 1 || services["web"] == nil || !filtered(r) {
		t.Errorf("agent/services: %s %v", r.body, r.header)
	}
	var checks map[string]any
	if r := a.mustToken(s, "GET", "/v1/agent/checks", "", &checks); len(checks) != 1 || checks["service:web"] == nil || !filtered(r) {
		t.Errorf("agent/checks: %s %v", r.body, r.header)
	}
	a.expectToken(s, "GET", "/v1/agent/service/db", "", 403, denied(tok, "service:read", "db"))
	a.mustToken(s, "GET", "/v1/agent/service/web", "", nil)
	a.mustToken(s, "PUT", "/v1/agent/check/pass/service:web", "", nil)
	a.expectToken(s, "PUT", "/v1/agent/check/pass/service:db", "", 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/agent/check/update/service:db", `{"Status":"passing"}`, 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/agent/check/register", `{"Name":"disk","TTL":"10s"}`, 403, denied(tok, "node:write", node))
	a.expectToken(s, "PUT", "/v1/agent/check/register", `{"Name":"db2","ServiceID":"db","TTL":"10s"}`, 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "PUT", "/v1/agent/check/register", `{"Name":"web2","ServiceID":"web","TTL":"10s"}`, nil)
	a.expectToken(s, "PUT", "/v1/agent/check/deregister/service:db", "", 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/agent/service/maintenance/db?enable=true", "", 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "PUT", "/v1/agent/service/maintenance/web?enable=true", "", nil)
	a.expectToken(s, "PUT", "/v1/agent/service/deregister/db", "", 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "PUT", "/v1/agent/service/deregister/web", "", nil)
}

// TestACLEnforceMesh: config entries, intentions, the CA and authorize.
func TestACLEnforceMesh(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgent(t, nil)
	s := tok.SecretID
	for _, e := range []string{
		`{"Kind":"service-defaults","Name":"web","Protocol":"http"}`,
		`{"Kind":"service-defaults","Name":"db","Protocol":"tcp"}`,
		`{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"http"}}`,
		`{"Kind":"service-intentions","Name":"db","Sources":[{"Name":"web","Action":"allow"}]}`,
		`{"Kind":"service-intentions","Name":"web","Sources":[{"Name":"db","Action":"allow"}]}`,
	} {
		a.mustToken("root", "PUT", "/v1/config", e, nil)
	}

	var entries []map[string]any
	if r := a.mustToken(s, "GET", "/v1/config/service-defaults", "", &entries); len(entries) != 1 || entries[0]["Name"] != "web" || !filtered(r) {
		t.Errorf("service-defaults list: %s", r.body)
	}
	if r := a.mustToken(s, "GET", "/v1/config/service-intentions", "", &entries); len(entries) != 1 || entries[0]["Name"] != "web" || !filtered(r) {
		t.Errorf("service-intentions list: %s", r.body)
	}
	a.expectToken(s, "GET", "/v1/config/service-defaults/db", "", 403, denied(tok, "service:read", "db"))
	a.expectToken(s, "GET", "/v1/config/service-intentions/db", "", 403, denied(tok, "intention:read", "db"))
	a.mustToken(s, "GET", "/v1/config/service-intentions/web", "", nil)
	a.mustToken("", "GET", "/v1/config/proxy-defaults/global", "", nil) // anyone
	a.expectToken(s, "PUT", "/v1/config", `{"Kind":"service-defaults","Name":"db","Protocol":"http"}`, 403, denied(tok, "service:write", "db"))
	a.expectToken(s, "PUT", "/v1/config", `{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"tcp"}}`, 403, denied(tok, "mesh:write", ""))
	a.expectToken(s, "PUT", "/v1/config", `{"Kind":"service-intentions","Name":"db","Sources":[{"Name":"x","Action":"allow"}]}`, 403, denied(tok, "intention:write", "db"))
	a.expectToken(s, "DELETE", "/v1/config/service-defaults/db", "", 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "PUT", "/v1/config", `{"Kind":"service-defaults","Name":"web","Protocol":"grpc"}`, nil)

	// Intentions: readable by source or destination (both are here).
	var ixns []Intention
	if r := a.mustToken(s, "GET", "/v1/connect/intentions", "", &ixns); len(ixns) != 2 || filtered(r) {
		t.Errorf("intentions: %s", r.body)
	}
	if r := a.mustToken("", "GET", "/v1/connect/intentions", "", &ixns); len(ixns) != 0 || filtered(r) {
		t.Errorf("anonymous intentions: %s", r.body)
	}
	a.mustToken(s, "GET", "/v1/connect/intentions/exact?source=web&destination=db", "", nil)
	a.expectToken("", "GET", "/v1/connect/intentions/exact?source=web&destination=db", "", 404, "Intention not found")
	a.mustToken(s, "GET", "/v1/connect/intentions/match?by=destination&name=web", "", nil)
	a.expectToken(s, "GET", "/v1/connect/intentions/match?by=source&name=db", "", 403, denied(tok, "intention:read", "db"))
	a.expectToken(s, "GET", "/v1/connect/intentions/check?source=web&destination=db", "", 403, denied(tok, "service:read", "db"))
	a.mustToken(s, "GET", "/v1/connect/intentions/check?source=db&destination=web", "", nil)
	a.expectToken(s, "PUT", "/v1/connect/intentions/exact?source=x&destination=db", `{"Action":"allow"}`, 403, "Permission denied")
	a.expectToken(s, "DELETE", "/v1/connect/intentions/exact?source=db&destination=web", "", 403, "Permission denied")
	// The ID-based API: the same rules, on the intention's destination.
	a.expectToken(s, "POST", "/v1/connect/intentions", `{"SourceName":"x","DestinationName":"db","Action":"allow"}`, 403, "Permission denied")
	var created struct{ ID string }
	a.mustToken("root", "POST", "/v1/connect/intentions", `{"SourceName":"web","DestinationName":"legacy","Action":"allow"}`, &created)
	a.mustToken(s, "GET", "/v1/connect/intentions/"+created.ID, "", nil) // readable by its source
	a.expectToken("", "GET", "/v1/connect/intentions/"+created.ID, "", 403, "Permission denied")
	a.expectToken(s, "PUT", "/v1/connect/intentions/"+created.ID, `{"SourceName":"web","DestinationName":"legacy","Action":"deny"}`, 403, "Permission denied")
	a.expectToken(s, "DELETE", "/v1/connect/intentions/"+created.ID, "", 403, "Permission denied")
	a.mustToken("root", "DELETE", "/v1/connect/intentions/"+created.ID, "", nil)

	// The agent's mesh endpoints and the CA.
	uri := `spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/`
	a.expectToken(s, "POST", "/v1/agent/connect/authorize", `{"Target":"db","ClientCertURI":"`+uri+`web"}`, 403, denied(tok, "service:write", "db"))
	var auth struct{ Authorized bool }
	if r := a.mustToken(s, "POST", "/v1/agent/connect/authorize", `{"Target":"web","ClientCertURI":"`+uri+`db"}`, &auth); !auth.Authorized {
		t.Errorf("authorize db → web: %s", r.body)
	}
	if r := a.mustToken(s, "POST", "/v1/agent/connect/authorize", `{"Target":"web","ClientCertURI":"`+uri+`api"}`, &auth); auth.Authorized {
		t.Errorf("authorize api → web with default deny: %s", r.body)
	}
	a.expectToken(s, "GET", "/v1/agent/connect/ca/leaf/db", "", 403, denied(tok, "service:write", "db"))
	a.mustToken(s, "GET", "/v1/agent/connect/ca/leaf/web", "", nil)
	a.mustToken("", "GET", "/v1/connect/ca/roots", "", nil)
	a.expectToken(s, "GET", "/v1/connect/ca/configuration", "", 403, denied(tok, "operator:write", ""))
	a.expectToken(s, "PUT", "/v1/connect/ca/configuration", `{"Provider":"consul","Config":{}}`, 403, denied(tok, "operator:write", ""))
	a.mustToken("root", "GET", "/v1/connect/ca/configuration", "", nil)
}

// TestACLEnforceDNS: DNS answers with the agent's default token, else the
// anonymous token; a name it may not read is NXDOMAIN.
func TestACLEnforceDNS(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgent(t, nil)
	dns := a.DNSAddrs()[0]
	for _, name := range []string{"web.service.consul.", "n1.node.consul."} {
		if m := dnsAskUDP(t, dns, name, dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
			t.Errorf("%s with the anonymous token: %v", name, m.RCode)
		}
	}
	a.mustToken("root", "PUT", "/v1/agent/token/default", `{"Token":"`+tok.SecretID+`"}`, nil)
	for _, name := range []string{"web.service.consul.", "n1.node.consul.", "n2.node.consul."} {
		if m := dnsAskUDP(t, dns, name, dnsmessage.TypeA); m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
			t.Errorf("%s with the default token: %v %v", name, m.RCode, m.Answers)
		}
	}
	if m := dnsAskUDP(t, dns, "db.service.consul.", dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("db.service with the default token: %v", m.RCode)
	}
}

// TestACLEnforceThroughClient: a client agent forwards the token to the
// server, which filters; the client enforces its own endpoints, and its
// DNS reads carry its default token.
func TestACLEnforceThroughClient(t *testing.T) {
	t.Parallel()
	srv, tok := enforceAgent(t, func(cfg *Config) { cfg.Encrypt = testGossipKey(t) }) // the client's key
	s := tok.SecretID
	cl := startTestClientWith(t, "acl-enf-client", "127.0.0.175", func(cfg *Config) {
		aclOn(cfg)
		cfg.RetryJoin = []string{srv.lan().Addr()}
	})
	eventually(t, 10*time.Second, "the client knows the server", func() bool { return len(cl.lanServers()) > 0 })

	if r := cl.mustToken(s, "GET", "/v1/health/service/db", "", nil); r.body != "[]" || !filtered(r) {
		t.Errorf("health/service/db through the client: %s %v", r.body, r.header)
	}
	var web []CheckServiceNode
	cl.mustToken(s, "GET", "/v1/health/service/web", "", &web)
	if len(web) != 1 {
		t.Errorf("health/service/web through the client: %+v", web)
	}
	cl.expectToken(s, "PUT", "/v1/catalog/register", `{"Node":"n3","Address":"10.0.0.3"}`, 403, denied(tok, "node:write", "n3"))
	cl.expectToken(s, "GET", "/v1/agent/self", "", 403, denied(tok, "agent:read", "acl-enf-client"))
	cl.expectToken(s, "PUT", "/v1/agent/service/register", `{"Name":"db","Port":1}`, 403, denied(tok, "service:write", "db"))
	cl.mustToken(s, "PUT", "/v1/agent/service/register", `{"Name":"web","Port":8080}`, nil)
	// ?cached reads are per token: the anonymous token's is empty, the token's is not.
	cl.mustToken("", "GET", "/v1/health/service/web?cached", "", &web)
	if len(web) != 0 {
		t.Errorf("anonymous cached read: %+v", web)
	}
	eventually(t, 10*time.Second, "the client's web reaches the catalog", func() bool {
		cl.mustToken(s, "GET", "/v1/health/service/web?cached", "", &web)
		return len(web) == 2
	})

	dns := cl.DNSAddrs()[0]
	if m := dnsAskUDP(t, dns, "web.service.consul.", dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
		t.Errorf("client DNS with the anonymous token: %v", m.RCode)
	}
	cl.mustToken("root", "PUT", "/v1/agent/token/default", `{"Token":"`+s+`"}`, nil)
	m := dnsAskUDP(t, dns, "web.service.consul.", dnsmessage.TypeA)
	var addrs []string
	for _, rr := range m.Answers {
		addrs = append(addrs, rr.Header.Name.String())
	}
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 2 || !slices.Contains(addrs, "web.service.consul.") {
		t.Errorf("client DNS with the default token: %v %v", m.RCode, m.Answers)
	}
	// The default token reads every node: nothing removed, unmarked.
	var members []agentMember
	if r := cl.mustToken("", "GET", "/v1/agent/members", "", &members); len(members) != 2 || filtered(r) {
		t.Errorf("client members with the default token: %s %v", r.body, r.header)
	}
}
