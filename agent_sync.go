// agent_sync.go: how the agent's local state reaches the catalog: the
// per-change pushes and the periodic full sync (Consul's agent/ae and the
// SyncChanges/SyncFull of agent/local).
//
// The local state (agent_local.go) is the source of truth for this node.
// Changes are pushed as they happen (edge-triggered): the registration of a
// service with its checks, a check's new status, or a deregistration. A
// push always sends the current local view of the thing that changed,
// never a delta, so pushes that race converge on the latest state; syncAll
// pushes everything (after a snapshot restore or a new leader).
//
//	local change → syncService/syncCheck → commit → Agent.apply → catalog
//	every ae_interval → syncFull: nodeCatalog (agent_remote.go) vs local → repairs
//
// The full sync repairs what those pushes missed or what others changed: it
// reads the catalog's view of the node through Agent.nodeCatalog, compares
// it with the local state and rewrites every difference: a service or
// check missing from the catalog (deleted by hand through
// /v1/catalog/deregister, lost in a restore) is registered again, one the
// catalog has but the agent does not is deregistered, one whose fields
// differ is written again. The servers' own entries for the node are left
// alone: the "consul" service and the serfHealth check (Consul skips them
// the same way).
//
// Timing, as Consul's StateSyncer: a full sync at start, then every
// ae_interval (1 min) plus a random stagger of up to the interval scaled by
// the cluster's size (×1 up to 128 nodes, doubling with each doubling
// beyond: aeScaleFactor). A sync that fails (no leader, servers
// unreachable) is retried with a backoff from 1 s up to 15 s (Consul's
// retryFailIntv), with a stagger; an edge-triggered push that fails brings
// the next full sync forward the same way. triggerSync starts one at once.
// Checks keep running meanwhile: only their pushes wait.
//
// Concurrency: runAntiEntropy is one goroutine of the agent; it holds no
// lock of its own and goes through localState, whose pushes are serialised
// by syncMu (the local state's mu is never held while writing).
package main

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"
)

// Anti-entropy timing (Consul's agent/ae).
const (
	aeScaleThreshold = 128              // nodes up to which the interval is not scaled
	aeRetryMin       = time.Second      // first retry of a failed sync
	aeRetryMax       = 15 * time.Second // Consul's retryFailIntv
)

// aeScaleFactor is how much to spread full syncs in a cluster of n nodes:
// 1 up to 128 nodes, then one more for each doubling (Consul's scaleFactor).
func aeScaleFactor(n int) int {
	if n <= aeScaleThreshold {
		return 1
	}
	return int(math.Ceil(math.Log2(float64(n))-math.Log2(aeScaleThreshold))) + 1
}

// runAntiEntropy runs full syncs until the agent shuts down.
func (a *Agent) runAntiEntropy() {
	retry := aeRetryMin
	backoff := func() time.Duration {
		d := retry + randomStagger(retry)
		retry = min(2*retry, aeRetryMax)
		return d
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), rpcHoldTimeout)
		err := a.local.syncFull(ctx)
		cancel()
		var wait time.Duration
		if err != nil {
			if isShutdown(a.shutdownCh) {
				return
			}
			wait = backoff()
			a.logger.Warn("anti-entropy: failed to sync the local state; retrying", "error", err, "in", wait.Round(time.Millisecond))
		} else {
			retry = aeRetryMin
			interval := a.cfg.AEInterval
			wait = interval + randomStagger(time.Duration(aeScaleFactor(a.clusterSize()))*interval)
		}
		timer := time.NewTimer(wait)
		select {
		case <-a.shutdownCh:
			timer.Stop()
			return
		case <-timer.C:
		case <-a.local.syncNow:
			timer.Stop()
		case <-a.local.pushFailed:
			// A change could not be pushed: catch up after the retry delay.
			timer.Stop()
			select {
			case <-a.shutdownCh:
				return
			case <-time.After(backoff()):
			}
		}
	}
}

// clusterSize is the number of nodes in the LAN pool as this agent sees it.
func (a *Agent) clusterSize() int {
	if a.lan() == nil {
		return 1
	}
	return max(len(a.lan().Members()), 1)
}

// triggerSync asks for a full sync now; it does not wait for it.
func (l *localState) triggerSync() {
	select {
	case l.syncNow <- struct{}{}:
	default:
	}
}

// notePushFailed tells the anti-entropy loop that a push failed.
func (l *localState) notePushFailed() {
	select {
	case l.pushFailed <- struct{}{}:
	default:
	}
}

