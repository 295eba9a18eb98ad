// agent_coordinate.go: how network coordinates travel from the gossip
// pools to the servers' store, and how they order things: Consul's
// sendCoordinate, the Coordinate endpoint's batching, and the distance
// sorts behind ?near and the datacenters' order.
//
// Data flow:
//
//	every agent: LAN pool's coordinate (serf_coordinate.go) → every
//	  RateScaledInterval(64/s, sync_coordinate_interval_min, members) plus
//	  a random stagger → PUT /v1/coordinate/update on a server (a client's
//	  goes by HTTP.Request, rpc_forward.go), with the agent token
//	server: the update (http_coordinate.go) → pending, the latest per node
//	  → every consul.coordinate.update_period (5 s; -dev 100 ms) → one
//	  cmdCoordinates per 128 updates, at most 5 batches a period (Consul's
//	  update_batch_size and update_max_batches; the rest discarded, logged)
//	  → Raft → store_coordinate.go
//
// Reads: sortNear orders a list by the distance of each element's node
// from a source node (the store's coordinates, Serf's distance);
// datacentersByRTT orders datacenters by the median distance from this
// server's WAN coordinate to theirs (Consul's GetDatacentersByDistance).
//
// Concurrency: pendingCoordinates.mu guards the pending updates, which
// HTTP handlers add and the flush loop takes; both loops stop with
// shutdownCh.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	syncCoordinateRateTarget   = 64.0 // Consul's sync_coordinate_rate_target: updates per second the servers take
	coordinateUpdateBatchSize  = 128  // Consul's consul.coordinate.update_batch_size
	coordinateUpdateMaxBatches = 5    // Consul's consul.coordinate.update_max_batches
)

// pendingCoordinates are the updates a server has taken and not yet applied.
type pendingCoordinates struct {
	mu      sync.Mutex
	updates map[string]CoordinateEntry // node:segment → its latest
}

func (p *pendingCoordinates) add(e CoordinateEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.updates == nil {
		p.updates = map[string]CoordinateEntry{}
	}
	p.updates[e.Node+":"+e.Segment] = e
}

func (p *pendingCoordinates) take() []CoordinateEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := slices.Sorted(maps.Keys(p.updates))
	out := make([]CoordinateEntry, 0, len(keys))
	for _, k := range keys {
		out = append(out, p.updates[k])
	}
	p.updates = nil
	return out
}

// runCoordinates sends this agent's coordinate and, on a server, applies
// the updates it takes, until shutdown.
func (a *Agent) runCoordinates() {
	if a.cfg.Server {
		a.wg.Go(func() { every(a.shutdownCh, a.cfg.CoordinateUpdatePeriod, func(time.Time) { a.flushCoordinates() }) })
	}
	for {
		// Consul's lib.RateScaledInterval plus lib.RandomStagger.
		intv := max(a.cfg.SyncCoordinateIntervalMin, time.Duration(float64(time.Second)*float64(len(a.lan().Members()))/syncCoordinateRateTarget))
		timer := time.NewTimer(intv + rand.N(intv))
		select {
		case <-timer.C:
			a.sendCoordinate()
		case <-a.shutdownCh:
			timer.Stop()
			return
		}
	}
}

// sendCoordinate sends the LAN coordinate to a server once.
func (a *Agent) sendCoordinate() {
	body, err := json.Marshal(CoordinateEntry{Node: a.cfg.NodeName, Coord: a.lan().Coordinate()})
	if err != nil {
		return
	}
	header := http.Header{}
	if t := a.acl.agentToken(); t != "" {
		header.Set("X-Consul-Token", t)
	}
	ctx, cancel := context.WithTimeout(a.lifetime(), rpcDefaultCallTimeout)
	defer cancel()
	resp, err := a.roundTrip(ctx, forwardRequest{Method: http.MethodPut, URI: "/v1/coordinate/update", Header: header, Body: body}, false)
	switch {
	case err != nil:
		a.logger.Error("Coordinate update error", "error", err)
	case resp.Status == http.StatusForbidden:
		a.logger.Warn("Coordinate update blocked by ACLs")
	case resp.Status != http.StatusOK:
		a.logger.Error("Coordinate update error", "status", resp.Status, "error", strings.TrimSpace(string(resp.Body)))
	}
}

