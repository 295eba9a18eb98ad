// http_filter.go: server-side filtering, ?filter= (Consul's filtering
// language: https://developer.hashicorp.com/consul/api-docs/features/filtering),
// with go-bexpr v0.1.2's rules, which Consul 1.22 uses.
//
// Data flow: a list endpoint calls bindFilter[T] before its read: the
// expression is parsed (http_filter_parse.go) and checked against the
// fields of T, the type of one result element, so a bad expression fails
// even when nothing would be returned (go-bexpr's validate: a selector
// must name a field, an operator must suit the field's type, a value must
// convert to it, a regexp must compile). After the read and its ACL
// filtering (a user only runs expressions over what they may read, as
// Consul's), filterList / filterMap keep the elements the expression
// matches; a blocking query's index is that of the unfiltered read.
//
// Selectors are the JSON field names of the result (what a user sees);
// evaluation walks each element's JSON form, decoded to any, with the
// field schema of T to interpret it, so every endpoint filters the same
// way whatever its Go types. go-bexpr's rules, kept here:
//   - a string supports ==, !=, in/contains (substring), matches (RE2);
//     other scalars (numbers, booleans) only == and !=, the value parsed
//     as the field's type (strconv, base prefixes allowed for integers);
//   - a list of scalars supports in/contains (membership), is empty;
//     a list of structs only is empty, and a selector that goes on
//     through it matches if any element matches (Checks.Status);
//   - a map with string keys supports in/contains (key present), is
//     empty; a selector goes on through a key (Meta.rack, Meta["a b"]);
//     a missing key fails ==, is not empty and in, and passes the others;
//   - a field JSON omits (omitempty) or shows as null is its zero value;
//   - a field tagged bexpr:"-" is not selectable, where Consul's struct
//     has the same tag (the Raft indexes, a check's Definition…).
//
// Concurrency: none; a filter is built and used by one request.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// fieldKind is how go-bexpr sees a field's type.
type fieldKind int

const (
	kindScalar fieldKind = iota
	kindList
	kindMap
	kindStruct
)

// filterField is the schema of one field (go-bexpr's FieldConfiguration).
type filterField struct {
	kind   fieldKind
	scalar reflect.Kind            // kindScalar: its kind (string for a json.Marshaler)
	elem   *filterField            // kindList, kindMap: the element (nil: not selectable)
	fields map[string]*filterField // kindStruct: by JSON name
	ops    []filterOp
}

var (
	stringOps       = []filterOp{opEqual, opNotEqual, opIn, opNotIn, opMatches, opNotMatches}
	scalarOps       = []filterOp{opEqual, opNotEqual}
	scalarListOps   = []filterOp{opIn, opNotIn, opIsEmpty, opIsNotEmpty}
	emptyOps        = []filterOp{opIsEmpty, opIsNotEmpty}
	stringKeyMapOps = []filterOp{opIsEmpty, opIsNotEmpty, opIn, opNotIn}
)

// fieldSchema describes t; nil when nothing in it can be selected.
// seen guards against recursive types.
func fieldSchema(t reflect.Type, seen map[reflect.Type]bool) *filterField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		return &filterField{kind: kindScalar, scalar: reflect.String, ops: stringOps}
	}
	switch k := t.Kind(); k {
	case reflect.String:
		return &filterField{kind: kindScalar, scalar: k, ops: stringOps}
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return &filterField{kind: kindScalar, scalar: k, ops: scalarOps}
	case reflect.Slice, reflect.Array:
		elem := fieldSchema(t.Elem(), seen)
		if elem != nil && elem.kind == kindScalar {
			return &filterField{kind: kindList, elem: elem, ops: scalarListOps}
		}
		return &filterField{kind: kindList, elem: elem, ops: emptyOps}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return &filterField{kind: kindMap, ops: emptyOps}
		}
		return &filterField{kind: kindMap, elem: fieldSchema(t.Elem(), seen), ops: stringKeyMapOps}
	case reflect.Struct:
		if seen[t] {
			return nil
		}
		seen[t] = true
		defer delete(seen, t)
		f := &filterField{kind: kindStruct, fields: map[string]*filterField{}}
		addStructFields(f, t, seen, false)
		return f
	}
	return nil // interfaces, funcs, channels: not filterable
}

// addStructFields adds t's exported fields under their JSON names,
// promoting untagged embedded structs as encoding/json does (an outer
// field hides a promoted one of the same name).
func addStructFields(f *filterField, t reflect.Type, seen map[reflect.Type]bool, promoted bool) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || sf.Tag.Get("bexpr") == "-" { // bexpr:"-": hidden from filters, as Consul's
			continue
		}
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				addStructFields(f, et, seen, true)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := f.fields[name]; ok && promoted {
			continue
		}
		if sub := fieldSchema(sf.Type, seen); sub != nil {
			f.fields[name] = sub
		}
	}
}

