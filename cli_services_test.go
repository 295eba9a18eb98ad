// cli_services_test.go: services register and deregister against a test
// agent, by flags and by definition files, with Consul 1.22's messages
// and every exit code.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIServices(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	svc := write("svc.json", `{"service":{"name":"api","port":9000,"tags":["x"],"enable_tag_override":true}}`)
	svcs := write("svcs.json", `{"services":[{"name":"a1","id":"a1"},{"name":"a2"}]}`)
	bad := write("bad.json", "garbage")
	missing := filepath.Join(dir, "missing.json")
	cases := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"register", "-name=web", "-port=8080", "-tag=v1", "-tag=primary", "-meta=a=b"}, 0, "Registered service: web\n", ""},
		{[]string{"register", "-name=web", "-id=web2", "-address=10.0.0.9", "-port=81"}, 0, "Registered service: web\n", ""},
		{[]string{"register", svc}, 0, "Registered service: api\n", ""},
		{[]string{"register", svcs}, 0, "Registered service: a1\nRegistered service: a2\n", ""},
		{[]string{"register"}, 1, "", "Service registration requires at least one argument or flags.\n"},
		{[]string{"register", "-id=x"}, 1, "", "Service registration requires at least one argument or flags.\n"},
		{[]string{"register", "-name=foo", svc}, 1, "", "Service registration requires arguments or -id, not both.\n"},
		{[]string{"register", "-name=foo", "-address=10.0.0.1:80"}, 1, "", "Invalid Service address when using CLI flags. Use -port flag instead: address should not contain port\n"},
		{[]string{"register", missing}, 1, "", "Error: config: Open failed on " + missing + ". open " + missing + ": no such file or directory\n"},
		{[]string{"register", bad}, 1, "", "Error: failed to parse " + bad + ": invalid character 'g' looking for beginning of value\n"},
		{[]string{"deregister", "-id=web2"}, 0, "Deregistered service: web2\n", ""},
		{[]string{"deregister", svcs}, 0, "Deregistered service: a1\nDeregistered service: a2\n", ""},
		{[]string{"deregister"}, 1, "", "Service deregistration requires at least one argument or -id.\n"},
		{[]string{"deregister", "-id=web", svc}, 1, "", "Service deregistration requires arguments or -id, not both.\n"},
		{[]string{"deregister", missing}, 1, "", "Error: config: Open failed on " + missing + ". open " + missing + ": no such file or directory\n"},
	}
	for _, c := range cases {
		out, errOut, code := runCLI(t, env, "", append([]string{"services"}, c.args...)...)
		if code != c.code || out != c.stdout || errOut != c.stderr {
			t.Errorf("services %v: exit %d %q %q, want %d %q %q", c.args, code, out, errOut, c.code, c.stdout, c.stderr)
		}
	}
	// What the agent holds: the flags' and the file's fields.
	var services map[string]*Service
	ta.must("GET", "/v1/agent/services", "", &services)
	if web := services["web"]; web == nil || web.Port != 8080 || strings.Join(web.Tags, ",") != "v1,primary" || web.Meta["a"] != "b" {
		t.Errorf("web: %+v", web)
	}
	if api := services["api"]; api == nil || api.Port != 9000 || !api.EnableTagOverride || strings.Join(api.Tags, ",") != "x" {
		t.Errorf("api: %+v", api)
	}
	if services["web2"] != nil || services["a1"] != nil || services["a2"] != nil {
		t.Errorf("deregistered services remain: %v", services)
	}
	// An unknown ID: the agent's 404, in Consul's words, exit 1.
	_, errOut, code := runCLI(t, env, "", "services", "deregister", "-id=nope")
	if code != 1 || !strings.HasPrefix(errOut, `Error deregistering service "": Unexpected response code: 404 (Unknown service ID "nope"`) {
		t.Errorf("deregister unknown: %d %q", code, errOut)
	}
	// A family alone: its help on stderr, exit 1.
	if _, errOut, code := runCLI(t, env, "", "services"); code != 1 || !strings.Contains(errOut, "register") {
		t.Errorf("services: %d %q", code, errOut)
	}
}

// A dead agent: Consul's "Error registering service", exit 1.
func TestCLIServicesDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	_, errOut, code := runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": addr}, "", "services", "register", "-name=web")
	if code != 1 || !strings.HasPrefix(errOut, `Error registering service "web": Put "http://`+addr) {
		t.Errorf("%d %q", code, errOut)
	}
}
