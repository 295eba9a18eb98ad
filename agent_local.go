// agent_local.go: the agent's local state, the source of truth for its own
// node (Consul's agent/local).
//
// Services and checks registered through /v1/agent/... (http_agent.go) or
// the config files (agent_reload.go) belong to the agent that hosts them.
// The agent keeps them here and runs the checks (checks.go); every change
// (a registration, a check's new status, a deregistration, maintenance
// mode) is then pushed to the catalog by agent_sync.go, which also compares
// the catalog with this state periodically and repairs every difference:
//
//	HTTP/config → addService/addCheck/setCheckStatus → services, checks
//	  → syncService/syncCheck (agent_sync.go) → Agent.apply → catalog
//
// Each definition remembers where it came from (config files or the HTTP
// API): script checks are allowed for each source as Consul allows them,
// and a reload (agent_reload.go) replaces only what came from the config
// files. A service whose check carries DeregisterCriticalServiceAfter is
// removed by reapCritical once the check has been critical that long.
//
// A proxy's Proxy.Config is completed by the config entries
// (agent_proxy_config.go) when it is installed and whenever they change.
//
// Concurrency: mu guards services, checks, serviceSources, changed and the
// proxies' configuration; it is never held while writing to the catalog.
// syncMu serialises the pushes.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Maintenance mode is a critical check with a reserved ID, as in Consul.
const (
	nodeMaintCheckID          = "_node_maintenance"
	serviceMaintCheckPrefix   = "_service_maintenance:"
	defaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	defaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
)

// errNotFound marks a lookup of an unknown local service or check; the HTTP
// layer answers it with 404.
var errNotFound = errors.New("not found")

// localCheck is a check the agent owns: what the catalog shows, how it is
// run, and the timer or goroutine running it.
type localCheck struct {
	check         HealthCheck
	def           *checkDefinition // nil for maintenance checks
	source        definitionSource
	criticalSince time.Time // when the status became critical; zero when it is not
	ttl           *time.Timer
	runner        *checkRunner
}

// definitionSource is where a service or check definition came from.
type definitionSource int

const (
	sourceAPI    definitionSource = iota // the HTTP API (Consul's ConfigSourceRemote)
	sourceConfig                         // the config files (Consul's ConfigSourceLocal)
)

type localState struct {
	a *Agent

	mu             sync.Mutex
	services       map[string]*Service
	serviceSources map[string]definitionSource
	checks         map[string]*localCheck
	changed        chan struct{} // closed (and replaced) at each change, for alias checks
	stopped        bool

	sidecarMu sync.Mutex // sidecar port allocation (agent_sidecar.go); taken before mu

	// Central proxy configuration (agent_proxy_config.go), guarded by mu.
	proxyOwnConfig map[string]map[string]any // a local proxy's registered Config, by service ID
	proxyEntries   proxyEntries              // the config entries last heard
	proxyWatching  bool                      // the watcher runs

	syncMu     sync.Mutex
	syncNow    chan struct{} // triggerSync: a full sync now (agent_sync.go)
	pushFailed chan struct{} // a push failed: a full sync soon
}

func newLocalState(a *Agent) *localState {
	return &localState{a: a, services: map[string]*Service{}, serviceSources: map[string]definitionSource{},
		checks: map[string]*localCheck{}, changed: make(chan struct{}), proxyOwnConfig: map[string]map[string]any{},
		syncNow: make(chan struct{}, 1), pushFailed: make(chan struct{}, 1)}
}

// changes returns a channel closed at the next change of the local state.
func (l *localState) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// notifyLocked wakes the watchers of the local state. Callers hold l.mu.
func (l *localState) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// scriptsDisabledError refuses a script check, with Consul's message; the
// HTTP API answers it with 500, as Consul does.
type scriptsDisabledError string

func (e scriptsDisabledError) Error() string { return string(e) }

// allowScript applies enable_script_checks (scripts from anywhere) and
// enable_local_script_checks (scripts from the config files only).
func (l *localState) allowScript(src definitionSource) error {
	cfg := l.a.cfg
	switch {
	case cfg.EnableScriptChecks:
		return nil
	case src == sourceConfig && !cfg.EnableLocalScriptChecks:
		return scriptsDisabledError("Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true")
	case src == sourceAPI:
		return scriptsDisabledError("Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true")
	}
	return nil
}

