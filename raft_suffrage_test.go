// raft_suffrage_test.go: non-voting members (raft_suffrage.go) on
// raft_test.go's simulated network.
package main

import (
	"strings"
	"testing"
)

// addNonVoter starts an empty server and adds it as a non-voter through
// the leader, waiting until the change is committed.
func (s *simNet) addNonVoter(id string) {
	s.t.Helper()
	s.nodes[id] = &simNode{id: id}
	s.start(s.nodes[id])
	s.ids = append(s.ids, id)
	s.changeConfig(func(c *raftConfiguration) {
		c.Servers = append(c.Servers, raftServer{ID: id, Address: id, NonVoter: true})
	})
}

// changeConfig proposes the leader's configuration changed by f and waits
// until every live server applied a write after it.
func (s *simNet) changeConfig(f func(c *raftConfiguration)) {
	s.t.Helper()
	for range 100 {
		l := s.checkOneLeader(50)
		next := l.core.config.clone()
		f(&next)
		if _, err := l.core.proposeConfig(next); err == nil {
			s.process(l)
			s.mustCommit("after-config", 100)
			return
		}
		s.run(1)
	}
	s.t.Fatal("configuration change not accepted")
}

// Non-voting members (dissertation §4.2.1): they receive the log, but count
// in no quorum and never campaign, even when a quorum of the voters is cut
// off from the leader they follow.
func TestRaftNonVoterReplicatesButNeverCounts(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	l := s.checkOneLeader(50)
	s.mustCommit("w0", 50)
	s.addNonVoter("s4")
	s.addNonVoter("s5")
	i := s.mustCommit("w1", 100)
	s.checkCommitted(i, 100) // the non-voters have the log too
	l = s.checkOneLeader(50)
	if l.core.quorum() != 2 || s.nodes["s4"].core.isVoter() {
		t.Fatalf("quorum %d with 3 voters and 2 non-voters; s4 voter: %v", l.core.quorum(), s.nodes["s4"].core.isVoter())
	}
	// The leader with both non-voters (3 of 5 servers) against the other
	// two voters: had the non-voters counted, the leader would keep a
	// "majority" and commit.
	voters := s.others(l.id)[:2]
	s.partition([]string{l.id, "s4", "s5"}, voters)
	if i, _, err := l.core.propose([][]byte{[]byte("minority")}); err == nil {
		s.process(l)
		s.run(30)
		if l.core.commit >= i {
			t.Fatalf("entry %d committed by a leader with 1 of 3 voters", i)
		}
	}
	s.checkStepsDown(l.id, 30) // check-quorum counts voters only
	s.checkNoLeader(60, l.id, "s4", "s5")
	for _, id := range []string{"s4", "s5"} {
		if r := s.nodes[id].core.role; r != roleFollower {
			t.Fatalf("non-voter %s became %v", id, r)
		}
	}
	s.heal()
	l = s.checkOneLeader(100)
	if l.id == "s4" || l.id == "s5" {
		t.Fatalf("non-voter %s leads", l.id)
	}
	if err := l.core.transferLeadership("s4"); err == nil {
		t.Fatal("leadership transferred to a non-voter")
	}
	s.checkCommitted(s.mustCommit("w2", 100), 100)
}

// Promotion (dissertation §4.2.1): a caught-up non-voter becomes a voter
// in one single-server change; then it counts, and may lead.
func TestRaftNonVoterPromotion(t *testing.T) {
	t.Parallel()
	s := newSimNet(t, testSeed(t), 3)
	s.checkOneLeader(50)
	s.mustCommit("w0", 50)
	s.addNonVoter("s4")
	l := s.checkOneLeader(50)
	both := l.core.config.clone()
	both.Servers[3].NonVoter = false
	both.Servers = append(both.Servers, raftServer{ID: "s5", Address: "s5"})
	if _, err := l.core.proposeConfig(both); err == nil {
		t.Fatal("a promotion and an addition accepted in one change")
	}
	s.changeConfig(func(c *raftConfiguration) { c.Servers[3].NonVoter = false })
	l = s.checkOneLeader(50)
	if !s.nodes["s4"].core.isVoter() || l.core.quorum() != 3 {
		t.Fatalf("after promotion: s4 voter %v, quorum %d", s.nodes["s4"].core.isVoter(), l.core.quorum())
	}
	if l.id != "s4" {
		if err := l.core.transferLeadership("s4"); err != nil {
			t.Fatal(err)
		}
		s.process(l)
	}
	for range 50 * simStepsPerTick {
		if nl := s.leader(); nl != nil && nl.id == "s4" {
			break
		}
		s.step()
	}
	if nl := s.checkOneLeader(50); nl.id != "s4" {
		t.Fatalf("leader after the transfer: %s", nl.id)
	}
	s.checkCommitted(s.mustCommit("w1", 100), 100)
}

// A configuration written before non-voters existed has no NonVoter
// field: every server in it is a voter.
func TestRaftConfigurationWithoutSuffrageIsAllVoters(t *testing.T) {
	t.Parallel()
	c, err := decodeConfiguration([]byte(`{"Servers":[{"ID":"a","Node":"s1","Address":"127.0.0.1:8300"},{"ID":"b","Node":"s2","Address":"127.0.0.2:8300"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.voters() != 2 || !c.hasVoter("a") || !c.hasVoter("b") {
		t.Fatalf("decoded %+v", c)
	}
	if b := string(encodeConfiguration(c)); strings.Contains(b, "NonVoter") {
		t.Fatalf("voters encode a NonVoter field: %s", b)
	}
}
