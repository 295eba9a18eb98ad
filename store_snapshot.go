// store_snapshot.go: streaming the whole state store out and back in.
//
// A snapshot is the state at one index, written table by table in key order:
//
//	"miniconsul-snapshot-1\n"
//	record*   (tag byte, then the record's fields)
//	tagEnd, SHA-256 of every byte before it
//
// Integers are uvarints, strings and byte slices a uvarint length then the
// bytes. KV entries and tombstones (nearly all of a large state) have a
// compact binary form; catalog records are JSON, by marshalExact, which
// keeps names that are not UTF-8 (store_codec.go).
//
// Restore reads the stream into a brand-new state, building each tree in
// one linear pass from the sorted keys (treeBuilder), so it needs about the
// memory of the state itself and nothing per key besides. Only when the
// trailing checksum matches is the new state published, in one atomic
// store: a corrupt or truncated snapshot is refused and the store is left
// exactly as it was. Every length is bounded before anything is allocated.
//
// Concurrency: writeSnapshot works on an immutable state, so writers go on
// while it runs. Restore, like apply, must be called from the single writer
// goroutine; it is the FSM's Restore in Raft §7. A snapshot is also what
// PUT /v1/snapshot takes (agent_restore.go), checked as it streams in: a
// body that is not one is refused at its first bytes.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

const snapshotMagic = "miniconsul-snapshot-1\n"

// maxSnapshotField bounds any one string or value read from a snapshot.
const maxSnapshotField = 64 << 20

// Record tags, in the order tables are written.
const (
	tagEnd byte = iota
	tagMeta
	tagKV
	tagTombstone
	tagNode
	tagService
	tagCheck
	tagIndex
	tagSession
	tagLockDelay
	tagAutopilot   // the autopilot configuration, when one is stored (store_autopilot.go)
	tagConfigEntry // store_config_entry.go
	tagConnectCA   // the CA's record, once the first leader made it (store_connect_ca.go)
	tagACL         // the ACL tables, once there is anything in them (store_acl.go)

	tagPreparedQuery // store_query.go
	tagCoordinate    // a node's coordinate (store_coordinate.go)
	tagLast          = tagCoordinate
)

var errCorruptSnapshot = errors.New("corrupt snapshot")

type snapshotWriter struct {
	w   *bufio.Writer
	sum hash.Hash
	buf []byte
	err error
}

func (sw *snapshotWriter) write(b []byte) {
	if sw.err != nil {
		return
	}
	sw.sum.Write(b)
	_, sw.err = sw.w.Write(b)
}

func (sw *snapshotWriter) uvarint(v uint64) {
	sw.buf = binary.AppendUvarint(sw.buf[:0], v)
	sw.write(sw.buf)
}

func (sw *snapshotWriter) bytes(b []byte) {
	sw.uvarint(uint64(len(b)))
	sw.write(b)
}

func (sw *snapshotWriter) str(s string) {
	sw.uvarint(uint64(len(s)))
	if sw.err == nil {
		sw.sum.Write([]byte(s))
		_, sw.err = sw.w.WriteString(s)
	}
}

func (sw *snapshotWriter) json(v any) {
	b, err := marshalExact(v)
	if err != nil && sw.err == nil {
		sw.err = err
	}
	sw.bytes(b)
}