// serviceDefinition is the body of /v1/agent/service/register (Consul's
// AgentServiceRegistration).
type serviceDefinition struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress
	EnableTagOverride bool
	Meta              map[string]string
	Weights           *Weights
	Proxy             *ConnectProxyConfig // connect_service.go
	Connect           *connectDefinition
	Locality          *Locality
	Check             *checkDefinition
	Checks            []*checkDefinition
}

// addService registers (or replaces) a service and its checks. The
// service's other checks stay, unless replaceChecks (Consul's
// ?replace-existing-checks) says to remove them.
func (l *localState) addService(ctx context.Context, def *serviceDefinition, replaceChecks bool, src definitionSource) error {
	svc, checks, err := l.prepareService(def, src)
	if err != nil {
		return err
	}
	return l.installService(ctx, svc, checks, replaceChecks, src)
}

// prepareService validates a service definition and makes the service and
// its checks, not yet running.
func (l *localState) prepareService(def *serviceDefinition, src definitionSource) (*Service, []*localCheck, error) {
	if def.Name == "" {
		return nil, nil, errors.New("Missing service name")
	}
	if def.Port < 0 || def.Port > 65535 {
		return nil, nil, fmt.Errorf("Invalid service port %d", def.Port)
	}
	svc := &Service{
		Kind: def.Kind, ID: def.serviceID(), Service: def.Name, Tags: def.Tags, Port: def.Port,
		Address: def.Address, TaggedAddresses: def.TaggedAddresses,
		EnableTagOverride: def.EnableTagOverride, Meta: orEmpty(def.Meta),
		Weights: Weights{Passing: 1, Warning: 1}, Locality: def.Locality,
	}
	if svc.Tags == nil {
		svc.Tags = []string{}
	}
	if def.Weights != nil {
		if def.Weights.Passing < 1 {
			return nil, nil, errors.New("Passing must be greater than 0")
		}
		svc.Weights = *def.Weights
	}
	if err := checkName("service ID", svc.ID); err != nil {
		return nil, nil, err
	}
	if def.Proxy != nil {
		svc.Proxy = normalizeProxy(*def.Proxy)
	}
	var sidecar *serviceDefinition
	if def.Connect != nil {
		svc.Connect.Native, sidecar = def.Connect.Native, def.Connect.SidecarService
	}
	if err := validateRegistration(svc, sidecar); err != nil {
		return nil, nil, err
	}
	defs, ids := def.checkDefinitions()
	checks := make([]*localCheck, 0, len(defs))
	for i, cd := range defs {
		name := cd.Name
		if name == "" {
			name = fmt.Sprintf("Service '%s' check", svc.Service)
		}
		c := *cd
		c.ServiceID = svc.ID
		lc, err := l.newLocalCheck(ids[i], name, &c, src)
		if err != nil {
			return nil, nil, err
		}
		lc.check.ServiceName, lc.check.ServiceTags = svc.Service, svc.Tags
		checks = append(checks, lc)
	}
	return svc, checks, nil
}

// serviceID is the ID a definition registers: ID, else the name.
func (def *serviceDefinition) serviceID() string {
	if def.ID != "" {
		return def.ID
	}
	return def.Name
}

// checkDefinitions lists a service's checks (Check first, then Checks)
// with the IDs they get: their own, else "service:<id>" (":<n>" added
// when there are several), as Consul names them.
func (def *serviceDefinition) checkDefinitions() ([]*checkDefinition, []string) {
	// A null in "Checks" (JSON allows it) is no check, not a crash.
	defs := slices.DeleteFunc(slices.Clone(def.Checks), func(cd *checkDefinition) bool { return cd == nil })
	if def.Check != nil {
		defs = append([]*checkDefinition{def.Check}, defs...)
	}
	ids := make([]string, len(defs))
	for i, cd := range defs {
		ids[i] = cmp.Or(cd.CheckID, cd.ID)
		if ids[i] == "" {
			ids[i] = "service:" + def.serviceID()
			if len(defs) > 1 {
				ids[i] += ":" + strconv.Itoa(i+1)
			}
		}
	}
	return defs, ids
}

