package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestACLRulesParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, rules string
		want        aclRules
		err         string
	}{
		{"empty", "", nil, ""},
		{"key prefix", `key_prefix "app/" { policy = "write" }`,
			aclRules{{Resource: aclResKey, Name: "app/", Prefix: true, Access: aclWrite}}, ""},
		{"comments and commas", "# c\nkey \"a\" { policy = \"read\", } // c\n/* x */",
			aclRules{{Resource: aclResKey, Name: "a", Access: aclRead}}, ""},
		{"service intentions", `service "web" { policy = "read" intentions = "write" }`,
			aclRules{{Resource: aclResService, Name: "web", Access: aclRead, Intentions: aclWrite}}, ""},
		{"scalars", "operator = \"read\"\nacl = \"write\"",
			aclRules{{Resource: aclResOperator, Access: aclRead}, {Resource: aclResACL, Access: aclWrite}}, ""},
		{"json", `{"key_prefix":{"x/":{"policy":"list"}},"operator":"read"}`,
			aclRules{{Resource: aclResKey, Name: "x/", Prefix: true, Access: aclList}, {Resource: aclResOperator, Access: aclRead}}, ""},
		{"json list form", `{"node":[{"n1":{"policy":"write"}},{"n2":{"policy":"deny"}}]}`,
			aclRules{{Resource: aclResNode, Name: "n1", Access: aclWrite}, {Resource: aclResNode, Name: "n2", Access: aclDeny}}, ""},
		// Consul's messages
		{"unquoted value", `key_prefix "app/" { policy = write }`, nil, "At 1:30: Unknown token: 1:30 IDENT write"},
		{"unclosed block", `key_prefix "app/" { policy = "write" `, nil, "At 1:39: object expected closing RBRACE got: EOF"},
		{"no brace", `key_prefix "app/" policy = "write" }`, nil, "At 1:19: nested object expected: LBRACE got: IDENT"},
		{"extra brace", `key_prefix "app/" { policy = "write" } }`, nil, "At 1:40: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE"},
		{"bad policy", `key_prefix "app/" { policy = "wrte" }`, nil,
			`Invalid key_prefix policy: &acl.KeyRule{Prefix:"app/", Policy:"wrte", EnterpriseRule:acl.EnterpriseRule{}}`},
		{"list only for keys", `service "" { policy = "list" }`, nil,
			`Invalid service policy: &acl.ServiceRule{Name:"", Policy:"list", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}`},
		{"bad scalar", `operator = "nope"`, nil, `Invalid operator policy: "nope"`},
		{"acl list", `acl = "list"`, nil, `Invalid acl policy: "list"`},
		{"duplicate scalar", "operator = \"read\"\noperator = \"write\"", nil,
			`The argument "operator" at 2:1 was already set. Each argument can only be defined once`},
		{"missing policy", `agent "n" { }`, nil, `Invalid agent policy: &acl.AgentRule{Node:"n", Policy:""}`},
		// strict where HCL is lax
		{"unknown resource", `nope "x" { policy = "read" }`, nil, `At 1:1: unknown rule "nope"`},
		{"no label", `key { policy = "read" }`, nil, "At 1:5: key needs a quoted name"},
		{"unknown attribute", `key "a" { polic = "read" }`, nil, `unknown attribute "polic"`},
		{"unterminated json", `{"key": {"a": {"policy": "read"}}`, nil, "At 1:"},
		{"trailing json", `{"operator":"read"} x`, nil, "unexpected data"},
		{"unterminated string", "key \"a\n{ policy = \"read\" }", nil, "literal not terminated"},
	} {
		got, err := parseACLRules(c.rules)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: got %v, %v; want error containing %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: rule %d: got %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
	}
	for _, level := range []string{"read", "write"} {
		if _, err := parseACLRules(aclGlobalRules(level)); err != nil {
			t.Errorf("built-in %s rules: %v", level, err)
		}
	}
}

