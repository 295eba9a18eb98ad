// agent_sidecar_test.go: tests of sidecar registration and the catalog's
// mesh reads (agent_sidecar.go, connect_service.go, store_connect.go,
// http_catalog_connect.go), end to end through HTTP and DNS on in-process
// agents: a dev server, and a client agent joined to a server.
//
// The JSON expected is what Consul 1.22.7 answers for the same requests.
//
// Concurrency: each test uses only what it starts; nothing is shared.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// canonJSON re-encodes JSON with sorted keys, so that two encodings of one
// value compare equal as strings, every field present or absent alike.
func canonJSON(t *testing.T, v any) string {
	t.Helper()
	b, ok := v.([]byte)
	if s, isString := v.(string); isString {
		b, ok = []byte(s), true
	}
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := json.Marshal(x)
	return string(out)
}

// sidecarRange makes an agent give out sidecar ports from n ports starting
// at a free one of 127.0.0.1 (the ports after it are only numbers: nothing
// binds them).
func sidecarRange(t *testing.T, n int) (first int, mutate func(*Config)) {
	first = freePort(t, "127.0.0.1")
	return first, func(c *Config) { c.Ports.SidecarMinPort, c.Ports.SidecarMaxPort = first, first+n-1 }
}

const webWithSidecar = `{"Name":"web","ID":"web1","Port":8080,"Tags":["v1"],"Meta":{"a":"b"},
	"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"DestinationName":"api","LocalBindPort":9191}]}}}}`

