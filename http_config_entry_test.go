package main

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestConfigEntryAPI: /v1/config's answers, each checked against Consul
// 1.22.7's (bodies and status codes from the real binary).
func TestConfigEntryAPI(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	steps := []struct {
		method, path, body string
		code               int
		want               string // the whole body (trimmed), or with a trailing "…" its start
	}{
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"api","Protocol":"HTTP"}`, 200, `true`},
		{"GET", "/v1/config/service-defaults/api", "", 200,
			`{"Kind":"service-defaults","Name":"api","Protocol":"http","TransparentProxy":{},"MeshGateway":{},"Expose":{},"Hash":…`},
		// A write that changes nothing is skipped as done, CAS or not (Consul's shouldSkipOperation).
		{"PUT", "/v1/config?cas=1", `{"Kind":"service-defaults","Name":"api","Protocol":"http"}`, 200, `true`},
		{"PUT", "/v1/config?cas=0", `{"Kind":"service-defaults","Name":"api"}`, 200, `false`},
		{"PUT", "/v1/config?cas=99999", `{"Kind":"service-defaults","Name":"api"}`, 200, `false`},
		{"PUT", "/v1/config?cas=0", `{"Kind":"service-defaults","Name":"new"}`, 200, `true`},
		{"PUT", "/v1/config?cas=abc", `{"Kind":"service-defaults","Name":"api"}`, 500, `strconv.ParseUint: parsing "abc": invalid syntax`},
		{"PUT", "/v1/config", `{"kind":"service-defaults","name":"snake","mesh_gateway":{"mode":"local"},"Meta":{"k":"v"}}`, 200, `true`},
		{"GET", "/v1/config/service-defaults/snake", "", 200,
			`{"Kind":"service-defaults","Name":"snake","Protocol":"","TransparentProxy":{},"MeshGateway":{"Mode":"local"},"Expose":{},"Meta":{"k":"v"},"Hash":…`},
		{"PUT", "/v1/config", `{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"http"}}`, 200, `true`},
		{"GET", "/v1/config/proxy-defaults/global", "", 200,
			`{"Kind":"proxy-defaults","Name":"global","Config":{"protocol":"http"},"TransparentProxy":{},"MeshGateway":{},"Expose":{},"AccessLogs":{},"Hash":…`},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"web","Action":"deny"}]}`, 200, `true`},
		{"GET", "/v1/config/service-intentions/api", "", 200,
			`{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"web","Action":"deny","Precedence":9,"Type":"consul"}],"Hash":…`},
		{"GET", "/v1/config/service-defaults", "", 200, `[{"Kind":"service-defaults","Name":"api",…`},
		{"DELETE", "/v1/config/service-defaults/new", "", 200, `{}`},
		{"DELETE", "/v1/config/service-defaults/new", "", 200, `{}`},
		{"GET", "/v1/config/service-defaults/new", "", 404, `Config entry not found for "service-defaults" / "new"`},
		{"DELETE", "/v1/config/service-defaults/api?cas=1", "", 200, `false`},
		{"DELETE", "/v1/config/service-defaults/gone?cas=1", "", 200, `true`},
		{"DELETE", "/v1/config/service-defaults/api?cas=abc", "", 500, `strconv.ParseUint: parsing "abc": invalid syntax`},
		{"DELETE", "/v1/config/service-defaults", "", 404, `Must provide both a kind and name to delete`},
		{"DELETE", "/v1/config/bogus/x", "", 400, `invalid config entry kind: bogus`},
		{"GET", "/v1/config/bogus", "", 500, `invalid config entry kind: bogus`},
		{"GET", "/v1/config", "", 405, `method GET not allowed`},
		// Decoding: 400, Consul's messages.
		{"PUT", "/v1/config", `{"Kind":"bogus","Name":"api"}`, 400, `Request decoding failed: invalid config entry kind: bogus`},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"api","Bogus":1,"Other":2}`, 400,
			"Request decoding failed: 2 errors occurred:\n\t* invalid config key \"Bogus\"\n\t* invalid config key \"Other\""},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"a","Sources":[{"Name":"x","Action":"allow","Zap":1}]}`, 400,
			"Request decoding failed: 1 error occurred:\n\t* invalid config key \"Sources[0].Zap\""},
		{"PUT", "/v1/config", `{"Name":"x"}`, 400, `Request decoding failed: Payload does not contain a kind/Kind key at the top level`},
		{"PUT", "/v1/config", `{"Kind":5,"Name":"x"}`, 400, `Request decoding failed: Kind value in payload is not a string`},
		{"PUT", "/v1/config", ``, 400, `Request decoding failed: EOF`},
		{"PUT", "/v1/config", `nope`, 400, `Request decoding failed: invalid character 'o' in literal null (expecting 'u')`},
		{"PUT", "/v1/config", `[1]`, 400,
			`Request decoding failed: '' expected type 'map[string]interface {}', got unconvertible type '[]interface {}'`},
		// Validation: 500, Consul's messages.
		{"PUT", "/v1/config", `{"Kind":"proxy-defaults","Name":"other"}`, 500, `invalid name ("other"), only "global" is supported`},
		{"PUT", "/v1/config", `{"Kind":"service-defaults"}`, 500, `Name is required`},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"api","Protocol":"bogus"}`, 500,
			"1 error occurred:\n\t* invalid value for protocol: bogus"},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"a"}`, 500, `At least one source is required`},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"a","Sources":[{"Action":"allow"}]}`, 500, `Sources[0].Name is required`},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"a","Sources":[{"Name":"x","Action":"maybe"}]}`, 500,
			`Sources[0].Action must be set to 'allow' or 'deny'`},
		{"PUT", "/v1/config", `{"Kind":"service-intentions","Name":"a","Sources":[{"Name":"w","Action":"deny"},{"Name":"w","Action":"allow"}]}`, 500,
			`Sources[1] defines "w" more than once`},
	}
	for _, s := range steps {
		r := ta.do(s.method, s.path, s.body)
		got := strings.TrimSpace(r.body)
		ok := got == s.want
		if prefix, cut := strings.CutSuffix(s.want, "…"); cut {
			ok = strings.HasPrefix(got, prefix)
		}
		if r.code != s.code || !ok {
			t.Errorf("%s %s %s: got %d %q, want %d %q", s.method, s.path, s.body, r.code, got, s.code, s.want)
		}
	}

	// A CAS with the current ModifyIndex wins; CreateIndex stays.
	var e ServiceDefaultsEntry
	ta.must("GET", "/v1/config/service-defaults/api", "", &e)
	idx := strconv.FormatUint(e.ModifyIndex, 10)
	ta.must("PUT", "/v1/config?cas="+idx, `{"Kind":"service-defaults","Name":"api","Protocol":"grpc"}`, nil)
	var e2 ServiceDefaultsEntry
	ta.must("GET", "/v1/config/service-defaults/api", "", &e2)
	if e2.Protocol != "grpc" || e2.CreateIndex != e.CreateIndex || e2.ModifyIndex <= e.ModifyIndex || e2.Hash == e.Hash {
		t.Fatalf("after cas: %+v (before %+v)", e2, e)
	}
	if r := ta.do("DELETE", "/v1/config/service-defaults/api?cas="+strconv.FormatUint(e2.ModifyIndex, 10), ""); r.body != "true" {
		t.Fatalf("delete with the right cas: %d %s", r.code, r.body)
	}
	ta.expect("GET", "/v1/config/service-defaults/api", "", 404, `Config entry not found`)
}

