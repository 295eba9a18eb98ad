// cli_kv_test.go: the kv commands against an in-process agent: outputs
// compared with golden files written from Consul 1.22's real output
// (testdata/cli/kv_*.golden, indexes replaced by N), Consul's messages on
// stderr, every exit code, and an export | import round trip of a binary
// value.
package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// kvRun runs a kv command against ta and checks its exit code.
func kvRun(t *testing.T, ta *testAgent, stdin string, code int, args ...string) (string, string) {
	t.Helper()
	out, errOut, got := runCLI(t, cliEnvFor(ta), stdin, args...)
	if got != code {
		t.Fatalf("%v: exit %d, want %d\nstdout: %q\nstderr: %q", args, got, code, out, errOut)
	}
	return out, errOut
}

// kvExpect runs a command and compares stdout and stderr exactly.
func kvExpect(t *testing.T, ta *testAgent, code int, stdout, stderr string, args ...string) {
	t.Helper()
	out, errOut := kvRun(t, ta, "", code, args...)
	if out != stdout || errOut != stderr {
		t.Errorf("%v:\nstdout %q, want %q\nstderr %q, want %q", args, out, stdout, errOut, stderr)
	}
}

func kvGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cli", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var kvIndexLine = regexp.MustCompile(`(?m)^(CreateIndex|ModifyIndex)( +)[0-9]+`)

func TestCLIKVGetPutDelete(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	kvExpect(t, ta, 0, "Success! Data written to: a\n", "", "kv", "put", "a", "hello")
	kvExpect(t, ta, 0, "hello\n", "", "kv", "get", "a")
	kvExpect(t, ta, 0, "hello\n", "", "kv", "get", "/a")
	kvExpect(t, ta, 0, "aGVsbG8=\n", "", "kv", "get", "-base64", "a")
	kvExpect(t, ta, 1, "", "Error! No key exists at: missing\n", "kv", "get", "missing")
	kvExpect(t, ta, 1, "", "Error! Missing KEY argument\n", "kv", "get")
	kvExpect(t, ta, 1, "", "Too many arguments (expected 1, got 2)\n", "kv", "get", "a", "b")
	kvExpect(t, ta, 0, "", "", "kv", "get", "-recurse", "nothing")
	kvExpect(t, ta, 0, "", "", "kv", "get", "-keys", "nothing")

	// Values from the argument, stdin, a file, base64; an empty key.
	kvExpect(t, ta, 1, "", "Error! Missing KEY argument\n", "kv", "put")
	kvExpect(t, ta, 1, "", "Error! Too many arguments (expected 1 or 2, got 3)\n", "kv", "put", "a", "b", "c")
	if out, _ := kvRun(t, ta, "from stdin", 0, "kv", "put", "st", "-"); out != "Success! Data written to: st\n" {
		t.Errorf("put -: %q", out)
	}
	kvExpect(t, ta, 0, "from stdin\n", "", "kv", "get", "st")
	file := filepath.Join(t.TempDir(), "v.txt")
	os.WriteFile(file, []byte("file data\n"), 0o600)
	kvExpect(t, ta, 0, "Success! Data written to: fl\n", "", "kv", "put", "fl", "@"+file)
	kvExpect(t, ta, 0, "file data\n\n", "", "kv", "get", "fl")
	kvExpect(t, ta, 1, "", "Error! Failed to read file: open /nonexistent/x: no such file or directory\n", "kv", "put", "fl", "@/nonexistent/x")
	kvExpect(t, ta, 0, "Success! Data written to: b64\n", "", "kv", "put", "-base64", "b64", "aGVsbG8=")
	kvExpect(t, ta, 0, "hello\n", "", "kv", "get", "b64")
	// As Consul: a bad base64 value is reported, and an empty value written.
	kvExpect(t, ta, 0, "Success! Data written to: bad\n", "Error! Cannot base 64 decode data: illegal base64 data at input byte 0\n", "kv", "put", "-base64", "bad", "!!!")
	kvExpect(t, ta, 0, "\n", "", "kv", "get", "bad")
	kvExpect(t, ta, 0, "Success! Data written to: emp\n", "", "kv", "put", "emp")
	kvExpect(t, ta, 0, "\n", "", "kv", "get", "emp")
	kvExpect(t, ta, 1, "", "Error! Failed writing data: Invalid key. Key must not begin with a '/': /slash\n", "kv", "put", "/slash", "v")
	if _, errOut := kvRun(t, ta, "", 1, "kv", "put", "-flags=abc", "x", "y"); !strings.HasPrefix(errOut, "invalid value \"abc\" for flag -flags: parse error\nUsage:\n  -acquire\n") {
		t.Errorf("bad flag: %q", errOut)
	}

	// Check-and-set.
	kvExpect(t, ta, 1, "", "Error! Did not write to a: CAS performed with index=0 and key already exists.\n", "kv", "put", "-cas", "a", "x")
	kvExpect(t, ta, 1, "", "Error! Did not write to a: CAS failed\n", "kv", "put", "-cas", "-modify-index=1", "a", "x")
	kvExpect(t, ta, 0, "Success! Data written to: new\n", "", "kv", "put", "-cas", "new", "x")
	var e []KVEntry
	ta.must("GET", "/v1/kv/a", "", &e)
	idx := kvItoa(e[0].ModifyIndex)
	kvExpect(t, ta, 0, "Success! Data written to: a\n", "", "kv", "put", "-cas", "-modify-index="+idx, "a", "x")
	kvExpect(t, ta, 1, "", "Error! Did not delete key a: CAS failed\n", "kv", "delete", "-cas", "-modify-index="+idx, "a")
	ta.must("GET", "/v1/kv/a", "", &e)
	kvExpect(t, ta, 0, "Success! Deleted key: a\n", "", "kv", "delete", "-cas", "-modify-index="+kvItoa(e[0].ModifyIndex), "a")

	// Delete: a missing key succeeds; usage errors.
	kvExpect(t, ta, 0, "Success! Deleted key: missing\n", "", "kv", "delete", "missing")
	kvExpect(t, ta, 0, "Success! Deleted key: st\n", "", "kv", "delete", "/st")
	kvExpect(t, ta, 1, "", "Error! No key exists at: st\n", "kv", "get", "st")
	kvExpect(t, ta, 1, "", "Error! Missing KEY argument\n", "kv", "delete")
	kvExpect(t, ta, 1, "", "Too many arguments (expected 1, got 2)\n", "kv", "delete", "a", "b")
	kvExpect(t, ta, 1, "", "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n", "kv", "delete", "-cas", "a")
	kvExpect(t, ta, 1, "", "Cannot specify -modify-index without -cas!\n", "kv", "delete", "-modify-index=3", "a")
	kvExpect(t, ta, 1, "", "Cannot specify both -cas and -recurse!\n", "kv", "delete", "-cas", "-recurse", "-modify-index=3", "a")
	kvExpect(t, ta, 0, "Success! Deleted keys with prefix: nothing\n", "", "kv", "delete", "-recurse", "nothing")
	kvExpect(t, ta, 0, "Success! Deleted keys with prefix: \n", "", "kv", "delete", "-recurse")
	kvExpect(t, ta, 0, "", "", "kv", "get", "-recurse")
}

func kvItoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestCLIKVListingsGolden(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	kvRun(t, ta, "", 0, "kv", "put", "-flags=42", "f", "v")
	kvRun(t, ta, "", 0, "kv", "put", "foo/bar", "1")
	kvRun(t, ta, "", 0, "kv", "put", "foo/baz", "2")
	kvRun(t, ta, "", 0, "kv", "put", "-flags=7", "foo/sub/x", "multi word")
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"kv_get_detailed.golden", []string{"-detailed", "f"}},
		{"kv_get_recurse_detailed.golden", []string{"-recurse", "-detailed", "foo"}},
		{"kv_get_keys_recurse_detailed.golden", []string{"-keys", "-recurse", "-detailed", "foo"}},
		{"kv_get_recurse.golden", []string{"-recurse", "foo"}},
	} {
		out, _ := kvRun(t, ta, "", 0, append([]string{"kv", "get"}, c.args...)...)
		if got, want := kvIndexLine.ReplaceAllString(out, "${1}${2}N"), kvGolden(t, c.golden); got != want {
			t.Errorf("kv get %v:\n%s\nwant (%s):\n%s", c.args, got, c.golden, want)
		}
	}
	kvExpect(t, ta, 0, "f\nfoo/\n", "", "kv", "get", "-keys")
	kvExpect(t, ta, 0, "foo/bar\nfoo/baz\nfoo/sub/\n", "", "kv", "get", "-keys", "foo/")
	kvExpect(t, ta, 0, "foo/bar\nfoo/baz\nfoo/sub/x\n", "", "kv", "get", "-keys", "-separator=", "foo/")
	kvExpect(t, ta, 0, "foo/bar\nfoo/baz\nfoo/sub/x\n", "", "kv", "get", "-keys", "-recurse", "foo")
	kvExpect(t, ta, 0, "foo/bar:MQ==\nfoo/baz:Mg==\nfoo/sub/x:bXVsdGkgd29yZA==\n", "", "kv", "get", "-recurse", "-base64", "foo")
	kvExpect(t, ta, 0, kvGolden(t, "kv_export.golden"), "", "kv", "export")
	kvExpect(t, ta, 0, "[]\n", "", "kv", "export", "nothing")
	kvExpect(t, ta, 1, "", "Too many arguments (expected 1, got 2)\n", "kv", "export", "a", "b")
}

