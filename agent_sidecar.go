// agent_sidecar.go: sidecar service registration (Consul's
// agent/sidecar_service.go). A registration with
// "Connect":{"SidecarService":{...}} is syntax sugar for two services: the
// service itself, and a connect-proxy in front of it that the agent fills in
// from the parent:
//
//	PUT /v1/agent/service/register (or a config file's connect.sidecar_service)
//	  → registerService: parent validated (prepareService)
//	  → sidecarDefinition: ID <id>-sidecar-proxy, name <name>-sidecar-proxy,
//	    Kind connect-proxy, the parent's address, tags and meta unless its own,
//	    Proxy.Destination*, LocalServiceAddress 127.0.0.1, LocalServicePort
//	    the parent's port (proxy-defaults are merged into Proxy.Config when
//	    it is installed: agent_proxy_config.go)
//	  → under sidecarMu: a port from ports.sidecar_min_port..sidecar_max_port
//	    (sidecarPort), Consul's two default checks (sidecarDefaultChecks)
//	  → both installed in the local state, pushed to the catalog; both
//	    definitions kept by the HTTP handler (agent_persist.go), the sidecar as
//	    a complete service of its own with its port, so it keeps it across
//	    restarts, as Consul persists it.
//
// Removing a service removes its sidecar (removeService calls sidecarOf).
// Consul marks a sidecar with LocallyRegisteredAsSidecar; here a sidecar is
// recognised by its shape: the service <id>-sidecar-proxy, a connect-proxy
// whose DestinationServiceID is <id>. A proxy registered by hand with
// exactly that shape is that service's sidecar in every sense that matters.
//
// Concurrency: sidecarMu (localState) serialises sidecar port allocation
// with the install of the sidecar, so that two registrations never pick one
// port; it is taken before l.mu, never inside it.
package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"
)

// sidecarSuffix ends the ID and the name of a sidecar (Consul's SidecarProxySuffix).
const sidecarSuffix = "-sidecar-proxy"

// registerService registers a service from the HTTP API, and its sidecar
// if the definition asks for one. It takes the SidecarService out of def
// (it never reaches the catalog) and returns the sidecar's complete
// definition, for the caller to keep, whenever the sidecar was installed.
func (l *localState) registerService(ctx context.Context, def *serviceDefinition, replaceChecks bool, src definitionSource) (*serviceDefinition, error) {
	svc, checks, err := l.prepareService(def, src)
	if err != nil {
		return nil, err
	}
	if def.Connect == nil || def.Connect.SidecarService == nil {
		return nil, l.installService(ctx, svc, checks, replaceChecks, src)
	}
	sidecar, err := sidecarDefinition(def, svc)
	if err != nil {
		return nil, err
	}
	def.Connect.SidecarService = nil
	l.sidecarMu.Lock()
	defer l.sidecarMu.Unlock()
	scSvc, scChecks, err := l.prepareSidecar(sidecar, nil, src)
	if err != nil {
		return nil, err
	}
	if err := l.installService(ctx, svc, checks, replaceChecks, src); err != nil && !isUnavailable(err) {
		return nil, err
	}
	return sidecar, l.installService(ctx, scSvc, scChecks, replaceChecks, src)
}

// prepareSidecar gives a sidecar definition its port (none of taken, the
// ports given to sidecars prepared but not installed yet) and its default
// checks, then validates it as any service. Callers hold sidecarMu, or
// reloadMu for a configuration's sidecars.
func (l *localState) prepareSidecar(sidecar *serviceDefinition, taken map[int]bool, src definitionSource) (*Service, []*localCheck, error) {
	if sidecar.Port < 1 {
		port, err := l.sidecarPort(sidecar.ID, taken)
		if err != nil {
			return nil, nil, err
		}
		sidecar.Port = port
	}
	if sidecar.Check == nil && len(sidecar.Checks) == 0 {
		sidecar.Checks = sidecarDefaultChecks(sidecar)
	}
	return l.prepareService(sidecar, src)
}

