package main

import (
	"strings"
	"testing"
	"time"
)

// TestIntentionLegacyAPI: the ID-based intentions API kept in
// service-intentions entries, with Consul 1.22.7's answers and entry
// shape (checked on the real binary); Consul's Go client test
// TestAPI_ConnectIntentionCreateListGetUpdateDelete in short.
func TestIntentionLegacyAPI(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	var created struct{ ID string }
	ta.must("POST", "/v1/connect/intentions",
		`{"SourceName":"api","DestinationName":"db","Action":"allow","Description":"d","Meta":{"a":"b"},"Precedence":3,"CreatedAt":"0001-01-01T00:00:00Z"}`, &created)
	id := created.ID
	if _, err := parseIntentionID(id); err != nil {
		t.Fatalf("ID %q: %v", id, err)
	}

	var got Intention
	ta.must("GET", "/v1/connect/intentions/"+id, "", &got)
	if got.ID != id || got.SourceName != "api" || got.DestinationName != "db" || got.Action != "allow" ||
		got.Description != "d" || got.Meta["a"] != "b" || got.Precedence != 9 || got.SourceType != "consul" ||
		got.CreatedAt == nil || !got.CreatedAt.Equal(*got.UpdatedAt) || len(got.Hash) == 0 {
		t.Fatalf("get: %+v", got)
	}
	var list []Intention
	ta.must("GET", "/v1/connect/intentions", "", &list)
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("list: %+v", list)
	}
	var entry ServiceIntentionsEntry
	ta.must("GET", "/v1/config/service-intentions/db", "", &entry)
	if s := entry.Sources[0]; s.LegacyID != id || s.LegacyMeta["a"] != "b" || s.LegacyCreateTime == nil || s.LegacyUpdateTime == nil {
		t.Fatalf("entry: %+v", s)
	}

	// An update keeps the ID and the creation time; the source may change.
	ta.must("PUT", "/v1/connect/intentions/"+id, `{"ID":"ignored","SourceName":"api2","DestinationName":"db","Action":"deny"}`, &created)
	var upd Intention
	ta.must("GET", "/v1/connect/intentions/"+strings.ToUpper(id), "", &upd)
	if created.ID != id || upd.ID != id || upd.SourceName != "api2" || upd.Action != "deny" || upd.Meta != nil ||
		!upd.CreatedAt.Equal(*got.CreatedAt) || !upd.UpdatedAt.After(*got.UpdatedAt) || upd.ModifyIndex <= got.ModifyIndex {
		t.Fatalf("updated: %+v", upd)
	}
	if r := ta.do("GET", "/v1/connect/intentions/check?source=api2&destination=db", ""); !strings.Contains(r.body, `"Allowed":false`) {
		t.Fatalf("check: %s", r.body)
	}

	missing := "eaf79097-eee0-47a2-4794-53aa6d194f89"
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/v1/connect/intentions", `{"SourceName":"api2","DestinationName":"db","Action":"allow"}`, 500, `Sources[1] defines "api2" more than once`},
		{"POST", "/v1/connect/intentions", `{"SourceName":"x","DestinationName":"db"}`, 500, "1 error occurred:\n\t* Action must be set to 'allow' or 'deny'\n\n"},
		{"POST", "/v1/connect/intentions", `{"DestinationName":"db","Action":"allow","SourceType":"x"}`, 500,
			"2 errors occurred:\n\t* SourceName must be set\n\t* SourceType must be set to 'consul'\n\n"},
		{"POST", "/v1/connect/intentions", `{"ID":"` + id + `","SourceName":"y","DestinationName":"db","Action":"allow"}`, 500, `ID must be empty when creating a new intention`},
		{"POST", "/v1/connect/intentions", ``, 500, `Failed to decode request body: EOF`},
		{"POST", "/v1/connect/intentions", `{"Foo":1}`, 500, `Failed to decode request body: json: unknown field "Foo"`},
		{"POST", "/v1/connect/intentions", `{"SourceNS":"foo","SourceName":"y","DestinationName":"db","Action":"allow"}`, 400,
			`Invalid SourceNS(foo): Namespaces is a Consul Enterprise feature`},
		{"GET", "/v1/connect/intentions/hello", "", 400, `failed config entry lookup: index error: UUID must be 36 characters`},
		{"GET", "/v1/connect/intentions/eaf79097-eee0-47a2-4794-53aa6d194fzz", "", 400,
			`failed config entry lookup: index error: Invalid UUID: encoding/hex: invalid byte: U+007A 'z'`},
		{"GET", "/v1/connect/intentions/eaf79097xeee0-47a2-4794-53aa6d194f88", "", 500,
			`failed config entry lookup: index error: Input (without hyphens) must be even length`},
		{"GET", "/v1/connect/intentions/" + missing, "", 404, `Intention not found`},
		{"PUT", "/v1/connect/intentions/hello", `{}`, 500, `Intention lookup failed: failed config entry lookup: index error: UUID must be 36 characters`},
		{"PUT", "/v1/connect/intentions/" + missing, `{}`, 500, `Cannot modify non-existent intention: '` + missing + `'`},
		{"PUT", "/v1/connect/intentions/" + id, ``, 400, `Request decode failed: EOF`},
		{"PUT", "/v1/connect/intentions/" + id, `{"SourceName":"a","DestinationName":"web","Action":"allow"}`, 500,
			`Cannot modify Destination partition/namespace/name for an intention once it exists.`},
		{"PUT", "/v1/connect/intentions/" + id, `{"SourceName":"a","DestinationName":"db"}`, 500, `Action must be set to 'allow' or 'deny'`},
		{"DELETE", "/v1/connect/intentions/hello", "", 500, `Intention lookup failed: failed config entry lookup: index error: UUID must be 36 characters`},
		{"DELETE", "/v1/connect/intentions/" + missing, "", 500, `Cannot delete non-existent intention: '` + missing + `'`},
		{"PATCH", "/v1/connect/intentions/" + id, "", 405, `method PATCH not allowed`},
		// An entry written otherwise is no longer the legacy API's; its intentions lose their IDs.
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"web","Sources":[{"Name":"a","Action":"allow","LegacyID":"` + missing + `"}]}`, 200, `true`},
		{"GET", "/v1/config/service-intentions/web", "", 200, `"Sources":[{"Name":"a","Action":"allow","Precedence":9,"Type":"consul"}]`},
		{"POST", "/v1/connect/intentions", `{"SourceName":"b","DestinationName":"web","Action":"allow"}`, 500,
			`cannot use legacy intention API to edit intentions with a destination of "web" after editing them via a service-intentions config entry`},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"web","Sources":[{"Name":"a","Action":"allow","LegacyMeta":{"k":"v"}}]}`, 500,
			`Sources[0].LegacyMeta must be omitted`},
		{"PUT", "/v1/connect/intentions/exact?source=api2&destination=db", `{"Action":"allow"}`, 200, `true`},
		{"GET", "/v1/connect/intentions/" + id, "", 404, `Intention not found`},
		{"GET", "/v1/config/service-intentions/db", "", 200, `"Sources":[{"Name":"api2","Action":"allow","Precedence":9,"Type":"consul"}]`},
	}
	for _, s := range steps {
		r := ta.do(s.method, s.path, s.body)
		if r.code != s.code || !strings.Contains(r.body, s.want) {
			t.Errorf("%s %s %s: got %d %q, want %d containing %q", s.method, s.path, s.body, r.code, r.body, s.code, s.want)
		}
	}

	// A refused write leaves the stored entry as it was (the write works
	// on a copy): the legacy intention keeps its ID.
	ta.must("POST", "/v1/connect/intentions", `{"SourceName":"m1","DestinationName":"metadst","Action":"deny","Meta":{"m":"1"}}`, &created)
	if r := ta.do("PUT", "/v1/connect/intentions/exact?source=m2&destination=metadst", `{"Action":"allow"}`); r.code != 500 ||
		r.body != "Sources[0].LegacyMeta must be omitted" {
		t.Fatalf("exact PUT over legacy Meta: %d %s", r.code, r.body)
	}
	if r := ta.do("GET", "/v1/connect/intentions/"+created.ID, ""); r.code != 200 {
		t.Fatalf("legacy intention after a refused write: %d %s", r.code, r.body)
	}

	// Delete: the entry goes with its last source.
	ta.must("POST", "/v1/connect/intentions", `{"SourceName":"a","DestinationName":"api","Action":"allow"}`, &created)
	if r := ta.must("DELETE", "/v1/connect/intentions/"+created.ID, "", nil); r.body != "true" {
		t.Fatalf("delete: %s", r.body)
	}
	if r := ta.do("GET", "/v1/config/service-intentions/api", ""); r.code != 404 {
		t.Fatalf("entry after delete: %d %s", r.code, r.body)
	}
}

