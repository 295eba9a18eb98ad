// acl_rules.go: the ACL rules language, parsed: a policy's Rules text
// (HCL, or its JSON form) → aclRules, the list of rules the authorizer
// (acl_authorizer.go) compiles.
//
// The language is the subset of HCL that Consul's rules use (Consul's ACL
// rules reference, developer.hashicorp.com/consul/docs/security/acl/acl-rules):
//
//	key_prefix "app/" { policy = "write" }      segmented: a quoted name, a block
//	service "web" { policy = "read" intentions = "write" }
//	operator = "read"                            scalar: one per policy
//	# comments, // comments and /* block comments */
//
// and the same as JSON: {"key_prefix": {"app/": {"policy": "write"}},
// "operator": "read"} (a resource's value may also be a list of such
// objects, as HCL's JSON form allows). The parser is strict where HCL is
// lax: an unknown resource, a block without its name, an attribute that
// is not a string, or JSON that does not end where it should is refused,
// where Consul's HCL decoder silently drops it. Errors carry Consul's
// wording: `At 1:28: …` positions (line:column, 1-based) for syntax,
// `The argument "operator" at 2:1 was already set…` for a repeated
// scalar, and Consul's `Invalid key_prefix policy: &acl.KeyRule{…}` for a
// policy that is not read, write, list (key rules only) or deny. The
// caller wraps syntax errors as Consul's "Failed to parse ACL rules: ".
//
// Concurrency: pure functions over their input.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// aclResource is what a rule governs.
type aclResource int

const (
	aclResKey aclResource = iota
	aclResService
	aclResNode
	aclResSession
	aclResAgent
	aclResEvent
	aclResQuery
	aclResIntention // derived from service rules' intentions
	// the scalar resources: one level for the whole datacenter
	aclResACL
	aclResOperator
	aclResKeyring
	aclResMesh
	aclResPeering
	aclResCount
)

// aclResourceNames are the names Consul's rules and messages use.
var aclResourceNames = [aclResCount]string{"key", "service", "node", "session", "agent", "event", "query",
	"intention", "acl", "operator", "keyring", "mesh", "peering"}

func (r aclResource) String() string { return aclResourceNames[r] }

func (r aclResource) scalar() bool { return r >= aclResACL }

// aclAccess is an access level, ordered by precedence when policies merge
// (Consul's takesPrecedenceOver: deny over write over list over read).
type aclAccess int

const (
	aclUnset aclAccess = iota // no rule says
	aclRead
	aclList
	aclWrite
	aclDeny
)

var aclAccessNames = map[aclAccess]string{aclRead: "read", aclList: "list", aclWrite: "write", aclDeny: "deny"}

func (a aclAccess) String() string { return aclAccessNames[a] }

func parseACLAccess(s string) (aclAccess, bool) {
	for a, n := range aclAccessNames {
		if n == s {
			return a, true
		}
	}
	return aclUnset, false
}

// aclRule is one rule: a segmented resource's name (exact, or a prefix)
// with its level, or a scalar resource's level.
type aclRule struct {
	Resource   aclResource
	Name       string
	Prefix     bool
	Access     aclAccess
	Intentions aclAccess // service rules: the intentions level (aclUnset: derived)
}

// aclRules is a parsed policy.
type aclRules []aclRule

// aclSyntaxError is a rules text that does not parse; Consul answers it
// as "Failed to parse ACL rules: <it>".
type aclSyntaxError struct{ msg string }

func (e *aclSyntaxError) Error() string { return e.msg }

// aclBlockKinds maps each segmented resource keyword to its resource and
// whether it names a prefix; the Go type and key field name are Consul's,
// for its validation messages.
var aclBlockKinds = map[string]struct {
	res      aclResource
	prefix   bool
	typeName string
	keyField string
}{
	"key":            {aclResKey, false, "KeyRule", "Prefix"},
	"key_prefix":     {aclResKey, true, "KeyRule", "Prefix"},
	"service":        {aclResService, false, "ServiceRule", "Name"},
	"service_prefix": {aclResService, true, "ServiceRule", "Name"},
	"node":           {aclResNode, false, "NodeRule", "Name"},
	"node_prefix":    {aclResNode, true, "NodeRule", "Name"},
	"session":        {aclResSession, false, "SessionRule", "Node"},
	"session_prefix": {aclResSession, true, "SessionRule", "Node"},
	"agent":          {aclResAgent, false, "AgentRule", "Node"},
	"agent_prefix":   {aclResAgent, true, "AgentRule", "Node"},
	"event":          {aclResEvent, false, "EventRule", "Event"},
	"event_prefix":   {aclResEvent, true, "EventRule", "Event"},
	"query":          {aclResQuery, false, "PreparedQueryRule", "Prefix"},
	"query_prefix":   {aclResQuery, true, "PreparedQueryRule", "Prefix"},
	// Deprecated in Consul, decoded and dropped by its validation.
	"identity":        {aclResCount, false, "", ""},
	"identity_prefix": {aclResCount, true, "", ""},
}

