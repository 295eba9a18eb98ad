// cli_test.go: the command-line client's shared parts: dispatch, exit
// codes, help, the HTTP client's flags and environment, columnize; and
// runCLI, which every cli_*_test.go uses to run a command in-process.
package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs one command in-process against the environment env (only
// these variables are set) and returns its output and exit code.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cliEnv{stdout: &out, stderr: &errOut, stdin: strings.NewReader(stdin), getenv: func(k string) string { return env[k] }}
	code = cliDispatch(args, c)
	return out.String(), errOut.String(), code
}

// cliEnvFor is the environment that points the CLI at ta's HTTP API.
func cliEnvFor(ta *testAgent) map[string]string {
	return map[string]string{"CONSUL_HTTP_ADDR": strings.TrimPrefix(ta.base, "http://")}
}

func TestCLIDispatch(t *testing.T) {
	t.Parallel()
	if _, errOut, code := runCLI(t, nil, ""); code != 127 || !strings.Contains(errOut, "Available commands are:") {
		t.Errorf("no command: %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, nil, "", "nonsense"); code != 127 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if out, _, code := runCLI(t, nil, "", "--help"); code != 0 || !strings.Contains(out, "    version") {
		t.Errorf("--help: %d %q", code, out)
	}
	if out, _, code := runCLI(t, nil, "", "version"); code != 0 || !strings.HasPrefix(out, "Consul v") {
		t.Errorf("version: %d %q", code, out)
	}
}

// A dead agent: the command fails with Go's transport error, as Consul's.
func TestCLIClientDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	f := newCLIFlags(true, true)
	c := &cliEnv{getenv: func(k string) string { return map[string]string{"CONSUL_HTTP_ADDR": addr}[k] }}
	cl, err := f.http.client(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.call("GET", "/v1/agent/self", nil, nil, nil)
	want := `Get "http://` + addr + `/v1/agent/self": dial tcp ` + addr + `: connect: connection refused`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// Flags win over the environment; the environment over the defaults.
func TestCLIClientFlagsOverEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CONSUL_HTTP_ADDR": "https://10.0.0.1:8501", "CONSUL_HTTP_TOKEN": "env-token"}
	c := &cliEnv{getenv: func(k string) string { return env[k] }}
	f := newCLIFlags(true, true)
	if !f.parse(c, []string{"-token", "flag-token", "-datacenter", "dc2"}) {
		t.Fatal("parse")
	}
	cl, err := f.http.client(c)
	if err != nil {
		t.Fatal(err)
	}
	if cl.base.String() != "https://10.0.0.1:8501" || cl.token != "flag-token" || cl.datacenter != "dc2" {
		t.Errorf("client: %+v", cl)
	}
	f = newCLIFlags(true, false)
	cl, _ = f.http.client(&cliEnv{getenv: func(string) string { return "" }})
	if cl.base.String() != "http://localhost:8500" {
		t.Errorf("default address: %s", cl.base.String())
	}
}

func TestColumnize(t *testing.T) {
	t.Parallel()
	got := columnize([]string{"Node|Address|Status", "s1|127.0.0.1:8301|alive", "a-long-name | 10.0.0.2:8301 | failed"})
	want := "Node         Address         Status\ns1           127.0.0.1:8301  alive\na-long-name  10.0.0.2:8301   failed"
	if got != want {
		t.Errorf("columnize:\n%s\nwant\n%s", got, want)
	}
}