// writeSnapshot streams st to w.
func writeSnapshot(st *state, w io.Writer) error {
	sw := &snapshotWriter{w: bufio.NewWriterSize(w, 64<<10), sum: sha256.New()}
	sw.write([]byte(snapshotMagic))
	sw.write([]byte{tagMeta})
	sw.uvarint(st.index)
	sw.uvarint(st.reapedIndex)
	st.kvs.each(func(_ string, e *KVEntry) bool {
		sw.write([]byte{tagKV})
		sw.str(e.Key)
		sw.uvarint(e.Flags)
		sw.bytes(e.Value)
		sw.uvarint(e.CreateIndex)
		sw.uvarint(e.ModifyIndex)
		sw.uvarint(e.LockIndex)
		sw.str(e.Session)
		return sw.err == nil
	})
	st.tombstones.each(func(k string, idx uint64) bool {
		sw.write([]byte{tagTombstone})
		sw.str(k)
		sw.uvarint(idx)
		return sw.err == nil
	})
	st.nodes.each(func(_ string, n *Node) bool {
		sw.write([]byte{tagNode})
		sw.json(n)
		return sw.err == nil
	})
	st.services.each(func(k string, s *Service) bool {
		sw.write([]byte{tagService})
		sw.str(k[:len(k)-len(s.ID)-1]) // the node
		sw.json(s)
		return sw.err == nil
	})
	st.checks.each(func(_ string, c *HealthCheck) bool {
		sw.write([]byte{tagCheck})
		sw.json(c)
		return sw.err == nil
	})
	st.indexes.each(func(k string, idx uint64) bool {
		sw.write([]byte{tagIndex})
		sw.str(k)
		sw.uvarint(idx)
		return sw.err == nil
	})
	st.sessions.each(func(_ string, s *Session) bool {
		sw.write([]byte{tagSession})
		sw.json(s)
		return sw.err == nil
	})
	st.lockDelays.each(func(k string, until int64) bool {
		sw.write([]byte{tagLockDelay})
		sw.str(k)
		sw.uvarint(uint64(until))
		return sw.err == nil
	})
	if st.autopilot != nil {
		sw.write([]byte{tagAutopilot})
		sw.json(st.autopilot)
	}
	st.configEntries.each(func(_ string, e *configEntry) bool {
		sw.write([]byte{tagConfigEntry})
		sw.json(e)
		return sw.err == nil
	})
	if st.connectCA != nil {
		sw.write([]byte{tagConnectCA})
		sw.json(st.connectCA)
	}
	if rec := st.acl.record(); rec != nil {
		sw.write([]byte{tagACL})
		sw.json(rec)
	}
	st.queries.byID.each(func(_ string, q *PreparedQuery) bool {
		sw.write([]byte{tagPreparedQuery})
		sw.json(q)
		return sw.err == nil
	})
	st.coordinates.each(func(_ string, e *CoordinateEntry) bool {
		sw.write([]byte{tagCoordinate})
		sw.json(e)
		return sw.err == nil
	})
	sw.write([]byte{tagEnd})
	if sw.err != nil {
		return sw.err
	}
	if _, err := sw.w.Write(sw.sum.Sum(nil)); err != nil {
		return err
	}
	return sw.w.Flush()
}

// snapshotWireErrors are a snapshot's errors: each is errCorruptSnapshot.
var snapshotWireErrors = wireErrors{
	truncated: fmt.Errorf("%w: truncated", errCorruptSnapshot),
	badVarint: fmt.Errorf("%w: bad integer", errCorruptSnapshot),
	length:    func(n uint64, _, _ int) error { return fmt.Errorf("%w: field of %d bytes", errCorruptSnapshot, n) },
}

// snapshotReader reads a snapshot's records from a stream (a wireReader,
// wire.go), summing every byte it reads; a field is at most
// maxSnapshotField bytes.
type snapshotReader struct{ wireReader }

func (sr *snapshotReader) failf(format string, args ...any) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: "+format, append([]any{errCorruptSnapshot}, args...)...)
	}
}

func (sr *snapshotReader) json(v any) {
	b := sr.bytes()
	if sr.err == nil {
		if err := unmarshalExact(b, v); err != nil {
			sr.failf("bad record: %v", err)
		}
	}
}