// kv export | kv import round-trips binary values, flags and directory
// keys, into another agent and under -prefix.
func TestCLIKVExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src, dst := startTestAgent(t, nil), startTestAgent(t, nil)
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(255 - i)
	}
	file := filepath.Join(t.TempDir(), "bin")
	os.WriteFile(file, bin, 0o600)
	kvRun(t, src, "", 0, "kv", "put", "-flags=9", "bin", "@"+file)
	kvRun(t, src, "", 0, "kv", "put", "dir/")
	kvRun(t, src, "", 0, "kv", "put", "dir/x", "hi")
	exported, _ := kvRun(t, src, "", 0, "kv", "export")
	out, _ := kvRun(t, dst, exported, 0, "kv", "import", "-")
	if out != "Imported: bin\nImported: dir/\nImported: dir/x\n" {
		t.Errorf("import: %q", out)
	}
	if again, _ := kvRun(t, dst, "", 0, "kv", "export"); again != exported {
		t.Errorf("export after import:\n%s\nwant\n%s", again, exported)
	}
	if got, _ := kvRun(t, dst, "", 0, "kv", "get", "bin"); got != string(bin)+"\n" {
		t.Errorf("binary value: %q", got)
	}
	jsonFile := filepath.Join(t.TempDir(), "kv.json")
	os.WriteFile(jsonFile, []byte(exported), 0o600)
	out, _ = kvRun(t, dst, "", 0, "kv", "import", "-prefix=pre", "@"+jsonFile)
	if out != "Imported: pre/bin\nImported: pre/dir/\nImported: pre/dir/x\n" {
		t.Errorf("import -prefix: %q", out)
	}
	if got, _ := kvRun(t, dst, "", 0, "kv", "get", "-detailed", "pre/bin"); !strings.Contains(got, "\nFlags            9\n") {
		t.Errorf("flags not imported: %q", got)
	}
}

func TestCLIKVImportErrors(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	kvExpect(t, ta, 1, "", "Error! Missing DATA argument\n", "kv", "import")
	kvExpect(t, ta, 1, "", "Error! Empty DATA argument\n", "kv", "import", "")
	kvExpect(t, ta, 1, "", "Error! Too many arguments (expected 1, got 2)\n", "kv", "import", "a", "b")
	kvExpect(t, ta, 1, "", "Error! Failed to read file: open /nonexistent/f: no such file or directory\n", "kv", "import", "@/nonexistent/f")
	kvExpect(t, ta, 1, "", "Cannot unmarshal data: invalid character 'o' in literal null (expecting 'u')\n", "kv", "import", "notjson")
	kvExpect(t, ta, 1, "", "Cannot unmarshal data: json: cannot unmarshal object into Go value of type []*impexp.Entry\n", "kv", "import", "{}")
	kvExpect(t, ta, 1, "", "Cannot unmarshal data: json: cannot unmarshal string into Go struct field Entry.flags of type uint64\n", "kv", "import", `[{"key":"k","flags":"x","value":""}]`)
	kvExpect(t, ta, 1, "", "Cannot unmarshal data: invalid character 'x' in numeric literal\n", "kv", "import", "--", "-x")
	kvExpect(t, ta, 1, "", "Error base 64 decoding value for key k: illegal base64 data at input byte 0\n", "kv", "import", `[{"key":"k","value":"!!"}]`)
	kvExpect(t, ta, 0, "", "", "kv", "import", "[]")
	kvExpect(t, ta, 0, "Imported: s\n", "", "kv", "import", `[{"key":"s","flags":1,"value":"aGk="}]`)
	if _, errOut := kvRun(t, ta, "", 1, "kv", "import", "-x"); !strings.HasPrefix(errOut, "flag provided but not defined: -x\nUsage:\n") {
		t.Errorf("bad flag: %q", errOut)
	}
}