// installService puts a prepared service and its checks in place, starts
// the checks and pushes the service.
func (l *localState) installService(ctx context.Context, svc *Service, checks []*localCheck, replaceChecks bool, src definitionSource) error {
	l.prepareProxyConfig(ctx, svc, src)
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return errors.New("agent is shutting down")
	}
	l.mergeProxyConfigLocked(svc)
	l.services[svc.ID] = svc
	l.serviceSources[svc.ID] = src
	var replaced []*localCheck
	for id, lc := range l.checks {
		switch {
		case lc.check.ServiceID != svc.ID:
		case replaceChecks:
			replaced = append(replaced, lc)
			delete(l.checks, id)
		default: // kept: it shows the service's new name and tags
			lc.check.ServiceName, lc.check.ServiceTags = svc.Service, svc.Tags
		}
	}
	for _, lc := range checks {
		if old := l.checks[lc.check.CheckID]; old != nil {
			replaced = append(replaced, old)
		}
		l.checks[lc.check.CheckID] = lc
		l.startLocked(lc)
	}
	l.notifyLocked()
	l.mu.Unlock()
	haltAll(replaced)
	return l.syncService(ctx, svc.ID)
}

// newLocalCheck validates a definition and makes the check, not yet running.
func (l *localState) newLocalCheck(id, name string, def *checkDefinition, src definitionSource) (*localCheck, error) {
	if err := def.validate(); err != nil {
		return nil, err
	}
	if def.checkType() == "script" {
		if err := l.allowScript(src); err != nil {
			return nil, err
		}
	}
	if err := checkName("check ID", id); err != nil {
		return nil, err
	}
	status := def.Status
	if status == "" {
		status = healthCritical
	}
	lc := &localCheck{def: def, source: src, check: HealthCheck{
		Node: l.a.cfg.NodeName, CheckID: id, Name: name, Status: status, Notes: def.Notes,
		ServiceID: def.ServiceID, ServiceTags: []string{}, Type: def.checkType(),
		Definition: def.catalogDefinition(),
	}}
	if status == healthCritical {
		lc.criticalSince = time.Now()
	}
	return lc, nil
}

// addCheck registers a check alone (/v1/agent/check/register).
func (l *localState) addCheck(ctx context.Context, def *checkDefinition, src definitionSource) error {
	lc, err := l.prepareCheck(def, src)
	if err != nil {
		return err
	}
	return l.installCheck(ctx, lc)
}

// checkID is the ID a check registered alone gets: its own, else its name.
func (d *checkDefinition) checkID() string { return cmp.Or(d.CheckID, d.ID, d.Name) }

// prepareCheck validates a check registered alone and makes it, not yet running.
func (l *localState) prepareCheck(def *checkDefinition, src definitionSource) (*localCheck, error) {
	if def.Name == "" {
		return nil, errors.New("Missing check name")
	}
	return l.newLocalCheck(def.checkID(), def.Name, def, src)
}

// installCheck puts a prepared check in place, starts it and pushes it.
func (l *localState) installCheck(ctx context.Context, lc *localCheck) error {
	id, def := lc.check.CheckID, lc.def
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return errors.New("agent is shutting down")
	}
	if def.ServiceID != "" {
		svc := l.services[def.ServiceID]
		if svc == nil {
			l.mu.Unlock()
			return fmt.Errorf("ServiceID %q does not exist", def.ServiceID)
		}
		lc.check.ServiceName, lc.check.ServiceTags = svc.Service, svc.Tags
	}
	old := l.checks[id]
	l.checks[id] = lc
	l.startLocked(lc)
	l.notifyLocked()
	l.mu.Unlock()
	if old != nil {
		old.halt()
	}
	return l.syncCheck(ctx, id)
}

// startLocked starts a check's TTL timer or probe. Callers hold l.mu.
func (l *localState) startLocked(lc *localCheck) {
	if lc.def == nil {
		return
	}
	id := lc.check.CheckID
	if lc.def.TTL > 0 {
		lc.ttl = time.AfterFunc(time.Duration(lc.def.TTL), func() { l.ttlExpired(id, lc) })
		return
	}
	lc.runner = l.a.startCheck(id, lc.def, func(status, output string) { l.setCheckStatus(l.a.lifetime(), id, lc, status, output) })
}

