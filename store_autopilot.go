// store_autopilot.go: the cluster's autopilot configuration in the state
// store (Consul's autopilot-config table).
//
// It is written only through the log (cmdAutopilot): by the leader when it
// finds none (seeded from its autopilot config block), and by PUT
// /v1/operator/autopilot/configuration, optionally as a check-and-set on
// ModifyIndex. Snapshots carry it (tagAutopilot). The leader's autopilot
// (server_autopilot.go) reads it on each pass; apply, as everywhere in the
// store, never looks at anything but the command.
//
// Concurrency: same rules as store.go: written only inside apply, read from
// immutable snapshots by any goroutine.
package main

import (
	"errors"
	"time"
)

// AutopilotConfiguration is the stored configuration, in the JSON shape of
// Consul's /v1/operator/autopilot/configuration. RedundancyZoneTag,
// DisableUpgradeMigration and UpgradeVersionTag are Consul Enterprise
// features: stored and returned, acted on by nothing.
type AutopilotConfiguration struct {
	CleanupDeadServers      bool
	LastContactThreshold    duration
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime duration
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
	CreateIndex             uint64
	ModifyIndex             uint64
}

// defaultAutopilotConfiguration is the configuration a PUT body starts
// from (Consul's api.NewAutopilotConfiguration): a field the body omits
// gets Consul's default, not zero.
func defaultAutopilotConfiguration() AutopilotConfiguration {
	return AutopilotConfiguration{CleanupDeadServers: true, LastContactThreshold: duration(200 * time.Millisecond),
		MaxTrailingLogs: 250, ServerStabilizationTime: duration(10 * time.Second)}
}

// autopilotRequest sets the configuration. With CAS it is set only if the
// stored one's ModifyIndex is Config.ModifyIndex; as in Consul, a CAS never
// matches when nothing is stored yet.
type autopilotRequest struct {
	Config AutopilotConfiguration
	CAS    bool
}

// applyAutopilot stores the configuration; ok is false when a CAS lost.
func (t *txn) applyAutopilot(r *autopilotRequest) (ok bool, err error) {
	if r.Config.LastContactThreshold < 0 || r.Config.ServerStabilizationTime < 0 {
		return false, errors.New("autopilot durations cannot be negative")
	}
	cur := t.st.autopilot
	if r.CAS && (cur == nil || cur.ModifyIndex != r.Config.ModifyIndex) {
		return false, nil
	}
	next := r.Config
	next.CreateIndex, next.ModifyIndex = t.index, t.index
	if cur != nil {
		next.CreateIndex = cur.CreateIndex
	}
	t.st.autopilot = &next
	return true, nil
}

// autopilotConfig is the stored configuration, or nil before the first
// leader stored one.
func (st *state) autopilotConfig() *AutopilotConfiguration { return st.autopilot }
