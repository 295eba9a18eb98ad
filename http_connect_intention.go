// http_connect_intention.go: the intentions API over service-intentions
// config entries (Consul's intention_endpoint.go, the parts that still
// work on ≥1.9 entries) and the agent's authorize endpoint.
//
//	PUT/GET/DELETE /v1/connect/intentions/exact?source=&destination=
//	    one source of the destination's entry: read-modify-write of the
//	    entry as a check-and-set on its ModifyIndex, retried on a race
//	GET /v1/connect/intentions                 every intention, by precedence
//	POST, and GET/PUT/DELETE …/<id>: the ID-based API, http_connect_intention_legacy.go
//	GET /v1/connect/intentions/match?by=&name= the ones that apply to a name
//	GET /v1/connect/intentions/check?source=&destination=   {"Allowed":bool}
//	POST /v1/agent/connect/authorize           a proxy's question about a caller
//
// Authorize is answered by the agent itself, from its cache of every
// service-intentions entry (agent_cache.go): one background blocking
// query on /v1/config/service-intentions that re-asks as soon as the kind
// changes, on a client through its servers. So an allow takes effect as
// fast as a deny: each change of any entry wakes the one query, unlike
// Consul 1.22.7's per-destination authorize cache that stops following
// after a change or two. Decisions are connect_intention.go's.
//
// ACLs (http_connect_acl.go): authorize needs service:write on the target
// and reads the entries with the request's token (one cache entry per
// token), which sees the target's entry.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go), the cache has its own lock.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// intentionsCacheURI is what the agent cache keeps for authorize.
const intentionsCacheURI = "/v1/config/" + kindServiceIntentions

func (h *httpAPI) registerIntentions() {
	h.endpoint("/v1/connect/intentions", []string{http.MethodGet, http.MethodPost}, h.intentionListOrCreate)
	h.endpoint("/v1/connect/intentions/", []string{http.MethodGet, http.MethodPut, http.MethodDelete}, h.intentionByID)
	h.endpoint("/v1/connect/intentions/exact", []string{http.MethodGet, http.MethodPut, http.MethodDelete}, h.intentionExact)
	h.endpoint("/v1/connect/intentions/match", []string{http.MethodGet}, h.intentionMatch)
	h.endpoint("/v1/connect/intentions/check", []string{http.MethodGet}, h.intentionCheck)
	h.endpoint("/v1/agent/connect/authorize", []string{http.MethodPost}, h.agentConnectAuthorize)
}

// requiredParams returns the named query parameters, refusing the first
// missing one with Consul's message (a 500, as Consul answers it).
func requiredParams(r *http.Request, names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		if out[i] = query(r).Get(n); out[i] == "" {
			return nil, errors.New("required query parameter '" + n + "' not set")
		}
	}
	return out, nil
}

// intentionName reads a service name of the intentions API's query,
// "name", "ns/name" or "partition/ns/name" (Consul's
// parseIntentionStringComponent; param names it in the error), and
// refuses a namespace other than default, as Consul CE: notNS is the
// endpoint's message for it, given the namespace.
func intentionName(param, input string, notNS func(ns string) string) (string, error) {
	parts := strings.Split(input, "/")
	if len(parts) > 3 {
		return "", fmt.Errorf("%s %q is invalid: input can contain at most two '/'", param, input)
	}
	if len(parts) > 1 && parts[len(parts)-2] != intentionNamespace {
		return "", fmt.Errorf("%s: Namespaces is a Consul Enterprise feature", notNS(parts[len(parts)-2]))
	}
	return parts[len(parts)-1], nil
}

// allIntentions answers a read of every intention, blocking on the
// service-intentions entries; pick makes the answer from them.
func (h *httpAPI) allIntentions(w http.ResponseWriter, r *http.Request, pick func([]*Intention) any) (any, error) {
	obj, _, err := h.someIntentions(w, r, nil, pick)
	return obj, err
}

