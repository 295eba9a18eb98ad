// store_acl.go: the ACL tables of the state store: tokens, policies,
// roles, and the bootstrap record (Consul's acl-tokens, acl-policies,
// acl-roles tables and its ACL bootstrap index).
//
// Written only through the log (cmdACL):
//
//	aclOpTokenSet     create or replace a token (an update replaces the
//	                  whole token, as Consul's); its links name policies
//	                  and roles by ID, which must exist
//	aclOpTokenDelete  delete by AccessorID
//	aclOpPolicySet    create or replace a policy (names unique)
//	aclOpPolicyDelete delete by ID (the built-in global-management cannot)
//	aclOpRoleSet / aclOpRoleDelete   the same for roles
//	aclOpBootstrap    the bootstrap token, once: refused (ok false) when
//	                  the cluster was bootstrapped already; with the
//	                  built-in policies, should the leader not have made
//	                  them yet
//	aclOpInit         the leader's built-ins, each only if missing: the
//	                  global-management and builtin/global-read-only
//	                  policies, the anonymous token, and the initial
//	                  management token (which also bootstraps, as Consul)
//
// Everything random or timed (AccessorIDs, SecretIDs, policy and role IDs,
// CreateTime, Hash) is made before the command (http_acl.go,
// server_acl.go): apply only checks and stores. Links are kept by ID;
// names are filled in when read (a renamed policy shows its new name, a
// deleted one disappears from the tokens that named it, as Consul's).
// Each change bumps its table's index (aclIndexTokens, aclIndexPolicies,
// aclIndexRoles), which blocking reads watch and the token resolver's
// cache is keyed on (server_acl.go). Snapshots carry the tables as one
// record (tagACL).
//
// Concurrency: same rules as store.go: written only inside apply (copy on
// write: a stored token, policy or role is never modified), read from
// immutable snapshots by any goroutine.
package main

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

const (
	cmdACL           commandType = "acl"
	aclIndexTokens               = "acl-tokens"
	aclIndexPolicies             = "acl-policies"
	aclIndexRoles                = "acl-roles"
)

// ACLLink names a policy or a role from a token or a role.
type ACLLink struct {
	ID   string
	Name string
}

// ACLServiceIdentity stands for Consul's service identity policy.
type ACLServiceIdentity struct {
	ServiceName string
	Datacenters []string `json:",omitempty"`
}

// ACLNodeIdentity stands for Consul's node identity policy.
type ACLNodeIdentity struct {
	NodeName   string
	Datacenter string
}

// ACLToken is a token in Consul's JSON shape.
type ACLToken struct {
	AccessorID        string
	SecretID          string
	Description       string
	Policies          []ACLLink             `json:",omitempty"`
	Roles             []ACLLink             `json:",omitempty"`
	ServiceIdentities []*ACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*ACLNodeIdentity    `json:",omitempty"`
	Local             bool
	ExpirationTime    *time.Time `json:",omitempty"`
	CreateTime        time.Time
	Hash              []byte
	CreateIndex       uint64
	ModifyIndex       uint64
}