// sidecarDefinition builds the sidecar's definition from the parent's
// SidecarService, as Consul's sidecarServiceFromNodeService: what the
// sidecar leaves empty comes from the parent. It validates it as Consul's
// ValidateForAgent does (the port comes later).
func sidecarDefinition(parent *serviceDefinition, svc *Service) (*serviceDefinition, error) {
	sc := *parent.Connect.SidecarService
	sc.ID = svc.ID + sidecarSuffix
	if len(sc.Meta) == 0 && len(svc.Meta) > 0 {
		sc.Meta = maps.Clone(svc.Meta)
	}
	if len(sc.Tags) == 0 && len(svc.Tags) > 0 {
		sc.Tags = slices.Clone(svc.Tags)
	}
	if sc.Kind == "" {
		sc.Kind = serviceKindConnectProxy
	}
	if sc.Name == "" {
		sc.Name = svc.Service + sidecarSuffix
	}
	if sc.Address == "" {
		sc.Address = svc.Address
	}
	if sc.Locality == nil && svc.Locality != nil {
		l := *svc.Locality
		sc.Locality = &l
	}
	var proxy ConnectProxyConfig
	if sc.Proxy != nil {
		proxy = *sc.Proxy
	}
	if proxy.DestinationServiceName == "" {
		proxy.DestinationServiceName = svc.Service
	}
	if proxy.DestinationServiceID == "" {
		proxy.DestinationServiceID = svc.ID
	}
	if proxy.LocalServiceAddress == "" || proxy.LocalServicePort < 1 {
		if proxy.LocalServiceAddress == "" {
			proxy.LocalServiceAddress = "127.0.0.1"
		}
		if proxy.LocalServicePort < 1 {
			proxy.LocalServicePort = svc.Port
		}
	}
	sc.Proxy = &proxy
	check := Service{Kind: sc.Kind, Proxy: normalizeProxy(proxy)}
	if sc.Connect != nil {
		check.Connect.Native = sc.Connect.Native
	}
	if err := proxyErrors(&check).err("Failed Validation: "); err != nil {
		return nil, err
	}
	return &sc, nil
}

// sidecarPort picks a sidecar's port as Consul's
// sidecarPortFromServiceIDLocked: the port it already has when registered
// again, else the lowest port of ports.sidecar_min_port..sidecar_max_port
// that no service of this agent (and no port in taken) uses.
func (l *localState) sidecarPort(id string, taken map[int]bool) (int, error) {
	lo, hi := l.a.cfg.Ports.SidecarMinPort, l.a.cfg.Ports.SidecarMaxPort
	if lo < 1 || hi < 1 {
		return 0, sidecarPortError("no port provided for sidecar_service and auto-assignment disabled in config")
	}
	used := maps.Clone(taken)
	if used == nil {
		used = map[int]bool{}
	}
	l.mu.Lock()
	for _, s := range l.services {
		if s.Port >= lo && s.Port <= hi {
			if s.ID == id {
				l.mu.Unlock()
				return s.Port, nil
			}
			used[s.Port] = true
		}
	}
	l.mu.Unlock()
	for p := lo; p <= hi; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, sidecarPortError(fmt.Sprintf("no port provided for sidecar_service and none left in the configured range [%d, %d]", lo, hi))
}

// sidecarPortError: no port for a sidecar. The HTTP API answers it with
// 500, as Consul does; here nothing of the registration is kept (Consul
// keeps the parent without its sidecar).
type sidecarPortError string

func (e sidecarPortError) Error() string { return string(e) }

// sidecarDefaultChecks are Consul's two checks of a sidecar given none: its
// public listener accepts TCP, and the service it fronts is healthy (an
// alias check). Unnamed, they get the IDs service:<id>:1 and :2.
func sidecarDefaultChecks(sidecar *serviceDefinition) []*checkDefinition {
	addr := cmp.Or(sidecar.Address, sidecar.Proxy.LocalServiceAddress)
	return []*checkDefinition{
		{Name: "Connect Sidecar Listening", TCP: net.JoinHostPort(addr, strconv.Itoa(sidecar.Port)), Interval: duration(10 * time.Second)},
		{Name: "Connect Sidecar Aliasing " + sidecar.Proxy.DestinationServiceID, AliasService: sidecar.Proxy.DestinationServiceID},
	}
}

// sidecarOf is the ID of the sidecar of service id on this agent, or "".
func (l *localState) sidecarOf(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.services[id+sidecarSuffix]
	if s == nil || s.Kind != serviceKindConnectProxy || s.Proxy.DestinationServiceID != id {
		return ""
	}
	return s.ID
}

// prepareConfiguredSidecar adds the sidecar of a configured service, if it
// has one, to a configuration being prepared (agent_reload.go). taken holds
// the ports the configuration's sidecars got so far.
func (a *Agent) prepareConfiguredSidecar(p *preparedConfig, def *serviceDefinition, svc *Service, taken map[int]bool) error {
	if def.Connect == nil || def.Connect.SidecarService == nil {
		return nil
	}
	sidecar, err := sidecarDefinition(def, svc)
	if err != nil {
		return err
	}
	scSvc, checks, err := a.local.prepareSidecar(sidecar, taken, sourceConfig)
	if err != nil {
		return err
	}
	taken[scSvc.Port] = true
	p.services = append(p.services, preparedService{scSvc, checks})
	p.defs.services[scSvc.ID] = sidecar
	return nil
}
