package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badUTF8 are keys and names that are not UTF-8: encoding/json alone would
// turn each into "x\uFFFD", one string.
var badUTF8 = []string{"x\xff", "x\xfe", "x\xc3", "x\xed\xa0\x80", "x\uFFFD", `x\ufffd`}

// TestBug_KVKeyInvalidUTF8Command: every command keeps its strings' bytes
// through encode and decode (the Raft log, the WAL, Raft.Apply and
// Client.Apply all carry these bytes), and so does an apply result.
func TestBug_KVKeyInvalidUTF8Command(t *testing.T) {
	t.Parallel()
	cmds := []*command{
		{Type: cmdKV, Now: 1, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "plain", Value: []byte("v")}}},
		{Type: cmdRegister, Now: 2, Register: &RegisterRequest{Node: "n\xff", Address: "127.0.0.1",
			NodeMeta: map[string]string{"k\xff": "v\xfe", "k\xfe": "v"}, TaggedAddresses: map[string]string{},
			Service: &Service{ID: "s\xff", Service: "web\xff", Tags: []string{"t\xff", "t\xfe"}},
			Check:   &HealthCheck{CheckID: "c\xff", Name: "check", Status: healthPassing, Definition: HealthCheckDefinition{Interval: duration(time.Second)}}}},
		{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n\xff", ServiceID: "s\xfe"}},
		{Type: cmdSession, Session: &sessionRequest{Session: &Session{ID: "id", Name: "n\xff", Node: "n\xfe", LockDelay: time.Second}}},
		{Type: cmdTxn, Txn: []txnOp{{KV: &txnKVOp{Verb: kvSet, Key: "t\xff", Value: []byte{0xff}}}, {Node: &txnNodeOp{Verb: kvSet, Node: Node{Node: "n\xff"}}}}},
	}
	for _, k := range badUTF8 {
		cmds = append(cmds, &command{Type: cmdKV, Now: 3, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: k, Value: []byte(k), Session: k}}})
	}
	for _, c := range cmds {
		b, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("the round trip of a %s command changed it", c.Type)
		}
	}

	// An all-UTF-8 command in JSON form is encoded exactly as json.Marshal
	// encodes it, as in the logs and snapshots written before.
	utf8Cmd := &command{Type: cmdDeregister, Deregister: &DeregisterRequest{Node: "n", ServiceID: "s"}}
	b, _ := utf8Cmd.encode()
	if j, _ := json.Marshal(utf8Cmd); !bytes.Equal(b, j) {
		t.Errorf("an all-UTF-8 command:\n%s\nwhere json.Marshal makes\n%s", b, j)
	}

	// Applied through the codec, the keys stay distinct.
	s := newStore()
	for i, k := range badUTF8 {
		b, _ := (&command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: k, Value: []byte(strconv.Itoa(i))}}}).encode()
		c, _ := decodeCommand(b)
		s.apply(uint64(i+1), c)
	}
	for i, k := range badUTF8 {
		if e, _ := s.snapshot().kvGet(k); e == nil || string(e.Value) != strconv.Itoa(i) {
			t.Errorf("key %q: %+v", k, e)
		}
	}

	// What the leader answers a follower or a client.
	res := wireApplyResult{OK: true, TxnResults: []txnResult{{KV: &KVEntry{Key: "x\xff"}}, {KV: &KVEntry{Key: "x\xfe"}}}}
	b, err := marshalExact(res)
	if err != nil {
		t.Fatal(err)
	}
	var back wireApplyResult
	if err := unmarshalExact(b, &back); err != nil || !reflect.DeepEqual(back, res) {
		t.Errorf("apply result: %+v %v", back, err)
	}

	// A corrupt respelled encoding is refused, not decoded into something else.
	if _, err := decodeCommand([]byte("\x01{\"Type\":\"kv\",\"KV\":{\"Op\":\"set\",\"Entry\":{\"Key\":\"\u0100\"}}}")); err == nil {
		t.Error("a respelled string with a rune over U+00FF was accepted")
	}
}