// flushCoordinates applies the pending updates, in batches.
func (a *Agent) flushCoordinates() {
	updates := a.coordinates.take()
	if limit := coordinateUpdateBatchSize * coordinateUpdateMaxBatches; len(updates) > limit {
		a.logger.Warn("Discarded coordinate updates", "number_discarded", len(updates)-limit)
		updates = updates[:limit]
	}
	for batch := range slices.Chunk(updates, coordinateUpdateBatchSize) {
		if _, err := a.apply(a.lifetime(), &command{Type: cmdCoordinates, Coordinates: batch}); err != nil {
			a.logger.Warn("Batch update failed", "error", err)
			return
		}
	}
}

// sortNear orders list, stably, by the estimated RTT from node from to
// each element's node (Serf's distance, serf_vivaldi.go); elements whose
// node has no coordinate go last. A source without a coordinate (an
// unknown node) leaves the order as it is, as Consul's sortNodesByDistanceFrom.
func sortNear[T any](st *state, from string, list []T, nodeOf func(T) string) {
	src := st.nodeCoordinate(from)
	if from == "" || src == nil {
		return
	}
	type keyed struct {
		dist float64
		v    T
	}
	ks := make([]keyed, len(list))
	for i, v := range list {
		ks[i] = keyed{math.Inf(1), v}
		if c := st.nodeCoordinate(nodeOf(v)); c != nil && src.compatible(c) {
			ks[i].dist = src.distanceTo(c).Seconds()
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.dist, b.dist) })
	for i := range ks {
		list[i] = ks[i].v
	}
}

// sortCheckServiceNodesNear orders health's instances by their node's RTT
// from node from (for ?near and prepared queries' Near).
func sortCheckServiceNodesNear(st *state, from string, csns []CheckServiceNode) {
	sortNear(st, from, csns, func(c CheckServiceNode) string { return c.Node.Node })
}

// datacentersByRTT lists the datacenters of the WAN pool's servers, nearest
// first (datacentersByDistance); only the local one on a client.
func (a *Agent) datacentersByRTT() []string {
	if a.wan() == nil {
		return []string{a.cfg.Datacenter}
	}
	return datacentersByDistance(a.cfg.Datacenter, a.wan().Coordinate(), a.wan().Members(), a.wan().CachedCoordinate)
}

// datacentersByDistance orders the datacenters of the servers among
// members, as Consul's GetDatacentersByDistance: each by the median
// estimated RTT from self to its servers that have not left (the local
// datacenter's count 0; a server without a coordinate is infinitely far),
// ties by name.
func datacentersByDistance(local string, self *Coordinate, members []swimMember, coordOf func(string) (*Coordinate, bool)) []string {
	rtts := map[string][]float64{local: {0}}
	for _, m := range members {
		dc, _, ok := wanServer(m)
		if !ok || m.State == swimLeft {
			continue
		}
		rtt := 0.0
		if dc != local {
			rtt = math.Inf(1)
			if c, ok := coordOf(m.Name); ok && self.compatible(c) {
				rtt = self.distanceTo(c).Seconds()
			}
		}
		rtts[dc] = append(rtts[dc], rtt)
	}
	median := map[string]float64{}
	for dc, r := range rtts {
		slices.Sort(r)
		median[dc] = r[len(r)/2]
	}
	names := slices.Collect(maps.Keys(rtts))
	slices.SortFunc(names, func(x, y string) int { return cmp.Or(cmp.Compare(median[x], median[y]), cmp.Compare(x, y)) })
	return names
}

// datacenterCoordinates is /v1/coordinate/datacenters: per datacenter, the
// coordinates of its servers in the WAN pool that have not left, as this
// server's cache has them, under their plain node names.
func (a *Agent) datacenterCoordinates() []datacenterMap {
	byDC := map[string][]*CoordinateEntry{}
	for _, m := range a.wanMembers() {
		dc, _, ok := wanServer(m)
		if !ok || m.State == swimLeft {
			continue
		}
		c, ok := a.wan().CachedCoordinate(m.Name)
		if !ok {
			continue
		}
		byDC[dc] = append(byDC[dc], &CoordinateEntry{Node: strings.TrimSuffix(m.Name, "."+dc), Coord: c})
	}
	out := []datacenterMap{}
	for _, dc := range slices.Sorted(maps.Keys(byDC)) {
		out = append(out, datacenterMap{Datacenter: dc, AreaID: "wan", Coordinates: byDC[dc]})
	}
	return out
}

// datacenterMap is one datacenter's servers' coordinates, Consul's shape.
type datacenterMap struct {
	Datacenter  string
	AreaID      string
	Coordinates []*CoordinateEntry
}
