package main

import (
	"bytes"
	"testing"
	"time"
)

// TestStoreACL: the ACL commands through apply (checks, links kept by ID
// and named when read, bootstrap once) and the tables through a snapshot.
func TestStoreACL(t *testing.T) {
	t.Parallel()
	s := newStore()
	idx := uint64(0)
	apply := func(r *aclRequest) applyResult {
		idx++
		return s.apply(idx, &command{Type: cmdACL, ACL: r})
	}
	now := time.Unix(1700000000, 0).UTC()
	anon := &ACLToken{AccessorID: aclAnonymousAccessorID, SecretID: aclAnonymousSecretID, Description: "Anonymous Token", CreateTime: now}
	if res := apply(&aclRequest{Op: aclOpInit, Policies: aclBuiltinPolicies(), Anonymous: anon}); !res.ok || res.err != nil {
		t.Fatalf("init: %+v", res)
	}
	boot := &ACLToken{AccessorID: "a-boot", SecretID: "s-boot", Policies: []ACLLink{{ID: aclGlobalManagementID}}, CreateTime: now}
	if res := apply(&aclRequest{Op: aclOpBootstrap, Token: boot}); !res.ok {
		t.Fatalf("bootstrap: %+v", res)
	}
	bootIndex := idx
	again := *boot
	again.AccessorID, again.SecretID = "a-2", "s-2"
	if res := apply(&aclRequest{Op: aclOpBootstrap, Token: &again}); res.ok || res.err != nil {
		t.Fatalf("second bootstrap: %+v", res)
	}
	if s.snapshot().acl.bootstrapIndex != bootIndex {
		t.Fatal("the bootstrap index moved")
	}
	p := &ACLPolicy{ID: "p1", Name: "kv", Rules: `key_prefix "" { policy = "read" }`}
	apply(&aclRequest{Op: aclOpPolicySet, Policies: []*ACLPolicy{p}})
	dup := *p
	dup.ID = "p2"
	if res := apply(&aclRequest{Op: aclOpPolicySet, Policies: []*ACLPolicy{&dup}}); res.err == nil ||
		res.err.Error() != `Invalid Policy: A Policy with Name "kv" already exists` {
		t.Fatalf("duplicate name: %+v", res)
	}
	if res := apply(&aclRequest{Op: aclOpTokenSet, Token: &ACLToken{AccessorID: "a-x", SecretID: "s-x",
		Policies: []ACLLink{{ID: "nope"}}}}); res.err == nil {
		t.Fatal("a token linking a missing policy was stored")
	}
	apply(&aclRequest{Op: aclOpRoleSet, Role: &ACLRole{ID: "r1", Name: "role", Policies: []ACLLink{{ID: "p1", Name: "stale"}}}})
	apply(&aclRequest{Op: aclOpTokenSet, Token: &ACLToken{AccessorID: "a-t", SecretID: "s-t", Roles: []ACLLink{{ID: "r1"}},
		Policies: []ACLLink{{ID: "p1"}}, CreateTime: now}})
	// A rename shows in the links.
	renamed := *p
	renamed.Name = "kv2"
	apply(&aclRequest{Op: aclOpPolicySet, Policies: []*ACLPolicy{&renamed}})
	st := s.snapshot()
	tok, _ := st.aclTokenBySecret("s-t")
	if v := st.aclTokenView(tok); v.Policies[0].Name != "kv2" || v.Roles[0].Name != "role" {
		t.Fatalf("token view: %+v", v)
	}
	id, _, err := aclIdentityOf(st, "s-t", "dc1", now)
	if err != nil || id.AccessorID != "a-t" || len(id.Rules) != 2 {
		t.Fatalf("identity: %+v %v", id, err)
	}
	if _, _, err := aclIdentityOf(st, "nope", "dc1", now); err != errACLNotFound {
		t.Fatalf("unknown secret: %v", err)
	}
	if res := apply(&aclRequest{Op: aclOpTokenDelete, ID: aclAnonymousAccessorID}); res.err == nil {
		t.Fatal("the anonymous token was deleted")
	}

	var buf bytes.Buffer
	if err := writeSnapshot(s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	rst, err := readSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	restored := newStore()
	restored.install(rst, idx)
	var buf2 bytes.Buffer
	if err := writeSnapshot(restored.snapshot(), &buf2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("restored ACL state differs")
	}
	rs := restored.snapshot()
	if _, ok := rs.aclTokenBySecret("s-t"); !ok || rs.acl.bootstrapIndex != bootIndex || rs.aclIndex() != st.aclIndex() {
		t.Fatal("restored ACL tables incomplete")
	}
	if p, ok := rs.aclPolicyByName("kv2"); !ok || p.ID != "p1" {
		t.Fatal("restored policy names")
	}
}
