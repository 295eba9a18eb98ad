// rpc_forward_e2e_test.go: client agents as real processes (e2e_test.go's
// harness) in front of three servers, each agent on
// ports chosen at run time: service checks, DNS and cached reads through a
// client, over HTTP and DNS only.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TestClientE2E: three server processes and two client processes (this
// test binary re-executed as the agent) on loopback addresses. A client given one gossip address
// registers a service with an HTTP check served by this test; the instance
// passes, goes critical when the test's HTTP server stops (out of
// ?passing and DNS on the other client), passes again when it returns;
// kill -9 of the client fails its node through serfHealth; with every
// server killed, the other client's cached read still answers.
func TestClientE2E(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs five agents")
	}
	c := newE2ECluster(t)
	servers := c.servers
	for _, s := range servers {
		c.start(s)
	}
	c.waitLeader(servers...)
	web1 := c.add("web1", "127.0.0.61", "-log-level=debug", "-retry-join="+servers[1].lanAddr())
	web2 := c.add("web2", "127.0.0.62", "-log-level=debug", "-retry-join="+web1.lanAddr()) // a client will do
	c.start(web1)
	c.start(web2)

	// The application web1's check probes, on web1's address.
	ln, err := net.Listen("tcp", "127.0.0.61:0")
	if err != nil {
		t.Fatal(err)
	}
	appAddr := ln.Addr().String()
	serve := func(ln net.Listener) *http.Server {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
		go srv.Serve(ln)
		return srv
	}
	app := serve(ln)
	defer func() { app.Close() }()

	reg := fmt.Sprintf(`{"Name":"web","Port":8080,"Tags":["v1"],
		"Check":{"HTTP":"http://%s/health","Interval":"1s","Timeout":"1s"}}`, appAddr)
	eventually(t, 20*time.Second, "web1 registers its service", func() (bool, string) {
		code, body, err := c.do("PUT", web1, "/v1/agent/service/register", reg, 5*time.Second)
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})
	passing := func(want int) func() (bool, string) {
		return func() (bool, string) {
			code, body, err := c.do("GET", web2, "/v1/health/service/web?passing", "", 5*time.Second)
			var entries []CheckServiceNode
			if err != nil || code != 200 || json.Unmarshal([]byte(body), &entries) != nil {
				return false, fmt.Sprint(code, body, err)
			}
			return len(entries) == want, body
		}
	}
	// web.service.consul SRV asked of web2's DNS port, as "dig +short" prints it.
	dig := func(want string) func() (bool, string) {
		return func() (bool, string) {
			conn, err := net.Dial("udp", web2.dnsAddr())
			if err != nil {
				return false, err.Error()
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			var m dnsmessage.Message
			if _, err = conn.Write(dnsQuery("web.service.consul.", dnsmessage.TypeSRV, 0)); err == nil {
				var n int
				if n, err = conn.Read(buf); err == nil {
					err = m.Unpack(buf[:n])
				}
			}
			if err != nil {
				return false, err.Error()
			}
			var got []string
			for _, rr := range m.Answers {
				if srv, ok := rr.Body.(*dnsmessage.SRVResource); ok {
					got = append(got, fmt.Sprintf("%d %d %d %s", srv.Priority, srv.Weight, srv.Port, srv.Target))
				}
			}
			return strings.Join(got, "\n") == want, fmt.Sprint(m.RCode, got)
		}
	}
	srv := "1 1 8080 web1.node.dc1.consul."
	eventually(t, 20*time.Second, "web passing, seen through web2", passing(1))
	eventually(t, 10*time.Second, "web in DNS through web2", dig(srv))
	// Warm web2's cache for the end.
	if code, body, _ := c.do("GET", web2, "/v1/health/service/web?cached", "", 5*time.Second); code != 200 {
		t.Fatalf("cached read: %d %s", code, body)
	}

	app.Close()
	eventually(t, 10*time.Second, "web critical once its HTTP server stops", passing(0))
	eventually(t, 10*time.Second, "web out of DNS", dig(""))
	if ln, err = net.Listen("tcp", appAddr); err != nil {
		t.Fatal(err)
	}
	app = serve(ln)
	eventually(t, 10*time.Second, "web passing again", passing(1))
	eventually(t, 10*time.Second, "web back in DNS", dig(srv))

	c.kill(web1)
	eventually(t, 30*time.Second, "web1's node failed through serfHealth", func() (bool, string) {
		code, body, err := c.do("GET", web2, "/v1/health/node/web1", "", 5*time.Second)
		var checks []HealthCheck
		if err != nil || code != 200 || json.Unmarshal([]byte(body), &checks) != nil {
			return false, fmt.Sprint(code, body, err)
		}
		for _, ch := range checks {
			if ch.CheckID == serfHealthID && ch.Status == healthCritical {
				return true, ""
			}
		}
		return false, body
	})
	eventually(t, 10*time.Second, "web out of ?passing", passing(0))

	for _, s := range servers {
		c.kill(s)
	}
	code, body, err := c.do("GET", web2, "/v1/health/service/web?cached", "", 5*time.Second)
	if err != nil || code != 200 || !strings.Contains(body, `"web1"`) {
		t.Fatalf("cached read with every server gone: %d %s %v", code, body, err)
	}
}
