// agent.go: the agent, the process that runs on every host.
//
// An agent owns everything else: the state store and the Raft log that
// orders writes into it (servers: server.go), its membership of the LAN
// gossip pool (serf_lan.go) and, on a server, of the WAN pool (serf_wan.go), its own
// services and checks (agent_local.go), and the HTTP (http.go) and DNS (dns.go)
// interfaces. newAgent builds and starts all of it; Shutdown stops it in
// reverse order.
//
// Writes: every change to the store is a command given to Agent.apply
// (server.go), which replicates it through Raft (raft.go, raft_node.go)
// from the leader, forwarding it there from a follower, and returns the
// store's result (store.go) once it is committed and applied.
//
// Concurrency: the agent's fields are set in newAgent and not changed after,
// except discovered (guarded by discoveredMu). Each subsystem documents its
// own discipline; background goroutines stop when shutdownCh closes and are
// waited for through wg.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Agent is one miniconsul agent.
type Agent struct {
	cfg    *Config
	logger *slog.Logger
	nodeID string

	store *Store // nil on a client agent, which keeps no state

	// The server side (server.go).
	raft         *raftNode
	rpcServer    *rpcServer
	pool         *rpcPool      // calls to servers (both sides)
	router       *serverRouter // a client's choice of server (rpc_forward.go)
	rpcPort      int           // the server port actually bound
	discoveredMu sync.Mutex
	discovered   []raftServer  // servers found while forming the cluster
	leaderTerm   atomic.Uint64 // the term in which this server took up leadership (timers rebuilt), 0 if it never did
	autopilot    *autopilot    // the leader's server management (server_autopilot.go)

	// The gossip pools are opened after a server's Raft node, whose
	// goroutines (transport dials, the leader's reconciliation) may already
	// look for them: hence atomic pointers, read through lan() and wan().
	lanPool  atomic.Pointer[gossipPool] // the LAN gossip pool (serf_lan.go)
	wanPool  atomic.Pointer[gossipPool] // the WAN gossip pool of the servers (serf_wan.go); nil on a client
	wanFlood chan struct{}              // a LAN member joined or changed: look for servers to flood-join (serf_wan.go)
	leaveMu  sync.Mutex                 // one leave at a time; guards hasLeft
	hasLeft  bool                       // the leave is done (Left closes once it is answered)
	leftCh   chan struct{}              // closed by a graceful leave

	local           *localState
	checkTransports checkTransports // shared by the HTTP and gRPC checks (checks.go)
	reloadMu        sync.Mutex      // one reload at a time (agent_reload.go)
	configured      configuredDefs  // what the config files registered; guarded by reloadMu
	watches         agentWatches    // the configured watches running (agent_watch.go)
	persistMu       sync.Mutex      // the kept API registrations' files (agent_persist.go)
	sessions        *sessionTimers  // servers only
	events          *eventRing
	timeline        *timeline       // protocol events for the teaching view (agent_timeline.go)
	uploads         snapshotUploads // snapshots being received to restore (agent_restore.go)
	spool           string          // where restores and received snapshots are written (openSpoolDir)
	cache           *agentCache
	ca              caSigning    // the leader's parsed signing root (server_connect_ca.go)
	leaves          leafCerts    // the agent's leaf certificates (agent_connect_ca.go)
	acl             *aclResolver // token resolution and the agent's tokens (server_acl.go)
	// aclRepl is a secondary datacenter's ACL replication (server_acl_replication.go).
	aclRepl *aclReplication
	// coordinates: the updates a server has taken, not yet applied (agent_coordinate.go).
	coordinates pendingCoordinates
	// readRounds: the read indexes of default and ?consistent reads, shared by concurrent reads (server_read.go).
	readRounds [2]readRounds

	http          *httpAPI // serves the HTTP listeners, and requests forwarded by clients
	httpServer    *http.Server
	httpListeners []net.Listener
	dnsServers    []*dnsServer
	dnsListeners  []net.Addr // the UDP address each DNS server answers on

	tls            *agentTLS      // certificates and CAs (agent_tls.go)
	telemetry      *telemetry     // the metrics registry (agent_telemetry.go)
	metrics        *agentMetrics  // its handles (agent_metrics.go)
	httpsListeners []net.Listener // served by httpServer too (http_https.go)

	shutdownOnce sync.Once
	shutdownCh   chan struct{}
	wg           sync.WaitGroup
}

