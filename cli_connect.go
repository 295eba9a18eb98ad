// cli_connect.go: `consul connect` and `consul connect proxy`, the
// built-in mesh proxy's command (the proxy itself: connect_proxy.go).
//
// Data flow: the flags choose where the configuration comes from, as
// Consul's command: -proxy-id (or CONNECT_PROXY_ID) reads that
// connect-proxy registration from GET /v1/agent/service/<id>;
// -sidecar-for (or CONNECT_SIDECAR_FOR) first finds, in
// GET /v1/agent/services, the one connect-proxy whose
// Proxy.DestinationServiceID is the given service; otherwise -service,
// -listen, -service-addr and -upstream describe it. The proxy then runs
// until SIGINT or SIGTERM. -register keeps a "<service>-proxy" service
// with a TTL check registered on the agent while it runs (Consul's
// RegisterMonitor: heartbeat every 10 s, registered again if the agent
// lost it, deregistered at the end).
//
// Concurrency: the command runs on the process's main goroutine; the
// register loop runs on one more, stopped and waited for before exit.
package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const connectHelp = `Usage: consul connect <subcommand> [options] [args]

  This command has subcommands for interacting with Consul Connect.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Run the built-in Connect mTLS proxy

      $ consul connect proxy

  For more examples, ask for subcommand help or view the documentation.`

const connectProxyHelp = `Usage: consul connect proxy [options]

  Starts a Consul Connect proxy and runs until an interrupt is received.
  The proxy can be used to accept inbound connections for a service,
  wrap outbound connections to upstream services, or both. This enables
  a non-Connect-aware application to use Connect.

  The proxy requires service:write permissions for the service it represents.
  The token may be passed via the CLI or the CONSUL_HTTP_TOKEN environment
  variable.

  Consul can automatically start and manage this proxy by specifying the
  "proxy" configuration within your service definition.

  The example below shows how to start a local proxy for establishing outbound
  connections to "db" representing the frontend service. Once running, any
  process that creates a TCP connection to the specified port (8181) will
  establish a mutual TLS connection to "db" identified as "frontend".

    $ consul connect proxy -service frontend -upstream db:8181

  The next example starts a local proxy that also accepts inbound connections
  on port 8443, authorizes the connection, then proxies it to port 8080:

    $ consul connect proxy \
        -service frontend \
        -service-addr 127.0.0.1:8080 \
        -listen ':8443'

  A proxy can accept both inbound connections as well as proxy to upstream
  services by specifying both the "-listen" and "-upstream" flags.`

func connectCommands() []cliCommand {
	f, _ := newConnectProxyFlags()
	return []cliCommand{
		{name: "connect", synopsis: "Interact with Consul Connect", help: connectHelp},
		{name: "connect proxy", synopsis: "Runs a Consul Connect proxy", help: cliFlagsUsage(connectProxyHelp, f), run: connectProxyCommand},
	}
}

// connectProxyOptions are the command's own flags.
type connectProxyOptions struct {
	proxyID, sidecarFor, logLevel, service, serviceAddr, listen, registerID string
	logJSON, register                                                       bool
	upstreams                                                               cliUpstreamFlag
}

