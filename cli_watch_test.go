// cli_watch_test.go: `consul watch` against an in-process agent: each
// type's one-shot JSON, a handler run at start and on a change, and the
// messages and exit codes of missing and invalid flags (Consul 1.22's).
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCLIWatchOneShot(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	ta.must("PUT", "/v1/kv/foo", "bar", nil)
	ta.must("PUT", "/v1/kv/pre/a", "1", nil)
	ta.must("PUT", "/v1/kv/pre/b", "2", nil)
	ta.must("PUT", "/v1/agent/service/register", `{"Name":"web","Tags":["v1"],"Port":80}`, nil)
	ta.must("PUT", "/v1/event/fire/deploy", "hello", nil)
	watch := func(args ...string) any {
		t.Helper()
		var v any
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, errOut, code := runCLI(t, env, "", append([]string{"watch"}, args...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errOut)
			}
			if !strings.HasSuffix(out, "\n") || (len(out) > 3 && out != "null\n" && !strings.Contains(out, "\n    ")) {
				t.Fatalf("%v: not indented four spaces: %q", args, out)
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("%v: %v: %q", args, err, out)
			}
			// the agent's own registration reaches the catalog by anti-entropy
			if l, ok := v.([]any); !ok || len(l) > 0 || time.Now().After(deadline) || args[len(args)-1] == "-service=nosuch" {
				return v
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if v := watch("-type=key", "-key=foo").(map[string]any); v["Key"] != "foo" || v["Value"] != "YmFy" {
		t.Errorf("key: %v", v)
	}
	if v := watch("-type=key", "-key=missing"); v != nil {
		t.Errorf("missing key: %v, want null", v)
	}
	if v := watch("-type=keyprefix", "-prefix=pre/").([]any); len(v) != 2 || v[1].(map[string]any)["Key"] != "pre/b" {
		t.Errorf("keyprefix: %v", v)
	}
	if v := watch("-type=keyprefix", "-prefix=nothing"); v != nil {
		t.Errorf("empty keyprefix: %v, want null", v)
	}
	if v := watch("-type=services").(map[string]any); v["web"] == nil || v["web"].([]any)[0] != "v1" {
		t.Errorf("services: %v", v)
	}
	if v := watch("-type=nodes").([]any); len(v) != 1 || v[0].(map[string]any)["Node"] != "node1" {
		t.Errorf("nodes: %v", v)
	}
	if v := watch("-type=service", "-service=web", "-tag=v1", "-passingonly=true").([]any); len(v) != 1 || v[0].(map[string]any)["Service"].(map[string]any)["Port"] != 80.0 {
		t.Errorf("service: %v", v)
	}
	if v := watch("-type=service", "-service=nosuch").([]any); len(v) != 0 {
		t.Errorf("no service: %v", v)
	}
	if v := watch("-type=checks", "-state=passing").([]any); len(v) == 0 || v[0].(map[string]any)["CheckID"] != "serfHealth" {
		t.Errorf("checks: %v", v)
	}
	if v := watch("-type=checks").([]any); len(v) == 0 {
		t.Errorf("checks any: %v", v)
	}
	if v := watch("-type=event", "-name=deploy").([]any); len(v) != 1 || v[0].(map[string]any)["Payload"] != "aGVsbG8=" {
		t.Errorf("event: %v", v)
	}
}

// With a handler the watch runs it with the JSON on stdin at start and on
// each change, and keeps running until stopped (exit 0).
func TestCLIWatchHandler(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/kv/foo", "one", nil)
	file := filepath.Join(t.TempDir(), "seen")
	var out, errOut bytes.Buffer
	env := cliEnvFor(ta)
	c := &cliEnv{stdout: &out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(k string) string { return env[k] }}
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		// The index first: once file has a run's line, file.idx has its index.
		done <- watchRun(c, []string{"-type=key", "-key=foo", "echo", "$CONSUL_INDEX", ">>", file + ".idx", ";", "cat", ">>", file}, stop)
	}()
	lines := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, _ := os.ReadFile(file)
			got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(b) > 0 && len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("handler ran %d times, want %d (%q)", len(got), n, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	got := lines(1)
	var e struct{ Key, Value string }
	if err := json.Unmarshal([]byte(got[0]), &e); err != nil || e.Value != "b25l" {
		t.Fatalf("first run: %q %v", got[0], err)
	}
	ta.must("PUT", "/v1/kv/other", "x", nil) // a new index, the same result: no run
	ta.must("PUT", "/v1/kv/foo", "two", nil)
	got = lines(2)
	if len(got) != 2 || !strings.Contains(got[1], `"Value":"dHdv"`) {
		t.Fatalf("runs: %q", got)
	}
	idx, _ := os.ReadFile(file + ".idx")
	if strings.Count(string(idx), "\n") != 2 || strings.HasPrefix(string(idx), "\n") {
		t.Errorf("CONSUL_INDEX: %q", idx)
	}
	close(stop)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not stop")
	}
}

// A failing handler ends the watch with exit 1 and Consul's message.
func TestCLIWatchHandlerFails(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	_, errOut, code := runCLI(t, cliEnvFor(ta), "", "watch", "-type=nodes", "exit 3")
	if code != 1 || errOut != "Error executing handler: exit status 3\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestCLIWatchErrors(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-type=bogus"}, "Unsupported watch type: bogus\n"},
		{[]string{"-type=key"}, "Must specify a single key to watch\n"},
		{[]string{"-type=keyprefix"}, "Must specify a single prefix to watch\n"},
		{[]string{"-type=service"}, "Must specify a single service to watch\n"},
		{[]string{"-type=checks", "-service=a", "-state=b"}, "Cannot specify service and state\n"},
		{[]string{"-type=key", "-key=a", "-prefix=p"}, "Invalid parameters: [prefix]\n"},
		{[]string{"-type=nodes", "-name=x", "-key=y"}, "Invalid parameters: [key name]\n"},
		{[]string{"-type=event", "-stale"}, "Invalid parameters: [stale]\n"},
		{[]string{"-type=service", "-service=web", "-passingonly=maybe"}, "Failed to parse passingonly flag: strconv.ParseBool: parsing \"maybe\": invalid syntax\n"},
		{[]string{"-type=connect_roots"}, "Type connect_roots is not supported in the CLI tool\n"},
		{[]string{"-type=agent_service"}, "Type agent_service is not supported in the CLI tool\n"},
	} {
		out, errOut, code := runCLI(t, env, "", append([]string{"watch"}, tc.args...)...)
		if code != 1 || out != "" || errOut != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if _, errOut, code := runCLI(t, env, "", "watch", "-badflag"); code != 1 || !strings.HasPrefix(errOut, "flag provided but not defined: -badflag\nUsage:\n") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	golden, err := os.ReadFile("testdata/cli/watch_no_type.golden")
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, env, "", "watch"); code != 1 || out != "" || errOut != string(golden) {
		t.Errorf("no type: exit %d, stderr:\n%s", code, errOut)
	}
	if out, _, code := runCLI(t, env, "", "watch", "-h"); code != 0 || out != strings.TrimPrefix(string(golden), "Watch type must be specified\n\n") {
		t.Errorf("help: exit %d:\n%s", code, out)
	}
	dead := map[string]string{"CONSUL_HTTP_ADDR": closedPort(t)}
	if _, errOut, code := runCLI(t, dead, "", "watch", "-type=nodes"); code != 1 ||
		errOut != `Error querying Consul agent: Get "http://`+dead["CONSUL_HTTP_ADDR"]+`/v1/status/leader": dial tcp `+dead["CONSUL_HTTP_ADDR"]+": connect: connection refused\n" {
		t.Errorf("dead agent: %d %q", code, errOut)
	}
}
