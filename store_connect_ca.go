// store_connect_ca.go: the built-in CA's state in the state store
// (Consul's connect-ca-roots, connect-ca-config and CA provider state
// tables, as one record).
//
// It holds the cluster ID (the trust domain is "<cluster-id>.consul"),
// the CA configuration, every root (the active one and those rotated out,
// each with its private key, which no API returns), and the index of the
// last issued leaf. It is written only through the log (cmdConnectCA):
//
//	caInit       the first leader's root and the cluster ID (once: a second
//	             init, from a leader that raced, changes nothing)
//	caSetConfig  PUT /v1/connect/ca/configuration: the new configuration,
//	             and with a new root, the rotation (the others go inactive);
//	             a check-and-set on the active root it was computed from
//	caLeaf       one issued leaf: its log index is the leaf's serial and
//	             index (Consul's CALeafOpIncrementIndex)
//
// Keys, certificates, serials and times are all made before the command
// (server_connect_ca.go): apply only stores them. A roots change wakes the
// watchers of indexConnectCARoots (blocking /v1/connect/ca/roots).
// Snapshots carry the record (tagConnectCA).
//
// Concurrency: same rules as store.go: written only inside apply (copy on
// write: a stored record and its roots slice are never modified), read
// from immutable snapshots by any goroutine.
package main

import (
	"errors"
	"time"
)

const (
	cmdConnectCA        commandType = "connect-ca"
	indexConnectCARoots             = "connect-ca-roots"
)

// CARoot is one root, in the JSON shape of Consul's /v1/connect/ca/roots.
type CARoot struct {
	ID                  string // SHA-1 fingerprint, colon hex
	Name                string
	SerialNumber        uint64
	SigningKeyID        string // Subject Key Identifier, colon hex
	ExternalTrustDomain string // the cluster ID
	NotBefore           time.Time
	NotAfter            time.Time
	RootCert            string
	IntermediateCerts   []string // this root cross-signed by the one it replaced
	Active              bool
	PrivateKeyType      string
	PrivateKeyBits      int
	CreateIndex         uint64
	ModifyIndex         uint64
}

// caStoredRoot is a root as the state keeps it: with its private key.
type caStoredRoot struct {
	CARoot
	PrivateKey string
}

// CAConfiguration is the JSON of /v1/connect/ca/configuration.
type CAConfiguration struct {
	Provider                 string
	Config                   map[string]any
	State                    map[string]string
	ForceWithoutCrossSigning bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// connectCAState is the CA's whole record.
type connectCAState struct {
	ClusterID string
	Config    CAConfiguration
	Roots     []caStoredRoot // in the order they were made: the active one last
	LeafIndex uint64         // log index of the last issued leaf
}

type caOp string

const (
	caInit      caOp = "init"
	caSetConfig caOp = "set-config"
	caLeaf      caOp = "leaf"
)

// connectCARequest is a CA command (the file comment).
type connectCARequest struct {
	Op        caOp
	ClusterID string           `json:",omitempty"` // caInit
	Config    *CAConfiguration `json:",omitempty"` // caInit, caSetConfig
	NewRoot   *caStoredRoot    `json:",omitempty"` // caInit; caSetConfig when it rotates
	// ActiveRootID is the active root the change was computed from
	// (caSetConfig): if another change came first, this one is not applied.
	ActiveRootID string `json:",omitempty"`
	// ModifyIndex, when the user's configuration carries one (caSetConfig),
	// must be the stored configuration's: Consul's check-and-set, whose
	// failure is an error, not a lost race.
	ModifyIndex uint64 `json:",omitempty"`
}

// applyConnectCA applies a CA command; ok is false when an init came
// second or a set-config's check-and-set lost.
func (t *txn) applyConnectCA(r *connectCARequest) (ok bool, err error) {
	cur := t.st.connectCA
	switch r.Op {
	case caInit:
		if cur != nil {
			return false, nil
		}
		if r.ClusterID == "" || r.Config == nil || r.NewRoot == nil {
			return false, errors.New("CA init needs a cluster ID, a configuration and a root")
		}
		cfg := *r.Config
		cfg.CreateIndex, cfg.ModifyIndex = t.index, t.index
		root := *r.NewRoot
		root.Active, root.CreateIndex, root.ModifyIndex = true, t.index, t.index
		t.st.connectCA = &connectCAState{ClusterID: r.ClusterID, Config: cfg, Roots: []caStoredRoot{root}}
		t.bump(indexConnectCARoots)
	case caSetConfig:
		if cur == nil {
			return false, errors.New("CA is uninitialized")
		}
		if r.Config == nil {
			return false, errors.New("CA configuration missing")
		}
		if r.ModifyIndex != 0 && r.ModifyIndex != cur.Config.ModifyIndex {
			return false, errors.New("ModifyIndex did not match existing")
		}
		if active := cur.activeRoot(); active == nil || active.ID != r.ActiveRootID {
			return false, nil
		}
		next := *cur
		next.Config = *r.Config
		next.Config.CreateIndex, next.Config.ModifyIndex = cur.Config.CreateIndex, t.index
		if r.NewRoot != nil {
			roots := make([]caStoredRoot, 0, len(cur.Roots)+1)
			for _, old := range cur.Roots {
				if old.Active {
					old.Active, old.ModifyIndex = false, t.index
				}
				roots = append(roots, old)
			}
			root := *r.NewRoot
			root.Active, root.CreateIndex, root.ModifyIndex = true, t.index, t.index
			next.Roots = append(roots, root)
			t.bump(indexConnectCARoots)
		}
		t.st.connectCA = &next
	case caLeaf:
		if cur == nil {
			return false, errors.New("CA is uninitialized")
		}
		next := *cur
		next.LeafIndex = t.index
		t.st.connectCA = &next
	default:
		return false, errors.New("unknown CA operation " + string(r.Op))
	}
	return true, nil
}

// activeRoot is the root that signs, or nil.
func (c *connectCAState) activeRoot() *caStoredRoot {
	for i := range c.Roots {
		if c.Roots[i].Active {
			return &c.Roots[i]
		}
	}
	return nil
}

// trustDomain is "<cluster-id>.consul".
func (c *connectCAState) trustDomain() string { return c.ClusterID + ".consul" }

// CARootList is the JSON of /v1/connect/ca/roots.
type CARootList struct {
	ActiveRootID string
	TrustDomain  string
	Roots        []CARoot
}

// caRoots lists the roots without their keys, and the roots' index. Before
// the first leader made the CA, the list is empty, as Consul's.
func (st *state) caRoots() (CARootList, uint64) {
	idx := st.tableIndex(indexConnectCARoots)
	ca := st.connectCA
	if ca == nil {
		return CARootList{Roots: []CARoot{}}, idx
	}
	out := CARootList{TrustDomain: ca.trustDomain(), Roots: make([]CARoot, 0, len(ca.Roots))}
	for _, r := range ca.Roots {
		out.Roots = append(out.Roots, r.CARoot)
		if r.Active {
			out.ActiveRootID = r.ID
		}
	}
	return out, idx
}
