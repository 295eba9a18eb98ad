package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func (l *testLog) setQuery(q *PreparedQuery) applyResult {
	l.t.Helper()
	return l.apply(&command{Type: cmdPreparedQuery, PreparedQuery: &preparedQueryRequest{Query: q}})
}

func mustSetQuery(l *testLog, q *PreparedQuery) {
	l.t.Helper()
	if res := l.setQuery(q); res.err != nil {
		l.t.Fatalf("set %s: %v", q.Name, res.err)
	}
}

func TestQueryTemplateRender(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, regexp, value, full string
		want                      string
	}{
		{"full", "", "${name.full}", "geo-db-eu", "geo-db-eu"},
		{"prefix", "", "x${name.prefix}y", "geo-db-eu", "xgeo-y"},
		{"suffix", "", "${name.suffix}", "geo-db-eu", "db-eu"},
		{"match", `^geo-(.+?)-(.*)$`, "${match(1)}/${match(2)}/${match(0)}", "geo-db-eu", "db/eu/geo-db-eu"},
		{"match out of range", `^geo-(.+)$`, "[${match(7)}]", "geo-db", "[]"},
		{"no match", `^zzz-(.+)$`, "[${match(1)}]", "geo-db", "[]"},
		{"spaces", "", "${ name.full }", "geo-a", "geo-a"},
		{"escaped", "", "$${name.full}", "geo-a", "${name.full}"},
		{"segment", "", "<${agent.segment}>", "geo-a", "<>"},
		{"literal", "", "plain", "geo-a", "plain"},
	} {
		q := &PreparedQuery{Name: "geo-", Template: QueryTemplateOptions{Type: queryTemplateNamePrefixMatch, Regexp: c.regexp},
			Service: ServiceQuery{Service: c.value}}
		ct, err := compileQueryTemplate(q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r, err := ct.render(c.full, "")
		if err != nil || r.Service.Service != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, r.Service.Service, err, c.want)
		}
		if q.Service.Service != c.value {
			t.Fatalf("%s: render changed the template", c.name)
		}
	}
	// Every string of the Service block is interpolated, maps and lists too.
	q := &PreparedQuery{Name: "geo-", Template: QueryTemplateOptions{Type: queryTemplateNamePrefixMatch, RemoveEmptyTags: true},
		Service: ServiceQuery{Service: "s", Tags: []string{"${name.suffix}", "", "t"}, NodeMeta: map[string]string{"k": "${name.full}"},
			ServiceMeta: map[string]string{"v": "${name.prefix}"}, Near: "${name.suffix}", IgnoreCheckIDs: []string{"c-${name.suffix}"},
			Failover: QueryFailoverOptions{Datacenters: []string{"dc-${name.suffix}"}}}}
	ct, err := compileQueryTemplate(q)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ct.render("geo-x", "")
	want := ServiceQuery{Service: "s", Tags: []string{"x", "t"}, NodeMeta: map[string]string{"k": "geo-x"}, ServiceMeta: map[string]string{"v": "geo-"},
		Near: "x", IgnoreCheckIDs: []string{"c-x"}, Failover: QueryFailoverOptions{Datacenters: []string{"dc-x"}}}
	if !reflect.DeepEqual(r.Service, want) {
		t.Fatalf("render:\n got %+v\nwant %+v", r.Service, want)
	}
	if q.Service.NodeMeta["k"] != "${name.full}" || q.Service.Tags[1] != "" {
		t.Fatal("render changed the template's maps or lists")
	}

	for _, c := range []struct{ value, msg string }{
		{"${foo}", "Bad evaluation for '${foo}' in Service.Service: 1:3: unknown variable accessed: foo"},
		{"${name.full", "Bad format '${name.full' in Service.Service: parse error"},
		{"${a + b}", "Bad format '${a + b}' in Service.Service: parse error"},
	} {
		q := &PreparedQuery{Name: "geo-", Template: QueryTemplateOptions{Type: queryTemplateNamePrefixMatch}, Service: ServiceQuery{Service: c.value}}
		if _, err := compileQueryTemplate(q); err == nil || !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %q", c.value, err, c.msg)
		}
	}
}

