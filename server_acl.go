// server_acl.go: token resolution (a SecretID → its authorizer), the
// agent's own tokens, and the leader's ACL initialisation.
//
// Resolution (Consul's ACLResolver):
//
//	server: SecretID → the token in the local store (with its policies,
//	        roles, service and node identities: aclIdentityOf) → compileACL
//	        → cached until the ACL tables' index moves, so a token deleted
//	        or a policy changed takes effect on the very next request, on
//	        every server as soon as it applied the change; a token the
//	        server does not know is looked for again after a read barrier
//	        (resolveOnServer), so a token just created is never refused
//	        by a follower that has not applied it yet (Consul's window); a
//	        secondary datacenter's servers hold the primary's replicated
//	        policies, roles and (with token replication) global tokens,
//	        and without token replication ask the primary for a token they
//	        do not hold (server_acl_replication.go)
//	client: SecretID → "ACL.Resolve" to a server → the identity's rules →
//	        compileACL, cached for acl.token_ttl; when no server answers,
//	        acl.down_policy: extend-cache and async-cache keep using the
//	        last resolution however old (without one, the error), allow
//	        allows everything, deny denies everything
//
// A token that does not exist (or has expired) is Consul's 403 "ACL not
// found" (before the cluster is bootstrapped: "ACL system must be
// bootstrapped before making any requests that require authorization: ACL
// not found"). A request with no token uses the agent's default token
// (acl.tokens.default, or PUT /v1/agent/token/default), else the anonymous
// token.
//
// The leader (establishLeadership → initACL) makes what Consul's leader
// makes: the built-in policies, the anonymous token, and the
// initial_management token, each only if missing, in one command.
//
// Agent tokens (default, agent, agent_recovery, replication,
// config_file_service_registration, dns) start from the configuration and
// change with PUT /v1/agent/token/<kind>; with
// acl.enable_token_persistence they are kept in data_dir/acl-tokens.json
// and loaded at start, over the configuration's (Consul's rule).
//
// Concurrency: aclResolver.mu guards the cache, its index and the agent
// tokens; compiled authorizers are immutable.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const rpcACLResolve = "ACL.Resolve"

// Consul's token resolution errors, as 403s.
var (
	errACLNotFound        = &httpError{http.StatusForbidden, "ACL not found"}
	errACLNotBootstrapped = &httpError{http.StatusForbidden,
		"ACL system must be bootstrapped before making any requests that require authorization: ACL not found"}
)

// aclAgentTokenKinds are the kinds of /v1/agent/token/<kind> (Consul's,
// with its legacy names).
var aclAgentTokenKinds = map[string]string{
	"default": "default", "acl_token": "default",
	"agent": "agent", "acl_agent_token": "agent",
	"agent_recovery": "agent_recovery", "agent_master": "agent_recovery", "acl_agent_master_token": "agent_recovery",
	"replication": "replication", "acl_replication_token": "replication",
	"config_file_service_registration": "config_file_service_registration",
	"dns":                              "dns",
}

// aclResolver is the agent's token resolution and tokens.
type aclResolver struct {
	a *Agent

	mu     sync.Mutex
	index  uint64               // servers: the ACL tables' index the cache was filled at
	cache  map[string]aclCached // SecretID → resolution
	tokens map[string]string    // the agent's tokens by kind
}

type aclCached struct {
	authz *aclAuthz
	at    time.Time
}

// aclIdentity is what a token stands for: its AccessorID and the rules of
// every policy that applies to it here. Servers make it from their store;
// clients get it by ACL.Resolve.
type aclIdentity struct {
	AccessorID string
	Rules      []string
}

func newACLResolver(a *Agent) *aclResolver {
	r := &aclResolver{a: a, cache: map[string]aclCached{}, tokens: map[string]string{}}
	t := a.cfg.ACL.Tokens
	for kind, v := range map[string]string{"default": t.Default, "agent": t.Agent,
		"agent_recovery": t.AgentRecovery, "replication": t.Replication} {
		if v != "" {
			r.tokens[kind] = v
		}
	}
	if a.cfg.ACL.EnableTokenPersistence && a.cfg.DataDir != "" {
		if b, err := os.ReadFile(r.persistPath()); err == nil {
			var kept map[string]string
			if err := json.Unmarshal(b, &kept); err != nil {
				a.logger.Warn("acl: ignoring the persisted tokens", "file", r.persistPath(), "error", err)
			}
			for kind, v := range kept {
				if _, ok := aclAgentTokenKinds[kind]; ok {
					r.tokens[kind] = v
				}
			}
		}
	}
	return r
}