// TestBug_KVKeyInvalidUTF8Snapshot: a snapshot keeps KV keys, tombstones
// and catalog names byte for byte.
func TestBug_KVKeyInvalidUTF8Snapshot(t *testing.T) {
	t.Parallel()
	s := newStore()
	idx := uint64(0)
	apply := func(c *command) {
		t.Helper()
		idx++
		if res := s.apply(idx, c); res.err != nil {
			t.Fatal(res.err)
		}
	}
	for _, k := range badUTF8 {
		apply(&command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: k, Value: []byte(k)}}})
		apply(&command{Type: cmdKV, KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: "gone/" + k}}})
		apply(&command{Type: cmdKV, KV: &kvRequest{Op: kvDelete, Entry: KVEntry{Key: "gone/" + k}}})
	}
	for _, n := range []string{"n\xff", "n\xfe"} {
		apply(&command{Type: cmdRegister, Register: &RegisterRequest{Node: n, Address: "127.0.0.1",
			Service: &Service{ID: "s\xff", Service: "web\xff", Tags: []string{"t\xff"}},
			Check:   &HealthCheck{CheckID: "c\xff", Name: "check\xff", Status: healthPassing}}})
	}
	var buf bytes.Buffer
	if err := writeSnapshot(s.snapshot(), &buf); err != nil {
		t.Fatal(err)
	}
	st, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range badUTF8 {
		if e, _ := st.kvGet(k); e == nil || string(e.Value) != k {
			t.Errorf("key %q after restore: %+v", k, e)
		}
		if _, ok := st.tombstones.get("gone/" + k); !ok {
			t.Errorf("tombstone of %q lost", "gone/"+k)
		}
	}
	for _, n := range []string{"n\xff", "n\xfe"} {
		if _, ok := st.nodes.get(n); !ok {
			t.Errorf("node %q lost", n)
		}
		svc, ok := st.services.get(itemKey(n, "s\xff"))
		if !ok || svc.Service != "web\xff" || svc.Tags[0] != "t\xff" {
			t.Errorf("service of %q: %+v", n, svc)
		}
		c, ok := st.checks.get(itemKey(n, "c\xff"))
		if !ok || c.Name != "check\xff" || c.Node != n {
			t.Errorf("check of %q: %+v", n, c)
		}
	}
	if _, ok := st.serviceNames.get(serviceNameKey("web\xff", "n\xff", "s\xff")); !ok {
		t.Error("the by-name service index lost web\\xff")
	}
}

