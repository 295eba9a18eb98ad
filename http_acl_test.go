package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// aclOn turns ACLs on with a default policy of deny.
func aclOn(cfg *Config) {
	cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny"
}

// withToken does a request carrying token (none when "").
func (ta *testAgent) withToken(token, method, path, body string) response {
	ta.t.Helper()
	req, err := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if err != nil {
		ta.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// mustToken is withToken that must answer 200, decoded into out.
func (ta *testAgent) mustToken(token, method, path, body string, out any) response {
	ta.t.Helper()
	r := ta.withToken(token, method, path, body)
	if r.code != http.StatusOK {
		ta.t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			ta.t.Fatalf("%s %s: decoding %q: %v", method, path, r.body, err)
		}
	}
	return r
}

// expectToken does a request that must fail with code and exactly msg.
func (ta *testAgent) expectToken(token, method, path, body string, code int, msg string) response {
	ta.t.Helper()
	r := ta.withToken(token, method, path, body)
	if r.code != code || r.body != msg {
		ta.t.Fatalf("%s %s: got %d %q, want %d %q", method, path, r.code, r.body, code, msg)
	}
	return r
}

func TestACLBootstrapAndCRUD(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, aclOn)

	// Before the bootstrap: an unknown token is refused with Consul's hint.
	a.expectToken("nope", "GET", "/v1/kv/x", "", 403,
		"ACL system must be bootstrapped before making any requests that require authorization: ACL not found")

	var boot struct {
		ID string
		ACLToken
	}
	r := a.mustToken("", "PUT", "/v1/acl/bootstrap", "", &boot)
	if boot.ID != boot.SecretID || boot.Description != "Bootstrap Token (Global Management)" ||
		len(boot.Policies) != 1 || boot.Policies[0] != (ACLLink{aclGlobalManagementID, aclGlobalManagementName}) {
		t.Fatalf("bootstrap: %s", r.body)
	}
	if r.header.Get("X-Consul-Default-Acl-Policy") != "deny" {
		t.Errorf("X-Consul-Default-Acl-Policy: %q", r.header.Get("X-Consul-Default-Acl-Policy"))
	}
	root := boot.SecretID
	a.expectToken("", "PUT", "/v1/acl/bootstrap", "", 403,
		"Permission denied: ACL bootstrap no longer allowed (reset index: "+itoa(boot.CreateIndex)+")")

	// The leader's built-ins.
	eventually(t, 10*time.Second, "the anonymous token", func() bool {
		return a.withToken(root, "GET", "/v1/acl/token/"+aclAnonymousAccessorID, "").code == 200
	})
	var policies []map[string]any
	a.mustToken(root, "GET", "/v1/acl/policies", "", &policies)
	if len(policies) != 2 || policies[0]["Name"] != aclGlobalReadOnlyName || policies[1]["Name"] != aclGlobalManagementName ||
		policies[0]["Rules"] != nil {
		t.Fatalf("built-in policies: %v", policies)
	}

	// Tokens and errors.
	a.expectToken("", "GET", "/v1/acl/token/self", "", 403, "token does not exist: ACL not found")
	a.expectToken("nope", "GET", "/v1/kv/x", "", 403, "ACL not found")
	a.expectToken("", "GET", "/v1/kv/app/x", "", 403,
		`Permission denied: anonymous token lacks permission 'key:read' on "app/x". The anonymous token is used implicitly when a request does not specify a token.`)
	a.expectToken(root, "GET", "/v1/acl/policy/name/nope", "", 404, "Requested policy does not exist: ACL not found")
	a.expectToken(root, "PUT", "/v1/acl/policy", `{"Name":"bad","Rules":"key_prefix \"app/\" { policy = write }"}`, 500,
		"Failed to parse ACL rules: At 1:30: Unknown token: 1:30 IDENT write")
	a.expectToken(root, "PUT", "/v1/acl/policy", `{"Name":"bad","Rules":"key_prefix \"app/\" { policy = \"wrte\" }"}`, 500,
		`Invalid key_prefix policy: &acl.KeyRule{Prefix:"app/", Policy:"wrte", EnterpriseRule:acl.EnterpriseRule{}}`)
	a.expectToken(root, "PUT", "/v1/acl/token", `{"Policies":[{"Name":"nope"}]}`, 500, `No such ACL policy with name "nope"`)

	var kvPolicy ACLPolicy
	a.mustToken(root, "PUT", "/v1/acl/policy", `{"Name":"kv-app","Rules":"key_prefix \"app/\" { policy = \"write\" }\nkey \"app/secret\" { policy = \"deny\" }"}`, &kvPolicy)
	a.expectToken(root, "PUT", "/v1/acl/policy", `{"Name":"kv-app","Rules":""}`, 500, `Invalid Policy: A Policy with Name "kv-app" already exists`)
	var byName ACLPolicy
	a.mustToken(root, "GET", "/v1/acl/policy/name/kv-app", "", &byName)
	if byName.ID != kvPolicy.ID || byName.Rules != kvPolicy.Rules || len(byName.Hash) == 0 {
		t.Fatalf("by name: %+v, created %+v", byName, kvPolicy)
	}
	var role ACLRole
	a.mustToken(root, "PUT", "/v1/acl/role", `{"Name":"r1","Policies":[{"Name":"kv-app"}]}`, &role)
	a.expectToken(root, "PUT", "/v1/acl/role", `{"Name":"r1"}`, 500, `Invalid Role: A Role with Name "r1" already exists`)

	var tok, viaRole ACLToken
	a.mustToken(root, "PUT", "/v1/acl/token", `{"Description":"app","Policies":[{"Name":"kv-app"}]}`, &tok)
	if tok.Policies[0] != (ACLLink{kvPolicy.ID, "kv-app"}) || tok.AccessorID == "" || tok.SecretID == "" {
		t.Fatalf("token: %+v", tok)
	}
	a.mustToken(root, "PUT", "/v1/acl/token", `{"Roles":[{"Name":"r1"}]}`, &viaRole)
	var self ACLToken
	a.mustToken(tok.SecretID, "GET", "/v1/acl/token/self", "", &self)
	if self.AccessorID != tok.AccessorID {
		t.Fatalf("self: %+v", self)
	}

	// List filters.
	var list []ACLToken
	a.mustToken(root, "GET", "/v1/acl/tokens?policy="+kvPolicy.ID, "", &list)
	if len(list) != 1 || list[0].AccessorID != tok.AccessorID {
		t.Fatalf("tokens?policy: %+v", list)
	}
	a.mustToken(root, "GET", "/v1/acl/tokens?role="+role.ID, "", &list)
	if len(list) != 1 || list[0].AccessorID != viaRole.AccessorID {
		t.Fatalf("tokens?role: %+v", list)
	}
	a.mustToken(root, "GET", "/v1/acl/tokens", "", &list)
	if len(list) != 4 { // anonymous, bootstrap, two more
		t.Fatalf("tokens: %+v", list)
	}
	var viaIdentity ACLToken
	a.mustToken(root, "PUT", "/v1/acl/token", `{"ServiceIdentities":[{"ServiceName":"s1"},{"ServiceName":"s2"}]}`, &viaIdentity)
	a.mustToken(root, "GET", "/v1/acl/tokens?servicename=s2", "", &list)
	if len(list) != 1 || list[0].AccessorID != viaIdentity.AccessorID {
		t.Fatalf("tokens?servicename: %+v", list)
	}
	a.expectToken(root, "GET", "/v1/acl/tokens?servicename=s2&policy="+kvPolicy.ID, "", 500,
		"can only filter by one of policy, role, serviceName, or methodName at a time")

	// KV: allowed, denied, filtered, as the policy says; the role grants the same.
	for _, secret := range []string{tok.SecretID, viaRole.SecretID} {
		a.mustToken(secret, "PUT", "/v1/kv/app/x", "v", nil)
	}
	a.mustToken(root, "PUT", "/v1/kv/app/secret", "s", nil)
	a.mustToken(root, "PUT", "/v1/kv/other/x", "o", nil)
	a.expectToken(tok.SecretID, "PUT", "/v1/kv/other/x", "v", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:write' on \"other/x\"")
	a.expectToken(tok.SecretID, "GET", "/v1/kv/app/secret", "", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:read' on \"app/secret\"")
	var entries []KVEntry
	r = a.mustToken(tok.SecretID, "GET", "/v1/kv/?recurse", "", &entries)
	if len(entries) != 1 || entries[0].Key != "app/x" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "true" {
		t.Fatalf("recurse: %v %v", entries, r.header)
	}
	// The anonymous token sees nothing, and is not told so (Consul masks it).
	if r := a.withToken("", "GET", "/v1/kv/?recurse", ""); r.code != 404 || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
		t.Fatalf("anonymous recurse: %d %v", r.code, r.header)
	}
	var keys []string
	r = a.mustToken(root, "GET", "/v1/kv/?keys", "", &keys)
	if len(keys) != 3 || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
		t.Fatalf("management keys: %v %v", keys, r.header)
	}
	a.expectToken(tok.SecretID, "DELETE", "/v1/kv/app/?recurse", "", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:write' on \"app/\"")
	for _, h := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.SecretID) },
		func(r *http.Request) { r.URL.RawQuery = "token=" + tok.SecretID },
	} {
		req, _ := http.NewRequest("GET", a.base+"/v1/kv/app/x", nil)
		h(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("token as %v: %d", req.Header, resp.StatusCode)
		}
	}

	// Update replaces the whole token; clone copies the links; delete.
	var updated ACLToken
	a.mustToken(root, "PUT", "/v1/acl/token/"+tok.AccessorID, `{"Description":"nothing"}`, &updated)
	if len(updated.Policies) != 0 || updated.SecretID != tok.SecretID || updated.CreateIndex != tok.CreateIndex {
		t.Fatalf("update: %+v", updated)
	}
	a.expectToken(tok.SecretID, "GET", "/v1/kv/app/x", "", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:read' on \"app/x\"")
	var clone ACLToken
	a.mustToken(root, "PUT", "/v1/acl/token/"+viaRole.AccessorID+"/clone", `{"Description":"copy"}`, &clone)
	if clone.AccessorID == viaRole.AccessorID || clone.SecretID == viaRole.SecretID || clone.Description != "copy" ||
		len(clone.Roles) != 1 || clone.Roles[0].Name != "r1" {
		t.Fatalf("clone: %+v", clone)
	}
	a.mustToken(clone.SecretID, "GET", "/v1/kv/app/x", "", nil)
	a.mustToken(root, "DELETE", "/v1/acl/token/"+clone.AccessorID, "", nil)
	a.expectToken(clone.SecretID, "GET", "/v1/kv/app/x", "", 403, "ACL not found")
	a.expectToken(root, "GET", "/v1/acl/token/"+clone.AccessorID, "", 403, "token does not exist: ACL not found")

	// A non-management token cannot manage ACLs.
	a.expectToken(viaRole.SecretID, "PUT", "/v1/acl/token", `{}`, 403,
		"Permission denied: token with AccessorID '"+viaRole.AccessorID+"' lacks permission 'acl:write'")
	// Deleting the policy takes it away from the role's tokens at once.
	a.mustToken(root, "DELETE", "/v1/acl/policy/"+kvPolicy.ID, "", nil)
	a.expectToken(viaRole.SecretID, "GET", "/v1/kv/app/x", "", 403,
		"Permission denied: token with AccessorID '"+viaRole.AccessorID+"' lacks permission 'key:read' on \"app/x\"")
	var roles []ACLRole
	a.mustToken(root, "GET", "/v1/acl/roles", "", &roles)
	if len(roles) != 1 || len(roles[0].Policies) != 0 {
		t.Fatalf("roles after the policy's deletion: %+v", roles)
	}
	a.expectToken(root, "DELETE", "/v1/acl/policy/"+aclGlobalManagementID, "", 500,
		"Delete operation not permitted on the builtin global-management policy")
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestACLInitialManagementAndAgentToken: acl.tokens.initial_management,
// the default token serving tokenless requests, its persistence, and the
// intentions default.
func TestACLInitialManagementAndAgentToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mutate := func(cfg *Config) {
		aclOn(cfg)
		cfg.ACL.Tokens.InitialManagement = "root"
		cfg.ACL.EnableTokenPersistence = true
		cfg.DataDir = dir
	}
	a := startTestAgent(t, mutate)
	eventually(t, 10*time.Second, "the initial management token", func() bool {
		return a.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	var self ACLToken
	a.mustToken("root", "GET", "/v1/acl/token/self", "", &self)
	if self.Description != "Initial Management Token" || self.Policies[0].Name != aclGlobalManagementName {
		t.Fatalf("initial management: %+v", self)
	}
	r := a.withToken("", "PUT", "/v1/acl/bootstrap", "")
	if r.code != 403 || !strings.HasPrefix(r.body, "Permission denied: ACL bootstrap no longer allowed (reset index: ") {
		t.Fatalf("bootstrap after initial management: %d %s", r.code, r.body)
	}

	var reader ACLToken
	a.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"read-app","Rules":"key_prefix \"app/\" { policy = \"read\" }\nagent_prefix \"\" { policy = \"write\" }"}`, nil)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"read-app"}]}`, &reader)
	a.mustToken("root", "PUT", "/v1/kv/app/x", "v", nil)
	a.expectToken("", "PUT", "/v1/agent/token/default", `{"Token":"`+reader.SecretID+`"}`, 403,
		"Permission denied: anonymous token lacks permission 'agent:write' on \"node1\". The anonymous token is used implicitly when a request does not specify a token.")
	a.expectToken("root", "PUT", "/v1/agent/token/bogus", `{"Token":"x"}`, 404, `Token "bogus" is unknown`)
	a.mustToken("root", "PUT", "/v1/agent/token/default", `{"Token":"`+reader.SecretID+`"}`, nil)
	if got := a.withToken("", "GET", "/v1/kv/app/x?raw", ""); got.code != 200 || got.body != "v" {
		t.Fatalf("tokenless read with the default token: %d %s", got.code, got.body)
	}
	a.expectToken("", "PUT", "/v1/kv/app/x", "w", 403,
		"Permission denied: token with AccessorID '"+reader.AccessorID+"' lacks permission 'key:write' on \"app/x\"")

	// With acl.default_policy deny, no intention means deny.
	var check struct{ Allowed bool }
	a.mustToken("root", "GET", "/v1/connect/intentions/check?source=web&destination=db", "", &check)
	if check.Allowed {
		t.Error("intention check allowed by default with default_policy deny")
	}

	// The default token persists across a restart.
	a.Shutdown()
	b := startTestAgent(t, mutate)
	if got := b.acl.token("default"); got != reader.SecretID {
		t.Fatalf("persisted default token: %q", got)
	}
}

