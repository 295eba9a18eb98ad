package main

import (
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestBug_RetryJoinPortIsNotAServerPort: a -retry-join entry host:port
// names a LAN gossip port, but forming the cluster asked that host at this
// server's own server port, which on servers with different ports is
// another port, maybe another agent's. The cluster must form through the
// LAN pool's tags, which carry each server's RPC port, without dialing the
// guess.
func TestBug_RetryJoinPortIsNotAServerPort(t *testing.T) {
	t.Parallel()
	ips := []string{"127.0.0.26", "127.0.0.27"}
	// s1's server port, free on s2's address too: there this test listens
	// where the guess would dial.
	port := freePort(t, ips...)
	guess, err := net.Listen("tcp", net.JoinHostPort(ips[1], strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { guess.Close() })
	var dialed atomic.Int32
	go func() {
		for {
			conn, err := guess.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			conn.Close()
		}
	}()
	c := &testCluster{t: t}
	for i := 1; i <= len(ips); i++ {
		cfg := clusterServerConfig(t, ips, i, t.TempDir())
		if i == 1 {
			cfg.Ports.Server = port
		}
		c.configs = append(c.configs, cfg)
		c.agents = append(c.agents, nil)
		c.start(i - 1)
	}
	leader := c.waitLeader(15 * time.Second)
	var peers []string
	c.agents[leader].must("GET", "/v1/status/peers", "", &peers)
	slices.Sort(peers)
	if want := []string{c.agents[0].serverAddr(), c.agents[1].serverAddr()}; !slices.Equal(peers, want) {
		t.Errorf("peers %v, want %v", peers, want)
	}
	if n := dialed.Load(); n > 0 {
		t.Errorf("s1 dialed %s, its own server port on s2's host, %d times while forming the cluster", guess.Addr(), n)
	}
}
