// http_filter_parse.go: the parser of ?filter expressions, Consul's
// filtering language (https://developer.hashicorp.com/consul/api-docs/features/filtering),
// as go-bexpr v0.1.2 (the version Consul 1.22 vendors) parses it.
//
// go-bexpr's grammar is a PEG (grammar.peg) compiled by pigeon. Consul
// answers a bad expression with pigeon's error text, e.g.
//
//	1:20 (19): no match found, expected: [ \t\r\n]
//	1:13 (12): rule "string": Unterminated string literal
//
// so this parser follows the PEG rule by rule, with pigeon's error
// reporting: every terminal that fails records what it wanted at its
// offset, and only the farthest offset's wants are kept ("expected: …",
// sorted, "!." shown as EOF); inside a negative lookahead the sense is
// inverted (a terminal that matches is recorded as "!want"). Semantic
// predicates (&{ return false, errors.New(…) }) add an error under the
// innermost rule's display name; any such error fails the parse, even one
// raised in an alternative that was abandoned. Positions are pigeon's
// line:col (offset), col counted in runes.
//
// PEG without memoization backtracks exponentially on nested parentheses
// (each level tries three alternatives); the expression rules here are
// memoized by offset (packrat), which changes no result: those rules never
// run inside a lookahead, and a replayed failure would only re-record wants
// already recorded.
//
// Data flow: the ?filter string → parseFilter → an AST of filterNode
// (http_filter.go checks it against the result type and evaluates it).
// Concurrency: none; a parser lives for one call.
package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// filterOp is a match operator; the names are go-bexpr's, which Consul
// prints in "Invalid match operator" errors.
type filterOp int

const (
	opEqual filterOp = iota
	opNotEqual
	opIn // also `contains`: the grammar maps both to In
	opNotIn
	opIsEmpty
	opIsNotEmpty
	opMatches
	opNotMatches
)

func (op filterOp) String() string {
	return [...]string{"Equal", "Not Equal", "In", "Not In", "Is Empty", "Is Not Empty", "Matches", "Not Matches"}[op]
}

// filterNode is an expression: *filterBinary, *filterNot or *filterMatch.
type filterNode interface{}

type filterBinary struct {
	or          bool // else and
	left, right filterNode
}

type filterNot struct{ operand filterNode }

// filterMatch is `selector op value` (or `value in selector`). value is
// the literal's text (a bare word or selector as written, joined by dots);
// hasValue is false for is empty / is not empty.
type filterMatch struct {
	selector []string
	op       filterOp
	value    string
	hasValue bool
}

// parseFilter parses an expression; the error is go-bexpr's text.
func parseFilter(src string) (filterNode, error) {
	p := &filterParser{src: src, memo: map[memoKey]memoEntry{}}
	p.read()
	n, ok := p.rule("Input", p.input)
	if len(p.errs) > 0 {
		return nil, p.errList()
	}
	if !ok {
		return nil, fmt.Errorf("%s: no match found, expected: %s", p.posText(p.maxFail), p.expectedText())
	}
	return n, nil
}

type memoKey struct {
	rule int
	pos  int
}

type memoEntry struct {
	node filterNode
	ok   bool
	end  int
}

type filterParser struct {
	src      string
	pos, w   int  // the current rune's offset and width (0 at the end)
	rn       rune // the current rune
	rules    []string
	maxFail  int
	expected []string
	invert   bool // inside a negative lookahead
	errs     []string
	memo     map[memoKey]memoEntry
}

// read advances to the next rune, as pigeon's read (an invalid UTF-8
// byte is an error).
func (p *filterParser) read() {
	p.pos += p.w
	p.rn, p.w = utf8.DecodeRuneInString(p.src[p.pos:])
	if p.rn == utf8.RuneError && p.w == 1 {
		p.addErr(p.pos, "invalid encoding")
	}
}

// restore goes back to offset pos.
func (p *filterParser) restore(pos int) {
	p.pos = pos
	p.rn, p.w = utf8.DecodeRuneInString(p.src[pos:])
}

// posText is pigeon's "line:col (offset)": col counts runes from 1, and
// a newline starts its new line at col 0.
func (p *filterParser) posText(off int) string {
	line, col := 1, 1
	for i := 0; i < off; {
		_, w := utf8.DecodeRuneInString(p.src[i:])
		i += w
		col++
		if i < len(p.src) && p.src[i] == '\n' {
			line, col = line+1, 0
		}
	}
	return fmt.Sprintf("%d:%d (%d)", line, col, off)
}

