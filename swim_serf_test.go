// swim_serf_test.go: force-leave and queries on the simulated network of
// swim_test.go: a failed member forced to leave is left everywhere, and
// pruned it is forgotten everywhere; an alive member named by a
// force-leave refutes it and is never left or failed anywhere; a query is
// delivered once to every member, under loss, and each answer (a packet,
// or a stream when large) reaches the source, which reports them all
// before its timeout, or at the timeout when a member is dead. Then
// /v1/agent/force-leave on three servers in one process (cluster_test.go's
// harness): of a failed server (left, then pruned, out of the catalog),
// of an alive one (it refutes), and of an unknown one (Consul's error).
package main

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// Serf's RemoveFailedNode: left everywhere, then (prune) gone everywhere;
// the leader's catalog follows from the left and reap events.
func TestSwimForceLeave(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 10, nil)
	s.net.drop = 0.02
	s.joinAll(35 * time.Second)
	s.protectAll()
	failed := func(nd *swimSimNode) {
		t.Helper()
		delete(s.protected, nd.name)
		nd.down = true
		if _, ok := s.runUntil(60*time.Second, func() bool { return s.everyoneSees(swimFailed, nd.name) }); !ok {
			t.Fatalf("%s not failed everywhere: %v", nd.name, s.stuck(swimFailed, nd.name))
		}
	}
	victim, pruned := s.nodes[3], s.nodes[6]
	failed(victim)
	src := s.nodes[1]
	if err := src.core.forceLeave(s.now, victim.name, false); err != nil {
		t.Fatal(err)
	}
	s.process(src)
	took, ok := s.runUntil(5*time.Second, func() bool { return s.everyoneSees(swimLeft, victim.name) })
	if !ok {
		t.Fatalf("%s not left everywhere: %v", victim.name, s.stuck(swimLeft, victim.name))
	}
	t.Logf("a force-leave made %s left everywhere in %v", victim.name, took)

	failed(pruned)
	reaped := map[string]bool{}
	s.onEvent = append(s.onEvent, func(obs *swimSimNode, ev swimEvent) {
		if ev.Type == swimEventReap && ev.Member.Name == pruned.name {
			reaped[obs.name] = true
		}
	})
	if err := s.nodes[0].core.forceLeave(s.now, pruned.name, true); err != nil {
		t.Fatal(err)
	}
	s.process(s.nodes[0])
	gone := func() bool { return s.everyoneSees(swimState(255), pruned.name) }
	if _, ok := s.runUntil(5*time.Second, gone); !ok {
		t.Fatalf("%s not pruned everywhere: %v", pruned.name, s.stuck(swimState(255), pruned.name))
	}
	s.run(40 * time.Second) // push-pulls and reconnects do not bring it back
	if !gone() || len(reaped) != len(s.live()) {
		t.Fatalf("after 40 s: %v; reaped by %d of %d", s.stuck(swimState(255), pruned.name), len(reaped), len(s.live()))
	}
	if err := s.nodes[0].core.forceLeave(s.now, "nobody", false); err != errSwimNoMember {
		t.Fatalf("force-leave of an unknown member: %v", err)
	}
}

// A force-leave of a member that is alive: it refutes with a higher
// incarnation, and nobody ever records it as left or failed.
func TestSwimForceLeaveAliveRefutes(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 10, nil)
	s.joinAll(35 * time.Second)
	s.protectAll()
	x := s.nodes[4]
	inc0 := x.core.self.Incarnation
	s.onEvent = append(s.onEvent, func(obs *swimSimNode, ev swimEvent) {
		if ev.Member.Name == x.name && (ev.Type == swimEventLeft || ev.Type == swimEventFailed) {
			t.Errorf("%v: %s recorded alive %s as %v", s.now, obs.name, x.name, ev.Type)
		}
	})
	for _, prune := range []bool{false, true} {
		if err := s.nodes[0].core.forceLeave(s.now, x.name, prune); err != nil {
			t.Fatal(err)
		}
		s.process(s.nodes[0])
		s.run(10 * time.Second)
	}
	if x.core.self.Incarnation <= inc0 {
		t.Errorf("%s did not refute (incarnation %d)", x.name, x.core.self.Incarnation)
	}
	if !s.everyoneSees(swimAlive, x.name) {
		t.Errorf("%s not alive everywhere: %v", x.name, s.stuck(swimAlive, x.name))
	}
}

