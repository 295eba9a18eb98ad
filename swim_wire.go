// swim_wire.go: the codec of the SWIM core (swim.go), part of its pure
// core: every gossip message (SWIM's, Lifeguard's nacks, and Serf's user
// events, leave intents and queries, swim_serf.go) as bytes and back.
//
// Data flow: the core encodes what it sends (swimMsg.encode, and
// encodeSwimCompound to pack several into one UDP packet) and decodes what
// the driver (swim_node.go) hands it: decodeSwimPacket for a UDP packet,
// decodeSwimStream for a TCP payload. The driver seals and opens the bytes
// with the keyring (serf_keyring.go) on the way out and in.
//
// Wire format: one type byte, then the message's fields as uvarints and
// length-prefixed strings. Several messages travel as one compound packet
// of at most PacketSize bytes. The decoder is bounded: it checks every
// length against what is left of the input, so it never allocates from a
// length it was told, only in proportion to the bytes it was given.
//
// Concurrency: none. Encoding and decoding are pure functions of their
// input; the core (swim.go) calls them from its owner's goroutine, the
// driver (swim_node.go) and the keyring (serf_keyring.go) from theirs.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// --- wire format ---

type swimMsgType uint8

const (
	swimMsgPing swimMsgType = iota + 1
	swimMsgPingReq
	swimMsgAck
	swimMsgNack
	swimMsgAlive
	swimMsgSuspect
	swimMsgDead
	swimMsgUser
	swimMsgCompound
	swimMsgPushPull
	swimMsgLeaveIntent   // Serf's leave intent, sent by a force-leave
	swimMsgQuery         // swim_serf.go
	swimMsgQueryResponse // swim_serf.go
)

// swimMsg is every message; each type uses some of the fields.
type swimMsg struct {
	Type        swimMsgType
	Seq         uint64            // ping, ping-req, ack, nack: the probe's sequence number; query, response: the query's id
	Node        string            // the member it is about; ping: the member meant to answer
	Addr        string            // alive: the member's address; ping-req: the target's; query: the source's
	From        string            // suspect, dead: the accuser (the member itself: a leave); ping, push-pull, leave intent, query, response: the sender
	Incarnation uint64            // alive, suspect, dead, leave intent
	Tags        map[string]string // alive
	Nack        bool              // ping-req: send a nack if the target does not answer (Lifeguard §IV.A)
	Prune       bool              // leave intent: forget the member, not just mark it left
	LTime       uint64            // user, query, response: the Lamport time; push-pull: the sender's user event clock
	QLTime      uint64            // push-pull: the sender's query clock
	Timeout     time.Duration     // query: how long the source collects answers (whole milliseconds)
	Name        string            // user, query
	Payload     []byte            // user, query, response; ack: the responder's payload, optional (swim_ping.go)
	States      []swimMember      // push-pull: every member the sender knows
	Events      []swimUserEvent   // push-pull: the sender's recent user events
}

func (m *swimMsg) encode() []byte {
	b := []byte{byte(m.Type)}
	switch m.Type {
	case swimMsgPing:
		b = appendString(appendString(binary.AppendUvarint(b, m.Seq), m.Node), m.From)
	case swimMsgPingReq:
		b = appendString(appendString(binary.AppendUvarint(b, m.Seq), m.Node), m.Addr)
		b = appendBool(b, m.Nack)
	case swimMsgAck:
		b = binary.AppendUvarint(b, m.Seq)
		if len(m.Payload) > 0 { // an additive field: version 1, the payload (swim_ping.go)
			b = appendBytes(append(b, swimAckPayloadVersion), m.Payload)
		}
	case swimMsgNack:
		b = binary.AppendUvarint(b, m.Seq)
	case swimMsgAlive:
		b = appendString(appendString(binary.AppendUvarint(b, m.Incarnation), m.Node), m.Addr)
		b = appendSwimTags(b, m.Tags)
	case swimMsgSuspect, swimMsgDead:
		b = appendString(appendString(binary.AppendUvarint(b, m.Incarnation), m.Node), m.From)
	case swimMsgUser:
		b = appendString(binary.AppendUvarint(b, m.LTime), m.Name)
		b = appendBytes(b, m.Payload)
	case swimMsgLeaveIntent:
		b = appendString(appendString(binary.AppendUvarint(b, m.Incarnation), m.Node), m.From)
		b = appendBool(b, m.Prune)
	case swimMsgQuery:
		b = appendString(appendString(binary.AppendUvarint(binary.AppendUvarint(b, m.LTime), m.Seq), m.From), m.Addr)
		b = binary.AppendUvarint(b, uint64(m.Timeout/time.Millisecond))
		b = appendBytes(appendString(b, m.Name), m.Payload)
	case swimMsgQueryResponse:
		b = appendString(binary.AppendUvarint(binary.AppendUvarint(b, m.LTime), m.Seq), m.From)
		b = appendBytes(b, m.Payload)
	case swimMsgPushPull:
		b = binary.AppendUvarint(binary.AppendUvarint(appendString(b, m.From), m.LTime), m.QLTime)
		b = binary.AppendUvarint(b, uint64(len(m.States)))
		for _, st := range m.States {
			b = appendString(appendString(b, st.Name), st.Addr)
			b = binary.AppendUvarint(append(b, byte(st.State)), st.Incarnation)
			b = appendSwimTags(b, st.Tags)
		}
		b = binary.AppendUvarint(b, uint64(len(m.Events)))
		for _, e := range m.Events {
			b = appendBytes(appendString(binary.AppendUvarint(b, e.LTime), e.Name), e.Payload)
		}
	}
	return b
}

