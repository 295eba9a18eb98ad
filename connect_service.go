// connect_service.go: a service's place in the mesh, as the catalog keeps
// it: the proxy configuration of a connect-proxy (Consul's
// ConnectProxyConfig, with its upstreams) and the Connect block of a
// service (Native), their validation with Consul's messages, and the two
// JSON shapes Consul renders them in.
//
//	registration (agent_sidecar.go, http_agent.go) → serviceDefinition.Proxy/Connect
//	  → validateMesh → Service.Proxy/Connect → catalog (store, Raft)
//	catalog, health: Service as stored (Consul's structs.NodeService shape:
//	  "Proxy":{"Mode":"","MeshGateway":{},"Expose":{}} and "Connect":{} on every service)
//	agent endpoints: agentServiceView (Consul's api.AgentService shape: Proxy
//	  only on a proxy, Mode and an upstream's Datacenter only when set,
//	  Connect only when Native)
//
// The stored form has value fields whose zero value is what a catalog
// read decodes from the rendered empty objects, so a service read back from
// the catalog (anti-entropy, agent_sync.go) compares equal to the local one;
// empty maps and lists are made nil for the same reason (normalizeProxy).
//
// Concurrency: pure types and functions.
package main

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Service kinds (Consul's ServiceKind); "" is a typical service.
const serviceKindConnectProxy = "connect-proxy"

// ConnectProxyConfig is a connect-proxy's configuration (Consul's
// structs.ConnectProxyConfig): the service it fronts, where that service
// listens, its upstreams and free-form Config for the proxy itself.
type ConnectProxyConfig struct {
	DestinationServiceName string                  `json:",omitempty"`
	DestinationServiceID   string                  `json:",omitempty"`
	LocalServiceAddress    string                  `json:",omitempty"`
	LocalServicePort       int                     `json:",omitempty"`
	Mode                   string                  // "", "direct" or "transparent"
	TransparentProxy       *TransparentProxyConfig `json:",omitempty"`
	Config                 map[string]any          `json:",omitempty"`
	Upstreams              []Upstream              `json:",omitempty"`
	MeshGateway            MeshGatewayConfig
	Expose                 ExposeConfig
}

// Upstream is a service a proxy reaches for its application: the proxy
// listens on LocalBindAddress:LocalBindPort and connects to DestinationName.
type Upstream struct {
	DestinationType  string // "service" (the default) or "prepared_query"
	DestinationName  string
	Datacenter       string
	LocalBindAddress string         `json:",omitempty"`
	LocalBindPort    int            `json:",omitempty"`
	Config           map[string]any `json:",omitempty"`
	MeshGateway      MeshGatewayConfig
}

// MeshGatewayConfig says how a proxy uses mesh gateways ("" is the default).
type MeshGatewayConfig struct {
	Mode string `json:",omitempty"`
}

// ExposeConfig makes paths of the local service reachable without mTLS
// (Checks: those of its HTTP and gRPC checks).
type ExposeConfig struct {
	Checks bool         `json:",omitempty"`
	Paths  []ExposePath `json:",omitempty"`
}

// ExposePath is one path exposed on ListenerPort.
type ExposePath struct {
	ListenerPort  int    `json:",omitempty"`
	Path          string `json:",omitempty"`
	LocalPathPort int    `json:",omitempty"`
	Protocol      string `json:",omitempty"`
}

// TransparentProxyConfig is a transparent proxy's outbound listener.
type TransparentProxyConfig struct {
	OutboundListenerPort int  `json:",omitempty"`
	DialedDirectly       bool `json:",omitempty"`
}

// ServiceConnect is a service's Connect block in the catalog: a Native
// service speaks mTLS itself and is listed with the proxies of its name.
type ServiceConnect struct {
	Native bool `json:",omitempty"`
}

// connectDefinition is the Connect block of a registration: Native, or a
// SidecarService to register beside the service (agent_sidecar.go), which
// never reaches the catalog itself.
type connectDefinition struct {
	Native         bool
	SidecarService *serviceDefinition `json:",omitempty"`
}

// normalizeProxy makes empty maps and lists nil, as the catalog's JSON
// renders them (omitted), and fills an upstream's default type.
func normalizeProxy(p ConnectProxyConfig) ConnectProxyConfig {
	if len(p.Config) == 0 {
		p.Config = nil
	}
	if len(p.Expose.Paths) == 0 {
		p.Expose.Paths = nil
	}
	if len(p.Upstreams) == 0 {
		p.Upstreams = nil
	} else {
		ups := make([]Upstream, len(p.Upstreams))
		for i, u := range p.Upstreams {
			if u.DestinationType == "" {
				u.DestinationType = "service"
			}
			if len(u.Config) == 0 {
				u.Config = nil
			}
			ups[i] = u
		}
		p.Upstreams = ups
	}
	return p
}

// meshErrors collects validation failures and renders them as Consul's
// go-multierror does, which clients see in the 400's body.
type meshErrors []string

func (e *meshErrors) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

func (e meshErrors) err(prefix string) error {
	if len(e) == 0 {
		return nil
	}
	var b strings.Builder
	if len(e) == 1 {
		b.WriteString("1 error occurred:\n")
	} else {
		fmt.Fprintf(&b, "%d errors occurred:\n", len(e))
	}
	for _, msg := range e {
		b.WriteString("\t* " + msg + "\n")
	}
	return errors.New(prefix + b.String() + "\n")
}

// validateRegistration is Consul's NodeService.Validate for what we
// implement, in its order: a proxy needs a port; then the proxy's own rules
// (validateForAgent); a sidecar definition may neither name its ID nor
// nest another sidecar; a Native service needs a port.
func validateRegistration(s *Service, sidecar *serviceDefinition) error {
	var errs meshErrors
	if s.Kind == serviceKindConnectProxy && s.Port == 0 {
		errs.add("Port or SocketPath must be set for a %s", s.Kind)
	}
	errs = append(errs, proxyErrors(s)...)
	if sidecar != nil {
		if sidecar.ID != "" {
			errs.add("A SidecarService cannot specify an ID as this is managed by the agent")
		}
		if sidecar.Connect != nil && sidecar.Connect.SidecarService != nil {
			errs.add("A SidecarService cannot have a nested SidecarService")
		}
	}
	if s.Connect.Native && s.Port == 0 {
		errs.add("Port or SocketPath must be set for a Connect native service.")
	}
	return errs.err("Validation failed: ")
}

// proxyErrors is Consul's NodeService.ValidateForAgent for a connect-proxy:
// it names its destination, is not Native too, and its upstreams are each
// valid, distinct and bound to distinct addresses.
func proxyErrors(s *Service) meshErrors {
	var errs meshErrors
	if s.Kind != serviceKindConnectProxy {
		return nil
	}
	p := s.Proxy
	switch strings.TrimSpace(p.DestinationServiceName) {
	case "":
		errs.add("Proxy.DestinationServiceName must be non-empty for Connect proxy services")
	case "*":
		errs.add("Proxy.DestinationServiceName must not be a wildcard for Connect proxy services")
	}
	if s.Connect.Native {
		errs.add("A Proxy cannot also be Connect Native, only typical services")
	}
	keys, binds := map[string]bool{}, map[string]bool{}
	for _, u := range p.Upstreams {
		if err := upstreamError(u); err != "" {
			errs.add("%s", err)
			continue
		}
		key := fmt.Sprintf("[type=%q, name=%q, partition=%q, namespace=%q, peer=%q, datacenter=%q]",
			u.DestinationType, u.DestinationName, "", "", "", u.Datacenter)
		if keys[key] {
			errs.add("upstreams cannot contain duplicates of %s", key)
			continue
		}
		keys[key] = true
		bind := net.JoinHostPort(cmp.Or(u.LocalBindAddress, "127.0.0.1"), strconv.Itoa(u.LocalBindPort))
		if binds[bind] {
			errs.add("upstreams cannot contain duplicates by local bind address and port or unix path; %q is specified twice", bind)
			continue
		}
		binds[bind] = true
	}
	listeners := map[int]bool{}
	for _, path := range p.Expose.Paths {
		if path.Path == "" {
			errs.add("expose.paths: empty path exposed")
		}
		if listeners[path.ListenerPort] {
			errs.add("expose.paths: duplicate listener ports exposed")
		}
		listeners[path.ListenerPort] = true
		if path.ListenerPort <= 0 || path.ListenerPort > 65535 {
			errs.add("expose.paths: invalid listener port: %d", path.ListenerPort)
		}
	}
	return errs
}

// upstreamError is Consul's Upstream.Validate: "" when the upstream is valid.
func upstreamError(u Upstream) string {
	switch {
	case u.DestinationType != "service" && u.DestinationType != "prepared_query":
		return fmt.Sprintf("unknown upstream destination type: %q", u.DestinationType)
	case u.DestinationName == "":
		return "upstream destination name cannot be empty"
	case u.DestinationName == "*":
		return "upstream destination name cannot be a wildcard"
	case u.LocalBindPort == 0:
		return "upstream local bind port or local socket path must be defined and nonzero"
	}
	return ""
}

// agentServiceView is a local service as the agent endpoints show it
// (Consul's api.AgentService): the proxy block only on a connect-proxy,
// Connect only for a Native service.
type agentServiceView struct {
	*Service
	Proxy      *agentProxyView `json:",omitempty"`
	Connect    *ServiceConnect `json:",omitempty"`
	Datacenter string          // the agent's, as Consul's buildAgentService
}

// agentProxyView is api.AgentServiceConnectProxyConfig: Mode and an
// upstream's Datacenter are left out when empty.
type agentProxyView struct {
	*ConnectProxyConfig
	Mode      string              `json:",omitempty"`
	Upstreams []agentUpstreamView `json:",omitempty"`
}

type agentUpstreamView struct {
	Upstream
	Datacenter string `json:",omitempty"`
}

// agentView renders a local service for the agent endpoints.
func agentView(s *Service, datacenter string) agentServiceView {
	v := agentServiceView{Service: s, Datacenter: datacenter}
	if s.Kind == serviceKindConnectProxy {
		p := &agentProxyView{ConnectProxyConfig: &s.Proxy, Mode: s.Proxy.Mode}
		for _, u := range s.Proxy.Upstreams {
			p.Upstreams = append(p.Upstreams, agentUpstreamView{Upstream: u, Datacenter: u.Datacenter})
		}
		v.Proxy = p
	}
	if s.Connect.Native {
		v.Connect = &s.Connect
	}
	return v
}
