// store_config_entry.go: config entries in the state store (Consul's
// config-entries table): central configuration of the service mesh, of
// the kinds service-defaults, proxy-defaults (one, named "global") and
// service-intentions (the intentions of one destination, connect_intention.go).
//
// An entry arrives from PUT /v1/config (http_config_entry.go), decoded and
// validated there, and reaches the table only through the log
// (cmdConfigEntry): apply validates it again (a command it refuses changes
// nothing), stamps CreateIndex/ModifyIndex and a content Hash, and bumps
// the table's index and the kind's, which wakes blocking queries on the
// kind (the agent's intention cache among them). Set and delete may be
// check-and-set on ModifyIndex (Consul's ?cas=). Snapshots carry the
// table (tagConfigEntry, store_snapshot.go).
//
// Concurrency: same rules as store.go: written only inside apply, read
// from immutable snapshots by any goroutine.
package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strings"
	"time"
)

// Config entry kinds (Consul's structs.ServiceDefaults, ProxyDefaults,
// ServiceIntentions).
const (
	kindServiceDefaults   = "service-defaults"
	kindProxyDefaults     = "proxy-defaults"
	kindServiceIntentions = "service-intentions"
	proxyDefaultsGlobal   = "global" // the only name proxy-defaults may have
)

// Index names of the table and of each kind in it.
const (
	indexConfigEntries    = "config-entries"
	indexConfigKindPrefix = "config-entries."
)

// AccessLogsConfig is proxy-defaults' access log block. The blocks shared
// with a proxy's own configuration (TransparentProxyConfig,
// MeshGatewayConfig, ExposeConfig) are connect_service.go's; a block always
// appears, as {} when empty.
type AccessLogsConfig struct {
	Enabled             bool   `json:",omitempty"`
	DisableListenerLogs bool   `json:",omitempty"`
	Type                string `json:",omitempty"`
	Path                string `json:",omitempty"`
	JSONFormat          string `json:",omitempty"`
	TextFormat          string `json:",omitempty"`
}

// ServiceDefaultsEntry is a service-defaults entry, as Consul's
// structs.ServiceConfigEntry (the fields miniconsul implements).
type ServiceDefaultsEntry struct {
	Kind                      string
	Name                      string
	Protocol                  string
	Mode                      string `json:",omitempty"`
	TransparentProxy          TransparentProxyConfig
	MutualTLSMode             string `json:",omitempty"`
	MeshGateway               MeshGatewayConfig
	Expose                    ExposeConfig
	ExternalSNI               string             `json:",omitempty"`
	Destination               *DestinationConfig `json:",omitempty"`
	MaxInboundConnections     int                `json:",omitempty"`
	LocalConnectTimeoutMs     int                `json:",omitempty"`
	LocalRequestTimeoutMs     int                `json:",omitempty"`
	BalanceInboundConnections string             `json:",omitempty"`
	Meta                      map[string]string  `json:",omitempty"`
	Hash                      uint64             `json:",omitempty"`
	CreateIndex               uint64             `bexpr:"-"` // not selectable in ?filter, as Consul's RaftIndex
	ModifyIndex               uint64             `bexpr:"-"`
}

// DestinationConfig is a service-defaults entry's Destination: a service
// outside the mesh (hostnames or IPs and a port) that transparent proxies
// may reach, as Consul's structs.DestinationConfig. Kept and validated;
// miniconsul's proxy has no transparent mode to route to it.
type DestinationConfig struct {
	Addresses []string `json:",omitempty"`
	Port      int      `json:",omitempty"`
}

// problems are Consul's validation errors of a Destination, in its order.
func (d *DestinationConfig) problems() []string {
	var out []string
	if len(d.Addresses) == 0 {
		out = append(out, "Destination must contain at least one valid address")
	}
	seen := map[string]bool{}
	for _, a := range d.Addresses {
		if seen[a] {
			out = append(out, fmt.Sprintf("Duplicate address '%s' is not allowed", a))
			continue
		}
		seen[a] = true
		if net.ParseIP(a) == nil && (strings.Contains(a, "*") || !isDomainName(a)) {
			out = append(out, fmt.Sprintf("Destination address '%s' is invalid Could not validate address %s as an IP or Hostname", a, a))
		}
	}
	if d.Port < 1 || d.Port > 65535 {
		out = append(out, fmt.Sprintf("Invalid Port number %d", d.Port))
	}
	return out
}

