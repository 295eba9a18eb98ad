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
// Selectors are the JSON field names of the result (what a user sees),
// so every endpoint filters the same way whatever its Go types. Binding
// resolves each selector once into a path of Go field indexes, map keys
// and list crossings (http_filter_eval.go), which evaluation follows on
// each element with reflect, seeing what the element's JSON form shows
// (without encoding it). go-bexpr's rules, kept here:
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

	typ       reflect.Type // the Go type, pointers removed
	opaque    bool         // JSON shows it as a string of its own (jsonOpaque)
	index     []int        // a struct's field: its index path (through embedded structs)
	omitEmpty bool         // a struct's field tagged omitempty: absent from JSON when empty
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
	f := &filterField{typ: t, opaque: jsonOpaque(t)}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		f.kind, f.scalar, f.ops = kindScalar, reflect.String, stringOps
		return f
	}
	switch k := t.Kind(); k {
	case reflect.String:
		f.kind, f.scalar, f.ops = kindScalar, k, stringOps
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		f.kind, f.scalar, f.ops = kindScalar, k, scalarOps
	case reflect.Slice, reflect.Array:
		f.kind, f.elem, f.ops = kindList, fieldSchema(t.Elem(), seen), emptyOps
		if f.elem != nil && f.elem.kind == kindScalar {
			f.ops = scalarListOps
		}
	case reflect.Map:
		f.kind, f.ops = kindMap, emptyOps
		if t.Key().Kind() == reflect.String {
			f.elem, f.ops = fieldSchema(t.Elem(), seen), stringKeyMapOps
		}
	case reflect.Struct:
		if seen[t] {
			return nil
		}
		seen[t] = true
		defer delete(seen, t)
		f.kind, f.fields = kindStruct, map[string]*filterField{}
		addStructFields(f, t, seen, nil, false)
	default:
		return nil // interfaces, funcs, channels: not filterable
	}
	return f
}

// addStructFields adds t's exported fields under their JSON names,
// promoting untagged embedded structs as encoding/json does (an outer
// field hides a promoted one of the same name); prefix is the index path
// of the embedded struct t is.
func addStructFields(f *filterField, t reflect.Type, seen map[reflect.Type]bool, prefix []int, promoted bool) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		index := append(prefix[:len(prefix):len(prefix)], i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || sf.Tag.Get("bexpr") == "-" { // bexpr:"-": hidden from filters, as Consul's
			continue
		}
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				addStructFields(f, et, seen, index, true)
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
			sub.index, sub.omitEmpty = index, strings.Contains(","+opts+",", ",omitempty,")
			f.fields[name] = sub
		}
	}
}

// resultFilter is a parsed expression and, once checked against a
// schema, the same tree with each match bound to a *filterPath.
type resultFilter struct {
	expr  filterNode
	bound filterNode
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
	bound, err := check(f.expr, schema)
	f.bound = bound
	return err
}

// check validates n against schema and returns it with each match bound.
func check(n filterNode, schema *filterField) (filterNode, error) {
	switch n := n.(type) {
	case *filterBinary:
		left, err := check(n.left, schema)
		if err != nil {
			return nil, err
		}
		right, err := check(n.right, schema)
		return &filterBinary{or: n.or, left: left, right: right}, err
	case *filterNot:
		operand, err := check(n.operand, schema)
		return &filterNot{operand: operand}, err
	case *filterMatch:
		return checkMatch(n, schema)
	}
	return nil, fmt.Errorf("Cannot validate: Invalid AST")
}

func checkMatch(m *filterMatch, schema *filterField) (*filterPath, error) {
	p := &filterPath{match: m, leaf: schema}
	for i, name := range m.selector {
		if !p.follow(name) {
			return nil, fmt.Errorf("Selector %q is not valid", strings.Join(m.selector[:i+1], "."))
		}
	}
	field := p.leaf
	sel := strings.Join(m.selector, ".")
	if !containsOp(field.ops, m.op) {
		return nil, fmt.Errorf("Invalid match operator %q for selector %q", m.op.String(), sel)
	}
	if !m.hasValue {
		return p, nil
	}
	var value any = m.value
	if conv := field.coercion(); conv != 0 {
		v, err := coerceFilterValue(conv, m.value)
		if err != nil {
			return nil, fmt.Errorf("Failed to coerce value %q for selector %q: %v", m.value, sel, err)
		}
		value = v
	}
	if m.op == opMatches || m.op == opNotMatches {
		re, err := regexp.Compile(m.value)
		if err != nil {
			return nil, fmt.Errorf("Failed to compile regular expression %q: %v", m.value, err)
		}
		value = re
	}
	p.want = value
	if field.kind == kindMap {
		p.key = reflect.ValueOf(m.value).Convert(field.typ.Key())
	}
	return p, nil
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
