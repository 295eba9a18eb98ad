// dns_bench_test.go: the cost of answering one DNS query, the handler alone
// (no sockets), for the names of ../shared/bench/dns-queries.txt: a service's
// A and SRV records, RFC 2782's form, and a node. Run with -benchmem: the
// allocations per query are what the UDP loop pays besides the syscalls.
package main

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func BenchmarkDNSRespond(b *testing.B) {
	c := newDNSCatalog(b)
	c.instance("node1", "127.0.0.10", Service{Service: "web", Port: 8080}, healthPassing)
	d := c.server(dnsTestConfig())
	queries := [][]byte{
		dnsQuery("web.service.consul.", dnsmessage.TypeA, 0),
		dnsQuery("web.service.consul.", dnsmessage.TypeSRV, 0),
		dnsQuery("_web._tcp.service.consul.", dnsmessage.TypeSRV, 0),
		dnsQuery("node1.node.consul.", dnsmessage.TypeA, 0),
	}
	s := &dnsScratch{} // one per serving goroutine, as serveUDP has
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if d.respond(s, queries[i%len(queries)], false) == nil {
			b.Fatal("no response")
		}
	}
}