// TestSidecarRegistrationShapes: a registration with a SidecarService
// registers the proxy, with Consul's defaults and its two checks, and the
// agent, catalog and health endpoints render both services as Consul's.
func TestSidecarRegistrationShapes(t *testing.T) {
	t.Parallel()
	port, mutate := sidecarRange(t, 1)
	ta := startTestAgent(t, mutate)
	ta.must("PUT", "/v1/agent/service/register", webWithSidecar, nil)

	var agent map[string]json.RawMessage
	ta.must("GET", "/v1/agent/services", "", &agent)
	wantAgent := fmt.Sprintf(`{"Kind":"connect-proxy","ID":"web1-sidecar-proxy","Service":"web-sidecar-proxy","Tags":["v1"],
		"Meta":{"a":"b"},"Port":%d,"Address":"","Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,
		"Proxy":{"DestinationServiceName":"web","DestinationServiceID":"web1","LocalServiceAddress":"127.0.0.1",
		"LocalServicePort":8080,"Upstreams":[{"DestinationType":"service","DestinationName":"api","LocalBindPort":9191,
		"MeshGateway":{}}],"MeshGateway":{},"Expose":{}},"Datacenter":"dc1"}`, port)
	if got := canonJSON(t, []byte(agent["web1-sidecar-proxy"])); got != canonJSON(t, wantAgent) {
		t.Errorf("agent view of the sidecar:\n got %s\nwant %s", got, canonJSON(t, wantAgent))
	}
	wantParent := `{"ID":"web1","Service":"web","Tags":["v1"],"Meta":{"a":"b"},"Port":8080,"Address":"",
		"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Datacenter":"dc1"}`
	if got := canonJSON(t, []byte(agent["web1"])); got != canonJSON(t, wantParent) {
		t.Errorf("agent view of the parent (no Proxy, no Connect, no SidecarService):\n got %s\nwant %s", got, canonJSON(t, wantParent))
	}
	if r := ta.must("GET", "/v1/agent/service/web1-sidecar-proxy", "", nil); canonJSON(t, r.body) != canonJSON(t, wantAgent) {
		t.Errorf("/v1/agent/service of the sidecar: %s", r.body)
	}

	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	listening, aliasing := checks["service:web1-sidecar-proxy:1"], checks["service:web1-sidecar-proxy:2"]
	if len(checks) != 2 || listening.Name != "Connect Sidecar Listening" || listening.Type != "tcp" ||
		listening.Definition.TCP != "127.0.0.1:"+strconv.Itoa(port) || listening.Definition.Interval != duration(10*time.Second) ||
		listening.ServiceID != "web1-sidecar-proxy" || listening.ServiceName != "web-sidecar-proxy" ||
		aliasing.Name != "Connect Sidecar Aliasing web1" || aliasing.Type != "alias" || aliasing.ServiceID != "web1-sidecar-proxy" {
		t.Fatalf("the sidecar's default checks: %+v", checks)
	}
	eventually(t, 10*time.Second, "the alias check mirrors web (no checks: passing)", func() bool {
		ta.must("GET", "/v1/agent/checks", "", &checks)
		c := checks["service:web1-sidecar-proxy:2"]
		return c.Status == healthPassing && c.Output == "No checks found."
	})

	wantCatalogProxy := `{"DestinationServiceName":"web","DestinationServiceID":"web1","LocalServiceAddress":"127.0.0.1",
		"LocalServicePort":8080,"Mode":"","Upstreams":[{"DestinationType":"service","DestinationName":"api","Datacenter":"",
		"LocalBindPort":9191,"MeshGateway":{}}],"MeshGateway":{},"Expose":{}}`
	wantPlainProxy := `{"Mode":"","MeshGateway":{},"Expose":{}}`
	var catalog []map[string]json.RawMessage
	ta.must("GET", "/v1/catalog/service/web-sidecar-proxy", "", &catalog)
	if len(catalog) != 1 || string(catalog[0]["ServiceKind"]) != `"connect-proxy"` ||
		canonJSON(t, []byte(catalog[0]["ServiceProxy"])) != canonJSON(t, wantCatalogProxy) ||
		string(catalog[0]["ServiceConnect"]) != `{}` || string(catalog[0]["ServicePort"]) != strconv.Itoa(port) {
		t.Fatalf("catalog view of the sidecar: %s", ta.do("GET", "/v1/catalog/service/web-sidecar-proxy", "").body)
	}
	var parentCatalog []map[string]json.RawMessage
	ta.must("GET", "/v1/catalog/service/web", "", &parentCatalog)
	if len(parentCatalog) != 1 || string(parentCatalog[0]["ServiceKind"]) != `""` ||
		canonJSON(t, []byte(parentCatalog[0]["ServiceProxy"])) != canonJSON(t, wantPlainProxy) || string(parentCatalog[0]["ServiceConnect"]) != `{}` {
		t.Fatalf("catalog view of the parent: %s", ta.do("GET", "/v1/catalog/service/web", "").body)
	}

	var health []struct{ Service map[string]json.RawMessage }
	ta.must("GET", "/v1/health/service/web-sidecar-proxy", "", &health)
	if len(health) != 1 || string(health[0].Service["Kind"]) != `"connect-proxy"` ||
		canonJSON(t, []byte(health[0].Service["Proxy"])) != canonJSON(t, wantCatalogProxy) || string(health[0].Service["Connect"]) != `{}` {
		t.Fatalf("health view of the sidecar: %+v", health)
	}
	var parentHealth []struct{ Service map[string]json.RawMessage }
	ta.must("GET", "/v1/health/service/web", "", &parentHealth)
	if _, hasKind := parentHealth[0].Service["Kind"]; hasKind || canonJSON(t, []byte(parentHealth[0].Service["Proxy"])) != canonJSON(t, wantPlainProxy) {
		t.Fatalf("health view of the parent: %s", ta.do("GET", "/v1/health/service/web", "").body)
	}

	// A sidecar's own fields win over the parent's: tags, meta, port;
	// Native services are shown as such by the agent.
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"db","Port":5432,"Address":"127.0.0.5","Tags":["p"],"Meta":{"m":"1"},
		"Connect":{"SidecarService":{"Port":21999,"Tags":["own"],"Proxy":{"LocalServicePort":6000,"Config":{"protocol":"tcp"},
		"TransparentProxy":{"OutboundListenerPort":15001},"Mode":"transparent"}}}}`, nil)
	var db map[string]any
	ta.must("GET", "/v1/agent/service/db-sidecar-proxy", "", &db)
	proxy, _ := db["Proxy"].(map[string]any)
	if db["Port"] != 21999.0 || canonJSON(t, db["Tags"]) != `["own"]` || canonJSON(t, db["Meta"]) != `{"m":"1"}` || db["Address"] != "127.0.0.5" ||
		proxy["LocalServiceAddress"] != "127.0.0.1" || proxy["LocalServicePort"] != 6000.0 || proxy["Mode"] != "transparent" ||
		canonJSON(t, proxy["Config"]) != `{"protocol":"tcp"}` || canonJSON(t, proxy["TransparentProxy"]) != `{"OutboundListenerPort":15001}` {
		t.Fatalf("a sidecar with fields of its own: %+v", db)
	}
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if c := checks["service:db-sidecar-proxy:1"]; c.Definition.TCP != "127.0.0.5:21999" {
		t.Fatalf("the listening check dials the sidecar's address: %+v", c)
	}
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"nat","Port":7000,"Connect":{"Native":true}}`, nil)
	if r := ta.must("GET", "/v1/agent/service/nat", "", &db); canonJSON(t, db["Connect"]) != `{"Native":true}` {
		t.Fatalf("a Native service's Connect: %s", r.body)
	}
}

