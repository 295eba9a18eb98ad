package main

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

// filterTestItem exercises every kind of field go-bexpr knows.
type filterTestItem struct {
	Name    string
	Port    int
	Weight  float64
	Enabled bool
	Tags    []string
	Ports   []int
	Meta    map[string]string
	Checks  []filterTestCheck
	Nested  struct{ Inner string }
	Hidden  string `bexpr:"-"`
	Renamed string `json:"renamed"`
	Opt     string `json:",omitempty"`
}

type filterTestCheck struct {
	Status string
	Name   string
}

var filterTestItems = []filterTestItem{
	{Name: "web", Port: 8080, Weight: 1.5, Enabled: true, Tags: []string{"v1", "prod"}, Ports: []int{80, 443},
		Meta: map[string]string{"env": "prod", "a b": "x"}, Checks: []filterTestCheck{{"passing", "serf"}, {"critical", "http"}},
		Renamed: "r", Opt: "o"},
	{Name: "api", Port: 9090, Tags: []string{"v2"}, Meta: map[string]string{"env": "dev"},
		Checks: []filterTestCheck{{"passing", "serf"}}},
	{Name: "db"},
}

// runFilter binds expr to filterTestItem and returns the names it keeps.
func runFilter(t *testing.T, expr string) ([]string, error) {
	t.Helper()
	r := httptest.NewRequest("GET", "/v1/x?filter="+url.QueryEscape(expr), nil)
	f, err := bindFilter[filterTestItem](r)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, it := range filterList(f, filterTestItems) {
		names = append(names, it.Name)
	}
	return names, nil
}

func TestFilterEval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`Name == web`, []string{"web"}},
		{`Name == "web"`, []string{"web"}},
		{"Name == `web`", []string{"web"}},
		{`Name != web`, []string{"api", "db"}},
		{`Name contains "e"`, []string{"web"}},
		{`"p" in Name`, []string{"api"}},
		{`Name not contains "e"`, []string{"api", "db"}},
		{`"a" not in Name`, []string{"web", "db"}},
		{`Name matches "^(web|db)$"`, []string{"web", "db"}},
		{`Name not matches "^w"`, []string{"api", "db"}},
		{`Port == 8080`, []string{"web"}},
		{`Port == "0x1f90"`, []string{"web"}}, // strconv base prefixes, as go-bexpr
		{`Port != 8080`, []string{"api", "db"}},
		{`Weight == 1.5`, []string{"web"}},
		{`Weight == 0`, []string{"api", "db"}},
		{`Enabled == true`, []string{"web"}},
		{`Enabled != true`, []string{"api", "db"}},
		{`Tags contains v1`, []string{"web"}},
		{`v2 in Tags`, []string{"api"}},
		{`v1 not in Tags`, []string{"api", "db"}},
		{`Tags is empty`, []string{"db"}},
		{`Tags is not empty`, []string{"web", "api"}},
		{`443 in Ports`, []string{"web"}},
		{`Meta.env == prod`, []string{"web"}},
		{`Meta["env"] == dev`, []string{"api"}},
		{`Meta["a b"] == x`, []string{"web"}},
		{`Meta.missing == x`, []string{}},
		{`Meta.missing != x`, []string{"web", "api", "db"}},
		{`Meta.missing contains x`, []string{}},
		{`Meta.missing not contains x`, []string{"web", "api", "db"}},
		{`Meta.missing matches x`, []string{"web", "api", "db"}}, // go-bexpr: a missing key passes all but ==, in, is not empty
		{`Meta contains env`, []string{"web", "api"}},
		{`env not in Meta`, []string{"db"}},
		{`Meta is empty`, []string{"db"}},
		{`Checks.Status == critical`, []string{"web"}},
		{`Checks.Status == passing`, []string{"web", "api"}},
		{`Checks.Status != passing`, []string{"web"}}, // any element: web's critical check; db has none
		{`Checks is empty`, []string{"db"}},
		{`Nested.Inner == ""`, []string{"web", "api", "db"}},
		{`renamed == r`, []string{"web"}},
		{`Opt == ""`, []string{"api", "db"}},
		{`Name == web or Name == api and Port == 1`, []string{"web"}},
		{`(Name == web or Name == api) and Port == 9090`, []string{"api"}},
		{`not Name == web`, []string{"api", "db"}},
		{`not not Name == web`, []string{"web"}},
		{`not (Name == web or Name == db)`, []string{"api"}},
		{` ( Name == web ) `, []string{"web"}},
		{"Name == web\nor\tName == db", []string{"web", "db"}},
		{`Name == "we\u0062"`, []string{"web"}},
	} {
		got, err := runFilter(t, tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{`Hidden == x`, `Failed to create boolean expression evaluator: Selector "Hidden" is not valid`},
		{`Checks == x`, `Failed to create boolean expression evaluator: Invalid match operator "Equal" for selector "Checks"`},
		{`Checks.Bogus == x`, `Failed to create boolean expression evaluator: Selector "Checks.Bogus" is not valid`},
		{`Nested is empty`, `Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector "Nested"`},
		{`Port == abc`, `Failed to create boolean expression evaluator: Failed to coerce value "abc" for selector "Port": strconv.ParseInt: parsing "abc": invalid syntax`},
		{`Enabled == yes`, `Failed to create boolean expression evaluator: Failed to coerce value "yes" for selector "Enabled": strconv.ParseBool: parsing "yes": invalid syntax`},
		{`Port matches "8"`, `Failed to create boolean expression evaluator: Invalid match operator "Matches" for selector "Port"`},
		{`x in Ports`, `Failed to create boolean expression evaluator: Failed to coerce value "x" for selector "Ports": strconv.ParseInt: parsing "x": invalid syntax`},
	} {
		_, err := runFilter(t, tc.expr)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.expr, err, tc.want)
		}
	}
}

