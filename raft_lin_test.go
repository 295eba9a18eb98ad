// raft_lin_test.go: clients of a simulated cluster record a history of
// get, put and cas on a few keys while the network drops, duplicates and
// delays messages, partitions come and go and servers crash and restart;
// the history must be linearizable (lincheck_test.go). Writes go through
// the log; reads take a read index (by a quorum round, or by the lease)
// and wait until the leader has applied it (dissertation §6.4).
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// simClient runs one operation at a time against the simulated cluster.
type simClient struct {
	id      int
	seq     int
	op      *linOp
	node    *simNode // where the operation waits
	index   uint64   // write: the entry's index; read: the read index once known
	term    uint64
	readID  uint64
	readyAt uint64 // read: confirmed, waiting for the apply of index
	started int64
	lastVal map[string]string
}

// Raft §8 and dissertation §6.3, §6.4: every history of client operations
// is linearizable, with reads by a quorum round and by the lease, under
// drops, duplicates, delays, partitions, crashes, restarts and
// leadership transfers.
func TestRaftLinearizableUnderFaults(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) { runLinearizability(t, testSeed(t), round%2 == 0) })
	}
}

func runLinearizability(t *testing.T, seed uint64, leases bool) {
	s := newSimNet(t, seed, 5)
	s.noLease = !leases
	for _, nd := range s.nodes {
		nd.core.cfg.DisableLeases = !leases
	}
	s.snapEvery = 25
	s.drop, s.dup, s.maxDelay = 0.05, 0.02, 15
	rng := rand.New(rand.NewPCG(seed, 2))
	keys := []string{"a", "b", "c"}
	const timeoutSteps = 60 * simStepsPerTick
	var history []linOp
	clients := make([]*simClient, 6)
	for i := range clients {
		clients[i] = &simClient{id: i, lastVal: map[string]string{}}
	}
	finish := func(c *simClient, unknown bool) {
		c.op.End, c.op.Unknown = s.now, unknown
		history = append(history, *c.op)
		c.op, c.node = nil, nil
	}
	drop := func(c *simClient) { c.op, c.node = nil, nil } // it certainly did not take effect
	nextReadID := uint64(1 << 40)
	s.applyHooks = append(s.applyHooks, func(n *simNode, e raftEntry, ok bool) {
		for _, c := range clients {
			if c.op == nil || c.op.Kind == linGet || c.node != n || c.index != e.Index {
				continue
			}
			if e.Term != c.term {
				drop(c) // another leader's entry took the index: ours was never committed
				continue
			}
			c.op.OK = ok
			if c.op.Kind == linPut || ok {
				c.lastVal[c.op.Key] = c.op.Value
			}
			finish(c, false)
		}
	})
	s.readHooks = append(s.readHooks, func(n *simNode, rs raftReadState) {
		for _, c := range clients {
			if c.op != nil && c.op.Kind == linGet && c.node == n && c.readID == rs.ID {
				if rs.Failed {
					drop(c)
				} else {
					c.index, c.readyAt = rs.Index, 1
				}
			}
		}
	})
	start := func(c *simClient) {
		// Any server that believes it leads, as a client that does not know
		// better would find one: an isolated former leader included.
		var leaders []*simNode
		for _, id := range s.ids {
			if nd := s.nodes[id]; nd.up && nd.core.role == roleLeader {
				leaders = append(leaders, nd)
			}
		}
		if len(leaders) == 0 {
			return
		}
		l := leaders[rng.IntN(len(leaders))]
		key := keys[rng.IntN(len(keys))]
		c.seq++
		op := &linOp{Client: c.id, Key: key, Start: s.now}
		switch x := rng.IntN(10); {
		case x < 4:
			op.Kind = linGet
			nextReadID++
			c.readID, c.readyAt, c.node = nextReadID, 0, l
			c.op = op
			l.core.readIndex(c.readID, rng.IntN(2) == 0)
			s.process(l)
			return
		case x < 8:
			op.Kind, op.Value = linPut, fmt.Sprintf("c%d-%d", c.id, c.seq)
		default:
			op.Kind, op.Value, op.Expect = linCas, fmt.Sprintf("c%d-%d", c.id, c.seq), c.lastVal[key]
		}
		kind := map[linKind]string{linPut: "put", linCas: "cas"}[op.Kind]
		data, _ := json.Marshal(simOp{Client: c.id, Seq: c.seq, Kind: kind, Key: key, Value: op.Value, Expect: op.Expect})
		i, term, err := l.core.propose([][]byte{data})
		if err != nil {
			return
		}
		c.op, c.node, c.index, c.term = op, l, i, term
		s.process(l)
	}
	down := map[string]bool{}
	paused := map[string]int{} // server → ticks left in its pause
	s.pausedFn = func(id string) bool { return paused[id] > 0 }
	for step := 0; step < 3000*simStepsPerTick; step++ {
		if step%simStepsPerTick == 0 {
			for id, left := range paused {
				if left--; left > 0 {
					paused[id] = left
					continue
				}
				// Resumed: the driver runs the ticks it missed (they come
				// from the monotonic clock) before anything else.
				delete(paused, id)
				if nd := s.nodes[id]; nd.up {
					for range s.pausedTicks[id] {
						nd.core.tick()
					}
					s.process(nd)
				}
				delete(s.pausedTicks, id)
			}
		}
		for _, c := range clients {
			switch {
			case c.op == nil:
				if rng.IntN(5) == 0 {
					start(c)
				}
			case !c.node.up:
				// Its server crashed: a write's outcome is unknown, a read's
				// answer is lost (it returned nothing).
				if c.op.Kind == linGet {
					drop(c)
				} else {
					finish(c, true)
				}
			case c.op.Kind == linGet && c.readyAt != 0 && c.node.fsm.index >= c.index:
				v, found := c.node.fsm.kv[c.op.Key]
				c.op.Out, c.op.Found = v, found
				c.lastVal[c.op.Key] = v
				finish(c, false)
			case s.now-c.op.Start > timeoutSteps:
				if c.op.Kind == linGet {
					drop(c)
				} else {
					finish(c, true)
				}
			}
		}
		s.step()
		if step%(20*simStepsPerTick) != 0 {
			continue
		}
		// A fault every 20 ticks: crash or restart a server, pause one (a
		// long GC or a stalled VM), change the partition, or have a leader
		// hand its leadership to another server (dissertation §3.10).
		switch rng.IntN(5) {
		case 4:
			for _, id := range s.ids {
				if nd := s.nodes[id]; nd.up && nd.core.role == roleLeader {
					others := s.others(id)
					nd.core.transferLeadership(others[rng.IntN(len(others))])
					s.process(nd)
					break
				}
			}
		case 3:
			id := s.ids[rng.IntN(len(s.ids))]
			paused[id] = 5 + rng.IntN(30)
		case 0:
			id := s.ids[rng.IntN(len(s.ids))]
			if down[id] {
				s.restart(id)
				delete(down, id)
			} else if len(down) < 2 {
				s.crash(id)
				down[id] = true
			}
		case 1:
			perm := rng.Perm(len(s.ids))
			cut := 1 + rng.IntN(2)
			var a, b []string
			for k, p := range perm {
				if k < cut {
					a = append(a, s.ids[p])
				} else {
					b = append(b, s.ids[p])
				}
			}
			s.partition(a, b)
		default:
			s.heal()
		}
	}
	for _, c := range clients {
		if c.op != nil && c.op.Kind != linGet {
			finish(c, true)
		}
	}
	completed := 0
	for _, op := range history {
		if !op.Unknown {
			completed++
		}
	}
	t.Logf("%d operations in the history, %d completed (leases %v)", len(history), completed, leases)
	if completed < 200 {
		t.Fatalf("only %d operations completed: the faults left too little to check", completed)
	}
	if err := checkLinearizable(history); err != nil {
		t.Fatal(err)
	}
}
