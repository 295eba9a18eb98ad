// http_agent.go: the agent's own endpoints (/v1/agent/...), /v1/status/...,
// and /v1/snapshot.
//
// Agent endpoints read and change the agent's local state (agent_local.go), which
// pushes changes into the catalog; they answer from the local state, not
// the catalog, as Consul does. Status endpoints describe the servers.
// Snapshot streams the whole store out, or replaces it (agent_restore.go;
// on a client agent too, which sends the snapshot on in chunks).
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go) and goes through the local state, which has its lock
// (agent_local.go).
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

func (h *httpAPI) registerAgent() {
	get, put := []string{http.MethodGet}, []string{http.MethodPut}
	h.endpoint("/v1/agent/self", get, h.agentSelf)
	h.endpoint("/v1/agent/members", get, h.agentMembers)
	h.endpoint("/v1/agent/join/", put, h.agentJoin)
	h.endpoint("/v1/agent/force-leave/", put, h.agentForceLeave)
	h.endpoint("/v1/agent/leave", put, func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := h.agentRequire(r, aclResAgent, aclWrite, h.a.cfg.NodeName); err != nil {
			return nil, err
		}
		if err := h.a.leave(); err != nil {
			return nil, err
		}
		// Answer before the process shuts down (it waits on Left), which
		// closes every connection: a whole answer, sent now.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		h.a.announceLeft()
		return nil, nil
	})
	h.endpoint("/v1/agent/services", get, h.agentServices)
	h.registerAgentHealth() // http_agent_health.go
	h.endpoint("/v1/agent/service/", get, h.agentService)
	h.endpoint("/v1/agent/checks", get, h.agentChecks)
	h.endpoint("/v1/agent/service/register", put, h.agentServiceRegister)
	h.endpoint("/v1/agent/service/deregister/", put, h.agentServiceDeregister)
	h.endpoint("/v1/agent/check/register", put, h.agentCheckRegister)
	h.endpoint("/v1/agent/check/deregister/", put, h.agentCheckDeregister)
	for _, s := range []struct{ verb, status string }{{"pass", healthPassing}, {"warn", healthWarning}, {"fail", healthCritical}} {
		status := s.status
		h.endpoint("/v1/agent/check/"+s.verb+"/", put, func(w http.ResponseWriter, r *http.Request) (any, error) {
			return h.agentCheckTTL(r, "/v1/agent/check/"+s.verb+"/", status, query(r).Get("note"))
		})
	}
	h.endpoint("/v1/agent/check/update/", put, h.agentCheckUpdate)
	h.endpoint("/v1/agent/maintenance", put, h.agentMaintenance)
	h.endpoint("/v1/agent/service/maintenance/", put, h.agentServiceMaintenance)
	h.endpoint("/v1/agent/reload", put, func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := h.agentRequire(r, aclResAgent, aclWrite, h.a.cfg.NodeName); err != nil {
			return nil, err
		}
		return nil, h.a.reload() // Consul answers a refused reload with 500 and the error
	})
	h.endpoint("/v1/snapshot", []string{http.MethodGet, http.MethodPut}, h.snapshot)
}

func (h *httpAPI) registerStatus() {
	get := []string{http.MethodGet}
	h.endpoint("/v1/status/leader", get, func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := h.checkDatacenter(r); err != nil {
			return nil, err
		}
		return h.a.raft.leaderAddr(), nil // "" when no leader is known, as Consul
	})
	h.endpoint("/v1/status/peers", get, func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := h.checkDatacenter(r); err != nil {
			return nil, err
		}
		peers := []string{}
		for _, s := range h.a.raft.raftStatus().Config.Servers {
			peers = append(peers, s.Address)
		}
		return peers, nil
	})
}

// localError maps a local-state error to its HTTP answer: unknown IDs are
// 404, disabled scripts and no sidecar port 500 (as Consul), anything else the caller's fault 400.
func localError(err error) error {
	var scripts scriptsDisabledError
	var ports sidecarPortError
	switch {
	case err == nil || errors.Is(err, errNotFound) || errors.As(err, &scripts) || errors.As(err, &ports):
		return err
	case isUnavailable(err):
		return nil // the agent keeps the change; anti-entropy pushes it once the servers answer
	}
	return badRequest("%v", err)
}