func (r *aclResolver) persistPath() string { return filepath.Join(r.a.cfg.DataDir, "acl-tokens.json") }

// token is one of the agent's tokens ("" when unset).
func (r *aclResolver) token(kind string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokens[kind]
}

// setToken changes one of the agent's tokens, and persists them all when
// asked to.
func (r *aclResolver) setToken(kind, secret string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if secret == "" {
		delete(r.tokens, kind)
	} else {
		r.tokens[kind] = secret
	}
	if !r.a.cfg.ACL.EnableTokenPersistence || r.a.cfg.DataDir == "" {
		return nil
	}
	b, err := json.Marshal(r.tokens)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.persistPath(), r.persistPath()+".tmp", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// resolve returns the authorizer of a SecretID ("" : the anonymous token).
func (r *aclResolver) resolve(ctx context.Context, secret string) (*aclAuthz, error) {
	if !r.a.cfg.ACL.Enabled {
		return aclAllowAll, nil
	}
	if r.a.cfg.Server {
		return r.resolveOnServer(ctx, secret)
	}
	r.mu.Lock()
	c, cached := r.cache[secret]
	r.mu.Unlock()
	if cached && time.Since(c.at) < r.a.cfg.ACL.TokenTTL {
		return c.authz, nil
	}
	body, _ := json.Marshal(secret)
	out, err := r.a.serverCall(ctx, rpcACLResolve, body, true)
	var remote *rpcRemoteError
	if err != nil && !errors.As(err, &remote) && !errors.Is(err, errNoServers) && !errors.Is(err, errServerUnreachable) {
		return nil, err
	}
	if err == nil {
		var id aclIdentity
		if err := json.Unmarshal(out, &id); err != nil {
			return nil, err
		}
		z := r.compile(&id)
		r.mu.Lock()
		r.cache[secret] = aclCached{z, time.Now()}
		r.mu.Unlock()
		return z, nil
	}
	if msg := err.Error(); msg == errACLNotFound.msg || msg == errACLNotBootstrapped.msg {
		return nil, &httpError{http.StatusForbidden, msg}
	}
	if errors.As(err, &remote) {
		return nil, err
	}
	// No server answered: acl.down_policy.
	switch r.a.cfg.ACL.DownPolicy {
	case "allow":
		return compileACL(aclAnonymousAccessorID, true, nil), nil
	case "deny":
		return compileACL(aclAnonymousAccessorID, false, nil), nil
	}
	if cached {
		return c.authz, nil
	}
	return nil, err
}

// resolveOnServer resolves from this server's store; a token it does not
// know may have been created a moment ago and not be applied here yet, so
// it asks again after a read barrier (caught up with the leader's commit
// index), and a token is never refused by one server just after another
// accepted its creation. Unknown tokens alone pay the round trip.
func (r *aclResolver) resolveOnServer(ctx context.Context, secret string) (*aclAuthz, error) {
	z, err := r.resolveLocal(ctx, secret)
	if err != errACLNotFound && err != errACLNotBootstrapped {
		return z, err
	}
	if r.a.readBarrier(ctx, queryOptions{}) != nil {
		return nil, err
	}
	return r.resolveLocal(ctx, secret)
}

// resolveLocal resolves from this server's store (the file comment).
func (r *aclResolver) resolveLocal(ctx context.Context, secret string) (*aclAuthz, error) {
	st := r.a.store.snapshot()
	idx := st.aclIndex()
	r.mu.Lock()
	if idx != r.index {
		clear(r.cache)
		r.index = idx
	}
	c, ok := r.cache[secret]
	r.mu.Unlock()
	if ok && (c.at.IsZero() || time.Now().Before(c.at)) {
		return c.authz, nil
	}
	id, expires, err := aclIdentityOf(st, secret, r.a.cfg.Datacenter, time.Now())
	if err != nil && secret != "" && r.a.aclRepl.resolvesRemotely() { // server_acl_replication.go
		id, expires, err = r.a.aclRepl.resolveRemote(ctx, st, secret)
	}
	if err != nil {
		return nil, err
	}
	z := r.compile(id)
	r.mu.Lock()
	if r.index == idx {
		r.cache[secret] = aclCached{z, expires}
	}
	r.mu.Unlock()
	return z, nil
}

// compile parses an identity's rules (stored rules were checked when
// written; one that no longer parses is skipped and logged).
func (r *aclResolver) compile(id *aclIdentity) *aclAuthz {
	var policies []aclRules
	for _, text := range id.Rules {
		rules, err := parseACLRules(text)
		if err != nil {
			r.a.logger.Warn("acl: skipping a policy whose rules do not parse", "accessor", id.AccessorID, "error", err)
			continue
		}
		policies = append(policies, rules)
	}
	return compileACL(id.AccessorID, r.a.cfg.ACL.DefaultPolicy != "deny", policies)
}

// aclIdentityOf finds what a SecretID stands for in st, in datacenter dc;
// expires is when the token expires (zero: never).
func aclIdentityOf(st *state, secret, dc string, now time.Time) (id *aclIdentity, expires time.Time, err error) {
	var tok *ACLToken
	var ok bool
	if secret == "" {
		tok, ok = st.acl.tokens.get(aclAnonymousAccessorID)
		if !ok { // before the leader made it: the anonymous token has no policies
			return &aclIdentity{AccessorID: aclAnonymousAccessorID}, time.Time{}, nil
		}
	} else if tok, ok = st.aclTokenBySecret(secret); !ok || tok.ExpirationTime != nil && !now.Before(*tok.ExpirationTime) {
		if st.acl.bootstrapIndex == 0 {
			return nil, time.Time{}, errACLNotBootstrapped
		}
		return nil, time.Time{}, errACLNotFound
	}
	if tok.ExpirationTime != nil {
		expires = *tok.ExpirationTime
	}
	return aclTokenIdentity(st, tok, dc), expires, nil
}

// aclTokenIdentity is what a token stands for in datacenter dc, with the
// policies and roles of st.
func aclTokenIdentity(st *state, tok *ACLToken, dc string) *aclIdentity {
	id := &aclIdentity{AccessorID: tok.AccessorID}
	addPolicies := func(links []ACLLink) {
		for _, l := range links {
			if p, ok := st.acl.policies.get(l.ID); ok && (len(p.Datacenters) == 0 || slices.Contains(p.Datacenters, dc)) {
				id.Rules = append(id.Rules, p.Rules)
			}
		}
	}
	addIdentities := func(svcs []*ACLServiceIdentity, nodes []*ACLNodeIdentity) {
		for _, s := range svcs {
			if len(s.Datacenters) == 0 || slices.Contains(s.Datacenters, dc) {
				id.Rules = append(id.Rules, aclServiceIdentityRules(s.ServiceName))
			}
		}
		for _, n := range nodes {
			if n.Datacenter == dc {
				id.Rules = append(id.Rules, aclNodeIdentityRules(n.NodeName))
			}
		}
	}
	addPolicies(tok.Policies)
	for _, l := range tok.Roles {
		if role, ok := st.acl.roles.get(l.ID); ok {
			addPolicies(role.Policies)
			addIdentities(role.ServiceIdentities, role.NodeIdentities)
		}
	}
	addIdentities(tok.ServiceIdentities, tok.NodeIdentities)
	return id
}

// serveACLResolve answers a client's ACL.Resolve from this server's store.
// As resolveOnServer, a token not found is looked for again after a read
// barrier.
func (a *Agent) serveACLResolve(ctx context.Context, body []byte) ([]byte, error) {
	var secret string
	if err := json.Unmarshal(body, &secret); err != nil {
		return nil, err
	}
	st := a.store.snapshot()
	id, _, err := aclIdentityOf(st, secret, a.cfg.Datacenter, time.Now())
	if (err == errACLNotFound || err == errACLNotBootstrapped) && a.readBarrier(ctx, queryOptions{}) == nil {
		st = a.store.snapshot()
		id, _, err = aclIdentityOf(st, secret, a.cfg.Datacenter, time.Now())
	}
	if err != nil && secret != "" && a.aclRepl.resolvesRemotely() { // server_acl_replication.go
		id, _, err = a.aclRepl.resolveRemote(ctx, st, secret)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(id)
}

// --- the leader's initialisation ---

// aclBuiltinPolicies are Consul's built-in policies.
func aclBuiltinPolicies() []*ACLPolicy {
	ps := []*ACLPolicy{
		{ID: aclGlobalManagementID, Name: aclGlobalManagementName,
			Description: "A built-in policy that grants read and write access to all Consul features", Rules: aclGlobalRules("write")},
		{ID: aclGlobalReadOnlyID, Name: aclGlobalReadOnlyName,
			Description: "A built-in policy that grants read-only access to all Consul features", Rules: aclGlobalRules("read")},
	}
	for _, p := range ps {
		p.Hash = aclPolicyHash(p)
	}
	return ps
}

// initACL makes the built-ins that are missing (the file comment).
func (a *Agent) initACL() {
	if !a.cfg.ACL.Enabled || a.cfg.Datacenter != a.cfg.PrimaryDatacenter {
		return
	}
	st := a.store.snapshot()
	req := &aclRequest{Op: aclOpInit}
	for _, p := range aclBuiltinPolicies() {
		if _, ok := st.acl.policies.get(p.ID); !ok {
			req.Policies = append(req.Policies, p)
		}
	}
	now := time.Now().UTC()
	if _, ok := st.acl.tokens.get(aclAnonymousAccessorID); !ok {
		req.Anonymous = &ACLToken{AccessorID: aclAnonymousAccessorID, SecretID: aclAnonymousSecretID,
			Description: "Anonymous Token", CreateTime: now}
		req.Anonymous.Hash = aclTokenHash(req.Anonymous)
	}
	if secret := a.cfg.ACL.Tokens.InitialManagement; secret != "" {
		if _, ok := st.aclTokenBySecret(secret); !ok {
			req.Token = &ACLToken{AccessorID: newUUID(), SecretID: secret, Description: "Initial Management Token",
				Policies: []ACLLink{{ID: aclGlobalManagementID}}, CreateTime: now}
			req.Token.Hash = aclTokenHash(req.Token)
		}
	}
	if req.Policies == nil && req.Anonymous == nil && req.Token == nil {
		return
	}
	res, err := a.apply(a.lifetime(), &command{Type: cmdACL, ACL: req})
	if err == nil {
		err = res.err
	}
	if err != nil && !isShutdown(a.shutdownCh) {
		a.logger.Error("acl: initializing the built-in policies and tokens failed", "error", err)
	}
}

// --- hashes (Consul's Hash field: a digest of what grants access) ---

func aclHash(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

func aclPolicyHash(p *ACLPolicy) []byte {
	return aclHash(append([]string{p.Name, p.Description, p.Rules}, p.Datacenters...)...)
}

func aclTokenHash(t *ACLToken) []byte {
	parts := []string{t.Description, strings.Repeat("l", boolInt(t.Local))}
	for _, l := range t.Policies {
		parts = append(parts, "p:"+l.ID)
	}
	for _, l := range t.Roles {
		parts = append(parts, "r:"+l.ID)
	}
	for _, s := range t.ServiceIdentities {
		parts = append(parts, "s:"+s.ServiceName+":"+strings.Join(s.Datacenters, ","))
	}
	for _, n := range t.NodeIdentities {
		parts = append(parts, "n:"+n.NodeName+":"+n.Datacenter)
	}
	return aclHash(parts...)
}

func aclRoleHash(r *ACLRole) []byte {
	parts := []string{r.Name, r.Description}
	for _, l := range r.Policies {
		parts = append(parts, "p:"+l.ID)
	}
	for _, s := range r.ServiceIdentities {
		parts = append(parts, "s:"+s.ServiceName+":"+strings.Join(s.Datacenters, ","))
	}
	for _, n := range r.NodeIdentities {
		parts = append(parts, "n:"+n.NodeName+":"+n.Datacenter)
	}
	return aclHash(parts...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
