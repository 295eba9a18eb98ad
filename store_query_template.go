// store_query_template.go: prepared query templates (Consul's
// prepared_query.CompiledTemplate), pure functions of a stored query.
//
// A template (Template.Type "name_prefix_match") answers every name that
// starts with its own name (store_query.go picks the longest such
// template). Each string of its Service block may interpolate, in HIL's
// ${…} syntax as Consul's (https://developer.hashicorp.com/consul/api-docs/query#templates):
//
//	${name.full}     the name the query was executed by
//	${name.prefix}   the template's own name
//	${name.suffix}   the rest of the full name after the prefix
//	${agent.segment} the network segment of the asking agent ("" here)
//	${match(N)}      submatch N of Template.Regexp on the full name ("" if none)
//
// and RemoveEmptyTags drops the tags that rendered empty. Compiling parses
// every string and the regexp once; a template that does not compile, or
// does not render for its own name, is refused when it is written
// (applyPreparedQuery), with Consul's messages for a bad type, regexp or
// variable. Rendering copies the query and fills in the strings of the
// copy, so the stored query is never touched.
//
// Concurrency: none; a compiled template is built and used by one request.
package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// queryTemplate is a compiled template.
type queryTemplate struct {
	query *PreparedQuery
	parts map[string][]templatePart // Service path (".Tags[0]") → the string, parsed
	re    *regexp.Regexp
}

// templatePart is literal text, or one ${…} interpolation: a variable or
// match(N).
type templatePart struct {
	text     string
	variable string // "name.full", …; "" for literal text and for match
	match    int    // the submatch of match(N); -1 when not a match
	column   int    // where the interpolation's expression starts (1-based), for messages
}

// templateVariables are the variables a template may use.
var templateVariables = []string{"name.full", "name.prefix", "name.suffix", "agent.segment"}

var matchCall = regexp.MustCompile(`^match\(\s*([0-9]+)\s*\)$`)

// compileQueryTemplate parses a template's strings and regexp, and renders
// it once for its own name, as Consul's Compile.
func compileQueryTemplate(q *PreparedQuery) (*queryTemplate, error) {
	if q.Template.Type != queryTemplateNamePrefixMatch {
		return nil, fmt.Errorf("Bad Template.Type '%s'", q.Template.Type)
	}
	ct := &queryTemplate{query: q, parts: map[string][]templatePart{}}
	svc := cloneServiceQuery(q.Service)
	err := eachServiceString(&svc, func(path string, s *string) error {
		parts, err := parseTemplateString(*s)
		if err != nil {
			return fmt.Errorf("Bad format '%s' in Service%s: %s", *s, path, err)
		}
		ct.parts[path] = parts
		return nil
	})
	if err != nil {
		return nil, err
	}
	if q.Template.Regexp != "" {
		if ct.re, err = regexp.Compile(q.Template.Regexp); err != nil {
			return nil, fmt.Errorf("Bad Regexp: %s", err)
		}
	}
	if _, err := ct.render(q.Name, ""); err != nil {
		return nil, err
	}
	return ct, nil
}

// parseTemplateString splits a string into literal text and ${…} parts;
// "$${" is a literal "${", as in HIL.
func parseTemplateString(s string) ([]templatePart, error) {
	var parts []templatePart
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("parse error at 1:%d: expected \"}\" but found end of string", len(s)+1)
			}
			expr := strings.TrimSpace(s[i+2 : i+end])
			p := templatePart{match: -1, column: i + 3}
			if m := matchCall.FindStringSubmatch(expr); m != nil {
				n, err := strconv.Atoi(m[1])
				if err != nil {
					return nil, fmt.Errorf("parse error at 1:%d: bad match index %q", i+3, m[1])
				}
				p.match = n
			} else if isTemplateIdent(expr) {
				p.variable = expr
			} else {
				return nil, fmt.Errorf("parse error at 1:%d: unsupported expression %q: want a variable or match(N)", i+3, expr)
			}
			if lit.Len() > 0 {
				parts = append(parts, templatePart{text: lit.String(), match: -1})
				lit.Reset()
			}
			parts = append(parts, p)
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, templatePart{text: lit.String(), match: -1})
	}
	return parts, nil
}