func (p *filterParser) addErr(off int, msg string) {
	prefix := p.posText(off)
	if len(p.rules) > 0 {
		prefix += ": rule " + p.rules[len(p.rules)-1]
	}
	p.errs = append(p.errs, prefix+": "+msg)
}

// errList is pigeon's errList: deduplicated, one per line.
func (p *filterParser) errList() error {
	seen := map[string]bool{}
	var out []string
	for _, e := range p.errs {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return fmt.Errorf("%s", strings.Join(out, "\n"))
}

// failAt records a terminal's outcome at off, as pigeon's failAt.
func (p *filterParser) failAt(matched bool, off int, want string) {
	if matched != p.invert || off < p.maxFail {
		return
	}
	if off > p.maxFail {
		p.maxFail, p.expected = off, p.expected[:0]
	}
	if p.invert {
		want = "!" + want
	}
	p.expected = append(p.expected, want)
}

func (p *filterParser) expectedText() string {
	set := map[string]bool{}
	for _, e := range p.expected {
		set[e] = true
	}
	eof := set["!."]
	delete(set, "!.")
	var list []string
	for e := range set {
		list = append(list, e)
	}
	sort.Strings(list)
	if eof {
		list = append(list, "EOF")
	}
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}

// rule runs a rule under its name (a display name carries its quotes, as
// pigeon prints it).
func (p *filterParser) rule(name string, f func() (filterNode, bool)) (filterNode, bool) {
	p.rules = append(p.rules, name)
	n, ok := f()
	p.rules = p.rules[:len(p.rules)-1]
	return n, ok
}

// memoRule is rule, memoized by offset (see the file comment).
func (p *filterParser) memoRule(id int, name string, f func() (filterNode, bool)) (filterNode, bool) {
	key := memoKey{id, p.pos}
	if e, ok := p.memo[key]; ok {
		p.restore(e.end)
		return e.node, e.ok
	}
	n, ok := p.rule(name, f)
	p.memo[key] = memoEntry{n, ok, p.pos}
	return n, ok
}

// seq runs steps in order; if one fails it goes back to where it began.
func (p *filterParser) seq(steps ...func() bool) bool {
	start := p.pos
	for _, s := range steps {
		if !s() {
			p.restore(start)
			return false
		}
	}
	return true
}

func (p *filterParser) lit(s string) bool {
	start := p.pos
	want := strconv.Quote(s)
	for _, r := range s {
		if p.rn != r || p.w == 0 {
			p.failAt(false, start, want)
			p.restore(start)
			return false
		}
		p.read()
	}
	p.failAt(true, start, want)
	return true
}

// class matches one rune of a character class; name is the class as the
// grammar writes it.
func (p *filterParser) class(name string, in func(rune) bool) bool {
	start := p.pos
	if p.w == 0 || !in(p.rn) {
		p.failAt(false, start, name)
		return false
	}
	p.read()
	p.failAt(true, start, name)
	return true
}

func (p *filterParser) any() bool {
	start := p.pos
	if p.w == 0 {
		p.failAt(false, start, ".")
		return false
	}
	p.read()
	p.failAt(true, start, ".")
	return true
}

// not is a negative lookahead !e.
func (p *filterParser) not(e func() bool) bool {
	start := p.pos
	p.invert = !p.invert
	ok := e()
	p.invert = !p.invert
	p.restore(start)
	return !ok
}

// and is a positive lookahead &e.
func (p *filterParser) and(e func() bool) bool {
	start := p.pos
	ok := e()
	p.restore(start)
	return ok
}

// fail is a predicate &{ return false, errors.New(msg) }.
func (p *filterParser) fail(msg string) func() bool {
	return func() bool {
		p.addErr(p.pos, msg)
		return false
	}
}

func opt(e func() bool) func() bool { return func() bool { e(); return true } }

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }
func isAlpha(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// ws is _ "whitespace" <- [ \t\r\n]+
func (p *filterParser) ws() bool {
	_, ok := p.rule(`"whitespace"`, func() (filterNode, bool) {
		if !p.class(`[ \t\r\n]`, isSpace) {
			return nil, false
		}
		for p.class(`[ \t\r\n]`, isSpace) {
		}
		return nil, true
	})
	return ok
}

// eof is EOF <- !.
func (p *filterParser) eof() bool {
	_, ok := p.rule("EOF", func() (filterNode, bool) { return nil, p.not(p.any) })
	return ok
}

// node adapts a rule returning a node to a step, keeping its result.
func node(f func() (filterNode, bool), into *filterNode) func() bool {
	return func() bool {
		n, ok := f()
		if ok {
			*into = n
		}
		return ok
	}
}

// Input <- _? "(" _? OrExpression _? ")" _? EOF / _? OrExpression _? EOF
func (p *filterParser) input() (filterNode, bool) {
	var n filterNode
	if p.seq(opt(p.ws), func() bool { return p.lit("(") }, opt(p.ws), node(p.orExpr, &n), opt(p.ws),
		func() bool { return p.lit(")") }, opt(p.ws), p.eof) {
		return n, true
	}
	ok := p.seq(opt(p.ws), node(p.orExpr, &n), opt(p.ws), p.eof)
	return n, ok
}

// OrExpression <- AndExpression _ "or" _ OrExpression / AndExpression
func (p *filterParser) orExpr() (filterNode, bool) {
	return p.memoRule(0, "OrExpression", func() (filterNode, bool) {
		var l, r filterNode
		if p.seq(node(p.andExpr, &l), p.ws, func() bool { return p.lit("or") }, p.ws, node(p.orExpr, &r)) {
			return &filterBinary{or: true, left: l, right: r}, true
		}
		return p.andExpr()
	})
}

// AndExpression <- NotExpression _ "and" _ AndExpression / NotExpression
func (p *filterParser) andExpr() (filterNode, bool) {
	return p.memoRule(1, "AndExpression", func() (filterNode, bool) {
		var l, r filterNode
		if p.seq(node(p.notExpr, &l), p.ws, func() bool { return p.lit("and") }, p.ws, node(p.andExpr, &r)) {
			return &filterBinary{left: l, right: r}, true
		}
		return p.notExpr()
	})
}

// NotExpression <- "not" _ NotExpression / ParenthesizedExpression
// (not not x is x, as go-bexpr folds it).
func (p *filterParser) notExpr() (filterNode, bool) {
	return p.memoRule(2, "NotExpression", func() (filterNode, bool) {
		var x filterNode
		if p.seq(func() bool { return p.lit("not") }, p.ws, node(p.notExpr, &x)) {
			if inner, ok := x.(*filterNot); ok {
				return inner.operand, true
			}
			return &filterNot{operand: x}, true
		}
		return p.parenExpr()
	})
}

// ParenthesizedExpression "grouping" <- "(" _? OrExpression _? ")" / MatchExpression
//
//	/ "(" _? OrExpression _? !")" &{Unmatched parentheses}
func (p *filterParser) parenExpr() (filterNode, bool) {
	return p.memoRule(3, `"grouping"`, func() (filterNode, bool) {
		var x filterNode
		open := func() bool { return p.lit("(") }
		closing := func() bool { return p.lit(")") }
		if p.seq(open, opt(p.ws), node(p.orExpr, &x), opt(p.ws), closing) {
			return x, true
		}
		if x, ok := p.matchExpr(); ok {
			return x, true
		}
		p.seq(open, opt(p.ws), node(p.orExpr, &x), opt(p.ws), func() bool { return p.not(closing) },
			p.fail("Unmatched parentheses"))
		return nil, false
	})
}

// MatchExpression "match" <- MatchSelectorOpValue / MatchSelectorOp / MatchValueOpSelector
func (p *filterParser) matchExpr() (filterNode, bool) {
	return p.memoRule(4, `"match"`, func() (filterNode, bool) {
		if m, ok := p.rule(`"match"`, p.selectorOpValue); ok {
			return m, true
		}
		if m, ok := p.rule(`"match"`, p.selectorOp); ok {
			return m, true
		}
		return p.rule(`"match"`, p.valueOpSelector)
	})
}

// operator tries the operator rules in order; each is `rule <- tokens`.
func (p *filterParser) operator(rules []int, op *filterOp) func() bool {
	return func() bool {
		for _, o := range rules {
			if _, ok := p.rule(opRules[o].name, func() (filterNode, bool) { return nil, p.seq(opRules[o].steps(p)...) }); ok {
				*op = opRules[o].op
				return true
			}
		}
		return false
	}
}

// opRule is one of the grammar's operator rules: its name, its tokens,
// and the operator it yields (MatchContains yields In).
type opRule struct {
	name  string
	op    filterOp
	steps func(p *filterParser) []func() bool
}

// words is `_ "w1" _ "w2" … _` (trailing whitespace if trail).
func words(trail bool, ws ...string) func(p *filterParser) []func() bool {
	return func(p *filterParser) []func() bool {
		var steps []func() bool
		for _, w := range ws {
			steps = append(steps, p.ws, func() bool { return p.lit(w) })
		}
		if trail {
			steps = append(steps, p.ws)
		}
		return steps
	}
}

func symbol(s string) func(p *filterParser) []func() bool {
	return func(p *filterParser) []func() bool {
		return []func() bool{opt(p.ws), func() bool { return p.lit(s) }, opt(p.ws)}
	}
}

// The operator rules, in the grammar's alternation order.
const (
	ruleEqual = iota
	ruleNotEqual
	ruleContains
	ruleNotContains
	ruleMatches
	ruleNotMatches
	ruleIsEmpty
	ruleIsNotEmpty
	ruleIn
	ruleNotIn
)

var opRules = [...]opRule{
	ruleEqual:       {"MatchEqual", opEqual, symbol("==")},
	ruleNotEqual:    {"MatchNotEqual", opNotEqual, symbol("!=")},
	ruleContains:    {"MatchContains", opIn, words(true, "contains")},
	ruleNotContains: {"MatchNotContains", opNotIn, words(true, "not", "contains")},
	ruleMatches:     {"MatchMatches", opMatches, words(true, "matches")},
	ruleNotMatches:  {"MatchNotMatches", opNotMatches, words(true, "not", "matches")},
	ruleIsEmpty:     {"MatchIsEmpty", opIsEmpty, words(false, "is", "empty")},
	ruleIsNotEmpty:  {"MatchIsNotEmpty", opIsNotEmpty, words(false, "is", "not", "empty")},
	ruleIn:          {"MatchIn", opIn, words(true, "in")},
	ruleNotIn:       {"MatchNotIn", opNotIn, words(true, "not", "in")},
}

// MatchSelectorOpValue <- Selector (== / != / contains / not contains / matches / not matches) Value
func (p *filterParser) selectorOpValue() (filterNode, bool) {
	m := &filterMatch{hasValue: true}
	ok := p.seq(p.selector(&m.selector),
		p.operator([]int{ruleEqual, ruleNotEqual, ruleContains, ruleNotContains, ruleMatches, ruleNotMatches}, &m.op),
		p.value(&m.value))
	return m, ok
}

// MatchSelectorOp <- Selector (is empty / is not empty)
func (p *filterParser) selectorOp() (filterNode, bool) {
	m := &filterMatch{}
	ok := p.seq(p.selector(&m.selector), p.operator([]int{ruleIsEmpty, ruleIsNotEmpty}, &m.op))
	return m, ok
}

// MatchValueOpSelector <- Value (in / not in) Selector / Value (in / not in) !Selector &{Invalid selector}
func (p *filterParser) valueOpSelector() (filterNode, bool) {
	m := &filterMatch{hasValue: true}
	ops := []int{ruleIn, ruleNotIn}
	if p.seq(p.value(&m.value), p.operator(ops, &m.op), p.selector(&m.selector)) {
		return m, true
	}
	var skip []string
	p.seq(p.value(new(string)), p.operator(ops, new(filterOp)),
		func() bool { return p.not(p.selector(&skip)) }, p.fail("Invalid selector"))
	return nil, false
}

// Selector "selector" <- Identifier SelectorOrIndex*
func (p *filterParser) selector(into *[]string) func() bool {
	return func() bool {
		var sel []string
		_, ok := p.rule(`"selector"`, func() (filterNode, bool) {
			first, ok := p.identifier()
			if !ok {
				return nil, false
			}
			sel = []string{first}
			for {
				part, ok := p.selectorOrIndex()
				if !ok {
					return nil, true
				}
				sel = append(sel, part)
			}
		})
		if ok {
			*into = sel
		}
		return ok
	}
}

// Identifier <- [a-zA-Z] [a-zA-Z0-9_]*
func (p *filterParser) identifier() (string, bool) {
	start := p.pos
	_, ok := p.rule("Identifier", func() (filterNode, bool) {
		if !p.class("[a-zA-Z]", isAlpha) {
			return nil, false
		}
		for p.class("[a-zA-Z0-9_]", func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '_' }) {
		}
		return nil, true
	})
	return p.src[start:p.pos], ok
}