// resultFilter is a parsed expression, once checked against a schema.
type resultFilter struct {
	expr   filterNode
	schema *filterField
	values map[*filterMatch]any // each match's value, converted: a scalar or *regexp.Regexp
}

// filterPrefix is how Consul's CreateFilter wraps every error.
const filterPrefix = "Failed to create boolean expression evaluator: "

// parseFilterParam parses ?filter; nil when the request has none (or it
// is empty, as Consul's nil filter).
func parseFilterParam(r *http.Request) (*resultFilter, error) {
	src := query(r).Get("filter")
	if src == "" {
		return nil, nil
	}
	expr, err := parseFilter(src)
	if err != nil {
		return nil, fmt.Errorf("%s%v", filterPrefix, err)
	}
	return &resultFilter{expr: expr}, nil
}

// bindFilter parses ?filter and checks it against T, a result element's
// type: Consul's bexpr.CreateFilter.
func bindFilter[T any](r *http.Request) (*resultFilter, error) {
	f, err := parseFilterParam(r)
	if err != nil || f == nil {
		return f, err
	}
	if err := checkFilter[T](f); err != nil {
		return nil, fmt.Errorf("%s%v", filterPrefix, err)
	}
	return f, nil
}

// checkFilter checks a parsed ?filter against T, with go-bexpr's bare
// messages (Consul's untyped filter, checked on first use).
func checkFilter[T any](f *resultFilter) error {
	return f.bind(reflect.TypeFor[T]())
}

// bind checks the expression against t (go-bexpr's validate), with
// go-bexpr's messages.
func (f *resultFilter) bind(t reflect.Type) error {
	schema := fieldSchema(t, map[reflect.Type]bool{})
	if schema == nil || schema.kind != kindStruct || len(schema.fields) == 0 {
		return fmt.Errorf("Data type %s has no evaluatable fields", t)
	}
	f.schema, f.values = schema, map[*filterMatch]any{}
	return f.check(f.expr)
}

func (f *resultFilter) check(n filterNode) error {
	switch n := n.(type) {
	case *filterBinary:
		if err := f.check(n.left); err != nil {
			return err
		}
		return f.check(n.right)
	case *filterNot:
		return f.check(n.operand)
	case *filterMatch:
		return f.checkMatch(n)
	}
	return fmt.Errorf("Cannot validate: Invalid AST")
}

func (f *resultFilter) checkMatch(m *filterMatch) error {
	field := f.schema
	for i, name := range m.selector {
		next := field.child(name)
		if next == nil {
			return fmt.Errorf("Selector %q is not valid", strings.Join(m.selector[:i+1], "."))
		}
		field = next
	}
	sel := strings.Join(m.selector, ".")
	if !containsOp(field.ops, m.op) {
		return fmt.Errorf("Invalid match operator %q for selector %q", m.op.String(), sel)
	}
	if !m.hasValue {
		return nil
	}
	var value any = m.value
	if conv := field.coercion(); conv != 0 {
		v, err := coerceFilterValue(conv, m.value)
		if err != nil {
			return fmt.Errorf("Failed to coerce value %q for selector %q: %v", m.value, sel, err)
		}
		value = v
	}
	if m.op == opMatches || m.op == opNotMatches {
		re, err := regexp.Compile(m.value)
		if err != nil {
			return fmt.Errorf("Failed to compile regular expression %q: %v", m.value, err)
		}
		value = re
	}
	f.values[m] = value
	return nil
}

// child is the schema a selector part leads to from f: a struct's field,
// a map's values, a list's elements' field (a list is crossed).
func (f *filterField) child(name string) *filterField {
	switch f.kind {
	case kindStruct:
		return f.fields[name]
	case kindMap:
		return f.elem
	case kindList:
		if f.elem != nil && f.elem.kind != kindScalar {
			return f.elem.child(name)
		}
	}
	return nil
}

// coercion is the kind a value compared with f is parsed as: the scalar's,
// a scalar list's element's, a map's key (string); 0 for none.
func (f *filterField) coercion() reflect.Kind {
	switch {
	case f.kind == kindScalar:
		return f.scalar
	case f.kind == kindList && f.elem != nil && f.elem.kind == kindScalar:
		return f.elem.scalar
	case f.kind == kindMap && len(f.ops) == len(stringKeyMapOps):
		return reflect.String
	}
	return 0
}

