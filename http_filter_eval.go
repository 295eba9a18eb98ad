// http_filter_eval.go: evaluation of a bound ?filter expression
// (http_filter.go) on result elements, walking their Go values with
// reflect.
//
// Data flow: at bind time each selector of the expression is resolved
// once against the result type's schema into a filterPath: a list of
// steps (a struct field by its index path, a map key, a list crossed
// element by element) and the leaf's schema. filterList / filterMap run
// each element through the bound tree; a match follows its path on the
// element and applies its operator to the value reached. Nothing is
// encoded or allocated per element (except for the rare leaf JSON renders
// as a string of its own: a time, a duration): a map[string]string (every
// Meta) is read directly into the path's own settable string, since
// reflect's MapIndex copies each value to the heap.
//
// The values seen are those of the element's JSON form, which is what
// Consul's users select on (http_filter.go):
//   - a nil pointer, an omitempty field that encoding/json leaves out, a
//     missing map key or a nil embedded struct is absent (JSON null):
//     the zero value for ==, an empty list or map, no element to cross;
//   - a value JSON writes as a string of its own (jsonOpaque: a
//     json.Marshaler or encoding.TextMarshaler, a []byte in base64) is
//     that string where a string is compared (a time, a duration), and
//     absent where a list, map or number was expected;
//   - a float32 is compared as the float64 its JSON text parses to.
//
// Concurrency: none; a bound filter is built and used by one request,
// one element at a time (a path's value is scratch space).
package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// stepKind is how a filterStep moves from a value to the next.
type stepKind int

const (
	stepField stepKind = iota // a struct field
	stepKey                   // a map's value at a key
	stepList                  // each element of a list, any of which may match
)

type filterStep struct {
	kind      stepKind
	index     []int         // stepField: the field's index path
	omitEmpty bool          // stepField: absent when empty (encoding/json's omitempty)
	key       reflect.Value // stepKey: the key, of the map's key type
	stringMap bool          // stepKey: the map is a map[string]string (Meta), read without reflect
	opaque    bool          // the value reached shows in JSON as a string of its own
}

// filterPath is one match of the expression, bound to the result type:
// the steps its selector takes, the schema of the leaf it reaches and its
// value converted to the leaf's type (a scalar, or *regexp.Regexp for
// matches).
type filterPath struct {
	match *filterMatch
	steps []filterStep
	leaf  *filterField
	want  any
	key   reflect.Value // a map leaf's in/contains: the key, of the map's key type
	value reflect.Value // a settable string: the value a stringMap step reached
}

// follow extends p by one selector part from its leaf (go-bexpr's
// selector rules: a struct's field, a map's value, a field of a list's
// elements, the list crossed); false when name selects nothing.
func (p *filterPath) follow(name string) bool {
	f := p.leaf
	for f.kind == kindList && f.elem != nil && f.elem.kind != kindScalar {
		p.steps = append(p.steps, filterStep{kind: stepList, opaque: f.elem.opaque})
		f = f.elem
	}
	switch f.kind {
	case kindStruct:
		next := f.fields[name]
		if next == nil {
			return false
		}
		p.steps = append(p.steps, filterStep{kind: stepField, index: next.index, omitEmpty: next.omitEmpty, opaque: next.opaque})
		p.leaf = next
	case kindMap:
		if f.elem == nil {
			return false
		}
		key := reflect.ValueOf(name).Convert(f.typ.Key())
		stringMap := f.typ == reflect.TypeFor[map[string]string]()
		if stringMap {
			p.value = reflect.New(f.typ.Elem()).Elem()
		}
		p.steps = append(p.steps, filterStep{kind: stepKey, key: key, stringMap: stringMap, opaque: f.elem.opaque})
		p.leaf = f.elem
	default:
		return false
	}
	return true
}

// jsonOpaque reports whether encoding/json writes a value of t as a
// string of its own making rather than from its kind: a Marshaler, a
// TextMarshaler, a byte slice (base64).
func jsonOpaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	if t.Implements(jsonMarshaler) || pt.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(textMarshaler) {
		return true
	}
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	pe := reflect.PointerTo(t.Elem())
	return !pe.Implements(jsonMarshaler) && !pe.Implements(textMarshaler)
}

// filterList keeps the elements of in that f matches (all of them when
// f is nil), in order. out grows as needed: a filter usually keeps few of
// many large elements.
func filterList[T any](f *resultFilter, in []T) []T {
	if f == nil {
		return in
	}
	out := []T{}
	for i := range in {
		if f.eval(f.bound, reflect.ValueOf(&in[i]).Elem()) {
			out = append(out, in[i])
		}
	}
	return out
}

// filterMap keeps the entries of in whose values f matches.
func filterMap[K comparable, V any](f *resultFilter, in map[K]V) map[K]V {
	if f == nil {
		return in
	}
	out := make(map[K]V, len(in))
	for k, v := range in {
		if f.match(v) {
			out[k] = v
		}
	}
	return out
}

// match evaluates the expression on v.
func (f *resultFilter) match(v any) bool {
	return f.eval(f.bound, reflect.ValueOf(v))
}

func (f *resultFilter) eval(n filterNode, v reflect.Value) bool {
	switch n := n.(type) {
	case *filterBinary:
		if n.or {
			return f.eval(n.left, v) || f.eval(n.right, v)
		}
		return f.eval(n.left, v) && f.eval(n.right, v)
	case *filterNot:
		return !f.eval(n.operand, v)
	case *filterPath:
		return n.walk(v, n.steps)
	}
	return false
}

