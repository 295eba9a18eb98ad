// http_acl_enforce.go: ACL enforcement of the endpoints beyond KV, ACL,
// catalog and agent: operator (Raft, autopilot, keyring), snapshots,
// sessions, transactions and user events, as Consul 1.22 enforces them.
//
// Two kinds of checks. A scalar one depends only on the endpoint and the
// method: h.endpoint (http.go) wraps every handler with aclGuard, which
// asks aclEndpointRules before the handler runs:
//
//	/v1/operator/raft/configuration  GET     operator:read  (Consul's operator_raft_endpoint.go)
//	/v1/operator/raft/peer           DELETE  operator:write
//	/v1/operator/raft/transfer-leader POST   operator:write
//	/v1/operator/autopilot/*         GET     operator:read, PUT operator:write (operator_autopilot_endpoint.go)
//	/v1/operator/keyring             GET     keyring:read, else keyring:write (internal_endpoint.go)
//	/v1/snapshot                     GET/PUT acl:write (snapshot_endpoint.go: "management only",
//	                                         Consul checks ACLWrite)
//	/v1/status/*                             none (Consul's Status endpoint has no ACL)
//
// The others depend on what a request names, and are made where the
// handler knows it, with the helpers here:
//
//	sessions (session_endpoint.go): create, destroy and renew need
//	  session:write on the session's node (a destroy of a missing session
//	  is true, unchecked); info, node and list are filtered by session:read
//	  on each session's node
//	transactions (txn_endpoint.go preCheck): every operation is checked
//	  before anything is applied, KV ones as KV (get/get-tree: none, the
//	  results are filtered; check-index/check-session: key:read;
//	  delete-tree: write on the whole prefix; the rest: key:write), node
//	  ones node:write, service ones service:write (a proxy also on its
//	  destination), check ones node:write or service:write; any denial
//	  fails the whole transaction with 409 and one Errors entry (OpIndex,
//	  What: the 403 text) per denied operation; results are filtered by
//	  read access (Consul's FilterTxnResults)
//	user events (agent/event_endpoint.go): fire needs event:write on the
//	  name (a denial is Consul's bare 403 "Permission denied"); the list is
//	  filtered by event:read
//
// A filtered list says so with X-Consul-Results-Filtered-By-Acls, except
// to the anonymous token (Consul's maskResultsFilteredByACLs).
//
// A KV lock (?acquire, ?release) needs key:write on the key only, as
// Consul's kvsPreApply: the session's own token is not consulted.
//
// Concurrency: none of its own; the table is fixed, authorizers are
// immutable.
package main

import (
	"net/http"
	"strings"
)

// aclEndpointRule is the scalar permission an endpoint needs.
type aclEndpointRule struct {
	res        aclResource
	read       aclAccess // for GET
	write      aclAccess // for the other methods
	pathPrefix bool      // the rule covers every path under this one
}

// aclEndpointRules are the scalar checks (the file comment), by the path
// an endpoint is registered at.
var aclEndpointRules = map[string]aclEndpointRule{
	"/v1/operator/raft/configuration":   {res: aclResOperator, read: aclRead},
	"/v1/operator/raft/peer":            {res: aclResOperator, write: aclWrite},
	"/v1/operator/raft/transfer-leader": {res: aclResOperator, write: aclWrite},
	"/v1/operator/raft/state":           {res: aclResOperator, read: aclRead},                     // http_cluster.go
	"/v1/operator/debug/":               {res: aclResOperator, write: aclWrite, pathPrefix: true}, // the teaching controls
	"/v1/operator/autopilot/":           {res: aclResOperator, read: aclRead, write: aclWrite, pathPrefix: true},
	"/v1/operator/keyring":              {res: aclResKeyring, read: aclRead, write: aclWrite},
	"/v1/snapshot":                      {res: aclResACL, read: aclWrite, write: aclWrite},
}

// aclRuleFor finds the rule of an endpoint's path, if any.
func aclRuleFor(path string) (aclEndpointRule, bool) {
	if rule, ok := aclEndpointRules[path]; ok {
		return rule, true
	}
	for p, rule := range aclEndpointRules {
		if rule.pathPrefix && strings.HasPrefix(path, p) {
			return rule, true
		}
	}
	return aclEndpointRule{}, false
}

