// http_kv_json.go: the JSON of KV reads, written by hand (issue 15,
// "Reads"). A GET of a key or a prefix is the API's most frequent answer,
// and encoding/json spends most of its time on it in reflection; this
// writes the same bytes directly: the fields of KVEntry in order, Value in
// standard base64 (null when nil), Session only when set, and strings
// escaped exactly as encoding/json escapes them (HTML-safe: <, > and &
// as \u003c, \u003e, \u0026; control bytes; invalid UTF-8 as \ufffd;
// U+2028 and U+2029). http_kv_json_test.go holds it to encoding/json's
// output, by table and by fuzzing; ?pretty still goes through
// encoding/json.
//
// Data flow: kvGet (http_kv.go) → writeKVEntries → one Write of a pooled
// buffer; a write transaction's KV results (http_txn.go) the same way.
//
// Concurrency: the agent's httpAPI.kvBodies (a sync.Pool, safe for
// concurrent use) holds spare buffers; a buffer belongs to one request
// between Get and Put.
package main

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// maxPooledKVBody: a buffer grown past this (a large recurse) is left to
// the collector rather than kept for every later request.
const maxPooledKVBody = 64 << 10

// writeKVEntries answers with entries as JSON, byte for byte what
// json.Marshal(entries) gives.
func (h *httpAPI) writeKVEntries(w http.ResponseWriter, entries []*KVEntry) {
	h.writeJSONBody(w, func(b []byte) []byte { return appendKVEntries(b, entries) })
}

// writeJSONBody answers with the JSON that appendBody appends, built in a
// pooled buffer.
func (h *httpAPI) writeJSONBody(w http.ResponseWriter, appendBody func([]byte) []byte) {
	bp, _ := h.kvBodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := appendBody((*bp)[:0])
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Write(b)
	if cap(b) <= maxPooledKVBody {
		*bp = b
		h.kvBodies.Put(bp)
	}
}

// appendKVEntries appends the JSON array of entries to b.
func appendKVEntries(b []byte, entries []*KVEntry) []byte {
	if entries == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKVEntry(b, e)
	}
	return append(b, ']')
}

// appendKVEntry appends one entry's JSON object (null for nil).
func appendKVEntry(b []byte, e *KVEntry) []byte {
	if e == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"LockIndex":`...)
	b = strconv.AppendUint(b, e.LockIndex, 10)
	b = append(b, `,"Key":`...)
	b = appendJSONString(b, e.Key)
	b = append(b, `,"Flags":`...)
	b = strconv.AppendUint(b, e.Flags, 10)
	b = append(b, `,"Value":`...)
	if e.Value == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, e.Value)
		b = append(b, '"')
	}
	b = append(b, `,"CreateIndex":`...)
	b = strconv.AppendUint(b, e.CreateIndex, 10)
	b = append(b, `,"ModifyIndex":`...)
	b = strconv.AppendUint(b, e.ModifyIndex, 10)
	if e.Session != "" {
		b = append(b, `,"Session":`...)
		b = appendJSONString(b, e.Session)
	}
	b = append(b, '}')
	return b
}

// appendTxnKVResults appends a write transaction's answer whose results
// are all KV entries, as json.Marshal(txnResponse{Results: results}) would.
func appendTxnKVResults(b []byte, results []txnResult) []byte {
	if results == nil {
		return append(b, `{"Results":null,"Errors":null}`...)
	}
	b = append(b, `{"Results":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"KV":`...)
		b = appendKVEntry(b, r.KV)
		b = append(b, '}')
	}
	return append(b, `],"Errors":null}`...)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it with HTML escaping on (its default for Marshal).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control bytes, and <, >, &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // invalid UTF-8
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // line and paragraph separators, unsafe in JSONP
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
