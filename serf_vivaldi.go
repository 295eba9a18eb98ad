// serf_vivaldi.go: network coordinates, Serf's Vivaldi client, a pure
// core: no clock, no I/O, no goroutines; randomness from an injected source.
//
// Every agent places itself in a synthetic space so that the distance
// between two agents' coordinates estimates their round-trip time
// (Dabek, Cox, Kaashoek & Morris, "Vivaldi: A Decentralized Network
// Coordinate System", SIGCOMM 2004, cited "Vivaldi" with the part's
// name), with Serf's refinements: 8 Euclidean dimensions plus a height
// (Vivaldi's height vectors), and from Ledlie, Gardner & Seltzer, "Network
// Coordinates in the Wild" (NSDI 2007, "Ledlie"), the latency filter and
// gravity; the adjustment term is Serf's own.
//
// Data flow: the gossip driver (swim_node.go) measures the RTT of each
// direct SWIM probe, whose ack carries the responder's coordinate
// (swim_wire.go), and calls vivaldiClient.update; the new coordinate rides
// on its own acks and is sent to the servers (agent_coordinate.go), where
// the store keeps it (store_coordinate.go) for /v1/coordinate and ?near
// (http_coordinate.go), which compare coordinates with Coordinate.distanceTo.
//
// Concurrency: none. A vivaldiClient belongs to its caller's goroutine
// (the gossip loop); a Coordinate is a value, copied when published.
package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Serf's coordinate.DefaultConfig, as the issue names the constants.
const (
	vivaldiDimensions     = 8    // Ledlie: 8 dimensions plus a height
	vivaldiErrorMax       = 1.5  // a new coordinate's error: it knows nothing
	vivaldiCE             = 0.25 // Vivaldi's c_e (adaptive timestep): how fast the error estimate moves
	vivaldiCC             = 0.25 // Vivaldi's c_c: the adaptive timestep's constant
	vivaldiAdjustWindow   = 20   // Serf's adjustment: the mean residual of the last 20 samples
	vivaldiHeightMin      = 10e-6
	vivaldiLatencyFilter  = 3     // Ledlie's latency filter: the median of the last 3 RTTs to a node
	vivaldiGravityRho     = 150.0 // Ledlie's gravity towards the origin, ρ in seconds
	vivaldiZeroThreshold  = 1.0e-6
	vivaldiMaxRTT         = 10 * time.Second // Serf refuses longer samples
	nanosecondsPerSeconds = 1e9
)

// Coordinate is a node's place in the space, in Consul's JSON shape. Vec
// and Height are in seconds; Error is dimensionless.
type Coordinate struct {
	Vec        []float64
	Error      float64
	Adjustment float64
	Height     float64
}

// newCoordinate is the origin, where a node starts: the coordinate every
// node has until measured ones arrive (zero Vec, Error 1.5, Height 1e-05).
func newCoordinate() *Coordinate {
	return &Coordinate{Vec: make([]float64, vivaldiDimensions), Error: vivaldiErrorMax, Height: vivaldiHeightMin}
}

func (c *Coordinate) clone() *Coordinate {
	d := *c
	d.Vec = slices.Clone(c.Vec)
	return &d
}