// TestIntentionLegacyValidate: an entry is all legacy (IDs and times on
// every source, no entry Meta) or has no legacy field at all, as Consul's
// validate(legacyWrite); snapshots restore either kind.
func TestIntentionLegacyValidate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	src := func(id string, created, updated *time.Time, meta map[string]string) *SourceIntention {
		return &SourceIntention{Name: "s" + id, Action: intentionAllow, LegacyID: id, LegacyCreateTime: created, LegacyUpdateTime: updated, LegacyMeta: meta}
	}
	cases := []struct {
		name    string
		entry   ServiceIntentionsEntry
		wantErr string
	}{
		{"legacy", ServiceIntentionsEntry{Sources: []*SourceIntention{src("1", &now, &now, map[string]string{"k": "v"})}}, ""},
		{"plain", ServiceIntentionsEntry{Sources: []*SourceIntention{src("", nil, nil, nil)}}, ""},
		{"legacy without times", ServiceIntentionsEntry{Sources: []*SourceIntention{src("1", nil, &now, nil)}}, "Sources[0].LegacyCreateTime must be set"},
		{"legacy without update", ServiceIntentionsEntry{Sources: []*SourceIntention{src("1", &now, nil, nil)}}, "Sources[0].LegacyUpdateTime must be set"},
		{"legacy with entry meta", ServiceIntentionsEntry{Meta: map[string]string{"k": "v"}, Sources: []*SourceIntention{src("1", &now, &now, nil)}},
			"Meta must be omitted for legacy intention writes"},
		{"mixed", ServiceIntentionsEntry{Sources: []*SourceIntention{src("", nil, nil, nil), src("2", &now, &now, nil)}}, "Sources[1].LegacyCreateTime must be omitted"},
		{"plain with meta", ServiceIntentionsEntry{Sources: []*SourceIntention{src("", nil, nil, map[string]string{"k": "v"})}}, "Sources[0].LegacyMeta must be omitted"},
	}
	for _, c := range cases {
		c.entry.Kind, c.entry.Name = kindServiceIntentions, "db"
		err := (&configEntry{ServiceIntentions: &c.entry}).validate()
		if (err == nil) != (c.wantErr == "") || err != nil && err.Error() != c.wantErr {
			t.Errorf("%s: got %v, want %q", c.name, err, c.wantErr)
		}
	}
}

// TestIntentionSourcesSorted: an entry's sources are kept in precedence
// order, equals in their given order, as Consul 1.22.7 answers.
func TestIntentionSourcesSorted(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-intentions","Name":"db","Sources":[{"Name":"*","Action":"deny"},{"Name":"web","Action":"allow"},{"Name":"api","Action":"allow"}]}`, nil)
	ta.must("PUT", "/v1/connect/intentions/exact?source=x&destination=db", `{"Action":"allow"}`, nil)
	var entry ServiceIntentionsEntry
	ta.must("GET", "/v1/config/service-intentions/db", "", &entry)
	var names []string
	for _, s := range entry.Sources {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "web api x *" {
		t.Fatalf("sources %q, want %q", got, "web api x *")
	}
}
