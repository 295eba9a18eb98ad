package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// enforceAgentRules is a single server with ACLs on (default deny), the
// management token "root", and a limited token made from rules.
func enforceAgentRules(t *testing.T, rules string) (a *testAgent, tok ACLToken) {
	t.Helper()
	a = startTestAgent(t, func(cfg *Config) {
		aclOn(cfg)
		cfg.ACL.Tokens.InitialManagement = "root"
	})
	eventually(t, 10*time.Second, "the initial management token", func() bool {
		return a.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	body, _ := json.Marshal(map[string]string{"Name": "limited", "Rules": rules})
	a.mustToken("root", "PUT", "/v1/acl/policy", string(body), nil)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"limited"}]}`, &tok)
	return a, tok
}

const anonymousHint = ". The anonymous token is used implicitly when a request does not specify a token."

func TestACLEnforceScalarEndpoints(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `key_prefix "" { policy = "read" }`)
	for _, c := range []struct{ method, path, body, perm string }{
		{"GET", "/v1/operator/raft/configuration", "", "operator:read"},
		{"DELETE", "/v1/operator/raft/peer?address=127.0.0.9:8300", "", "operator:write"},
		{"POST", "/v1/operator/raft/transfer-leader", "", "operator:write"},
		{"GET", "/v1/operator/autopilot/configuration", "", "operator:read"},
		{"PUT", "/v1/operator/autopilot/configuration", `{}`, "operator:write"},
		{"GET", "/v1/operator/autopilot/health", "", "operator:read"},
		{"GET", "/v1/operator/autopilot/state", "", "operator:read"},
		{"GET", "/v1/operator/keyring", "", "keyring:read"},
		{"PUT", "/v1/operator/keyring", `{"Key":"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="}`, "keyring:write"},
		{"GET", "/v1/snapshot", "", "acl:write"},
		{"PUT", "/v1/snapshot", "x", "acl:write"},
	} {
		a.expectToken(tok.SecretID, c.method, c.path, c.body, 403, denied(tok, c.perm, ""))
		a.expectToken("", c.method, c.path, c.body, 403,
			"Permission denied: anonymous token lacks permission '"+c.perm+"'"+anonymousHint)
		a.expectToken("nope", c.method, c.path, c.body, 403, "ACL not found")
	}
	// Allowed: the management token everywhere, a token with the level.
	a.mustToken("root", "GET", "/v1/operator/raft/configuration", "", nil)
	a.mustToken("root", "GET", "/v1/operator/autopilot/configuration", "", nil)
	if r := a.withToken("root", "GET", "/v1/snapshot", ""); r.code != 200 || len(r.body) == 0 {
		t.Fatalf("snapshot with the management token: %d", r.code)
	}
	ops2, otok := enforceAgentRules(t, "operator = \"read\"")
	ops2.mustToken(otok.SecretID, "GET", "/v1/operator/raft/configuration", "", nil)
	ops2.mustToken(otok.SecretID, "GET", "/v1/operator/autopilot/state", "", nil)
	ops2.expectToken(otok.SecretID, "PUT", "/v1/operator/autopilot/configuration", `{}`, 403, denied(otok, "operator:write", ""))
	// /v1/status needs nothing.
	for _, p := range []string{"/v1/status/leader", "/v1/status/peers"} {
		if r := a.withToken("", "GET", p, ""); r.code != 200 {
			t.Errorf("%s without a token: %d %s", p, r.code, r.body)
		}
	}
}

func TestACLEnforceSessions(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `session "node1" { policy = "write" }`+"\n"+`key_prefix "lock/" { policy = "write" }`)
	reader := ACLToken{}
	a.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"other-sessions","Rules":"session \"elsewhere\" { policy = \"read\" }"}`, nil)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"other-sessions"}]}`, &reader)

	// Writes: session:write on the node.
	var created struct{ ID string }
	a.mustToken(tok.SecretID, "PUT", "/v1/session/create", `{"TTL":"30s"}`, &created)
	a.expectToken(reader.SecretID, "PUT", "/v1/session/create", `{}`, 403, denied(reader, "session:write", "node1"))
	a.expectToken("", "PUT", "/v1/session/create", `{}`, 403,
		`Permission denied: anonymous token lacks permission 'session:write' on "node1"`+anonymousHint)
	a.expectToken(reader.SecretID, "PUT", "/v1/session/renew/"+created.ID, "", 403, denied(reader, "session:write", "node1"))
	a.mustToken(tok.SecretID, "PUT", "/v1/session/renew/"+created.ID, "", nil)

	// A lock needs key:write only.
	if r := a.mustToken(tok.SecretID, "PUT", "/v1/kv/lock/x?acquire="+created.ID, "me", nil); r.body != "true" {
		t.Fatalf("acquire: %s", r.body)
	}

	// Reads: filtered by session:read on the node; the header for a real token only.
	for _, p := range []string{"/v1/session/list", "/v1/session/node/node1", "/v1/session/info/" + created.ID} {
		var got []Session
		r := a.mustToken(tok.SecretID, "GET", p, "", &got)
		if len(got) != 1 || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
			t.Errorf("%s with the owner's token: %s %v", p, r.body, r.header)
		}
		r = a.mustToken(reader.SecretID, "GET", p, "", nil)
		if r.body != "[]" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "true" {
			t.Errorf("%s with another node's reader: %s %v", p, r.body, r.header)
		}
		r = a.mustToken("", "GET", p, "", nil)
		if r.body != "[]" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
			t.Errorf("%s anonymous: %s %v", p, r.body, r.header)
		}
	}

	// Destroy: checked on the session's node; a missing session is true.
	a.expectToken(reader.SecretID, "PUT", "/v1/session/destroy/"+created.ID, "", 403, denied(reader, "session:write", "node1"))
	if r := a.mustToken(reader.SecretID, "PUT", "/v1/session/destroy/"+newUUID(), "", nil); r.body != "true" {
		t.Fatalf("destroy of a missing session: %s", r.body)
	}
	a.mustToken(tok.SecretID, "PUT", "/v1/session/destroy/"+created.ID, "", nil)
}

func TestACLEnforceTxn(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `key_prefix "app/" { policy = "write" }`+"\n"+`node_prefix "" { policy = "read" }`)
	a.mustToken("root", "PUT", "/v1/kv/other/x", "1", nil)
	a.mustToken("root", "PUT", "/v1/kv/app/x", "1", nil)

	// One denied operation fails the whole transaction, nothing applied.
	r := a.withToken(tok.SecretID, "PUT", "/v1/txn", `[{"KV":{"Verb":"set","Key":"app/a","Value":"eA=="}},`+
		`{"KV":{"Verb":"set","Key":"other/b","Value":"eA=="}},{"Node":{"Verb":"set","Node":{"Node":"n1","Address":"1.2.3.4"}}}]`)
	var out struct {
		Results []txnResult
		Errors  []txnError
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.code != 409 {
		t.Fatalf("txn with denied ops: %d %s", r.code, r.body)
	}
	want := []txnError{{1, denied(tok, "key:write", "other/b")}, {2, denied(tok, "node:write", "n1")}}
	if len(out.Errors) != 2 || out.Errors[0] != want[0] || out.Errors[1] != want[1] || !strings.Contains(r.body, `"Results":null`) {
		t.Fatalf("errors: %s", r.body)
	}
	if got := a.withToken("root", "GET", "/v1/kv/app/a", ""); got.code != 404 {
		t.Fatalf("a denied transaction wrote app/a: %d", got.code)
	}

	// check-index needs key:read; delete-tree write on the whole prefix.
	r = a.withToken(tok.SecretID, "PUT", "/v1/txn", `[{"KV":{"Verb":"check-index","Key":"other/x","Index":1}}]`)
	if r.code != 409 || !strings.Contains(r.body, `"What":"`+strings.ReplaceAll(denied(tok, "key:read", "other/x"), `"`, `\"`)+`"`) {
		t.Fatalf("check-index: %d %s", r.code, r.body)
	}
	r = a.withToken(tok.SecretID, "PUT", "/v1/txn", `[{"KV":{"Verb":"delete-tree","Key":""}}]`)
	if r.code != 409 || !strings.Contains(r.body, `"What":"`+denied(tok, "key:write", "")+`"`) {
		t.Fatalf("delete-tree: %d %s", r.code, r.body)
	}

	// Reads are filtered, and say so (not to the anonymous token).
	read := `[{"KV":{"Verb":"get","Key":"app/x"}},{"KV":{"Verb":"get","Key":"other/x"}}]`
	var ro struct {
		Results               []txnResult
		ResultsFilteredByACLs bool
	}
	a.mustToken(tok.SecretID, "PUT", "/v1/txn", read, &ro)
	if len(ro.Results) != 1 || ro.Results[0].KV.Key != "app/x" || !ro.ResultsFilteredByACLs {
		t.Fatalf("filtered read: %+v", ro)
	}
	r = a.mustToken("", "PUT", "/v1/txn", read, &ro)
	if len(ro.Results) != 0 || ro.ResultsFilteredByACLs || !strings.Contains(r.body, `"Results":[]`) {
		t.Fatalf("anonymous read: %s", r.body)
	}
	// Allowed writes go through.
	a.mustToken(tok.SecretID, "PUT", "/v1/txn", `[{"KV":{"Verb":"set","Key":"app/y","Value":"eA=="}}]`, nil)
}

func TestACLEnforceEvents(t *testing.T) {
	t.Parallel()
	a, tok := enforceAgentRules(t, `event_prefix "ok" { policy = "write" }`+"\n"+`event "seen" { policy = "read" }`)
	a.expectToken(tok.SecretID, "PUT", "/v1/event/fire/bad", "x", 403, "Permission denied")
	a.expectToken("", "PUT", "/v1/event/fire/bad", "x", 403, "Permission denied")
	a.expectToken("nope", "PUT", "/v1/event/fire/bad", "x", 500, "ACL not found")
	a.mustToken(tok.SecretID, "PUT", "/v1/event/fire/okay", "x", nil)
	a.mustToken("root", "PUT", "/v1/event/fire/seen", "", nil)
	a.mustToken("root", "PUT", "/v1/event/fire/hidden", "", nil)
	eventually(t, 10*time.Second, "three events delivered", func() bool {
		var all []UserEvent
		a.mustToken("root", "GET", "/v1/event/list", "", &all)
		return len(all) == 3
	})
	var got []UserEvent
	r := a.mustToken(tok.SecretID, "GET", "/v1/event/list", "", &got)
	if len(got) != 2 || got[0].Name != "okay" || got[1].Name != "seen" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "true" {
		t.Fatalf("filtered list: %s %v", r.body, r.header)
	}
	r = a.mustToken(tok.SecretID, "GET", "/v1/event/list?name=okay", "", &got)
	if len(got) != 1 || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
		t.Fatalf("name filter first: %s %v", r.body, r.header)
	}
	r = a.mustToken("", "GET", "/v1/event/list", "", nil)
	if r.body != "[]" || r.header.Get("X-Consul-Results-Filtered-By-Acls") != "" {
		t.Fatalf("anonymous list: %s %v", r.body, r.header)
	}
	a.expectToken("nope", "GET", "/v1/event/list", "", 403, "ACL not found")
}

// TestTxnOpAllowed: the per-operation checks of a transaction, table-driven.
func TestTxnOpAllowed(t *testing.T) {
	t.Parallel()
	rules, err := parseACLRules(`key_prefix "app/" { policy = "write" }