// TestSidecarPorts: sidecars get the lowest free port of the range, in
// order; a sidecar registered again keeps its port; a port freed by a
// deregistration is given again; with none left (or the range disabled)
// the registration fails with Consul's 500 and registers nothing.
func TestSidecarPorts(t *testing.T) {
	t.Parallel()
	first, mutate := sidecarRange(t, 3)
	ta := startTestAgent(t, mutate)
	register := func(name string) {
		ta.must("PUT", "/v1/agent/service/register", fmt.Sprintf(`{"Name":%q,"Port":1,"Connect":{"SidecarService":{}}}`, name), nil)
	}
	portOf := func(id string) int {
		var svc Service
		ta.must("GET", "/v1/agent/service/"+id, "", &svc)
		return svc.Port
	}
	for _, name := range []string{"a", "b", "c"} {
		register(name)
	}
	for i, name := range []string{"a", "b", "c"} {
		if got := portOf(name + "-sidecar-proxy"); got != first+i {
			t.Fatalf("%s's sidecar port = %d, want %d", name, got, first+i)
		}
	}
	register("a")
	if got := portOf("a-sidecar-proxy"); got != first {
		t.Fatalf("a registered again: its sidecar moved to %d", got)
	}
	ta.expect("PUT", "/v1/agent/service/register", `{"Name":"d","Port":1,"Connect":{"SidecarService":{}}}`, http.StatusInternalServerError,
		fmt.Sprintf("no port provided for sidecar_service and none left in the configured range [%d, %d]", first, first+2))
	ta.expect("GET", "/v1/agent/service/d", "", http.StatusNotFound, "")

	// Deregistering b removes its sidecar and the sidecar's checks; d gets the port.
	ta.must("PUT", "/v1/agent/service/deregister/b", "", nil)
	ta.expect("GET", "/v1/agent/service/b-sidecar-proxy", "", http.StatusNotFound, "")
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	for id := range checks {
		if id == "service:b-sidecar-proxy:1" || id == "service:b-sidecar-proxy:2" {
			t.Fatalf("b's sidecar's check %s is still there", id)
		}
	}
	eventually(t, 10*time.Second, "b's sidecar is gone from the catalog", func() bool {
		return ta.do("GET", "/v1/catalog/service/b-sidecar-proxy", "").body == "[]"
	})
	register("d")
	if got := portOf("d-sidecar-proxy"); got != first+1 {
		t.Fatalf("d's sidecar port = %d, want b's old %d", got, first+1)
	}

	// A sidecar service deregistered alone leaves its parent.
	ta.must("PUT", "/v1/agent/service/deregister/c-sidecar-proxy", "", nil)
	portOf("c")

	off := startTestAgent(t, func(c *Config) { c.Ports.SidecarMinPort, c.Ports.SidecarMaxPort = -1, -1 })
	off.expect("PUT", "/v1/agent/service/register", `{"Name":"a","Port":1,"Connect":{"SidecarService":{}}}`, http.StatusInternalServerError,
		"no port provided for sidecar_service and auto-assignment disabled in config")
	off.must("PUT", "/v1/agent/service/register", `{"Name":"a","Port":1,"Connect":{"SidecarService":{"Port":2000}}}`, nil)
}