// Serf's queries: each member gets a query once, even with loss and
// rebroadcasts, and answers it straight to the source. Without loss, every
// answer comes (one larger than a packet over a stream) and the source
// reports them as soon as all have come, well before the timeout; with a
// dead member still counted alive, at the timeout with the others'. With
// loss, the query still reaches everyone once, but an answer is a single
// UDP packet and may be lost, as in Serf.
func TestSwimQuery(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 20, nil)
	s.joinAll(35 * time.Second)
	big := bytes.Repeat([]byte("k"), 3000)
	delivered := map[string]int{}
	s.onEvent = append(s.onEvent, func(obs *swimSimNode, ev swimEvent) {
		if ev.Type != swimEventQuery {
			return
		}
		delivered[obs.name+"/"+ev.Query.Name]++
		answer := []byte("from " + obs.name)
		if obs.name == "n7" {
			answer = big
		}
		if err := obs.core.respond(s.now, ev.Query, answer); err != nil {
			t.Errorf("%s: %v", obs.name, err)
		}
	})
	src := s.nodes[2]
	timeout := src.core.queryTimeout()
	ask := func(name string, payload []byte) (swimQueryResult, time.Duration) {
		t.Helper()
		n := len(src.results)
		if _, err := src.core.query(s.now, name, payload); err != nil {
			t.Fatal(err)
		}
		s.process(src)
		took, ok := s.runUntil(timeout+time.Second, func() bool { return len(src.results) > n })
		if !ok {
			t.Fatalf("query %s never finished", name)
		}
		return src.results[n], took
	}
	checkOnce := func(name string) {
		t.Helper()
		for _, nd := range s.live() {
			if n := delivered[nd.name+"/"+name]; n != 1 {
				t.Errorf("%s got query %s %d times", nd.name, name, n)
			}
		}
	}

	res, took := ask("ask", []byte("payload"))
	t.Logf("20 members: every answer in %v (timeout %v)", took, timeout)
	if res.NumNodes != 20 || len(res.Answers) != 20 || took >= timeout {
		t.Fatalf("%d of %d answers after %v", len(res.Answers), res.NumNodes, took)
	}
	for _, nd := range s.nodes {
		want := []byte("from " + nd.name)
		if nd.name == "n7" {
			want = big
		}
		if !bytes.Equal(res.Answers[nd.name], want) {
			t.Errorf("%s answered %.20q", nd.name, res.Answers[nd.name])
		}
	}
	s.run(10 * time.Second) // the rebroadcasts die down: still delivered once each
	checkOnce("ask")

	s.net.drop = 0.02
	res, _ = ask("lossy", nil)
	s.run(10 * time.Second)
	checkOnce("lossy")
	t.Logf("2%% loss: %d of 20 answers", len(res.Answers))
	s.net.drop = 0

	// A member dies just before the next query, before anyone notices: the
	// query waits out its timeout and reports the 19 answers.
	s.nodes[11].down = true
	if res, took = ask("again", nil); len(res.Answers) != 19 || res.NumNodes != 20 || took < timeout {
		t.Fatalf("with a dead member: finished after %v, %d of %d answers", took, len(res.Answers), res.NumNodes)
	}
	if _, err := src.core.query(s.now, "big", make([]byte, swimMaxUserEvent)); err == nil {
		t.Error("a query over the size limit accepted")
	}
	// An answer after the query's deadline is refused by the responder.
	late := swimQuery{From: "n1", Addr: s.nodes[0].addr, deadline: s.now - time.Second}
	if err := s.nodes[5].core.respond(s.now, late, nil); err == nil {
		t.Error("an answer after the deadline was sent")
	}
}

