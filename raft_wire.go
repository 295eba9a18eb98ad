// raft_wire.go: the Raft driver's codec, part of the consensus layer: the
// bytes that carry Raft messages and snapshot chunks between servers.
//
// Data flow: raftNode.sendMessage encodes a raftMessage (encodeRaftMessage)
// and hands the frame to the transport (rpc.go's Raft stream); the leader's
// sendSnapshot (raft_snapshot.go) encodes each snapChunk (encodeSnapChunk)
// as the payload of one Raft.InstallSnapshot call. On the receiving server,
// raftNode.receive and receiveSnapshotChunk decode what arrives with
// decodeRaftFrame before anything reaches the loop or the core.
//
// Concurrency: none. Pure functions over byte slices, called from any
// goroutine (the loop, the snapshot sender, the RPC server's readers); a
// frame's reader (newFrameReader, wire.go) belongs to the one call that
// made it.
package main

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
)

// --- wire format ---
//
// A raft frame (the payload of an rpc.go raft-stream frame, or of a
// Raft.InstallSnapshot call for a chunk) is a kind byte, then the fields
// as uvarints and length-prefixed strings:
//
//	'm' message: type, from, fromAddr, to, term, logIndex, logTerm, commit,
//	    seq, hint, hintTerm, flags (1 reject, 2 force), entry count, then
//	    each entry: index, term, type, data
//	'c' snapshot chunk: from, fromAddr, term, seq, index, snapTerm, offset,
//	    total, data
//
// The decoder checks every length against what is left of the frame, so no
// input makes it allocate more than the frame's own size.

const (
	raftFrameMessage = 'm'
	raftFrameChunk   = 'c'
)

// snapChunk is one piece of an InstallSnapshot.
type snapChunk struct {
	From, FromAddr  string
	Term, Seq       uint64
	Index, SnapTerm uint64
	Offset, Total   uint64
	Data            []byte
}

func encodeRaftMessage(b []byte, m *raftMessage) []byte {
	b = append(b, raftFrameMessage, byte(m.Type))
	b = appendString(b, m.From)
	b = appendString(b, m.FromAddr)
	b = appendString(b, m.To)
	b = appendUvarints(b, m.Term, m.LogIndex, m.LogTerm, m.Commit, m.Seq, m.Hint, m.HintTerm)
	var flags byte
	if m.Reject {
		flags |= 1
	}
	if m.Force {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = appendUvarints(b, e.Index, e.Term)
		b = append(b, byte(e.Type))
		b = appendBytes(b, e.Data)
	}
	return b
}

func encodeSnapChunk(c *snapChunk) []byte {
	b := make([]byte, 0, len(c.Data)+128)
	b = append(b, raftFrameChunk)
	b = appendString(b, c.From)
	b = appendString(b, c.FromAddr)
	b = appendUvarints(b, c.Term, c.Seq, c.Index, c.SnapTerm, c.Offset, c.Total)
	return appendBytes(b, c.Data)
}

// raftWireErrors are the errors of the frames read by newFrameReader.
var raftWireErrors = wireErrors{
	truncated: errors.New("truncated"),
	badVarint: errors.New("bad varint"),
	length:    func(n uint64, _, _ int) error { return fmt.Errorf("length %d beyond the frame", n) },
}

// newFrameReader reads the fields of a frame (wire.go), every length
// bounded by what is left of it; the first error sticks. Raft's frames,
// the forwarded HTTP requests (rpc_forward.go), user events (serf_lan.go)
// and snapshot upload chunks (agent_restore.go) share its errors.
func newFrameReader(p []byte) *wireReader {
	return &wireReader{b: p, errs: &raftWireErrors}
}

// decodeRaftFrame decodes a raft frame: a message, or a snapshot chunk.
// Entry data and chunk data alias p.
func decodeRaftFrame(p []byte) (raftMessage, *snapChunk, error) {
	r := newFrameReader(p)
	var m raftMessage
	switch r.byte() {
	case raftFrameMessage:
		m.Type = raftMsgType(r.byte())
		m.From, m.FromAddr, m.To = string(r.bytes()), string(r.bytes()), string(r.bytes())
		m.Term, m.LogIndex, m.LogTerm = r.uvarint(), r.uvarint(), r.uvarint()
		m.Commit, m.Seq, m.Hint, m.HintTerm = r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
		flags := r.byte()
		m.Reject, m.Force = flags&1 != 0, flags&2 != 0
		count := r.uvarint()
		if r.err == nil && count > uint64(len(r.b))/4 { // an entry takes at least 4 bytes
			r.err = fmt.Errorf("%d entries cannot fit in the frame", count)
		}
		if r.err == nil && count > 0 {
			m.Entries = make([]raftEntry, 0, count)
		}
		for i := uint64(0); i < count && r.err == nil; i++ {
			e := raftEntry{Index: r.uvarint(), Term: r.uvarint(), Type: raftEntryType(r.byte())}
			e.Data = r.bytes()
			m.Entries = append(m.Entries, e)
		}
		if r.err == nil && (m.Type == 0 || m.Type >= maxRaftMsgType || m.Type == msgSnap || m.Type == msgSnapStatus) {
			r.err = fmt.Errorf("message type %d is not sent over the network", m.Type)
		}
		if r.err == nil && len(r.b) > 0 {
			r.err = errors.New("trailing bytes")
		}
		if r.err != nil {
			return raftMessage{}, nil, fmt.Errorf("raft message: %w", r.err)
		}
		return m, nil, nil
	case raftFrameChunk:
		c := &snapChunk{From: string(r.bytes()), FromAddr: string(r.bytes())}
		c.Term, c.Seq, c.Index, c.SnapTerm, c.Offset, c.Total = r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
		c.Data = r.bytes()
		if r.err == nil && (len(r.b) > 0 || c.Offset+uint64(len(c.Data)) > c.Total || c.Offset > c.Total) {
			r.err = errors.New("inconsistent offsets or trailing bytes")
		}
		if r.err != nil {
			return raftMessage{}, nil, fmt.Errorf("snapshot chunk: %w", r.err)
		}
		return m, c, nil
	}
	return raftMessage{}, nil, cmp.Or(r.err, errors.New("unknown raft frame kind"))
}
