// http_filter_eval_test.go: the reflect evaluator of ?filter
// (http_filter_eval.go) against an oracle, the evaluator it replaced,
// which walks each element's JSON form: for many expressions over
// filterTestItems and over random values of every endpoint's result type,
// both keep the same elements.
//
// Concurrency: each test uses only its own values.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsonFormMatch is the oracle: the expression bound in f evaluated on
// v's JSON form (encoded, then decoded to any), with schema, the field
// schema of v's type, to interpret it.
func jsonFormMatch(f *resultFilter, schema *filterField, v any) bool {
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
	return jsonFormEval(f.bound, schema, doc)
}

func jsonFormEval(n filterNode, schema *filterField, doc any) bool {
	switch n := n.(type) {
	case *filterBinary:
		if n.or {
			return jsonFormEval(n.left, schema, doc) || jsonFormEval(n.right, schema, doc)
		}
		return jsonFormEval(n.left, schema, doc) && jsonFormEval(n.right, schema, doc)
	case *filterNot:
		return !jsonFormEval(n.operand, schema, doc)
	case *filterPath:
		return jsonFormWalk(n, 0, doc, schema)
	}
	return false
}

func jsonFormWalk(p *filterPath, depth int, v any, field *filterField) bool {
	m := p.match
	if depth == len(m.selector) {
		return jsonFormApply(p, v, field)
	}
	switch field.kind {
	case kindStruct:
		obj, _ := v.(map[string]any)
		return jsonFormWalk(p, depth+1, obj[m.selector[depth]], field.fields[m.selector[depth]])
	case kindList:
		list, _ := v.([]any)
		for _, item := range list {
			if jsonFormWalk(p, depth, item, field.elem) {
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
		return jsonFormWalk(p, depth+1, item, field.elem)
	}
	return false
}

func jsonFormApply(p *filterPath, v any, field *filterField) bool {
	switch p.match.op {
	case opEqual:
		return jsonScalarEqual(v, p.want)
	case opNotEqual:
		return !jsonScalarEqual(v, p.want)
	case opIn:
		return jsonContains(v, p.want, field)
	case opNotIn:
		return !jsonContains(v, p.want, field)
	case opIsEmpty:
		return jsonLen(v) == 0
	case opIsNotEmpty:
		return jsonLen(v) != 0
	case opMatches:
		s, _ := v.(string)
		return p.want.(*regexp.Regexp).MatchString(s)
	case opNotMatches:
		s, _ := v.(string)
		return !p.want.(*regexp.Regexp).MatchString(s)
	}
	return false
}

func jsonScalarEqual(v, want any) bool {
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

func jsonContains(v, want any, field *filterField) bool {
	switch field.kind {
	case kindMap:
		obj, _ := v.(map[string]any)
		_, ok := obj[want.(string)]
		return ok
	case kindList:
		list, _ := v.([]any)
		for _, item := range list {
			if jsonScalarEqual(item, want) {
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

// filterWords are the strings random values and expressions draw from,
// so that expressions hit as well as miss.
var filterWords = []string{"", "web", "a", "x y", "passing", "0s", "1m30s", "0001-01-01T00:00:00Z", "2024-05-01T10:00:00Z"}

// randomValue fills v (settable) with random content: strings from
// filterWords, small numbers, nil or filled pointers, maps and lists of
// 0 to 2 entries, times and durations that render like filterWords.
func randomValue(rnd *rand.Rand, v reflect.Value, depth int) {
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		if rnd.Intn(2) == 0 {
			v.Set(reflect.ValueOf(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)))
		}
		return
	case reflect.TypeFor[duration]():
		v.Set(reflect.ValueOf(duration([]time.Duration{0, 90 * time.Second}[rnd.Intn(2)])))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(filterWords[rnd.Intn(len(filterWords))])
	case reflect.Bool:
		v.SetBool(rnd.Intn(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(rnd.Intn(3)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(rnd.Intn(3)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0, 1.5, 0.1}[rnd.Intn(3)])
	case reflect.Pointer:
		if depth < 6 && rnd.Intn(3) != 0 {
			v.Set(reflect.New(v.Type().Elem()))
			randomValue(rnd, v.Elem(), depth+1)
		}
	case reflect.Slice:
		if depth < 6 && rnd.Intn(4) != 0 {
			n := rnd.Intn(3)
			v.Set(reflect.MakeSlice(v.Type(), n, n))
			for i := range n {
				randomValue(rnd, v.Index(i), depth+1)
			}
		}
	case reflect.Map:
		if depth < 6 && rnd.Intn(4) != 0 && v.Type().Key().Kind() == reflect.String {
			v.Set(reflect.MakeMap(v.Type()))
			for range rnd.Intn(3) {
				k := reflect.New(v.Type().Key()).Elem()
				k.SetString(filterWords[rnd.Intn(4)])
				e := reflect.New(v.Type().Elem()).Elem()
				randomValue(rnd, e, depth+1)
				v.SetMapIndex(k, e)
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				randomValue(rnd, v.Field(i), depth+1)
			}
		}
	case reflect.Interface:
		if rnd.Intn(2) == 0 {
			v.Set(reflect.ValueOf(filterWords[rnd.Intn(len(filterWords))]))
		}
	}
}

// filterMatches lists a match expression for every selector of schema
// (down to depth levels, map keys from filterWords) with every operator
// it allows and values from filterWords and small numbers.
func filterMatches(schema *filterField, prefix string, depth int) []string {
	var out []string
	if prefix != "" {
		var values []string
		switch k := coercionKind(schema); {
		case k == reflect.String:
			values = []string{`""`, `"web"`, `"a"`, `"x y"`, `"0s"`, `"1m30s"`, `"2024-05-01T10:00:00Z"`}
		case k == reflect.Bool:
			values = []string{"true", "false"}
		case k == reflect.Float32 || k == reflect.Float64:
			values = []string{"0", "1.5", "0.1"}
		case k != 0:
			values = []string{"0", "1", "2"}
		}
		for _, op := range schema.ops {
			switch op {
			case opIsEmpty:
				out = append(out, prefix+" is empty")
			case opIsNotEmpty:
				out = append(out, prefix+" is not empty")
			case opMatches, opNotMatches:
				word := map[filterOp]string{opMatches: " matches ", opNotMatches: " not matches "}[op]
				for _, re := range []string{`"^w"`, `"a"`, `"^$"`, `"s$"`} {
					out = append(out, prefix+word+re)
				}
			default:
				word := map[filterOp]string{opEqual: " == ", opNotEqual: " != ", opIn: " contains ", opNotIn: " not contains "}[op]
				for _, v := range values {
					out = append(out, prefix+word+v)
				}
			}
		}
	}
	if depth == 0 {
		return out
	}
	for schema.kind == kindList && schema.elem != nil && schema.elem.kind != kindScalar {
		schema = schema.elem
	}
	sep := prefix
	if sep != "" {
		sep += "."
	}
	switch schema.kind {
	case kindStruct:
		for name, f := range schema.fields {
			out = append(out, filterMatches(f, sep+name, depth-1)...)
		}
	case kindMap:
		if schema.elem != nil {
			for _, k := range []string{"web", "a", "missing"} {
				out = append(out, filterMatches(schema.elem, sep+k, depth-1)...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func coercionKind(f *filterField) reflect.Kind { return f.coercion() }

// checkAgainstOracle binds each expression to T and compares the
// elements filterList keeps, and match on each value, with the oracle;
// it returns how many expressions bound.
func checkAgainstOracle[T any](t *testing.T, items []T, exprs []string) int {
	t.Helper()
	schema := fieldSchema(reflect.TypeFor[T](), map[reflect.Type]bool{})
	bound := 0
	for _, expr := range exprs {
		r := httptest.NewRequest("GET", "/v1/x?filter="+url.QueryEscape(expr), nil)
		f, err := bindFilter[T](r)
		if err != nil {
			continue // a value that does not coerce, an operator that does not apply
		}
		bound++
		kept := filterList(f, items)
		var want []T
		for i, it := range items {
			oracle := jsonFormMatch(f, schema, it)
			if got := f.match(it); got != oracle {
				data, _ := json.Marshal(it)
				t.Fatalf("%T %q on item %d: match %v, oracle %v\n%s", it, expr, i, got, oracle, data)
			}
			if oracle {
				want = append(want, it)
			}
		}
		if !reflect.DeepEqual(kept, want) && (len(kept) != 0 || len(want) != 0) {
			t.Fatalf("%T %q: filterList kept %d, oracle %d", items[0], expr, len(kept), len(want))
		}
	}
	return bound
}

// combine joins random pairs of matches with and, or, not, so that the
// tree evaluation is compared too.
func combine(rnd *rand.Rand, matches []string, n int) []string {
	out := make([]string, 0, n)
	for range n {
		a, b := matches[rnd.Intn(len(matches))], matches[rnd.Intn(len(matches))]
		switch rnd.Intn(3) {
		case 0:
			out = append(out, fmt.Sprintf("%s and not (%s)", a, b))
		case 1:
			out = append(out, fmt.Sprintf("(%s) or %s", a, b))
		default:
			out = append(out, fmt.Sprintf("not %s and %s or %s", a, b, a))
		}
	}
	return out
}

// filterOracleItem has what filterTestItem lacks and encoding/json
// treats specially: JSON-opaque leaves (times, durations, bytes), an
// omitempty duration, a float32, a number written as text, embedded structs by value and by
// pointer with an outer field hiding a promoted one, nested lists, an
// array, maps keyed by a named string type and by ints.
type filterOracleItem struct {
	FilterOracleBase
	*FilterOracleExtra
	Name     string
	Interval duration `json:",omitempty"`
	Timeout  duration
	Created  time.Time
	Expires  *time.Time `json:",omitempty"`
	Hash     []byte
	Ratio    float32
	Count    uint16 `json:",omitempty"`
	Grid     [][]filterTestCheck
	Pair     [2]string
	Labels   map[filterLabel]*filterTestCheck
	ByPort   map[int]string
	Times    []time.Time
	Any      map[string]any
	Severity filterSeverity
}

type filterLabel string

// filterSeverity is a number JSON writes as text.
type filterSeverity int

func (s filterSeverity) MarshalText() ([]byte, error) {
	return []byte("sev" + strconv.Itoa(int(s))), nil
}

type FilterOracleBase struct {
	Name  string // hidden by filterOracleItem.Name
	Level int
}

type FilterOracleExtra struct {
	Zone string
	Tags []string `json:",omitempty"`
}

func randomItems[T any](rnd *rand.Rand, n int) []T {
	items := make([]T, n)
	for i := range items {
		randomValue(rnd, reflect.ValueOf(&items[i]).Elem(), 0)
	}
	return items
}

func differential[T any](t *testing.T, seed int64) {
	t.Run(reflect.TypeFor[T]().String(), func(t *testing.T) {
		t.Parallel()
		rnd := rand.New(rand.NewSource(seed))
		items := randomItems[T](rnd, 40)
		matches := filterMatches(fieldSchema(reflect.TypeFor[T](), map[reflect.Type]bool{}), "", 4)
		n := checkAgainstOracle(t, items, matches)
		t.Logf("%d of %d expressions bound", n, len(matches))
		if n < 20 {
			t.Fatalf("only %d of %d expressions bound", n, len(matches))
		}
		checkAgainstOracle(t, items, combine(rnd, matches, 300))
	})
}

// TestFilterEvalOracle: the reflect evaluator and the JSON-form oracle
// agree on every selector × operator × value of filterTestItem and of each
// endpoint's result type, on fixed and on random values.
func TestFilterEvalOracle(t *testing.T) {
	t.Parallel()
	schema := fieldSchema(reflect.TypeFor[filterTestItem](), map[reflect.Type]bool{})
	matches := filterMatches(schema, "", 3)
	items := append(append([]filterTestItem{}, filterTestItems...), filterTestItem{Meta: map[string]string{}, Tags: []string{}})
	checkAgainstOracle(t, items, matches)
	checkAgainstOracle(t, items, combine(rand.New(rand.NewSource(1)), matches, 500))

	differential[filterTestItem](t, 2)
	differential[filterOracleItem](t, 15)
	differential[*ACLToken](t, 3)
	differential[aclPolicyListEntry](t, 4)
	differential[*ACLRole](t, 5)
	differential[agentMember](t, 6)
	differential[agentServiceView](t, 7)
	differential[HealthCheck](t, 8)
	differential[Node](t, 9)
	differential[catalogServiceNode](t, 10)
	differential[Service](t, 11)
	differential[CheckServiceNode](t, 12)
	differential[ServiceDefaultsEntry](t, 13)
	differential[Intention](t, 14)
}

// BenchmarkCatalogServiceFilter: GET /v1/catalog/service/web on 10,000
// instances (each on its own node), through HTTP on an in-process agent,
// without and with a ?filter that keeps a few hundred of them.
func BenchmarkCatalogServiceFilter(b *testing.B) {
	ta := startTestAgent(b, nil)
	const instances, perTxn = 10000, 64
	for i := 0; i < instances; i += perTxn {
		var ops []string
		for j := i; j < i+perTxn && j < instances; j++ {
			ops = append(ops, fmt.Sprintf(`{"Node":{"Verb":"set","Node":{"Node":"n%d","Address":"10.0.%d.%d","Meta":{"rack":"r%d"}}}}`, j, j/256, j%256, j%10),
				fmt.Sprintf(`{"Service":{"Verb":"set","Node":"n%d","Service":{"ID":"web-%d","Service":"web","Port":%d,"Tags":["v1","t%d"]}}}`, j, j, 8080+j%3, j%7))
		}
		ta.must("PUT", "/v1/txn", "["+strings.Join(ops, ",")+"]", nil)
	}
	for _, tc := range []struct{ name, query string }{
		{"unfiltered", ""},
		{"filtered", "?filter=" + url.QueryEscape(`NodeMeta.rack == r3 and ServiceTags contains t2`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				r := ta.do("GET", "/v1/catalog/service/web"+tc.query, "")
				if r.code != 200 || len(r.body) < 100 {
					b.Fatalf("%d %.200s", r.code, r.body)
				}
			}
		})
	}
}
