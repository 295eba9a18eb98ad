package main

import "testing"

// TestStoreACLReplicate: replication rounds through apply: upserts keep
// the primary's IDs and secrets, renames move the name index, deletes
// remove, Local tokens are never touched, and the first real token
// marks the secondary bootstrapped.
func TestStoreACLReplicate(t *testing.T) {
	t.Parallel()
	s := newStore()
	idx := uint64(0)
	apply := func(r *aclReplicateRequest) applyResult {
		idx++
		return s.apply(idx, &command{Type: cmdACLReplicate, ACLRepl: r})
	}
	if res := apply(&aclReplicateRequest{Table: aclReplPolicies, Policies: []*ACLPolicy{{ID: "p1", Name: "one"}, {ID: "p2", Name: "two"}}}); res.err != nil {
		t.Fatal(res.err)
	}
	apply(&aclReplicateRequest{Table: aclReplPolicies, Policies: []*ACLPolicy{{ID: "p1", Name: "uno"}}, Deletes: []string{"p2"}})
	st := s.snapshot()
	if p, ok := st.aclPolicyByName("uno"); !ok || p.ID != "p1" || p.CreateIndex != 1 || p.ModifyIndex != 2 {
		t.Fatalf("renamed policy: %+v", p)
	}
	if _, ok := st.aclPolicyByName("one"); ok {
		t.Fatal("the old name is still indexed")
	}
	if _, ok := st.acl.policies.get("p2"); ok {
		t.Fatal("p2 not deleted")
	}

	apply(&aclReplicateRequest{Table: aclReplRoles, Roles: []*ACLRole{{ID: "r1", Name: "role", Policies: []ACLLink{{ID: "p1", Name: "uno"}}}}})
	if r, ok := s.snapshot().aclRoleByName("role"); !ok || len(r.Policies) != 1 || r.Policies[0] != (ACLLink{ID: "p1"}) {
		t.Fatalf("replicated role: %+v", r)
	}

	// A Local token of this datacenter, made here.
	idx++
	s.apply(idx, &command{Type: cmdACL, ACL: &aclRequest{Op: aclOpTokenSet, Token: &ACLToken{AccessorID: "local", SecretID: "s-local", Local: true}}})
	anon := &ACLToken{AccessorID: aclAnonymousAccessorID, SecretID: aclAnonymousSecretID}
	apply(&aclReplicateRequest{Table: aclReplTokens, Tokens: []*ACLToken{anon}})
	if s.snapshot().acl.bootstrapIndex != 0 {
		t.Fatal("the anonymous token alone bootstrapped the secondary")
	}
	apply(&aclReplicateRequest{Table: aclReplTokens, Tokens: []*ACLToken{{AccessorID: "g1", SecretID: "s-g1", Policies: []ACLLink{{ID: "gone"}}},
		{AccessorID: "primary-local", SecretID: "s-pl", Local: true}}, Deletes: []string{"local"}})
	st = s.snapshot()
	if tok, ok := st.aclTokenBySecret("s-g1"); !ok || tok.AccessorID != "g1" || st.acl.bootstrapIndex != idx {
		t.Fatalf("replicated token: %+v, bootstrap index %d", tok, st.acl.bootstrapIndex)
	}
	if _, ok := st.aclTokenBySecret("s-local"); !ok {
		t.Fatal("replication deleted a Local token")
	}
	if _, ok := st.acl.tokens.get("primary-local"); ok {
		t.Fatal("a Local token was replicated")
	}
	apply(&aclReplicateRequest{Table: aclReplTokens, Deletes: []string{"g1"}})
	if _, ok := s.snapshot().aclTokenBySecret("s-g1"); ok {
		t.Fatal("g1 not deleted (or its secret still indexed)")
	}
	if res := apply(&aclReplicateRequest{Table: "bogus"}); res.err == nil {
		t.Fatal("an unknown table applied")
	}
}