// encodeSwimCompound packs messages into one packet (a single one as is).
func encodeSwimCompound(msgs [][]byte) []byte {
	if len(msgs) == 1 {
		return msgs[0]
	}
	b := binary.AppendUvarint([]byte{byte(swimMsgCompound)}, uint64(len(msgs)))
	for _, m := range msgs {
		b = appendBytes(b, m)
	}
	return b
}

// encodeSwimTags writes tags as a count and key, value pairs, keys sorted;
// alive messages carry the block length-prefixed.
func encodeSwimTags(tags map[string]string) []byte {
	t := binary.AppendUvarint(nil, uint64(len(tags)))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		t = appendString(appendString(t, k), tags[k])
	}
	return t
}

func appendSwimTags(b []byte, tags map[string]string) []byte {
	return appendBytes(b, encodeSwimTags(tags))
}

var errSwimTruncated = errors.New("swim: truncated or malformed message")

// swimWireErrors are the gossip decoders' errors.
var swimWireErrors = wireErrors{
	truncated: errSwimTruncated,
	badVarint: errSwimTruncated,
	length: func(n uint64, left, limit int) error {
		return fmt.Errorf("swim: field of %d bytes, with %d left and a limit of %d", n, left, limit)
	},
}

// swimReader decodes against what is left of the input (a wireReader,
// wire.go); the first error sticks and empties it, so later reads return
// zero values. A string is at most swimMaxName bytes; other fields name
// their limit (bytesMax).
type swimReader struct{ wireReader }

func newSwimReader(b []byte) swimReader {
	return swimReader{wireReader{b: b, maxField: swimMaxName, errs: &swimWireErrors}}
}

func (r *swimReader) bool() bool {
	v := r.byte()
	if v > 1 {
		r.fail(errSwimTruncated)
	}
	return v == 1
}

func (r *swimReader) tags() map[string]string {
	t := newSwimReader(r.bytesMax(swimMaxTags))
	n := t.uvarint()
	if n > uint64(len(t.b))/2 { // every tag takes at least two bytes
		r.fail(errSwimTruncated)
		return nil
	}
	var tags map[string]string
	if n > 0 {
		tags = make(map[string]string, n)
	}
	for range n {
		k := t.string()
		tags[k] = t.string()
	}
	if t.err != nil || len(t.b) != 0 {
		r.fail(errSwimTruncated)
		return nil
	}
	return tags
}