// checkSnapshot reads a snapshot from r in constant memory, checking its
// magic (at once), that it ends in tagEnd and that its checksum matches,
// but not its records: what an agent that only passes a snapshot on checks
// (agent_restore.go). readSnapshot checks everything.
func checkSnapshot(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a miniconsul snapshot", errCorruptSnapshot)
	}
	sum := sha256.New()
	sum.Write(magic)
	// The last sha256.Size bytes are the checksum of all before them.
	tail := make([]byte, 0, 2*sha256.Size)
	buf := make([]byte, 64<<10)
	last := byte(tagEnd + 1) // the last byte before the tail
	for {
		k, err := br.Read(buf)
		tail = append(tail, buf[:k]...)
		if over := len(tail) - sha256.Size; over > 0 {
			sum.Write(tail[:over])
			last = tail[over-1]
			tail = append(tail[:0], tail[over:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: truncated", errCorruptSnapshot)
		}
	}
	switch {
	case len(tail) < sha256.Size || last != tagEnd:
		return fmt.Errorf("%w: truncated", errCorruptSnapshot)
	case !bytes.Equal(sum.Sum(nil), tail):
		return fmt.Errorf("%w: checksum mismatch", errCorruptSnapshot)
	}
	return nil
}

// readSnapshot builds a state from r. It returns an error, and no state,
// unless the whole stream is well formed and its checksum matches.
func readSnapshot(r io.Reader) (*state, error) {
	sr := &snapshotReader{wireReader{src: bufio.NewReaderSize(r, 64<<10), sum: sha256.New(), maxField: maxSnapshotField, errs: &snapshotWireErrors}}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(sr.src, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a miniconsul snapshot", errCorruptSnapshot)
	}
	sr.sum.Write(magic)
	var (
		st                  state
		kvs                 treeBuilder[*KVEntry]
		tombstones, indexes treeBuilder[uint64]
		nodes               treeBuilder[*Node]
		services            treeBuilder[*Service]
		checks              treeBuilder[*HealthCheck]
		sessions            treeBuilder[*Session]
		lockDelays          treeBuilder[int64]
		configEntries       treeBuilder[*configEntry]
		queries             treeBuilder[*PreparedQuery]
		nodeSessions        tree[struct{}]
		sessionKeys         tree[struct{}]
		names               = map[string]serviceRef{}
		lastTag             = tagMeta
		inOrder             = true
		sawMeta             bool
	)
	for sr.err == nil {
		tag := sr.byte()
		if sr.err != nil {
			break
		}
		if tag > tagLast || (tag != tagEnd && tag < lastTag) || (tag == tagMeta && sawMeta) {
			sr.failf("unexpected record %d", tag)
			break
		}
		lastTag = max(tag, tagMeta)
		switch tag {
		case tagEnd:
			want := sr.sum.Sum(nil)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(sr.src, got); err != nil {
				sr.failf("truncated checksum")
			} else if string(got) != string(want) {
				sr.failf("checksum mismatch")
			}
			if sr.err == nil {
				if _, err := sr.src.ReadByte(); err != io.EOF {
					sr.failf("data after the checksum")
				}
			}
			if sr.err != nil {
				return nil, sr.err
			}
			if !sawMeta {
				return nil, fmt.Errorf("%w: no header", errCorruptSnapshot)
			}
			st.kvs, st.tombstones, st.indexes = kvs.tree(), tombstones.tree(), indexes.tree()
			st.nodes, st.services, st.checks = nodes.tree(), services.tree(), checks.tree()
			st.checksByService = buildServiceChecks(st.checks)
			st.serviceNames, st.connectNames = buildServiceNames(names), buildConnectNames(names)
			st.sessions, st.lockDelays = sessions.tree(), lockDelays.tree()
			st.nodeSessions, st.sessionKeys = nodeSessions, sessionKeys
			st.configEntries = configEntries.tree()
			st.queries.byID = queries.tree()
			return &st, nil
		case tagMeta:
			sawMeta = true
			st.index = sr.uvarint()
			st.reapedIndex = sr.uvarint()
		case tagKV:
			e := &KVEntry{Key: sr.string(), Flags: sr.uvarint(), Value: sr.bytes()}
			e.CreateIndex, e.ModifyIndex, e.LockIndex = sr.uvarint(), sr.uvarint(), sr.uvarint()
			e.Session = sr.string()
			inOrder = inOrder && kvs.add(e.Key, e)
			if e.Session != "" {
				sessionKeys = sessionKeys.set(itemKey(e.Session, e.Key), struct{}{})
			}
		case tagTombstone:
			k := sr.string()
			inOrder = inOrder && tombstones.add(k, sr.uvarint())
		case tagNode:
			n := &Node{}
			sr.json(n)
			inOrder = inOrder && nodes.add(n.Node, n)
		case tagService:
			node := sr.string()
			s := &Service{}
			sr.json(s)
			inOrder = inOrder && services.add(itemKey(node, s.ID), s)
			names[serviceNameKey(s.Service, node, s.ID)] = serviceRef{node, s}
		case tagCheck:
			c := &HealthCheck{}
			sr.json(c)
			inOrder = inOrder && checks.add(itemKey(c.Node, c.CheckID), c)
		case tagIndex:
			k := sr.string()
			inOrder = inOrder && indexes.add(k, sr.uvarint())
		case tagSession:
			s := &Session{}
			sr.json(s)
			inOrder = inOrder && sessions.add(s.ID, s)
			nodeSessions = nodeSessions.set(itemKey(s.Node, s.ID), struct{}{})
		case tagLockDelay:
			k := sr.string()
			inOrder = inOrder && lockDelays.add(k, int64(sr.uvarint()))
		case tagAutopilot:
			if st.autopilot != nil {
				sr.failf("two autopilot records")
			}
			st.autopilot = &AutopilotConfiguration{}
			sr.json(st.autopilot)
		case tagConfigEntry:
			e := &configEntry{}
			sr.json(e)
			if sr.err == nil && e.validate() != nil {
				sr.failf("bad config entry")
			}
			if sr.err == nil {
				inOrder = inOrder && configEntries.add(configEntryKey(e.kindName()), e)
			}
		case tagConnectCA:
			if st.connectCA != nil {
				sr.failf("two connect CA records")
			}
			st.connectCA = &connectCAState{}
			sr.json(st.connectCA)
		case tagACL:
			rec := &aclRecord{}
			sr.json(rec)
			st.acl = rec.state()
		case tagPreparedQuery:
			q := &PreparedQuery{}
			sr.json(q)
			if sr.err == nil && (q.ID == "" || parseQuery(q) != nil) {
				sr.failf("bad prepared query")
			}
			if sr.err == nil {
				inOrder = inOrder && queries.add(q.ID, q)
				st.queries = st.queries.indexed(q)
			}
		case tagCoordinate:
			e := &CoordinateEntry{}
			if sr.json(e); sr.err == nil && (e.Coord == nil || !e.Coord.valid()) {
				sr.failf("bad coordinate of %q", e.Node)
			}
			st.coordinates = st.coordinates.set(e.Node, e)
		}
		if !inOrder {
			sr.failf("records out of order")
		}
	}
	return nil, sr.err
}

// buildServiceChecks indexes checks (node \x00 check ID) by node, service
// and check (state.checksByService).
func buildServiceChecks(checks tree[*HealthCheck]) tree[*HealthCheck] {
	var t tree[*HealthCheck]
	checks.each(func(key string, c *HealthCheck) bool {
		node := key[:len(key)-len(c.CheckID)-1]
		t = t.set(serviceCheckKey(node, c.ServiceID, c.CheckID), c)
		return true
	})
	return t
}

// buildServiceNames makes the by-name service index from its entries.
func buildServiceNames(names map[string]serviceRef) tree[serviceRef] {
	var t tree[serviceRef]
	for k, r := range names {
		t = t.set(k, r)
	}
	return t
}

// install makes st, read from a snapshot, the state at log index index.
// Its tables keep the indexes the snapshot has, which may lie below index
// (X-Consul-Index goes back, as after a restore in Consul), so every
// watcher is woken and every blocking query returns (state.restores).
func (s *Store) install(st *state, index uint64) {
	st.index = index
	st.restores = s.snapshot().restores + 1
	s.current.Store(st)
	s.hub.notifyAll()
}

// notifyAll wakes every watcher.
func (h *watchHub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range []map[string]map[*watch]struct{}{h.topics, h.kvKeys, h.kvPrefixes} {
		for _, set := range m {
			fireLocked(set)
		}
	}
}