// agentMember is a gossip pool member in Consul's JSON shape.
type agentMember struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// Serf's status codes for a member.
const (
	memberAlive  = 1
	memberLeft   = 3
	memberFailed = 4
)

// selfMember is this agent's LAN member, as /v1/agent/self shows it.
func (h *httpAPI) selfMember() agentMember {
	cfg := h.a.cfg
	return agentMember{
		Name: cfg.NodeName, Addr: cfg.AdvertiseAddr, Port: uint16(cfg.Ports.SerfLAN), Tags: h.a.memberTags(), Status: memberAlive,
		ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
}

func (h *httpAPI) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	cfg := h.a.cfg
	if err := h.agentRequire(r, aclResAgent, aclRead, cfg.NodeName); err != nil {
		return nil, err
	}
	// Every top-level value is an object: Consul's Go client decodes the
	// answer as map[string]map[string]any.
	return map[string]any{
		"Config": map[string]any{
			"Datacenter": cfg.Datacenter, "PrimaryDatacenter": cfg.PrimaryDatacenter,
			"NodeName": cfg.NodeName, "NodeID": h.a.nodeID, "Server": cfg.Server,
			"Version": consulVersion, "Revision": "", "BuildDate": buildVersion().BuildDate,
		},
		"DebugConfig": h.debugConfig(),
		"Member":      h.selfMember(),
		"Meta":        h.a.nodeRegistration().NodeMeta,
		"Stats":       h.agentStats(),
	}, nil
}

// debugConfig is /v1/agent/self's DebugConfig: the part of Consul's that
// miniconsul has, addresses as Consul writes them ("tcp://host:port", the
// ports actually bound), which Consul's own tests read (TestAPI_AgentJoin
// joins SerfAdvertiseAddrLAN).
func (h *httpAPI) debugConfig() map[string]any {
	cfg := h.a.cfg
	dc := map[string]any{
		"Datacenter": cfg.Datacenter, "NodeName": cfg.NodeName, "ServerMode": cfg.Server,
		"BootstrapExpect": cfg.BootstrapExpect, "DataDir": cfg.DataDir, "DevMode": cfg.DevMode,
		"BindAddr": cfg.BindAddr, "AdvertiseAddrLAN": cfg.AdvertiseAddr, "ClientAddrs": cfg.ClientAddrs,
		"HTTPPort": cfg.Ports.HTTP, "DNSPort": cfg.Ports.DNS, "ServerPort": cfg.Ports.Server,
		"SerfPortLAN": cfg.Ports.SerfLAN, "SerfPortWAN": cfg.Ports.SerfWAN, "DNSDomain": cfg.Domain,
		"SerfAdvertiseAddrLAN": "tcp://" + h.a.lan().Addr(),
	}
	if h.a.wan() != nil {
		dc["SerfAdvertiseAddrWAN"] = "tcp://" + h.a.wan().Addr()
	}
	if cfg.Server {
		dc["RPCAdvertiseAddr"] = "tcp://" + h.a.serverAddr()
	}
	return dc
}

// agentStats is /v1/agent/self's Stats: as Consul's, every value a string,
// and a server adds its Raft state.
func (h *httpAPI) agentStats() map[string]map[string]string {
	stats := map[string]map[string]string{
		"agent":  {"checks": strconv.Itoa(len(h.a.local.checkList())), "services": strconv.Itoa(len(h.a.local.serviceList()))},
		"consul": {"server": strconv.FormatBool(h.a.cfg.Server), "known_datacenters": strconv.Itoa(len(h.a.datacenters()))},
	}
	if h.a.raft != nil {
		st := h.a.raft.raftStatus()
		state := map[raftRole]string{roleFollower: "Follower", rolePreCandidate: "Candidate", roleCandidate: "Candidate", roleLeader: "Leader"}[st.Role]
		stats["consul"]["leader"] = strconv.FormatBool(st.Role == roleLeader)
		stats["raft"] = map[string]string{
			"state": state, "term": strconv.FormatUint(st.Term, 10), "commit_index": strconv.FormatUint(st.Commit, 10),
			"applied_index": strconv.FormatUint(st.Applied, 10), "last_log_index": strconv.FormatUint(st.LastIndex, 10),
			"num_peers": strconv.Itoa(max(len(st.Config.Servers)-1, 0)),
		}
	}
	return stats
}