// SelectorOrIndex <- "." Identifier / IndexExpression
func (p *filterParser) selectorOrIndex() (string, bool) {
	var part string
	_, ok := p.rule("SelectorOrIndex", func() (filterNode, bool) {
		start := p.pos
		if p.lit(".") {
			if id, ok := p.identifier(); ok {
				part = id
				return nil, true
			}
			p.restore(start)
		}
		s, ok := p.indexExpr()
		part = s
		return nil, ok
	})
	return part, ok
}

// IndexExpression "index" <- "[" _? StringLiteral _? "]" / "[" _? !StringLiteral &{Invalid index}
//
//	/ "[" _? StringLiteral _? !"]" &{Unclosed index expression}
func (p *filterParser) indexExpr() (string, bool) {
	var key string
	_, ok := p.rule(`"index"`, func() (filterNode, bool) {
		open := func() bool { return p.lit("[") }
		closing := func() bool { return p.lit("]") }
		str := func() bool { s, ok := p.stringLit(); key = s; return ok }
		if p.seq(open, opt(p.ws), str, opt(p.ws), closing) {
			return nil, true
		}
		p.seq(open, opt(p.ws), func() bool { return p.not(str) }, p.fail("Invalid index"))
		p.seq(open, opt(p.ws), str, opt(p.ws), func() bool { return p.not(closing) }, p.fail("Unclosed index expression"))
		return nil, false
	})
	return key, ok
}