func TestACLAuthorizer(t *testing.T) {
	t.Parallel()
	compile := func(defaultAllow bool, texts ...string) *aclAuthz {
		var ps []aclRules
		for _, text := range texts {
			rules, err := parseACLRules(text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			ps = append(ps, rules)
		}
		return compileACL("acc", defaultAllow, ps)
	}
	kv := `key_prefix "app/" { policy = "write" }
key_prefix "app/ro/" { policy = "read" }
key "app/secret" { policy = "deny" }
key_prefix "list/" { policy = "list" }`
	for _, c := range []struct {
		name         string
		defaultAllow bool
		policies     []string
		res          aclResource
		level        aclAccess
		target       string
		want         bool
	}{
		{"prefix grants write", false, []string{kv}, aclResKey, aclWrite, "app/x", true},
		{"write implies read", false, []string{kv}, aclResKey, aclRead, "app/x", true},
		{"longest prefix wins", false, []string{kv}, aclResKey, aclWrite, "app/ro/x", false},
		{"longest prefix read", false, []string{kv}, aclResKey, aclRead, "app/ro/x", true},
		{"exact beats prefix", false, []string{kv}, aclResKey, aclRead, "app/secret", false},
		{"exact only exact", false, []string{kv}, aclResKey, aclRead, "app/secret2", true},
		{"list grants read", false, []string{kv}, aclResKey, aclRead, "list/a", true},
		{"list not write", false, []string{kv}, aclResKey, aclWrite, "list/a", false},
		{"no rule: default deny", false, []string{kv}, aclResKey, aclRead, "other", false},
		{"no rule: default allow", true, []string{kv}, aclResKey, aclWrite, "other", true},
		{"rule beats default allow", true, []string{kv}, aclResKey, aclWrite, "app/ro/x", false},
		{"deny wins a merge", false, []string{`key "k" { policy = "write" }`, `key "k" { policy = "deny" }`}, aclResKey, aclRead, "k", false},
		{"write beats read in a merge", false, []string{`key "k" { policy = "read" }`, `key "k" { policy = "write" }`}, aclResKey, aclWrite, "k", true},
		{"scalar", false, []string{`operator = "read"`}, aclResOperator, aclRead, "", true},
		{"scalar write", false, []string{`operator = "read"`}, aclResOperator, aclWrite, "", false},
		{"intentions from service read", false, []string{`service "web" { policy = "write" }`}, aclResIntention, aclRead, "web", true},
		{"intentions not write by default", false, []string{`service "web" { policy = "write" }`}, aclResIntention, aclWrite, "web", false},
		{"intentions explicit", false, []string{`service "web" { policy = "read" intentions = "write" }`}, aclResIntention, aclWrite, "web", true},
		{"service identity", false, []string{aclServiceIdentityRules("web")}, aclResService, aclWrite, "web-sidecar-proxy", true},
		{"service identity reads nodes", false, []string{aclServiceIdentityRules("web")}, aclResNode, aclRead, "n1", true},
		{"service identity other service", false, []string{aclServiceIdentityRules("web")}, aclResService, aclWrite, "db", false},
		{"node identity", false, []string{aclNodeIdentityRules("n1")}, aclResNode, aclWrite, "n1", true},
		{"node identity other node", false, []string{aclNodeIdentityRules("n1")}, aclResNode, aclRead, "n2", false},
		{"management", false, []string{aclGlobalRules("write")}, aclResACL, aclWrite, "", true},
		{"read-only", false, []string{aclGlobalRules("read")}, aclResKey, aclWrite, "x", false},
	} {
		z := compile(c.defaultAllow, c.policies...)
		if got := z.allows(c.res, c.level, c.target); got != c.want {
			t.Errorf("%s: %s:%s on %q = %v, want %v", c.name, c.res, c.level, c.target, got, c.want)
		}
	}

	// keyWritePrefix: the prefix rule must grant write and nothing under it deny.
	z := compile(false, kv)
	if err := z.keyWritePrefix("app/ro/"); err == nil {
		t.Error("keyWritePrefix app/ro/ allowed")
	}
	if err := z.keyWritePrefix("app/"); err == nil {
		t.Error("keyWritePrefix app/ allowed despite app/ro/ and app/secret")
	}
	if err := compile(false, `key_prefix "a/" { policy = "write" }`).keyWritePrefix("a/b/"); err != nil {
		t.Errorf("keyWritePrefix a/b/: %v", err)
	}

	// Consul's messages.
	err := compile(false).require(aclResKey, aclRead, "app/x")
	if he, ok := err.(*httpError); !ok || he.code != http.StatusForbidden {
		t.Fatalf("require: %v", err)
	}
	if want := `Permission denied: token with AccessorID 'acc' lacks permission 'key:read' on "app/x"`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	anon := compileACL(aclAnonymousAccessorID, false, nil)
	if err, want := anon.require(aclResKey, aclWrite, "app/x"), `Permission denied: anonymous token lacks permission 'key:write' on "app/x". The anonymous token is used implicitly when a request does not specify a token.`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if err, want := compile(false).require(aclResOperator, aclRead, ""), `Permission denied: token with AccessorID 'acc' lacks permission 'operator:read'`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !aclAllowAll.allows(aclResACL, aclWrite, "") {
		t.Error("ACLs disabled: denied")
	}
}

func FuzzACLRules(f *testing.F) {
	for _, s := range []string{"", `key_prefix "app/" { policy = "write" }`, `operator = "read"`,
		`{"key":{"a":{"policy":"read"}}}`, "# c\n/* x */ service \"w\" { policy = \"read\" intentions = \"deny\" }",
		aclGlobalRules("write"), `key "a\"b" { policy = "list", }`, `{"node":[{"n":{"policy":"write"}}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := parseACLRules(text)
		if err != nil {
			if rules != nil {
				t.Fatal("rules with an error")
			}
			return
		}
		for _, r := range rules {
			if r.Access < aclRead || r.Access > aclDeny || r.Resource < 0 || r.Resource >= aclResCount {
				t.Fatalf("bad rule %+v from %q", r, text)
			}
		}
		compileACL("x", false, []aclRules{rules}).allows(aclResKey, aclRead, "k")
	})
}