// isTemplateIdent: a HIL variable name (letters, digits, _, -, .).
func isTemplateIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// render is the query for a name: a copy of the template with its strings
// interpolated (Consul's CompiledTemplate.Render).
func (ct *queryTemplate) render(name, segment string) (*PreparedQuery, error) {
	q := *ct.query
	q.Service = cloneServiceQuery(ct.query.Service)
	var matches []string
	if ct.re != nil {
		matches = ct.re.FindStringSubmatch(name)
	}
	vars := map[string]string{
		"name.full":     name,
		"name.prefix":   q.Name,
		"name.suffix":   strings.TrimPrefix(name, q.Name),
		"agent.segment": segment,
	}
	err := eachServiceString(&q.Service, func(path string, s *string) error {
		parts, ok := ct.parts[path]
		if !ok {
			return nil
		}
		var b strings.Builder
		for _, p := range parts {
			switch {
			case p.match >= 0:
				if p.match < len(matches) {
					b.WriteString(matches[p.match])
				}
			case p.variable != "":
				v, ok := vars[p.variable]
				if !ok {
					return fmt.Errorf("Bad evaluation for '%s' in Service%s: 1:%d: unknown variable accessed: %s", *s, path, p.column, p.variable)
				}
				b.WriteString(v)
			default:
				b.WriteString(p.text)
			}
		}
		*s = b.String()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ct.query.Template.RemoveEmptyTags {
		q.Service.Tags = slices.DeleteFunc(q.Service.Tags, func(t string) bool { return t == "" })
		if q.Service.Tags == nil {
			q.Service.Tags = []string{}
		}
	}
	return &q, nil
}

// cloneServiceQuery copies the slices and maps a render writes into.
func cloneServiceQuery(s ServiceQuery) ServiceQuery {
	s.IgnoreCheckIDs = slices.Clone(s.IgnoreCheckIDs)
	s.Tags = slices.Clone(s.Tags)
	s.NodeMeta = maps.Clone(s.NodeMeta)
	s.ServiceMeta = maps.Clone(s.ServiceMeta)
	s.Failover.Datacenters = slices.Clone(s.Failover.Datacenters)
	s.Failover.Targets = slices.Clone(s.Failover.Targets)
	return s
}

// eachServiceString calls fn on every string of a service query, with its
// path as Consul's reflection walk names it (".Service", ".Tags[0]",
// ".NodeMeta[rack]"); map keys in order, so errors are deterministic.
func eachServiceString(s *ServiceQuery, fn func(path string, s *string) error) error {
	var err error
	visit := func(path string, v *string) {
		if err == nil {
			err = fn(path, v)
		}
	}
	visit(".Service", &s.Service)
	visit(".SamenessGroup", &s.SamenessGroup)
	for i := range s.Failover.Datacenters {
		visit(fmt.Sprintf(".Failover.Datacenters[%d]", i), &s.Failover.Datacenters[i])
	}
	for i := range s.Failover.Targets {
		visit(fmt.Sprintf(".Failover.Targets[%d].Peer", i), &s.Failover.Targets[i].Peer)
		visit(fmt.Sprintf(".Failover.Targets[%d].Datacenter", i), &s.Failover.Targets[i].Datacenter)
	}
	for i := range s.IgnoreCheckIDs {
		visit(fmt.Sprintf(".IgnoreCheckIDs[%d]", i), &s.IgnoreCheckIDs[i])
	}
	visit(".Near", &s.Near)
	for i := range s.Tags {
		visit(fmt.Sprintf(".Tags[%d]", i), &s.Tags[i])
	}
	for _, m := range []struct {
		name string
		m    map[string]string
	}{{"NodeMeta", s.NodeMeta}, {"ServiceMeta", s.ServiceMeta}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			v := m.m[k]
			visit(fmt.Sprintf(".%s[%s]", m.name, k), &v)
			m.m[k] = v
		}
	}
	visit(".Peer", &s.Peer)
	return err
}
