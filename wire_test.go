package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

var testWireErrors = wireErrors{
	truncated: errors.New("truncated"),
	badVarint: errors.New("bad varint"),
	length:    func(n uint64, left, limit int) error { return errors.New("too long") },
}

// The appenders and both kinds of reader agree, field for field.
func TestWireRoundTrip(t *testing.T) {
	b := appendUvarints(nil, 0, 1, 1<<40)
	b = appendBytes(b, []byte("bytes"))
	b = appendString(b, "string")
	b = appendBool(appendBool(b, true), false)
	b = append(b, 7)
	read := func(r *wireReader) {
		t.Helper()
		if a, c, d := r.uvarint(), r.uvarint(), r.uvarint(); a != 0 || c != 1 || d != 1<<40 {
			t.Fatalf("uvarints %d %d %d", a, c, d)
		}
		if v := string(r.bytes()); v != "bytes" {
			t.Fatalf("bytes %q", v)
		}
		if v := r.string(); v != "string" {
			t.Fatalf("string %q", v)
		}
		if x, y, z := r.byte(), r.byte(), r.byte(); x != 1 || y != 0 || z != 7 || r.err != nil {
			t.Fatalf("bytes %d %d %d, error %v", x, y, z, r.err)
		}
		if r.byte(); r.err != testWireErrors.truncated {
			t.Fatalf("past the end: %v", r.err)
		}
	}
	read(&wireReader{b: b, errs: &testWireErrors})
	sum := sha256.New()
	read(&wireReader{src: bufio.NewReader(bytes.NewReader(b)), sum: sum, maxField: 64, errs: &testWireErrors})
	if want := sha256.Sum256(b); !bytes.Equal(sum.Sum(nil), want[:]) {
		t.Fatal("the stream reader did not sum every byte it read")
	}
}

// A length is bounded by what is left and by the limit; the first error
// sticks, and every read after it returns zero values.
func TestWireReaderBoundsAndStickyError(t *testing.T) {
	r := &wireReader{b: appendUvarints(nil, 1000), errs: &testWireErrors}
	if v := r.bytes(); v != nil || r.err == nil || r.err.Error() != "too long" {
		t.Fatalf("a length beyond the input: %q, %v", v, r.err)
	}
	r = &wireReader{b: appendBytes(nil, []byte("abcdef")), errs: &testWireErrors}
	if v := r.bytesMax(5); v != nil || r.err == nil {
		t.Fatalf("a length beyond the limit: %q, %v", v, r.err)
	}
	r = &wireReader{b: []byte{0x80}, errs: &testWireErrors}
	if r.uvarint(); r.err != testWireErrors.badVarint {
		t.Fatalf("an unfinished uvarint: %v", r.err)
	}
	r.err = errors.New("first")
	r.b = appendUvarints(nil, 5)
	if v := r.uvarint(); v != 0 || r.err.Error() != "first" {
		t.Fatalf("after an error: %d, %v", v, r.err)
	}
	s := &wireReader{src: bufio.NewReader(bytes.NewReader(appendUvarints(nil, 65))), maxField: 64, errs: &testWireErrors}
	if v := s.bytes(); v != nil || s.err == nil || s.err.Error() != "too long" {
		t.Fatalf("a stream field over maxField: %q, %v", v, s.err)
	}
}
