// agent_reload.go: the services and checks of the config files, registered at
// start and replaced on a reload (SIGHUP, PUT /v1/agent/reload).
//
// A reload loads the configuration again from the same command line
// (Config.ConfigArgs: the same -config-file and -config-dir paths) and
// validates all of it before changing anything: a configuration that does
// not load, or a definition the agent would refuse, is logged and returned,
// and the agent keeps running as it was. Then, against what the config
// files registered last time: a definition that is gone is deregistered; one
// that changed, or that is no longer registered (deregistered through the
// API), is registered again, its checks starting over; an unchanged one
// keeps running untouched, with its check's status. What the HTTP API
// registered is left alone. The watches are reloaded too (agent_watch.go:
// the new ones start, those gone stop). Only services, checks and watches
// are reloaded: every other key keeps the value the agent started with.
//
// Concurrency: Agent.reloadMu serialises registerConfigured and reload, and
// guards Agent.configured.
package main

import (
	"errors"
	"fmt"
	"reflect"
)

// configuredDefs are the definitions the config files registered, by ID.
type configuredDefs struct {
	services map[string]*serviceDefinition
	checks   map[string]*checkDefinition
}

// preparedConfig is a configuration's services and checks, validated and
// built, not yet running.
type preparedConfig struct {
	defs     configuredDefs
	services []preparedService
	checks   []*localCheck
}

type preparedService struct {
	svc    *Service
	checks []*localCheck
}

// prepareConfigured validates the services and checks of cfg. A check's
// service must be in cfg, or registered through the API: one that only the
// previous config files had is about to go. Callers hold reloadMu.
func (a *Agent) prepareConfigured(cfg *Config) (*preparedConfig, error) {
	p := &preparedConfig{defs: configuredDefs{services: map[string]*serviceDefinition{}, checks: map[string]*checkDefinition{}}}
	sidecarPorts := map[int]bool{}
	for _, def := range cfg.Services {
		svc, checks, err := a.local.prepareService(def, sourceConfig)
		if err == nil {
			p.services = append(p.services, preparedService{svc, checks})
			p.defs.services[svc.ID] = def
			err = a.prepareConfiguredSidecar(p, def, svc, sidecarPorts)
		}
		if err != nil {
			return nil, fmt.Errorf("service %q in the configuration: %w", def.Name, err)
		}
	}
	for _, def := range cfg.Checks {
		lc, err := a.local.prepareCheck(def, sourceConfig)
		if err == nil && def.ServiceID != "" && p.defs.services[def.ServiceID] == nil &&
			(a.configured.services[def.ServiceID] != nil || !a.local.hasService(def.ServiceID)) {
			err = fmt.Errorf("ServiceID %q does not exist", def.ServiceID)
		}
		if err != nil {
			return nil, fmt.Errorf("check %q in the configuration: %w", def.Name, err)
		}
		p.checks = append(p.checks, lc)
		p.defs.checks[lc.check.CheckID] = def
	}
	return p, nil
}

// installConfigured registers every prepared service and check. Callers
// hold reloadMu.
func (a *Agent) installConfigured(p *preparedConfig) {
	for _, ps := range p.services {
		a.logPushError(ps.svc.ID, a.local.installService(a.lifetime(), ps.svc, ps.checks, false, sourceConfig))
	}
	for _, lc := range p.checks {
		a.logPushError(lc.check.CheckID, a.local.installCheck(a.lifetime(), lc))
	}
	a.configured = p.defs
}

// logPushError logs a registration that is in the local state but could
// not be pushed; anti-entropy pushes it later.
func (a *Agent) logPushError(id string, err error) {
	if err != nil {
		a.logger.Warn("registered locally, not yet in the catalog", "id", id, "error", err)
	}
}

// reload applies the config files' services and checks again.
func (a *Agent) reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.cfg.ConfigArgs == nil {
		return errors.New("this agent was not started from a command line: nothing to reload")
	}
	cfg, _, err := loadConfig(a.cfg.ConfigArgs)
	var p *preparedConfig
	var certs *tlsLoaded
	if err == nil {
		certs, err = loadTLS(cfg)
	}
	if err == nil {
		p, err = a.prepareConfigured(cfg)
	}
	if err == nil {
		_, err = prepareWatches(cfg.Watches)
	}
	if err != nil {
		a.logger.Error("reload refused: the configuration is invalid; keeping the running one", "error", err)
		return err
	}
	a.tls.install(certs)
	old := a.configured
	removed := 0
	for id := range old.services {
		if p.defs.services[id] == nil {
			a.logPushError(id, ignoreNotFound(a.local.removeService(a.lifetime(), id)))
			removed++
		}
	}
	for id := range old.checks {
		if p.defs.checks[id] == nil {
			a.logPushError(id, ignoreNotFound(a.local.removeCheck(a.lifetime(), id)))
			removed++
		}
	}
	replaced := 0
	for _, ps := range p.services {
		id := ps.svc.ID
		was := old.services[id]
		if reflect.DeepEqual(was, p.defs.services[id]) && a.local.hasService(id) {
			continue
		}
		replaced++
		a.logPushError(id, a.local.installService(a.lifetime(), ps.svc, ps.checks, false, sourceConfig))
		if was == nil {
			continue
		}
		// Checks the old definition had and the new one has not.
		_, oldIDs := was.checkDefinitions()
		for _, cid := range oldIDs {
			kept := false
			for _, lc := range ps.checks {
				kept = kept || lc.check.CheckID == cid
			}
			if !kept {
				a.logPushError(cid, ignoreNotFound(a.local.removeCheck(a.lifetime(), cid)))
			}
		}
	}
	for _, lc := range p.checks {
		id := lc.check.CheckID
		if reflect.DeepEqual(old.checks[id], p.defs.checks[id]) && a.local.hasCheck(id) {
			continue
		}
		replaced++
		a.logPushError(id, a.local.installCheck(a.lifetime(), lc))
	}
	a.configured = p.defs
	if err := a.reloadWatches(cfg.Watches); err != nil {
		a.logger.Error("reloading the watches", "error", err)
	}
	a.logger.Info("configuration reloaded", "services", len(p.defs.services), "checks", len(p.defs.checks),
		"registered", replaced, "deregistered", removed)
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, errNotFound) {
		return nil
	}
	return err
}