var aclScalarKinds = map[string]aclResource{"acl": aclResACL, "operator": aclResOperator, "keyring": aclResKeyring,
	"mesh": aclResMesh, "peering": aclResPeering}

// aclBlock is one block as written, before validation.
type aclBlock struct {
	kind       string
	name       string
	attrs      map[string]string
	policySeen bool
}

// parseACLRules parses and validates a policy's rules.
func parseACLRules(text string) (aclRules, error) {
	var blocks []aclBlock
	scalars := map[string]string{}
	var err error
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") {
		blocks, scalars, err = parseACLRulesJSON(text)
	} else {
		blocks, scalars, err = parseACLRulesHCL(text)
	}
	if err != nil {
		return nil, err
	}
	var rules aclRules
	// Consul validates scalars first (acl), then the blocks by kind, in
	// its struct's order.
	if v, ok := scalars["acl"]; ok && v != "" {
		if _, valid := parseACLAccess(v); !valid || v == "list" {
			return nil, fmt.Errorf("Invalid acl policy: %q", v)
		}
	}
	for _, kind := range []string{"agent", "agent_prefix", "key", "key_prefix", "node", "node_prefix", "service",
		"service_prefix", "session", "session_prefix", "event", "event_prefix", "query", "query_prefix"} {
		k := aclBlockKinds[kind]
		for _, b := range blocks {
			if b.kind != kind {
				continue
			}
			access, valid := parseACLAccess(b.attrs["policy"])
			if !valid || access == aclList && k.res != aclResKey {
				return nil, fmt.Errorf("Invalid %s policy: %s", kind, b.consulRepr())
			}
			r := aclRule{Resource: k.res, Name: b.name, Prefix: k.prefix, Access: access}
			if k.res == aclResService {
				if v := b.attrs["intentions"]; v != "" {
					ia, ok := parseACLAccess(v)
					if !ok || ia == aclList {
						return nil, fmt.Errorf("Invalid %s intentions policy: %s", kind, b.consulRepr())
					}
					r.Intentions = ia
				}
			}
			rules = append(rules, r)
		}
	}
	for _, kind := range []string{"keyring", "operator", "mesh", "peering", "acl"} {
		v, ok := scalars[kind]
		if !ok || v == "" {
			continue
		}
		access, valid := parseACLAccess(v)
		if !valid || access == aclList {
			return nil, fmt.Errorf("Invalid %s policy: %q", kind, v)
		}
		rules = append(rules, aclRule{Resource: aclScalarKinds[kind], Access: access})
	}
	return rules, nil
}

// consulRepr is the block as Consul's validation error prints it (Go's
// %#v of its rule struct).
func (b aclBlock) consulRepr() string {
	k := aclBlockKinds[b.kind]
	s := fmt.Sprintf("&acl.%s{%s:%q, Policy:%q", k.typeName, k.keyField, b.name, b.attrs["policy"])
	switch k.typeName {
	case "ServiceRule":
		s += fmt.Sprintf(", Intentions:%q, EnterpriseRule:acl.EnterpriseRule{}", b.attrs["intentions"])
	case "KeyRule", "NodeRule":
		s += ", EnterpriseRule:acl.EnterpriseRule{}"
	}
	return s + "}"
}

// aclBlockAttrs are the attributes a block may hold.
var aclBlockAttrs = map[string]bool{"policy": true, "intentions": true}

// --- HCL ---

type hclTokKind int

const (
	hclEOF hclTokKind = iota
	hclIdent
	hclString
	hclAssign
	hclLBrace
	hclRBrace
	hclLBrack
	hclRBrack
	hclComma
)

var hclTokNames = [...]string{"EOF", "IDENT", "STRING", "ASSIGN", "LBRACE", "RBRACE", "LBRACK", "RBRACK", "COMMA"}

type hclTok struct {
	kind      hclTokKind
	text      string // an identifier, or a string's value
	line, col int
}

func (t hclTok) pos() string { return fmt.Sprintf("%d:%d", t.line, t.col) }

// hclLexer turns rules text into tokens.
type hclLexer struct {
	src       string
	off       int
	line, col int
}

func (l *hclLexer) errorf(line, col int, format string, args ...any) error {
	return &aclSyntaxError{fmt.Sprintf("At %d:%d: ", line, col) + fmt.Sprintf(format, args...)}
}

