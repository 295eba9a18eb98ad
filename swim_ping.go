// swim_ping.go: payloads on acks, part of the SWIM core (pure): what lets
// the layer above measure the network with the probes SWIM sends anyway,
// as memberlist's PingDelegate (AckPayload, NotifyPingComplete) lets Serf
// carry Vivaldi coordinates (serf_vivaldi.go).
//
// Data flow: the driver sets the payload (setAckPayload: its current
// coordinate); the core puts it on each ack it sends to a member that
// announces swimTagAckPayload, so a member that predates the field never
// gets bytes its decoder would refuse (swim_wire.go: version 1 of an
// optional trailing field; an ack without it still counts). When a direct
// probe of ours is answered with a payload, ready() reports a swimPing:
// the target, the payload, and the RTT from the ping's time to the ack's,
// both the now the driver passed in (the driver's clock measures it;
// the core only subtracts). Indirect acks (relayed) report nothing: their
// time includes the relay's.
//
// Concurrency: none, as the rest of the core.
package main

import (
	"maps"
	"slices"
	"time"
)

const (
	// swimTagAckPayload is the tag of a member whose acks may carry a
	// payload, and that understands one on the acks it gets. It travels
	// with the member's tags, but members() and events leave it out: the
	// layer above (and /v1/agent/members) sees the tags it set.
	swimTagAckPayload     = "ack_vsn"
	swimAckPayloadVersion = 1
	swimMaxAckPayload     = 512 // a coordinate takes about 90 bytes
)

// swimPing is a direct probe answered with a payload.
type swimPing struct {
	Node    string
	RTT     time.Duration
	Payload []byte
}

// setAckPayload sets what our acks carry from now on.
func (s *swim) setAckPayload(b []byte) {
	if len(b) <= swimMaxAckPayload {
		s.ackPayload = slices.Clone(b)
	}
}

// ackPayloadFor is the payload of an ack to the member named from: ours,
// when we carry payloads and it announces that it reads one.
func (s *swim) ackPayloadFor(from string) []byte {
	if n := s.nodes[from]; s.cfg.AckPayloads && n != nil && n.Tags[swimTagAckPayload] != "" {
		return s.ackPayload
	}
	return nil
}

// withAckTag is our tags as announced: a copy, with swimTagAckPayload when
// this member carries payloads.
func (s *swim) withAckTag(tags map[string]string) map[string]string {
	tags = maps.Clone(tags)
	if s.cfg.AckPayloads {
		if tags == nil {
			tags = map[string]string{}
		}
		tags[swimTagAckPayload] = "1"
	}
	return tags
}

// pinged records the ack of probe p, if it was direct and carried a payload.
func (s *swim) pinged(p *swimProbe, payload []byte) {
	if p.indirect || len(payload) == 0 {
		return
	}
	s.pings = append(s.pings, swimPing{Node: p.target, RTT: s.now - p.sentAt, Payload: payload})
}