// halt stops whatever runs the check. It waits for a probe in flight, which
// may be reporting, so it is never called with l.mu held.
func (lc *localCheck) halt() {
	if lc.ttl != nil {
		lc.ttl.Stop()
	}
	if lc.runner != nil {
		lc.runner.stop()
	}
}

func haltAll(checks []*localCheck) {
	for _, lc := range checks {
		lc.halt()
	}
}

func (l *localState) ttlExpired(id string, lc *localCheck) {
	l.a.logger.Warn("check TTL expired", "check", id)
	l.setCheckStatus(l.a.lifetime(), id, lc, healthCritical, ttlExpiredOutput)
}

// setCheckStatus records a check's result and pushes it if it changed. A
// result from a runner or timer (owner set) is dropped if its check has
// been replaced or removed meanwhile.
func (l *localState) setCheckStatus(ctx context.Context, id string, owner *localCheck, status, output string) error {
	l.mu.Lock()
	lc := l.checks[id]
	if l.stopped || (owner != nil && lc != owner) {
		l.mu.Unlock()
		return nil
	}
	if lc == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: Unknown check ID %q. Ensure that the check ID is passed, not the check name.", errNotFound, id)
	}
	changed := lc.check.Status != status || lc.check.Output != output
	switch {
	case status != healthCritical:
		lc.criticalSince = time.Time{}
	case lc.check.Status != healthCritical:
		lc.criticalSince = time.Now()
	}
	lc.check.Status, lc.check.Output = status, output
	if changed {
		l.notifyLocked()
	}
	l.mu.Unlock()
	if !changed {
		return nil
	}
	return l.syncCheck(ctx, id)
}

// updateTTL is a TTL check's report (/v1/agent/check/pass|warn|fail|update):
// it sets the status and restarts the TTL.
func (l *localState) updateTTL(ctx context.Context, id, status, output string) error {
	l.mu.Lock()
	lc := l.checks[id]
	if lc == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: Unknown check ID %q. Ensure that the check ID is passed, not the check name.", errNotFound, id)
	}
	if lc.ttl == nil {
		l.mu.Unlock()
		return fmt.Errorf("CheckID %q does not have associated TTL", id)
	}
	lc.ttl.Reset(time.Duration(lc.def.TTL))
	l.mu.Unlock()
	return l.setCheckStatus(ctx, id, nil, status, truncateOutput(output, l.a.cfg.CheckOutputMaxSize))
}

// removeService deregisters a local service and its checks.
func (l *localState) removeService(ctx context.Context, id string) error {
	l.mu.Lock()
	if l.services[id] == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: Unknown service ID %q", errNotFound, id)
	}
	delete(l.services, id)
	delete(l.serviceSources, id)
	delete(l.proxyOwnConfig, id)
	var removed []*localCheck
	for cid, lc := range l.checks {
		if lc.check.ServiceID == id {
			removed = append(removed, lc)
			delete(l.checks, cid)
		}
	}
	l.notifyLocked()
	l.mu.Unlock()
	haltAll(removed)
	err := l.syncService(ctx, id)
	if sidecar := l.sidecarOf(id); sidecar != "" { // its sidecar goes with it (agent_sidecar.go)
		err = cmp.Or(err, l.removeService(ctx, sidecar))
	}
	return err
}

// removeCheck deregisters a local check.
func (l *localState) removeCheck(ctx context.Context, id string) error {
	l.mu.Lock()
	lc := l.checks[id]
	if lc == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: Unknown check ID %q", errNotFound, id)
	}
	delete(l.checks, id)
	l.notifyLocked()
	l.mu.Unlock()
	lc.halt()
	return l.syncCheck(ctx, id)
}

