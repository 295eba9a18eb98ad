// http_connect_intention_legacy.go: the ID-based intentions API, Consul's
// oldest form (deprecated since 1.9, still served by 1.22.7 and still
// used by its Go client's IntentionCreate/Get/Update/Delete):
//
//	POST   /v1/connect/intentions        body: an Intention → {"ID":"<uuid>"}
//	GET    /v1/connect/intentions/<id>   the intention (404 Intention not found)
//	PUT    /v1/connect/intentions/<id>   body: an Intention → {"ID":"<id>"}
//	DELETE /v1/connect/intentions/<id>   true
//
// As in Consul ≥1.9 (its intention_endpoint.go and state/intention.go),
// there is no table of intentions: each is one source of its
// destination's service-intentions entry, carrying LegacyID, LegacyMeta
// and LegacyCreateTime/LegacyUpdateTime (store_config_entry.go). The ID
// and the times are made here, before the command, so apply stays
// deterministic. A write is a read-modify-write of the entry, applied as
// a check-and-set on its ModifyIndex and retried when another write got
// in between (as the exact API, http_connect_intention.go). An entry is
// either all legacy (every source has an ID) or not at all: once it is
// written as a config entry or through the exact API its IDs are gone,
// and the ID-based API refuses to touch it, with Consul's message.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go).
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// intentionRequest is the body of the intentions API's writes: Consul's
// Intention, every field its Go client sends (Consul's decoder refuses
// unknown ones). The mesh features behind Permissions, JWT, peers,
// partitions and sameness groups are not miniconsul's: they are decoded
// to be refused, never stored.
type intentionRequest struct {
	ID, Description                       string
	SourceNS, SourceName                  string
	DestinationNS, DestinationName        string
	SourcePartition, DestinationPartition string
	SourcePeer, SourceSamenessGroup       string
	SourceType, Action                    string
	Permissions                           []json.RawMessage
	JWT                                   json.RawMessage
	DefaultAddr                           string
	DefaultPort                           int
	Meta                                  map[string]string
	Precedence                            int
	CreatedAt, UpdatedAt                  time.Time
	Hash                                  []byte
	CreateIndex, ModifyIndex              uint64
}

// Consul's limits on an intention's opaque values (structs' metaMaxKeyPairs,
// metaKeyMaxLength, metaValueMaxLength).
const (
	intentionMetaMaxPairs  = 64
	intentionMetaKeyMax    = 128
	intentionMetaValueMax  = 512
	errLegacyNotConsulType = "SourceType must be set to 'consul'"
)

// intentionByID routes /v1/connect/intentions/<id>.
func (h *httpAPI) intentionByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/connect/intentions/")
	switch r.Method {
	case http.MethodGet:
		return h.intentionGetByID(w, r, id)
	case http.MethodPut:
		return h.intentionUpdateByID(w, r, id)
	}
	return h.intentionDeleteByID(r, id)
}

// intentionListOrCreate: GET /v1/connect/intentions lists, POST creates.
func (h *httpAPI) intentionListOrCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == http.MethodPost {
		return h.intentionCreate(w, r)
	}
	return h.intentionList(w, r)
}

