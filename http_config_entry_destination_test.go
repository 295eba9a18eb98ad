package main

import (
	"strings"
	"testing"
)

// TestServiceDefaultsDestination: service-defaults keeps a Destination,
// checked with Consul 1.22.7's messages, every problem at once (run on
// the real binary); Consul's Go client test TestAPI_ConfigEntries sets one.
func TestServiceDefaultsDestination(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"bar","Protocol":"http","Destination":{"Addresses":["my.example.com"],"Port":80}}`, 200, `true`},
		{"GET", "/v1/config/service-defaults/bar", "", 200,
			`"Protocol":"http","TransparentProxy":{},"MeshGateway":{},"Expose":{},"Destination":{"Addresses":["my.example.com"],"Port":80},"Hash":`},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"b","Protocol":"bogus","Destination":{"Addresses":["a*b","1.2.3.4","1.2.3.4"],"Port":0}}`, 500,
			"4 errors occurred:\n\t* invalid value for protocol: bogus\n\t* Destination address 'a*b' is invalid Could not validate address a*b as an IP or Hostname\n" +
				"\t* Duplicate address '1.2.3.4' is not allowed\n\t* Invalid Port number 0\n\n"},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"b","Destination":{}}`, 500,
			"2 errors occurred:\n\t* Destination must contain at least one valid address\n\t* Invalid Port number 0\n\n"},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"b","destination":{"addresses":["x"],"port":1,"bogus":1}}`, 400,
			"Request decoding failed: 1 error occurred:\n\t* invalid config key \"Destination.bogus\"\n\n"},
		{"PUT", "/v1/config", `{"Kind":"service-defaults","Name":"b","Protocol":"grpc2"}`, 500, "1 error occurred:\n\t* invalid value for protocol: grpc2\n\n"},
	}
	for _, s := range steps {
		r := ta.do(s.method, s.path, s.body)
		if r.code != s.code || !strings.Contains(r.body, s.want) {
			t.Errorf("%s %s %s: got %d %q, want %d containing %q", s.method, s.path, s.body, r.code, r.body, s.code, s.want)
		}
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{{"my.example.com", true}, {"x", true}, {"a.b.", true}, {"", false}, {"a..b", false}, {strings.Repeat("a", 64) + ".com", false}, {strings.Repeat("a.", 127) + "ab", false}} {
		if got := isDomainName(c.name); got != c.ok {
			t.Errorf("isDomainName(%q) = %v", c.name, got)
		}
	}
}