func TestQueryResolve(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	tmpl := QueryTemplateOptions{Type: queryTemplateNamePrefixMatch}
	mustSetQuery(l, &PreparedQuery{ID: "11111111-1111-1111-1111-111111111111", Name: "Web", Service: ServiceQuery{Service: "web"}})
	mustSetQuery(l, &PreparedQuery{ID: "22222222-2222-2222-2222-222222222222", Name: "we", Template: tmpl, Service: ServiceQuery{Service: "t-we-${name.suffix}"}})
	mustSetQuery(l, &PreparedQuery{ID: "33333333-3333-3333-3333-333333333333", Name: "w", Template: tmpl, Service: ServiceQuery{Service: "t-w-${name.suffix}"}})
	mustSetQuery(l, &PreparedQuery{ID: "44444444-4444-4444-4444-444444444444", Name: "", Template: tmpl, Service: ServiceQuery{Service: "all-${name.full}"}})
	st := l.s.snapshot()
	for _, c := range []struct{ in, want string }{
		{"web", "web"}, // the exact name (case-insensitive) before any template
		{"WEB", "web"},
		{"11111111-1111-1111-1111-111111111111", "web"},
		{"webx", "t-we-bx"}, // the longest template prefix
		{"wx", "t-w-x"},
		{"we", "t-we-"},
		{"db", "all-db"}, // the catch-all
	} {
		q, err := st.queryResolve(c.in, "")
		if err != nil || q == nil || q.Service.Service != c.want {
			t.Errorf("%s: %+v %v, want service %s", c.in, q, err, c.want)
		}
	}
	if _, err := st.queryResolve("22222222-2222-2222-2222-222222222222", ""); err == nil {
		t.Fatal("a template resolved by ID")
	}

	// Renaming frees the old name; a delete frees the name and the ID.
	mustSetQuery(l, &PreparedQuery{ID: "11111111-1111-1111-1111-111111111111", Name: "api", Service: ServiceQuery{Service: "api"}})
	st = l.s.snapshot()
	if q, _ := st.queryResolve("web", ""); q.Service.Service != "t-we-b" {
		t.Fatalf("old name still resolves: %+v", q)
	}
	if q, _ := st.queryGet("11111111-1111-1111-1111-111111111111"); q.CreateIndex != 1 || q.ModifyIndex != l.index {
		t.Fatalf("indexes after update: %d %d", q.CreateIndex, q.ModifyIndex)
	}
	if res := l.apply(&command{Type: cmdPreparedQuery, PreparedQuery: &preparedQueryRequest{DeleteID: "33333333-3333-3333-3333-333333333333"}}); res.err != nil {
		t.Fatal(res.err)
	}
	if q, _ := l.s.snapshot().queryResolve("wx", ""); q.Service.Service != "all-wx" {
		t.Fatalf("deleted template still resolves: %+v", q)
	}
	if res := l.apply(&command{Type: cmdPreparedQuery, PreparedQuery: &preparedQueryRequest{DeleteID: "33333333-3333-3333-3333-333333333333"}}); res.err == nil {
		t.Fatal("deleting a missing query")
	}
	// Refused writes change nothing.
	before := l.s.snapshot().queries
	for _, q := range []*PreparedQuery{
		{ID: "55555555-5555-5555-5555-555555555555", Name: "API", Service: ServiceQuery{Service: "x"}},
		{ID: "55555555-5555-5555-5555-555555555555", Template: tmpl, Service: ServiceQuery{Service: "x"}},
		{ID: "55555555-5555-5555-5555-555555555555", Name: "x"},
		{ID: "", Name: "x", Service: ServiceQuery{Service: "x"}},
	} {
		if res := l.setQuery(q); res.err == nil {
			t.Fatalf("%+v accepted", q)
		}
	}
	if !reflect.DeepEqual(before, l.s.snapshot().queries) {
		t.Fatal("a refused write changed the table")
	}
}