// TestSidecarRegistrationErrors: bad proxy and sidecar definitions are
// refused with Consul's 400s, and register nothing.
func TestSidecarRegistrationErrors(t *testing.T) {
	t.Parallel()
	_, mutate := sidecarRange(t, 10)
	ta := startTestAgent(t, mutate)
	for _, tc := range []struct{ body, want string }{
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Connect":{"SidecarService":{}}}}}`,
			"Validation failed: 1 error occurred:\n\t* A SidecarService cannot have a nested SidecarService\n\n"},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"ID":"x"}}}`,
			"Validation failed: 1 error occurred:\n\t* A SidecarService cannot specify an ID as this is managed by the agent\n\n"},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"LocalBindPort":9}]}}}}`,
			"Failed Validation: 1 error occurred:\n\t* upstream destination name cannot be empty\n\n"},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"DestinationName":"a"}]}}}}`,
			"Failed Validation: 1 error occurred:\n\t* upstream local bind port or local socket path must be defined and nonzero\n\n"},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"DestinationName":"a","LocalBindPort":9},{"DestinationName":"a","LocalBindPort":10}]}}}}`,
			`upstreams cannot contain duplicates of [type="service", name="a", partition="", namespace="", peer="", datacenter=""]`},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"DestinationName":"a","LocalBindPort":9},{"DestinationName":"b","LocalBindPort":9}]}}}}`,
			`upstreams cannot contain duplicates by local bind address and port or unix path; "127.0.0.1:9" is specified twice`},
		{`{"Name":"e","Port":1,"Connect":{"SidecarService":{"Proxy":{"Upstreams":[{"DestinationType":"x","DestinationName":"a","LocalBindPort":9}]}}}}`,
			`unknown upstream destination type: "x"`},
		{`{"Name":"e","Port":1,"Kind":"connect-proxy"}`,
			"Validation failed: 1 error occurred:\n\t* Proxy.DestinationServiceName must be non-empty for Connect proxy services\n\n"},
		{`{"Name":"e","Kind":"connect-proxy","Proxy":{"DestinationServiceName":"x"}}`,
			"Validation failed: 1 error occurred:\n\t* Port or SocketPath must be set for a connect-proxy\n\n"},
		{`{"Name":"e","Port":1,"Kind":"connect-proxy","Proxy":{"DestinationServiceName":"x"},"Connect":{"Native":true}}`,
			"A Proxy cannot also be Connect Native, only typical services"},
		{`{"Name":"e","Connect":{"Native":true}}`, "Port or SocketPath must be set for a Connect native service."},
	} {
		r := ta.do("PUT", "/v1/agent/service/register", tc.body)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.body, r.code, r.body, tc.want)
		}
	}
	if r := ta.must("GET", "/v1/agent/services", "", nil); r.body != "{}" {
		t.Fatalf("refused registrations left services: %s", r.body)
	}
}

// TestConnectEndpoints: /v1/health/connect, /v1/catalog/connect and
// ?connect=true list a service's proxies and its Native instances; a
// sidecar whose listener is not up (its TCP check critical) is left out of
// ?passing and of <service>.connect DNS until it is, which wakes a blocking
// query.
func TestConnectEndpoints(t *testing.T) {
	t.Parallel()
	port, mutate := sidecarRange(t, 1)
	ta := startTestAgent(t, mutate)
	ta.must("PUT", "/v1/agent/service/register", webWithSidecar, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","ID":"web-native","Port":8443,"Connect":{"Native":true}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"other","Port":1}`, nil)

	ids := func(path string) []string {
		var entries []CheckServiceNode
		ta.must("GET", path, "", &entries)
		var out []string
		for _, e := range entries {
			out = append(out, e.Service.ID)
		}
		return out
	}
	want := []string{"web-native", "web1-sidecar-proxy"}
	if got := ids("/v1/health/connect/web"); !slices.Equal(got, want) {
		t.Fatalf("health/connect/web = %q, want %q", got, want)
	}
	if got := ids("/v1/health/service/web?connect=true"); !slices.Equal(got, want) {
		t.Fatalf("health/service/web?connect=true = %q, want %q", got, want)
	}
	if got := ids("/v1/health/connect/web?passing&near=_agent"); !slices.Equal(got, []string{"web-native"}) {
		t.Fatalf("health/connect/web?passing with the sidecar critical = %q", got)
	}
	var catalog []catalogServiceNode
	ta.must("GET", "/v1/catalog/connect/web", "", &catalog)
	if len(catalog) != 2 || catalog[1].ServiceID != "web1-sidecar-proxy" || catalog[1].ServicePort != port ||
		catalog[1].ServiceProxy.DestinationServiceName != "web" || !catalog[0].ServiceConnect.Native {
		t.Fatalf("catalog/connect/web: %+v", catalog)
	}
	if got := ids("/v1/health/connect/other"); got != nil {
		t.Fatalf("a service without proxies: %q", got)
	}
	ta.expect("GET", "/v1/catalog/connect/", "", http.StatusBadRequest, "Missing service name")

	dnsSRV := func() (ports []int) {
		m := dnsAsk(t, ta.dnsServers[0], "web.connect.consul.", dnsmessage.TypeSRV)
		for _, a := range m.Answers {
			ports = append(ports, int(a.Body.(*dnsmessage.SRVResource).Port))
		}
		slices.Sort(ports)
		return ports
	}
	if got := dnsSRV(); !slices.Equal(got, []int{8443}) {
		t.Fatalf("web.connect SRV with the sidecar critical: %v", got)
	}

	// The sidecar's listener comes up: its TCP check passes within its
	// 10 s interval, and a blocking query on health/connect?passing wakes.
	r := ta.must("GET", "/v1/health/connect/web?passing", "", nil)
	ch := ta.blockingGet(fmt.Sprintf("/v1/health/connect/web?passing&index=%d&wait=60s", r.index()))
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var woke response
	eventually(t, 30*time.Second, "the blocking query wakes with the sidecar passing", func() bool {
		select {
		case woke = <-ch:
		default:
			return false
		}
		if !strings.Contains(woke.body, "web1-sidecar-proxy") {
			ch = ta.blockingGet(fmt.Sprintf("/v1/health/connect/web?passing&index=%d&wait=60s", woke.index()))
			return false
		}
		return true
	})
	if got := dnsSRV(); !slices.Equal(got, []int{8443, port}) {
		t.Fatalf("web.connect SRV with the sidecar passing: %v", got)
	}
	m := dnsAsk(t, ta.dnsServers[0], "web.connect.consul.", dnsmessage.TypeA)
	if got := dnsAnswers(m.Answers); !slices.Equal(got, []string{"A 127.0.0.1"}) {
		t.Fatalf("web.connect A: %q", got)
	}
	if m := dnsAsk(t, ta.dnsServers[0], "other.connect.consul.", dnsmessage.TypeA); m.RCode != dnsmessage.RCodeNameError {
		t.Fatalf("other.connect: %v", m.RCode)
	}

	// Deregistering web1 takes its sidecar out of the mesh lists.
	ta.must("PUT", "/v1/agent/service/deregister/web1", "", nil)
	eventually(t, 10*time.Second, "web1's sidecar leaves health/connect", func() bool {
		return slices.Equal(ids("/v1/health/connect/web"), []string{"web-native"})
	})
}

