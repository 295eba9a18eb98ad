// agent_reload_test.go: tests of the config files' services and checks,
// registered at start and replaced on a reload (agent_reload.go).
//
// Concurrency: each test uses only what it starts (agents, servers);
// nothing is shared between tests.
package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeServices(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "services.json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeServices(t, dir, `{"services": [
		{"name": "web", "port": 80, "check": {"check_id": "web-ttl", "ttl": "1h"}},
		{"name": "api", "port": 90},
		{"name": "stable", "check": {"check_id": "stable-ttl", "ttl": "1h"}}],
		"checks": [{"id": "disk", "name": "disk", "ttl": "1h"}]}`)
	args := []string{"-dev", "-config-dir", dir}
	loaded, _, err := loadConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	ta := startTestAgent(t, func(c *Config) { c.Services, c.Checks, c.ConfigArgs = loaded.Services, loaded.Checks, args })
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"manual"}`, nil)
	ta.must("PUT", "/v1/agent/check/pass/stable-ttl", "", nil)

	writeServices(t, dir, `{"services": [
		{"name": "web", "port": 81, "check": {"check_id": "web-http", "http": "http://127.0.0.1:1/", "interval": "1h"}},
		{"name": "stable", "check": {"check_id": "stable-ttl", "ttl": "1h"}},
		{"name": "new"}]}`)
	ta.must("PUT", "/v1/agent/reload", "", nil)
	svcs := ta.local.serviceList()
	checks := ta.local.checkList()
	switch {
	case svcs["web"] == nil || svcs["web"].Port != 81:
		t.Fatalf("changed service not replaced: %+v", svcs["web"])
	case svcs["api"] != nil || checks["disk"].CheckID != "":
		t.Fatal("removed definitions still registered")
	case svcs["new"] == nil || svcs["manual"] == nil:
		t.Fatalf("services after reload: %v", svcs)
	case checks["web-ttl"].CheckID != "" || checks["web-http"].CheckID == "":
		t.Fatalf("the changed service's checks: %v", checks)
	case checks["stable-ttl"].Status != healthPassing:
		t.Fatalf("an unchanged definition was restarted: %+v", checks["stable-ttl"])
	}
	st := ta.store.snapshot()
	if len(st.serviceInstances("api")) != 0 || len(st.serviceInstances("new")) != 1 || catalogCheck(ta, "disk") != nil {
		t.Fatal("the catalog does not follow the reload")
	}

	// A configuration that does not load, or one with a bad definition, is
	// refused and changes nothing.
	for _, bad := range []string{`{"services": [`, `{"services": [{"name": "x", "port": 99999}]}`,
		`{"checks": [{"name": "s", "args": ["/bin/true"], "interval": "1s"}]}`,
		// A check on a service this reload removes from the config files.
		`{"checks": [{"name": "c", "service_id": "stable", "ttl": "1h"}]}`} {
		writeServices(t, dir, bad)
		ta.expect("PUT", "/v1/agent/reload", "", 500, "")
		if got := ta.local.serviceList(); len(got) != len(svcs) || got["web"] == nil {
			t.Fatalf("refused reload %s changed the services: %v", bad, got)
		}
	}
	// A config service deregistered through the API comes back on reload.
	writeServices(t, dir, `{"services": [{"name": "web", "port": 81, "check": {"check_id": "web-http", "http": "http://127.0.0.1:1/", "interval": "1h"}}]}`)
	ta.must("PUT", "/v1/agent/service/deregister/web", "", nil)
	ta.must("PUT", "/v1/agent/reload", "", nil)
	if !ta.local.hasService("web") || !ta.local.hasService("manual") || ta.local.hasService("stable") {
		t.Fatalf("after the last reload: %v", ta.local.serviceList())
	}
}