// TestFilterConsulMessages: each expression's error from
// GET /v1/catalog/nodes?filter= on Consul 1.22.7, word for word.
func TestFilterConsulMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{`Meta.rack == r1 and`, `Failed to create boolean expression evaluator: 1:20 (19): no match found, expected: [ \t\r\n]`},
		{`(`, "Failed to create boolean expression evaluator: 1:2 (1): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"},
		{`Node == "abc`, `Failed to create boolean expression evaluator: 1:13 (12): rule "string": Unterminated string literal`},
		{"Node == `abc", `Failed to create boolean expression evaluator: 1:13 (12): rule "string": Unterminated string literal`},
		{`Node matches "("`, "Failed to create boolean expression evaluator: Failed to compile regular expression \"(\": error parsing regexp: missing closing ): `(`"},
		{`Bogus == 1`, `Failed to create boolean expression evaluator: Selector "Bogus" is not valid`},
		{`Meta.rack is empty`, `Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector "Meta.rack"`},
		{`Meta.rack.x == 1`, `Failed to create boolean expression evaluator: Selector "Meta.rack.x" is not valid`},
		{`Node is empty`, `Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector "Node"`},
		{`CreateIndex == abc`, `Failed to create boolean expression evaluator: Selector "CreateIndex" is not valid`},
		{`CreateIndex matches "x"`, `Failed to create boolean expression evaluator: Selector "CreateIndex" is not valid`},
		{`Node ==`, "Failed to create boolean expression evaluator: 1:8 (7): no match found, expected: \"-\", \"0\", \"\\\"\", \"`\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"},
		{`== x`, "Failed to create boolean expression evaluator: 1:1 (0): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"},
		{`Node = x`, `Failed to create boolean expression evaluator: 1:6 (5): no match found, expected: "!=", "==", "contains", "in", "is", "matches", "not" or [ \t\r\n]`},
		{`(Node == x`, `Failed to create boolean expression evaluator: 1:11 (10): rule "grouping": Unmatched parentheses`},
		{`(Node == x))`, `Failed to create boolean expression evaluator: 1:12 (11): no match found, expected: [ \t\r\n] or EOF`},
		{`Node == x)`, `Failed to create boolean expression evaluator: 1:10 (9): no match found, expected: ".", "[", [ \t\r\n], [a-zA-Z0-9_] or EOF`},
		{`Meta["rack" == x`, `Failed to create boolean expression evaluator: 1:13 (12): rule "index": Unclosed index expression`},
		{`Meta[x] == r1`, `Failed to create boolean expression evaluator: 1:6 (5): rule "index": Invalid index`},
		{`Meta[] == r1`, `Failed to create boolean expression evaluator: 1:6 (5): rule "index": Invalid index`},
		{`Node == 1.2.3`, `Failed to create boolean expression evaluator: 1:12 (11): rule "number": Invalid number literal`},
		{`Node == -5x`, `Failed to create boolean expression evaluator: 1:11 (10): rule "number": Invalid number literal`},
		{`Node == 01`, `Failed to create boolean expression evaluator: 1:10 (9): rule "number": Invalid number literal`},
		{`"a" in`, `Failed to create boolean expression evaluator: 1:7 (6): no match found, expected: [ \t\r\n]`},
		{`"a" in 5`, `Failed to create boolean expression evaluator: 1:8 (7): rule "match": Invalid selector`},
		{`x in "a"`, `Failed to create boolean expression evaluator: 1:6 (5): rule "match": Invalid selector`},
		{`not`, `Failed to create boolean expression evaluator: 1:4 (3): no match found, expected: "!=", ".", "==", "[", [ \t\r\n] or [a-zA-Z0-9_]`},
		{`Node == x or`, `Failed to create boolean expression evaluator: 1:13 (12): no match found, expected: [ \t\r\n]`},
		{`not not Node == x and`, `Failed to create boolean expression evaluator: 1:22 (21): no match found, expected: [ \t\r\n]`},
		{`Node == "\q"`, `Failed to create boolean expression evaluator: 1:9 (8): rule "string": invalid syntax`},
		{`Node == "é`, `Failed to create boolean expression evaluator: 1:11 (11): rule "string": Unterminated string literal`},
		{`Node contains`, `Failed to create boolean expression evaluator: 1:14 (13): no match found, expected: [ \t\r\n]`},
		{`Meta is not empty and (Node == x or`, `Failed to create boolean expression evaluator: 1:34 (33): rule "grouping": Unmatched parentheses`},
		{`Node == x and not (Meta.a == b or Meta.c == d`, `Failed to create boolean expression evaluator: 1:46 (45): rule "grouping": Unmatched parentheses`},
		{`   `, "Failed to create boolean expression evaluator: 1:4 (3): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"},
		{`Node`, `Failed to create boolean expression evaluator: 1:5 (4): no match found, expected: "!=", ".", "==", "[", [ \t\r\n] or [a-zA-Z0-9_]`},
		{`TaggedAddresses.lan not matches "["`, "Failed to create boolean expression evaluator: Failed to compile regular expression \"[\": error parsing regexp: missing closing ]: `[`"},
		{`Meta not in "a" and Meta in`, `Failed to create boolean expression evaluator: 1:13 (12): rule "match": Invalid selector`},
	} {
		r := httptest.NewRequest("GET", "/v1/catalog/nodes?filter="+url.QueryEscape(tc.expr), nil)
		_, err := bindFilter[Node](r)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.expr, err, tc.want)
		}
	}
}

