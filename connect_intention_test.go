package main

import (
	"strings"
	"testing"
)

// TestIntentionPrecedence: Consul's precedence table (without namespace
// wildcards).
func TestIntentionPrecedence(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		src, dst string
		want     int
	}{
		{"web", "api", 9},
		{"*", "api", 8},
		{"web", "*", 6},
		{"*", "*", 5},
	} {
		if got := intentionPrecedence(c.src, c.dst); got != c.want {
			t.Errorf("%s → %s: precedence %d, want %d", c.src, c.dst, got, c.want)
		}
	}
}

// TestIntentionDecision: the highest-precedence match decides, an exact
// intention beats every wildcard, and no match is the default (allow).
func TestIntentionDecision(t *testing.T) {
	t.Parallel()
	entries := []*ServiceIntentionsEntry{
		{Name: "api", Sources: []*SourceIntention{{Name: "web", Action: "allow"}, {Name: "*", Action: "deny"}}},
		{Name: "*", Sources: []*SourceIntention{{Name: "db", Action: "deny"}, {Name: "*", Action: "deny"}}},
		{Name: "billing", Sources: []*SourceIntention{{Name: "db", Action: "allow"}}},
	}
	ixns := intentionsOf(entries)
	for _, c := range []struct {
		ns, src, dst string
		allowed      bool
		reason       string
	}{
		{"default", "web", "api", true, "Matched L4 intention: default/web => default/api (Precedence: 9, Action: ALLOW)"},
		{"default", "db", "api", false, "Matched L4 intention: default/* => default/api (Precedence: 8, Action: DENY)"},
		{"default", "db", "billing", true, "Matched L4 intention: default/db => default/billing (Precedence: 9, Action: ALLOW)"},
		{"default", "db", "other", false, "Matched L4 intention: default/db => default/* (Precedence: 6, Action: DENY)"},
		{"default", "web", "other", false, "Matched L4 intention: default/* => default/* (Precedence: 5, Action: DENY)"},
		{"other-ns", "web", "api", true, "Default behavior configured by ACLs"},
	} {
		allowed, reason := intentionDecision(defaultConfig(), ixns, c.ns, c.src, c.dst)
		if allowed != c.allowed || reason != c.reason {
			t.Errorf("%s/%s → %s: %v %q, want %v %q", c.ns, c.src, c.dst, allowed, reason, c.allowed, c.reason)
		}
	}
	if allowed, reason := intentionDecision(defaultConfig(), nil, "default", "a", "b"); !allowed || reason != "Default behavior configured by ACLs" {
		t.Errorf("no intentions: %v %q", allowed, reason)
	}
	deny := defaultConfig()
	deny.ACL.Enabled, deny.ACL.DefaultPolicy = true, "deny"
	if allowed, _ := intentionDecision(deny, nil, "default", "a", "b"); allowed {
		t.Error("no intentions with acl.default_policy deny: allowed")
	}
}

// TestIntentionOrder: by precedence, then source, then destination name
// (Consul's IntentionPrecedenceSorter); match includes the wildcards.
func TestIntentionOrder(t *testing.T) {
	t.Parallel()
	ixns := intentionsOf([]*ServiceIntentionsEntry{
		{Name: "*", Sources: []*SourceIntention{{Name: "web", Action: "allow"}}},
		{Name: "api", Sources: []*SourceIntention{{Name: "web", Action: "deny"}, {Name: "*", Action: "deny"}, {Name: "db", Action: "allow"}}},
	})
	var got []string
	for _, x := range ixns {
		got = append(got, x.SourceName+">"+x.DestinationName)
	}
	want := "db>api web>api *>api web>*"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("order %q, want %q", s, want)
	}
	got = got[:0]
	for _, x := range intentionMatches(ixns, "source", "web") {
		got = append(got, x.SourceName+">"+x.DestinationName)
	}
	if s := strings.Join(got, " "); s != "web>api *>api web>*" {
		t.Fatalf("match by source web: %q", s)
	}
	got = got[:0]
	for _, x := range intentionMatches(ixns, "destination", "billing") {
		got = append(got, x.SourceName+">"+x.DestinationName)
	}
	if s := strings.Join(got, " "); s != "web>*" {
		t.Fatalf("match by destination billing: %q", s)
	}
}
