// connect_intention.go: intentions, the mesh's service-to-service
// authorization: which source service may open a connection to which
// destination.
//
// Intentions are stored as service-intentions config entries (Consul ≥
// 1.9, store_config_entry.go): one entry per destination, one source per
// intention. This file turns entries into Consul's flat Intention records
// (the older /v1/connect/intentions API shows them, http_connect_intention.go),
// orders them by precedence, and decides a connection:
//
//	entries → intentionsOf → sortIntentions (precedence, then names)
//	        → the first whose source and destination match → allow/deny
//	        → none: intentionDefault (the ACL default policy's place)
//
// Precedence is Consul's (docs: "Intention precedence"; its
// Intention.UpdatePrecedence): exact destination 9 with an exact source, 8
// with "*"; destination "*" 6 and 5. The highest matching one decides, so
// an exact intention always wins over a wildcard.
//
// Pure functions over entries: no state, no concurrency.
package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Intention actions and the source type, as Consul's.
const (
	intentionAllow        = "allow"
	intentionDeny         = "deny"
	intentionSourceConsul = "consul"
	intentionWildcard     = "*"
	intentionNamespace    = "default" // namespaces are Consul Enterprise's
)

// intentionPrecedence is an intention's precedence from its source and
// destination names (Consul's UpdatePrecedence without namespace
// wildcards): 9 exact → exact, 8 * → exact, 6 exact → *, 5 * → *.
func intentionPrecedence(source, destination string) int {
	max := 9
	if destination == intentionWildcard {
		max = 6
	}
	if source == intentionWildcard {
		return max - 1
	}
	return max
}

// Intention is one intention in the JSON shape of Consul's
// /v1/connect/intentions for intentions kept in config entries, with the
// entry's indexes: one written by ID (a legacy one) shows its ID, times,
// Meta and Hash; any other has none of them and the entry's Meta.
type Intention struct {
	CreatedAt       *time.Time `json:",omitempty" bexpr:"-"` // bexpr:"-": not selectable in ?filter, as Consul's
	UpdatedAt       *time.Time `json:",omitempty" bexpr:"-"`
	ID              string     `json:",omitempty"`
	Description     string     `json:",omitempty"`
	SourceNS        string
	SourceName      string
	DestinationNS   string
	DestinationName string
	SourceType      string
	Action          string
	Meta            map[string]string `json:",omitempty"`
	Precedence      int
	Hash            []byte `json:",omitempty" bexpr:"-"`
	CreateIndex     uint64 `bexpr:"-"`
	ModifyIndex     uint64 `bexpr:"-"`
}

// String is Consul's Intention.String, the text of authorize's Reason.
func (x *Intention) String() string {
	return fmt.Sprintf("%s/%s => %s/%s (Precedence: %d, Action: %s)",
		x.SourceNS, x.SourceName, x.DestinationNS, x.DestinationName, x.Precedence, strings.ToUpper(x.Action))
}

// intentionsOf flattens service-intentions entries into intentions, sorted.
func intentionsOf(entries []*ServiceIntentionsEntry) []*Intention {
	out := []*Intention{}
	for _, e := range entries {
		for _, src := range e.Sources {
			x := &Intention{Description: src.Description,
				SourceNS: intentionNamespace, SourceName: src.Name,
				DestinationNS: intentionNamespace, DestinationName: e.Name,
				SourceType: intentionSourceConsul, Action: src.Action, Meta: e.Meta,
				Precedence: intentionPrecedence(src.Name, e.Name), CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex}
			if src.LegacyID != "" {
				x.ID, x.Meta, x.CreatedAt, x.UpdatedAt = src.LegacyID, src.LegacyMeta, src.LegacyCreateTime, src.LegacyUpdateTime
				x.Hash = x.legacyHash()
			}
			out = append(out, x)
		}
	}
	sortIntentions(out)
	return out
}

// sortIntentions orders by precedence, highest first, then by source and
// destination name (Consul's IntentionPrecedenceSorter: the order among
// equals is arbitrary but deterministic).
func sortIntentions(ixns []*Intention) {
	sort.SliceStable(ixns, func(i, j int) bool {
		a, b := ixns[i], ixns[j]
		if a.Precedence != b.Precedence {
			return a.Precedence > b.Precedence
		}
		if a.SourceName != b.SourceName {
			return a.SourceName < b.SourceName
		}
		return a.DestinationName < b.DestinationName
	})
}

// intentionMatches: the intentions that apply to name as a source (by
// "source") or as a destination (by "destination"), the wildcard ones
// included, in precedence order (Consul's Intention.Match).
func intentionMatches(ixns []*Intention, by, name string) []*Intention {
	out := []*Intention{}
	for _, x := range ixns {
		field := x.DestinationName
		if by == "source" {
			field = x.SourceName
		}
		if field == name || field == intentionWildcard {
			out = append(out, x)
		}
	}
	return out
}

// intentionDecision is whether source (in namespace sourceNS) may connect
// to destination, and why: the first intention in precedence order that
// matches both decides; without one, intentionDefault does.
func intentionDecision(cfg *Config, ixns []*Intention, sourceNS, source, destination string) (allowed bool, reason string) {
	for _, x := range ixns {
		if x.SourceNS == sourceNS && (x.SourceName == source || x.SourceName == intentionWildcard) &&
			(x.DestinationName == destination || x.DestinationName == intentionWildcard) {
			return x.Action == intentionAllow, "Matched L4 intention: " + x.String()
		}
	}
	return intentionDefault(cfg), "Default behavior configured by ACLs"
}

// intentionDefault is the decision when no intention matches: the ACL
// default policy (acl.default_policy "allow" or "deny", Consul's
// intention default) when ACLs are enabled; without ACLs, Consul allows.
func intentionDefault(cfg *Config) bool { return !cfg.ACL.Enabled || cfg.ACL.DefaultPolicy != "deny" }