// newAgent starts an agent: every listener is bound and serving when it
// returns, so a caller (or a test) can use the agent at once.
func newAgent(cfg *Config, logger *slog.Logger) (*Agent, error) {
	a := &Agent{
		cfg:        cfg,
		logger:     logger,
		nodeID:     cfg.NodeID,
		shutdownCh: make(chan struct{}),
		leftCh:     make(chan struct{}),
		wanFlood:   make(chan struct{}, 1),
	}
	if a.nodeID == "" {
		id, err := persistentNodeID(cfg)
		if err != nil {
			return nil, err
		}
		a.nodeID = id
	}
	spool, err := openSpoolDir(cfg)
	if err != nil {
		return nil, err
	}
	a.spool = spool
	a.local = newLocalState(a)
	a.events = newEventRing()
	a.timeline = newTimeline(cfg.NodeName)
	a.cache = newAgentCache(a)
	a.acl = newACLResolver(a)
	a.aclRepl = newACLReplication(a)
	a.telemetry = newTelemetry(cfg)
	a.metrics = newAgentMetrics(a.telemetry)
	a.http = newHTTPAPI(a)
	if a.tls, err = newAgentTLS(cfg, logger); err != nil {
		return nil, err
	}
	a.tls.serverDatacenter = a.serverDatacenterOf
	form := false
	if cfg.Server {
		a.store = newStore()
		a.sessions = newSessionTimers(a)
		a.autopilot = newAutopilot(a)
		var err error
		if form, err = a.startServer(); err != nil {
			a.Shutdown()
			return nil, err
		}
	} else {
		a.pool = newRPCPool(logger)
		a.pool.tls, a.pool.source = a.tls, a.rpcSource()
		a.router = &serverRouter{servers: a.lanServers}
	}
	if err := a.startLAN(); err != nil {
		a.Shutdown()
		return nil, err
	}
	if cfg.Server {
		if err := a.startWAN(); err != nil {
			a.Shutdown()
			return nil, err
		}
	}
	if form {
		a.wg.Go(a.formCluster)
	}
	if err := a.listen(); err != nil {
		a.Shutdown()
		return nil, err
	}
	leading := cfg.Server && a.raft.isLeader()
	if leading {
		// A server that leads alone (-dev, -bootstrap) takes up its
		// leadership and registers itself before it answers anyone, as a
		// lone Consul server does.
		a.establishLeadership()
		if err := a.registerSelf(a.lifetime()); err != nil {
			a.Shutdown()
			return nil, err
		}
	}
	if err := a.registerConfigured(); err != nil {
		a.Shutdown()
		return nil, err
	}
	if err := a.startWatches(); err != nil {
		a.Shutdown()
		return nil, err
	}
	a.loadPersisted()
	if cfg.Server {
		synced := a.raft.raftStatus().Leader
		a.wg.Go(func() { a.monitorLeadership(leading, synced) })
		a.wg.Go(a.reapTombstones)
		a.wg.Go(a.autopilot.run)
	}
	a.wg.Go(a.runAntiEntropy)
	a.wg.Go(a.runCoordinates)
	a.wg.Go(a.runReaper)
	a.wg.Go(func() { a.telemetry.run(a.shutdownCh, a.collectMetrics) })
	logger.Info("agent started", "node", cfg.NodeName, "datacenter", cfg.Datacenter, "server", cfg.Server,
		"http", a.HTTPAddrs(), "dns", a.DNSAddrs())
	return a, nil
}