key "app/ro" { policy = "read" }
node "n1" { policy = "write" }
service "web" { policy = "write" }`)
	if err != nil {
		t.Fatal(err)
	}
	z := compileACL("acc", false, []aclRules{rules})
	kv := func(verb kvOp, key string) txnOp { return txnOp{KV: &txnKVOp{Verb: verb, Key: key}} }
	for _, c := range []struct {
		name string
		op   txnOp
		want string // "" allowed, else the missing permission
	}{
		{"kv get is filtered, not checked", kv(kvGet, "x"), ""},
		{"kv get-tree", kv(kvGetTree, "x"), ""},
		{"kv set", kv(kvSet, "app/a"), ""},
		{"kv set denied", kv(kvSet, "x"), "key:write"},
		{"kv cas on a read-only key", kv(kvCAS, "app/ro"), "key:write"},
		{"kv check-index needs read", kv(kvCheckIndex, "app/ro"), ""},
		{"kv check-session denied", kv(kvCheckSession, "x"), "key:read"},
		{"kv check-not-exists needs write", kv(kvCheckNotExists, "app/ro"), "key:write"},
		{"kv lock", kv(kvLock, "app/l"), ""},
		{"kv delete-tree over a read-only key", kv(kvDeleteTree, "app/"), "key:write"},
		{"node set", txnOp{Node: &txnNodeOp{Verb: kvSet, Node: Node{Node: "n1"}}}, ""},
		{"node delete denied", txnOp{Node: &txnNodeOp{Verb: kvDelete, Node: Node{Node: "n2"}}}, "node:write"},
		{"node get", txnOp{Node: &txnNodeOp{Verb: kvGet, Node: Node{Node: "n2"}}}, ""},
		{"service set", txnOp{Service: &txnServiceOp{Verb: kvSet, Node: "n2", Service: Service{Service: "web"}}}, ""},
		{"service set denied", txnOp{Service: &txnServiceOp{Verb: kvSet, Service: Service{Service: "db"}}}, "service:write"},
		{"the consul service", txnOp{Service: &txnServiceOp{Verb: kvSet, Service: Service{Service: "consul"}}}, ""},
		{"a proxy needs its destination", txnOp{Service: &txnServiceOp{Verb: kvSet, Service: Service{Service: "web",
			Kind: serviceKindConnectProxy, Proxy: ConnectProxyConfig{DestinationServiceName: "db"}}}}, "service:write"},
		{"node check", txnOp{Check: &txnCheckOp{Verb: kvSet, Check: HealthCheck{Node: "n1"}}}, ""},
		{"node check denied", txnOp{Check: &txnCheckOp{Verb: kvSet, Check: HealthCheck{Node: "n2"}}}, "node:write"},
		{"service check", txnOp{Check: &txnCheckOp{Verb: kvDelete, Check: HealthCheck{Node: "n2", ServiceID: "w", ServiceName: "web"}}}, ""},
		{"service check denied", txnOp{Check: &txnCheckOp{Verb: kvSet, Check: HealthCheck{Node: "n1", ServiceID: "d", ServiceName: "db"}}}, "service:write"},
	} {
		err := z.txnOpAllowed(c.op)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "'"+c.want+"'")):
			t.Errorf("%s: got %v, want a denial of %s", c.name, err, c.want)
		}
	}
}