// someIntentions is allIntentions with only those keep allows (nil: all)
// given to pick; removed says whether keep left any out.
func (h *httpAPI) someIntentions(w http.ResponseWriter, r *http.Request, keep func(*Intention) bool, pick func([]*Intention) any) (obj any, removed bool, err error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, false, err
	}
	obj, err = h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexConfigKindPrefix + kindServiceIntentions) },
		func(st *state) (any, uint64, error) {
			entries, idx := st.configEntryList(kindServiceIntentions)
			ixns := make([]*ServiceIntentionsEntry, len(entries))
			for i, e := range entries {
				ixns[i] = e.ServiceIntentions
			}
			all := intentionsOf(ixns)
			removed = false
			if keep != nil {
				all, removed = aclKeep(all, keep)
			}
			return pick(all), idx, nil
		})
	return obj, removed, err
}

// intentionList: GET /v1/connect/intentions, the ones the token may read
// (http_connect_acl.go).
func (h *httpAPI) intentionList(w http.ResponseWriter, r *http.Request) (any, error) {
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[Intention](r)
	if err != nil {
		return nil, err
	}
	obj, removed, err := h.someIntentions(w, r, authz.intentionRead, func(ixns []*Intention) any { return filterList(expr, ixns) })
	authz.markFiltered(w, removed)
	return obj, err
}

// intentionMatch: GET /v1/connect/intentions/match?by=source|destination&name=…
// (name repeatable): {name: [intentions]}.
func (h *httpAPI) intentionMatch(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := requiredParams(r, "by")
	if err != nil {
		return nil, err
	}
	if p[0] != "source" && p[0] != "destination" {
		return nil, errors.New("'by' parameter must be one of 'source' or 'destination'")
	}
	names := query(r)["name"]
	if len(names) == 0 {
		return nil, errors.New("required query parameter 'name' not set")
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	parsed := make([]string, len(names))
	for i, n := range names {
		if parsed[i], err = intentionName("name", n, func(ns string) string {
			return fmt.Sprintf("Invalid match entry namespace %q", ns)
		}); err != nil {
			return nil, err
		}
		if err := authz.require(aclResIntention, aclRead, parsed[i]); err != nil {
			return nil, err
		}
	}
	return h.allIntentions(w, r, func(ixns []*Intention) any {
		out := map[string][]*Intention{}
		for i, n := range names {
			out[n] = intentionMatches(ixns, p[0], parsed[i])
		}
		return out
	})
}

// intentionCheck: GET /v1/connect/intentions/check?source=&destination=.
func (h *httpAPI) intentionCheck(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := requiredParams(r, "source", "destination")
	if err != nil {
		return nil, err
	}
	for i, role := range []string{"source", "destination"} {
		if p[i], err = intentionName(role, p[i], func(ns string) string {
			return fmt.Sprintf("Invalid %s namespace %q", role, ns)
		}); err != nil {
			return nil, err
		}
	}
	if err := h.agentRequire(r, aclResService, aclRead, p[1]); err != nil {
		return nil, err
	}
	return h.allIntentions(w, r, func(ixns []*Intention) any {
		allowed, _ := intentionDecision(h.a.cfg, ixns, intentionNamespace, p[0], p[1])
		return struct{ Allowed bool }{allowed}
	})
}

// intentionExact: GET, PUT and DELETE of the intention source → destination.
func (h *httpAPI) intentionExact(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := requiredParams(r, "source", "destination")
	if err != nil {
		return nil, err
	}
	for i, field := range []string{"SourceNS", "DestinationNS"} {
		role := strings.ToLower(strings.TrimSuffix(field, "NS"))
		if p[i], err = intentionName(role, p[i], func(ns string) string {
			return fmt.Sprintf("Invalid %s %q", field, ns)
		}); err != nil {
			return nil, err
		}
	}
	source, destination := p[0], p[1]
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodGet {
		obj, _, err := h.someIntentions(w, r, authz.intentionRead, func(ixns []*Intention) any {
			for _, x := range ixns {
				if x.SourceName == source && x.DestinationName == destination {
					return x
				}
			}
			return nil
		})
		if err == nil && obj == nil {
			err = notFound("Intention not found")
		}
		return obj, err
	}
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	if !authz.allows(aclResIntention, aclWrite, destination) {
		return nil, errPermissionDenied // Consul's, unnamed
	}
	var body intentionRequest // its ID is ignored, as Consul's
	if r.Method == http.MethodPut {
		if err := decodeStrict(w, r, &body); err != nil {
			return nil, err
		}
	}
	for {
		if err := h.a.readBarrier(r.Context(), queryOptions{}); err != nil {
			return nil, err
		}
		cur, _ := h.a.store.snapshot().configEntryGet(kindServiceIntentions, destination)
		req := &configEntryRequest{CAS: true}
		next := &ServiceIntentionsEntry{Kind: kindServiceIntentions, Name: destination}
		if cur != nil {
			req.Index = cur.ServiceIntentions.ModifyIndex
			next = cur.ServiceIntentions.clone()
		}
		i := slices.IndexFunc(next.Sources, func(s *SourceIntention) bool { return s.Name == source })
		switch {
		case r.Method == http.MethodPut:
			// Meta belongs to the entry: only its own may come back (Consul's
			// computeApplyChangesUpsert).
			if len(body.Meta) > 0 && cur == nil {
				return nil, errors.New("Meta must not be specified")
			}
			if len(body.Meta) > 0 && !maps.Equal(body.Meta, next.Meta) {
				return nil, errors.New("Meta must not be specified, or should be unchanged during an update.")
			}
			src := &SourceIntention{Name: source, Action: body.Action, Description: body.Description}
			if i >= 0 {
				next.Sources[i] = src
			} else {
				next.Sources = append(next.Sources, src)
			}
			req.Op, req.Entry = "set", &configEntry{ServiceIntentions: next}
			req.Entry.normalize()
			if err := req.Entry.validate(); err != nil {
				return nil, err
			}
		case i < 0:
			return true, nil // nothing to delete, as Consul
		case len(next.Sources) == 1:
			req.Op, req.Kind, req.Name = "delete", kindServiceIntentions, destination
		default:
			next.Sources = slices.Delete(next.Sources, i, i+1)
			req.Op, req.Entry = "set", &configEntry{ServiceIntentions: next}
		}
		ok, err := h.applyConfigEntry(r, req)
		if err != nil || ok {
			return ok, err
		}
		// Another write changed the entry in between: read it again.
	}
}

// decodeStrict decodes a JSON body refusing unknown fields, with the
// messages of Consul's decodeBody (an empty body is "EOF").
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}