// TestBug_KVKeyInvalidUTF8Cluster: keys that are not UTF-8 (/v1/kv/x%ff)
// are stored as the bytes sent, through the leader, a follower (Raft.Apply)
// and a client agent (HTTP.Request forwarding), replicated, read back by
// every agent, deleted one at a time, watched by blocking queries, kept by
// a write transaction's results, by a snapshot and by a restart of every
// server from its data directory. JSON shows each as Consul does: "x\ufffd".
func TestBug_KVKeyInvalidUTF8Cluster(t *testing.T) {
	t.Parallel()
	ips := []string{"127.0.0.141", "127.0.0.142", "127.0.0.143"}
	clientIP := "127.0.0.144"
	c := startTestClusterWith(t, 3, func(cfg *Config) {
		ip := ips[cfg.NodeName[1]-'1']
		cfg.BindAddr, cfg.AdvertiseAddr = ip, ip
		cfg.Addresses = AddressesConfig{HTTP: []string{ip}}
		cfg.Ports.Server, cfg.Ports.SerfLAN = testPorts(t, ip).Server, testPorts(t, ip).SerfLAN
		cfg.RetryJoin = nil
		for _, j := range ips {
			cfg.RetryJoin = append(cfg.RetryJoin, lanAddr(t, j))
		}
	})
	cl := startTestClientWith(t, "c1", clientIP, func(cfg *Config) {
		cfg.Ports.SerfLAN, cfg.Ports.DNS = testPorts(t, clientIP).SerfLAN, -1
		cfg.RetryJoin = []string{lanAddr(t, ips[1])}
	})
	eventually(t, 10*time.Second, "the client knows the 3 servers", func() bool { return len(cl.lanServers()) == 3 })
	leader := c.waitLeader(5 * time.Second)
	l, f := c.agents[leader], c.follower(leader)

	want := map[string]string{} // escaped key → value
	l.must("PUT", "/v1/kv/x%ff", "through the leader", nil)
	f.must("PUT", "/v1/kv/x%fe", "through a follower", nil)
	cl.must("PUT", "/v1/kv/x%fd", "through a client", nil)
	cl.must("PUT", "/v1/kv/x%ff%fe/y", "deeper", nil)
	want["x%ff"], want["x%fe"], want["x%fd"], want["x%ff%fe/y"] = "through the leader", "through a follower", "through a client", "deeper"

	check := func(stage string, agents ...*testAgent) {
		t.Helper()
		for _, a := range agents {
			for k, v := range want {
				if r := a.do("GET", "/v1/kv/"+k+"?raw", ""); r.code != 200 || r.body != v {
					t.Fatalf("%s: GET %s?raw through %s: %d %q, want %q", stage, k, a.cfg.NodeName, r.code, r.body, v)
				}
			}
			// ?keys lists every key, rendered as Consul renders them.
			r := a.must("GET", "/v1/kv/x?keys", "", nil)
			if n := strings.Count(r.body, `"x\ufffd`); n != len(want) {
				t.Fatalf("%s: ?keys through %s: %s (%d keys, want %d)", stage, a.cfg.NodeName, r.body, n, len(want))
			}
			var keys []string
			a.must("GET", "/v1/kv/x%ff?keys&separator=%fe", "", &keys)
			if !slices.Equal(keys, []string{"x\uFFFD", "x\uFFFD\uFFFD"}) {
				t.Fatalf("%s: ?keys&separator through %s: %q", stage, a.cfg.NodeName, keys)
			}
			var entries []KVEntry
			a.must("GET", "/v1/kv/x%ff?recurse", "", &entries)
			if len(entries) != 2 || string(entries[0].Value) != want["x%ff"] || string(entries[1].Value) != "deeper" {
				t.Fatalf("%s: ?recurse through %s: %+v", stage, a.cfg.NodeName, entries)
			}
		}
	}
	check("after the writes", l, f, cl)

	// Deleting one key leaves the others.
	cl.must("DELETE", "/v1/kv/x%fe", "", nil)
	delete(want, "x%fe")
	for _, a := range []*testAgent{l, f, cl} {
		if r := a.do("GET", "/v1/kv/x%fe", ""); r.code != 404 {
			t.Fatalf("x%%fe after its delete, through %s: %d %s", a.cfg.NodeName, r.code, r.body)
		}
	}
	check("after a delete", l, f, cl)

	// A blocking query on x%ff through the client wakes on x%ff's write.
	idx := cl.must("GET", "/v1/kv/x%ff", "", nil).index()
	ch := cl.blockingGet(fmt.Sprintf("/v1/kv/x%%ff?index=%d&wait=20s&raw", idx))
	f.must("PUT", "/v1/kv/x%ff", "again", nil)
	want["x%ff"] = "again"
	select {
	case r := <-ch:
		if r.code != 200 || r.body != "again" {
			t.Fatalf("blocking query on x%%ff: %d %q", r.code, r.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the blocking query on x\\xff did not return after its write")
	}

	// A write transaction's results carry the keys back exactly, through a
	// follower and a client as through the leader.
	txn := `[{"KV":{"Verb":"set","Key":"t","Value":"dA=="}},{"KV":{"Verb":"get-tree","Key":"x"}}]`
	for _, a := range []*testAgent{l, f, cl} {
		r := a.must("PUT", "/v1/txn", txn, nil)
		if n := strings.Count(r.body, `"Key":"x\ufffd`); n != len(want) {
			t.Fatalf("txn through %s: %d keys in %s", a.cfg.NodeName, n, r.body)
		}
	}

	// A snapshot brings the keys back.
	snap := f.must("GET", "/v1/snapshot", "", nil)
	cl.must("DELETE", "/v1/kv/x?recurse", "", nil)
	if r := l.do("GET", "/v1/kv/x%ff", ""); r.code != 404 {
		t.Fatalf("x%%ff after delete-tree: %d", r.code)
	}
	f.must("PUT", "/v1/snapshot", snap.body, nil)
	check("after a snapshot restore", l, f, cl)

	// So does a restart of every server from its data directory.
	c.restartAll()
	eventually(t, 20*time.Second, "the client reaches a server again", func() bool {
		return cl.do("GET", "/v1/kv/x%ff?raw", "").body == "again"
	})
	check("after a restart", append(c.live(), cl)...)
}

// BenchmarkCommandCodec: encode and decode of a KV put, the command on
// the write path (issue 15 measures its CPU), with a UTF-8 key and with
// one that is not.
func BenchmarkCommandCodec(b *testing.B) {
	for _, key := range []string{"app/config/service-123/setting", "app/config/service-123/\xff"} {
		c := &command{Type: cmdKV, Now: time.Now().UnixNano(),
			KV: &kvRequest{Op: kvSet, Entry: KVEntry{Key: key, Value: bytes.Repeat([]byte("v"), 128)}}}
		b.Run(strconv.Quote(key), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := c.encode()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := decodeCommand(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