// isDomainName: a name of labels of 1 to 63 bytes, at most 253 in all
// without the final dot (RFC 1035 §2.3.4; what Consul's miekg/dns
// IsDomainName checks, which allows any bytes in a label).
func isDomainName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
	}
	return true
}

// ProxyDefaultsEntry is the proxy-defaults entry, as Consul's
// structs.ProxyConfigEntry. Config is opaque: it is merged into every
// sidecar's Proxy.Config.
type ProxyDefaultsEntry struct {
	Kind             string
	Name             string
	Config           map[string]any
	Mode             string `json:",omitempty"`
	TransparentProxy TransparentProxyConfig
	MutualTLSMode    string `json:",omitempty"`
	MeshGateway      MeshGatewayConfig
	Expose           ExposeConfig
	AccessLogs       AccessLogsConfig
	Meta             map[string]string `json:",omitempty"`
	Hash             uint64            `json:",omitempty"`
	CreateIndex      uint64
	ModifyIndex      uint64
}

// ServiceIntentionsEntry holds every intention whose destination is Name
// (a service, or "*" for all), as Consul's structs.ServiceIntentionsConfigEntry.
type ServiceIntentionsEntry struct {
	Kind        string
	Name        string
	Sources     []*SourceIntention
	Meta        map[string]string `json:",omitempty"`
	Hash        uint64            `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// SourceIntention is one source's intention towards the entry's
// destination (Consul's structs.SourceIntention, L4 only). Precedence and
// Type are derived, set by normalize. The Legacy fields are those of an
// intention written by ID through the older /v1/connect/intentions API
// (http_connect_intention_legacy.go): its ID, Meta and times, which
// Consul 1.22 keeps in the entry the same way; any other write of the
// entry drops them (normalize), as Consul's.
type SourceIntention struct {
	Name             string
	Action           string `json:",omitempty"`
	Precedence       int
	LegacyID         string `json:",omitempty"`
	Type             string
	Description      string            `json:",omitempty"`
	LegacyMeta       map[string]string `json:",omitempty"`
	LegacyCreateTime *time.Time        `json:",omitempty"`
	LegacyUpdateTime *time.Time        `json:",omitempty"`
}

// configEntry is the table's record and a command's body: exactly one
// kind's entry is set.
type configEntry struct {
	ServiceDefaults   *ServiceDefaultsEntry   `json:",omitempty"`
	ProxyDefaults     *ProxyDefaultsEntry     `json:",omitempty"`
	ServiceIntentions *ServiceIntentionsEntry `json:",omitempty"`
}

// body is the entry of the kind that is set (nil if none), as Consul
// answers it.
func (e *configEntry) body() any {
	switch {
	case e.ServiceDefaults != nil:
		return e.ServiceDefaults
	case e.ProxyDefaults != nil:
		return e.ProxyDefaults
	case e.ServiceIntentions != nil:
		return e.ServiceIntentions
	}
	return nil
}

// meta gives the kind, name and index fields of the entry that is set.
func (e *configEntry) meta() (kind, name string, create, modify *uint64, hash *uint64) {
	switch {
	case e.ServiceDefaults != nil:
		s := e.ServiceDefaults
		return s.Kind, s.Name, &s.CreateIndex, &s.ModifyIndex, &s.Hash
	case e.ProxyDefaults != nil:
		p := e.ProxyDefaults
		return p.Kind, p.Name, &p.CreateIndex, &p.ModifyIndex, &p.Hash
	case e.ServiceIntentions != nil:
		s := e.ServiceIntentions
		return s.Kind, s.Name, &s.CreateIndex, &s.ModifyIndex, &s.Hash
	}
	return "", "", nil, nil, nil
}

func (e *configEntry) kindName() (string, string) {
	k, n, _, _, _ := e.meta()
	return k, n
}

func (e *configEntry) modifyIndex() uint64 {
	_, _, _, m, _ := e.meta()
	return *m
}

// validConfigKind reports whether miniconsul stores entries of kind.
func validConfigKind(kind string) bool {
	return kind == kindServiceDefaults || kind == kindProxyDefaults || kind == kindServiceIntentions
}

// validProtocols are the protocols a service may speak (Consul's
// ValidateProtocol, lowercase; an empty one means tcp).
var validProtocols = []string{"", "tcp", "http", "http2", "grpc"}

// normalize puts an entry into its stored form, as Consul's Normalize:
// lowercase protocols; each source's Type and Precedence, and no legacy
// ID or times (LegacyMeta stays, for validate to refuse); sources in
// precedence order.
func (e *configEntry) normalize() {
	switch {
	case e.ServiceDefaults != nil:
		e.ServiceDefaults.Protocol = strings.ToLower(e.ServiceDefaults.Protocol)
	case e.ServiceIntentions != nil:
		for _, src := range e.ServiceIntentions.Sources {
			if src == nil {
				continue
			}
			src.Type = intentionSourceConsul
			src.Precedence = intentionPrecedence(src.Name, e.ServiceIntentions.Name)
			src.LegacyID, src.LegacyCreateTime, src.LegacyUpdateTime = "", nil, nil
		}
		e.ServiceIntentions.sortSources()
	}
}

// validate checks an entry with Consul's messages (its Validate methods).
func (e *configEntry) validate() error {
	// Exactly one kind's entry, whose Kind names it.
	kinds := map[string]bool{kindServiceDefaults: e.ServiceDefaults != nil,
		kindProxyDefaults: e.ProxyDefaults != nil, kindServiceIntentions: e.ServiceIntentions != nil}
	n := 0
	for _, set := range kinds {
		if set {
			n++
		}
	}
	if k, _ := e.kindName(); n != 1 || !kinds[k] {
		return fmt.Errorf("invalid config entry kind: %s", k)
	}
	kind, name := e.kindName()
	if name == "" {
		return errors.New("Name is required")
	}
	switch kind {
	case kindServiceDefaults:
		var errs []string
		if !slices.Contains(validProtocols, e.ServiceDefaults.Protocol) {
			errs = append(errs, "invalid value for protocol: "+e.ServiceDefaults.Protocol)
		}
		if d := e.ServiceDefaults.Destination; d != nil {
			errs = append(errs, d.problems()...)
		}
		if len(errs) > 0 {
			return multiError(errs)
		}
	case kindProxyDefaults:
		if name != proxyDefaultsGlobal {
			return fmt.Errorf("invalid name (%q), only %q is supported", name, proxyDefaultsGlobal)
		}
	case kindServiceIntentions:
		srcs := e.ServiceIntentions.Sources
		legacy := e.ServiceIntentions.legacy()
		if legacy && len(e.ServiceIntentions.Meta) > 0 {
			return errors.New("Meta must be omitted for legacy intention writes")
		}
		if len(srcs) == 0 {
			return errors.New("At least one source is required")
		}
		seen := map[string]bool{}
		for i, src := range srcs {
			switch {
			case src == nil:
				return fmt.Errorf("Sources[%d] is required", i)
			case src.Name == "":
				return fmt.Errorf("Sources[%d].Name is required", i)
			case seen[src.Name]:
				return fmt.Errorf("Sources[%d] defines %q more than once", i, src.Name)
			case src.Action != intentionAllow && src.Action != intentionDeny:
				return fmt.Errorf("Sources[%d].Action must be set to 'allow' or 'deny'", i)
			}
			if err := src.validateLegacy(i, legacy); err != nil {
				return err
			}
			seen[src.Name] = true
		}
	default:
		return fmt.Errorf("invalid config entry kind: %s", kind)
	}
	return nil
}

// configEntryRequest sets or deletes one entry. With CAS, a set needs the
// stored entry's ModifyIndex to be Index (0: no entry), and a delete needs
// it when an entry exists (a missing one is deleted already, as Consul).
type configEntryRequest struct {
	Op    string       // "set" or "delete"
	Entry *configEntry `json:",omitempty"` // set
	Kind  string       `json:",omitempty"` // delete
	Name  string       `json:",omitempty"` // delete
	CAS   bool         `json:",omitempty"`
	Index uint64       `json:",omitempty"`
}

func configEntryKey(kind, name string) string { return kind + "\x00" + name }

// applyConfigEntry sets or deletes an entry; ok is false when a CAS lost.
func (t *txn) applyConfigEntry(r *configEntryRequest) (ok bool, err error) {
	switch r.Op {
	case "set":
		if r.Entry == nil {
			return false, errors.New("config entry set without an entry")
		}
		if err := r.Entry.validate(); err != nil {
			return false, err
		}
		kind, name := r.Entry.kindName()
		key := configEntryKey(kind, name)
		cur, exists := t.st.configEntries.get(key)
		if r.CAS && (exists != (r.Index != 0) || exists && cur.modifyIndex() != r.Index) {
			return false, nil
		}
		next, err := r.Entry.withoutIndexes()
		if err != nil {
			return false, err
		}
		_, _, create, modify, hash := next.meta()
		*hash = next.contentHash()
		*create, *modify = t.index, t.index
		if exists {
			_, _, c, _, _ := cur.meta()
			*create = *c
		}
		t.st.configEntries = t.st.configEntries.set(key, next)
		t.bump(indexConfigEntries, indexConfigKindPrefix+kind)
		return true, nil
	case "delete":
		if !validConfigKind(r.Kind) {
			return false, fmt.Errorf("invalid config entry kind: %s", r.Kind)
		}
		key := configEntryKey(r.Kind, r.Name)
		cur, exists := t.st.configEntries.get(key)
		if !exists {
			return true, nil
		}
		if r.CAS && cur.modifyIndex() != r.Index {
			return false, nil
		}
		t.st.configEntries, _ = t.st.configEntries.delete(key)
		t.bump(indexConfigEntries, indexConfigKindPrefix+r.Kind)
		return true, nil
	}
	return false, fmt.Errorf("unknown config entry operation %q", r.Op)
}

// withoutIndexes is a deep copy of the entry with its indexes and hash
// zero: the stored record shares nothing with the command (whose decoding
// a leader keeps), and the hash covers the content alone.
func (e *configEntry) withoutIndexes() (*configEntry, error) {
	b, err := marshalExact(e)
	if err != nil {
		return nil, err
	}
	var out configEntry
	if err := unmarshalExact(b, &out); err != nil {
		return nil, err
	}
	_, _, create, modify, hash := out.meta()
	*create, *modify, *hash = 0, 0, 0
	return &out, nil
}

// contentHash is the Hash of an entry whose indexes and hash are zero
// (withoutIndexes). Consul reports one, of its own hashing; ours is
// FNV-1a of the JSON (map keys sorted), the same on every server.
func (e *configEntry) contentHash() uint64 {
	b, _ := marshalExact(e.body())
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// configEntryGet returns the entry kind/name (nil if none) and the kind's index.
func (st *state) configEntryGet(kind, name string) (*configEntry, uint64) {
	e, _ := st.configEntries.get(configEntryKey(kind, name))
	return e, st.tableIndex(indexConfigKindPrefix + kind)
}

// configEntryList returns a kind's entries in name order and the kind's index.
func (st *state) configEntryList(kind string) ([]*configEntry, uint64) {
	out := []*configEntry{}
	st.configEntries.ascendPrefix(kind+"\x00", "", func(_ string, e *configEntry) bool {
		out = append(out, e)
		return true
	})
	return out, st.tableIndex(indexConfigKindPrefix + kind)
}
