// http_acl.go: the ACL API (/v1/acl/...), the request path's token, and
// /v1/agent/token/<kind>.
//
// Every request's token is read once, by requestToken: X-Consul-Token,
// else `Authorization: Bearer`, else ?token=; with none, the agent's
// default token; with none of those, the anonymous token. h.authorize(r)
// turns it into the request's authorizer (server_acl.go resolves it,
// acl_authorizer.go documents the enforcement API every endpoint uses).
//
// The endpoints, with Consul's shapes, status codes and messages (a bad
// write is Consul's 500 with its text, a missing policy or role 404, a
// missing token 403):
//
//	PUT    /v1/acl/bootstrap                    once; then 403 with the reset index
//	PUT    /v1/acl/token                        create (policies and roles by ID or name)
//	GET    /v1/acl/token/self                   the request's own token
//	GET/PUT/DELETE /v1/acl/token/<accessor>     read, replace whole, delete
//	PUT    /v1/acl/token/<accessor>/clone       a new token with the same links
//	GET    /v1/acl/tokens?policy=|role=|servicename=|authmethod= list (one filter at most)
//	PUT    /v1/acl/policy, GET/PUT/DELETE /v1/acl/policy/<id>, GET /v1/acl/policy/name/<name>
//	GET    /v1/acl/policies
//	PUT    /v1/acl/role, GET/PUT/DELETE /v1/acl/role/<id>, GET /v1/acl/role/name/<name>
//	GET    /v1/acl/roles?policy=
//	GET    /v1/acl/replication                  this datacenter's replication status (no token needed:
//	                                            server_acl_replication.go)
//
// Reads need acl:read and writes acl:write; token/self needs only the
// token. Every write is one cmdACL command through the log, with IDs,
// secrets, CreateTime and Hash made here first (store_acl.go checks and
// stores). Consul 1.22 has no /v1/acl/rules/translate any more (404), and
// neither has miniconsul.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine and reads immutable store snapshots.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// requestToken is the token a request carries ("" : none).
func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		if t, ok := strings.CutPrefix(auth, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return query(r).Get("token")
}

// authorize is the request's authorizer (see the file comment).
func (h *httpAPI) authorize(r *http.Request) (*aclAuthz, error) {
	secret := requestToken(r)
	if secret == "" {
		secret = h.a.acl.token("default")
	}
	return h.a.acl.resolve(r.Context(), secret)
}

// aclDefaultPolicyHeader is set on every response, as Consul's.
func (h *httpAPI) aclDefaultPolicyHeader(w http.ResponseWriter) {
	w.Header().Set("X-Consul-Default-Acl-Policy", h.a.cfg.ACL.DefaultPolicy)
}

// setFilteredByACLs marks a list the token saw only part of.
func setFilteredByACLs(w http.ResponseWriter, filtered bool) {
	if filtered {
		w.Header().Set("X-Consul-Results-Filtered-By-Acls", "true")
	}
}

var errACLDisabled = &httpError{http.StatusUnauthorized, "ACL support disabled"}

func (h *httpAPI) registerACL() {
	get, put, del := http.MethodGet, http.MethodPut, http.MethodDelete
	h.endpoint("/v1/acl/bootstrap", []string{put}, h.aclBootstrap)
	h.endpoint("/v1/acl/token", []string{put}, h.aclTokenCreate)
	h.endpoint("/v1/acl/token/", []string{get, put, del}, h.aclToken)
	h.endpoint("/v1/acl/tokens", []string{get}, h.aclTokenList)
	h.endpoint("/v1/acl/policy", []string{put}, h.aclPolicyCreate)
	h.endpoint("/v1/acl/policy/", []string{get, put, del}, h.aclPolicy)
	h.endpoint("/v1/acl/policies", []string{get}, h.aclPolicyList)
	h.endpoint("/v1/acl/role", []string{put}, h.aclRoleCreate)
	h.endpoint("/v1/acl/role/", []string{get, put, del}, h.aclRole)
	h.endpoint("/v1/acl/roles", []string{get}, h.aclRoleList)
	h.endpoint("/v1/acl/replication", []string{get}, h.aclReplication)
	h.endpoint("/v1/agent/token/", []string{put}, h.agentToken)
}

// aclAccess checks ACLs are on and the request's token holds acl:<level>.
func (h *httpAPI) aclAccess(r *http.Request, level aclAccess) error {
	if !h.a.cfg.ACL.Enabled {
		return errACLDisabled
	}
	z, err := h.authorize(r)
	if err != nil {
		return err
	}
	return z.require(aclResACL, level, "")
}