func (r *swimReader) msg() swimMsg {
	m := swimMsg{Type: swimMsgType(r.byte())}
	switch m.Type {
	case swimMsgPing:
		m.Seq, m.Node, m.From = r.uvarint(), r.string(), r.string()
	case swimMsgPingReq:
		m.Seq, m.Node, m.Addr, m.Nack = r.uvarint(), r.string(), r.string(), r.bool()
	case swimMsgAck:
		m.Seq = r.uvarint()
		if len(r.b) > 0 && r.err == nil {
			if r.byte() == swimAckPayloadVersion {
				m.Payload = slices.Clone(r.bytesMax(swimMaxAckPayload))
			} else {
				r.b = nil // a later version's fields: skipped, the ack still counts
			}
		}
	case swimMsgNack:
		m.Seq = r.uvarint()
	case swimMsgAlive:
		m.Incarnation, m.Node, m.Addr, m.Tags = r.uvarint(), r.string(), r.string(), r.tags()
	case swimMsgSuspect, swimMsgDead:
		m.Incarnation, m.Node, m.From = r.uvarint(), r.string(), r.string()
	case swimMsgUser:
		m.LTime, m.Name = r.uvarint(), r.string()
		m.Payload = slices.Clone(r.bytesMax(swimMaxUserEvent))
	case swimMsgLeaveIntent:
		m.Incarnation, m.Node, m.From, m.Prune = r.uvarint(), r.string(), r.string(), r.bool()
	case swimMsgQuery:
		m.LTime, m.Seq, m.From, m.Addr = r.uvarint(), r.uvarint(), r.string(), r.string()
		ms := r.uvarint()
		if ms > uint64(swimMaxQueryTimeout/time.Millisecond) {
			r.fail(fmt.Errorf("swim: query timeout of %d ms", ms))
		}
		m.Timeout = time.Duration(ms) * time.Millisecond
		m.Name = r.string()
		m.Payload = slices.Clone(r.bytesMax(swimMaxUserEvent))
	case swimMsgQueryResponse:
		m.LTime, m.Seq, m.From = r.uvarint(), r.uvarint(), r.string()
		m.Payload = slices.Clone(r.bytesMax(swimMaxQueryResponse))
	case swimMsgPushPull:
		m.From, m.LTime, m.QLTime = r.string(), r.uvarint(), r.uvarint()
		n := r.uvarint()
		if n > uint64(len(r.b))/5 { // a state takes at least five bytes
			r.fail(errSwimTruncated)
			break
		}
		for range n {
			st := swimMember{Name: r.string(), Addr: r.string(), State: swimState(r.byte())}
			st.Incarnation, st.Tags = r.uvarint(), r.tags()
			if st.State > swimLeft {
				r.fail(fmt.Errorf("swim: unknown member state %d", st.State))
			}
			if r.err != nil {
				break
			}
			m.States = append(m.States, st)
		}
		n = r.uvarint()
		if n > uint64(len(r.b))/3 { // an event takes at least three bytes
			r.fail(errSwimTruncated)
			break
		}
		for range n {
			e := swimUserEvent{LTime: r.uvarint(), Name: r.string(), Payload: slices.Clone(r.bytesMax(swimMaxUserEvent))}
			if r.err != nil {
				break
			}
			m.Events = append(m.Events, e)
		}
	default:
		r.fail(fmt.Errorf("swim: unknown message type %d", m.Type))
	}
	return m
}

// decodeSwimWhole decodes one message that must use all of b.
func decodeSwimWhole(b []byte) (swimMsg, error) {
	r := newSwimReader(b)
	m := r.msg()
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("swim: trailing bytes"))
	}
	return m, r.err
}

// decodeSwimPacket decodes a UDP packet into its messages: one, or the
// parts of a compound (not nested). Push-pull travels only over TCP.
func decodeSwimPacket(b []byte) ([]swimMsg, error) {
	if len(b) > swimMaxPacket {
		return nil, fmt.Errorf("swim: packet of %d bytes exceeds %d", len(b), swimMaxPacket)
	}
	parts := [][]byte{b}
	if len(b) > 0 && swimMsgType(b[0]) == swimMsgCompound {
		r := newSwimReader(b[1:])
		parts = nil
		for n := r.uvarint(); n > 0 && r.err == nil; n-- {
			parts = append(parts, r.bytesMax(swimMaxPacket)) // stops at the end of the input
		}
		if r.err == nil && len(r.b) != 0 {
			r.fail(errors.New("swim: trailing bytes"))
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	var msgs []swimMsg
	for _, part := range parts {
		m, err := decodeSwimWhole(part) // a nested compound is an unknown type there
		if err == nil && m.Type == swimMsgPushPull {
			err = errors.New("swim: push-pull in a packet")
		}
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// decodeSwimStream decodes a TCP payload: a push-pull, a ping, an ack, or
// a query response too large for a packet.
func decodeSwimStream(b []byte) (swimMsg, error) {
	if len(b) > swimMaxStream {
		return swimMsg{}, fmt.Errorf("swim: stream of %d bytes exceeds %d", len(b), swimMaxStream)
	}
	m, err := decodeSwimWhole(b)
	if err == nil && m.Type != swimMsgPushPull && m.Type != swimMsgPing && m.Type != swimMsgAck && m.Type != swimMsgQueryResponse {
		err = fmt.Errorf("swim: message type %d on a stream", m.Type)
	}
	return m, err
}
