// cli_test.go: the command-line client's shared parts: dispatch, exit
// codes, help, the HTTP client's flags and environment, columnize; and
// runCLI, which every cli_*_test.go uses to run a command in-process.
package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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

// "agent -h", "-help" and "--help" print, on stdout with exit 0, every
// flag of the README's table and of agentFlags, in Consul's layout.
func TestCLIAgentCommandHelp(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Flags\n")
	table, _, _ = strings.Cut(table, "\n## ")
	var names []string
	for _, line := range strings.Split(table, "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, m := range regexp.MustCompile("`-([a-z-]+)").FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 20 {
		t.Fatalf("README's flag table: only %v", names)
	}
	for _, f := range agentFlags {
		names = append(names, f.name)
	}
	for _, arg := range []string{"-h", "-help", "--help"} {
		out, errOut, code := runCLI(t, nil, "", "agent", arg)
		if code != 0 || errOut != "" {
			t.Fatalf("agent %s: %d %q", arg, code, errOut)
		}
		if !strings.HasPrefix(out, "Usage: consul agent [options]\n\n  Starts the Consul agent") ||
			!strings.Contains(out, "\nHTTP API Options\n\n  -datacenter=<value>\n") || !strings.Contains(out, "\nCommand Options\n\n") {
			t.Errorf("agent %s: not Consul's layout:\n%s", arg, out)
		}
		for _, name := range names {
			if !strings.Contains(out, "\n  -"+name+"\n") && !strings.Contains(out, "\n  -"+name+"=<value>\n") {
				t.Errorf("agent %s: -%s missing", arg, name)
			}
		}
	}
}

// cliWrap wraps as Consul's help (kr/text): least raggedness, not greedy.
func TestCLIWrap(t *testing.T) {
	t.Parallel()
	got := strings.Join(cliWrap("Path to a client cert file to use for TLS when 'verify_incoming' is enabled. This can also be specified via the CONSUL_CLIENT_CERT environment variable.", 67), "\n")
	want := "Path to a client cert file to use for TLS when 'verify_incoming'\nis enabled. This can also be specified via the CONSUL_CLIENT_CERT\nenvironment variable."
	if got != want {
		t.Errorf("cliWrap:\n%s\nwant\n%s", got, want)
	}
}

// Consul's client rules the reviewers checked against real Consul: the
// token's precedence (-token-file, -token, CONSUL_HTTP_TOKEN_FILE,
// CONSUL_HTTP_TOKEN), CONSUL_HTTP_SSL keeping https over an http://
// address, an address's path prefix, CONSUL_HTTP_AUTH as basic auth.
func TestBug_CLIClientAsConsuls(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client := func(env map[string]string, args ...string) *cliClient {
		t.Helper()
		c := &cliEnv{getenv: func(k string) string { return env[k] }}
		f := newCLIFlags(true, true)
		if !f.parse(c, args) {
			t.Fatal("parse")
		}
		cl, err := f.http.client(c)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"CONSUL_HTTP_TOKEN": "env"}, []string{"-token-file", file}, "file-token"},
		{nil, []string{"-token", "flag", "-token-file", file}, "file-token"},
		{map[string]string{"CONSUL_HTTP_TOKEN": "env", "CONSUL_HTTP_TOKEN_FILE": file}, nil, "file-token"},
		{map[string]string{"CONSUL_HTTP_TOKEN_FILE": file}, []string{"-token", "flag"}, "flag"},
		{map[string]string{"CONSUL_HTTP_TOKEN": "env"}, nil, "env"},
	} {
		if got := client(tc.env, tc.args...).token; got != tc.want {
			t.Errorf("env %v args %v: token %q, want %q", tc.env, tc.args, got, tc.want)
		}
	}
	cl := client(map[string]string{"CONSUL_HTTP_ADDR": "http://10.0.0.1:8500/pfx/", "CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_AUTH": "u:p"})
	req, err := cl.request(t.Context(), "GET", "/v1/kv/a", url.Values{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user, pass, ok := req.BasicAuth(); req.URL.String() != "https://10.0.0.1:8500/pfx/v1/kv/a" || !ok || user != "u" || pass != "p" {
		t.Errorf("request: %s, basic auth %q %q %v", req.URL, user, pass, ok)
	}
	if _, _, code := runCLI(t, nil, "", "help"); code != 127 {
		t.Errorf("help: exit %d, want 127 as Consul", code)
	}
	if out, _, code := runCLI(t, nil, "", "kv", "put", "k", "--", "-h"); code == 0 || strings.HasPrefix(out, "Usage:") {
		t.Errorf("a -h after --: exit %d, output %q", code, out)
	}
}