// authorizeRequest is the body of POST /v1/agent/connect/authorize.
type authorizeRequest struct {
	Target           string
	ClientCertURI    string
	ClientCertSerial string
}

// agentConnectAuthorize: may the client certificate's service connect to
// Target? Answered from the agent's cache of intentions.
func (h *httpAPI) agentConnectAuthorize(w http.ResponseWriter, r *http.Request) (any, error) {
	var req authorizeRequest
	if err := decodeStrict(w, r, &req); err != nil {
		return nil, err
	}
	if req.Target == "" {
		return nil, badRequest("Target service must be specified")
	}
	if err := h.agentRequire(r, aclResService, aclWrite, req.Target); err != nil {
		return nil, err
	}
	id, err := parseSpiffeService(req.ClientCertURI)
	if err != nil {
		return nil, badRequest("ClientCertURI not a valid Connect identifier")
	}
	// No trust domain check here, as Consul 1.22.7 (checked on the real
	// binary): a foreign trust domain is answered by intentions; the proxy
	// refuses such a certificate when it verifies the chain against the
	// roots (connect_proxy.go).
	// Read with the request's token (agent_acl_token.go): the servers
	// keep the entries it may read, the target's among them.
	entries, _, err := cachedValue[[]*ServiceIntentionsEntry](r.Context(), h.a.cache, intentionsCacheURI, h.requestSecret(r))
	if err != nil {
		return nil, err
	}
	allowed, reason := intentionDecision(h.a.cfg, intentionsOf(entries), id.Namespace, id.Service, req.Target)
	return struct {
		Authorized bool
		Reason     string
	}{allowed, reason}, nil
}