// aclApply runs one ACL command.
func (h *httpAPI) aclApply(ctx context.Context, req *aclRequest) (applyResult, error) {
	res, err := h.a.apply(ctx, &command{Type: cmdACL, ACL: req})
	if err == nil {
		err = res.err
	}
	return res, err
}

// --- bootstrap ---

func (h *httpAPI) aclBootstrap(w http.ResponseWriter, r *http.Request) (any, error) {
	if !h.a.cfg.ACL.Enabled {
		return nil, errACLDisabled
	}
	if h.a.aclRepl.enabled() { // a secondary takes its ACLs from the primary: Consul's acl.ErrDisabled, as a 500
		return nil, &httpError{http.StatusInternalServerError, errACLDisabled.msg}
	}
	tok := &ACLToken{AccessorID: newUUID(), SecretID: newUUID(), Description: "Bootstrap Token (Global Management)",
		Policies: []ACLLink{{ID: aclGlobalManagementID}}, CreateTime: time.Now().UTC()}
	tok.Hash = aclTokenHash(tok)
	res, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpBootstrap, Token: tok, Policies: aclBuiltinPolicies()})
	if err != nil {
		return nil, err
	}
	st := h.a.store.snapshot()
	if !res.ok {
		return nil, &httpError{http.StatusForbidden,
			fmt.Sprintf("Permission denied: ACL bootstrap no longer allowed (reset index: %d)", st.acl.bootstrapIndex)}
	}
	stored, _ := st.acl.tokens.get(tok.AccessorID)
	return struct {
		ID string // Consul's legacy field: the SecretID
		*ACLToken
	}{stored.SecretID, st.aclTokenView(stored)}, nil
}

// --- tokens ---

// aclTokenBody is a token as a client writes it.
type aclTokenBody struct {
	AccessorID        string
	SecretID          string
	Description       string
	Policies          []ACLLink
	Roles             []ACLLink
	ServiceIdentities []*ACLServiceIdentity
	NodeIdentities    []*ACLNodeIdentity
	Local             bool
	ExpirationTime    *time.Time
	ExpirationTTL     string
}

