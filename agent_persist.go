// agent_persist.go: the services and checks registered through the agent API,
// kept in the data directory so that an agent that restarts still has
// them (Consul's data_dir/services and data_dir/checks).
//
// Without this, a restarted agent would not know what applications had
// registered with it, and its anti-entropy (agent_sync.go), for which the
// local state is the truth, would delete those entries from the catalog.
// Definitions from the config files are not persisted: the files give them
// again.
//
//	PUT /v1/agent/service/register → local state → persistDefinition: <data_dir>/services/<sha256(id)>.json
//	start: registerConfigured, then loadPersisted → local state (as from the API)
//
// Each file holds one definition as it was registered, written through
// writeFileAtomic (durable.go: temp file, fsync, rename, fsync the
// directory), so a crash leaves the old file or the new one. A file that cannot be read back is logged and skipped; one
// whose definition is refused now (a check of a service that is gone) is
// removed. Nothing is kept under -dev.
//
// Concurrency: the HTTP handlers call in after their change to the local
// state; persistMu serialises the file operations.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// persistDir is where definitions of kind ("services" or "checks") are
// kept, or "" when this agent keeps none.
func (a *Agent) persistDir(kind string) string {
	if a.cfg.DevMode || a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, kind)
}

func persistFile(dir, id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}

// persistDefinition writes def as the definition of id.
func (a *Agent) persistDefinition(kind, id string, def any) error {
	dir := a.persistDir(kind)
	if dir == "" {
		return nil
	}
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	b, err := json.Marshal(def)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := persistFile(dir, id)
	err = writeFileAtomic(path, path+".tmp", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("keeping %s %q in the data dir: %w", strings.TrimSuffix(kind, "s"), id, err)
	}
	return nil
}

// forgetDefinition removes the kept definition of id, if any.
func (a *Agent) forgetDefinition(kind, id string) error {
	dir := a.persistDir(kind)
	if dir == "" {
		return nil
	}
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	if err := os.Remove(persistFile(dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// errConfigured: the config files define this ID too, and they win (as in
// Consul, which purges such a kept definition).
var errConfigured = errors.New("the config files define it")

// loadPersisted registers the kept definitions with the local state, the
// services before the checks (a check may belong to one of them). It runs
// after the config files' definitions are registered.
func (a *Agent) loadPersisted() {
	a.loadKind("services", func(b []byte) (string, error) {
		var def serviceDefinition
		if err := json.Unmarshal(b, &def); err != nil {
			return "", err
		}
		if a.local.serviceList()[def.serviceID()] != nil {
			return def.serviceID(), errConfigured
		}
		return def.serviceID(), a.local.addService(a.lifetime(), &def, false, sourceAPI)
	})
	a.loadKind("checks", func(b []byte) (string, error) {
		var def checkDefinition
		if err := json.Unmarshal(b, &def); err != nil {
			return "", err
		}
		if _, ok := a.local.checkList()[def.checkID()]; ok {
			return def.checkID(), errConfigured
		}
		return def.checkID(), a.local.addCheck(a.lifetime(), &def, sourceAPI)
	})
}

func (a *Agent) loadKind(kind string, add func([]byte) (string, error)) {
	dir := a.persistDir(kind)
	if dir == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		a.logger.Error("reading the kept definitions", "dir", dir, "error", err)
		return
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			a.logger.Error("skipping a kept definition that cannot be read", "file", path, "error", err)
			continue
		}
		id, err := add(b)
		switch {
		case err == nil || isUnavailable(err):
			a.logger.Debug("restored a definition registered through the API", "kind", kind, "id", id)
		case id == "": // not JSON of a definition: leave it for an operator to look at
			a.logger.Error("skipping a kept definition that does not decode", "file", path, "error", err)
		default:
			a.logger.Warn("dropping a kept definition the agent refuses now", "kind", kind, "id", id, "error", err)
			os.Remove(path)
		}
	}
}
