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
	return h.connectQuery(w, r, "/v1/catalog/connect/", func(st *state, name string, filter map[string]string) any {
		out := []catalogServiceNode{}
		for _, in := range st.connectInstances(name) {
			if hasTags(in.Service, tags) && metaMatches(in.Node.Meta, filter) {
				out = append(out, catalogEntry(in.Node, in.Service))
			}
		}
		return out
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
	return h.connectQuery(w, r, prefix, func(st *state, name string, filter map[string]string) any {
		return filterHealth(st.connectServiceNodes(name), tags, filter, passing)
	})
}

// connectQuery is a blocking read of a service's mesh instances: it wakes
// when the set changes or any of them does (connectTopics).
func (h *httpAPI) connectQuery(w http.ResponseWriter, r *http.Request, prefix string,
	read func(st *state, name string, filter map[string]string) any) (any, error) {
	q, name, filter, err := h.readArgs(r, prefix, "service name")
	if err != nil {
		return nil, err
	}
	// Watched before the read's snapshot: an instance added since this
	// snapshot bumps connect.<name>, which is watched.
	return h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(h.a.store.snapshot().connectTopics(name)...) },
		func(st *state) (any, uint64, error) { return read(st, name, filter), st.connectIndex(name), nil })
}