// TestConfigEntryBlocking: a blocking read of an entry returns when an
// entry of its kind changes.
func TestConfigEntryBlocking(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"a"}`, nil)
	r := ta.must("GET", "/v1/config/service-defaults", "", nil)
	ch := ta.blockingGet("/v1/config/service-defaults/a?wait=30s&index=" + strconv.FormatUint(r.index(), 10))
	ta.must("PUT", "/v1/config", `{"Kind":"service-defaults","Name":"a","Protocol":"http"}`, nil)
	got := <-ch
	if got.code != 200 || !strings.Contains(got.body, `"Protocol":"http"`) || got.index() <= r.index() {
		t.Fatalf("blocking read: %d %s (index %d, was %d)", got.code, got.body, got.index(), r.index())
	}
}

// TestConfigEntrySnapshot: entries survive a snapshot round trip, and a
// refused command changes nothing.
func TestConfigEntrySnapshot(t *testing.T) {
	t.Parallel()
	s := newStore()
	for i, body := range []string{
		`{"Kind":"service-defaults","Name":"api","Protocol":"http","Meta":{"a":"b"}}`,
		`{"Kind":"proxy-defaults","Name":"global","Config":{"n":1.5,"m":{"x":[true]}}}`,
		`{"Kind":"service-intentions","Name":"*","Sources":[{"Name":"web","Action":"allow","Description":"d"}]}`,
	} {
		e, err := decodeConfigEntry([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		e.normalize()
		if res := s.apply(uint64(i+1), &command{Type: cmdConfigEntry, ConfigEntry: &configEntryRequest{Op: "set", Entry: e}}); !res.ok {
			t.Fatalf("%s: %+v", body, res)
		}
	}
	bad := &configEntry{ProxyDefaults: &ProxyDefaultsEntry{Kind: kindProxyDefaults, Name: "other"}}
	if res := s.apply(9, &command{Type: cmdConfigEntry, ConfigEntry: &configEntryRequest{Op: "set", Entry: bad}}); res.err == nil {
		t.Fatal("an invalid entry was applied")
	}
	var buf bytes.Buffer
	if err := writeSnapshot(s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	st, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{kindServiceDefaults, kindProxyDefaults, kindServiceIntentions} {
		want, wantIdx := s.snapshot().configEntryList(kind)
		got, gotIdx := st.configEntryList(kind)
		if len(got) != 1 || !reflect.DeepEqual(got, want) || gotIdx != wantIdx {
			t.Fatalf("%s: got %+v (index %d), want %+v (index %d)", kind, got, gotIdx, want, wantIdx)
		}
	}
}

// FuzzConfigEntryDecode: the decoder and apply never panic, apply refuses
// what validate refuses, and a valid entry encodes and decodes to itself.
func FuzzConfigEntryDecode(f *testing.F) {
	for _, seed := range []string{
		`{"Kind":"service-defaults","Name":"api","Protocol":"http","Expose":{"Paths":[{"Path":"/x","ListenerPort":1}]}}`,
		`{"kind":"proxy-defaults","name":"global","config":{"a":[1,{"b":null}]},"access_logs":{"enabled":true}}`,
		`{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"web","Action":"deny"},{"Name":"*","Action":"allow"}]}`,
		`{"Kind":"service-intentions","Name":"api","Sources":[null,{"Zap":1}]}`,
		`{"Kind":"service-defaults","Name":5}`, `[]`, `null`, `{"Kind":"x"}`, `{"Kind":"service-defaults","MeshGateway":[1]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := decodeConfigEntry(body)
		if err != nil {
			return
		}
		e.normalize()
		// apply validates again: whatever was decoded, it never panics.
		res := newStore().apply(1, &command{Type: cmdConfigEntry, ConfigEntry: &configEntryRequest{Op: "set", Entry: e}})
		if e.validate() != nil {
			if res.err == nil {
				t.Fatalf("%s: an invalid entry was applied", body)
			}
			return
		}
		b, err := marshalExact(e) // as the log carries it
		if err != nil {
			t.Fatal(err)
		}
		var back configEntry
		if err := unmarshalExact(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.validate(); err != nil {
			t.Fatalf("%s: valid entry invalid after a round trip: %v", b, err)
		}
		h1, err1 := back.withoutIndexes()
		h2, err2 := e.withoutIndexes()
		if err1 != nil || err2 != nil || h1.contentHash() != h2.contentHash() {
			t.Fatalf("%s: hash changed over a round trip", b)
		}
	})
}

// TestConfigEntryKindMismatch: an entry whose Kind does not name the kind
// it is stored as is refused, never applied.
func TestConfigEntryKindMismatch(t *testing.T) {
	t.Parallel()
	e, err := decodeConfigEntry([]byte(`{"Kind":"proxy-defaults","kind":"service-defaults","Name":"global"}`))
	if err != nil || e.ProxyDefaults == nil || e.ProxyDefaults.Kind != kindProxyDefaults {
		t.Fatalf("decoded %+v, %v", e, err)
	}
	bad := &configEntry{ProxyDefaults: &ProxyDefaultsEntry{Kind: kindServiceDefaults, Name: "global"}}
	if err := bad.validate(); err == nil || err.Error() != "invalid config entry kind: service-defaults" {
		t.Fatalf("validate: %v", err)
	}
	if res := newStore().apply(1, &command{Type: cmdConfigEntry, ConfigEntry: &configEntryRequest{Op: "set", Entry: bad}}); res.err == nil {
		t.Fatal("applied")
	}
}