func (l *hclLexer) advance(n int) {
	for _, c := range l.src[l.off : l.off+n] {
		if c == '\n' {
			l.line, l.col = l.line+1, 1
		} else {
			l.col++
		}
	}
	l.off += n
}

func isHCLIdentByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (l *hclLexer) next() (hclTok, error) {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#' || strings.HasPrefix(l.src[l.off:], "//"):
			n := strings.IndexByte(l.src[l.off:], '\n')
			if n < 0 {
				n = len(l.src) - l.off
			}
			l.advance(n)
		case strings.HasPrefix(l.src[l.off:], "/*"):
			n := strings.Index(l.src[l.off+2:], "*/")
			if n < 0 {
				return hclTok{}, l.errorf(l.line, l.col, "comment not terminated")
			}
			l.advance(n + 4)
		case c == '/':
			return hclTok{}, l.errorf(l.line, l.col+1, "expected '/' for comment")
		default:
			return l.token()
		}
	}
	return hclTok{kind: hclEOF, line: l.line, col: l.col + 1}, nil // HCL's EOF is one past the end
}

func (l *hclLexer) token() (hclTok, error) {
	t := hclTok{line: l.line, col: l.col}
	c := l.src[l.off]
	single := map[byte]hclTokKind{'=': hclAssign, '{': hclLBrace, '}': hclRBrace, '[': hclLBrack, ']': hclRBrack, ',': hclComma}
	if k, ok := single[c]; ok {
		t.kind = k
		l.advance(1)
		return t, nil
	}
	if c == '"' {
		var b strings.Builder
		i := l.off + 1
		for {
			if i >= len(l.src) || l.src[i] == '\n' {
				return t, l.errorf(t.line, t.col, "literal not terminated")
			}
			ch := l.src[i]
			if ch == '"' {
				break
			}
			if ch == '\\' && i+1 < len(l.src) {
				esc := map[byte]byte{'"': '"', '\\': '\\', 'n': '\n', 't': '\t', 'r': '\r'}
				e, ok := esc[l.src[i+1]]
				if !ok {
					return t, l.errorf(t.line, t.col, "unknown escape sequence \\%c", l.src[i+1])
				}
				b.WriteByte(e)
				i += 2
				continue
			}
			b.WriteByte(ch)
			i++
		}
		t.kind, t.text = hclString, b.String()
		if !utf8.ValidString(t.text) {
			return t, l.errorf(t.line, t.col, "invalid UTF-8 in a string")
		}
		l.advance(i + 1 - l.off)
		return t, nil
	}
	if isHCLIdentByte(c) {
		n := 1
		for l.off+n < len(l.src) && isHCLIdentByte(l.src[l.off+n]) {
			n++
		}
		t.kind, t.text = hclIdent, l.src[l.off:l.off+n]
		l.advance(n)
		return t, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return t, l.errorf(t.line, t.col, "illegal char %q", r)
}

// hclParser is a one-token-lookahead parser over hclLexer.
type hclParser struct {
	lex hclLexer
	tok hclTok
}

func (p *hclParser) advance() error {
	t, err := p.lex.next()
	p.tok = t
	return err
}

func (p *hclParser) errorf(t hclTok, format string, args ...any) error {
	return p.lex.errorf(t.line, t.col, format, args...)
}

func parseACLRulesHCL(text string) ([]aclBlock, map[string]string, error) {
	p := &hclParser{lex: hclLexer{src: text, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	var blocks []aclBlock
	scalars := map[string]string{}
	for p.tok.kind != hclEOF {
		head := p.tok
		if head.kind != hclIdent {
			return nil, nil, p.errorf(head, "expected: IDENT | STRING | ASSIGN | LBRACE got: %s", hclTokNames[head.kind])
		}
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		if _, ok := aclScalarKinds[head.text]; ok {
			v, err := p.assignment(head)
			if err != nil {
				return nil, nil, err
			}
			if _, dup := scalars[head.text]; dup {
				return nil, nil, &aclSyntaxError{fmt.Sprintf("The argument %q at %s was already set. Each argument can only be defined once", head.text, head.pos())}
			}
			scalars[head.text] = v
			continue
		}
		if _, ok := aclBlockKinds[head.text]; !ok {
			return nil, nil, p.errorf(head, "unknown rule %q: not one of key, key_prefix, service, service_prefix, node, node_prefix, session, session_prefix, agent, agent_prefix, event, event_prefix, query, query_prefix, acl, operator, keyring, mesh, peering", head.text)
		}
		if p.tok.kind != hclString {
			if p.tok.kind == hclLBrace {
				return nil, nil, p.errorf(p.tok, "%s needs a quoted name: %s \"<name>\" { policy = \"read\" }", head.text, head.text)
			}
			return nil, nil, p.errorf(p.tok, "nested object expected: LBRACE got: %s", hclTokNames[p.tok.kind])
		}
		b := aclBlock{kind: head.text, name: p.tok.text, attrs: map[string]string{}}
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		if p.tok.kind != hclLBrace {
			return nil, nil, p.errorf(p.tok, "nested object expected: LBRACE got: %s", hclTokNames[p.tok.kind])
		}
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		for p.tok.kind != hclRBrace {
			attr := p.tok
			switch attr.kind {
			case hclEOF:
				return nil, nil, p.errorf(attr, "object expected closing RBRACE got: EOF")
			case hclIdent, hclString:
			default:
				return nil, nil, p.errorf(attr, "expected: IDENT | STRING got: %s", hclTokNames[attr.kind])
			}
			if !aclBlockAttrs[attr.text] {
				return nil, nil, p.errorf(attr, "%s %q: unknown attribute %q (a rule has policy, and a service rule intentions)", head.text, b.name, attr.text)
			}
			if err := p.advance(); err != nil {
				return nil, nil, err
			}
			v, err := p.assignment(attr)
			if err != nil {
				return nil, nil, err
			}
			if _, dup := b.attrs[attr.text]; dup {
				return nil, nil, &aclSyntaxError{fmt.Sprintf("The argument %q at %s was already set. Each argument can only be defined once", attr.text, attr.pos())}
			}
			b.attrs[attr.text] = v
			if p.tok.kind == hclComma {
				if err := p.advance(); err != nil {
					return nil, nil, err
				}
			}
		}
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		if b.kind != "identity" && b.kind != "identity_prefix" {
			blocks = append(blocks, b)
		}
	}
	return blocks, scalars, nil
}

// assignment reads `= "value"` after the name tok.
func (p *hclParser) assignment(name hclTok) (string, error) {
	if p.tok.kind != hclAssign {
		return "", p.errorf(p.tok, "%s: expected ASSIGN got: %s", name.text, hclTokNames[p.tok.kind])
	}
	if err := p.advance(); err != nil {
		return "", err
	}
	v := p.tok
	switch v.kind {
	case hclString:
	case hclIdent:
		return "", p.errorf(v, "Unknown token: %s IDENT %s", v.pos(), v.text)
	default:
		return "", p.errorf(v, "%s: the value must be a quoted string, got: %s", name.text, hclTokNames[v.kind])
	}
	return v.text, p.advance()
}

// --- JSON ---

func parseACLRulesJSON(text string) ([]aclBlock, map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	var top map[string]json.RawMessage
	jsonErr := func(err error) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		line := 1 + strings.Count(text[:min(int(off), len(text))], "\n")
		col := int(off) - strings.LastIndexByte(text[:min(int(off), len(text))], '\n')
		return &aclSyntaxError{fmt.Sprintf("At %d:%d: %v", line, col, err)}
	}
	if err := dec.Decode(&top); err != nil {
		return nil, nil, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, jsonErr(errors.New("unexpected data after the rules object"))
	}
	var blocks []aclBlock
	scalars := map[string]string{}
	for _, kind := range slices.Sorted(maps.Keys(top)) {
		raw := top[kind]
		if _, ok := aclScalarKinds[kind]; ok {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, nil, &aclSyntaxError{fmt.Sprintf("%s: the value must be a string", kind)}
			}
			scalars[kind] = v
			continue
		}
		if _, ok := aclBlockKinds[kind]; !ok {
			return nil, nil, &aclSyntaxError{fmt.Sprintf("unknown rule %q", kind)}
		}
		// {"name": {...}} or [{"name": {...}}, ...]
		var objs []map[string]map[string]string
		var one map[string]map[string]string
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			if err := json.Unmarshal(raw, &objs); err != nil {
				return nil, nil, &aclSyntaxError{fmt.Sprintf("%s: %v", kind, err)}
			}
		} else {
			if err := json.Unmarshal(raw, &one); err != nil {
				return nil, nil, &aclSyntaxError{fmt.Sprintf("%s: %v", kind, err)}
			}
			objs = append(objs, one)
		}
		for _, o := range objs {
			for _, name := range slices.Sorted(maps.Keys(o)) {
				b := aclBlock{kind: kind, name: name, attrs: map[string]string{}}
				for k, v := range o[name] {
					if !aclBlockAttrs[k] {
						return nil, nil, &aclSyntaxError{fmt.Sprintf("%s %q: unknown attribute %q", kind, name, k)}
					}
					b.attrs[k] = v
				}
				if kind != "identity" && kind != "identity_prefix" {
					blocks = append(blocks, b)
				}
			}
		}
	}
	return blocks, scalars, nil
}
