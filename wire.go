// wire.go: the one byte reader and the one set of appenders behind every
// binary codec, a shared helper under all the layers: Raft's frames
// (raft_wire.go), the gossip messages (swim_wire.go, serf_keyring.go,
// serf_lan.go's user events), the forwarded HTTP requests (rpc_forward.go),
// the snapshot upload chunks (agent_restore.go) and the state store's
// snapshots (store_snapshot.go).
//
// Data flow: an encoder appends fields to a byte slice (appendUvarints,
// appendBytes, appendString, appendBool): integers as uvarints, strings and
// byte slices as a uvarint length then the bytes. A decoder reads them back
// with a wireReader, over the slice it was given or over a stream (a
// snapshot), which bounds every length before it allocates: against what
// is left of a slice, and against the codec's largest field. The first
// error sticks; every read after it returns zero values, so a decoder reads
// all its fields and checks r.err once. Each codec keeps its own error
// messages (wireErrors), so moving a codec onto this reader changed no
// message and no byte on the wire.
//
// Concurrency: none. The appenders are pure functions; a wireReader
// belongs to the one call that made it.
package main

import (
	"bufio"
	"encoding/binary"
	"hash"
	"io"
)

// appendUvarints appends each value as a uvarint.
func appendUvarints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// appendBytes appends s's length as a uvarint, then s.
func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendString appends v as appendBytes would, without converting it.
func appendString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// appendBool appends v as one byte, 1 or 0.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// wireErrors are one codec's errors, so that each keeps its messages.
type wireErrors struct {
	truncated error // a byte past the end of the input
	badVarint error // a uvarint that does not end or overflows (in a slice: also one past the end)
	// length: a field of n bytes beyond what is left of a slice (left), or
	// beyond the limit (on a stream, left is -1).
	length func(n uint64, left, limit int) error
}

// wireReader decodes the fields appended above, from a slice (b) or from
// a stream (src, when set: each byte read is also written to sum).
type wireReader struct {
	b        []byte
	src      *bufio.Reader
	sum      hash.Hash
	err      error
	maxField int // the limit of bytes and string (0: what is left of the slice)
	errs     *wireErrors
}

// fail records err unless an error is already recorded, and empties the
// input.
func (r *wireReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *wireReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.src != nil {
		c, err := r.src.ReadByte()
		if err != nil {
			r.fail(r.errs.truncated)
			return 0
		}
		if r.sum != nil {
			r.sum.Write([]byte{c})
		}
		return c
	}
	if len(r.b) == 0 {
		r.fail(r.errs.truncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	if r.src != nil {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			b := r.byte()
			if r.err != nil {
				return 0
			}
			v |= uint64(b&0x7f) << shift
			if b < 0x80 {
				return v
			}
		}
		r.fail(r.errs.badVarint)
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail(r.errs.badVarint)
		return 0
	}
	r.b = r.b[k:]
	return v
}

// bytes reads a length-prefixed field of at most maxField bytes. From a
// slice it does not copy (the field aliases the input); from a stream it
// allocates the field, and an empty one is nil.
func (r *wireReader) bytes() []byte {
	if r.maxField == 0 {
		return r.bytesMax(len(r.b))
	}
	return r.bytesMax(r.maxField)
}

// bytesMax reads a length-prefixed field of at most limit bytes.
func (r *wireReader) bytesMax(limit int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if r.src != nil {
		if n > uint64(limit) {
			r.fail(r.errs.length(n, -1, limit))
			return nil
		}
		if n == 0 {
			return nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r.src, b); err != nil {
			r.fail(r.errs.truncated)
			return nil
		}
		if r.sum != nil {
			r.sum.Write(b)
		}
		return b
	}
	if n > uint64(len(r.b)) || n > uint64(limit) {
		r.fail(r.errs.length(n, len(r.b), limit))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// string reads a field as bytes does, as a string.
func (r *wireReader) string() string { return string(r.bytes()) }
