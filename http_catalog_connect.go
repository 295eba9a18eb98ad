// http_catalog_connect.go: the catalog's mesh reads: /v1/catalog/connect/<service>
// and /v1/health/connect/<service> (also /v1/health/service/<service>?connect=true):
// the instances that accept mesh connections for a service, its proxies
// (Proxy.DestinationServiceName = <service>) and its Connect-native
// instances, as Consul's catalog/connect and health/connect endpoints.
//
//	GET → readArgs (?tag, ?node-meta, ?passing; ?near ignored as elsewhere)
//	  → blockingQuery: watches connect.<service> and each instance's name
//	  → state.connectServiceNodes / connectInstances (store_connect.go)
//
// Concurrency: none of its own; each request reads an immutable store
// snapshot on its net/http goroutine.
package main

import "net/http"

func (h *httpAPI) catalogConnect(w http.ResponseWriter, r *http.Request) (any, error) {
	tags := query(r)["tag"]
	expr, err := bindFilter[catalogServiceNode](r)
	if err != nil {
		return nil, err
	}
	return h.connectQuery(w, r, "/v1/catalog/connect/", nil, func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, bool) {
		if !authz.serviceRead(name) {
			return []catalogServiceNode{}, false // Consul answers empty, unmarked
		}
		out, removed := catalogEntries(st.connectInstances(name), authz, tags, filter)
		return filterList(expr, out), removed
	})
}

func (h *httpAPI) healthConnect(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.healthConnectAt(w, r, "/v1/health/connect/")
}

// healthConnectAt answers /v1/health/connect/<service>, or the same read
// asked as /v1/health/service/<service>?connect=true.
func (h *httpAPI) healthConnectAt(w http.ResponseWriter, r *http.Request, prefix string) (any, error) {
	tags := query(r)["tag"]
	passing := queryFlag(r, "passing")
	expr, err := bindFilter[CheckServiceNode](r)
	if err != nil {
		return nil, err
	}
	// Consul's Health.ServiceNodes with Connect: service:read on the
	// service itself, else its bare "Permission denied".
	deny := func(authz *aclAuthz, name string) error {
		if !authz.serviceRead(name) {
			return errPermissionDenied
		}
		return nil
	}
	return h.connectQuery(w, r, prefix, deny, func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, bool) {
		csns, removed := authz.instancesRead(st.connectServiceNodes(name))
		return filterList(expr, filterHealth(csns, tags, filter, passing)), removed
	})
}

// connectQuery is a blocking read of a service's mesh instances: it wakes
// when the set changes or any of them does (connectTopics). check, if
// any, refuses the request's token first; read keeps what the token may
// read and says whether it removed anything (http_acl_filter.go).
func (h *httpAPI) connectQuery(w http.ResponseWriter, r *http.Request, prefix string, check func(*aclAuthz, string) error,
	read func(st *state, authz *aclAuthz, name string, filter map[string]string) (any, bool)) (any, error) {
	q, name, filter, err := h.readArgs(r, prefix, "service name")
	if err != nil {
		return nil, err
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(authz, name); err != nil {
			return nil, err
		}
	}
	removed := false
	// Watched before the read's snapshot: an instance added since this
	// snapshot bumps connect.<name>, which is watched.
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(h.a.store.snapshot().connectTopics(name)...) },
		func(st *state) (any, uint64, error) {
			out, rm := read(st, authz, name, filter)
			removed = rm
			return out, st.connectIndex(name), nil
		})
	authz.markFiltered(w, removed)
	return out, err
}