// setMaintenance turns maintenance mode on or off for the node (serviceID
// "") or one service: a critical check that takes it out of every healthy
// answer while it is on.
func (l *localState) setMaintenance(ctx context.Context, serviceID string, enable bool, reason string) error {
	id, name, defaultReason := nodeMaintCheckID, "Node Maintenance Mode", defaultNodeMaintReason
	var svc *Service
	if serviceID != "" {
		l.mu.Lock()
		svc = l.services[serviceID]
		l.mu.Unlock()
		if svc == nil {
			return fmt.Errorf("%w: Unknown service ID %q", errNotFound, serviceID)
		}
		id, name, defaultReason = serviceMaintCheckPrefix+serviceID, "Service Maintenance Mode", defaultServiceMaintReason
	}
	if !enable {
		if err := l.removeCheck(ctx, id); err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		return nil
	}
	if reason == "" {
		reason = defaultReason
	}
	lc := &localCheck{criticalSince: time.Now(), check: HealthCheck{
		Node: l.a.cfg.NodeName, CheckID: id, Name: name, Status: healthCritical, Notes: reason,
		ServiceTags: []string{}, Type: "maintenance",
	}}
	if svc != nil {
		lc.check.ServiceID, lc.check.ServiceName, lc.check.ServiceTags = svc.ID, svc.Service, svc.Tags
	}
	l.mu.Lock()
	switch {
	case l.stopped:
		l.mu.Unlock()
		return errors.New("agent is shutting down")
	case l.checks[id] != nil:
		// Already on: Consul keeps the first reason.
		l.mu.Unlock()
		return nil
	}
	l.checks[id] = lc
	l.notifyLocked()
	l.mu.Unlock()
	return l.syncCheck(ctx, id)
}

// hasService and hasCheck say whether the agent has a service or check.
func (l *localState) hasService(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.services[id] != nil
}

func (l *localState) hasCheck(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checks[id] != nil
}

// serviceList and checkList copy the local state for the agent endpoints.
func (l *localState) serviceList() map[string]*Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*Service, len(l.services))
	for id, s := range l.services {
		out[id] = s
	}
	return out
}

func (l *localState) checkList() map[string]HealthCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]HealthCheck, len(l.checks))
	for id, lc := range l.checks {
		out[id] = lc.check
	}
	return out
}

// nodeView copies this node's checks and services as the local state has
// them, for alias checks.
func (l *localState) nodeView() ([]*HealthCheck, []*Service) {
	l.mu.Lock()
	defer l.mu.Unlock()
	checks := make([]*HealthCheck, 0, len(l.checks))
	for _, lc := range l.checks {
		c := lc.check
		checks = append(checks, &c)
	}
	services := make([]*Service, 0, len(l.services))
	for _, s := range l.services {
		services = append(services, s)
	}
	return checks, services
}

// reapCritical deregisters every service with a check that has been
// critical for longer than its DeregisterCriticalServiceAfter (at least
// check_deregister_interval_min), as Consul's reapServicesInternal does on
// each check_reap_interval.
func (l *localState) reapCritical(now time.Time) {
	type reap struct{ service, check string }
	var due []reap
	l.mu.Lock()
	for id, lc := range l.checks {
		if lc.def == nil || lc.check.ServiceID == "" || lc.def.DeregisterCriticalServiceAfter <= 0 || lc.criticalSince.IsZero() {
			continue
		}
		after := max(time.Duration(lc.def.DeregisterCriticalServiceAfter), l.a.cfg.CheckDeregisterIntervalMin)
		if now.Sub(lc.criticalSince) > after {
			due = append(due, reap{lc.check.ServiceID, id})
		}
	}
	l.mu.Unlock()
	for _, r := range due {
		err := l.removeService(l.a.lifetime(), r.service)
		switch {
		case errors.Is(err, errNotFound): // reaped already, through another of its checks
		case err != nil:
			l.a.logger.Error("unable to deregister service after check has been critical for too long", "service", r.service, "check", r.check, "error", err)
		default:
			l.a.logger.Info("check has been critical for too long; deregistered service", "service", r.service, "check", r.check)
		}
	}
}

// runReaper calls reapCritical every check_reap_interval.
func (a *Agent) runReaper() {
	every(a.shutdownCh, a.cfg.CheckReapInterval, a.local.reapCritical)
}

// stop ends every running check; no check runs or pushes after it returns.
func (l *localState) stop() {
	l.mu.Lock()
	l.stopped = true
	checks := make([]*localCheck, 0, len(l.checks))
	for _, lc := range l.checks {
		checks = append(checks, lc)
	}
	l.mu.Unlock()
	haltAll(checks)
}
