// agent_proxy_config.go: central proxy configuration applied to the
// agent's own proxies (Consul's service manager, with
// enable_central_service_config on, as its default).
//
// A connect-proxy registered on this agent (a sidecar or one registered on
// its own) shows, in the agent's view and so in the catalog, its
// registration's Proxy.Config completed by the config entries: the
// proxy-defaults entry "global" gives every proxy's defaults, and the
// service-defaults entry of the proxy's destination sets "protocol", which
// wins over proxy-defaults' (Consul's ComputeResolvedServiceConfig). The
// registration's own keys win over both: the merge is shallow, key by key.
//
//	registration → installService: own Config kept in proxyOwnConfig,
//	  the merged one in the service → catalog (agent_sync.go)
//	config entries change → the agent cache's blocking query on
//	  /v1/config/proxy-defaults or /v1/config/service-defaults wakes its
//	  watchProxyEntries → every local proxy merged again; a changed one is
//	  pushed again
//
// The watchers start with the first proxy registered, and that first
// registration, if through the API, reads the entries synchronously (through
// the cache), so it appears with its defaults while the servers answer;
// otherwise a proxy is registered with its own Config and the watchers
// merge the defaults in once they hear them (a blocking query away).
//
// Concurrency: localState.mu guards proxyOwnConfig and proxyEntries, as it
// guards the services; one watcher goroutine per kind of entry, which
// stop with the agent.
package main

import (
	"context"
	"maps"
	"reflect"
	"strconv"
	"time"
)

// Where the watcher reads the entries (agent cache URIs).
const (
	proxyDefaultsPath   = "/v1/config/proxy-defaults"
	serviceDefaultsPath = "/v1/config/service-defaults"
)

// proxyEntries are the config entries a proxy's configuration comes from,
// as the agent last heard them; nil maps until heard.
type proxyEntries struct {
	defaults map[string]any    // proxy-defaults "global" Config
	protocol map[string]string // service-defaults Protocol, by service
}

func (pe proxyEntries) known() bool { return pe.defaults != nil && pe.protocol != nil }

// resolvedProxyConfig is a proxy's Config: own keys, then the destination's
// protocol from service-defaults, then proxy-defaults.
func (pe proxyEntries) resolvedProxyConfig(own map[string]any, destination string) map[string]any {
	out := maps.Clone(pe.defaults)
	if p := pe.protocol[destination]; p != "" {
		if out == nil { // proxy-defaults not heard yet
			out = map[string]any{}
		}
		out["protocol"] = p
	}
	if len(out) == 0 {
		return own
	}
	maps.Copy(out, own)
	return out
}

// setFrom takes the list of one kind of entry into pe.
func (pe *proxyEntries) setFrom(path string, entries []map[string]any) {
	switch path {
	case proxyDefaultsPath:
		pe.defaults = map[string]any{}
		for _, e := range entries {
			if cfg, _ := e["Config"].(map[string]any); e["Name"] == proxyDefaultsGlobal && cfg != nil {
				pe.defaults = cfg
			}
		}
	case serviceDefaultsPath:
		pe.protocol = map[string]string{}
		for _, e := range entries {
			name, _ := e["Name"].(string)
			if p, _ := e["Protocol"].(string); name != "" && p != "" {
				pe.protocol[name] = p
			}
		}
	}
}

// cachedConfigEntries is the cached list of one kind of config entry: a
// blocking read when index is set (at most wait).
func (a *Agent) cachedConfigEntries(ctx context.Context, path string, index uint64, wait time.Duration) ([]map[string]any, uint64, error) {
	e, _, err := a.cache.entryFor(ctx, path, a.acl.agentToken()) // agent_acl_token.go
	if err != nil {
		return nil, 0, err
	}
	resp, err := a.http.waitCached(ctx, e, queryOptions{index: index, wait: wait})
	if err != nil {
		return nil, 0, err
	}
	var out []map[string]any
	if err := decodeResponse(resp, &out); err != nil {
		return nil, 0, err
	}
	index, _ = strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return out, index, nil
}

// mergeProxyConfigLocked keeps svc's own Config and gives it the resolved
// one, if svc is a proxy. Callers hold l.mu.
func (l *localState) mergeProxyConfigLocked(svc *Service) {
	if svc.Kind != serviceKindConnectProxy {
		delete(l.proxyOwnConfig, svc.ID)
		return
	}
	own := svc.Proxy.Config
	l.proxyOwnConfig[svc.ID] = own
	svc.Proxy.Config = l.proxyEntries.resolvedProxyConfig(own, svc.Proxy.DestinationServiceName)
}

// prepareProxyConfig, before a proxy is installed: the first one starts
// the watchers and, for a registration through the API, waits (at most 5 s,
// once per agent) for the entries. A proxy of the config files is installed
// while the agent starts, perhaps before it knows a server: it does not
// wait, nor does any later proxy while the entries are still unknown.
func (l *localState) prepareProxyConfig(ctx context.Context, svc *Service, src definitionSource) {
	if svc.Kind != serviceKindConnectProxy {
		return
	}
	l.mu.Lock()
	start, known := !l.proxyWatching, l.proxyEntries.known()
	l.proxyWatching = true
	l.mu.Unlock()
	if start {
		l.a.wg.Go(func() { l.watchProxyEntries(proxyDefaultsPath) })
		l.a.wg.Go(func() { l.watchProxyEntries(serviceDefaultsPath) })
	}
	if known || !start || src != sourceAPI {
		return // known, or being fetched by the watchers, which merge it in
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, path := range []string{proxyDefaultsPath, serviceDefaultsPath} {
		entries, _, err := l.a.cachedConfigEntries(ctx, path, 0, 0)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.proxyEntries.setFrom(path, entries)
		l.mu.Unlock()
	}
}

// watchProxyEntries follows one kind of config entry and merges the
// entries again into every local proxy, pushing the ones that changed.
func (l *localState) watchProxyEntries(path string) {
	followIndex(l.a.lifetime(), func(ctx context.Context, index uint64) (uint64, error) {
		entries, idx, err := l.a.cachedConfigEntries(ctx, path, index, cacheRefreshWait)
		if err != nil {
			return 0, err
		}
		for _, id := range l.remergeProxies(path, entries) {
			if err := l.syncService(ctx, id); err != nil {
				l.a.logger.Warn("pushing a proxy's new configuration failed; anti-entropy will", "service", id, "error", err)
			}
		}
		return idx, nil
	})
}

// remergeProxies takes the entries of path and returns the proxies whose
// Config changed. Until both kinds were heard, nothing is merged again: a
// proxy keeps what it was installed with.
func (l *localState) remergeProxies(path string, entries []map[string]any) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proxyEntries.setFrom(path, entries)
	if !l.proxyEntries.known() {
		return nil
	}
	var changed []string
	for id, own := range l.proxyOwnConfig {
		svc := l.services[id]
		if svc == nil {
			continue
		}
		merged := l.proxyEntries.resolvedProxyConfig(own, svc.Proxy.DestinationServiceName)
		if reflect.DeepEqual(merged, svc.Proxy.Config) {
			continue
		}
		next := *svc // services are replaced, never changed in place: readers hold the old one
		next.Proxy.Config = merged
		l.services[id] = &next
		changed = append(changed, id)
	}
	if len(changed) > 0 {
		l.notifyLocked()
	}
	return changed
}
