package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIIntentionAndConfig: the intention and config commands, each
// output, message and exit code as Consul 1.22.7's (run against the real
// binary), in one session against an agent.
func TestCLIIntentionAndConfig(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cw := write("cw.json", `{"Kind":"service-defaults","Name":"cw","Protocol":"http"}`)
	pd := write("pd.json", `{"Kind":"proxy-defaults","Name":"other"}`)
	empty := write("empty.json", "")
	steps := []struct {
		args     []string
		code     int
		out, err string // stdout exactly; stderr contains err
	}{
		{[]string{"intention", "list"}, 2, "There are no intentions.\n", ""},
		{[]string{"intention", "create", "web", "api"}, 0, "Created: web => api (allow)\n", ""},
		{[]string{"intention", "create", "web", "api"}, 1, "",
			`Error creating intention "web => api (allow)": Unexpected response code: 500 (Sources[1] defines "web" more than once)`},
		{[]string{"intention", "create", "-deny", "-replace", "web", "api"}, 0, "", ""},
		{[]string{"intention", "create", "-replace", "db", "api"}, 0, "Created: db => api (allow)\n", ""},
		{[]string{"intention", "create", "-allow", "-deny", "web", "api2"}, 1, "", "Only one of -allow or -deny may be specified."},
		{[]string{"intention", "create", "web"}, 1, "", "Error: Must specify two arguments: source and destination"},
		{[]string{"intention", "check", "web", "api"}, 1, "Denied\n", ""},
		{[]string{"intention", "check", "db", "api"}, 0, "Allowed\n", ""},
		{[]string{"intention", "check", "x"}, 2, "", "Error: command requires exactly two arguments: src and dst"},
		{[]string{"intention", "get", "web", "api"}, 0,
			"Source:       web\nDestination:  api\nAction:       deny\nCreated At:   Monday, 01-Jan-01 00:00:00 UTC\n", ""},
		{[]string{"intention", "get", "nope", "api"}, 1, "", `Intention not found with source "nope" and destination "api"`},
		{[]string{"intention", "list"}, 0,
			"ID  Source  Action  Destination  Precedence\n    db      allow   api          9\n    web     deny    api          9\n", ""},
		{[]string{"intention", "delete", "web", "api"}, 0, "Intention deleted.\n", ""},
		{[]string{"intention", "delete", "web", "api"}, 0, "Intention deleted.\n", ""},
		// The one-argument forms take a legacy intention's ID.
		{[]string{"intention", "get", "hello"}, 1, "",
			"Error reading the intention: Unexpected response 400: failed config entry lookup: index error: UUID must be 36 characters"},
		{[]string{"intention", "get", "eaf79097-eee0-47a2-4794-53aa6d194f89"}, 1, "", `Intention not found with ID "eaf79097-eee0-47a2-4794-53aa6d194f89"`},
		{[]string{"intention", "delete", "eaf79097-eee0-47a2-4794-53aa6d194f89"}, 1, "",
			"Error deleting the intention: Unexpected response code: 500 (Cannot delete non-existent intention: 'eaf79097-eee0-47a2-4794-53aa6d194f89')"},
		{[]string{"intention", "get", "a", "b", "c"}, 1, "", "command requires exactly 1 or 2 arguments"},
		{[]string{"config", "write", cw}, 0, "Config entry written: service-defaults/cw\n", ""},
		{[]string{"config", "write", "-cas", "-modify-index", "1", cw}, 0, "Config entry written: service-defaults/cw\n", ""}, // unchanged: skipped
		{[]string{"config", "read", "-kind", "service-defaults", "-name", "cw"}, 0, `{
    "Kind": "service-defaults",
    "Name": "cw",
    "Protocol": "http",
    "TransparentProxy": {},
    "MeshGateway": {},
    "Expose": {},
`, ""},
		{[]string{"config", "list", "-kind", "service-defaults"}, 0, "cw\n", ""},
		{[]string{"config", "delete", "-kind", "service-defaults", "-name", "cw"}, 0, "Config entry deleted: service-defaults/cw\n", ""},
		{[]string{"config", "read", "-kind", "service-defaults", "-name", "cw"}, 1, "",
			`Error reading config entry service-defaults/cw: Unexpected response code: 404 (Config entry not found for "service-defaults" / "cw")`},
		{[]string{"config", "list", "-kind", "bogus"}, 1, "",
			`Error listing config entries for kind "bogus": Unexpected response code: 500 (invalid config entry kind: bogus)`},
		{[]string{"config", "read", "-kind", "service-defaults"}, 1, "", "Must specify the -name parameter"},
		{[]string{"config", "read", "-name", "x"}, 1, "", "Must specify the -kind parameter"},
		{[]string{"config", "delete", "-kind", "service-defaults", "-name", "nope"}, 0, "Config entry deleted: service-defaults/nope\n", ""},
		{[]string{"config", "write", empty}, 1, "", "Failed to decode config entry input: Payload does not contain a kind/Kind key at the top level"},
		{[]string{"config", "write"}, 1, "", "Must provide exactly one positional argument to specify the config entry to write"},
		{[]string{"config", "write", filepath.Join(dir, "nofile.json")}, 1, "", "Failed to load data: Failed to read file: open "},
		{[]string{"config", "write", pd}, 1, "",
			`Error writing config entry proxy-defaults/global: Unexpected response code: 500 (invalid name ("other"), only "global" is supported) — The target config entry`},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, env, "", s.args...)
		okOut := out == s.out || strings.HasSuffix(s.out, ",\n") && strings.HasPrefix(out, s.out)
		if code != s.code || !okOut || !strings.Contains(errOut, s.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", s.args, code, out, errOut, s.code, s.out, s.err)
		}
	}
	if out, _, code := runCLI(t, env, `{"Kind":"service-intentions","Name":"api","Sources":[{"Name":"*","Action":"deny"}]}`, "config", "write", "-"); code != 0 ||
		out != "Config entry written: service-intentions/api\n" {
		t.Errorf("config write -: %d %q", code, out)
	}

	// A legacy intention, by its ID: get shows it, list names it, delete removes it.
	var created struct{ ID string }
	ta.must("POST", "/v1/connect/intentions", `{"SourceName":"cli","DestinationName":"clidst","Action":"deny","Description":"dd","Meta":{"m":"1"}}`, &created)
	var x Intention
	ta.must("GET", "/v1/connect/intentions/"+created.ID, "", &x)
	want := "Source:       cli\nDestination:  clidst\nAction:       deny\nID:           " + created.ID +
		"\nDescription:  dd\nMeta[m]:      1\nCreated At:   " + x.CreatedAt.Local().Format(time.RFC850) + "\n"
	if out, errOut, code := runCLI(t, env, "", "intention", "get", created.ID); code != 0 || out != want {
		t.Errorf("intention get <id>: %d %q %q, want %q", code, out, errOut, want)
	}
	if out, _, _ := runCLI(t, env, "", "intention", "list"); !strings.Contains(out, created.ID+"  cli     deny    clidst       9\n") {
		t.Errorf("intention list: %q", out)
	}
	if out, errOut, code := runCLI(t, env, "", "intention", "delete", created.ID); code != 0 || out != "Intention deleted.\n" {
		t.Errorf("intention delete <id>: %d %q %q", code, out, errOut)
	}
	if r := ta.do("GET", "/v1/connect/intentions/"+created.ID, ""); r.code != 404 {
		t.Errorf("after delete: %d %s", r.code, r.body)
	}
}
