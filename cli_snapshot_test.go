// cli_snapshot_test.go: snapshot save, inspect and restore against a test
// agent; inspect's layouts against Consul 1.22's real output (golden, its
// values); a corrupt file refused by save's verification and by inspect;
// every exit code.
package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Consul's layout, with Consul's values, byte for byte.
func TestCLISnapshotInspectGolden(t *testing.T) {
	t.Parallel()
	info := &snapshotInfo{TotalSize: 7391}
	info.Meta.ID, info.Meta.Size, info.Meta.Index, info.Meta.Term, info.Meta.Version = "2-29-1796165808986", 7391, 29, 2, 1
	info.Stats = []snapshotStat{{"Register", 3240, 4}, {"ConnectCA", 1265, 1}, {"ConnectCAProviderState", 1178, 1},
		{"Index", 663, 22}, {"Autopilot", 199, 1}, {"ConnectCAConfig", 195, 1}, {"SystemMetadata", 191, 3},
		{"CoordinateBatchUpdate", 169, 1}, {"KVS", 140, 2}, {"FederationState", 139, 1}, {"ChunkingState", 12, 1}}
	golden := readGolden(t, "snapshot_inspect.golden")
	plain, _, _ := strings.Cut(golden, "7.2KB\n")
	if got := info.pretty() + "\n"; got != plain+"7.2KB\n" {
		t.Errorf("pretty:\n%s\nwant\n%s", got, plain+"7.2KB\n")
	}
	b, _ := json.MarshalIndent(info, "", "   ")
	if got := string(b) + "\n"; got != readGolden(t, "snapshot_inspect_json.golden") {
		t.Errorf("json:\n%s", got)
	}
	info.StatsKV, info.TotalSizeKV = []snapshotStat{{"a/b", 71, 1}, {"x", 69, 1}}, 140
	if got := info.pretty() + "\n"; got != golden {
		t.Errorf("pretty -kvdetails:\n%s\nwant\n%s", got, golden)
	}
	for n, want := range map[uint64]string{0: "0", 12: "12B", 1023: "1023B", 1024: "1KB", 3240: "3.2KB", 5 << 20: "5MB"} {
		if got := snapshotByteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCLISnapshot(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	env := cliEnvFor(ta)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	ta.must("PUT", "/v1/kv/app/config/a", "1", nil)
	ta.must("PUT", "/v1/kv/app/config/b", "2", nil)
	ta.must("PUT", "/v1/kv/top", "3", nil)

	out, errOut, code := runCLI(t, env, "", "snapshot", "save", file)
	if code != 0 || !strings.HasPrefix(out, "Saved and verified snapshot to index ") || errOut != "" {
		t.Fatalf("save: %d %q %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("save left files behind: %v", entries)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	index := strings.TrimSpace(strings.TrimPrefix(out, "Saved and verified snapshot to index "))

	out, _, code = runCLI(t, nil, "", "snapshot", "inspect", file)
	if code != 0 || !strings.HasPrefix(out, " ID           "+index+"-") || !strings.Contains(out, "\n Index        "+index+"\n") ||
		!strings.Contains(out, "\n Term         0\n Version      1\n\n Type ") || !strings.Contains(out, "\n KVS ") ||
		!strings.Contains(out, "\n Register ") || strings.Contains(out, "Key Name") {
		t.Errorf("inspect: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, nil, "", "snapshot", "inspect", "-format=json", "-kvdetails", file)
	var info snapshotInfo
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
		t.Fatalf("inspect json: %d %v %q", code, err, out)
	}
	fi, _ := os.Stat(file)
	kvs := map[string]snapshotStat{}
	for _, s := range info.Stats {
		kvs[s.Name] = s
	}
	if info.Meta.Size != fi.Size() || kvs["KVS"].Count != 3 || len(info.StatsKV) != 2 ||
		info.StatsKV[0].Name != "app/config" || info.StatsKV[0].Count != 2 || info.StatsKV[1].Name != "top" ||
		info.TotalSizeKV != kvs["KVS"].Sum {
		t.Errorf("inspect json: %+v", info)
	}

	// Restore brings back the saved state.
	ta.must("DELETE", "/v1/kv/top", "", nil)
	if out, errOut, code := runCLI(t, env, "", "snapshot", "restore", file); code != 0 || out != "Restored snapshot\n" || errOut != "" {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	if r := ta.do("GET", "/v1/kv/top?raw", ""); r.code != 200 || r.body != "3" {
		t.Errorf("after restore: %d %q", r.code, r.body)
	}

	// A corrupt file: inspect refuses it, the agent too.
	data, _ := os.ReadFile(file)
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(dir, "bad.snap")
	os.WriteFile(bad, data, 0o600)
	if _, errOut, code := runCLI(t, nil, "", "snapshot", "inspect", bad); code != 1 || !strings.HasPrefix(errOut, "Error reading snapshot: corrupt snapshot") {
		t.Errorf("inspect corrupt: %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "", "snapshot", "restore", bad); code != 1 || !strings.HasPrefix(errOut, "Error restoring snapshot: Unexpected response code: ") {
		t.Errorf("restore corrupt: %d %q", code, errOut)
	}

	missing := filepath.Join(dir, "nope.snap")
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"save"}, "Missing FILE argument\n"},
		{[]string{"save", "a", "b"}, "Too many arguments (expected 1, got 2)\n"},
		{[]string{"restore"}, "Missing FILE argument\n"},
		{[]string{"restore", "a", "b"}, "Too many arguments (expected 1, got 2)\n"},
		{[]string{"inspect"}, "Missing FILE argument\n"},
		{[]string{"inspect", "a", "b"}, "Too many arguments (expected 1, got 2)\n"},
		{[]string{"inspect", "-format=xml", file}, "Error outputting enhanced snapshot data: Unknown format: xml\n"},
		{[]string{"inspect", missing}, "Error opening snapshot file: open " + missing + ": no such file or directory\n"},
		{[]string{"restore", missing}, "Error opening snapshot file: open " + missing + ": no such file or directory\n"},
		{[]string{"save", filepath.Join(dir, "no", "dir.snap")}, "Error writing unverified snapshot file: open " + filepath.Join(dir, "no", "dir.snap") + ".unverified.tmp"},
	} {
		out, errOut, code := runCLI(t, env, "", append([]string{"snapshot"}, c.args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, c.stderr) {
			t.Errorf("snapshot %v: %d %q %q, want stderr %q", c.args, code, out, errOut, c.stderr)
		}
	}
	if _, errOut, code := runCLI(t, env, "", "snapshot", "inspect", "-bogus", file); code != 1 || !strings.HasPrefix(errOut, "flag provided but not defined: -bogus\nUsage:\n  -format string") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
}

// A dead agent: "Error saving snapshot: Get …", exit 1.
func TestCLISnapshotDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	_, errOut, code := runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": addr}, "", "snapshot", "save", filepath.Join(t.TempDir(), "s.snap"))
	if code != 1 || !strings.HasPrefix(errOut, `Error saving snapshot: Get "http://`+addr+`/v1/snapshot"`) {
		t.Errorf("%d %q", code, errOut)
	}
}

// What "verified" means: the saved bytes are read back whole by
// readSnapshot; a stream that fails it is not kept, exit 1.
func TestCLISnapshotSaveVerifies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consul-Index", "7")
		w.Write([]byte(snapshotMagic + "truncated"))
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "s.snap")
	_, errOut, code := runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": srv.URL}, "", "snapshot", "save", file)
	if code != 1 || !strings.HasPrefix(errOut, "Error verifying snapshot file: corrupt snapshot") {
		t.Errorf("%d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}

// TestCLISnapshotInspectsEveryRecord: a snapshot holding config entries,
// the CA and the ACL tables is inspected with their names, not as
// unknown records (the records added by the mesh and the ACL system).
func TestCLISnapshotInspectsEveryRecord(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) {
		c.ACL.Enabled, c.ACL.Tokens.InitialManagement = true, "root-secret"
	})
	env := cliEnvFor(ta)
	env["CONSUL_HTTP_TOKEN"] = "root-secret"
	eventually(t, 10*time.Second, "the CA and the ACL tables exist", func() bool {
		r := ta.do("GET", "/v1/connect/ca/roots", "")
		policies := ta.do("GET", "/v1/acl/policies?token=root-secret", "")
		return r.code == 200 && strings.Contains(r.body, `"Active":true`) && strings.Contains(policies.body, "global-management")
	})
	entry := filepath.Join(t.TempDir(), "entry.json")
	os.WriteFile(entry, []byte(`{"Kind":"service-defaults","Name":"api","Protocol":"http"}`), 0o600)
	if _, e, code := runCLI(t, env, "", "config", "write", entry); code != 0 {
		t.Fatalf("config write: %d %s", code, e)
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	if _, e, code := runCLI(t, env, "", "snapshot", "save", file); code != 0 {
		t.Fatalf("save: %d %s", code, e)
	}
	out, _, code := runCLI(t, nil, "", "snapshot", "inspect", file)
	for _, name := range []string{"\n ConfigEntry ", "\n ConnectCA ", "\n ACL "} {
		if code != 0 || !strings.Contains(out, name) || strings.Contains(out, "Unknown") {
			t.Fatalf("inspect lacks %q:\n%s", name, out)
		}
	}
}