// Value "value" <- Selector / NumberLiteral / StringLiteral
func (p *filterParser) value(into *string) func() bool {
	return func() bool {
		_, ok := p.rule(`"value"`, func() (filterNode, bool) {
			var sel []string
			if p.selector(&sel)() {
				*into = strings.Join(sel, ".")
				return nil, true
			}
			if s, ok := p.numberLit(); ok {
				*into = s
				return nil, true
			}
			s, ok := p.stringLit()
			*into = s
			return nil, ok
		})
		return ok
	}
}

// NumberLiteral "number" <- "-"? IntegerOrFloat &AfterNumbers
//
//	/ "-"? IntegerOrFloat !AfterNumbers &{Invalid number literal}
//
// AfterNumbers <- &(_ / EOF / ")")
func (p *filterParser) numberLit() (string, bool) {
	start := p.pos
	_, ok := p.rule(`"number"`, func() (filterNode, bool) {
		minus := opt(func() bool { return p.lit("-") })
		after := func() bool {
			_, ok := p.rule("AfterNumbers", func() (filterNode, bool) {
				return nil, p.and(func() bool { return p.ws() || p.eof() || p.lit(")") })
			})
			return ok
		}
		if p.seq(minus, p.integerOrFloat, after) {
			return nil, true
		}
		p.seq(minus, p.integerOrFloat, func() bool { return p.not(after) }, p.fail("Invalid number literal"))
		return nil, false
	})
	return p.src[start:p.pos], ok
}