var (
	aclUUIDPattern        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	aclServiceNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$`)
	aclPolicyNamePattern  = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,128}(/[A-Za-z0-9\-_]{1,128})?$`)
	aclRoleNamePattern    = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,256}$`)
)

// resolveLinks turns links by name into links by ID, with Consul's errors.
func resolveLinks(links []ACLLink, what string, byName func(string) (string, bool)) ([]ACLLink, error) {
	var out []ACLLink
	for _, l := range links {
		if l.ID == "" {
			id, ok := byName(l.Name)
			if !ok {
				return nil, fmt.Errorf("No such ACL %s with name %q", what, l.Name)
			}
			l.ID = id
		}
		out = append(out, ACLLink{ID: l.ID})
	}
	return out, nil
}

// tokenFromBody checks a token body and makes the token to store.
func (h *httpAPI) tokenFromBody(st *state, b *aclTokenBody, existing *ACLToken) (*ACLToken, error) {
	tok := &ACLToken{AccessorID: b.AccessorID, SecretID: b.SecretID, Description: b.Description, Local: b.Local,
		ServiceIdentities: b.ServiceIdentities, NodeIdentities: b.NodeIdentities, ExpirationTime: b.ExpirationTime}
	if existing == nil {
		for _, id := range []*string{&tok.AccessorID, &tok.SecretID} {
			if *id == "" {
				*id = newUUID()
			} else if !aclUUIDPattern.MatchString(*id) {
				return nil, errors.New("Invalid Token: AccessorID and SecretID must be UUIDs")
			} else if strings.HasPrefix(*id, aclReservedIDPrefix) {
				return nil, errors.New("Invalid Token: UUIDs with the prefix \"00000000-0000-0000-0000-0000000000\" are reserved")
			}
		}
		if _, ok := st.acl.tokens.get(tok.AccessorID); ok {
			return nil, errors.New("Invalid Token: AccessorID is already in use")
		}
		if _, ok := st.aclTokenBySecret(tok.SecretID); ok {
			return nil, errors.New("Invalid Token: SecretID is already in use")
		}
		tok.CreateTime = time.Now().UTC()
		if b.ExpirationTTL != "" {
			ttl, err := time.ParseDuration(b.ExpirationTTL)
			if err != nil || ttl < 0 {
				return nil, fmt.Errorf("Invalid Token: ExpirationTTL %q is not a positive duration", b.ExpirationTTL)
			}
			if b.ExpirationTime != nil {
				return nil, errors.New("Invalid Token: Expiration TTL and Expiration Time cannot both be set")
			}
			exp := tok.CreateTime.Add(ttl)
			tok.ExpirationTime = &exp
		}
	} else {
		if tok.SecretID != "" && tok.SecretID != existing.SecretID {
			return nil, errors.New("Invalid Token: SecretID cannot be changed")
		}
		if b.ExpirationTime != nil && (existing.ExpirationTime == nil || !b.ExpirationTime.Equal(*existing.ExpirationTime)) || b.ExpirationTTL != "" {
			return nil, errors.New("Cannot change expiration time")
		}
		tok.SecretID, tok.CreateTime, tok.ExpirationTime = existing.SecretID, existing.CreateTime, existing.ExpirationTime
	}
	var err error
	if tok.Policies, err = resolveLinks(b.Policies, "policy", st.acl.policyNames.get); err != nil {
		return nil, err
	}
	if tok.Roles, err = resolveLinks(b.Roles, "role", st.acl.roleNames.get); err != nil {
		return nil, err
	}
	if err := checkIdentities(tok.ServiceIdentities, tok.NodeIdentities, "token"); err != nil {
		return nil, err
	}
	tok.Hash = aclTokenHash(tok)
	return tok, nil
}

// checkIdentities checks service and node identities, with Consul's messages.
func checkIdentities(svcs []*ACLServiceIdentity, nodes []*ACLNodeIdentity, on string) error {
	for _, s := range svcs {
		if s == nil || s.ServiceName == "" {
			return fmt.Errorf("Service identity is missing the service name field on this %s", on)
		}
		if !aclServiceNamePattern.MatchString(s.ServiceName) {
			return fmt.Errorf("Service identity %q has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed", s.ServiceName)
		}
	}
	for _, n := range nodes {
		if n == nil || n.NodeName == "" {
			return fmt.Errorf("Node identity is missing the node name field on this %s", on)
		}
		if n.Datacenter == "" {
			return fmt.Errorf("Node identity is missing the datacenter field on this %s", on)
		}
	}
	return nil
}

// writeToken stores tok and answers with it as stored.
func (h *httpAPI) writeToken(r *http.Request, tok *ACLToken) (any, error) {
	if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpTokenSet, Token: tok}); err != nil {
		return nil, err
	}
	st := h.a.store.snapshot()
	stored, ok := st.acl.tokens.get(tok.AccessorID)
	if !ok {
		return nil, errors.New("Failed to retrieve the token after the update")
	}
	return st.aclTokenView(stored), nil
}

func (h *httpAPI) aclTokenCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclWrite); err != nil {
		return nil, err
	}
	var b aclTokenBody
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	tok, err := h.tokenFromBody(h.a.store.snapshot(), &b, nil)
	if err != nil {
		return nil, err
	}
	return h.writeToken(r, tok)
}

func (h *httpAPI) aclToken(w http.ResponseWriter, r *http.Request) (any, error) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/acl/token/")
	if rest == "self" && r.Method == http.MethodGet {
		return h.aclTokenSelf(w, r)
	}
	if id, ok := strings.CutSuffix(rest, "/clone"); ok && r.Method == http.MethodPut {
		return h.aclTokenClone(w, r, id)
	}
	if rest == "" || strings.Contains(rest, "/") {
		return nil, badRequest("Missing token ID")
	}
	switch r.Method {
	case http.MethodGet:
		if err := h.aclAccess(r, aclRead); err != nil {
			return nil, err
		}
		q, err := h.parseQuery(r)
		if err != nil {
			return nil, err
		}
		return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexTokens, aclIndexPolicies, aclIndexRoles) },
			func(st *state) (any, uint64, error) {
				tok, ok := st.acl.tokens.get(rest)
				if !ok {
					return nil, st.aclIndex(), &httpError{http.StatusForbidden, "token does not exist: ACL not found"}
				}
				return st.aclTokenView(tok), tok.ModifyIndex, nil
			})
	case http.MethodPut:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		var b aclTokenBody
		if err := decodeBody(w, r, &b); err != nil {
			return nil, err
		}
		if b.AccessorID != "" && b.AccessorID != rest {
			return nil, badRequest("Token Accessor ID in URL and payload do not match")
		}
		b.AccessorID = rest
		st := h.a.store.snapshot()
		existing, ok := st.acl.tokens.get(rest)
		if !ok {
			return nil, fmt.Errorf("Cannot find token %q", rest)
		}
		tok, err := h.tokenFromBody(st, &b, existing)
		if err != nil {
			return nil, err
		}
		return h.writeToken(r, tok)
	default:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpTokenDelete, ID: rest}); err != nil {
			return nil, err
		}
		return true, nil
	}
}

func (h *httpAPI) aclTokenSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	if !h.a.cfg.ACL.Enabled {
		return nil, errACLDisabled
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	secret := requestToken(r)
	if secret == "" {
		secret = h.a.acl.token("default")
	}
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexTokens, aclIndexPolicies, aclIndexRoles) },
		func(st *state) (any, uint64, error) {
			tok, ok := st.aclTokenBySecret(secret)
			if !ok || secret == "" {
				return nil, st.aclIndex(), &httpError{http.StatusForbidden, "token does not exist: ACL not found"}
			}
			return st.aclTokenView(tok), tok.ModifyIndex, nil
		})
}

func (h *httpAPI) aclTokenClone(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	if err := h.aclAccess(r, aclWrite); err != nil {
		return nil, err
	}
	var b struct{ Description string }
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &b); err != nil {
			return nil, err
		}
	}
	src, ok := h.a.store.snapshot().acl.tokens.get(id)
	if !ok {
		return nil, errors.New("Cannot find token to clone")
	}
	tok := *src
	tok.AccessorID, tok.SecretID, tok.CreateTime = newUUID(), newUUID(), time.Now().UTC()
	tok.Description = b.Description
	tok.Hash = aclTokenHash(&tok)
	return h.writeToken(r, &tok)
}

func (h *httpAPI) aclTokenList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclRead); err != nil {
		return nil, err
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	policy, role, service, method := query(r).Get("policy"), query(r).Get("role"), query(r).Get("servicename"), query(r).Get("authmethod")
	if n := len(slices.DeleteFunc([]string{policy, role, service, method}, func(s string) bool { return s == "" })); n > 1 {
		return nil, errors.New("can only filter by one of policy, role, serviceName, or methodName at a time")
	}
	expr, err := bindFilter[*ACLToken](r)
	if err != nil {
		return nil, err
	}
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexTokens, aclIndexPolicies, aclIndexRoles) },
		func(st *state) (any, uint64, error) {
			out := []*ACLToken{}
			st.acl.tokens.each(func(_ string, t *ACLToken) bool {
				if method != "" || // no token comes from an auth method: login is not built
					policy != "" && !aclLinksHave(t.Policies, policy) || role != "" && !aclLinksHave(t.Roles, role) ||
					service != "" && !slices.ContainsFunc(t.ServiceIdentities, func(si *ACLServiceIdentity) bool { return si.ServiceName == service }) {
					return true
				}
				out = append(out, st.aclTokenView(t))
				return true
			})
			return filterList(expr, out), st.tableIndex(aclIndexTokens), nil
		})
}

// aclLinksHave reports whether links name the ID.
func aclLinksHave(links []ACLLink, id string) bool {
	return slices.ContainsFunc(links, func(l ACLLink) bool { return l.ID == id })
}

// --- policies ---

type aclPolicyBody struct {
	ID          string
	Name        string
	Description string
	Rules       string
	Datacenters []string
}

// policyFromBody checks a policy (Consul's messages) and makes the one to store.
func policyFromBody(st *state, b *aclPolicyBody) (*ACLPolicy, error) {
	if b.Name == "" {
		return nil, errors.New("Invalid Policy: no Name is set")
	}
	if !aclPolicyNamePattern.MatchString(b.Name) {
		return nil, errors.New("Invalid Policy: invalid Name. Only alphanumeric characters, a single '/', '-' and '_' are allowed")
	}
	if id, ok := st.acl.policyNames.get(b.Name); ok && id != b.ID {
		return nil, fmt.Errorf("Invalid Policy: A Policy with Name %q already exists", b.Name)
	}
	if _, err := parseACLRules(b.Rules); err != nil {
		var se *aclSyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("Failed to parse ACL rules: %w", err)
		}
		return nil, err
	}
	p := &ACLPolicy{ID: b.ID, Name: b.Name, Description: b.Description, Rules: b.Rules, Datacenters: b.Datacenters}
	if p.ID == "" {
		p.ID = newUUID()
	}
	p.Hash = aclPolicyHash(p)
	return p, nil
}

func (h *httpAPI) writePolicy(r *http.Request, p *ACLPolicy) (any, error) {
	if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpPolicySet, Policies: []*ACLPolicy{p}}); err != nil {
		return nil, err
	}
	stored, ok := h.a.store.snapshot().acl.policies.get(p.ID)
	if !ok {
		return nil, errors.New("Failed to retrieve the policy after the update")
	}
	return stored, nil
}

func (h *httpAPI) aclPolicyCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclWrite); err != nil {
		return nil, err
	}
	var b aclPolicyBody
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	if b.ID != "" {
		return nil, errors.New("Invalid Policy: ID must be empty when creating a policy")
	}
	p, err := policyFromBody(h.a.store.snapshot(), &b)
	if err != nil {
		return nil, err
	}
	return h.writePolicy(r, p)
}

var errPolicyNotFound = &httpError{http.StatusNotFound, "Requested policy does not exist: ACL not found"}

func (h *httpAPI) aclPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/acl/policy/")
	name, byName := strings.CutPrefix(rest, "name/")
	switch {
	case r.Method == http.MethodGet:
		if err := h.aclAccess(r, aclRead); err != nil {
			return nil, err
		}
		q, err := h.parseQuery(r)
		if err != nil {
			return nil, err
		}
		return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexPolicies) },
			func(st *state) (any, uint64, error) {
				p, ok := st.acl.policies.get(rest)
				if byName {
					p, ok = st.aclPolicyByName(name)
				}
				if !ok {
					return nil, st.tableIndex(aclIndexPolicies), errPolicyNotFound
				}
				return p, p.ModifyIndex, nil
			})
	case byName || rest == "":
		return nil, badRequest("Missing policy ID")
	case r.Method == http.MethodPut:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		var b aclPolicyBody
		if err := decodeBody(w, r, &b); err != nil {
			return nil, err
		}
		if b.ID != "" && b.ID != rest {
			return nil, badRequest("Policy ID in URL and payload do not match")
		}
		b.ID = rest
		st := h.a.store.snapshot()
		if _, ok := st.acl.policies.get(rest); !ok {
			return nil, fmt.Errorf("Invalid Policy: A policy with ID %q does not exist", rest)
		}
		p, err := policyFromBody(st, &b)
		if err != nil {
			return nil, err
		}
		return h.writePolicy(r, p)
	default:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpPolicyDelete, ID: rest}); err != nil {
			return nil, err
		}
		return true, nil
	}
}

// aclPolicyListEntry is a policy in the list: without its rules.
type aclPolicyListEntry struct {
	ID          string
	Name        string
	Description string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

func (h *httpAPI) aclPolicyList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclRead); err != nil {
		return nil, err
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[aclPolicyListEntry](r)
	if err != nil {
		return nil, err
	}
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexPolicies) },
		func(st *state) (any, uint64, error) {
			out := []aclPolicyListEntry{}
			st.acl.policyNames.each(func(_ string, id string) bool { // by name, as Consul's
				p, _ := st.acl.policies.get(id)
				out = append(out, aclPolicyListEntry{p.ID, p.Name, p.Description, p.Datacenters, p.Hash, p.CreateIndex, p.ModifyIndex})
				return true
			})
			return filterList(expr, out), st.tableIndex(aclIndexPolicies), nil
		})
}

// --- roles ---

type aclRoleBody struct {
	ID                string
	Name              string
	Description       string
	Policies          []ACLLink
	ServiceIdentities []*ACLServiceIdentity
	NodeIdentities    []*ACLNodeIdentity
}

func roleFromBody(st *state, b *aclRoleBody) (*ACLRole, error) {
	if b.Name == "" {
		return nil, errors.New("Invalid Role: no Name is set")
	}
	if !aclRoleNamePattern.MatchString(b.Name) {
		return nil, errors.New("Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed")
	}
	if id, ok := st.acl.roleNames.get(b.Name); ok && id != b.ID {
		return nil, fmt.Errorf("Invalid Role: A Role with Name %q already exists", b.Name)
	}
	if err := checkIdentities(b.ServiceIdentities, b.NodeIdentities, "role"); err != nil {
		return nil, err
	}
	role := &ACLRole{ID: b.ID, Name: b.Name, Description: b.Description,
		ServiceIdentities: b.ServiceIdentities, NodeIdentities: b.NodeIdentities}
	var err error
	if role.Policies, err = resolveLinks(b.Policies, "policy", st.acl.policyNames.get); err != nil {
		return nil, err
	}
	if role.ID == "" {
		role.ID = newUUID()
	}
	role.Hash = aclRoleHash(role)
	return role, nil
}

func (h *httpAPI) writeRole(r *http.Request, role *ACLRole) (any, error) {
	if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpRoleSet, Role: role}); err != nil {
		return nil, err
	}
	st := h.a.store.snapshot()
	stored, ok := st.acl.roles.get(role.ID)
	if !ok {
		return nil, errors.New("Failed to retrieve the role after the update")
	}
	return st.aclRoleView(stored), nil
}

func (h *httpAPI) aclRoleCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclWrite); err != nil {
		return nil, err
	}
	var b aclRoleBody
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	if b.ID != "" {
		return nil, errors.New("Invalid Role: ID must be empty when creating a role")
	}
	role, err := roleFromBody(h.a.store.snapshot(), &b)
	if err != nil {
		return nil, err
	}
	return h.writeRole(r, role)
}

var errRoleNotFound = &httpError{http.StatusNotFound, "Requested role does not exist: ACL not found"}

func (h *httpAPI) aclRole(w http.ResponseWriter, r *http.Request) (any, error) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/acl/role/")
	name, byName := strings.CutPrefix(rest, "name/")
	switch {
	case r.Method == http.MethodGet:
		if err := h.aclAccess(r, aclRead); err != nil {
			return nil, err
		}
		q, err := h.parseQuery(r)
		if err != nil {
			return nil, err
		}
		return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexRoles, aclIndexPolicies) },
			func(st *state) (any, uint64, error) {
				role, ok := st.acl.roles.get(rest)
				if byName {
					role, ok = st.aclRoleByName(name)
				}
				if !ok {
					return nil, st.tableIndex(aclIndexRoles), errRoleNotFound
				}
				return st.aclRoleView(role), role.ModifyIndex, nil
			})
	case byName || rest == "":
		return nil, badRequest("Missing role ID")
	case r.Method == http.MethodPut:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		var b aclRoleBody
		if err := decodeBody(w, r, &b); err != nil {
			return nil, err
		}
		if b.ID != "" && b.ID != rest {
			return nil, badRequest("Role ID in URL and payload do not match")
		}
		b.ID = rest
		st := h.a.store.snapshot()
		if _, ok := st.acl.roles.get(rest); !ok {
			return nil, fmt.Errorf("Invalid Role: A Role with ID %q does not exist", rest)
		}
		role, err := roleFromBody(st, &b)
		if err != nil {
			return nil, err
		}
		return h.writeRole(r, role)
	default:
		if err := h.aclAccess(r, aclWrite); err != nil {
			return nil, err
		}
		if _, err := h.aclApply(r.Context(), &aclRequest{Op: aclOpRoleDelete, ID: rest}); err != nil {
			return nil, err
		}
		return true, nil
	}
}

func (h *httpAPI) aclRoleList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.aclAccess(r, aclRead); err != nil {
		return nil, err
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	policy := query(r).Get("policy")
	expr, err := bindFilter[*ACLRole](r)
	if err != nil {
		return nil, err
	}
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(aclIndexRoles, aclIndexPolicies) },
		func(st *state) (any, uint64, error) {
			out := []*ACLRole{}
			st.acl.roleNames.each(func(_ string, id string) bool { // by name, as Consul's
				role, _ := st.acl.roles.get(id)
				if policy == "" || aclLinksHave(role.Policies, policy) {
					out = append(out, st.aclRoleView(role))
				}
				return true
			})
			return filterList(expr, out), st.tableIndex(aclIndexRoles), nil
		})
}

// --- replication status ---

// aclReplication is the leader's replication status, which needs no token
// (server_acl_replication.go).
func (h *httpAPI) aclReplication(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.aclReplicationStatus(r)
}

// --- /v1/agent/token/<kind> ---

func (h *httpAPI) agentToken(w http.ResponseWriter, r *http.Request) (any, error) {
	if !h.a.cfg.ACL.Enabled {
		return nil, errACLDisabled
	}
	z, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := z.require(aclResAgent, aclWrite, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(r.URL.Path, "/v1/agent/token/")
	kind, ok := aclAgentTokenKinds[name]
	if !ok {
		return nil, notFound("Token %q is unknown", name)
	}
	var b struct{ Token string }
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	if err := h.a.acl.setToken(kind, b.Token); err != nil {
		return nil, fmt.Errorf("Failed to persist tokens: %v", err)
	}
	h.a.logger.Info("Updated agent's ACL token", "token", kind)
	return nil, nil
}
