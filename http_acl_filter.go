// http_acl_filter.go: ACL filtering of the catalog, health and agent reads,
// and the write checks of catalog registration (Consul's aclfilter.Filter
// and vetRegisterWithACL / vetDeregisterWithACL).
//
// A read gets its authorizer once (h.authorize, http_acl.go), builds its
// answer from a store snapshot, and keeps only what the token may read:
//
//	node            node:read on its name
//	service entry   node:read on its node and service:read on its name
//	check           node:read on its node, and service:read on its service if it has one
//
// then marks the answer with X-Consul-Results-Filtered-By-Acls when entries
// were removed, but never for the anonymous token (Consul's
// maskResultsFilteredByACLs: the header would tell an anonymous caller what
// exists). The filters never modify what they are given (it may be the
// store's): they build new lists.
//
// Concurrency: none; an aclAuthz is immutable and each read filters its
// own answer on its own goroutine.
package main

import (
	"net/http"
	"strings"
)

// aclKeep is the entries of list that keep allows, in order, and whether
// any was removed. It builds a new slice.
func aclKeep[T any](list []T, keep func(T) bool) ([]T, bool) {
	out := make([]T, 0, len(list))
	for _, e := range list {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out, len(out) < len(list)
}

func (z *aclAuthz) nodeRead(node string) bool { return z.allows(aclResNode, aclRead, node) }

// serviceRead: an entry without a service (a node check) needs none.
func (z *aclAuthz) serviceRead(service string) bool {
	return service == "" || z.allows(aclResService, aclRead, service)
}

func (z *aclAuthz) checkRead(c *HealthCheck) bool {
	return z.nodeRead(c.Node) && z.serviceRead(c.ServiceName)
}

func (z *aclAuthz) instanceRead(csn CheckServiceNode) bool {
	return csn.Node != nil && csn.Service != nil && z.nodeRead(csn.Node.Node) && z.serviceRead(csn.Service.Service)
}

func (z *aclAuthz) checksRead(checks []*HealthCheck) ([]*HealthCheck, bool) {
	return aclKeep(checks, z.checkRead)
}

func (z *aclAuthz) instancesRead(csns []CheckServiceNode) ([]CheckServiceNode, bool) {
	return aclKeep(csns, z.instanceRead)
}

// serviceTagsRead is a service name → tags map without the services the
// token may not read.
func (z *aclAuthz) serviceTagsRead(m map[string][]string) (map[string][]string, bool) {
	out := make(map[string][]string, len(m))
	for name, tags := range m {
		if z.serviceRead(name) {
			out[name] = tags
		}
	}
	return out, len(out) < len(m)
}

// markFiltered sets X-Consul-Results-Filtered-By-Acls when entries were
// removed, except for the anonymous token (see the file comment).
func (z *aclAuthz) markFiltered(w http.ResponseWriter, removed bool) {
	setFilteredByACLs(w, removed && !z.disabled && z.accessorID != aclAnonymousAccessorID)
}

// errPermissionDenied is Consul's bare acl.ErrPermissionDenied, which a
// few endpoints answer without naming the permission.
var errPermissionDenied = &httpError{http.StatusForbidden, "Permission denied"}

// vetRegister is Consul's vetRegisterWithACL: node:write unless the node
// is already registered as the request has it (or SkipNodeUpdate);
// service:write on the service, and on the service it replaces by ID;
// node:write for node checks, service:write on the service of a check for
// another service of the node.
func (z *aclAuthz) vetRegister(st *state, req *RegisterRequest) error {
	if z.disabled {
		return nil
	}
	if n := st.node(req.Node); n == nil || !req.SkipNodeUpdate && registerChangesNode(req, n) {
		if err := z.require(aclResNode, aclWrite, req.Node); err != nil {
			return err
		}
	}
	existing := map[string]*Service{}
	for _, s := range st.nodeServices(req.Node) {
		existing[s.ID] = s
	}
	if s := req.Service; s != nil {
		if err := z.require(aclResService, aclWrite, s.Service); err != nil {
			return err
		}
		id := s.ID
		if id == "" {
			id = s.Service
		}
		if other := existing[id]; other != nil && !z.allows(aclResService, aclWrite, other.Service) {
			return errPermissionDenied
		}
	}
	checks := req.Checks
	if req.Check != nil {
		checks = append([]*HealthCheck{req.Check}, checks...)
	}
	for _, c := range checks {
		if c == nil {
			continue
		}
		if c.ServiceID == "" {
			if err := z.require(aclResNode, aclWrite, req.Node); err != nil {
				return err
			}
			continue
		}
		if s := req.Service; s != nil && (s.ID == c.ServiceID || s.ID == "" && s.Service == c.ServiceID) {
			continue
		}
		other := existing[c.ServiceID]
		if other == nil {
			return &httpError{http.StatusInternalServerError, "Unknown service ID '" + c.ServiceID + "' for check ID '" + c.CheckID + "'"}
		}
		if err := z.require(aclResService, aclWrite, other.Service); err != nil {
			return err
		}
	}
	return nil
}

// registerChangesNode is Consul's RegisterRequest.ChangesNode: a
// registration that would rewrite the node's own fields.
func registerChangesNode(req *RegisterRequest, n *Node) bool {
	return req.ID != "" && !strings.EqualFold(req.ID, n.ID) || req.Node != n.Node || req.Address != n.Address ||
		!strMapEqual(req.TaggedAddresses, n.TaggedAddresses) || !strMapEqual(req.NodeMeta, n.Meta)
}

func strMapEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// vetDeregister is Consul's vetDeregisterWithACL: node:write allows
// everything on the node; without it, service:write on the service
// removed, or on the service of the check removed (node:write for a node
// check); removing the node itself needs node:write.
func (z *aclAuthz) vetDeregister(st *state, req *DeregisterRequest) error {
	nodeErr := z.require(aclResNode, aclWrite, req.Node)
	if nodeErr == nil {
		return nil
	}
	switch {
	case req.ServiceID != "":
		for _, s := range st.nodeServices(req.Node) {
			if s.ID == req.ServiceID {
				return z.require(aclResService, aclWrite, s.Service)
			}
		}
		return &httpError{http.StatusInternalServerError, "Unknown service ID '" + req.ServiceID + "'"}
	case req.CheckID != "":
		for _, c := range st.nodeChecks(req.Node) {
			if c.CheckID == req.CheckID {
				if c.ServiceID == "" {
					return nodeErr
				}
				return z.require(aclResService, aclWrite, c.ServiceName)
			}
		}
		return &httpError{http.StatusInternalServerError, "Unknown check ID '" + req.CheckID + "'"}
	}
	return nodeErr
}

// vet runs a write's ACL check with the request's authorizer against the
// current state.
func (h *httpAPI) vet(r *http.Request, check func(*aclAuthz, *state) error) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	return check(authz, h.a.store.snapshot())
}