func newConnectProxyFlags() (*cliFlags, *connectProxyOptions) {
	f := newCLIFlags(true, true)
	o := &connectProxyOptions{}
	f.StringVar(&o.proxyID, "proxy-id", "", "The proxy's ID on the local agent.")
	f.StringVar(&o.sidecarFor, "sidecar-for", "", "The ID of a service instance on the local agent that this proxy should become a sidecar for. It requires that the proxy service is registered with the agent as a connect-proxy with Proxy.DestinationServiceID set to this value. If more than one such proxy is registered it will fail.")
	f.StringVar(&o.logLevel, "log-level", "INFO", "Specifies the log level.")
	f.BoolVar(&o.logJSON, "log-json", false, "Output logs in JSON format.")
	f.StringVar(&o.service, "service", "", "Name of the service this proxy is representing.")
	f.Var(&o.upstreams, "upstream", "Upstream service to support connecting to. The format should be 'name:addr', such as 'db:8181'. This will make 'db' available on port 8181. This can be repeated multiple times.")
	f.StringVar(&o.serviceAddr, "service-addr", "", "Address of the local service to proxy. Only useful if -listen and -service are both set.")
	f.StringVar(&o.listen, "listen", "", "Address to listen for inbound connections to the proxied service. Must be specified with -service and -service-addr.")
	f.BoolVar(&o.register, "register", false, "Self-register with the local Consul agent. Only useful with -listen.")
	f.StringVar(&o.registerID, "register-id", "", "ID suffix for the service. Use this to disambiguate with other proxies.")
	return f, o
}

// cliUpstreamFlag is -upstream, Consul's "name[.service]:[host:]port"
// (repeatable; a later one for the same name replaces it).
type cliUpstreamFlag []proxyUpstream

func (f *cliUpstreamFlag) String() string { return "" }

func (f *cliUpstreamFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("Upstream value should be name:addr in %q", v)
	}
	host, portRaw, hasHost := strings.Cut(addr, ":")
	if !hasHost {
		host, portRaw = "", addr
	}
	if base, typ, ok := strings.Cut(name, "."); ok {
		switch typ {
		case "", "service":
		case "query":
			return fmt.Errorf("prepared query upstreams are not supported")
		default:
			return fmt.Errorf("Upstream type must be blank, 'service', or 'query'. Got: %q", typ)
		}
		name = base
	}
	port, err := strconv.ParseInt(portRaw, 0, 0)
	if err != nil {
		return err
	}
	u := proxyUpstream{DestinationName: name, LocalBindAddress: host, LocalBindPort: int(port)}
	for i := range *f {
		if (*f)[i].DestinationName == name {
			(*f)[i] = u
			return nil
		}
	}
	*f = append(*f, u)
	return nil
}

// connectProxyCommand runs the proxy until SIGINT or SIGTERM.
func connectProxyCommand(c *cliEnv, args []string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	return connectProxyRun(c, args, stop)
}

