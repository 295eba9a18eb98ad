package main

import (
	"bytes"
	"strings"
	"testing"
)

func txnKV(verb kvOp, key, value string, index uint64, session string) txnOp {
	return txnOp{KV: &txnKVOp{Verb: verb, Key: key, Value: []byte(value), Index: index, Session: session}}
}

func TestTxnVerbs(t *testing.T) {
	t.Parallel()
	l := newSessionLog(t)
	l.createSession("s1", 0, sessionRelease)
	l.kv(kvSet, "a", "1", 0)
	l.kv(kvSet, "t/x", "1", 0)
	l.kv(kvSet, "t/y", "1", 0)
	ia := l.entry("a").ModifyIndex
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		txnKV(kvGet, "a", "", 0, ""),
		txnKV(kvGetTree, "t/", "", 0, ""),
		txnKV(kvCheckIndex, "a", "", ia, ""),
		txnKV(kvCheckNotExists, "nope", "", 0, ""),
		txnKV(kvSet, "b", "2", 0, ""),
		txnKV(kvCAS, "a", "3", ia, ""),
		txnKV(kvLock, "l", "held", 0, "s1"),
		txnKV(kvCheckSession, "l", "", 0, "s1"),
		txnKV(kvUnlock, "l", "free", 0, "s1"),
		txnKV(kvDelete, "b", "", 0, ""),
		txnKV(kvDeleteTree, "t/", "", 0, ""),
	}})
	if !res.ok || len(res.txnErrors) != 0 {
		t.Fatalf("txn failed: %+v", res.txnErrors)
	}
	// get (1) + get-tree (2) + check-index + set + cas + lock + check-session + unlock = 9
	if len(res.txnResults) != 9 {
		t.Fatalf("%d results", len(res.txnResults))
	}
	if string(res.txnResults[0].KV.Value) != "1" || res.txnResults[3].KV.Value != nil {
		t.Fatal("get must carry the value, writes must not")
	}
	st := l.s.snapshot()
	if e, _ := st.kvGet("a"); string(e.Value) != "3" {
		t.Fatal("cas not applied")
	}
	if e, _ := st.kvGet("l"); e.Session != "" || string(e.Value) != "free" {
		t.Fatalf("lock/unlock: %+v", e)
	}
	if list, _ := st.kvList("t/"); len(list) != 0 {
		t.Fatal("delete-tree not applied")
	}
	// delete-cas with the right index.
	ia = l.entry("a").ModifyIndex
	if res := l.do(&command{Type: cmdTxn, Txn: []txnOp{txnKV(kvDeleteCAS, "a", "", ia, "")}}); !res.ok {
		t.Fatalf("delete-cas: %+v", res.txnErrors)
	}
}

func TestTxnRollback(t *testing.T) {
	t.Parallel()
	l := newSessionLog(t)
	l.kv(kvSet, "a", "1", 0)
	var before bytes.Buffer
	writeSnapshot(l.s.snapshot(), &before)
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		txnKV(kvSet, "new", "x", 0, ""),
		txnKV(kvDelete, "a", "", 0, ""),
		txnKV(kvCheckNotExists, "new", "", 0, ""), // fails: "new" was just set
		txnKV(kvCAS, "a", "y", 999, ""),           // fails too
	}})
	if res.ok || len(res.txnErrors) != 2 || res.txnErrors[0].OpIndex != 2 || res.txnErrors[1].OpIndex != 3 {
		t.Fatalf("errors: %+v", res.txnErrors)
	}
	if !strings.Contains(res.txnErrors[0].What, "exists") {
		t.Fatalf("what: %q", res.txnErrors[0].What)
	}
	// Nothing changed, but the log index, which the snapshot header holds.
	var after bytes.Buffer
	writeSnapshot(l.s.snapshot(), &after)
	skip := len(snapshotMagic) + 3 // tag and the two index uvarints (small here)
	if !bytes.Equal(before.Bytes()[skip:before.Len()-32], after.Bytes()[skip:after.Len()-32]) {
		t.Fatal("a rolled-back transaction changed the state")
	}
}

func TestTxnCatalogOperations(t *testing.T) {
	t.Parallel()
	l := newSessionLog(t)
	res := l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Node: &txnNodeOp{Verb: kvSet, Node: Node{Node: "n2", Address: "10.0.0.2"}}},
		{Service: &txnServiceOp{Verb: kvSet, Node: "n2", Service: Service{Service: "web", Port: 80}}},
		{Check: &txnCheckOp{Verb: kvSet, Check: HealthCheck{Node: "n2", CheckID: "web-ok", ServiceID: "web", Status: healthPassing}}},
		{Service: &txnServiceOp{Verb: kvGet, Node: "n2", Service: Service{ID: "web"}}},
	}})
	if !res.ok || len(res.txnResults) != 4 || res.txnResults[3].Service == nil || res.txnResults[3].Service.Port != 80 {
		t.Fatalf("catalog txn: %+v %+v", res.txnResults, res.txnErrors)
	}
	if csn := l.s.snapshot().checkServiceNodes("web"); len(csn) != 1 || aggregateStatus(csn[0].Checks) != healthPassing {
		t.Fatalf("health after txn: %+v", csn)
	}
	nodeIdx := l.s.snapshot().node("n2").ModifyIndex
	// A stale cas on the node rolls back the service removal beside it.
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Service: &txnServiceOp{Verb: kvDelete, Node: "n2", Service: Service{ID: "web"}}},
		{Node: &txnNodeOp{Verb: kvCAS, Node: Node{Node: "n2", Address: "10.9.9.9", ModifyIndex: nodeIdx + 100}}},
	}})
	if res.ok || len(res.txnErrors) != 1 || res.txnErrors[0].OpIndex != 1 || !strings.Contains(res.txnErrors[0].What, "stale") {
		t.Fatalf("stale cas: %+v", res.txnErrors)
	}
	if len(l.s.snapshot().serviceInstances("web")) != 1 {
		t.Fatal("a rolled-back transaction removed a service")
	}
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{
		{Node: &txnNodeOp{Verb: kvCAS, Node: Node{Node: "n2", Address: "10.9.9.9", ModifyIndex: nodeIdx}}},
		{Node: &txnNodeOp{Verb: kvGet, Node: Node{Node: "n9"}}},
	}})
	if res.ok || res.txnErrors[0].OpIndex != 1 || !strings.Contains(res.txnErrors[0].What, "doesn't exist") {
		t.Fatalf("get of a missing node: %+v", res.txnErrors)
	}
	res = l.do(&command{Type: cmdTxn, Txn: []txnOp{{Node: &txnNodeOp{Verb: kvDeleteCAS, Node: Node{Node: "n2", ModifyIndex: nodeIdx}}}}})
	if !res.ok || l.s.snapshot().node("n2") != nil || len(l.s.snapshot().serviceInstances("web")) != 0 {
		t.Fatalf("delete-cas of the node: %+v", res.txnErrors)
	}
}