// aclGuard wraps an endpoint registered at path with its scalar check,
// when it has one.
func (h *httpAPI) aclGuard(path string, fn handlerFunc) handlerFunc {
	rule, ok := aclRuleFor(path)
	if !ok {
		return fn
	}
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		level := rule.write
		if r.Method == http.MethodGet {
			level = rule.read
		}
		z, err := h.authorize(r)
		if err != nil {
			return nil, err
		}
		if err := z.require(rule.res, level, ""); err != nil {
			return nil, err
		}
		return fn(w, r)
	}
}

// filterSessions keeps the sessions whose node the token may read
// sessions of; removed says whether any went.
func (z *aclAuthz) filterSessions(in []*Session) (out []*Session, removed bool) {
	out = make([]*Session, 0, len(in))
	for _, s := range in {
		if z.allows(aclResSession, aclRead, s.Node) {
			out = append(out, s)
		}
	}
	return out, len(out) < len(in)
}

// filterEvents keeps the events the token may read.
func (z *aclAuthz) filterEvents(in []*UserEvent) (out []*UserEvent, removed bool) {
	out = make([]*UserEvent, 0, len(in))
	for _, e := range in {
		if z.allows(aclResEvent, aclRead, e.Name) {
			out = append(out, e)
		}
	}
	return out, len(out) < len(in)
}

// eventFireAllowed is event:write on the name, with Consul's answers: a
// denial is the bare 403 "Permission denied" (acl.ErrPermissionDenied), a
// token that does not resolve a 500 with the reason (Internal.EventFire's
// error, which the HTTP layer passes on).
func (h *httpAPI) eventFireAllowed(r *http.Request, name string) error {
	z, err := h.authorize(r)
	if err != nil {
		return &httpError{http.StatusInternalServerError, err.Error()}
	}
	if !z.allows(aclResEvent, aclWrite, name) {
		return &httpError{http.StatusForbidden, "Permission denied"}
	}
	return nil
}

// txnAuthorize checks every operation of a transaction (the file
// comment): one error per denied operation.
func (z *aclAuthz) txnAuthorize(ops []txnOp) []txnError {
	var errs []txnError
	for i, op := range ops {
		if err := z.txnOpAllowed(op); err != nil {
			errs = append(errs, txnError{OpIndex: i, What: err.Error()})
		}
	}
	return errs
}

// txnOpAllowed is one operation's check (txn_endpoint.go's preCheck).
func (z *aclAuthz) txnOpAllowed(op txnOp) error {
	switch {
	case op.KV != nil:
		switch op.KV.Verb {
		case kvGet, kvGetTree:
			return nil
		case kvCheckIndex, kvCheckSession:
			return z.require(aclResKey, aclRead, op.KV.Key)
		case kvDeleteTree:
			return z.keyWritePrefix(op.KV.Key)
		}
		return z.require(aclResKey, aclWrite, op.KV.Key)
	case op.Node != nil:
		if op.Node.Verb == kvGet {
			return nil
		}
		return z.require(aclResNode, aclWrite, op.Node.Node.Node)
	case op.Service != nil:
		s := &op.Service.Service
		if op.Service.Verb == kvGet {
			return nil
		}
		if s.Service != "consul" { // managed by the servers themselves (Consul's servicePreApply)
			if err := z.require(aclResService, aclWrite, s.Service); err != nil {
				return err
			}
		}
		if s.Kind == serviceKindConnectProxy {
			return z.require(aclResService, aclWrite, s.Proxy.DestinationServiceName)
		}
		return nil
	case op.Check != nil:
		c := &op.Check.Check
		if op.Check.Verb == kvGet {
			return nil
		}
		if c.ServiceID == "" {
			return z.require(aclResNode, aclWrite, c.Node)
		}
		return z.require(aclResService, aclWrite, c.ServiceName)
	}
	return nil
}

// txnFilterResults keeps the results the token may read (Consul's
// FilterTxnResults).
func (z *aclAuthz) txnFilterResults(in []txnResult) (out []txnResult, removed bool) {
	out = make([]txnResult, 0, len(in))
	for _, r := range in {
		ok := true
		switch {
		case r.KV != nil:
			ok = z.allows(aclResKey, aclRead, r.KV.Key)
		case r.Node != nil:
			ok = z.allows(aclResNode, aclRead, r.Node.Node)
		case r.Service != nil:
			ok = z.allows(aclResService, aclRead, r.Service.Service)
		case r.Check != nil && r.Check.ServiceName != "":
			ok = z.allows(aclResService, aclRead, r.Check.ServiceName)
		case r.Check != nil:
			ok = z.allows(aclResNode, aclRead, r.Check.Node)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, len(out) < len(in)
}
