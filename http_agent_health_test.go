package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAgentHealthService: a service's local health as its status code and
// body, by ID and by name, as Consul 1.22.7 answers the same requests.
func TestAgentHealthService(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","ID":"web1","Check":{"TTL":"30s"}}`, nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","ID":"web2","Check":{"TTL":"30s","Status":"passing"}}`, nil)
	get := func(path string, accept string) response {
		req, _ := http.NewRequest("GET", ta.base+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(b)}
	}
	for _, c := range []struct {
		path, accept string
		code         int
		text         string // the whole body for text answers, else the AggregatedStatus
	}{
		{"/v1/agent/health/service/id/web1", "", 503, "critical"},
		{"/v1/agent/health/service/id/web2", "", 200, "passing"},
		{"/v1/agent/health/service/id/web1?format=text", "", 503, "critical"},
		{"/v1/agent/health/service/id/web2", "text/plain", 200, "passing"},
		{"/v1/agent/health/service/id/nope?format=text", "", 404, "ServiceId nope not found"},
		{"/v1/agent/health/service/name/web?format=text", "", 503, "critical"},
		{"/v1/agent/health/service/name/nope?format=text", "", 404, "ServiceName nope Not Found"},
	} {
		r := get(c.path, c.accept)
		if r.code != c.code {
			t.Errorf("%s: %d, want %d", c.path, r.code, c.code)
		}
		if strings.Contains(c.path, "format=text") || c.accept != "" {
			if r.body != c.text || r.header.Get("Content-Type") != "text/plain" {
				t.Errorf("%s: %q (%s), want %q", c.path, r.body, r.header.Get("Content-Type"), c.text)
			}
			continue
		}
		var out agentServiceHealth
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.AggregatedStatus != c.text ||
			out.Service == nil || out.Service.Datacenter != "dc1" || len(out.Checks) != 1 {
			t.Errorf("%s: %s", c.path, r.body)
		}
	}
	if r := get("/v1/agent/health/service/id/nope", ""); r.code != 404 || r.body != `{"AggregatedStatus":"critical","Service":null,"Checks":null}` {
		t.Errorf("unknown ID: %d %s", r.code, r.body)
	}
	var all []agentServiceHealth
	if r := get("/v1/agent/health/service/name/web", ""); r.code != 503 || json.Unmarshal([]byte(r.body), &all) != nil || len(all) != 2 ||
		all[0].AggregatedStatus != "critical" || all[1].AggregatedStatus != "passing" {
		t.Errorf("by name: %d %s", r.code, r.body)
	}
	if r := get("/v1/agent/health/service/name/nope", ""); r.code != 404 || r.body != "[]" {
		t.Errorf("unknown name: %d %s", r.code, r.body)
	}
	ta.must("PUT", "/v1/agent/service/maintenance/web2?enable=true", "", nil)
	if r := get("/v1/agent/health/service/id/web2?format=text", ""); r.code != 503 || r.body != "maintenance" {
		t.Errorf("in maintenance: %d %q", r.code, r.body)
	}
	if r := get("/v1/agent/health/service/id/", ""); r.code != 500 || r.body != "Missing serviceID" {
		t.Errorf("no ID: %d %q", r.code, r.body)
	}
}