// TestACLTokenDeletionClusterAndClient: a deletion takes effect at once
// on every server, and a client agent forwards the token.
func TestACLTokenDeletionClusterAndClient(t *testing.T) {
	t.Parallel()
	c := startTestClusterWith(t, 3, func(cfg *Config) {
		aclOn(cfg)
		cfg.ACL.DefaultPolicy = "allow" // the cluster's own helpers read the catalog without a token
		cfg.ACL.Tokens.InitialManagement = "root"
	})
	leader := c.agents[c.waitLeader(10*time.Second)]
	eventually(t, 10*time.Second, "the initial management token", func() bool {
		return leader.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	leader.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"deny-all","Rules":"key_prefix \"\" { policy = \"deny\" }\nkey_prefix \"app/\" { policy = \"write\" }"}`, nil)
	var tok ACLToken
	leader.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"deny-all"}]}`, &tok)
	for _, s := range c.agents {
		s.mustToken(tok.SecretID, "PUT", "/v1/kv/app/"+s.cfg.NodeName, "v", nil)
		s.expectToken(tok.SecretID, "GET", "/v1/kv/x", "", 403,
			"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:read' on \"x\"")
	}

	cl := startTestClientWith(t, "acl-client", "127.0.0.39", func(cfg *Config) {
		aclOn(cfg)                          // deny, where the servers allow: the client's own endpoints follow its configuration
		cfg.ACL.TokenTTL = time.Millisecond // every resolution asks a server again
		cfg.RetryJoin = []string{lanAddr(t, "127.0.0.21")}
	})
	eventually(t, 15*time.Second, "the client knows a server", func() bool { return len(cl.lanServers()) > 0 })
	cl.mustToken(tok.SecretID, "PUT", "/v1/kv/app/client", "v", nil)
	cl.expectToken(tok.SecretID, "PUT", "/v1/kv/other", "v", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:write' on \"other\"")
	// The client resolves tokens for its own endpoints over ACL.Resolve.
	cl.expectToken(tok.SecretID, "PUT", "/v1/agent/token/default", `{"Token":"x"}`, 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'agent:write' on \"acl-client\"")
	cl.mustToken("root", "PUT", "/v1/agent/token/default", `{"Token":"`+tok.SecretID+`"}`, nil)
	cl.expectToken("", "PUT", "/v1/kv/other", "v", 403,
		"Permission denied: token with AccessorID '"+tok.AccessorID+"' lacks permission 'key:write' on \"other\"")

	leader.mustToken("root", "DELETE", "/v1/acl/token/"+tok.AccessorID, "", nil)
	// Servers resolve from their own state, as Consul's: the deletion takes
	// effect on each as soon as it has applied it (no cache to expire).
	for _, s := range c.agents {
		eventually(t, 2*time.Second, s.cfg.NodeName+" refuses the deleted token", func() bool {
			r := s.withToken(tok.SecretID, "GET", "/v1/kv/app/x", "")
			return r.code == 403 && r.body == "ACL not found"
		})
	}
	cl.expectToken(tok.SecretID, "PUT", "/v1/kv/app/client", "v", 403, "ACL not found")

	// With every server gone, down_policy extend-cache keeps the last
	// resolution of a token, however old; a token never resolved fails.
	for i := range c.agents {
		c.stop(i)
	}
	cl.mustToken("root", "PUT", "/v1/agent/token/default", `{"Token":""}`, nil)
	if r := cl.withToken("never-seen", "PUT", "/v1/agent/token/default", `{"Token":""}`); r.code == 200 {
		t.Fatal("an unresolved token was accepted with no server")
	}
}

// TestACLListFilter: ?filter on the token, policy and role lists, with
// Consul's 500 for a selector the list's elements do not have.
func TestACLListFilter(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, aclOn)
	var boot ACLToken
	a.mustToken("", "PUT", "/v1/acl/bootstrap", "", &boot)
	root := boot.SecretID
	eventually(t, 10*time.Second, "the anonymous token", func() bool {
		return a.withToken(root, "GET", "/v1/acl/token/"+aclAnonymousAccessorID, "").code == 200
	})
	var policy ACLPolicy
	a.mustToken(root, "PUT", "/v1/acl/policy", `{"Name":"web-read","Rules":"service \"web\" { policy = \"read\" }"}`, &policy)
	a.mustToken(root, "PUT", "/v1/acl/role", `{"Name":"web-role","Policies":[{"Name":"web-read"}]}`, nil)
	a.mustToken(root, "PUT", "/v1/acl/role", `{"Name":"other-role"}`, nil)
	a.mustToken(root, "PUT", "/v1/acl/token", `{"Description":"web token","Policies":[{"Name":"web-read"}]}`, nil)

	var tokens []ACLToken
	a.mustToken(root, "GET", "/v1/acl/tokens?filter="+url.QueryEscape(`Policies.Name contains "web-read"`), "", &tokens)
	if len(tokens) != 1 || tokens[0].Description != "web token" {
		t.Errorf("tokens with web-read: %+v", tokens)
	}
	var policies []aclPolicyListEntry
	a.mustToken(root, "GET", "/v1/acl/policies?filter="+url.QueryEscape(`Name matches "^web"`), "", &policies)
	if len(policies) != 1 || policies[0].ID != policy.ID {
		t.Errorf("policies matching ^web: %+v", policies)
	}
	var roles []ACLRole
	a.mustToken(root, "GET", "/v1/acl/roles?filter="+url.QueryEscape(`Policies is empty`), "", &roles)
	if len(roles) != 1 || roles[0].Name != "other-role" {
		t.Errorf("roles without policies: %+v", roles)
	}
	a.expectToken(root, "GET", "/v1/acl/policies?filter="+url.QueryEscape(`Nope == "x"`), "", 500,
		`Failed to create boolean expression evaluator: Selector "Nope" is not valid`)
}
