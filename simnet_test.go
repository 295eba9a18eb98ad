// simnet_test.go: the one simulated network of the protocol simulations,
// used by raft_test.go's simNet (Raft messages between servers) and
// swim_test.go's swimSim (SWIM's UDP packets and TCP exchanges between
// members). It is a network only: it knows endpoints by name and carries
// messages of any type M; the simulations own the cores and say what each
// message means.
//
// Data flow: a simulation hands a message to send (the unreliable path:
// it is dropped across a partition or with probability drop, duplicated
// with probability dup, each copy delayed uniformly in [1, maxDelay]
// steps) or to deliver (the reliable path: a TCP reply, a driver's report
// to its own core; delayed, never lost), or to later (a paused receiver's
// message, retried next step). advance moves virtual time one step and
// returns the messages now due in a random order, so delays and the
// shuffle reorder them. partition and heal split and rejoin the
// endpoints. Every random choice comes from rng, seeded by the test, so a
// seed decides a whole run.
//
// Concurrency: none; a simulation is one goroutine, no clock.
package main

import "math/rand/v2"

// simPacket is a message in flight, due at step at.
type simPacket[M any] struct {
	at int64
	m  M
}

// simNetwork is the network between a simulation's endpoints.
type simNetwork[M any] struct {
	rng   *rand.Rand
	now   int64 // in steps
	queue []simPacket[M]

	drop, dup float64        // probabilities, on the unreliable path
	maxDelay  int64          // steps; delays are uniform in [1, maxDelay]
	group     map[string]int // endpoint → side of the partition (none: 0)
}

func newSimNetwork[M any](seed uint64) *simNetwork[M] {
	return &simNetwork[M]{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxDelay: 3, group: map[string]int{}}
}

// partition splits the endpoints into groups that cannot reach each other.
func (n *simNetwork[M]) partition(groups ...[]string) {
	n.group = map[string]int{}
	for g, names := range groups {
		for _, name := range names {
			n.group[name] = g + 1
		}
	}
}

func (n *simNetwork[M]) heal() { n.group = map[string]int{} }

func (n *simNetwork[M]) reachable(a, b string) bool { return n.group[a] == n.group[b] }

// delay is a message's delay in steps, uniform in [1, maxDelay].
func (n *simNetwork[M]) delay() int64 { return 1 + n.rng.Int64N(n.maxDelay) }

// send carries m from one endpoint to another on the unreliable path.
func (n *simNetwork[M]) send(from, to string, m M) {
	if !n.reachable(from, to) || n.rng.Float64() < n.drop {
		return
	}
	copies := 1
	if n.rng.Float64() < n.dup {
		copies = 2
	}
	for range copies {
		n.deliver(m)
	}
}

// deliver queues m after a delay, whatever the partition and losses.
func (n *simNetwork[M]) deliver(m M) {
	n.queue = append(n.queue, simPacket[M]{at: n.now + n.delay(), m: m})
}

// later queues m for the next step: its receiver could not take it now.
func (n *simNetwork[M]) later(m M) {
	n.queue = append(n.queue, simPacket[M]{at: n.now + 1, m: m})
}

// advance moves time one step and returns the messages due, shuffled.
func (n *simNetwork[M]) advance() []M {
	n.now++
	var due []M
	rest := n.queue[:0]
	for _, q := range n.queue {
		if q.at <= n.now {
			due = append(due, q.m)
		} else {
			rest = append(rest, q)
		}
	}
	n.queue = rest
	n.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	return due
}