// connectProxyRun is the command with its stop signal given (tests).
func connectProxyRun(c *cliEnv, args []string, stop <-chan os.Signal) int {
	f, o := newConnectProxyFlags()
	if !f.parse(c, args) {
		return 1
	}
	if len(f.Args()) > 0 {
		c.errorf("==> Should have no non-flag arguments.")
		return 1
	}
	if o.proxyID == "" {
		o.proxyID = c.getenv("CONNECT_PROXY_ID")
	}
	if o.sidecarFor == "" {
		o.sidecarFor = c.getenv("CONNECT_SIDECAR_FOR")
	}
	level, err := cfgParseLogLevel(o.logLevel)
	if err != nil {
		c.errorf("==> %s", err)
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	fmt.Fprintln(c.stdout, "==> Consul Connect proxy starting...")
	cfg, err := connectProxyConfig(c, cl, o)
	if err != nil {
		c.errorf("==> Error preparing configuration: %s", err)
		return 1
	}
	if o.register && (o.service == "" || o.listen == "") {
		c.errorf("==> Failed initializing registration: -register may only be specified with -service and -listen")
		return 1
	}
	fmt.Fprint(c.stdout, "    \n==> Log data will now stream in as it occurs:\n\n")
	log := newAgentLogger(&Config{LogLevel: level, LogJSON: o.logJSON}, c.stdout)
	p := newConnectProxy(cl, log, cfg)
	stopped, exiting := make(chan struct{}), make(chan struct{})
	defer close(exiting)
	go func() {
		select {
		case <-stop:
			close(stopped)
			p.cancel() // ends a start still waiting for its certificates
		case <-exiting:
		}
	}()
	if err := p.start(); err != nil {
		select {
		case <-stopped:
			fmt.Fprintln(c.stdout, "==> Consul Connect proxy shutdown")
			return 0
		default:
		}
		c.errorf("==> Failed running proxy: %s", err)
		return 1
	}
	var registered chan struct{}
	regStop := make(chan struct{})
	if o.register {
		registered = make(chan struct{})
		go func() {
			defer close(registered)
			connectProxyRegister(cl, log, o, regStop)
		}()
	}
	<-stopped
	close(regStop)
	if registered != nil {
		<-registered
	}
	p.Close()
	fmt.Fprintln(c.stdout, "==> Consul Connect proxy shutdown")
	return 0
}

// connectProxyConfig is the proxy's configuration from the agent (-proxy-id,
// -sidecar-for) or from the flags, printed as Consul's command prints it.
func connectProxyConfig(c *cliEnv, cl *cliClient, o *connectProxyOptions) (proxyConfig, error) {
	info := func(format string, args ...any) { fmt.Fprintf(c.stdout, "    "+format+"\n", args...) }
	switch {
	case o.proxyID != "":
		info("Configuration mode: Agent API")
		info("          Proxy ID: %s", o.proxyID)
		return sidecarProxyConfig(cl, o.proxyID)
	case o.sidecarFor != "":
		id, err := lookupSidecarProxy(cl, o.sidecarFor)
		if err != nil {
			return proxyConfig{}, err
		}
		info("Configuration mode: Agent API")
		info("    Sidecar for ID: %s", o.sidecarFor)
		info("          Proxy ID: %s", id)
		return sidecarProxyConfig(cl, id)
	case o.service == "":
		return proxyConfig{}, fmt.Errorf("-service or -proxy-id must be specified so that proxy can configure itself.")
	}
	info("Configuration mode: Flags")
	info("           Service: %s", o.service)
	cfg := proxyConfig{Service: o.service, Upstreams: o.upstreams}
	for _, u := range cfg.Upstreams {
		info("          Upstream: %s => %s", u.DestinationName, u.listenAddr())
	}
	if o.listen == "" {
		info("   Public listener: Disabled")
		return cfg, nil
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return proxyConfig{}, err
	}
	if o.serviceAddr == "" {
		return proxyConfig{}, fmt.Errorf("-service-addr must be specified with -listen so the proxy knows the backend service address.")
	}
	info("   Public listener: %s => %s", o.listen, o.serviceAddr)
	cfg.PublicListen, cfg.LocalService = o.listen, o.serviceAddr
	return cfg, nil
}

// agentProxyService is the part of GET /v1/agent/service/<id> (and of
// /v1/agent/services) the proxy reads.
type agentProxyService struct {
	Kind    string
	ID      string
	Address string
	Port    int
	Proxy   *struct {
		DestinationServiceName string
		DestinationServiceID   string
		LocalServiceAddress    string
		LocalServicePort       int
		Upstreams              []struct {
			DestinationType  string
			DestinationName  string
			Datacenter       string
			LocalBindAddress string
			LocalBindPort    int
		}
	}
}

// lookupSidecarProxy finds the one connect-proxy registered on the agent
// for the service instance id (Consul's LookupServiceForSidecar).
func lookupSidecarProxy(cl *cliClient, id string) (string, error) {
	var svcs map[string]agentProxyService
	if _, err := cl.call("GET", "/v1/agent/services", nil, nil, &svcs); err != nil {
		return "", fmt.Errorf("Failed looking up sidecar proxy info for %s: %s", id, err)
	}
	var matched []string
	for _, s := range svcs {
		if s.Kind == serviceKindConnectProxy && s.Proxy != nil && strings.EqualFold(s.Proxy.DestinationServiceID, id) {
			matched = append(matched, s.ID)
		}
	}
	switch len(matched) {
	case 0:
		return "", fmt.Errorf("No sidecar proxy registered for %s", id)
	case 1:
		return matched[0], nil
	}
	return "", fmt.Errorf("More than one sidecar proxy registered for %s.\n    Start proxy with -proxy-id and one of the following IDs: %s",
		id, strings.Join(matched, ", "))
}

// sidecarProxyConfig reads a connect-proxy registration: the public
// listener on its Address (all interfaces if empty) and Port, forwarding
// to LocalServiceAddress (127.0.0.1 if empty) and LocalServicePort.
func sidecarProxyConfig(cl *cliClient, id string) (proxyConfig, error) {
	var s agentProxyService
	if _, err := cl.call("GET", "/v1/agent/service/"+url.PathEscape(id), nil, nil, &s); err != nil {
		return proxyConfig{}, fmt.Errorf("failed to read proxy service %s: %s", id, err)
	}
	if s.Kind != serviceKindConnectProxy || s.Proxy == nil {
		return proxyConfig{}, fmt.Errorf("service %s is not a connect-proxy", id)
	}
	bind, local := s.Address, s.Proxy.LocalServiceAddress
	if bind == "" {
		bind = "0.0.0.0"
	}
	if local == "" {
		local = "127.0.0.1"
	}
	cfg := proxyConfig{
		Service:      s.Proxy.DestinationServiceName,
		PublicListen: net.JoinHostPort(bind, strconv.Itoa(s.Port)),
		LocalService: net.JoinHostPort(local, strconv.Itoa(s.Proxy.LocalServicePort)),
	}
	for _, u := range s.Proxy.Upstreams {
		if u.DestinationType != "" && u.DestinationType != "service" {
			return proxyConfig{}, fmt.Errorf("upstream %s: destination type %q is not supported", u.DestinationName, u.DestinationType)
		}
		cfg.Upstreams = append(cfg.Upstreams, proxyUpstream{DestinationName: u.DestinationName, Datacenter: u.Datacenter,
			LocalBindAddress: u.LocalBindAddress, LocalBindPort: u.LocalBindPort})
	}
	return cfg, nil
}

// connectProxyRegister keeps "<service>-proxy" registered with a passing
// TTL check until stop, then deregisters it (Consul's RegisterMonitor:
// TTL 30 s, a heartbeat every third of it).
func connectProxyRegister(cl *cliClient, log *slog.Logger, o *connectProxyOptions, stop <-chan struct{}) {
	id := o.service + "-proxy"
	if o.registerID != "" {
		id += "-" + o.registerID
	}
	checkID := id + "-ttl"
	host, portRaw, _ := net.SplitHostPort(o.listen)
	port, _ := strconv.Atoi(portRaw)
	register := func() {
		body, _ := json.Marshal(map[string]any{
			"Kind": serviceKindConnectProxy, "ID": id, "Name": o.service + "-proxy", "Address": host, "Port": port,
			"Proxy": map[string]any{"DestinationServiceName": o.service},
			"Check": map[string]any{"CheckID": checkID, "Name": "proxy heartbeat", "TTL": "30s",
				"Notes": "Built-in proxy will heartbeat this check.", "Status": "passing"},
		})
		if _, err := cl.call("PUT", "/v1/agent/service/register", nil, strings.NewReader(string(body)), nil); err != nil {
			log.Warn("Failed to register Consul service", "error", err)
			return
		}
		log.Info("registered Consul service", "service", id)
	}
	register()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if _, err := cl.call("PUT", "/v1/agent/check/pass/"+url.PathEscape(checkID), nil, nil, nil); err != nil {
				register() // the agent lost it (restarted, or it was deregistered)
			}
		case <-stop:
			log.Info("stop request received, deregistering")
			if _, err := cl.call("PUT", "/v1/agent/service/deregister/"+url.PathEscape(id), nil, nil, nil); err != nil {
				log.Warn("service deregister failed", "error", err)
			}
			return
		}
	}
}
