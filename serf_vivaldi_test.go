package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestVivaldiUpdateFollowsTheEquations checks one update against Vivaldi's
// equations (SIGCOMM 2004, the adaptive timestep of its Figure 3) with Serf's refinements, worked
// out here step by step from the constants, not from the core's helpers.
func TestVivaldiUpdateFollowsTheEquations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		otherX     float64 // the other node sits at otherX·e1
		otherError float64
		rtt        time.Duration
	}{
		{"too close: pushed away", 0.010, 0.5, 20 * time.Millisecond},
		{"too far: pulled in", 0.050, 1.0, 10 * time.Millisecond},
		{"confident peer", 0.020, 0.1, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newCoordinate()
			other.Vec[0], other.Error = tc.otherX, tc.otherError
			c := newVivaldiClient(rand.New(rand.NewPCG(1, 2)))
			got, ok := c.update("other", other, tc.rtt)
			if !ok {
				t.Fatal("sample refused")
			}

			// The expected coordinate, by hand: x is e1's component.
			rtt := tc.rtt.Seconds() // one sample: the filter's median is itself
			h0, hj := 10e-6, 10e-6
			dist := tc.otherX + h0 + hj // |x_i − x_j| + h_i + h_j, adjustments 0
			w := 1.5 / (1.5 + tc.otherError)
			wantErr := min(0.25*w*math.Abs(dist-rtt)/rtt+1.5*(1-0.25*w), 1.5) // capped at VivaldiErrorMax
			force := 0.25 * w * (rtt - dist)
			// the unit vector from the other to us is −e1, |x_i − x_j| = otherX
			x := -force
			h := max((h0+hj)*force/tc.otherX+h0, 10e-6)
			raw := math.Abs(x-tc.otherX) + h + hj
			adj := (rtt - raw) / 40 // one sample of 20, halved
			// gravity: towards the origin by (d/ρ)², d the distance to it
			d := math.Abs(x) + h + 10e-6
			if d+adj > 0 {
				d += adj
			}
			g := -math.Pow(d/150, 2)
			dir := math.Copysign(1, x) // the unit vector from the origin to us
			x += dir * g
			h = max((h+10e-6)*g/math.Abs(x-dir*g)+h, 10e-6)

			for _, f := range []struct {
				what      string
				got, want float64
			}{
				{"Vec[0]", got.Vec[0], x}, {"Error", got.Error, wantErr},
				{"Height", got.Height, h}, {"Adjustment", got.Adjustment, adj},
			} {
				if math.Abs(f.got-f.want) > 1e-12 {
					t.Errorf("%s = %.15g, want %.15g", f.what, f.got, f.want)
				}
			}
			for i, v := range got.Vec[1:] {
				if v != 0 {
					t.Errorf("Vec[%d] = %g, want 0 (the force is along e1)", i+1, v)
				}
			}
		})
	}
}

func TestVivaldiRefusesBadSamples(t *testing.T) {
	t.Parallel()
	c := newVivaldiClient(rand.New(rand.NewPCG(1, 2)))
	short := &Coordinate{Vec: make([]float64, 3), Error: 1, Height: 1e-5}
	nan := newCoordinate()
	nan.Vec[2] = math.NaN()
	for _, tc := range []struct {
		other *Coordinate
		rtt   time.Duration
	}{
		{short, time.Millisecond}, {nan, time.Millisecond},
		{newCoordinate(), -time.Millisecond}, {newCoordinate(), 11 * time.Second},
	} {
		if got, ok := c.update("x", tc.other, tc.rtt); ok || got.Error != vivaldiErrorMax {
			t.Errorf("update(%v, %v) = %v, %v; want refused", tc.other, tc.rtt, got, ok)
		}
	}
}

func TestVivaldiLatencyFilterIsTheMedianOfThree(t *testing.T) {
	t.Parallel()
	c := newVivaldiClient(rand.New(rand.NewPCG(1, 2)))
	for i, tc := range []struct {
		sample, want float64
	}{{0.010, 0.010}, {0.500, 0.500}, {0.012, 0.012}, {0.011, 0.012}, {0.900, 0.012}, {0.013, 0.013}} {
		if got := c.latencyFilter("n", tc.sample); got != tc.want {
			t.Errorf("sample %d (%g): filtered %g, want %g", i, tc.sample, got, tc.want)
		}
	}
}