// intentionCreate: POST /v1/connect/intentions, a new legacy intention.
// Errors are Consul's, most of them a 500 as Consul answers them.
func (h *httpAPI) intentionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	var ixn intentionRequest
	if err := decodeStrict(w, r, &ixn); err != nil {
		return nil, fmt.Errorf("Failed to decode request body: %s", strings.TrimPrefix(err.Error(), "Request decode failed: "))
	}
	if err := ixn.checkEnterprise(); err != nil {
		return nil, err
	}
	if ixn.ID != "" {
		return nil, errors.New("ID must be empty when creating a new intention")
	}
	if err := ixn.validate(); err != nil {
		return nil, err
	}
	if err := h.intentionWriteAllowed(r, ixn.DestinationName); err != nil {
		return nil, err
	}
	id, now := newUUID(), time.Now().UTC()
	err := h.rewriteIntentions(r, ixn.DestinationName, func(next *ServiceIntentionsEntry) error {
		next.Sources = append(next.Sources, ixn.source(id, now, now))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{ ID string }{id}, nil
}

// intentionGetByID: GET /v1/connect/intentions/<id>, blocking. A
// malformed ID is go-memdb's UUID index error, as Consul reports it: a
// 400 when the message names the UUID, else a 500.
func (h *httpAPI) intentionGetByID(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	if _, err := parseIntentionID(id); err != nil {
		e := fmt.Errorf("failed config entry lookup: index error: %v", err)
		if strings.Contains(e.Error(), "UUID") {
			return nil, badRequest("%v", e)
		}
		return nil, e
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	obj, err := h.allIntentions(w, r, func(ixns []*Intention) any {
		if x := intentionWithID(ixns, id); x != nil {
			return x
		}
		return nil
	})
	if err == nil && obj == nil {
		err = notFound("Intention not found")
	}
	if err == nil && !authz.intentionRead(obj.(*Intention)) {
		return nil, errPermissionDenied // Consul's, unnamed
	}
	return obj, err
}

// intentionWriteAllowed: writing an intention needs intention:write on its
// destination; Consul answers a refusal with a bare "Permission denied".
func (h *httpAPI) intentionWriteAllowed(r *http.Request, destination string) error {
	authz, err := h.authorize(r)
	if err != nil {
		return err
	}
	if !authz.allows(aclResIntention, aclWrite, destination) {
		return errPermissionDenied
	}
	return nil
}

// intentionUpdateByID: PUT /v1/connect/intentions/<id>, the intention
// replaced by the body (its source may change, its destination not); the
// ID in the body, if any, is ignored for the path's.
func (h *httpAPI) intentionUpdateByID(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	var ixn intentionRequest
	if err := decodeStrict(w, r, &ixn); err != nil {
		return nil, err
	}
	dest, err := h.legacyDestination(r, id, "modify")
	if err != nil {
		return nil, err
	}
	if err := h.intentionWriteAllowed(r, dest); err != nil {
		return nil, err
	}
	if ixn.DestinationName != dest {
		return nil, errors.New("Cannot modify Destination partition/namespace/name for an intention once it exists.")
	}
	if err := ixn.checkEnterprise(); err != nil {
		return nil, err
	}
	if err := ixn.validate(); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	err = h.rewriteIntentions(r, dest, func(next *ServiceIntentionsEntry) error {
		i := slices.IndexFunc(next.Sources, func(s *SourceIntention) bool { return sameIntentionID(s.LegacyID, id) })
		if i < 0 {
			return fmt.Errorf("Cannot modify non-existent intention: '%s'", id)
		}
		prev := next.Sources[i]
		next.Sources[i] = ixn.source(prev.LegacyID, *prev.LegacyCreateTime, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{ ID string }{id}, nil
}

// intentionDeleteByID: DELETE /v1/connect/intentions/<id>; the entry goes
// with its last source.
func (h *httpAPI) intentionDeleteByID(r *http.Request, id string) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	dest, err := h.legacyDestination(r, id, "delete")
	if err != nil {
		return nil, err
	}
	if err := h.intentionWriteAllowed(r, dest); err != nil {
		return nil, err
	}
	err = h.rewriteIntentions(r, dest, func(next *ServiceIntentionsEntry) error {
		i := slices.IndexFunc(next.Sources, func(s *SourceIntention) bool { return sameIntentionID(s.LegacyID, id) })
		if i < 0 {
			return fmt.Errorf("Cannot delete non-existent intention: '%s'", id)
		}
		next.Sources = slices.Delete(next.Sources, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return true, nil
}

// legacyDestination finds the destination of the legacy intention id,
// with Consul's messages for a malformed or unknown ID (verb: "modify"
// or "delete").
func (h *httpAPI) legacyDestination(r *http.Request, id, verb string) (string, error) {
	if _, err := parseIntentionID(id); err != nil {
		return "", fmt.Errorf("Intention lookup failed: failed config entry lookup: index error: %v", err)
	}
	if err := h.a.readBarrier(r.Context(), queryOptions{}); err != nil {
		return "", err
	}
	entries, _ := h.a.store.snapshot().configEntryList(kindServiceIntentions)
	for _, e := range entries {
		for _, src := range e.ServiceIntentions.Sources {
			if sameIntentionID(src.LegacyID, id) {
				return e.ServiceIntentions.Name, nil
			}
		}
	}
	return "", fmt.Errorf("Cannot %s non-existent intention: '%s'", verb, id)
}

// rewriteIntentions changes destination's entry with edit (a new entry
// if there is none) and writes it, or deletes it when no source is left:
// a check-and-set on the entry's ModifyIndex, read again and retried when
// another write got in between. Only an entry of legacy intentions may be
// edited (Consul's checkLegacyIntentionApplyAllowed).
func (h *httpAPI) rewriteIntentions(r *http.Request, destination string, edit func(*ServiceIntentionsEntry) error) error {
	for {
		if err := h.a.readBarrier(r.Context(), queryOptions{}); err != nil {
			return err
		}
		cur, _ := h.a.store.snapshot().configEntryGet(kindServiceIntentions, destination)
		req := &configEntryRequest{CAS: true}
		next := &ServiceIntentionsEntry{Kind: kindServiceIntentions, Name: destination}
		if cur != nil {
			if !cur.ServiceIntentions.legacy() {
				return fmt.Errorf("cannot use legacy intention API to edit intentions with a destination of %q after editing them via a service-intentions config entry", destination)
			}
			req.Index = cur.ServiceIntentions.ModifyIndex
			next = cur.ServiceIntentions.clone()
		}
		if err := edit(next); err != nil {
			return err
		}
		if len(next.Sources) == 0 {
			req.Op, req.Kind, req.Name = "delete", kindServiceIntentions, destination
		} else {
			next.sortSources()
			req.Op, req.Entry = "set", &configEntry{ServiceIntentions: next}
			if err := req.Entry.validate(); err != nil {
				return err
			}
		}
		ok, err := h.applyConfigEntry(r, req)
		if err != nil || ok {
			return err
		}
	}
}

// checkEnterprise refuses what only Consul Enterprise has (partitions,
// namespaces other than default), with Consul CE's messages, and fills in
// the default namespace.
func (x *intentionRequest) checkEnterprise() error {
	if x.DestinationPartition != "" && x.DestinationPartition != "default" {
		return badRequest("Cannot specify a destination partition with this endpoint")
	}
	if x.SourcePartition != "" && x.SourcePartition != "default" {
		return badRequest("Cannot specify a source partition with this endpoint")
	}
	for _, ns := range []struct{ field, val string }{{"SourceNS", x.SourceNS}, {"DestinationNS", x.DestinationNS}} {
		if ns.val != "" && ns.val != intentionNamespace {
			return badRequest("Invalid %s(%s): Namespaces is a Consul Enterprise feature", ns.field, ns.val)
		}
	}
	x.SourceNS, x.DestinationNS = intentionNamespace, intentionNamespace
	if x.SourceType == "" {
		x.SourceType = intentionSourceConsul
	}
	return nil
}

// validate is Consul's Intention.Validate for the legacy API: every
// problem at once, in its multi-error text.
func (x *intentionRequest) validate() error {
	var errs []string
	if x.SourceName == "" {
		errs = append(errs, "SourceName must be set")
	}
	if x.DestinationName == "" {
		errs = append(errs, "DestinationName must be set")
	}
	if x.SourceName != intentionWildcard && strings.Contains(x.SourceName, intentionWildcard) {
		errs = append(errs, "SourceName: wildcard character '*' cannot be used with partial values")
	}
	if x.DestinationName != intentionWildcard && strings.Contains(x.DestinationName, intentionWildcard) {
		errs = append(errs, "DestinationName: wildcard character '*' cannot be used with partial values")
	}
	if len(x.Description) > intentionMetaValueMax {
		errs = append(errs, fmt.Sprintf("Description exceeds maximum length %d", intentionMetaValueMax))
	}
	if len(x.Meta) > intentionMetaMaxPairs {
		errs = append(errs, fmt.Sprintf("Meta exceeds maximum element count %d", intentionMetaMaxPairs))
	}
	keys := make([]string, 0, len(x.Meta))
	for k := range x.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) > intentionMetaKeyMax {
			errs = append(errs, fmt.Sprintf("Meta key %q exceeds maximum length %d", k, intentionMetaKeyMax))
		}
		if len(x.Meta[k]) > intentionMetaValueMax {
			errs = append(errs, fmt.Sprintf("Meta value for key %q exceeds maximum length %d", k, intentionMetaValueMax))
		}
	}
	if x.Action != intentionAllow && x.Action != intentionDeny {
		errs = append(errs, "Action must be set to 'allow' or 'deny'")
	}
	if len(x.Permissions) > 0 {
		errs = append(errs, "Permissions must not be set when using the legacy APIs")
	}
	if x.SourceType != intentionSourceConsul {
		errs = append(errs, errLegacyNotConsulType)
	}
	if len(errs) > 0 {
		return multiError(errs)
	}
	return nil
}

// source is the intention as its destination entry's source, stored in
// normalized form (Type, Precedence) with its legacy ID and times.
func (x *intentionRequest) source(id string, created, updated time.Time) *SourceIntention {
	return &SourceIntention{Name: x.SourceName, Action: x.Action,
		Precedence: intentionPrecedence(x.SourceName, x.DestinationName),
		LegacyID:   id, Type: intentionSourceConsul, Description: x.Description, LegacyMeta: x.Meta,
		LegacyCreateTime: &created, LegacyUpdateTime: &updated}
}

// clone copies the entry and its sources, for a write to change without
// touching the stored entry (snapshots share it).
func (e *ServiceIntentionsEntry) clone() *ServiceIntentionsEntry {
	c := *e
	c.Sources = make([]*SourceIntention, len(e.Sources))
	for i, src := range e.Sources {
		s := *src
		c.Sources[i] = &s
	}
	return &c
}

// sortSources orders the sources by precedence, highest first, keeping
// the order of equals (Consul's normalize: the head of the list decides
// first). An entry with a missing source is left for validate to refuse.
func (e *ServiceIntentionsEntry) sortSources() {
	if slices.Contains(e.Sources, nil) {
		return
	}
	sort.SliceStable(e.Sources, func(i, j int) bool { return e.Sources[i].Precedence > e.Sources[j].Precedence })
}

// legacy reports whether the entry holds legacy intentions only (Consul's
// LegacyIDFieldsAreAllSet), which the ID-based API may edit.
func (e *ServiceIntentionsEntry) legacy() bool {
	for _, src := range e.Sources {
		if src == nil || src.LegacyID == "" {
			return false
		}
	}
	return len(e.Sources) > 0
}

// validateLegacy checks source i's legacy fields (Consul's validate(legacyWrite)):
// all of them in an entry of legacy intentions, none in any other.
func (src *SourceIntention) validateLegacy(i int, legacy bool) error {
	switch {
	case legacy && src.LegacyCreateTime == nil:
		return fmt.Errorf("Sources[%d].LegacyCreateTime must be set", i)
	case legacy && src.LegacyUpdateTime == nil:
		return fmt.Errorf("Sources[%d].LegacyUpdateTime must be set", i)
	case legacy:
		return nil
	case len(src.LegacyMeta) > 0:
		return fmt.Errorf("Sources[%d].LegacyMeta must be omitted", i)
	case src.LegacyCreateTime != nil:
		return fmt.Errorf("Sources[%d].LegacyCreateTime must be omitted", i)
	case src.LegacyUpdateTime != nil:
		return fmt.Errorf("Sources[%d].LegacyUpdateTime must be omitted", i)
	case src.LegacyID != "":
		return fmt.Errorf("Sources[%d].LegacyID must be omitted", i)
	}
	return nil
}

// parseIntentionID decodes an intention ID as go-memdb's UUID index does
// (Consul looks legacy IDs up through one), with its messages.
func parseIntentionID(id string) ([]byte, error) {
	if len(id) != 36 {
		return nil, errors.New("UUID must be 36 characters")
	}
	if n := strings.Count(id, "-"); n > 4 {
		return nil, fmt.Errorf(`UUID should have maximum of 4 "-"; got %d`, n)
	}
	hexits := strings.ReplaceAll(id, "-", "")
	if len(hexits)%2 != 0 {
		return nil, errors.New("Input (without hyphens) must be even length")
	}
	b, err := hex.DecodeString(hexits)
	if err != nil {
		return nil, fmt.Errorf("Invalid UUID: %v", err)
	}
	return b, nil
}

// sameIntentionID compares two IDs as the UUID index does: by their bytes
// (so case and hyphens do not matter).
func sameIntentionID(a, b string) bool {
	x, errA := parseIntentionID(a)
	y, errB := parseIntentionID(b)
	return errA == nil && errB == nil && string(x) == string(y)
}

// intentionWithID is the intention whose ID is id, nil if none.
func intentionWithID(ixns []*Intention, id string) *Intention {
	for _, x := range ixns {
		if x.ID != "" && sameIntentionID(x.ID, id) {
			return x
		}
	}
	return nil
}

// legacyHash is a legacy intention's Hash, over the fields Consul's
// Intention.SetHash covers (ID, description, names, type, action,
// precedence, meta in key order). Consul uses BLAKE2b-256, which is not
// in Go's standard library; SHA-256 gives the same kind of opaque
// content hash, and no client compares it with Consul's.
func (x *Intention) legacyHash() []byte {
	h := sha256.New()
	for _, s := range []string{x.ID, x.Description, x.SourceNS, x.SourceName, x.DestinationNS, x.DestinationName, x.SourceType, x.Action} {
		h.Write([]byte(s))
	}
	binary.Write(h, binary.LittleEndian, uint64(x.Precedence))
	keys := make([]string, 0, len(x.Meta))
	for k := range x.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte(x.Meta[k]))
	}
	return h.Sum(nil)
}