// valid: every component finite.
func (c *Coordinate) valid() bool {
	for _, v := range c.Vec {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	for _, v := range []float64{c.Error, c.Adjustment, c.Height} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// compatible: the same dimensionality, so distances are defined.
func (c *Coordinate) compatible(o *Coordinate) bool { return len(c.Vec) == len(o.Vec) }

// rawDistance: the Euclidean part plus both heights (Vivaldi's height vectors: the
// height is the access link every path to the node crosses), in seconds.
func (c *Coordinate) rawDistance(o *Coordinate) float64 {
	return vecMagnitude(vecDiff(c.Vec, o.Vec)) + c.Height + o.Height
}

// distanceTo is Serf's estimate of the RTT between two coordinates: the
// raw distance plus both adjustments, unless that would not be positive.
func (c *Coordinate) distanceTo(o *Coordinate) time.Duration {
	dist := c.rawDistance(o)
	if adjusted := dist + c.Adjustment + o.Adjustment; adjusted > 0 {
		dist = adjusted
	}
	return time.Duration(dist * nanosecondsPerSeconds)
}

// applyForce moves c by force (seconds) along the unit vector from o to c
// (Vivaldi's simple algorithm: the spring's force); the height moves in
// proportion (Vivaldi's height vectors), never below the minimum.
func (c *Coordinate) applyForce(rnd *rand.Rand, force float64, o *Coordinate) *Coordinate {
	ret := c.clone()
	unit, mag := unitVectorAt(rnd, c.Vec, o.Vec)
	ret.Vec = vecAdd(ret.Vec, vecMul(unit, force))
	if mag > vivaldiZeroThreshold {
		ret.Height = max((ret.Height+o.Height)*force/mag+ret.Height, vivaldiHeightMin)
	}
	return ret
}

// vivaldiClient is one node's coordinate and what it remembers to update
// it: the latency filter's samples per node and the adjustment window.
type vivaldiClient struct {
	coord   *Coordinate
	origin  *Coordinate
	rand    *rand.Rand
	samples map[string][]float64 // the last vivaldiLatencyFilter RTTs per node, in seconds
	adjust  [vivaldiAdjustWindow]float64
	adjustI int
	resets  int // times the coordinate went invalid and restarted at the origin
}

func newVivaldiClient(rnd *rand.Rand) *vivaldiClient {
	return &vivaldiClient{coord: newCoordinate(), origin: newCoordinate(), rand: rnd, samples: map[string][]float64{}}
}

// coordinate returns a copy of the current coordinate.
func (v *vivaldiClient) coordinate() *Coordinate { return v.coord.clone() }

// forget drops a node's samples (it left the pool).
func (v *vivaldiClient) forget(node string) { delete(v.samples, node) }

// update takes one RTT measured to node, whose coordinate is other, and
// returns the new coordinate; samples Serf refuses (an incompatible or
// invalid coordinate, an RTT outside 0–10 s) leave it unchanged.
func (v *vivaldiClient) update(node string, other *Coordinate, rtt time.Duration) (*Coordinate, bool) {
	if !v.coord.compatible(other) || !other.valid() || rtt < 0 || rtt > vivaldiMaxRTT {
		return v.coordinate(), false
	}
	rttSeconds := v.latencyFilter(node, rtt.Seconds())
	v.updateVivaldi(other, rttSeconds)
	v.updateAdjustment(other, rttSeconds)
	v.updateGravity()
	if !v.coord.valid() {
		v.resets++
		v.coord = newCoordinate()
	}
	return v.coordinate(), true
}

// latencyFilter: Ledlie's latency filter, the median of the last three samples, so one
// slow probe (a GC pause, a lost packet retried) does not move the node.
func (v *vivaldiClient) latencyFilter(node string, rttSeconds float64) float64 {
	s := append(v.samples[node], rttSeconds)
	if len(s) > vivaldiLatencyFilter {
		s = s[1:]
	}
	v.samples[node] = s
	sorted := slices.Sorted(slices.Values(s))
	return sorted[len(sorted)/2]
}

// updateVivaldi: Vivaldi's adaptive timestep (its Figure 3). The
// sample's weight w = e_i/(e_i+e_j) trusts a confident peer more; the
// error estimate moves towards the relative error |dist−rtt|/rtt by c_e·w;
// the coordinate moves by δ = c_c·w times the residual (rtt − dist).
func (v *vivaldiClient) updateVivaldi(other *Coordinate, rttSeconds float64) {
	dist := v.coord.distanceTo(other).Seconds()
	rttSeconds = max(rttSeconds, vivaldiZeroThreshold)
	wrongness := math.Abs(dist-rttSeconds) / rttSeconds
	totalError := max(v.coord.Error+other.Error, vivaldiZeroThreshold)
	weight := v.coord.Error / totalError
	v.coord.Error = min(vivaldiCE*weight*wrongness+v.coord.Error*(1.0-vivaldiCE*weight), vivaldiErrorMax)
	force := vivaldiCC * weight * (rttSeconds - dist)
	v.coord = v.coord.applyForce(v.rand, force, other)
}

// updateAdjustment: Serf's refinement of Ledlie's: the mean of the last
// window's residuals (rtt − raw distance), halved because both ends of a
// distance add theirs; it absorbs what a Euclidean space cannot express.
func (v *vivaldiClient) updateAdjustment(other *Coordinate, rttSeconds float64) {
	v.adjust[v.adjustI] = rttSeconds - v.coord.rawDistance(other)
	v.adjustI = (v.adjustI + 1) % vivaldiAdjustWindow
	sum := 0.0
	for _, s := range v.adjust {
		sum += s
	}
	v.coord.Adjustment = sum / (2.0 * vivaldiAdjustWindow)
}

// updateGravity: Ledlie's gravity, a pull towards the origin growing with the
// square of the distance, so the whole system does not drift away.
func (v *vivaldiClient) updateGravity() {
	dist := v.origin.distanceTo(v.coord).Seconds()
	force := -1.0 * math.Pow(dist/vivaldiGravityRho, 2.0)
	v.coord = v.coord.applyForce(v.rand, force, v.origin)
}

// --- vector arithmetic ---

func vecAdd(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] + b[i]
	}
	return r
}

func vecDiff(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] - b[i]
	}
	return r
}

func vecMul(a []float64, f float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] * f
	}
	return r
}

func vecMagnitude(a []float64) float64 {
	sum := 0.0
	for _, x := range a {
		sum += x * x
	}
	return math.Sqrt(sum)
}

// unitVectorAt is the unit vector from b to a and the distance between
// them; two nodes at the same place push apart in a random direction
// (Vivaldi's simple algorithm), from the injected source.
func unitVectorAt(rnd *rand.Rand, a, b []float64) ([]float64, float64) {
	r := vecDiff(a, b)
	if mag := vecMagnitude(r); mag > vivaldiZeroThreshold {
		return vecMul(r, 1.0/mag), mag
	}
	for i := range r {
		r[i] = rnd.Float64() - 0.5
	}
	if mag := vecMagnitude(r); mag > vivaldiZeroThreshold {
		return vecMul(r, 1.0/mag), 0.0
	}
	return make([]float64, len(r)), 0.0
}
