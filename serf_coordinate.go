// serf_coordinate.go: a gossip pool's network coordinate, the driver's side
// of Serf's coordinate support: the Vivaldi client (serf_vivaldi.go) fed by
// the RTTs of SWIM's direct probes, and the cache of the coordinates other
// members' acks carried.
//
// Data flow, on the pool's loop (swim_node.go): the core reports a
// swimPing (swim_ping.go) for each direct probe answered with a
// coordinate; observe decodes it, updates the client with the RTT and
// caches the peer's coordinate; the new coordinate becomes the payload of
// our own acks and is published. Readers: the agent's sync to the servers
// (agent_coordinate.go), /v1/coordinate/datacenters and the datacenters'
// order (http_coordinate.go, from the WAN pool's cache).
//
// Wire form of a coordinate on an ack: uvarint dimensions, then every
// component, the Error, the Adjustment and the Height as IEEE 754 doubles
// (big-endian); the decoder bounds the dimensions by the bytes present.
//
// Concurrency: the Vivaldi client belongs to the loop goroutine; the
// coordinate and the cache are published as immutable values through
// atomic pointers (the cache copied on write), read from any goroutine.
package main

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// poolCoordinates is a pool's coordinate state.
type poolCoordinates struct {
	client *vivaldiClient // owned by the loop
	coord  atomic.Pointer[Coordinate]
	cache  atomic.Pointer[map[string]*Coordinate] // member → its last coordinate, from its acks
}

func newPoolCoordinates(rnd *rand.Rand) *poolCoordinates {
	pc := &poolCoordinates{client: newVivaldiClient(rnd)}
	pc.coord.Store(pc.client.coordinate())
	pc.cache.Store(&map[string]*Coordinate{})
	return pc
}

// Coordinate is this member's current coordinate (a copy).
func (p *gossipPool) Coordinate() *Coordinate { return p.coords.coord.Load().clone() }

// CachedCoordinate is a member's coordinate as its last ack carried it;
// this member's own for its own name.
func (p *gossipPool) CachedCoordinate(name string) (*Coordinate, bool) {
	if name == p.cfg.Swim.Name {
		return p.Coordinate(), true
	}
	c, ok := (*p.coords.cache.Load())[name]
	return c, ok
}

// observePing takes one answered probe, on the loop.
func (p *gossipPool) observePing(ping swimPing) {
	other, err := decodeCoordinate(ping.Payload)
	if err != nil {
		p.logger.Debug("bad coordinate on an ack", "from", ping.Node, "error", err)
		return
	}
	c, ok := p.coords.client.update(ping.Node, other, ping.RTT)
	if !ok {
		p.logger.Debug("coordinate sample refused", "from", ping.Node, "rtt", ping.RTT)
		return
	}
	p.coords.coord.Store(c)
	p.core.setAckPayload(encodeCoordinate(c))
	cache := maps.Clone(*p.coords.cache.Load())
	cache[ping.Node] = other
	p.coords.cache.Store(&cache)
}

// forgetCoordinate drops a reaped member from the cache and the filter, on the loop.
func (p *gossipPool) forgetCoordinate(name string) {
	p.coords.client.forget(name)
	if _, ok := (*p.coords.cache.Load())[name]; ok {
		cache := maps.Clone(*p.coords.cache.Load())
		delete(cache, name)
		p.coords.cache.Store(&cache)
	}
}

func encodeCoordinate(c *Coordinate) []byte {
	b := binary.AppendUvarint(nil, uint64(len(c.Vec)))
	for _, v := range slices.Concat(c.Vec, []float64{c.Error, c.Adjustment, c.Height}) {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

var errBadCoordinate = errors.New("malformed coordinate")

func decodeCoordinate(b []byte) (*Coordinate, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/8 || uint64(len(b)-k) != (n+3)*8 {
		return nil, errBadCoordinate
	}
	b = b[k:]
	f := make([]float64, n+3)
	for i := range f {
		f[i] = math.Float64frombits(binary.BigEndian.Uint64(b[8*i:]))
	}
	c := &Coordinate{Vec: f[:n:n], Error: f[n], Adjustment: f[n+1], Height: f[n+2]}
	if !c.valid() {
		return nil, errBadCoordinate
	}
	return c, nil
}
