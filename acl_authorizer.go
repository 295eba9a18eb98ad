// acl_authorizer.go: the authorizer, a token's policies compiled into the
// enforcement decisions every endpoint asks for.
//
// A token's identity (its AccessorID and the rules of its policies, of its
// roles' policies, and of the policies its service and node identities
// stand for: server_acl.go) is compiled once into an aclAuthz and cached.
// Compilation merges the policies as Consul's PolicyMerger: for the same
// resource and name, deny wins, then write, list, read. A decision
// (Consul's ACL rules reference, "Rule precedence"):
//
//	exact rule for the name          → its level
//	else the longest matching prefix → its level
//	else                             → acl.default_policy (allow or deny)
//
// and a level grants (Consul's enforce): write → read, list, write;
// list → read, list; read → read; deny → nothing.
//
// The enforcement API, for every endpoint (the HTTP layer gets the
// request's authorizer with h.authorize(r), http_acl.go):
//
//	authz, err := h.authorize(r)                // 403 ACL not found for an unknown token
//	err = authz.require(aclResKey, aclWrite, key) // nil, or Consul's 403 error, ready for writeError
//	if authz.allows(aclResService, aclRead, name) { … }  // filtering lists
//	authz.keyWritePrefix(prefix)                 // DELETE ?recurse (a write on all under it)
//
// With ACLs disabled the authorizer allows everything, so callers never
// ask whether ACLs are on. The 403 text is Consul's PermissionDeniedError:
// `Permission denied: token with AccessorID '<id>' lacks permission
// 'key:write' on "other/x"`, or the anonymous token's variant; a scalar
// resource (operator, keyring, acl, mesh, peering) is named without `on`.
//
// Concurrency: an aclAuthz is immutable once compiled: any goroutine may
// use it.
package main

import (
	"fmt"
	"net/http"
	"strings"
)

// Well-known ACL identifiers (Consul's structs.ACL*).
const (
	aclAnonymousAccessorID  = "00000000-0000-0000-0000-000000000002"
	aclAnonymousSecretID    = "anonymous"
	aclGlobalManagementID   = "00000000-0000-0000-0000-000000000001"
	aclGlobalManagementName = "global-management"
	aclGlobalReadOnlyID     = "00000000-0000-0000-0000-000000000002"
	aclGlobalReadOnlyName   = "builtin/global-read-only"
	aclReservedIDPrefix     = "00000000-0000-0000-0000-0000000000"
)

// aclGlobalRules is Consul's template of the built-in global policies
// (structs.aclPolicyGlobalRulesTemplate), with "write" or "read".
func aclGlobalRules(level string) string {
	return strings.ReplaceAll(`
acl = "%s"
agent_prefix "" {
	policy = "%s"
}
event_prefix "" {
	policy = "%s"
}
key_prefix "" {
	policy = "%s"
}
keyring = "%s"
node_prefix "" {
	policy = "%s"
}
operator = "%s"
mesh = "%s"
peering = "%s"
query_prefix "" {
	policy = "%s"
}
service_prefix "" {
	policy = "%s"
	intentions = "%s"
}
session_prefix "" {
	policy = "%s"
}`, "%s", level)
}

// aclServiceIdentityRules and aclNodeIdentityRules are the policies
// Consul synthesizes for a token's service and node identities.
func aclServiceIdentityRules(svc string) string {
	return fmt.Sprintf(`
service %[1]q {
	policy = "write"
}
service "%[1]s-sidecar-proxy" {
	policy = "write"
}
service_prefix "" {
	policy = "read"
}
node_prefix "" {
	policy = "read"
}`, svc)
}

func aclNodeIdentityRules(node string) string {
	return fmt.Sprintf(`
node %q {
	policy = "write"
}
service_prefix "" {
	policy = "read"
}`, node)
}

// aclSegmentRules are one segmented resource's rules, merged.
type aclSegmentRules struct {
	exact, prefix map[string]aclAccess
}

// aclAuthz is a compiled token (see the file comment).
type aclAuthz struct {
	disabled     bool // ACLs are off: everything is allowed
	accessorID   string
	defaultAllow bool
	segments     [aclResACL]aclSegmentRules
	scalars      [aclResCount]aclAccess
}

// aclAllowAll is the authorizer of an agent with ACLs disabled.
var aclAllowAll = &aclAuthz{disabled: true}

