// cli_acl_test.go: the acl commands replayed against recordings of real
// Consul 1.22.7. Each testdata/cli/acl/<scenario>.json holds a run of
// Consul's own CLI (its arguments, stdin, token, and a file for @FILE or
// FILE) against a real agent with ACLs on, every HTTP exchange it made
// (captured by a recording proxy), and what it printed and returned. The
// test serves those exchanges from a fake agent that checks each request
// (method, path and query, token, JSON body) in order, runs our command
// the same way, and wants Consul's stdout, stderr and exit code byte for
// byte. The help texts are compared with Consul's (testdata/cli/acl/help).
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// aclScenario is one recording.
type aclScenario struct {
	Args      []string
	Stdin     string
	Token     string
	File      *string
	Exchanges []struct {
		Method, URI, Token, Body string
		Status                   int
		Response                 string
	}
	Stdout, Stderr string
	Code           int
}

func TestCLIACLReplay(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/cli/acl/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var sc aclScenario
			if err := json.Unmarshal(b, &sc); err != nil {
				t.Fatal(err)
			}
			replayACL(t, &sc)
		})
	}
}

// replayACL runs the scenario's command against a fake agent answering
// its recorded exchanges.
func replayACL(t *testing.T, sc *aclScenario) {
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if next >= len(sc.Exchanges) {
			t.Errorf("unexpected request %s %s", r.Method, r.RequestURI)
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		ex := sc.Exchanges[next]
		next++
		if r.Method != ex.Method || r.RequestURI != ex.URI || r.Header.Get("X-Consul-Token") != ex.Token {
			t.Errorf("request %d: %s %s (token %q), want %s %s (token %q)", next, r.Method, r.RequestURI,
				r.Header.Get("X-Consul-Token"), ex.Method, ex.URI, ex.Token)
		}
		if !sameJSON(string(body), ex.Body) {
			t.Errorf("request %d body:\n%s\nwant\n%s", next, body, ex.Body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ex.Status)
		io.WriteString(w, ex.Response)
	}))
	defer srv.Close()

	args := append([]string(nil), sc.Args...)
	if sc.File != nil {
		path := filepath.Join(t.TempDir(), "input")
		if err := os.WriteFile(path, []byte(*sc.File), 0o600); err != nil {
			t.Fatal(err)
		}
		for i, a := range args {
			if a == "FILE" {
				args[i] = path
			}
			args[i] = strings.ReplaceAll(args[i], "@FILE", "@"+path)
		}
	}
	env := map[string]string{"CONSUL_HTTP_ADDR": strings.TrimPrefix(srv.URL, "http://")}
	if sc.Token != "" {
		env["CONSUL_HTTP_TOKEN"] = sc.Token
	}
	out, errOut, code := runCLI(t, env, sc.Stdin, args...)
	if out != sc.Stdout {
		t.Errorf("stdout:\n%s\nwant\n%s", out, sc.Stdout)
	}
	if errOut != sc.Stderr {
		t.Errorf("stderr:\n%q\nwant\n%q", errOut, sc.Stderr)
	}
	if code != sc.Code {
		t.Errorf("exit %d, want %d", code, sc.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	if next != len(sc.Exchanges) {
		t.Errorf("%d requests, want %d", next, len(sc.Exchanges))
	}
}

// sameJSON says whether a and b are the same JSON document (or both
// empty).
func sameJSON(a, b string) bool {
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}

// Every acl command's help is Consul's; the acl family's up to its list
// of subcommands (Consul's also lists auth-method, binding-rule and
// templated-policy, not built here).
func TestCLIACLHelp(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/cli/acl/help/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no help texts: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := string(b)
		cmd := strings.TrimSuffix(filepath.Base(file), ".txt")
		args := []string{"acl"}
		if cmd != "acl" {
			args = append(args, strings.Split(cmd, "_")...)
		}
		out, _, code := runCLI(t, nil, "", append(args, "-h")...)
		if code != 0 {
			t.Errorf("%s -h: exit %d", cmd, code)
		}
		if cmd == "acl" {
			out, _, _ = strings.Cut(out, "Subcommands:")
			want, _, _ = strings.Cut(want, "Subcommands:")
		}
		if out != want {
			t.Errorf("%s -h:\n%s\nwant\n%s", cmd, out, want)
		}
	}
}

// A dead agent: each command's message and Go's transport error, exit 1.
func TestCLIACLDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	env := map[string]string{"CONSUL_HTTP_ADDR": addr}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "list"}, `Failed to retrieve the token list: Get "http://` + addr + `/v1/acl/tokens": dial tcp `},
		{[]string{"token", "read", "-accessor-id", "ab"}, `Error determining token ID: Get "http://` + addr + `/v1/acl/tokens": dial tcp `},
		{[]string{"policy", "read", "-name", "p"}, `Error reading policy "name:p": Failed to find policy with name p: Get "http://` + addr + `/v1/acl/policy/name/p": dial tcp `},
		{[]string{"role", "delete", "-name", "r"}, `Error determining role ID: Get "http://` + addr + `/v1/acl/roles": dial tcp `},
		{[]string{"bootstrap"}, `Failed ACL bootstrapping: Put "http://` + addr + `/v1/acl/bootstrap": dial tcp `},
		// Consul's client tries the older name of the kind as well.
		{[]string{"set-agent-token", "default", "x"}, `Failed to set ACL token "default": Put "http://` + addr + `/v1/agent/token/acl_token": dial tcp `},
	} {
		out, errOut, code := runCLI(t, env, "", append([]string{"acl"}, tc.args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q %q", tc.args, code, out, errOut)
		}
	}
}

// The flags' small parsers, as Consul's.
func TestCLIACLIdentityFlags(t *testing.T) {
	t.Parallel()
	svcs, err := aclServiceIdentities([]string{"web", "db:dc1,dc2"})
	if err != nil || len(svcs) != 2 || svcs[0].ServiceName != "web" || svcs[0].Datacenters != nil ||
		!reflect.DeepEqual(svcs[1], &cliACLServiceIdentity{ServiceName: "db", Datacenters: []string{"dc1", "dc2"}}) {
		t.Errorf("service identities: %+v %v", svcs, err)
	}
	for _, bad := range []string{"a:b:c"} {
		if _, err := aclServiceIdentities([]string{bad}); err == nil || err.Error() != `Malformed -service-identity argument: "a:b:c"` {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, bad := range []string{"n1", "n1:dc1:x"} {
		if _, err := aclNodeIdentities([]string{bad}); err == nil || !strings.HasPrefix(err.Error(), "Malformed -node-identity argument") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	tps, err := aclTemplatedPolicies("builtin/service", "", []string{"NAME:web", "other:x"})
	if err != nil || len(tps) != 1 || tps[0].TemplateVariables == nil || tps[0].TemplateVariables.Name != "web" {
		t.Errorf("templated policy: %+v %v", tps, err)
	}
	if _, err := aclTemplatedPolicies("builtin/service", "", []string{"name:a:b"}); err == nil {
		t.Error("a -var of three parts is accepted")
	}
	for _, tc := range []struct {
		prefix, want, err string
	}{
		{"ab", "abcd", ""},
		{"x", "", "none x"},
		{"a", "", "not unique"},
	} {
		got, err := aclUniquePrefix([]string{"abcd", "acde"}, tc.prefix, "not unique", "none %s")
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%q: %q %v", tc.prefix, got, err)
		}
	}
}