// FuzzFilterParse: the parser never panics, and a parsed expression
// that binds evaluates as the JSON-form oracle does (http_filter_eval_test.go).
func FuzzFilterParse(f *testing.F) {
	for _, s := range []string{`Name == web`, `(a == 1 or not b.c["x"] in d) and e is not empty`, `"x" in Tags`,
		`Meta.env matches "^p"`, `((((`, "Name == `a`", `-1.5 in Ports`, `Checks.Status != passing`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		n, err := parseFilter(expr)
		if err != nil {
			return
		}
		rf := &resultFilter{expr: n}
		if rf.bind(reflect.TypeFor[filterTestItem]()) != nil {
			return
		}
		schema := fieldSchema(reflect.TypeFor[filterTestItem](), map[reflect.Type]bool{})
		for _, it := range filterTestItems {
			if got, want := rf.match(it), jsonFormMatch(rf, schema, it); got != want {
				t.Fatalf("%q on %s: %v, the JSON form's %v", expr, it.Name, got, want)
			}
		}
	})
}

// BenchmarkFilterServices: the cost of ?filter on a 10,000-instance
// /v1/catalog/service answer.
func BenchmarkFilterServices(b *testing.B) {
	entries := make([]catalogServiceNode, 10000)
	for i := range entries {
		entries[i] = catalogEntry(&Node{Node: fmt.Sprintf("n%d", i), Address: "10.0.0.1", Meta: map[string]string{"rack": fmt.Sprintf("r%d", i%10)}},
			&Service{ID: fmt.Sprintf("web-%d", i), Service: "web", Port: 8080 + i%3, Tags: []string{"v1", fmt.Sprintf("t%d", i%7)}})
	}
	r := httptest.NewRequest("GET", "/v1/catalog/service/web?filter="+url.QueryEscape(`NodeMeta.rack == r3 and ServiceTags contains t2`), nil)
	f, err := bindFilter[catalogServiceNode](r)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if n := len(filterList(f, entries)); n == 0 {
			b.Fatal("nothing matched")
		}
	}
}