// TestSidecarThroughClient: a client agent registers a sidecar and a
// Native service; the catalog's mesh reads answer through the client and
// the server, the client's DNS answers web.connect; after a restart the
// client has its sidecar again, on the same port (kept in its data dir),
// and anti-entropy puts it back in the catalog when it goes missing there,
// and leaves it alone otherwise (the catalog's copy compares equal).
func TestSidecarThroughClient(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 1)
	srv := c.agents[0]
	first := freePort(t, "127.0.0.37")
	dir := t.TempDir()
	start := func() *testAgent {
		return startTestClientWith(t, "web-host", "127.0.0.37", func(cfg *Config) {
			cfg.RetryJoin = []string{lanAddr(t, "127.0.0.21")}
			cfg.DataDir = dir
			cfg.AEInterval = 500 * time.Millisecond
			cfg.Ports.SidecarMinPort, cfg.Ports.SidecarMaxPort = first, first+9
		})
	}
	cl := start()
	eventually(t, 15*time.Second, "the client knows the server", func() bool { return len(cl.lanServers()) == 1 })
	cl.must("PUT", "/v1/agent/service/register", `{"Name":"gone","Port":1,"Connect":{"SidecarService":{}}}`, nil)
	cl.must("PUT", "/v1/agent/service/register", `{"Name":"web","ID":"web1","Port":8080,"Address":"127.0.0.37","Connect":{"SidecarService":{
		"Proxy":{"Config":{"protocol":"http","nested":{"a":[1,2]}},"Upstreams":[{"DestinationName":"api","LocalBindPort":9191,"Config":{"x":true}}]}}}}`, nil)
	cl.must("PUT", "/v1/agent/service/register", `{"Name":"web","ID":"web-native","Port":8443,"Connect":{"Native":true}}`, nil)
	cl.must("PUT", "/v1/agent/service/deregister/gone", "", nil)

	proxyIndex := func(a *testAgent) (ids []string, modify uint64) {
		var catalog []catalogServiceNode
		a.must("GET", "/v1/catalog/connect/web", "", &catalog)
		for _, e := range catalog {
			ids = append(ids, e.ServiceID)
			if e.ServiceID == "web1-sidecar-proxy" {
				modify = e.ModifyIndex
				if e.ServicePort != first+1 || e.ServiceAddress != "127.0.0.37" || e.ServiceProxy.Upstreams[0].Config["x"] != true {
					t.Fatalf("the sidecar in the catalog: %+v", e)
				}
			}
		}
		return ids, modify
	}
	want := []string{"web-native", "web1-sidecar-proxy"}
	eventually(t, 10*time.Second, "the client's mesh services reach the catalog", func() bool {
		ids, _ := proxyIndex(srv)
		return slices.Equal(ids, want)
	})
	if ids, _ := proxyIndex(cl); !slices.Equal(ids, want) {
		t.Fatalf("catalog/connect/web through the client: %q", ids)
	}
	var entries []CheckServiceNode
	cl.must("GET", "/v1/health/service/web?connect=true", "", &entries)
	if len(entries) != 2 {
		t.Fatalf("health/service/web?connect=true through the client: %+v", entries)
	}
	m := dnsAskUDP(t, cl.DNSAddrs()[0], "web.connect.consul.", dnsmessage.TypeSRV)
	if len(m.Answers) != 1 || m.Answers[0].Body.(*dnsmessage.SRVResource).Port != 8443 {
		t.Fatalf("web.connect SRV through the client (the sidecar is critical): %v %+v", m.RCode, m.Answers)
	}

	// Anti-entropy finds the catalog's copy (read back as JSON) equal to
	// its own, so it leaves it alone.
	view, err := cl.nodeCatalog(t.Context(), "web-host", 0)
	if err != nil {
		t.Fatal(err)
	}
	local := cl.local.serviceList()
	for _, remote := range view.Services {
		if mine := local[remote.ID]; mine == nil || !sameEntry(mine, remote) {
			t.Fatalf("anti-entropy sees %s differ:\nlocal   %+v\ncatalog %+v", remote.ID, mine, remote)
		}
	}

	// Gone from the catalog behind the agent's back: anti-entropy restores it.
	srv.must("PUT", "/v1/catalog/deregister", `{"Node":"web-host","ServiceID":"web1-sidecar-proxy"}`, nil)
	eventually(t, 10*time.Second, "anti-entropy puts the sidecar back", func() bool {
		ids, _ := proxyIndex(srv)
		return slices.Equal(ids, want)
	})

	// A restart: the sidecar comes back from the data dir on its port
	// (first+1: gone's sidecar had first, freed since), with its checks.
	cl.Shutdown()
	cl = start()
	var svc Service
	cl.must("GET", "/v1/agent/service/web1-sidecar-proxy", "", &svc)
	if svc.Port != first+1 || svc.Proxy.DestinationServiceID != "web1" || svc.Proxy.Config["protocol"] != "http" {
		t.Fatalf("the sidecar after a restart: %+v", svc)
	}
	var checks map[string]HealthCheck
	cl.must("GET", "/v1/agent/checks", "", &checks)
	if checks["service:web1-sidecar-proxy:1"].Name != "Connect Sidecar Listening" || checks["service:web1-sidecar-proxy:2"].Name != "Connect Sidecar Aliasing web1" {
		t.Fatalf("the sidecar's checks after a restart: %+v", checks)
	}
	// Deregistering the parent after the restart still takes the sidecar.
	cl.must("PUT", "/v1/agent/service/deregister/web1", "", nil)
	cl.expect("GET", "/v1/agent/service/web1-sidecar-proxy", "", http.StatusNotFound, "")
	cl.Shutdown()
	cl = start()
	cl.expect("GET", "/v1/agent/service/web1-sidecar-proxy", "", http.StatusNotFound, "")
}