// IntegerOrFloat <- ("0" / [1-9][0-9]*) ("." [0-9]+)?
func (p *filterParser) integerOrFloat() bool {
	_, ok := p.rule("IntegerOrFloat", func() (filterNode, bool) {
		digits := func() bool {
			for p.class("[0-9]", isDigit) {
			}
			return true
		}
		if !p.lit("0") && !p.seq(func() bool { return p.class("[1-9]", func(r rune) bool { return r >= '1' && r <= '9' }) }, digits) {
			return nil, false
		}
		p.seq(func() bool { return p.lit(".") }, func() bool { return p.class("[0-9]", isDigit) }, digits)
		return nil, true
	})
	return ok
}

// StringLiteral "string" <- ('`' RawStringChar* '`' / '"' DoubleStringChar* '"') {strconv.Unquote}
//
//	/ ('`' RawStringChar* / '"' DoubleStringChar*) EOF &{Unterminated string literal}
//
// RawStringChar <- !'`' . and DoubleStringChar <- !'"' .
func (p *filterParser) stringLit() (string, bool) {
	var out string
	_, ok := p.rule(`"string"`, func() (filterNode, bool) {
		start := p.pos
		body := func(q string, name string) func() bool {
			return func() bool {
				if !p.lit(q) {
					return false
				}
				for {
					if _, ok := p.rule(name, func() (filterNode, bool) {
						return nil, p.seq(func() bool { return p.not(func() bool { return p.lit(q) }) }, p.any)
					}); !ok {
						return true
					}
				}
			}
		}
		raw, dbl := body("`", "RawStringChar"), body(`"`, "DoubleStringChar")
		if p.seq(raw, func() bool { return p.lit("`") }) || p.seq(dbl, func() bool { return p.lit(`"`) }) {
			s, err := strconv.Unquote(p.src[start:p.pos])
			if err != nil {
				p.addErr(start, err.Error())
			}
			out = s
			return nil, true
		}
		p.seq(func() bool { return raw() || dbl() }, p.eof, p.fail("Unterminated string literal"))
		return nil, false
	})
	return out, ok
}