func TestQuerySessionBoundAndSnapshot(t *testing.T) {
	t.Parallel()
	l := newSessionLog(t)
	l.createSession("s1", 0, sessionRelease)
	l.createSession("s2", 0, sessionRelease, "disk")
	bound := func(id, session string) *PreparedQuery {
		return &PreparedQuery{ID: id, Session: session, Token: "secret", DNS: QueryDNSOptions{TTL: "5s"},
			Service: ServiceQuery{Service: "web", Tags: []string{"v1"}, Failover: QueryFailoverOptions{NearestN: 2, Datacenters: []string{"dc2"}}}}
	}
	mustSetQuery(l.testLog, bound("11111111-1111-1111-1111-111111111111", "s1"))
	mustSetQuery(l.testLog, bound("22222222-2222-2222-2222-222222222222", "s2"))
	mustSetQuery(l.testLog, &PreparedQuery{ID: "33333333-3333-3333-3333-333333333333", Name: "geo-",
		Template: QueryTemplateOptions{Type: queryTemplateNamePrefixMatch, Regexp: "^geo-(.*)$"}, Service: ServiceQuery{Service: "${match(1)}"}})

	// A snapshot round trip keeps the queries and rebuilds the name indexes.
	var buf bytes.Buffer
	if err := writeSnapshot(l.s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	read, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	restored := newStore()
	restored.install(read, l.s.snapshot().index)
	if !reflect.DeepEqual(restored.snapshot().queryList(), l.s.snapshot().queryList()) ||
		!reflect.DeepEqual(restored.snapshot().queries, l.s.snapshot().queries) {
		t.Fatal("the snapshot changed the queries or their indexes")
	}
	if q, _ := restored.snapshot().queryResolve("geo-db", ""); q == nil || q.Service.Service != "db" {
		t.Fatalf("template after restore: %+v", q)
	}

	// A session's end deletes its queries: destroyed, or its check critical.
	l.do(&command{Type: cmdSession, Session: &sessionRequest{DestroyID: "s1"}})
	l.register(&RegisterRequest{Node: "n1", Address: "10.0.0.1", Checks: []*HealthCheck{{CheckID: "disk", Status: healthCritical}}})
	var left []string
	for _, q := range l.s.snapshot().queryList() {
		left = append(left, q.ID)
	}
	if !reflect.DeepEqual(left, []string{"33333333-3333-3333-3333-333333333333"}) {
		t.Fatalf("queries left: %v", left)
	}
}

// FuzzQueryTemplate: any Service string and regexp either fail to compile
// with a message or render for any name, never panicking, and rendering
// never changes the template.
func FuzzQueryTemplate(f *testing.F) {
	for _, s := range []string{"${name.full}", "${match(1)}-${name.suffix}", "$${x}", "${", "${}", "a${b", "${match(99999999999999999999)}", "${ name.prefix }"} {
		f.Add(s, `^geo-(.*)$`, "geo-db")
	}
	f.Fuzz(func(t *testing.T, value, re, name string) {
		q := &PreparedQuery{Name: "geo-", Template: QueryTemplateOptions{Type: queryTemplateNamePrefixMatch, Regexp: re, RemoveEmptyTags: true},
			Service: ServiceQuery{Service: value, Tags: []string{value, ""}, NodeMeta: map[string]string{"k": value}}}
		ct, err := compileQueryTemplate(q)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if _, err := ct.render(name, ""); err != nil {
			t.Fatalf("compiled but does not render %q: %v", name, err)
		}
		if q.Service.Service != value || q.Service.NodeMeta["k"] != value || len(q.Service.Tags) != 2 {
			t.Fatal("render changed the template")
		}
	})
}
