// swim_node_test.go: real pools on loopback sockets: join through one member,
// failure detection of a stopped member, a graceful leave, a user event,
// and encryption (a member with the wrong key cannot join).
package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fastSwim is the LAN configuration at a tenth of its timing, for tests.
func fastSwim(name string) swimConfig {
	c := swimLANConfig()
	c.Name = name
	c.ProbeInterval, c.ProbeTimeout = 100*time.Millisecond, 50*time.Millisecond
	c.GossipInterval, c.PushPullInterval, c.ReconnectInterval = 20*time.Millisecond, 3*time.Second, 3*time.Second
	c.SuspicionMult = 2
	return c
}

func startTestPool(t *testing.T, name string, kr *keyring) *gossipPool {
	t.Helper()
	p, err := startGossip(gossipConfig{Pool: "lan", Bind: "127.0.0.1:0", Swim: fastSwim(name), Keyring: kr,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// waitMembers waits until p sees want(name) hold for every member named.
func waitMembers(t *testing.T, p *gossipPool, within time.Duration, what string, ok func(map[string]swimMember) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := map[string]swimMember{}
		for _, mm := range p.Members() {
			m[mm.Name] = mm
		}
		if ok(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not reached within %v; members %+v", p.cfg.Swim.Name, what, within, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allAlive(names ...string) func(map[string]swimMember) bool {
	return func(m map[string]swimMember) bool {
		for _, n := range names {
			if m[n].State != swimAlive || m[n].Name == "" {
				return false
			}
		}
		return true
	}
}

func stateOf(name string, st swimState) func(map[string]swimMember) bool {
	return func(m map[string]swimMember) bool { mm, ok := m[name]; return ok && mm.State == st }
}

func TestGossipJoinFailLeave(t *testing.T) {
	a, b, c := startTestPool(t, "a", nil), startTestPool(t, "b", nil), startTestPool(t, "c", nil)
	d := startTestPool(t, "d", nil)
	// Everyone joins through a alone.
	for _, p := range []*gossipPool{b, c, d} {
		if _, err := p.Join([]string{a.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*gossipPool{a, b, c, d} {
		waitMembers(t, p, 5*time.Second, "all alive", allAlive("a", "b", "c", "d"))
	}
	// A user event reaches every member once.
	if err := b.UserEvent("deploy", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*gossipPool{a, c, d} {
		waitEvent(t, p, 5*time.Second, func(ev swimEvent) bool {
			return ev.Type == swimEventUser && ev.User.Name == "deploy" && string(ev.User.Payload) == "v2"
		})
	}
	// d crashes (no leave): the others mark it failed.
	d.Stop()
	for _, p := range []*gossipPool{a, b, c} {
		waitMembers(t, p, 10*time.Second, "d failed", stateOf("d", swimFailed))
	}
	// c leaves gracefully: left, not failed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Leave(ctx)
	for _, p := range []*gossipPool{a, b} {
		waitMembers(t, p, 5*time.Second, "c left", stateOf("c", swimLeft))
	}
}

// waitEvent reads p's events until one satisfies ok, within a bound.
func waitEvent(t *testing.T, p *gossipPool, within time.Duration, ok func(swimEvent) bool) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-p.Events():
			if ok(ev) {
				return
			}
		case <-timeout:
			t.Fatalf("%s: the event did not arrive within %v", p.cfg.Swim.Name, within)
		}
	}
}

// TestGossipEncryption: members sharing the key form a pool; a member with
// another key, or none, never joins it, and its packets are dropped and
// counted, not crashed on.
func TestGossipEncryption(t *testing.T) {
	key := newTestKey(t)
	ring := func(k string) *keyring {
		kr, err := openKeyring("lan", "", k)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	a, b := startTestPool(t, "a", ring(key)), startTestPool(t, "b", ring(key))
	wrong, clear := startTestPool(t, "wrong", ring(newTestKey(t))), startTestPool(t, "clear", nil)
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*gossipPool{wrong, clear} {
		if _, err := p.Join([]string{a.Addr()}); err == nil || !strings.Contains(err.Error(), "gossip encryption key") {
			t.Errorf("%s joined a pool with another key: %v", p.core.name, err)
		}
	}
	waitMembers(t, a, 5*time.Second, "b alive", allAlive("a", "b"))
	waitMembers(t, b, 5*time.Second, "a alive", allAlive("a", "b"))
	// Both bad joins reached a and were refused: a push-pull each at least.
	for deadline := time.Now().Add(5 * time.Second); a.counters.Undecryptable.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("a refused %d messages, want the two bad joins", a.counters.Undecryptable.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []*gossipPool{a, b} {
		for _, m := range p.Members() {
			if m.Name == "wrong" || m.Name == "clear" {
				t.Fatalf("%s lists %s, which has no valid key", p.cfg.Swim.Name, m.Name)
			}
		}
	}
	if n := len(wrong.Members()); n != 1 {
		t.Fatalf("the member with the wrong key sees %d members", n)
	}
}