// TestSidecarFromConfigFiles: a service of the config files with
// connect.sidecar_service (snake_case, a proxy Config keeping its own keys)
// registers its sidecar; the ports.sidecar_* keys are read and checked as
// Consul's.
func TestSidecarFromConfigFiles(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.1")
	cfg, _, err := loadConfigFixtures(t, []string{fmt.Sprintf(`{"ports":{"sidecar_min_port":%d,"sidecar_max_port":%d},
		"services":[{"name":"web","port":8080,"connect":{"sidecar_service":{"proxy":{"config":{"Some_Key":1},
		"upstreams":[{"destination_name":"api","local_bind_port":9191}]}}}},
		{"name":"api","port":9090,"connect":{"sidecar_service":{}}}]}`, port, port+1)}, "-dev")
	if err != nil {
		t.Fatal(err)
	}
	ta := startTestAgent(t, func(c *Config) {
		c.Ports.SidecarMinPort, c.Ports.SidecarMaxPort, c.Services = cfg.Ports.SidecarMinPort, cfg.Ports.SidecarMaxPort, cfg.Services
	})
	var web, api Service
	ta.must("GET", "/v1/agent/service/web-sidecar-proxy", "", &web)
	ta.must("GET", "/v1/agent/service/api-sidecar-proxy", "", &api)
	if web.Port != port || api.Port != port+1 || web.Proxy.Config["Some_Key"] != 1.0 ||
		len(web.Proxy.Upstreams) != 1 || web.Proxy.Upstreams[0].DestinationName != "api" || web.Proxy.Upstreams[0].LocalBindPort != 9191 {
		t.Fatalf("sidecars of the config files: %+v %+v", web, api)
	}

	for _, tc := range []struct {
		ports string
		want  string
	}{
		{`{"sidecar_min_port":21300,"sidecar_max_port":21200}`, "sidecar_min_port must be less than sidecar_max_port. To disable, set both to zero."},
		{`{"sidecar_max_port":70000}`, "invalid port: 70000"},
		{`{"sidecar_max_port":20000}`, "sidecar_min_port must be less than sidecar_max_port"},
	} {
		if _, _, err := loadConfigFixtures(t, []string{`{"ports":` + tc.ports + `}`}, "-dev"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ports %s: %v, want %q", tc.ports, err, tc.want)
		}
	}
	for _, tc := range []struct {
		ports    string
		min, max int
	}{
		{`{}`, 21000, 21255},
		{`{"sidecar_min_port":0,"sidecar_max_port":0}`, -1, -1},
		{`{"sidecar_min_port":0,"sidecar_max_port":21000}`, -1, 21000},
		{`{"sidecar_min_port":21500,"sidecar_max_port":21500}`, 21500, 21500},
	} {
		cfg, _, err := loadConfigFixtures(t, []string{`{"ports":` + tc.ports + `}`}, "-dev")
		if err != nil {
			t.Errorf("ports %s: %v", tc.ports, err)
		} else if cfg.Ports.SidecarMinPort != tc.min || cfg.Ports.SidecarMaxPort != tc.max {
			t.Errorf("ports %s: %d..%d, want %d..%d", tc.ports, cfg.Ports.SidecarMinPort, cfg.Ports.SidecarMaxPort, tc.min, tc.max)
		}
	}
}

