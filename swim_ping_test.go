package main

import (
	"slices"
	"testing"
	"time"
)

func TestSwimAckPayloadWire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   swimMsg
	}{
		{"without", swimMsg{Type: swimMsgAck, Seq: 7}},
		{"with", swimMsg{Type: swimMsgAck, Seq: 7, Payload: []byte("coordinate")}},
	} {
		got, err := decodeSwimWhole(tc.in.encode())
		if err != nil || got.Seq != 7 || !slices.Equal(got.Payload, tc.in.Payload) {
			t.Errorf("%s: %+v, %v", tc.name, got, err)
		}
	}
	// An ack as a member before the field sends it: the seq alone.
	if got, err := decodeSwimWhole([]byte{byte(swimMsgAck), 7}); err != nil || got.Seq != 7 || got.Payload != nil {
		t.Errorf("old ack: %+v, %v", got, err)
	}
	// A later version's fields are skipped; the ack still counts.
	if got, err := decodeSwimWhole([]byte{byte(swimMsgAck), 7, 2, 0xde, 0xad}); err != nil || got.Seq != 7 || got.Payload != nil {
		t.Errorf("ack of version 2: %+v, %v", got, err)
	}
	// A payload claiming more bytes than present is refused.
	if _, err := decodeSwimWhole([]byte{byte(swimMsgAck), 7, 1, 9, 1}); err == nil {
		t.Error("truncated payload accepted")
	}
}

// TestSwimPingsCarryPayloads: in a pool where n3 predates the field (no
// ack_vsn tag), n1 and n2 measure each other with payloads; nobody sends
// n3 a payload, n3's acks carry none, and nobody is suspected.
func TestSwimPingsCarryPayloads(t *testing.T) {
	t.Parallel()
	s := newSwimSim(t, swimTestSeed(t), 0, nil)
	for i := range 3 {
		s.add(func(c *swimConfig) { c.AckPayloads = i < 2 })
	}
	for _, nd := range s.nodes {
		nd.core.setAckPayload([]byte("from " + nd.name))
	}
	s.protectAll()
	s.joinAll(10 * time.Second)
	s.run(20 * time.Second)
	n1, n2, n3 := s.nodes[0], s.nodes[1], s.nodes[2]
	for _, tc := range []struct {
		nd   *swimSimNode
		peer string
	}{{n1, "n2"}, {n2, "n1"}} {
		i := slices.IndexFunc(tc.nd.pings, func(p swimPing) bool { return p.Node == tc.peer })
		if i < 0 {
			t.Fatalf("%s has no ping from %s: %+v", tc.nd.name, tc.peer, tc.nd.pings)
		}
		p := tc.nd.pings[i]
		if string(p.Payload) != "from "+tc.peer || p.RTT <= 0 || p.RTT > swimLANConfig().ProbeTimeout {
			t.Errorf("%s's ping of %s: %+v", tc.nd.name, tc.peer, p)
		}
	}
	for _, nd := range s.nodes {
		for _, p := range nd.pings {
			if p.Node == "n3" || nd == n3 {
				t.Errorf("%s: a payload to or from the old member: %+v", nd.name, p)
			}
		}
	}
}