// walk follows steps from v (invalid: absent) and applies the operator
// to the value reached (go-bexpr's evaluateMatchExpressionRecurse).
func (p *filterPath) walk(v reflect.Value, steps []filterStep) bool {
	for i := range steps {
		s := &steps[i]
		v = indirect(v)
		switch s.kind {
		case stepField:
			if v.IsValid() {
				v, _ = v.FieldByIndexErr(s.index) // through a nil embedded pointer: absent
				if s.omitEmpty && v.IsValid() && emptyJSON(v) {
					v = reflect.Value{}
				}
			}
		case stepKey:
			switch {
			case s.stringMap: // reflect's MapIndex would copy the string to the heap
				var m map[string]string
				if v.IsValid() {
					m = v.Interface().(map[string]string)
				}
				if value, ok := m[s.key.String()]; ok {
					p.value.SetString(value)
					v = p.value
				} else {
					v = reflect.Value{}
				}
			case v.IsValid():
				v = v.MapIndex(s.key)
			}
			if !v.IsValid() { // a missing key fails ==, is not empty and in, as go-bexpr's
				op := p.match.op
				return op != opEqual && op != opIsNotEmpty && op != opIn
			}
		case stepList:
			for j := 0; j < listLen(v); j++ {
				e := v.Index(j)
				if s.opaque {
					e = reflect.Value{}
				}
				if p.walk(e, steps[i+1:]) {
					return true
				}
			}
			return false
		}
		if s.opaque && i < len(steps)-1 {
			v = reflect.Value{} // JSON shows a string where a struct or map was expected
		}
	}
	return p.apply(indirect(v))
}

// apply is the operator on the value the selector reached.
func (p *filterPath) apply(v reflect.Value) bool {
	if p.leaf.opaque && p.leaf.kind != kindScalar {
		v = reflect.Value{} // a JSON string where a list or map was expected
	}
	switch p.match.op {
	case opEqual:
		return p.equal(v)
	case opNotEqual:
		return !p.equal(v)
	case opIn:
		return p.contains(v)
	case opNotIn:
		return !p.contains(v)
	case opIsEmpty:
		return listLen(v) == 0
	case opIsNotEmpty:
		return listLen(v) != 0
	case opMatches:
		return p.want.(*regexp.Regexp).MatchString(leafString(v, p.leaf.opaque))
	case opNotMatches:
		return !p.want.(*regexp.Regexp).MatchString(leafString(v, p.leaf.opaque))
	}
	return false
}

func (p *filterPath) equal(v reflect.Value) bool {
	return scalarEqual(v, p.want, p.leaf.opaque)
}

// contains is in/contains: a key of a map, an element of a list, a
// substring of a string.
func (p *filterPath) contains(v reflect.Value) bool {
	switch p.leaf.kind {
	case kindMap:
		return v.IsValid() && v.MapIndex(p.key).IsValid()
	case kindList:
		for j := 0; j < listLen(v); j++ {
			if scalarEqual(indirect(v.Index(j)), p.want, p.leaf.elem.opaque) {
				return true
			}
		}
		return false
	}
	return strings.Contains(leafString(v, p.leaf.opaque), p.want.(string))
}

// scalarEqual compares a scalar (invalid: absent, the zero value) with a
// value coerced to its kind; opaque: v is compared as its JSON string.
func scalarEqual(v reflect.Value, want any, opaque bool) bool {
	if opaque {
		if w, ok := want.(string); ok {
			return jsonFormString(v) == w
		}
		v = reflect.Value{} // a JSON string where a number or bool was expected
	}
	switch w := want.(type) {
	case string:
		return leafString(v, false) == w
	case bool:
		return v.IsValid() && v.Bool() == w || !v.IsValid() && !w
	case int64:
		var got int64
		if v.IsValid() {
			got = v.Int()
		}
		return got == w
	case uint64:
		var got uint64
		if v.IsValid() {
			got = v.Uint()
		}
		return got == w
	case float64:
		var got float64
		if v.IsValid() {
			got = v.Float()
			if v.Kind() == reflect.Float32 { // JSON writes a float32's shortest form, read back as a float64
				got, _ = strconv.ParseFloat(strconv.FormatFloat(got, 'g', -1, 32), 64)
			}
		}
		return got == w
	}
	return false
}

// leafString is a string leaf's value: its JSON string when opaque.
func leafString(v reflect.Value, opaque bool) string {
	switch {
	case opaque:
		return jsonFormString(v)
	case v.IsValid() && v.Kind() == reflect.String:
		return v.String()
	}
	return ""
}

// jsonFormString is the string v's JSON form is ("" when it is not a string).
func jsonFormString(v reflect.Value) string {
	if !v.IsValid() || !v.CanInterface() {
		return ""
	}
	var s string
	data, err := json.Marshal(v.Interface())
	if err != nil || json.Unmarshal(data, &s) != nil {
		return ""
	}
	return s
}

// indirect follows pointers; a nil one is absent.
func indirect(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// listLen is the length of a list or map (0 when absent).
func listLen(v reflect.Value) int {
	switch {
	case !v.IsValid():
		return 0
	case v.Kind() == reflect.Slice, v.Kind() == reflect.Array, v.Kind() == reflect.Map:
		return v.Len()
	}
	return 0
}

// emptyJSON is encoding/json's isEmptyValue, for omitempty.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Pointer, reflect.Interface:
		return v.IsZero()
	}
	return false
}
