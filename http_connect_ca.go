// http_connect_ca.go: the CA's HTTP API, as Consul 1.22.7 answers it.
//
//	GET     /v1/connect/ca/roots[?pem=true]       the roots (blocking), or their PEM bundle
//	GET/PUT /v1/connect/ca/configuration          the provider configuration; a PUT may rotate
//	GET     /v1/agent/connect/ca/roots            the roots from the agent cache (X-Cache)
//	GET     /v1/agent/connect/ca/leaf/<service>   the service's leaf, from the agent (blocking)
//
// The first two are on the data: a client agent forwards them to a server
// (rpc_forward.go). The agent endpoints are every agent's own
// (agent_connect_ca.go). With connect.enabled false each answers Consul's
// 500 "Connect must be enabled in order to use this endpoint".
//
// Concurrency: per request, as http.go.
package main

import (
	"net/http"
	"strconv"
	"strings"
)

func (h *httpAPI) registerConnectCA() {
	h.endpoint("/v1/connect/ca/roots", []string{http.MethodGet}, h.caRoots)
	h.endpoint("/v1/connect/ca/configuration", []string{http.MethodGet, http.MethodPut}, h.caConfiguration)
	h.endpoint("/v1/agent/connect/ca/roots", []string{http.MethodGet}, h.agentCARoots)
	h.endpoint("/v1/agent/connect/ca/leaf/", []string{http.MethodGet}, h.agentCALeaf)
}

func (h *httpAPI) caRoots(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	if !h.a.cfg.Connect.Enabled {
		h.setQueryMeta(w, q, 1)
		return nil, errConnectDisabled
	}
	pemBundle := false
	if v := query(r).Get("pem"); v != "" {
		if pemBundle, err = strconv.ParseBool(v); err != nil {
			return nil, badRequest("The 'pem' query parameter must be a boolean value")
		}
	}
	obj, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexConnectCARoots) },
		func(st *state) (any, uint64, error) {
			roots, idx := st.caRoots()
			return roots, idx, nil
		})
	if err != nil || !pemBundle {
		return obj, err
	}
	// RFC 8555 §9.1's media type; the meta headers are not part of it.
	for _, k := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact", "X-Consul-Effective-Consistency"} {
		w.Header().Del(k)
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	for _, root := range obj.(CARootList).Roots {
		w.Write([]byte(root.RootCert))
		for _, ic := range root.IntermediateCerts {
			w.Write([]byte(ic))
		}
	}
	return nil, nil
}

func (h *httpAPI) caConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	if !h.a.cfg.Connect.Enabled {
		return nil, errConnectDisabled
	}
	// operator:write, to read it too (Consul's ConnectCA.ConfigurationGet)
	if err := h.agentRequire(r, aclResOperator, aclWrite, ""); err != nil {
		return nil, err
	}
	if r.Method == http.MethodGet {
		return h.a.caConfiguration()
	}
	var req CAConfiguration
	if err := decodeBody(w, r, &req); err != nil {
		return nil, err
	}
	if err := h.a.setCAConfiguration(r.Context(), req); err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	return nil, nil
}

func (h *httpAPI) agentCARoots(w http.ResponseWriter, r *http.Request) (any, error) {
	if !h.a.cfg.Connect.Enabled {
		return nil, errConnectDisabled
	}
	q, err := parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	resp, miss, err := h.a.cachedRoots(r.Context(), q)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusOK {
		w.Header().Set("X-Cache", map[bool]string{true: "MISS", false: "HIT"}[miss])
		w.Header().Set("Age", "0")
	}
	writeForwarded(w, resp)
	return nil, nil
}

func (h *httpAPI) agentCALeaf(w http.ResponseWriter, r *http.Request) (any, error) {
	if !h.a.cfg.Connect.Enabled {
		return nil, errConnectDisabled
	}
	service := strings.TrimPrefix(r.URL.Path, "/v1/agent/connect/ca/leaf/")
	if service == "" || strings.Contains(service, "/") {
		return nil, notFound("Invalid service name %q", service)
	}
	if err := h.agentRequire(r, aclResService, aclWrite, service); err != nil {
		return nil, err
	}
	q, err := parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	cert, miss, err := h.a.connectLeaf(r.Context(), service, q.index, q.wait)
	if err != nil {
		return nil, err
	}
	w.Header().Set("X-Cache", map[bool]string{true: "MISS", false: "HIT"}[miss])
	w.Header().Set("X-Consul-Index", strconv.FormatUint(cert.ModifyIndex, 10))
	return cert, nil
}
