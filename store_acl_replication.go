// store_acl_replication.go: the store's side of ACL replication: a
// secondary datacenter's copy of the primary's policies, roles and global
// tokens, changed through the log by one command per replication round
// (cmdACLReplicate, made by server_acl_replication.go).
//
// A round names one table and carries what changed in the primary since
// the last round: the objects to store (whole, with the primary's IDs,
// SecretIDs and hashes) and the IDs to delete. Apply stores them as they
// are: the primary checked them, and a token may still name a policy the
// primary deleted (its link is dropped when read, as everywhere). Local
// tokens of this datacenter are never touched: a delete of one is
// ignored. The indexes are this datacenter's (the log index of the
// round), as in Consul, whose replicated objects get local Raft indexes.
//
// A secondary has no bootstrap of its own: the first round that brings a
// token other than the anonymous one marks the ACL system bootstrapped,
// since the primary only has such tokens once it was.
//
// Concurrency: same rules as store.go: written only inside apply, copy on
// write.
package main

import "fmt"

const cmdACLReplicate commandType = "acl-replicate"

// The replicated tables (Consul's ACL replication types).
const (
	aclReplPolicies = "policies"
	aclReplRoles    = "roles"
	aclReplTokens   = "tokens"
)

// aclReplicateRequest is one replication round of one table.
type aclReplicateRequest struct {
	Table    string
	Policies []*ACLPolicy `json:",omitempty"`
	Roles    []*ACLRole   `json:",omitempty"`
	Tokens   []*ACLToken  `json:",omitempty"`
	Deletes  []string     `json:",omitempty"` // IDs; AccessorIDs for tokens
}

func (t *txn) applyACLReplicate(r *aclReplicateRequest) error {
	acl := &t.st.acl
	switch r.Table {
	case aclReplPolicies:
		for _, id := range r.Deletes {
			if p, ok := acl.policies.get(id); ok {
				acl.policies, _ = acl.policies.delete(id)
				acl.policyNames, _ = acl.policyNames.delete(p.Name)
			}
		}
		for _, in := range r.Policies {
			p := *in
			p.CreateIndex, p.ModifyIndex = t.index, t.index
			if old, ok := acl.policies.get(p.ID); ok {
				p.CreateIndex = old.CreateIndex
				acl.policyNames, _ = acl.policyNames.delete(old.Name)
			}
			acl.policies = acl.policies.set(p.ID, &p)
			acl.policyNames = acl.policyNames.set(p.Name, p.ID)
		}
		t.bump(aclIndexPolicies)
	case aclReplRoles:
		for _, id := range r.Deletes {
			if role, ok := acl.roles.get(id); ok {
				acl.roles, _ = acl.roles.delete(id)
				acl.roleNames, _ = acl.roleNames.delete(role.Name)
			}
		}
		for _, in := range r.Roles {
			role := *in
			role.Policies = aclLinkIDs(role.Policies)
			role.CreateIndex, role.ModifyIndex = t.index, t.index
			if old, ok := acl.roles.get(role.ID); ok {
				role.CreateIndex = old.CreateIndex
				acl.roleNames, _ = acl.roleNames.delete(old.Name)
			}
			acl.roles = acl.roles.set(role.ID, &role)
			acl.roleNames = acl.roleNames.set(role.Name, role.ID)
		}
		t.bump(aclIndexRoles)
	case aclReplTokens:
		for _, id := range r.Deletes {
			if tok, ok := acl.tokens.get(id); ok && !tok.Local {
				acl.tokens, _ = acl.tokens.delete(id)
				acl.secrets, _ = acl.secrets.delete(tok.SecretID)
			}
		}
		for _, in := range r.Tokens {
			if in.Local {
				continue
			}
			tok := *in
			tok.Policies, tok.Roles = aclLinkIDs(tok.Policies), aclLinkIDs(tok.Roles)
			tok.CreateIndex, tok.ModifyIndex = t.index, t.index
			if old, ok := acl.tokens.get(tok.AccessorID); ok {
				tok.CreateIndex = old.CreateIndex
				acl.secrets, _ = acl.secrets.delete(old.SecretID)
			}
			acl.tokens = acl.tokens.set(tok.AccessorID, &tok)
			acl.secrets = acl.secrets.set(tok.SecretID, tok.AccessorID)
			if acl.bootstrapIndex == 0 && tok.AccessorID != aclAnonymousAccessorID {
				acl.bootstrapIndex = t.index
			}
		}
		t.bump(aclIndexTokens)
	default:
		return fmt.Errorf("unknown ACL replication table %q", r.Table)
	}
	return nil
}