// listen binds the HTTP and DNS listeners on every client address and starts
// serving them. Port 0 (used by tests) picks a free port; -1 disables.
func (a *Agent) listen() error {
	if a.cfg.Ports.HTTP >= 0 {
		for _, ip := range a.cfg.Addresses.HTTP {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.HTTP)))
			if err != nil {
				return fmt.Errorf("HTTP listener: %w", err)
			}
			a.httpListeners = append(a.httpListeners, ln)
		}
		a.httpServer = newHTTPServer(a.http, a.logger)
		for _, ln := range a.httpListeners {
			limited := newConnLimiter(ln, a.cfg.HTTPMaxConnsPerClient, "limits.http_max_conns_per_client", refuseHTTP, a.logger)
			a.wg.Go(func() {
				if err := a.httpServer.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
					a.logger.Error("HTTP server stopped", "addr", ln.Addr(), "error", err)
				}
			})
		}
	}
	if a.cfg.Ports.DNS >= 0 {
		for _, ip := range a.cfg.Addresses.DNS {
			pc, ln, err := listenDNS(net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.DNS)))
			if err != nil {
				return fmt.Errorf("DNS listener: %w", err)
			}
			source := a.remoteCatalog
			if a.cfg.Server {
				source = a.aclStoreSource // dns_acl.go
			}
			d := newDNSServer(a.cfg, source, a.logger)
			d.remoteSource = a.remoteDCCatalog
			d.preparedQuery = a.dnsPreparedQuery // dns_query.go
			d.domainQuery = a.telemetry.sample("dns.domain_query", metricLabel{"node", a.cfg.NodeName})
			d.serve(pc, ln)
			a.dnsServers = append(a.dnsServers, d)
			a.dnsListeners = append(a.dnsListeners, pc.LocalAddr())
		}
	}
	return a.listenHTTPS()
}

// listenDNS binds UDP and TCP on the same address (DNS, and gossip). With port 0 (tests), TCP
// takes the port UDP was given, which another socket may hold already: then
// it tries again with a new port, a bounded number of times.
func listenDNS(addr string) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" || attempt == 10 {
			return nil, nil, err
		}
	}
}

// HTTPAddrs lists the addresses the HTTP API listens on.
func (a *Agent) HTTPAddrs() []string {
	var out []string
	for _, ln := range a.httpListeners {
		out = append(out, ln.Addr().String())
	}
	return out
}

// DNSAddrs lists the addresses the DNS interface answers on (UDP and TCP).
func (a *Agent) DNSAddrs() []string {
	var out []string
	for _, addr := range a.dnsListeners {
		out = append(out, addr.String())
	}
	return out
}

// serverAddr is this server's RPC address, as status/leader reports it.
// rpcSource is where the agent's outgoing RPC connections (Raft streams,
// calls, forwarded requests) leave from: its bind address, as Consul's
// RPCSrcAddr, so that on a multi-homed host firewall rules written against
// it hold; nil (the kernel's choice) when it binds every address.
func (a *Agent) rpcSource() *net.TCPAddr {
	ip := net.ParseIP(a.cfg.BindAddr)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

func (a *Agent) serverAddr() string {
	return net.JoinHostPort(a.cfg.AdvertiseAddr, strconv.Itoa(a.rpcPort))
}

// registerSelf puts the agent's node in the catalog, as Consul does: the
// node with its addresses and meta, and the "consul" service on servers.
// Its serfHealth check is not the agent's to set: the leader keeps it as
// the pool sees the member (server_leader.go), a lone server included.
func (a *Agent) registerSelf(ctx context.Context) error {
	req := a.nodeRegistration()
	if a.cfg.Server {
		req.Service = &Service{
			ID: "consul", Service: "consul", Port: a.rpcPort,
			Meta: map[string]string{
				"version": consulVersion, "raft_version": "3",
				"serf_protocol_current": "2", "serf_protocol_min": "1", "serf_protocol_max": "5",
				"non_voter": "false", "read_replica": "false", "grpc_port": "-1", "grpc_tls_port": "-1",
			},
		}
	}
	res, err := a.apply(ctx, &command{Type: cmdRegister, Register: req})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return fmt.Errorf("registering the agent's node: %w", err)
	}
	return nil
}

// registerConfigured registers the services and checks of the
// configuration files with the agent, as the HTTP API would, but as local
// definitions (enable_local_script_checks applies to them, and a reload
// replaces them). A server that cannot reach a leader yet keeps them, and
// pushes them once one is known (monitorLeadership, anti-entropy).
func (a *Agent) registerConfigured() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	defs, err := a.prepareConfigured(a.cfg)
	if err != nil {
		return err
	}
	a.installConfigured(defs)
	return nil
}