// compileACL merges parsed policies into an authorizer.
func compileACL(accessorID string, defaultAllow bool, policies []aclRules) *aclAuthz {
	z := &aclAuthz{accessorID: accessorID, defaultAllow: defaultAllow}
	merge := func(m *map[string]aclAccess, name string, level aclAccess) {
		if *m == nil {
			*m = map[string]aclAccess{}
		}
		(*m)[name] = max((*m)[name], level)
	}
	for _, rules := range policies {
		for _, r := range rules {
			if r.Resource.scalar() {
				z.scalars[r.Resource] = max(z.scalars[r.Resource], r.Access)
				continue
			}
			seg := &z.segments[r.Resource]
			target := &seg.exact
			if r.Prefix {
				target = &seg.prefix
			}
			merge(target, r.Name, r.Access)
			if r.Resource == aclResService {
				// A service rule's intentions level, or the one its policy
				// implies (Consul: read or write → read, else deny).
				in := r.Intentions
				if in == aclUnset {
					in = aclDeny
					if r.Access == aclRead || r.Access == aclWrite {
						in = aclRead
					}
				}
				iseg := &z.segments[aclResIntention]
				itarget := &iseg.exact
				if r.Prefix {
					itarget = &iseg.prefix
				}
				merge(itarget, r.Name, in)
			}
		}
	}
	return z
}

// level is the rule that decides on name: exact, else longest prefix.
func (s *aclSegmentRules) level(name string) aclAccess {
	if l, ok := s.exact[name]; ok {
		return l
	}
	for i := len(name); i >= 0 && s.prefix != nil; i-- {
		if l, ok := s.prefix[name[:i]]; ok {
			return l
		}
	}
	return aclUnset
}

// grants reports whether a rule's level grants the required one; decided
// is false when no rule applies.
func grants(level, required aclAccess) (allowed, decided bool) {
	switch level {
	case aclWrite:
		return true, true
	case aclList:
		return required == aclList || required == aclRead, true
	case aclRead:
		return required == aclRead, true
	case aclDeny:
		return false, true
	}
	return false, false
}

// allows reports whether the token may act on a resource at a level
// (name is ignored for scalar resources).
func (z *aclAuthz) allows(res aclResource, required aclAccess, name string) bool {
	if z.disabled {
		return true
	}
	level := z.scalars[res]
	if !res.scalar() {
		level = z.segments[res].level(name)
	}
	if ok, decided := grants(level, required); decided {
		return ok
	}
	return z.defaultAllow
}

// require is allows as an error: Consul's 403 (see the file comment).
func (z *aclAuthz) require(res aclResource, required aclAccess, name string) error {
	if z.allows(res, required, name) {
		return nil
	}
	return z.denied(res, required, name)
}

// denied is Consul's PermissionDeniedError text as a 403.
func (z *aclAuthz) denied(res aclResource, required aclAccess, name string) error {
	var b strings.Builder
	b.WriteString("Permission denied")
	if z.accessorID == aclAnonymousAccessorID {
		b.WriteString(": anonymous token")
	} else {
		fmt.Fprintf(&b, ": token with AccessorID '%s'", z.accessorID)
	}
	fmt.Fprintf(&b, " lacks permission '%s:%s'", res, required)
	if !res.scalar() && name != "" {
		fmt.Fprintf(&b, " on %q", name)
	}
	if z.accessorID == aclAnonymousAccessorID {
		b.WriteString(". The anonymous token is used implicitly when a request does not specify a token.")
	}
	return &httpError{http.StatusForbidden, b.String()}
}

// keyWritePrefix is write on every key under prefix (Consul's
// KeyWritePrefix, for DELETE ?recurse): the longest prefix rule must
// grant write, and no rule within the prefix may deny it.
func (z *aclAuthz) keyWritePrefix(prefix string) error {
	if z.disabled {
		return nil
	}
	seg := &z.segments[aclResKey]
	base := aclUnset
	for i := len(prefix); i >= 0 && seg.prefix != nil; i-- {
		if l, ok := seg.prefix[prefix[:i]]; ok {
			base = l
			break
		}
	}
	allowed := base == aclWrite || base == aclUnset && z.defaultAllow
	for _, m := range []map[string]aclAccess{seg.exact, seg.prefix} {
		for name, l := range m {
			if strings.HasPrefix(name, prefix) && l != aclWrite {
				allowed = false
			}
		}
	}
	if allowed {
		return nil
	}
	return z.denied(aclResKey, aclWrite, prefix)
}
