// agent_ports_test.go: the ports of the agents the tests run, chosen at
// run time. No test relies on a fixed port being free: an in-process agent
// binds port 0 and reports what it bound (testConfig), and an agent that
// others must find before it starts, or that keeps its addresses across a
// restart (the servers of a cluster, a process told its ports by flags),
// gets ports found free when the test first asks (testPorts). The agents
// still use distinct loopback addresses (127.0.0.x), which keep their logs
// and members apart; their ports differ too, so a -retry-join names a
// server as host:port (the LAN gossip port), and the servers find each
// other's RPC port in the LAN pool's tags, as Consul's.
//
// The proof: MINICONSUL_HOLD_DEFAULT_PORTS=1 makes TestMain hold Consul's
// default ports (8300-8302, 8500, 8600) on 0.0.0.0 and :: for TCP and UDP
// while the tests run, as another agent on the machine would. Run it in a
// network namespace of its own to leave the machine's ports alone:
//
//	unshare -rn sh -c 'ip link set lo up && MINICONSUL_HOLD_DEFAULT_PORTS=1 go test -run TestClusterE2E .'
package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// consulDefaultPorts are the ports a Consul agent binds unless told
// otherwise: server RPC, LAN and WAN gossip, HTTP, DNS.
var consulDefaultPorts = []int{8300, 8301, 8302, 8500, 8600}

// holdDefaultPorts binds every port of consulDefaultPorts on 0.0.0.0 and
// ::, TCP and UDP; release closes them.
func holdDefaultPorts() (release func(), err error) {
	var held []interface{ Close() error }
	release = func() {
		for _, c := range held {
			c.Close()
		}
	}
	for _, port := range consulDefaultPorts {
		for _, network := range []string{"tcp4", "tcp6", "udp4", "udp6"} {
			addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
			if network[3] == '6' {
				addr = net.JoinHostPort("::", strconv.Itoa(port))
			}
			var c interface{ Close() error }
			if network[0] == 't' {
				c, err = net.Listen(network, addr)
			} else {
				c, err = net.ListenPacket(network, addr)
			}
			if err != nil {
				release()
				return nil, fmt.Errorf("holding %s %s: %w", network, addr, err)
			}
			held = append(held, c)
		}
	}
	return release, nil
}

// freePort returns a port that is free for both TCP and UDP (a gossip
// port and a DNS port serve both) on every one of ips when it is called.
// Nothing holds it afterwards: the agent told to use it binds it at once.
func freePort(t testing.TB, ips ...string) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		free := true
		held := []interface{ Close() error }{ln}
		for i, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			if i > 0 {
				c, err := net.Listen("tcp", addr)
				if err != nil {
					free = false
					break
				}
				held = append(held, c)
			}
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				free = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on %v in 100 tries", ips)
	return 0
}

// agentPorts are the ports of one test agent.
type agentPorts struct{ HTTP, DNS, Server, SerfLAN, SerfWAN int }

// testAgentPorts remembers, per test and per loopback address, the ports
// testPorts chose; each entry is dropped when its test ends.
var testAgentPorts sync.Map // testPortsKey → agentPorts

type testPortsKey struct {
	t  testing.TB
	ip string
}

// testPorts returns the ports of the agent on ip in the test t: found free
// the first time they are asked for, the same ones afterwards, so that
// other agents can be told them before it starts and it keeps them across
// restarts. Two tests using the same address get different ports.
func testPorts(t testing.TB, ip string) agentPorts {
	t.Helper()
	key := testPortsKey{t, ip}
	if p, ok := testAgentPorts.Load(key); ok {
		return p.(agentPorts)
	}
	var picked []int // five different ports: a port just closed may be found free again
	for len(picked) < 5 {
		if port := freePort(t, ip); !slices.Contains(picked, port) {
			picked = append(picked, port)
		}
	}
	p := agentPorts{HTTP: picked[0], DNS: picked[1], Server: picked[2], SerfLAN: picked[3], SerfWAN: picked[4]}
	if got, loaded := testAgentPorts.LoadOrStore(key, p); loaded {
		return got.(agentPorts)
	}
	t.Cleanup(func() { testAgentPorts.Delete(key) })
	return p
}

// lanAddr is the LAN gossip address of the agent on ip in the test t: what
// another agent's -retry-join or /v1/agent/join names.
func lanAddr(t testing.TB, ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(testPorts(t, ip).SerfLAN))
}

// eventually polls cond every 20 ms until it holds, and fails the test
// after within with what and, for a condition that says why it does not
// hold yet (func() (bool, string)), its last word. It is the one way the
// tests wait for something they cannot be told about.
func eventually[C func() bool | func() (bool, string)](t testing.TB, within time.Duration, what string, cond C) {
	t.Helper()
	check := func() (bool, string) {
		switch c := any(cond).(type) {
		case func() bool:
			return c(), ""
		case func() (bool, string):
			return c()
		}
		panic("unreachable")
	}
	for deadline := time.Now().Add(within); ; {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if last != "" {
				t.Fatalf("%s: not within %v; last: %s", what, within, last)
			}
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
