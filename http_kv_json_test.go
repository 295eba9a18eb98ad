// http_kv_json_test.go: the hand-written KV JSON (http_kv_json.go) is byte
// for byte encoding/json's, on tricky keys and values and under fuzzing,
// and a KV read through HTTP answers with it.
package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestAppendKVEntriesMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	keys := []string{
		"", "plain/key", `quote"back\slash`, "<script>&amp;</script>", "ctl\x00\x01\x07\b\f\n\r\t\x1f\x7f",
		"ünïcødé/日本語/🙂", "bad\xffutf8\xc3", "trunc\xe6\x97", "sep\u2028and\u2029", "\xed\xa0\x80surrogate",
		strings.Repeat("long/", 200),
	}
	values := [][]byte{nil, {}, []byte("v"), []byte("vv"), []byte("vvv"), {0, 0xff, 0xfe, '<'}, []byte(strings.Repeat("x", 1000))}
	var all []*KVEntry
	for i, k := range keys {
		e := &KVEntry{Key: k, Value: values[i%len(values)], Flags: uint64(i) << 60, CreateIndex: uint64(i),
			ModifyIndex: 1<<64 - 1, LockIndex: uint64(i * 7)}
		if i%2 == 1 {
			e.Session = k
		}
		all = append(all, e)
	}
	cases := map[string][]*KVEntry{"nil": nil, "empty": {}, "nil entry": {nil}, "all": all}
	for i, e := range all {
		cases["entry "+keys[i]] = []*KVEntry{e}
	}
	for name, entries := range cases {
		want, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendKVEntries(nil, entries); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func FuzzAppendKVEntries(f *testing.F) {
	f.Add("key", []byte("value"), "", uint64(0), uint64(1))
	f.Add("<&>\u2028\xff", []byte(nil), "session\x00", uint64(1<<63), uint64(0))
	f.Fuzz(func(t *testing.T, key string, value []byte, session string, flags, index uint64) {
		entries := []*KVEntry{{Key: key, Value: value, Session: session, Flags: flags, CreateIndex: index,
			ModifyIndex: index + 1, LockIndex: flags ^ index}}
		want, _ := json.Marshal(entries)
		if got := appendKVEntries(nil, entries); string(got) != string(want) {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
}

// TestKVReadJSONThroughHTTP: a key and a prefix read over HTTP answer with
// the bytes encoding/json gives for them (?pretty, compacted).
func TestKVReadJSONThroughHTTP(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, nil)
	for _, k := range []string{"json/a<b>&c", "json/ünï\u2028", "json/plain"} {
		a.must("PUT", "/v1/kv/"+url.PathEscape(k)+"?flags=42", "value<&>\x00", nil)
	}
	for _, path := range []string{"/v1/kv/" + url.PathEscape("json/a<b>&c"), "/v1/kv/json/?recurse"} {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		got, pretty := a.do("GET", path, ""), a.do("GET", path+sep+"pretty", "")
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(pretty.body)); err != nil {
			t.Fatal(err)
		}
		if got.code != 200 || got.body != want.String() || got.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %q (%s), want %q", path, got.code, got.body, got.header.Get("Content-Type"), want.String())
		}
	}
}

// TestAppendTxnKVResultsMatchesEncodingJSON: a write transaction's KV
// answer is byte for byte encoding/json's.
func TestAppendTxnKVResultsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, results := range [][]txnResult{
		nil, {},
		{{KV: &KVEntry{Key: "a<b>&c", CreateIndex: 5, ModifyIndex: 5}}},
		{{KV: &KVEntry{Key: "x\xff", Value: []byte{}, Flags: 1 << 63, Session: "s\u2028"}}, {KV: &KVEntry{Key: "", LockIndex: 3, Value: []byte("v")}}},
	} {
		want, err := json.Marshal(txnResponse{Results: results})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTxnKVResults(nil, results); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
