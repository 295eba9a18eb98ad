// http_agent_health.go: the local health of a service, as a load balancer
// or an orchestrator asks the agent on its host (Consul's
// /v1/agent/health/service/id/<id> and /name/<name>).
//
// The answer is the service's aggregated status, from its checks and its
// node's, as Consul's api.HealthChecks.AggregatedStatus: any maintenance
// check → "maintenance", else any critical → "critical", then "warning",
// else "passing"; and it is also the status code, so a probe needs no body:
//
//	passing 200, warning 429, critical or maintenance 503, unknown 404
//
// The body is {"AggregatedStatus","Service","Checks"} (an array of them
// for a name, whose code is the worst instance's), or with ?format=text or
// Accept: text/plain the status alone.
//
// Concurrency: none of its own; it reads the local state's copies.
package main

import (
	"errors"
	"net/http"
	"sort"
	"strings"
)

// agentServiceHealth is Consul's api.AgentServiceChecksInfo.
type agentServiceHealth struct {
	AggregatedStatus string
	Service          *agentServiceView
	Checks           []HealthCheck
}

func (h *httpAPI) registerAgentHealth() {
	get := []string{http.MethodGet}
	h.endpoint("/v1/agent/health/service/id/", get, h.agentHealthByID)
	h.endpoint("/v1/agent/health/service/name/", get, h.agentHealthByName)
}

// serviceHealth is the aggregated status of a local service, its code and
// its checks (the node's included).
func (h *httpAPI) serviceHealth(id string) (int, agentServiceHealth) {
	var checks []HealthCheck
	for _, c := range h.a.local.checkList() {
		if c.ServiceID == id || c.ServiceID == "" {
			checks = append(checks, c)
		}
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].CheckID < checks[j].CheckID })
	var warning, critical, maintenance bool
	for _, c := range checks {
		if c.CheckID == nodeMaintCheckID || strings.HasPrefix(c.CheckID, serviceMaintCheckPrefix) {
			maintenance = true
			continue
		}
		switch c.Status {
		case healthPassing:
		case healthWarning:
			warning = true
		default:
			critical = true
		}
	}
	out := agentServiceHealth{Checks: checks}
	if out.Checks == nil {
		out.Checks = []HealthCheck{}
	}
	switch {
	case maintenance:
		out.AggregatedStatus = "maintenance"
	case critical:
		out.AggregatedStatus = healthCritical
	case warning:
		out.AggregatedStatus = healthWarning
	default: // passing checks, or none at all, as Consul's
		out.AggregatedStatus = healthPassing
	}
	code := map[string]int{healthPassing: http.StatusOK, healthWarning: http.StatusTooManyRequests}[out.AggregatedStatus]
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	return code, out
}

// wantsText: ?format=text or Accept: text/plain (Consul's returnTextPlain).
func wantsText(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
		return true
	}
	return query(r).Get("format") == "text"
}

// answerHealth writes the status code, then the body: the status alone as
// text, or obj as JSON.
func answerHealth(w http.ResponseWriter, r *http.Request, code int, status string, obj any) (any, error) {
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		w.Write([]byte(status))
		return nil, nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return obj, nil
}

func (h *httpAPI) agentHealthByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/agent/health/service/id/")
	if id == "" {
		return nil, errors.New("Missing serviceID") // a 500, as Consul 1.22.7 answers it
	}
	svc := h.a.local.serviceList()[id]
	if svc == nil {
		reason := "ServiceId " + id + " not found"
		return answerHealth(w, r, http.StatusNotFound, reason, agentServiceHealth{AggregatedStatus: healthCritical})
	}
	if err := h.agentRequire(r, aclResService, aclRead, svc.Service); err != nil {
		return nil, err
	}
	code, out := h.serviceHealth(id)
	view := agentView(svc, h.a.cfg.Datacenter)
	out.Service = &view
	return answerHealth(w, r, code, out.AggregatedStatus, out)
}

func (h *httpAPI) agentHealthByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name := strings.TrimPrefix(r.URL.Path, "/v1/agent/health/service/name/")
	if name == "" {
		return nil, errors.New("Missing service Name")
	}
	if err := h.agentRequire(r, aclResService, aclRead, name); err != nil {
		return nil, err
	}
	code, status := http.StatusNotFound, "ServiceName "+name+" Not Found"
	out := []agentServiceHealth{}
	services := h.a.local.serviceList()
	ids := make([]string, 0, len(services))
	for id, s := range services {
		if s.Service == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		c, one := h.serviceHealth(id)
		view := agentView(services[id], h.a.cfg.Datacenter)
		one.Service = &view
		out = append(out, one)
		if code == http.StatusNotFound || c > code { // the worst: 200 < 429 < 503
			code, status = c, one.AggregatedStatus
		}
	}
	return answerHealth(w, r, code, status, out)
}