func TestCoordinateDistance(t *testing.T) {
	t.Parallel()
	a, b := newCoordinate(), newCoordinate()
	a.Vec[0], b.Vec[1] = 0.003, 0.004 // 5 ms apart
	a.Height, b.Height = 0.001, 0.002
	if got, want := a.distanceTo(b), 8*time.Millisecond; absDur(got-want) > time.Nanosecond {
		t.Errorf("distance %v, want %v", got, want)
	}
	a.Adjustment, b.Adjustment = 0.001, -0.0005 // the sum stays positive: added
	if got, want := a.distanceTo(b), 8500*time.Microsecond; absDur(got-want) > time.Nanosecond {
		t.Errorf("adjusted distance %v, want %v", got, want)
	}
	a.Adjustment, b.Adjustment = -0.005, -0.005 // it would not: ignored
	if got, want := a.distanceTo(b), 8*time.Millisecond; absDur(got-want) > time.Nanosecond {
		t.Errorf("over-adjusted distance %v, want %v", got, want)
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

func TestCoordinateWireRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCoordinate()
	c.Vec[3], c.Error, c.Adjustment, c.Height = -0.25, 0.3, -1e-4, 0.002
	got, err := decodeCoordinate(encodeCoordinate(c))
	if err != nil || !slices.Equal(got.Vec, c.Vec) || got.Error != c.Error || got.Adjustment != c.Adjustment || got.Height != c.Height {
		t.Fatalf("round trip: %v, %v; want %v", got, err, c)
	}
	b := encodeCoordinate(c)
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(b, 0), {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := decodeCoordinate(bad); err == nil {
			t.Errorf("decodeCoordinate(%x) accepted", bad)
		}
	}
}

func FuzzDecodeCoordinate(f *testing.F) {
	f.Add(encodeCoordinate(newCoordinate()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCoordinate(b); err == nil && !c.valid() {
			t.Fatalf("accepted an invalid coordinate %v", c)
		}
	})
}

// threeClusters is a synthetic latency matrix: three sites (say, two
// regions of one continent and one across an ocean) whose nodes sit in a
// few milliseconds of each other, each behind an access link of its own
// (0.1–1 ms), with a little deterministic jitter, so the matrix is close to,
// but not exactly, a Euclidean space with heights.
func threeClusters(perSite int, rnd *rand.Rand) [][]float64 {
	sites := [][2]float64{{0, 0}, {0.030, 0}, {0.010, 0.080}} // seconds
	type node struct{ x, y, h float64 }
	var nodes []node
	for _, s := range sites {
		for range perSite {
			nodes = append(nodes, node{s[0] + rnd.Float64()*0.004, s[1] + rnd.Float64()*0.004, 0.0001 + rnd.Float64()*0.0009})
		}
	}
	truth := make([][]float64, len(nodes))
	for i, a := range nodes {
		truth[i] = make([]float64, len(nodes))
		for j, b := range nodes {
			if i != j {
				truth[i][j] = math.Hypot(a.x-b.x, a.y-b.y) + a.h + b.h
			}
		}
	}
	for i := range truth { // symmetric jitter of up to ±5%
		for j := i + 1; j < len(truth); j++ {
			truth[i][j] *= 1 + (rnd.Float64()-0.5)*0.1
			truth[j][i] = truth[i][j]
		}
	}
	return truth
}

// simulateVivaldi runs Serf's simulation: each cycle, every node probes one
// other at random and updates from the true RTT and the other's coordinate.
// It returns every pair's relative error |estimate − truth| / truth, sorted.
func simulateVivaldi(truth [][]float64, cycles int, rnd *rand.Rand) []float64 {
	n := len(truth)
	clients := make([]*vivaldiClient, n)
	for i := range clients {
		clients[i] = newVivaldiClient(rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64())))
	}
	for range cycles {
		for i := range clients {
			j := rnd.IntN(n - 1)
			if j >= i {
				j++
			}
			rtt := time.Duration(truth[i][j] * 1e9)
			clients[i].update(fmt.Sprint(j), clients[j].coordinate(), rtt)
		}
	}
	var errs []float64
	for i := range n {
		for j := i + 1; j < n; j++ {
			est := clients[i].coordinate().distanceTo(clients[j].coordinate()).Seconds()
			errs = append(errs, math.Abs(est-truth[i][j])/truth[i][j])
		}
	}
	slices.Sort(errs)
	return errs
}

// TestVivaldiConvergesOnThreeClusters: the median relative error of every
// pair's estimate ends under 15% (the bar). Serf's own simulations
// (coordinate/performance_test.go) hold the mean relative error under 7.5%
// for 25 nodes with random 100±10 ms RTTs, and under 0.3% for exact
// geometries (a line, a grid, two sites); the figures this run reaches are
// logged for comparison.
func TestVivaldiConvergesOnThreeClusters(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 11))
	errs := simulateVivaldi(threeClusters(8, rnd), 1000, rnd)
	median, p90 := errs[len(errs)/2], errs[len(errs)*9/10]
	mean := 0.0
	for _, e := range errs {
		mean += e
	}
	mean /= float64(len(errs))
	t.Logf("24 nodes in 3 sites, 1000 cycles: relative error median %.3f, p90 %.3f, mean %.3f, max %.3f",
		median, p90, mean, errs[len(errs)-1])
	if median >= 0.15 {
		t.Fatalf("median relative error %.3f, want < 0.15", median)
	}
}

// TestVivaldiSimulationIsDeterministic: the same seed, the same coordinates.
func TestVivaldiSimulationIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []float64 {
		rnd := rand.New(rand.NewPCG(3, 4))
		return simulateVivaldi(threeClusters(4, rnd), 100, rnd)
	}
	if a, b := run(), run(); !slices.Equal(a, b) {
		t.Fatal("two runs from one seed differ")
	}
}