// The new messages' wire format round-trips, and an answer decodes as the
// keyring's key answer it encodes.
func TestSwimSerfWire(t *testing.T) {
	t.Parallel()
	for _, m := range swimSampleMsgs()[9:] {
		got, err := decodeSwimWhole(m.encode())
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%d: round trip %+v → %+v, %v", m.Type, m, got, err)
		}
	}
	bad := [][]byte{
		{byte(swimMsgQuery), 1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}, // a timeout over an hour
		{byte(swimMsgLeaveIntent), 1, 0, 0, 2},                               // bad bool
		{byte(swimMsgQueryResponse), 1, 1, 0, 0xff, 0xff, 0x7f},              // payload beyond the input
	}
	for i, b := range bad {
		if _, err := decodeSwimPacket(b); err == nil {
			t.Errorf("%d: %x accepted", i, b)
		}
	}
	a := keyAnswer{Result: true, Keys: []string{"k1", "k2"}, PrimaryKey: "k1"}
	if got, err := decodeKeyAnswer(a.encode()); err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("key answer round trip: %+v, %v", got, err)
	}
	for _, b := range [][]byte{nil, {1}, {1, 0, 0xff, 0xff, 0x03}, append(a.encode(), 0)} {
		if _, err := decodeKeyAnswer(b); err == nil {
			t.Errorf("key answer %x accepted", b)
		}
	}
}

// FuzzKeyAnswer: the key answer decoder never panics, and what it accepts
// re-encodes to an answer that decodes the same (uvarints may come in a
// longer form than ours, so the bytes may differ).
func FuzzKeyAnswer(f *testing.F) {
	f.Add(keyAnswer{Result: true, Keys: []string{"a", "b"}, PrimaryKey: "a"}.encode())
	f.Add(keyAnswer{Message: "Removing the primary key is not allowed"}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeKeyAnswer(b)
		if err != nil {
			return
		}
		if again, err := decodeKeyAnswer(a.encode()); err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("%x decodes to %+v, which re-decodes as %+v, %v", b, a, again, err)
		}
	})
}

func TestClusterForceLeave(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	victim, other := (leader+1)%3, (leader+2)%3
	name := c.configs[victim].NodeName
	status := func(a *testAgent, node string) int {
		var members []agentMember
		a.must("GET", "/v1/agent/members", "", &members)
		for _, m := range members {
			if m.Name == node {
				return m.Status
			}
		}
		return 0 // not a member
	}
	inCatalog := func(node string) bool {
		return c.agents[leader].do("GET", "/v1/catalog/node/"+node, "").body != "null"
	}
	c.agents[other].expect("PUT", "/v1/agent/force-leave/nope", "", 500, "agent: No node found with name 'nope'")

	// An alive member named by a force-leave refutes it: still alive, still in the catalog.
	alive := c.configs[leader].NodeName
	incarnation := func() (inc uint64) { // read on the pool's loop, which owns the core
		pool := c.agents[leader].lan()
		pool.do(func(time.Duration) { inc = pool.core.self.Incarnation })
		return inc
	}
	inc0 := incarnation()
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+alive, "", nil)
	eventually(t, 5*time.Second, alive+" refutes", func() bool { return incarnation() > inc0 })
	for _, a := range c.live() {
		if st := status(a, alive); a.cfg.NodeName != alive && st != memberAlive {
			t.Fatalf("%s sees %s as %d after a force-leave of it alive", a.cfg.NodeName, alive, st)
		}
	}
	if !inCatalog(alive) {
		t.Fatalf("%s left the catalog", alive)
	}

	c.stop(victim)
	for _, a := range c.live() {
		eventually(t, 40*time.Second, a.cfg.NodeName+" sees "+name+" failed", func() bool { return status(a, name) == memberFailed })
	}
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+name, "", nil)
	for _, a := range c.live() {
		eventually(t, 5*time.Second, a.cfg.NodeName+" sees "+name+" left", func() bool { return status(a, name) == memberLeft })
	}
	eventually(t, 10*time.Second, name+" out of the catalog", func() bool { return !inCatalog(name) })
	c.agents[other].must("PUT", "/v1/agent/force-leave/"+name+"?prune", "", nil)
	for _, a := range c.live() {
		eventually(t, 5*time.Second, a.cfg.NodeName+" forgets "+name, func() bool { return status(a, name) == 0 })
	}
}