// ACLPolicy is a policy in Consul's JSON shape.
type ACLPolicy struct {
	ID          string
	Name        string
	Description string
	Rules       string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// ACLRole is a role in Consul's JSON shape.
type ACLRole struct {
	ID                string
	Name              string
	Description       string
	Policies          []ACLLink             `json:",omitempty"`
	ServiceIdentities []*ACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*ACLNodeIdentity    `json:",omitempty"`
	Hash              []byte
	CreateIndex       uint64
	ModifyIndex       uint64
}

// aclState is the ACL part of a state.
type aclState struct {
	tokens         tree[*ACLToken]  // AccessorID → token
	secrets        tree[string]     // SecretID → AccessorID
	policies       tree[*ACLPolicy] // ID → policy
	policyNames    tree[string]     // name → ID
	roles          tree[*ACLRole]   // ID → role
	roleNames      tree[string]     // name → ID
	bootstrapIndex uint64           // the index of the bootstrap (or of the initial management token); 0: not bootstrapped
}

type aclOp string

const (
	aclOpTokenSet     aclOp = "token-set"
	aclOpTokenDelete  aclOp = "token-delete"
	aclOpPolicySet    aclOp = "policy-set"
	aclOpPolicyDelete aclOp = "policy-delete"
	aclOpRoleSet      aclOp = "role-set"
	aclOpRoleDelete   aclOp = "role-delete"
	aclOpBootstrap    aclOp = "bootstrap"
	aclOpInit         aclOp = "init"
)

// aclRequest is an ACL command (the file comment).
type aclRequest struct {
	Op       aclOp
	Token    *ACLToken    `json:",omitempty"`
	Policies []*ACLPolicy `json:",omitempty"` // aclOpPolicySet: one; aclOpInit: the built-ins
	Role     *ACLRole     `json:",omitempty"`
	ID       string       `json:",omitempty"` // the deletes
	// aclOpInit: the anonymous token, and the initial management token
	// (Token, when configured).
	Anonymous *ACLToken `json:",omitempty"`
}

func (t *txn) applyACL(r *aclRequest) (bool, error) {
	switch r.Op {
	case aclOpTokenSet:
		if r.Token == nil {
			return false, errors.New("ACL token command without a token")
		}
		return true, t.aclSetToken(r.Token, false)
	case aclOpTokenDelete:
		tok, ok := t.st.acl.tokens.get(r.ID)
		if !ok {
			return true, nil
		}
		if tok.AccessorID == aclAnonymousAccessorID {
			return false, errors.New("Delete operation not permitted on the anonymous token")
		}
		t.st.acl.tokens, _ = t.st.acl.tokens.delete(tok.AccessorID)
		t.st.acl.secrets, _ = t.st.acl.secrets.delete(tok.SecretID)
		t.bump(aclIndexTokens)
	case aclOpPolicySet:
		if len(r.Policies) != 1 {
			return false, errors.New("ACL policy command without a policy")
		}
		return true, t.aclSetPolicy(r.Policies[0], false)
	case aclOpPolicyDelete:
		if r.ID == aclGlobalManagementID {
			return false, errors.New("Delete operation not permitted on the builtin global-management policy")
		}
		p, ok := t.st.acl.policies.get(r.ID)
		if !ok {
			return true, nil
		}
		t.st.acl.policies, _ = t.st.acl.policies.delete(p.ID)
		t.st.acl.policyNames, _ = t.st.acl.policyNames.delete(p.Name)
		t.bump(aclIndexPolicies)
	case aclOpRoleSet:
		if r.Role == nil {
			return false, errors.New("ACL role command without a role")
		}
		return true, t.aclSetRole(r.Role)
	case aclOpRoleDelete:
		role, ok := t.st.acl.roles.get(r.ID)
		if !ok {
			return true, nil
		}
		t.st.acl.roles, _ = t.st.acl.roles.delete(role.ID)
		t.st.acl.roleNames, _ = t.st.acl.roleNames.delete(role.Name)
		t.bump(aclIndexRoles)
	case aclOpBootstrap:
		if r.Token == nil {
			return false, errors.New("ACL bootstrap command without a token")
		}
		if t.st.acl.bootstrapIndex != 0 {
			return false, nil
		}
		if err := t.aclInitPolicies(r.Policies); err != nil {
			return false, err
		}
		if err := t.aclSetToken(r.Token, true); err != nil {
			return false, err
		}
		t.st.acl.bootstrapIndex = t.index
	case aclOpInit:
		if err := t.aclInitPolicies(r.Policies); err != nil {
			return false, err
		}
		if a := r.Anonymous; a != nil {
			if _, ok := t.st.acl.tokens.get(a.AccessorID); !ok {
				if err := t.aclSetToken(a, true); err != nil {
					return false, err
				}
			}
		}
		if tok := r.Token; tok != nil {
			if _, ok := t.st.acl.secrets.get(tok.SecretID); !ok {
				if err := t.aclSetToken(tok, true); err != nil {
					return false, err
				}
				if t.st.acl.bootstrapIndex == 0 {
					t.st.acl.bootstrapIndex = t.index
				}
			}
		}
	default:
		return false, fmt.Errorf("unknown ACL operation %q", r.Op)
	}
	return true, nil
}

// aclInitPolicies stores the built-in policies that are missing.
func (t *txn) aclInitPolicies(ps []*ACLPolicy) error {
	for _, p := range ps {
		if _, ok := t.st.acl.policies.get(p.ID); !ok {
			if err := t.aclSetPolicy(p, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// aclSetToken stores a token, checking what apply can check
// deterministically: unique secret, links to policies and roles that exist.
func (t *txn) aclSetToken(in *ACLToken, create bool) error {
	tok := *in
	acl := &t.st.acl
	existing, exists := acl.tokens.get(tok.AccessorID)
	if create && exists {
		return fmt.Errorf("Invalid Token: AccessorID is already in use")
	}
	if owner, ok := acl.secrets.get(tok.SecretID); ok && owner != tok.AccessorID {
		return fmt.Errorf("Invalid Token: SecretID is already in use")
	}
	for _, l := range tok.Policies {
		if _, ok := acl.policies.get(l.ID); !ok {
			return fmt.Errorf("No such ACL policy with ID %q", l.ID)
		}
	}
	for _, l := range tok.Roles {
		if _, ok := acl.roles.get(l.ID); !ok {
			return fmt.Errorf("No such ACL role with ID %q", l.ID)
		}
	}
	tok.Policies = aclLinkIDs(tok.Policies)
	tok.Roles = aclLinkIDs(tok.Roles)
	tok.CreateIndex, tok.ModifyIndex = t.index, t.index
	if exists {
		if existing.SecretID != tok.SecretID {
			return errors.New("Invalid Token: SecretID cannot be changed")
		}
		tok.CreateIndex, tok.CreateTime = existing.CreateIndex, existing.CreateTime
	}
	acl.tokens = acl.tokens.set(tok.AccessorID, &tok)
	acl.secrets = acl.secrets.set(tok.SecretID, tok.AccessorID)
	t.bump(aclIndexTokens)
	return nil
}

// aclLinkIDs keeps a link's ID only: names are looked up when read.
func aclLinkIDs(links []ACLLink) []ACLLink {
	out := make([]ACLLink, 0, len(links))
	for _, l := range links {
		if !slices.ContainsFunc(out, func(o ACLLink) bool { return o.ID == l.ID }) {
			out = append(out, ACLLink{ID: l.ID})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (t *txn) aclSetPolicy(in *ACLPolicy, create bool) error {
	p := *in
	acl := &t.st.acl
	if owner, ok := acl.policyNames.get(p.Name); ok && owner != p.ID {
		return fmt.Errorf("Invalid Policy: A Policy with Name %q already exists", p.Name)
	}
	p.CreateIndex, p.ModifyIndex = t.index, t.index
	if old, ok := acl.policies.get(p.ID); ok {
		if create {
			return fmt.Errorf("Invalid Policy: ID %q is already in use", p.ID)
		}
		if p.ID == aclGlobalManagementID && p.Rules != old.Rules {
			return errors.New("Changing the Rules for the builtin global-management policy is not permitted")
		}
		p.CreateIndex = old.CreateIndex
		acl.policyNames, _ = acl.policyNames.delete(old.Name)
	}
	acl.policies = acl.policies.set(p.ID, &p)
	acl.policyNames = acl.policyNames.set(p.Name, p.ID)
	t.bump(aclIndexPolicies)
	return nil
}

func (t *txn) aclSetRole(in *ACLRole) error {
	r := *in
	acl := &t.st.acl
	if owner, ok := acl.roleNames.get(r.Name); ok && owner != r.ID {
		return fmt.Errorf("Invalid Role: A Role with Name %q already exists", r.Name)
	}
	for _, l := range r.Policies {
		if _, ok := acl.policies.get(l.ID); !ok {
			return fmt.Errorf("No such ACL policy with ID %q", l.ID)
		}
	}
	r.Policies = aclLinkIDs(r.Policies)
	r.CreateIndex, r.ModifyIndex = t.index, t.index
	if old, ok := acl.roles.get(r.ID); ok {
		r.CreateIndex = old.CreateIndex
		acl.roleNames, _ = acl.roleNames.delete(old.Name)
	}
	acl.roles = acl.roles.set(r.ID, &r)
	acl.roleNames = acl.roleNames.set(r.Name, r.ID)
	t.bump(aclIndexRoles)
	return nil
}

// --- reads ---

// aclIndex is the index of the last change to any ACL table: the token
// resolver's cache is valid while it stays the same.
func (st *state) aclIndex() uint64 {
	return max(st.tableIndex(aclIndexTokens), st.tableIndex(aclIndexPolicies), st.tableIndex(aclIndexRoles))
}

// aclTokenBySecret finds a token by its SecretID.
func (st *state) aclTokenBySecret(secret string) (*ACLToken, bool) {
	id, ok := st.acl.secrets.get(secret)
	if !ok {
		return nil, false
	}
	return st.acl.tokens.get(id)
}

// aclPolicyByName finds a policy by its name.
func (st *state) aclPolicyByName(name string) (*ACLPolicy, bool) {
	id, ok := st.acl.policyNames.get(name)
	if !ok {
		return nil, false
	}
	return st.acl.policies.get(id)
}

func (st *state) aclRoleByName(name string) (*ACLRole, bool) {
	id, ok := st.acl.roleNames.get(name)
	if !ok {
		return nil, false
	}
	return st.acl.roles.get(id)
}

// aclPolicyLinks fills in the names of policy links, dropping links to
// policies that no longer exist.
func (st *state) aclPolicyLinks(links []ACLLink) []ACLLink {
	var out []ACLLink
	for _, l := range links {
		if p, ok := st.acl.policies.get(l.ID); ok {
			out = append(out, ACLLink{ID: p.ID, Name: p.Name})
		}
	}
	return out
}

func (st *state) aclRoleLinks(links []ACLLink) []ACLLink {
	var out []ACLLink
	for _, l := range links {
		if r, ok := st.acl.roles.get(l.ID); ok {
			out = append(out, ACLLink{ID: r.ID, Name: r.Name})
		}
	}
	return out
}

// aclTokenView is a stored token as the API shows it: links named.
func (st *state) aclTokenView(tok *ACLToken) *ACLToken {
	v := *tok
	v.Policies, v.Roles = st.aclPolicyLinks(tok.Policies), st.aclRoleLinks(tok.Roles)
	return &v
}

func (st *state) aclRoleView(r *ACLRole) *ACLRole {
	v := *r
	v.Policies = st.aclPolicyLinks(r.Policies)
	return &v
}

// --- snapshots ---

// aclRecord is the ACL tables in a snapshot (tagACL).
type aclRecord struct {
	Tokens         []*ACLToken
	Policies       []*ACLPolicy
	Roles          []*ACLRole
	BootstrapIndex uint64
}

// record is the tables as a snapshot record, nil when they are empty.
func (a *aclState) record() *aclRecord {
	if a.tokens.empty() && a.policies.empty() && a.roles.empty() && a.bootstrapIndex == 0 {
		return nil
	}
	rec := &aclRecord{BootstrapIndex: a.bootstrapIndex}
	a.tokens.each(func(_ string, t *ACLToken) bool { rec.Tokens = append(rec.Tokens, t); return true })
	a.policies.each(func(_ string, p *ACLPolicy) bool { rec.Policies = append(rec.Policies, p); return true })
	a.roles.each(func(_ string, r *ACLRole) bool { rec.Roles = append(rec.Roles, r); return true })
	return rec
}

// state rebuilds the tables from a snapshot record.
func (rec *aclRecord) state() aclState {
	a := aclState{bootstrapIndex: rec.BootstrapIndex}
	for _, t := range rec.Tokens {
		a.tokens = a.tokens.set(t.AccessorID, t)
		a.secrets = a.secrets.set(t.SecretID, t.AccessorID)
	}
	for _, p := range rec.Policies {
		a.policies = a.policies.set(p.ID, p)
		a.policyNames = a.policyNames.set(p.Name, p.ID)
	}
	for _, r := range rec.Roles {
		a.roles = a.roles.set(r.ID, r)
		a.roleNames = a.roleNames.set(r.Name, r.ID)
	}
	return a
}
