// store_coordinate.go: the coordinates table, Consul's: each node's network
// coordinate (serf_vivaldi.go) as its agent last sent it, for
// /v1/coordinate and ?near (http_coordinate.go).
//
// Data flow: agents send their coordinate to a server (agent_coordinate.go);
// the server batches them and applies one cmdCoordinates per batch through
// Raft. apply keeps the coordinates of nodes the catalog has and silently
// drops the others, as Consul's CoordinateBatchUpdate; a node's coordinate
// goes with the node (deleteNode). Snapshots carry the table (tagCoordinate).
//
// Concurrency: as the whole store: apply on the log's goroutine, reads on
// immutable snapshots.
package main

import "errors"

const (
	cmdCoordinates   commandType = "coordinates"
	indexCoordinates             = "coordinates"
)

// CoordinateEntry is one node's coordinate, in Consul's JSON shape.
type CoordinateEntry struct {
	Node    string
	Segment string
	Coord   *Coordinate
}

// applyCoordinates stores a batch; the updates of unknown nodes are dropped.
func (t *txn) applyCoordinates(batch []CoordinateEntry) error {
	changed := false
	for _, u := range batch {
		if u.Coord == nil || !u.Coord.valid() {
			return errors.New("invalid coordinate")
		}
		if _, ok := t.st.nodes.get(u.Node); !ok {
			continue
		}
		e := u
		e.Coord = u.Coord.clone()
		t.st.coordinates = t.st.coordinates.set(u.Node, &e)
		changed = true
	}
	if changed {
		t.bump(indexCoordinates)
	}
	return nil
}

// deleteCoordinate drops a node's coordinate with the node.
func (t *txn) deleteCoordinate(node string) {
	var ok bool
	if t.st.coordinates, ok = t.st.coordinates.delete(node); ok {
		t.bump(indexCoordinates)
	}
}

// coordinateList is every coordinate, by node name.
func (st *state) coordinateList() []*CoordinateEntry {
	out := []*CoordinateEntry{}
	st.coordinates.each(func(_ string, e *CoordinateEntry) bool {
		out = append(out, e)
		return true
	})
	return out
}

// nodeCoordinate is a node's coordinate, nil when it has none.
func (st *state) nodeCoordinate(node string) *Coordinate {
	if e, ok := st.coordinates.get(node); ok {
		return e.Coord
	}
	return nil
}