// TestSIGHUPReload runs the real binary with -config-dir and reloads it
// with SIGHUP.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeServices(t, dir, `{"service": {"name": "before"}}`)
	ports := testPorts(t, "127.0.0.1")
	cmd, logs, _ := startAgentProcess(t, "agent", "-dev", "-node", "hup", "-bind", "127.0.0.1", "-http-port", fmt.Sprint(ports.HTTP),
		"-dns-port", "-1", "-server-port", fmt.Sprint(ports.Server), "-serf-lan-port", fmt.Sprint(ports.SerfLAN),
		"-serf-wan-port", fmt.Sprint(ports.SerfWAN), "-config-dir", dir)
	ta := &testAgent{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", ports.HTTP)}
	hasService := func(name string) bool {
		var svcs map[string]Service
		ta.must("GET", "/v1/agent/services", "", &svcs)
		_, ok := svcs[name]
		return ok
	}
	if !hasService("before") {
		t.Fatal("service from -config-dir not registered")
	}
	writeServices(t, dir, `{"service": {"name": "after"}}`)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the reloaded service", func() bool { return hasService("after") && !hasService("before") })
	writeServices(t, dir, `{"service": {"name": "after", "port": "not a number"}}`)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the refused reload logged", func() bool { return strings.Contains(logs(), "reload refused") })
	if !hasService("after") {
		t.Fatal("a refused reload changed the services")
	}
}

// TestBug_SIGHUPWhileStarting: the agent caught SIGHUP only once newAgent
// had returned, after it had logged "agent started" and served HTTP, so a
// SIGHUP in that window killed the process (TestSIGHUPReload lost its
// agent so about once in 40 runs: "signal: hangup"). Sent as soon as the
// agent says it is starting, a SIGHUP must be a reload once it runs.
func TestBug_SIGHUPWhileStarting(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ports := testPorts(t, "127.0.0.1")
	cmd := exec.Command(self, "agent", "-dev", "-node", "early-hup", "-bind", "127.0.0.1", "-http-port", fmt.Sprint(ports.HTTP),
		"-dns-port", "-1", "-server-port", fmt.Sprint(ports.Server), "-serf-lan-port", fmt.Sprint(ports.SerfLAN),
		"-serf-wan-port", fmt.Sprint(ports.SerfWAN))
	cmd.Env = append(os.Environ(), "MINICONSUL_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stuck := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() }) // bounds the reading below
	t.Cleanup(func() {
		stuck.Stop()
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "starting Consul agent") {
			cmd.Process.Signal(syscall.SIGHUP)
		}
		if strings.Contains(sc.Text(), "caught SIGHUP") {
			go io.Copy(io.Discard, stdout) // the agent logs on; Wait closes the pipe
			return
		}
	}
	t.Fatalf("no reload after a SIGHUP sent while the agent started (%v):\n%s", cmd.Wait(), out.String())
}

// Services and checks in config files are registered at start, in Consul's
// snake_case spelling; user data keys (meta) keep theirs.
func TestConfigDefinedServices(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "services.json")
	os.WriteFile(file, []byte(`{
		"services": [{"name": "web", "port": 8080, "tags": ["v1"], "meta": {"git_sha": "abc"},
		              "enable_tag_override": true,
		              "check": {"check_id": "web-ttl", "ttl": "30s", "deregister_critical_service_after": "90m"}}],
		"check": {"id": "disk", "name": "disk", "ttl": "1m", "status": "passing"}
	}`), 0o644)
	cfg, _, err := loadConfig([]string{"-dev", "-config-file", file})
	if err != nil {
		t.Fatal(err)
	}
	ta := startTestAgent(t, func(c *Config) { c.Services, c.Checks = cfg.Services, cfg.Checks })
	var svcs map[string]Service
	ta.must("GET", "/v1/agent/services", "", &svcs)
	if web := svcs["web"]; web.Port != 8080 || web.Meta["git_sha"] != "abc" || !web.EnableTagOverride {
		t.Fatalf("web from config: %+v", svcs)
	}
	var checks map[string]HealthCheck
	ta.must("GET", "/v1/agent/checks", "", &checks)
	if c := checks["web-ttl"]; c.ServiceID != "web" || time.Duration(c.Definition.DeregisterCriticalServiceAfter) != 90*time.Minute {
		t.Fatalf("web check from config: %+v", checks)
	}
	if checks["disk"].Status != healthPassing {
		t.Fatalf("node check from config: %+v", checks["disk"])
	}
	// A bad definition stops the agent with a message that names it.
	bad := testConfig("bad")
	bad.Services = []*serviceDefinition{{Port: 1}}
	if _, err := newAgent(bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "Missing service name") {
		t.Fatalf("bad service definition: %v", err)
	}
}
