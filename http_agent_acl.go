// http_agent_acl.go: ACL enforcement of the agent's own endpoints
// (/v1/agent/...), which an agent serves itself, client or server, with
// the token resolved through its resolver (server_acl.go: a client asks a
// server and caches the answer for acl.token_ttl).
//
// The permissions are Consul's (agent/agent_endpoint.go, agent/acl.go):
//
//	self, monitor                     agent:read on the agent's node name
//	join, leave, reload               agent:write on the agent's node name
//	force-leave                       operator:write
//	members                           filtered: node:read on each member
//	services, checks                  filtered: service:read (node:read on
//	                                  the agent's node for a node check)
//	service/<id>                      service:read on its name
//	service register                  service:write on its name, on the
//	                                  service it replaces, on a proxy's
//	                                  destination and on its sidecar
//	service deregister, maintenance   service:write on the service
//	check register                    service:write on its service, or
//	                                  node:write for a node check; the same
//	                                  for the check it replaces
//	check deregister, TTL updates     the same, on the existing check
//	node maintenance                  node:write on the agent's node name
//
// An ID the agent does not know passes the check: the endpoint then
// answers its own 404.
//
// Concurrency: none of its own; the local state has its lock
// (agent_local.go) and an aclAuthz is immutable.
package main

import (
	"cmp"
	"net/http"
)

// agentRequire checks the request's token for one permission.
func (h *httpAPI) agentRequire(r *http.Request, res aclResource, level aclAccess, name string) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	return authz.require(res, level, name)
}

// vetLocalService: service:write on a local service (Consul's
// vetServiceUpdateWithAuthorizer).
func (h *httpAPI) vetLocalService(r *http.Request, id string) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if s := h.a.local.serviceList()[id]; s != nil {
		return authz.require(aclResService, aclWrite, s.Service)
	}
	return nil
}

// checkWrite is the permission a check of the agent's needs: service:write
// on its service, node:write on the agent's node for a node check.
func (h *httpAPI) checkWrite(authz *aclAuthz, serviceName string) error {
	if serviceName != "" {
		return authz.require(aclResService, aclWrite, serviceName)
	}
	return authz.require(aclResNode, aclWrite, h.a.cfg.NodeName)
}

// vetLocalCheck: the existing check's permission (Consul's
// vetCheckUpdateWithAuthorizer).
func (h *httpAPI) vetLocalCheck(r *http.Request, id string) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if c, ok := h.a.local.checkList()[id]; ok {
		return h.checkWrite(authz, c.ServiceName)
	}
	return nil
}

// vetServiceRegister is Consul's vetServiceRegisterWithAuthorizer, and the
// same for the sidecar the definition asks for.
func (h *httpAPI) vetServiceRegister(r *http.Request, def *serviceDefinition) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if authz.disabled {
		return nil
	}
	names := []string{def.Name}
	if existing := h.a.local.serviceList()[def.serviceID()]; existing != nil {
		names = append(names, existing.Service)
	}
	if def.Kind == serviceKindConnectProxy && def.Proxy != nil {
		names = append(names, def.Proxy.DestinationServiceName)
	}
	if def.Connect != nil && def.Connect.SidecarService != nil {
		names = append(names, cmp.Or(def.Connect.SidecarService.Name, def.Name+"-sidecar-proxy"))
	}
	for _, name := range names {
		if err := authz.require(aclResService, aclWrite, name); err != nil {
			return err
		}
	}
	return nil
}

// vetCheckRegister is Consul's vetCheckRegisterWithAuthorizer: the new
// check's permission, and the one of the check it replaces.
func (h *httpAPI) vetCheckRegister(r *http.Request, def *checkDefinition) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if authz.disabled {
		return nil
	}
	service := ""
	if def.ServiceID != "" {
		service = def.ServiceID
		if s := h.a.local.serviceList()[def.ServiceID]; s != nil {
			service = s.Service
		}
	}
	if err := h.checkWrite(authz, service); err != nil {
		return err
	}
	if c, ok := h.a.local.checkList()[def.checkID()]; ok {
		return h.checkWrite(authz, c.ServiceName)
	}
	return nil
}

// agentServicesRead keeps the services the token may read.
func (z *aclAuthz) agentServicesRead(services map[string]*Service) (map[string]*Service, bool) {
	out := make(map[string]*Service, len(services))
	for id, s := range services {
		if z.serviceRead(s.Service) {
			out[id] = s
		}
	}
	return out, len(out) < len(services)
}

// agentChecksRead keeps the checks the token may read (Consul's
// filterChecksWithAuthorizer: a node check needs node:read on this agent).
func (h *httpAPI) agentChecksRead(z *aclAuthz, checks map[string]HealthCheck) (map[string]HealthCheck, bool) {
	out := make(map[string]HealthCheck, len(checks))
	for id, c := range checks {
		if c.ServiceName != "" && z.serviceRead(c.ServiceName) || c.ServiceName == "" && z.nodeRead(h.a.cfg.NodeName) {
			out[id] = c
		}
	}
	return out, len(out) < len(checks)
}
