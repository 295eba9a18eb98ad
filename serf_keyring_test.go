// serf_keyring_test.go: gossip encryption: sealing, refusal of wrong keys and
// of another pool's messages, rotation, persistence.
package main

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
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