func TestCLIKVLocks(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	sid := ta.createSession(`{"TTL":"15s"}`)
	kvExpect(t, ta, 1, "", "Error! Missing -session (required with -acquire and -release)\n", "kv", "put", "-acquire", "lk")
	kvExpect(t, ta, 1, "", "Error! Missing -session (required with -acquire and -release)\n", "kv", "put", "-release", "lk")
	kvExpect(t, ta, 0, "Success! Lock acquired on: lk\n", "", "kv", "put", "-acquire", "-session="+sid, "lk", "v")
	out, _ := kvRun(t, ta, "", 0, "kv", "get", "-detailed", "lk")
	if !strings.Contains(out, "\nLockIndex        1\n") || !strings.Contains(out, "\nSession          "+sid+"\n") {
		t.Errorf("held lock: %q", out)
	}
	kvExpect(t, ta, 0, "Success! Lock released on: lk\n", "", "kv", "put", "-release", "-session="+sid, "lk")
	kvExpect(t, ta, 1, "", "Error! Did not release lock\n", "kv", "put", "-release", "-session="+sid, "lk")
	if _, errOut := kvRun(t, ta, "", 1, "kv", "put", "-acquire", "-session=nonexist", "lk"); !strings.HasPrefix(errOut, "Error! Failed writing data: Unexpected response code: 500 (") {
		t.Errorf("unknown session: %q", errOut)
	}
}

// A dead agent: Consul's words around Go's transport error, exit 1.
func TestCLIKVDeadAgent(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	env := map[string]string{"CONSUL_HTTP_ADDR": addr}
	refused := "dial tcp " + addr + ": connect: connection refused\n"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "a"}, `Error querying Consul agent: Get "http://` + addr + `/v1/kv/a": `},
		{[]string{"get", "-keys", "a"}, `Error querying Consul agent: Get "http://` + addr + `/v1/kv/a?keys=&separator=%2F": `},
		{[]string{"put", "a", "b"}, `Error! Failed writing data: Put "http://` + addr + `/v1/kv/a": `},
		{[]string{"put", "-cas", "a", "b"}, `Error! Did not write to a: Put "http://` + addr + `/v1/kv/a?cas=0": `},
		{[]string{"delete", "a"}, `Error deleting key a: Delete "http://` + addr + `/v1/kv/a": `},
		{[]string{"delete", "-recurse", "a"}, `Error! Did not delete prefix a: Delete "http://` + addr + `/v1/kv/a?recurse=": `},
		{[]string{"delete", "-cas", "-modify-index=2", "a"}, `Error! Did not delete key a: Delete "http://` + addr + `/v1/kv/a?cas=2": `},
		{[]string{"export"}, `Error querying Consul agent: Get "http://` + addr + `/v1/kv/?recurse=": `},
		{[]string{"import", `[{"key":"x","flags":0,"value":""}]`}, `Error! Failed writing data for key x: Put "http://` + addr + `/v1/kv/x": `},
	} {
		out, errOut, code := runCLI(t, env, "", append([]string{"kv"}, c.args...)...)
		if code != 1 || out != "" || errOut != c.want+refused {
			t.Errorf("%v: %d %q %q, want %q", c.args, code, out, errOut, c.want+refused)
		}
	}
	// -release reports the key, not the error, as Consul.
	out, errOut, code := runCLI(t, env, "", "kv", "put", "-release", "-session=s", "a")
	if code != 1 || out != "" || errOut != "Error! Failed writing data: a\n" {
		t.Errorf("release: %d %q %q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": "ftp://x"}, "", "kv", "get", "a")
	if code != 1 || errOut != "Error connecting to Consul agent: Unknown protocol scheme: ftp\n" {
		t.Errorf("bad scheme: %d %q", code, errOut)
	}
}

// Help: the family's text and the commands' options as Consul's (the
// subcommand list and the HTTP options are cli.go's).
func TestCLIKVHelp(t *testing.T) {
	t.Parallel()
	want := kvGolden(t, "kv_help.golden")
	_, errOut, code := runCLI(t, nil, "", "kv")
	head, _, _ := strings.Cut(want, "\nSubcommands:\n")
	if code != 1 || !strings.HasPrefix(errOut, head+"\nSubcommands:\n") {
		t.Errorf("kv: %d\n%s", code, errOut)
	}
	for _, name := range []string{"delete", "export", "get", "import", "put"} {
		if !strings.Contains(errOut, "\n    "+name+" ") {
			t.Errorf("kv: no %s in\n%s", name, errOut)
		}
		out, _, code := runCLI(t, nil, "", "kv", name, "-h")
		_, options, _ := strings.Cut(out, "\nCommand Options\n")
		if want := kvGolden(t, "kv_"+name+"_help_options.golden"); code != 0 || "Command Options\n"+options != want ||
			!strings.HasPrefix(out, "Usage: consul kv "+name+" ") || !strings.Contains(out, "\nHTTP API Options\n\n  -ca-file=<value>\n") {
			t.Errorf("kv %s -h: %d\n%s\nwant options\n%s", name, code, out, want)
		}
	}
}