// TestServiceLocality: a service's Locality is kept and shown as Consul
// 1.22.7 shows it (the agent's and health's Locality when set, the
// catalog's ServiceLocality, null when not), and a sidecar inherits its
// parent's.
func TestServiceLocality(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"foo","ID":"foo1","Port":1,
		"Locality":{"Region":"us-west-1","Zone":"us-west-1a"},"Connect":{"SidecarService":{}}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"bar"}`, nil)
	want := `{"Region":"us-west-1","Zone":"us-west-1a"}`
	field := func(path, key string, index int) string {
		var v any
		ta.must("GET", path, "", &v)
		if l, ok := v.([]any); ok {
			v = l[index]
		}
		if m, ok := v.(map[string]any)["Service"].(map[string]any); ok {
			v = m
		}
		got, present := v.(map[string]any)[key]
		if !present {
			return "absent"
		}
		b, _ := json.Marshal(got)
		return string(b)
	}
	for _, c := range []struct{ path, key, want string }{
		{"/v1/agent/service/foo1", "Locality", want},
		{"/v1/agent/service/foo1-sidecar-proxy", "Locality", want},
		{"/v1/agent/service/bar", "Locality", "absent"},
		{"/v1/catalog/service/foo", "ServiceLocality", want},
		{"/v1/catalog/service/bar", "ServiceLocality", "null"},
		{"/v1/health/service/foo", "Locality", want},
		{"/v1/health/service/bar", "Locality", "absent"},
	} {
		if got := field(c.path, c.key, 0); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.path, c.key, got, c.want)
		}
	}
}
