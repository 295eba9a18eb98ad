// store_codec.go: the JSON codec of commands and of what travels or is
// kept with them (apply results, the catalog records of a snapshot), which
// keeps every string's bytes.
//
// KV keys and catalog names are byte strings, as in Consul (whose msgpack
// log keeps bytes): /v1/kv/x%ff is the key "x\xff", another key than
// /v1/kv/x%fe. encoding/json cannot carry such a string: it writes each byte
// that is not UTF-8 as \ufffd, so the two keys would become one, "x\uFFFD".
//
//	marshalExact:   json.Marshal(v); output without the text \ufffd → it, as is
//	                otherwise → 0x01, then json.Marshal(v with every string respelled)
//	unmarshalExact: no 0x01 → json.Unmarshal; 0x01 → json.Unmarshal, then spell back
//
// Respelling writes each byte of a string as the rune of the same number
// (Latin-1), so any bytes become valid UTF-8, one to one; spelling back
// refuses a rune above U+00FF as corruption. encoding/json writes the text
// \ufffd only for a byte it replaced or for that literal text (as \\ufffd),
// so the common, all-UTF-8 case costs one scan of the encoding and is
// byte for byte what json.Marshal makes; 0x01 never starts JSON.
//
// Concurrency: pure functions.
package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// respelledMarker starts an encoding whose strings are respelled.
const respelledMarker = 0x01

var (
	replacedByte     = []byte(`\ufffd`)
	jsonMarshaler    = reflect.TypeFor[json.Marshaler]()
	textMarshaler    = reflect.TypeFor[encoding.TextMarshaler]()
	errRespelledRune = errors.New("a respelled string holds a rune above U+00FF")
)

// marshalExact is json.Marshal keeping strings' bytes (see the file comment).
func marshalExact(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || !bytes.Contains(b, replacedByte) {
		return b, err
	}
	b, err = json.Marshal(respell(reflect.ValueOf(v), latin1, nil).Interface())
	if err != nil {
		return nil, err
	}
	return append([]byte{respelledMarker}, b...), nil
}

// unmarshalExact decodes what marshalExact encoded into v, a pointer.
func unmarshalExact(b []byte, v any) error {
	if len(b) == 0 || b[0] != respelledMarker {
		return json.Unmarshal(b, v)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return err
	}
	var bad bool
	p := reflect.ValueOf(v).Elem()
	p.Set(respell(p, unlatin1, &bad))
	if bad {
		return errRespelledRune
	}
	return nil
}

// latin1 spells each byte of s as the rune of the same number.
func latin1(s string, _ *bool) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := range len(s) {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// unlatin1 undoes latin1; a rune above U+00FF sets *bad.
func unlatin1(s string, bad *bool) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			*bad = true
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// respell returns a deep copy of v with every string in it (map keys too)
// passed through spell. Values of a type with its own JSON or text form
// are copied as they are: their strings are not written as such.
func respell(v reflect.Value, spell func(string, *bool) string, bad *bool) reflect.Value {
	t := v.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return v
	}
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(t).Elem()
		out.SetString(spell(v.String(), bad))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(t.Elem())
		out.Elem().Set(respell(v.Elem(), spell, bad))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(t).Elem()
		out.Set(respell(v.Elem(), spell, bad))
		return out
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				out.Field(i).Set(respell(v.Field(i), spell, bad))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() || t.Elem().Kind() == reflect.Uint8 { // bytes: base64, no strings
			return v
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(respell(v.Index(i), spell, bad))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := range v.Len() {
			out.Index(i).Set(respell(v.Index(i), spell, bad))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(respell(it.Key(), spell, bad), respell(it.Value(), spell, bad))
		}
		return out
	}
	return v
}