// agentMembers lists the LAN pool as this agent sees it, or with ?wan the
// WAN pool (none on a client, as Consul's).
func (h *httpAPI) agentMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[agentMember](r)
	if err != nil {
		return nil, err
	}
	members := h.a.lan().Members()
	if queryFlag(r, "wan") {
		members = h.a.wanMembers()
	}
	out := []agentMember{}
	removed := false
	for _, m := range members {
		if !authz.nodeRead(m.Name) {
			removed = true
			continue
		}
		host, port, _ := net.SplitHostPort(m.Addr)
		p, _ := strconv.Atoi(port)
		status := memberAlive // Serf shows a suspect member as alive
		switch m.State {
		case swimFailed:
			status = memberFailed
		case swimLeft:
			status = memberLeft
		}
		out = append(out, agentMember{Name: m.Name, Addr: host, Port: uint16(p), Tags: m.Tags, Status: status,
			ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4})
	}
	authz.markFiltered(w, removed)
	return filterList(expr, out), nil
}

// agentJoin: PUT /v1/agent/join/<address> joins the LAN pool through it,
// or with ?wan the WAN pool.
func (h *httpAPI) agentJoin(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := pathArg(r, "/v1/agent/join/", "address")
	if err != nil {
		return nil, err
	}
	if err := h.agentRequire(r, aclResAgent, aclWrite, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	if queryFlag(r, "wan") {
		return nil, h.a.joinWAN([]string{addr})
	}
	return nil, h.a.joinLAN([]string{addr})
}

// agentForceLeave: PUT /v1/agent/force-leave/<node>[?prune] moves a failed
// member to left across the LAN pool (with ?prune, erases it from the
// member list); the leader then removes its node from the catalog. An
// unknown node is Consul's plain error, a 500.
func (h *httpAPI) agentForceLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	node, err := pathArg(r, "/v1/agent/force-leave/", "node name")
	if err != nil {
		return nil, err
	}
	if err := h.agentRequire(r, aclResOperator, aclWrite, ""); err != nil {
		return nil, err
	}
	pool := h.a.lan()
	if queryFlag(r, "wan") {
		if pool = h.a.wan(); pool == nil {
			return nil, badRequest("Must be a server to force-leave a WAN member") // a client is in no WAN pool
		}
	}
	_, prune := query(r)["prune"]
	h.a.logger.Info("Force leaving node", "node", node, "prune", prune, "wan", pool == h.a.wan())
	if err := pool.ForceLeave(node, prune); errors.Is(err, errSwimNoMember) {
		return nil, fmt.Errorf("agent: No node found with name '%s'", node)
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

func (h *httpAPI) agentServices(w http.ResponseWriter, r *http.Request) (any, error) {
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	expr, err := bindFilter[agentServiceView](r)
	if err != nil {
		return nil, err
	}
	services, removed := authz.agentServicesRead(h.a.local.serviceList())
	out := map[string]agentServiceView{}
	for id, s := range services {
		out[id] = agentView(s, h.a.cfg.Datacenter)
	}
	authz.markFiltered(w, removed)
	return filterMap(expr, out), nil
}

func (h *httpAPI) agentService(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathArg(r, "/v1/agent/service/", "service ID")
	if err != nil {
		return nil, err
	}
	svc := h.a.local.serviceList()[id]
	if svc == nil {
		return nil, notFound("unknown service ID: %s", id)
	}
	if err := h.agentRequire(r, aclResService, aclRead, svc.Service); err != nil {
		return nil, err
	}
	return agentView(svc, h.a.cfg.Datacenter), nil
}

func (h *httpAPI) agentChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	expr, err := parseFilterParam(r)
	if err != nil {
		return nil, err
	}
	checks, removed := h.agentChecksRead(authz, h.a.local.checkList())
	authz.markFiltered(w, removed)
	if expr != nil && len(checks) > 0 {
		// Consul's filter here has no type: it is checked against the
		// first check it evaluates, and its errors are not prefixed.
		if err := checkFilter[HealthCheck](expr); err != nil {
			return nil, err
		}
	}
	return filterMap(expr, checks), nil
}

func (h *httpAPI) agentServiceRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var def serviceDefinition
	if err := decodeBody(w, r, &def); err != nil {
		return nil, err
	}
	if err := h.vetServiceRegister(r, &def); err != nil {
		return nil, err
	}
	sidecar, err := h.a.local.registerService(r.Context(), &def, queryFlag(r, "replace-existing-checks"), sourceAPI)
	if err := localError(err); err != nil {
		return nil, err
	}
	if sidecar != nil {
		if err := h.a.persistDefinition("services", sidecar.ID, sidecar); err != nil {
			return nil, err
		}
	}
	return nil, h.a.persistDefinition("services", def.serviceID(), &def)
}