// syncFull compares the catalog's view of this node with the local state
// and repairs every difference. It returns the first error of a push; the
// caller retries the whole sync.
func (l *localState) syncFull(ctx context.Context) error {
	node := l.a.cfg.NodeName
	remote, err := l.a.nodeCatalog(ctx, node, 0)
	if err != nil {
		return err
	}
	// ctx bounds the read; each push below is bounded by Agent.apply's
	// applyTimeout alone, and ends with the agent.
	ctx = l.a.lifetime()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return nil
	}
	localServices := make(map[string]Service, len(l.services))
	for id, s := range l.services {
		localServices[id] = *s
	}
	localChecks := make(map[string]HealthCheck, len(l.checks))
	for id, lc := range l.checks {
		localChecks[id] = lc.check
	}
	l.mu.Unlock()

	reg := l.a.nodeRegistration()
	if n := remote.Node; n == nil || n.ID != reg.ID || n.Address != reg.Address ||
		!reflect.DeepEqual(n.TaggedAddresses, reg.TaggedAddresses) || !reflect.DeepEqual(n.Meta, reg.NodeMeta) {
		if err := l.commit(ctx, &command{Type: cmdRegister, Register: reg}); err != nil {
			return fmt.Errorf("registering node %q: %w", node, err)
		}
	}

	remoteServices := map[string]*Service{}
	for _, s := range remote.Services {
		remoteServices[s.ID] = s
	}
	gone := map[string]bool{} // services deregistered here, with their checks
	for id, s := range remoteServices {
		if _, ok := localServices[id]; !ok && id != "consul" {
			l.a.logger.Info("anti-entropy: deregistering a service this agent does not have", "service", id)
			if err := l.commit(ctx, &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: node, ServiceID: id}}); err != nil {
				return err
			}
			gone[s.ID] = true
		}
	}
	synced := map[string]bool{} // services pushed whole, with their checks
	for id, s := range localServices {
		if r := remoteServices[id]; r == nil || !sameEntry(&s, r) {
			l.a.logger.Info("anti-entropy: registering service", "service", id)
			if err := l.syncService(ctx, id); err != nil {
				return err
			}
			synced[id] = true
		}
	}

	remoteChecks := map[string]*HealthCheck{}
	for _, c := range remote.Checks {
		remoteChecks[c.CheckID] = c
	}
	for id, c := range remoteChecks {
		if _, ok := localChecks[id]; !ok && id != "serfHealth" && !gone[c.ServiceID] && !synced[c.ServiceID] {
			l.a.logger.Info("anti-entropy: deregistering a check this agent does not have", "check", id)
			if err := l.commit(ctx, &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: node, CheckID: id}}); err != nil {
				return err
			}
		}
	}
	for id, c := range localChecks {
		if synced[c.ServiceID] {
			continue
		}
		if r := remoteChecks[id]; r == nil || !sameEntry(&c, r) {
			l.a.logger.Info("anti-entropy: registering check", "check", id)
			if err := l.syncCheck(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameEntry says whether a local service or check and the catalog's copy
// agree, leaving out the catalog's indexes. They are compared in the form
// commands carry them (marshalExact: JSON keeping strings' bytes), so that
// nil and empty compare as stored.
func sameEntry[T Service | HealthCheck](local, remote *T) bool {
	r := *remote
	switch x := any(&r).(type) {
	case *Service:
		x.CreateIndex, x.ModifyIndex = 0, 0
	case *HealthCheck:
		x.CreateIndex, x.ModifyIndex = 0, 0
	}
	a, errA := marshalExact(local)
	b, errB := marshalExact(&r)
	return errA == nil && errB == nil && string(a) == string(b)
}

// --- pushing to the catalog ---

// commit writes to the catalog. A write the cluster could not take now is
// left to anti-entropy, which retries it.
func (l *localState) commit(ctx context.Context, cmd *command) error {
	res, err := l.a.apply(ctx, cmd)
	if err == nil {
		err = res.err
	}
	if err != nil && isUnavailable(err) {
		l.notePushFailed()
	}
	return err
}

// syncService pushes a service with its checks, or its removal.
func (l *localState) syncService(ctx context.Context, id string) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	svc := l.services[id]
	var checks []*HealthCheck
	for _, lc := range l.checks {
		if lc.check.ServiceID == id {
			c := lc.check
			checks = append(checks, &c)
		}
	}
	l.mu.Unlock()
	if svc == nil {
		return l.commit(ctx, &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: l.a.cfg.NodeName, ServiceID: id}})
	}
	req := l.a.nodeRegistration()
	s := *svc
	req.Service, req.Checks = &s, checks
	if err := l.commit(ctx, &command{Type: cmdRegister, Register: req}); err != nil {
		return err
	}
	// Checks of the service that the agent no longer has go from the catalog.
	ctx, cancel := context.WithTimeout(context.Background(), rpcHoldTimeout)
	inCatalog, err := l.a.nodeCatalog(ctx, l.a.cfg.NodeName, 0)
	cancel()
	if err != nil {
		return err
	}
	for _, c := range inCatalog.Checks {
		if c.ServiceID == id && !slices.ContainsFunc(checks, func(k *HealthCheck) bool { return k.CheckID == c.CheckID }) {
			dereg := &DeregisterRequest{Node: l.a.cfg.NodeName, CheckID: c.CheckID}
			if err := l.commit(ctx, &command{Type: cmdDeregister, Deregister: dereg}); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncCheck pushes one check, or its removal.
func (l *localState) syncCheck(ctx context.Context, id string) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	lc := l.checks[id]
	var c HealthCheck
	if lc != nil {
		c = lc.check
	}
	l.mu.Unlock()
	if lc == nil {
		return l.commit(ctx, &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: l.a.cfg.NodeName, CheckID: id}})
	}
	req := l.a.nodeRegistration()
	req.Check = &c
	return l.commit(ctx, &command{Type: cmdRegister, Register: req})
}

// syncAll pushes every local service and check.
func (l *localState) syncAll(ctx context.Context) error {
	var ids, nodeChecks []string
	l.mu.Lock()
	for id := range l.services {
		ids = append(ids, id)
	}
	for id, lc := range l.checks {
		if lc.check.ServiceID == "" {
			nodeChecks = append(nodeChecks, id)
		}
	}
	l.mu.Unlock()
	for _, id := range ids {
		if err := l.syncService(ctx, id); err != nil {
			return err
		}
	}
	for _, id := range nodeChecks {
		if err := l.syncCheck(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
