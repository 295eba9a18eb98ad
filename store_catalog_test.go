// store_catalog_test.go: tests of store_catalog.go, the catalog tables of
// the state store: registration and health, the per-service indexes and
// watches, deregistration.
//
// Concurrency: each test uses only the store it builds; nothing is shared
// between tests.
package main

import (
	"slices"
	"testing"
)

func TestCatalogRegisterAndHealth(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	l.register(registerWeb("n1", "10.0.0.1", healthPassing))
	l.register(registerWeb("n2", "10.0.0.2", healthCritical))
	l.register(&RegisterRequest{Node: "n3", Address: "10.0.0.3", Service: &Service{Service: "db", Port: 5432}})
	st := l.s.snapshot()
	if got := st.serviceTags(); len(got) != 2 || !slices.Equal(got["web"], []string{"v1"}) || len(got["db"]) != 0 {
		t.Fatalf("service tags: %v", got)
	}
	csn := st.checkServiceNodes("web")
	if len(csn) != 2 || csn[0].Node.Node != "n1" || len(csn[0].Checks) != 2 {
		t.Fatalf("health web: %+v", csn)
	}
	if aggregateStatus(csn[0].Checks) != healthPassing || aggregateStatus(csn[1].Checks) != healthCritical {
		t.Fatal("aggregate status wrong")
	}
	if c := csn[0].Checks[1]; c.ServiceName != "web" || !slices.Equal(c.ServiceTags, []string{"v1"}) {
		t.Fatalf("service check lacks its service's name and tags: %+v", c)
	}
	if db := st.serviceInstances("db"); len(db) != 1 || db[0].Service.ID != "db" {
		t.Fatalf("service ID must default to the name: %+v", db)
	}
	if got := st.checksInState(healthCritical); len(got) != 1 || got[0].Node != "n2" {
		t.Fatalf("critical checks: %+v", got)
	}
	// A check on an unknown service is refused, and nothing of that
	// registration is written.
	before := l.s.snapshot().index
	res := l.apply(&command{Type: cmdRegister, Register: &RegisterRequest{
		Node: "n4", Address: "10.0.0.4", Check: &HealthCheck{CheckID: "c", ServiceID: "nope"}}})
	if res.err == nil || l.s.snapshot().node("n4") != nil {
		t.Fatalf("bad registration half-applied: %v", res.err)
	}
	if l.s.snapshot().nodeIndex("n4") > before+1 {
		t.Fatal("refused registration bumped an index")
	}
}

func TestCatalogIndexesAndWatchesPerService(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	l.register(registerWeb("n1", "10.0.0.1", healthPassing))
	l.register(&RegisterRequest{Node: "n2", Address: "10.0.0.2", Service: &Service{Service: "db", Port: 5432}})
	webIdx := l.s.snapshot().serviceIndex("web")
	web, db := l.s.newWatch(), l.s.newWatch()
	web.watchTopic(serviceIndexName("web"))
	db.watchTopic(serviceIndexName("db"))
	defer web.stop()
	defer db.stop()

	// Re-registering the same thing changes nothing and wakes no one.
	l.register(registerWeb("n1", "10.0.0.1", healthPassing))
	if fired(web) || fired(db) || l.s.snapshot().serviceIndex("web") != webIdx {
		t.Fatal("an unchanged re-registration bumped or woke")
	}
	// A change to web's check wakes web's watchers only.
	l.register(registerWeb("n1", "10.0.0.1", healthWarning))
	if !fired(web) || fired(db) {
		t.Fatalf("check change: web=%v db=%v", fired(web), fired(db))
	}
	if idx := l.s.snapshot().serviceIndex("web"); idx != l.index {
		t.Fatalf("web index %d, want %d", idx, l.index)
	}
	// A node-level check on n2 changes db's health, not web's.
	web2 := l.s.newWatch()
	web2.watchTopic(serviceIndexName("web"))
	defer web2.stop()
	l.register(&RegisterRequest{Node: "n2", Address: "10.0.0.2", SkipNodeUpdate: true,
		Check: &HealthCheck{CheckID: "serfHealth", Status: healthCritical}})
	if !fired(db) || fired(web2) {
		t.Fatalf("node check: db=%v web=%v", fired(db), fired(web2))
	}
}

func TestCatalogDeregister(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	l.register(registerWeb("n1", "10.0.0.1", healthPassing))
	l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n1", ServiceID: "web1"}})
	st := l.s.snapshot()
	if len(st.serviceInstances("web")) != 0 || len(st.nodeChecks("n1")) != 1 {
		t.Fatal("service deregistration must remove the service and its checks only")
	}
	extinct := st.serviceIndex("web")
	if extinct != l.index {
		t.Fatalf("index of an extinct service: %d, want %d", extinct, l.index)
	}
	l.apply(&command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n1"}})
	st = l.s.snapshot()
	if st.node("n1") != nil || len(st.nodeChecks("n1")) != 0 || st.nodeIndex("n1") != l.index {
		t.Fatal("node deregistration incomplete")
	}
}