// isUnavailable: the error says the cluster could not take a write now, not
// that the write was wrong. A wait its caller gave up on (context.Canceled)
// counts too: the write may or may not be in the log, and anti-entropy
// settles it.
func isUnavailable(err error) bool {
	return errors.Is(err, errNoLeader) || errors.Is(err, errRaftStopped) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, errNoServers) || errors.Is(err, errServerUnreachable)
}

// lifetime is the agent's life as a context, done when it shuts down: the
// context of the writes no request waits for (timers, reconciliation,
// checks' results, reloads). Agent.apply bounds each wait by applyTimeout.
func (a *Agent) lifetime() context.Context { return lifetimeContext{a.shutdownCh} }

// lifetimeContext is a context done when its channel closes, with no
// goroutine and no cancel function to keep.
type lifetimeContext struct{ done <-chan struct{} }

func (c lifetimeContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c lifetimeContext) Done() <-chan struct{}       { return c.done }
func (c lifetimeContext) Value(any) any               { return nil }
func (c lifetimeContext) Err() error {
	if isShutdown(c.done) {
		return context.Canceled
	}
	return nil
}

// persistentNodeID is the node's ID: kept in <data_dir>/node-id so that a
// restarted server is the same Raft member; a new random one in dev mode.
func persistentNodeID(cfg *Config) (string, error) {
	if cfg.DataDir == "" || cfg.DevMode {
		return newUUID(), nil
	}
	path := filepath.Join(cfg.DataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	id := newUUID()
	err := writeFileAtomic(path, path+".tmp", func(w io.Writer) error {
		_, err := io.WriteString(w, id+"\n")
		return err
	})
	return id, err
}

// nodeRegistration is the catalog registration of this agent's node alone.
func (a *Agent) nodeRegistration() *RegisterRequest {
	meta := map[string]string{"consul-network-segment": "", "consul-version": consulVersion}
	for k, v := range a.cfg.NodeMeta {
		meta[k] = v
	}
	addr := a.cfg.AdvertiseAddr
	return &RegisterRequest{
		Datacenter: a.cfg.Datacenter, ID: a.nodeID, Node: a.cfg.NodeName, Address: addr,
		TaggedAddresses: map[string]string{"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr},
		NodeMeta:        meta,
	}
}

// Shutdown stops the agent and waits for its goroutines. It is safe to call
// more than once.
func (a *Agent) Shutdown() {
	a.shutdownOnce.Do(func() {
		close(a.shutdownCh)
		if a.httpServer != nil {
			a.httpServer.Close() // ends blocking queries at once
		} else {
			for _, ln := range a.httpListeners {
				ln.Close()
			}
		}
		for _, d := range a.dnsServers {
			d.shutdown()
		}
		a.local.stop()
		a.checkTransports.close()
		if a.sessions != nil {
			a.sessions.stop()
		}
		if a.lan() != nil {
			// A server stops without leaving, as Consul's do by default
			// (leave_on_terminate, skip_leave_on_interrupt): the others see
			// it fail, and it is still a member when it comes back.
			a.lan().Stop()
		}
		if a.wan() != nil {
			a.wan().Stop()
		}
		a.stopServer()
		a.wg.Wait()
		if a.cfg.DataDir == "" || a.cfg.DevMode {
			os.RemoveAll(a.spool) // a temp dir of its own
		}
	})
}

// Failed is closed when this server's Raft storage has failed and it no
// longer serves (raftNode.fail); never on a client.
func (a *Agent) Failed() <-chan struct{} {
	if a.raft == nil {
		return nil
	}
	return a.raft.failed()
}

// newUUID returns a random (version 4) UUID, the form of Consul's IDs.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// lan is the agent's LAN gossip pool, nil until startLAN has opened it.
func (a *Agent) lan() *gossipPool { return a.lanPool.Load() }

// wan is a server's WAN gossip pool, nil until startWAN has opened it and
// always on a client.
func (a *Agent) wan() *gossipPool { return a.wanPool.Load() }
