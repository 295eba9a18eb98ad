package main

import (
	"testing"
	"time"
)

// TestACLReplicationTwoDatacenters: dc1 (primary, 127.0.0.177) and dc2
// (127.0.0.178), one server each, federated over the WAN pool; dc2
// replicates dc1's policies, roles and global tokens.
func TestACLReplicationTwoDatacenters(t *testing.T) {
	t.Parallel()
	dc1Config := wanDCServer("dc1", "127.0.0.177")
	aclOn(dc1Config)
	dc1Config.ACL.Tokens.InitialManagement = "root"
	dc1 := startWANAgent(t, dc1Config)
	dc2Config := wanDCServer("dc2", "127.0.0.178", dc1.wan().Addr())
	aclOn(dc2Config)
	dc2Config.ACL.EnableTokenReplication = true
	dc2Config.ACL.Tokens.Replication = "root"
	dc2 := startWANAgent(t, dc2Config)

	// The management token reaches dc2 by replication.
	eventually(t, 30*time.Second, "dc2 resolves the replicated management token", func() bool {
		return dc2.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})

	// A policy and a global token made in the primary are enforced in dc2.
	dc1.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"app","Rules":"key_prefix \"app/\" { policy = \"write\" }"}`, nil)
	var global, local ACLToken
	dc1.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"app"}]}`, &global)
	dc1.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"app"}],"Local":true}`, &local)
	eventually(t, 10*time.Second, "dc2 enforces the replicated token", func() bool {
		return dc2.withToken(global.SecretID, "PUT", "/v1/kv/app/x", "v").code == 200
	})
	dc2.expectToken(global.SecretID, "PUT", "/v1/kv/other/x", "v", 403,
		"Permission denied: token with AccessorID '"+global.AccessorID+"' lacks permission 'key:write' on \"other/x\"")
	// A Local token stays in its datacenter.
	dc1.mustToken(local.SecretID, "PUT", "/v1/kv/app/y", "v", nil)
	dc2.expectToken(local.SecretID, "GET", "/v1/kv/app/x", "", 403, "ACL not found")
	var tokens []ACLToken
	dc2.mustToken("root", "GET", "/v1/acl/tokens", "", &tokens)
	for _, tok := range tokens {
		if tok.AccessorID == local.AccessorID {
			t.Fatal("dc1's Local token was replicated to dc2")
		}
	}

	// Writes in dc2: a policy goes to the primary; a Local token stays in dc2.
	var fromDC2 ACLPolicy
	dc2.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"from-dc2","Rules":"key_prefix \"dc2/\" { policy = \"read\" }"}`, &fromDC2)
	dc1.mustToken("root", "GET", "/v1/acl/policy/"+fromDC2.ID, "", nil)
	var dc2Local ACLToken
	eventually(t, 10*time.Second, "the policy made through dc2 replicated back", func() bool {
		return dc2.withToken("root", "GET", "/v1/acl/policy/name/from-dc2", "").code == 200
	})
	dc2.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"from-dc2"}],"Local":true}`, &dc2Local)
	dc2.mustToken("root", "PUT", "/v1/kv/dc2/k", "v", nil)
	dc2.mustToken(dc2Local.SecretID, "GET", "/v1/kv/dc2/k", "", nil)
	dc1.expectToken(dc2Local.SecretID, "GET", "/v1/kv/dc2/k", "", 403, "ACL not found")
	if dc2.withToken(dc2Local.SecretID, "GET", "/v1/kv/dc2/k", "").code != 200 {
		t.Fatal("replication deleted dc2's Local token")
	}

	// A secondary does not bootstrap (Consul's acl.ErrDisabled).
	dc2.expectToken("", "PUT", "/v1/acl/bootstrap", "", 500, "ACL support disabled")

	// A token deleted in the primary stops working in dc2.
	dc1.mustToken("root", "DELETE", "/v1/acl/token/"+global.AccessorID, "", nil)
	eventually(t, 10*time.Second, "the deletion reaches dc2", func() bool {
		r := dc2.withToken(global.SecretID, "GET", "/v1/kv/app/x", "")
		return r.code == 403 && r.body == "ACL not found"
	})
	dc2.mustToken(dc2Local.SecretID, "GET", "/v1/kv/dc2/k", "", nil)

	// /v1/acl/replication, without a token, in both.
	var st aclReplicationStatus
	dc1.mustToken("", "GET", "/v1/acl/replication", "", &st)
	if st.Enabled || st.Running || st.SourceDatacenter != "" || st.ReplicationType != "" || st.ReplicatedIndex != 0 {
		t.Errorf("dc1's replication status: %+v", st)
	}
	dc2.mustToken("", "GET", "/v1/acl/replication", "", &st)
	if !st.Enabled || !st.Running || st.SourceDatacenter != "dc1" || st.ReplicationType != "tokens" ||
		st.ReplicatedIndex == 0 || st.ReplicatedRoleIndex == 0 || st.ReplicatedTokenIndex == 0 || st.LastSuccess.IsZero() {
		t.Errorf("dc2's replication status: %+v", st)
	}
}

// TestACLReplicationPoliciesOnly: without acl.enable_token_replication,
// dc2 (127.0.0.179) replicates policies and roles, and resolves tokens it
// does not hold from the primary (dc1 on 127.0.0.180), with its own copy
// of their policies.
func TestACLReplicationPoliciesOnly(t *testing.T) {
	t.Parallel()
	dc1Config := wanDCServer("dc1", "127.0.0.180")
	aclOn(dc1Config)
	dc1Config.ACL.Tokens.InitialManagement = "root"
	dc1 := startWANAgent(t, dc1Config)
	dc2Config := wanDCServer("dc2", "127.0.0.179", dc1.wan().Addr())
	aclOn(dc2Config)
	dc2Config.ACL.Tokens.Replication = "root"
	dc2 := startWANAgent(t, dc2Config)

	eventually(t, 10*time.Second, "dc1's initial management token", func() bool {
		return dc1.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	dc1.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"app","Rules":"key_prefix \"app/\" { policy = \"write\" }"}`, nil)
	var global, local ACLToken
	dc1.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"app"}]}`, &global)
	dc1.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"app"}],"Local":true}`, &local)
	eventually(t, 30*time.Second, "dc2 enforces the primary's token with the replicated policy", func() bool {
		return dc2.withToken(global.SecretID, "PUT", "/v1/kv/app/x", "v").code == 200
	})
	dc2.expectToken(global.SecretID, "PUT", "/v1/kv/other/x", "v", 403,
		"Permission denied: token with AccessorID '"+global.AccessorID+"' lacks permission 'key:write' on \"other/x\"")
	dc2.expectToken(local.SecretID, "GET", "/v1/kv/app/x", "", 403, "ACL not found")
	dc2.expectToken("nope", "GET", "/v1/kv/app/x", "", 403, "ACL not found")

	var st aclReplicationStatus
	dc2.mustToken("", "GET", "/v1/acl/replication", "", &st)
	if !st.Enabled || !st.Running || st.SourceDatacenter != "dc1" || st.ReplicationType != "policies" ||
		st.ReplicatedIndex == 0 || st.ReplicatedTokenIndex != 0 {
		t.Errorf("dc2's replication status: %+v", st)
	}
}

// TestACLReplicationConfig: Consul's replication keys, current and legacy.
func TestACLReplicationConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file        string
		primary     string
		replication bool
		token       string
	}{
		{`{"datacenter":"dc2","primary_datacenter":"dc1","acl":{"enable_token_replication":true,"tokens":{"replication":"r"}}}`, "dc1", true, "r"},
		{`{"datacenter":"dc2","acl_datacenter":"dc1","enable_acl_replication":true,"acl_replication_token":"r"}`, "dc1", true, "r"},
		{`{"datacenter":"dc2","acl_datacenter":"dc3","primary_datacenter":"dc1"}`, "dc1", false, ""},
		{`{"datacenter":"dc2"}`, "dc2", false, ""},
	} {
		cfg, ignored, err := loadConfigFixtures(t, []string{c.file}, "-dev")
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if cfg.PrimaryDatacenter != c.primary || cfg.ACL.EnableTokenReplication != c.replication || cfg.ACL.Tokens.Replication != c.token || len(ignored) != 0 {
			t.Errorf("%s: primary %q, token replication %v, token %q, ignored %q", c.file,
				cfg.PrimaryDatacenter, cfg.ACL.EnableTokenReplication, cfg.ACL.Tokens.Replication, ignored)
		}
	}
}
