// serf_keyring_test.go: gossip encryption: sealing, refusal of wrong keys and
// of another pool's messages, rotation, persistence; and key rotation
// across the WAN and LAN pools through /v1/operator/keyring on three
// servers in one process (cluster_test.go's harness), with the pool
// talking throughout and each member's keyring files following.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newTestKey(t testing.TB) string {
	var out bytes.Buffer
	if keygenCommand(&out, &out) != 0 {
		t.Fatal(out.String())
	}
	k := strings.TrimSpace(out.String())
	if raw, err := base64.StdEncoding.DecodeString(k); err != nil || len(raw) != 32 {
		t.Fatalf("keygen printed %q", k)
	}
	return k
}

func TestKeyringSealOpen(t *testing.T) {
	t.Parallel()
	k1, k2 := newTestKey(t), newTestKey(t)
	lan, err := openKeyring("lan", "", k1)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := lan.seal([]byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := lan.open(msg); err != nil || string(got) != "ping" {
		t.Fatalf("open: %q %v", got, err)
	}
	other, _ := openKeyring("lan", "", k2)
	if _, err := other.open(msg); err != errNoKeyOpens {
		t.Fatalf("a wrong key opened the message: %v", err)
	}
	wan, _ := openKeyring("wan", "", k1)
	if _, err := wan.open(msg); err == nil {
		t.Fatal("the WAN pool accepted a LAN message")
	}
	tampered := bytes.Clone(msg)
	tampered[len(tampered)-1] ^= 1
	for _, bad := range [][]byte{nil, msg[:sealOverhead-1], tampered, append([]byte{2}, msg[1:]...)} {
		if _, err := lan.open(bad); err == nil {
			t.Fatalf("opened a bad message %x", bad)
		}
	}
	if k, err := openKeyring("lan", "", ""); k != nil || err != nil {
		t.Fatalf("no key: %v %v", k, err)
	}
}

// Rotation as Consul's operator does it: install, use, remove; the file
// keeps it across a restart, whatever -encrypt says then.
func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	path := filepath.Join(t.TempDir(), "serf", "lan.keyring")
	a, err := openKeyring("lan", path, old)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := openKeyring("lan", "", old) // a member that has not rotated yet
	if err := a.install(next); err != nil {
		t.Fatal(err)
	}
	if err := a.use(next); err != nil {
		t.Fatal(err)
	}
	msg, _ := a.seal([]byte("x"))
	if _, err := b.open(msg); err == nil {
		t.Fatal("a member without the new key opened a message sealed with it")
	}
	fromB, _ := b.seal([]byte("y"))
	if got, err := a.open(fromB); err != nil || string(got) != "y" {
		t.Fatalf("the old key no longer opens during rotation: %v", err)
	}
	if err := a.remove(next); err == nil {
		t.Fatal("removed the primary key")
	}
	if err := a.use(newTestKey(t)); err == nil {
		t.Fatal("used a key that is not installed")
	}
	if err := a.remove(old); err != nil {
		t.Fatal(err)
	}
	if _, err := a.open(fromB); err == nil {
		t.Fatal("a removed key still opens messages")
	}
	reopened, err := openKeyring("lan", path, old)
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.list(); len(got) != 1 || got[0] != next {
		t.Fatalf("after restart the keyring holds %v, want [%s]", got, next)
	}
	if err := a.install("not base64!"); err == nil {
		t.Fatal("installed a bad key")
	}
}

// FuzzKeyringOpen: any bytes are refused or opened, never a panic.
func FuzzKeyringOpen(f *testing.F) {
	k, _ := openKeyring("lan", "", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	msg, _ := k.seal([]byte("hello"))
	f.Add(msg)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if plain, err := k.open(b); err == nil && len(plain) > len(b) {
			t.Fatal("opened to more bytes than it was given")
		}
	})
}

func TestClusterKeyringRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := newTestKey(t), newTestKey(t)
	c := startTestClusterWith(t, 3, func(cfg *Config) { cfg.Encrypt = k1 })
	a := c.agents[1]
	// The WAN pool first, then the LAN pool, in lock-step, as Consul's.
	list := func(query string) []KeyringResponse {
		t.Helper()
		var out []KeyringResponse
		a.must("GET", "/v1/operator/keyring"+query, "", &out)
		for i, r := range out {
			if r.WAN != (i == 0 && len(out) == 2) || r.Datacenter != "dc1" || r.NumNodes != 3 || len(r.Messages) != 0 {
				t.Fatalf("keyring list %+v", out)
			}
		}
		return out
	}
	want := func(keys, primary map[string]int) {
		t.Helper()
		got := list("")
		if len(got) != 2 {
			t.Fatalf("keyring list of %d pools: %+v", len(got), got)
		}
		for _, r := range got {
			if !reflect.DeepEqual(r.Keys, keys) || !reflect.DeepEqual(r.PrimaryKeys, primary) {
				t.Fatalf("WAN %v: keys %v primary %v, want %v and %v", r.WAN, r.Keys, r.PrimaryKeys, keys, primary)
			}
		}
	}
	eventually(t, 10*time.Second, "three servers in the WAN pool", func() bool { return len(a.wan().Members()) == 3 })
	if got := list("?local-only=true"); len(got) != 1 || got[0].WAN {
		t.Fatalf("local-only list: %+v", got)
	}
	// The pool keeps talking: an event fired on another server after each step reaches every server.
	talking := func(step string) {
		t.Helper()
		var fired UserEvent
		c.agents[2].must("PUT", "/v1/event/fire/"+step, "", &fired)
		for _, ag := range c.live() {
			eventually(t, 10*time.Second, ag.cfg.NodeName+" has event "+step, func() bool {
				var events []UserEvent
				ag.must("GET", "/v1/event/list?name="+step, "", &events)
				return len(events) == 1 && events[0].ID == fired.ID
			})
		}
	}
	want(map[string]int{k1: 3}, map[string]int{k1: 3})
	start := time.Now()
	a.must("POST", "/v1/operator/keyring", `{"Key":"`+k2+`"}`, nil)
	t.Logf("install across 3 servers answered in %v", time.Since(start))
	want(map[string]int{k1: 3, k2: 3}, map[string]int{k1: 3})
	talking("installed")
	a.must("PUT", "/v1/operator/keyring", `{"Key":"`+k2+`"}`, nil)
	want(map[string]int{k1: 3, k2: 3}, map[string]int{k2: 3})
	talking("used")
	r := a.do("DELETE", "/v1/operator/keyring", `{"Key":"`+k2+`"}`)
	for _, part := range []string{"8 errors occurred:\n\t* WAN error: 3/3 nodes reported failure\n\t* s1.dc1: Removing the primary key is not allowed",
		"\n\t* s3.dc1: Removing the primary key is not allowed\n\t* dc1 (LAN) error: 3/3 nodes reported failure\n\t* s1: Removing the primary key is not allowed",
		"\n\t* s3: Removing the primary key is not allowed\n\n"} {
		if r.code != 500 || !strings.Contains(r.body, part) {
			t.Fatalf("removing the primary key: %d %q", r.code, r.body)
		}
	}
	a.must("DELETE", "/v1/operator/keyring", `{"Key":"`+k1+`"}`, nil)
	want(map[string]int{k2: 3}, map[string]int{k2: 3})
	talking("removed")
	for i, cfg := range c.configs {
		for _, file := range []string{"local.keyring", "remote.keyring"} {
			b, err := os.ReadFile(filepath.Join(cfg.DataDir, "serf", file))
			var keys []string
			if err != nil || json.Unmarshal(b, &keys) != nil || !reflect.DeepEqual(keys, []string{k2}) {
				t.Errorf("s%d's %s: %s %v", i+1, file, b, err)
			}
		}
	}
	a.expect("POST", "/v1/operator/keyring", `{"Key":"bm90IGEga2V5"}`, 400, "Invalid key: key size must be 16, 24 or 32 bytes")
	a.expect("POST", "/v1/operator/keyring", `{"Key":"!!"}`, 400, "Invalid key: illegal base64")
	a.expect("POST", "/v1/operator/keyring", ``, 400, "Request decode failed")
	a.expect("GET", "/v1/operator/keyring?relay-factor=9", "", 400, "Invalid relay-factor")
	a.expect("PUT", "/v1/operator/keyring?local-only=true", `{"Key":"`+k2+`"}`, 400, "Invalid use of local-only")
}