func (h *httpAPI) agentServiceDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathArg(r, "/v1/agent/service/deregister/", "service ID")
	if err != nil {
		return nil, err
	}
	if err := h.vetLocalService(r, id); err != nil {
		return nil, err
	}
	sidecar := h.a.local.sidecarOf(id) // removed with it
	if err := localError(h.a.local.removeService(r.Context(), id)); err != nil {
		return nil, err
	}
	if sidecar != "" {
		if err := h.a.forgetDefinition("services", sidecar); err != nil {
			return nil, err
		}
	}
	return nil, h.a.forgetDefinition("services", id)
}

func (h *httpAPI) agentCheckRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var def checkDefinition
	if err := decodeBody(w, r, &def); err != nil {
		return nil, err
	}
	if err := h.vetCheckRegister(r, &def); err != nil {
		return nil, err
	}
	if err := localError(h.a.local.addCheck(r.Context(), &def, sourceAPI)); err != nil {
		return nil, err
	}
	return nil, h.a.persistDefinition("checks", def.checkID(), &def)
}

func (h *httpAPI) agentCheckDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathArg(r, "/v1/agent/check/deregister/", "check ID")
	if err != nil {
		return nil, err
	}
	if err := h.vetLocalCheck(r, id); err != nil {
		return nil, err
	}
	if err := localError(h.a.local.removeCheck(r.Context(), id)); err != nil {
		return nil, err
	}
	return nil, h.a.forgetDefinition("checks", id)
}

func (h *httpAPI) agentCheckTTL(r *http.Request, prefix, status, output string) (any, error) {
	id, err := pathArg(r, prefix, "check ID")
	if err != nil {
		return nil, err
	}
	if err := h.vetLocalCheck(r, id); err != nil {
		return nil, err
	}
	return nil, localError(h.a.local.updateTTL(r.Context(), id, status, output))
}

func (h *httpAPI) agentCheckUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	var update struct{ Status, Output string }
	if err := decodeBody(w, r, &update); err != nil {
		return nil, err
	}
	if !validHealthStatus(update.Status) {
		return nil, badRequest("Invalid check status: %q", update.Status)
	}
	return h.agentCheckTTL(r, "/v1/agent/check/update/", update.Status, update.Output)
}

// maintenanceParams reads ?enable (required) and ?reason.
func maintenanceParams(r *http.Request) (enable bool, reason string, err error) {
	v := query(r).Get("enable")
	if v == "" {
		return false, "", badRequest("Missing value for enable")
	}
	enable, perr := strconv.ParseBool(v)
	if perr != nil {
		return false, "", badRequest("Invalid value for enable: %q", v)
	}
	return enable, query(r).Get("reason"), nil
}

func (h *httpAPI) agentMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	enable, reason, err := maintenanceParams(r)
	if err != nil {
		return nil, err
	}
	if err := h.agentRequire(r, aclResNode, aclWrite, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	return nil, localError(h.a.local.setMaintenance(r.Context(), "", enable, reason))
}

func (h *httpAPI) agentServiceMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := pathArg(r, "/v1/agent/service/maintenance/", "service ID")
	if err != nil {
		return nil, err
	}
	enable, reason, err := maintenanceParams(r)
	if err != nil {
		return nil, err
	}
	if err := h.vetLocalService(r, id); err != nil {
		return nil, err
	}
	return nil, localError(h.a.local.setMaintenance(r.Context(), id, enable, reason))
}

// snapshot: GET streams the state at one index; PUT replaces the state with
// a snapshot, all or nothing (agent_restore.go).
func (h *httpAPI) snapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	if r.Method == http.MethodPut {
		return nil, h.a.restoreSnapshot(r.Context(), r.Body)
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	if err := h.a.readBarrier(r.Context(), q); err != nil {
		return nil, err
	}
	st := h.a.store.snapshot()
	h.setQueryMeta(w, q, st.index)
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := writeSnapshot(st, w); err != nil {
		// Headers are gone already; most likely the client went away.
		h.a.logger.Debug("writing snapshot failed", "error", err)
	}
	return nil, nil
}