func containsOp(ops []filterOp, op filterOp) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// coerceFilterValue parses a value as go-bexpr's coercions do.
func coerceFilterValue(k reflect.Kind, s string) (any, error) {
	switch k {
	case reflect.Bool:
		return strconv.ParseBool(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := map[reflect.Kind]int{reflect.Int: 0, reflect.Int8: 8, reflect.Int16: 16, reflect.Int32: 32, reflect.Int64: 64}[k]
		return strconv.ParseInt(s, 0, bits)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := map[reflect.Kind]int{reflect.Uint: 0, reflect.Uint8: 8, reflect.Uint16: 16, reflect.Uint32: 32, reflect.Uint64: 64}[k]
		return strconv.ParseUint(s, 0, bits)
	case reflect.Float32:
		v, err := strconv.ParseFloat(s, 32)
		return float64(float32(v)), err
	case reflect.Float64:
		return strconv.ParseFloat(s, 64)
	}
	return s, nil
}

// filterList keeps the elements of in that f matches (all of them when
// f is nil), in order.
func filterList[T any](f *resultFilter, in []T) []T {
	if f == nil {
		return in
	}
	out := make([]T, 0, len(in))
	for _, v := range in {
		if f.match(v) {
			out = append(out, v)
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

// match evaluates the expression on v's JSON form.
func (f *resultFilter) match(v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return false
	}
	return f.eval(f.expr, doc)
}

func (f *resultFilter) eval(n filterNode, doc any) bool {
	switch n := n.(type) {
	case *filterBinary:
		if n.or {
			return f.eval(n.left, doc) || f.eval(n.right, doc)
		}
		return f.eval(n.left, doc) && f.eval(n.right, doc)
	case *filterNot:
		return !f.eval(n.operand, doc)
	case *filterMatch:
		return f.evalMatch(n, 0, doc, f.schema)
	}
	return false
}

// evalMatch walks selector[depth:] from v, whose schema is field
// (go-bexpr's evaluateMatchExpressionRecurse).
func (f *resultFilter) evalMatch(m *filterMatch, depth int, v any, field *filterField) bool {
	if depth == len(m.selector) {
		return f.apply(m, v, field)
	}
	switch field.kind {
	case kindStruct:
		obj, _ := v.(map[string]any)
		return f.evalMatch(m, depth+1, obj[m.selector[depth]], field.fields[m.selector[depth]])
	case kindList: // any element
		list, _ := v.([]any)
		for _, item := range list {
			if f.evalMatch(m, depth, item, field.elem) {
				return true
			}
		}
		return false
	case kindMap:
		obj, _ := v.(map[string]any)
		item, ok := obj[m.selector[depth]]
		if !ok {
			return m.op != opEqual && m.op != opIsNotEmpty && m.op != opIn
		}
		return f.evalMatch(m, depth+1, item, field.elem)
	}
	return false
}

// apply is the operator on the value the selector reached.
func (f *resultFilter) apply(m *filterMatch, v any, field *filterField) bool {
	want := f.values[m]
	switch m.op {
	case opEqual:
		return scalarEqual(v, want)
	case opNotEqual:
		return !scalarEqual(v, want)
	case opIn:
		return contains(v, want, field)
	case opNotIn:
		return !contains(v, want, field)
	case opIsEmpty:
		return jsonLen(v) == 0
	case opIsNotEmpty:
		return jsonLen(v) != 0
	case opMatches:
		s, _ := v.(string)
		return want.(*regexp.Regexp).MatchString(s)
	case opNotMatches:
		s, _ := v.(string)
		return !want.(*regexp.Regexp).MatchString(s)
	}
	return false
}

// scalarEqual compares a JSON scalar (null: the zero value) with a value
// coerced to the field's kind.
func scalarEqual(v, want any) bool {
	switch w := want.(type) {
	case string:
		s, _ := v.(string)
		return s == w
	case bool:
		b, _ := v.(bool)
		return b == w
	case int64:
		n, _ := v.(json.Number)
		got, err := strconv.ParseInt(string(n), 10, 64)
		return (err == nil || n == "") && got == w
	case uint64:
		n, _ := v.(json.Number)
		got, err := strconv.ParseUint(string(n), 10, 64)
		return (err == nil || n == "") && got == w
	case float64:
		n, _ := v.(json.Number)
		got, err := strconv.ParseFloat(string(n), 64)
		return (err == nil || n == "") && got == w
	}
	return false
}

// contains is in/contains: a key of a map, an element of a list, a
// substring of a string.
func contains(v, want any, field *filterField) bool {
	switch field.kind {
	case kindMap:
		obj, _ := v.(map[string]any)
		_, ok := obj[want.(string)]
		return ok
	case kindList:
		list, _ := v.([]any)
		for _, item := range list {
			if scalarEqual(item, want) {
				return true
			}
		}
		return false
	}
	s, _ := v.(string)
	return strings.Contains(s, want.(string))
}

func jsonLen(v any) int {
	switch v := v.(type) {
	case []any:
		return len(v)
	case map[string]any:
		return len(v)
	}
	return 0
}
