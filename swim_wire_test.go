// swim_wire_test.go: the SWIM codec (swim_wire.go): every message round
// trips, the bounded decoder rejects what is malformed without allocating
// for what a length claims, and a fuzzer checks that whatever it accepts
// re-encodes the same.
package main

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func swimSampleMsgs() []swimMsg {
	return []swimMsg{
		{Type: swimMsgPing, Seq: 7, Node: "n2", From: "n1"},
		{Type: swimMsgPingReq, Seq: 300, Node: "n3", Addr: "10.0.0.3:8301", Nack: true},
		{Type: swimMsgAck, Seq: 1 << 40},
		{Type: swimMsgNack, Seq: 9},
		{Type: swimMsgAlive, Incarnation: 4, Node: "n1", Addr: "10.0.0.1:8301", Tags: map[string]string{"role": "server", "dc": "dc1"}},
		{Type: swimMsgSuspect, Incarnation: 5, Node: "n4", From: "n1"},
		{Type: swimMsgDead, Incarnation: 6, Node: "n4", From: "n4"},
		{Type: swimMsgUser, LTime: 12, Name: "deploy", Payload: []byte("v2")},
		{Type: swimMsgPushPull, From: "n1", LTime: 3, States: []swimMember{
			{Name: "n1", Addr: "a:1", State: swimAlive, Incarnation: 2, Tags: map[string]string{"a": "b"}},
			{Name: "n2", Addr: "a:2", State: swimLeft, Incarnation: 9},
		}, Events: []swimUserEvent{{LTime: 2, Name: "deploy", Payload: []byte("v1")}}, QLTime: 7},
		{Type: swimMsgLeaveIntent, Incarnation: 3, Node: "n4", From: "n1", Prune: true},
		{Type: swimMsgQuery, LTime: 5, Seq: 1 << 50, From: "n1", Addr: "10.0.0.1:8301", Timeout: 3200 * time.Millisecond,
			Name: "_serf_list-keys", Payload: []byte("k")},
		{Type: swimMsgQueryResponse, LTime: 5, Seq: 1 << 50, From: "n2", Payload: []byte("answer")},
	}
}

func TestSwimWireRoundTrip(t *testing.T) {
	t.Parallel()
	msgs := swimSampleMsgs()
	var parts [][]byte
	for _, m := range msgs {
		b := m.encode()
		got, err := decodeSwimWhole(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%d: round trip %+v → %+v, %v", m.Type, m, got, err)
		}
		if m.Type != swimMsgPushPull {
			parts = append(parts, b)
		}
	}
	got, err := decodeSwimPacket(encodeSwimCompound(parts))
	if err != nil || len(got) != len(parts) {
		t.Fatalf("compound: %d messages, %v", len(got), err)
	}
	if _, err := decodeSwimPacket(msgs[8].encode()); err == nil {
		t.Error("push-pull accepted in a UDP packet")
	}
	if _, err := decodeSwimStream(msgs[8].encode()); err != nil {
		t.Error(err)
	}
}

// The decoder rejects oversize, truncated and garbage input, and lengths
// or counts larger than the input, without allocating for them.
func TestSwimDecoderRejects(t *testing.T) {
	bad := [][]byte{
		nil,
		{0},
		{255},
		{byte(swimMsgPing)},
		{byte(swimMsgPing), 1, 200, 1, 'x'}, // name longer than the input
		{byte(swimMsgPing), 1, 0, 'x'},      // trailing byte
		{byte(swimMsgPingReq), 1, 0, 0, 7},  // bad bool
		{byte(swimMsgCompound), 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 3},    // count larger than the input
		{byte(swimMsgCompound), 1, 1, byte(swimMsgCompound)},           // nested compound
		{byte(swimMsgPushPull), 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, // states larger than the input
		{byte(swimMsgAlive), 1, 0, 0, 3, 0xff, 0xff, 0x0f},             // tag count larger than the block
		{byte(swimMsgAlive), 1, 0, 0, 0xff, 0x07},                      // tag block over the limit and the input
		append([]byte{byte(swimMsgAck), 1}, make([]byte, swimMaxPacket)...),
	}
	for i, b := range bad {
		if _, err := decodeSwimPacket(b); err == nil {
			t.Errorf("%d: %x accepted", i, b[:min(len(b), 16)])
		}
	}
	allocs := testing.AllocsPerRun(100, func() { decodeSwimPacket(bad[9]) })
	if allocs > 3 {
		t.Errorf("%v allocations rejecting a huge claimed count", allocs)
	}
	// The core counts what it rejects and carries on.
	c := newSwim(swimConfig{Name: "n1", Addr: "a:1"})
	for _, b := range bad {
		c.step(0, "x:1", b)
	}
	if c.statistics().BadPackets != uint64(len(bad)) {
		t.Errorf("BadPackets %d, want %d", c.statistics().BadPackets, len(bad))
	}
}

// FuzzSwimPacket: the decoders never panic, and what they accept
// re-encodes to a message that decodes the same.
func FuzzSwimPacket(f *testing.F) {
	var parts [][]byte
	for _, m := range swimSampleMsgs() {
		f.Add(m.encode())
		if m.Type != swimMsgPushPull {
			parts = append(parts, m.encode())
		}
	}
	f.Add(encodeSwimCompound(parts))
	f.Fuzz(func(t *testing.T, b []byte) {
		if msgs, err := decodeSwimPacket(b); err == nil {
			for _, m := range msgs {
				again, err := decodeSwimWhole(m.encode())
				if err != nil || !reflect.DeepEqual(again, m) {
					t.Fatalf("%+v re-decodes as %+v, %v", m, again, err)
				}
			}
		}
		if m, err := decodeSwimStream(b); err == nil {
			if again, err := decodeSwimWhole(m.encode()); err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("stream %+v re-decodes as %+v, %v", m, again, err)
			}
		}
		c := newSwim(swimConfig{Name: "n1", Addr: "a:1", Rand: rand.New(rand.NewPCG(1, 2))})
		c.step(0, "x:1", b)
		c.stepStream(0, "x:1", b)
		c.streamReply(0, "x:1", b, nil)
	})
}
