// store_query.go: prepared queries in the state store (Consul's
// prepared-queries table): a stored service query, executed by ID or name
// (server_query.go, http_query.go) and reachable by DNS as
// <name>.query.consul (dns_query.go).
//
// A query arrives from POST or PUT /v1/query, checked there (parseQuery,
// Consul's "Invalid prepared query: …" messages) and given its ID by the
// handler, never by apply; it reaches the table only through the log
// (cmdPreparedQuery), where apply checks it again and refuses what the
// table's indexes forbid, with Consul's state-store messages: a name
// another query has (names compare case-insensitively, as Consul's
// lower-cased name index), a name that is another query's ID, a second
// catch-all template (the empty name), a session that does not exist, a
// template that does not compile (store_query_template.go).
//
// Three indexes, as Consul's table schema: by ID (queries), by lower-case
// name (queryNames, every named query, templates included), and by the
// lower-case name of templates (queryTemplates, the empty name being the
// catch-all), which resolve looks up longest prefix first. A query bound to
// a session is deleted when the session is invalidated
// (invalidateSession calls deleteSessionQueries): Consul's
// preparedQueryDeleteTxn from its session invalidation.
//
// Every change bumps the table's index ("prepared-queries"), which blocks
// the list and get reads. Snapshots carry the queries (tagPreparedQuery,
// store_snapshot.go); the name indexes are rebuilt when one is read.
//
// Concurrency: same rules as store.go: written only inside apply, read from
// immutable snapshots by any goroutine.
package main

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

const cmdPreparedQuery commandType = "prepared-query"

const indexPreparedQueries = "prepared-queries"

// Prepared query template types (Consul's QueryTemplateTypeNamePrefixMatch).
const queryTemplateNamePrefixMatch = "name_prefix_match"

// redactedToken replaces a query's Token for a reader without acl:write
// (Consul's aclfilter.RedactedToken).
const redactedToken = "<hidden>"

// PreparedQuery is a stored query, in Consul's JSON shape
// (structs.PreparedQuery, community edition).
type PreparedQuery struct {
	ID          string
	Name        string
	Session     string
	Token       string
	Template    QueryTemplateOptions
	Service     ServiceQuery
	DNS         QueryDNSOptions
	CreateIndex uint64
	ModifyIndex uint64
}

// QueryTemplateOptions makes a query a template (Type set).
type QueryTemplateOptions struct {
	Type            string
	Regexp          string
	RemoveEmptyTags bool
}

// ServiceQuery is what a query asks for: healthy instances of Service.
type ServiceQuery struct {
	Service        string
	SamenessGroup  string
	Failover       QueryFailoverOptions
	OnlyPassing    bool
	IgnoreCheckIDs []string
	Near           string
	Tags           []string
	NodeMeta       map[string]string
	ServiceMeta    map[string]string
	Connect        bool
	Peer           string
}

// QueryFailoverOptions: where to look when the local datacenter has no
// healthy instance.
type QueryFailoverOptions struct {
	NearestN    int
	Datacenters []string
	Targets     []QueryFailoverTarget
}

// QueryFailoverTarget is one failover target; miniconsul has datacenters,
// not cluster peerings.
type QueryFailoverTarget struct {
	Peer       string
	Datacenter string
}

// QueryDNSOptions: the TTL of the query's DNS answers.
type QueryDNSOptions struct {
	TTL string
}

// isTemplate: a template is resolved by name prefix, never by ID.
func (q *PreparedQuery) isTemplate() bool { return q.Template.Type != "" }

// aclPrefix is the name ACL rules ("query" and "query_prefix") govern the
// query by; ok is false for an unnamed query that is not a template, which
// whoever knows its ID may use (Consul's GetACLPrefix).
func (q *PreparedQuery) aclPrefix() (string, bool) {
	return q.Name, q.Name != "" || q.isTemplate()
}

// preparedQueryRequest sets (Query, ID included) or deletes (DeleteID) a query.
type preparedQueryRequest struct {
	Query    *PreparedQuery `json:",omitempty"`
	DeleteID string         `json:",omitempty"`
}

// queryState is the prepared-queries table with its indexes.
type queryState struct {
	byID      tree[*PreparedQuery]
	names     tree[string] // lower-case name → ID, every named query
	templates tree[string] // lower-case name → ID, templates only ("" the catch-all)
}

// validUUID is Consul's check before it looks an ID up by its UUID index.
var validUUID = regexp.MustCompile(`(?i)^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$`)

func isUUID(s string) bool { return len(s) == 36 && validUUID.MatchString(s) }

// parseQuery checks a query as Consul's PreparedQuery.Apply does before the
// log; the handler wraps its error as "Invalid prepared query: …".
func parseQuery(q *PreparedQuery) error {
	if q.Name == "" && !q.isTemplate() && q.Session == "" {
		return errors.New("Must be bound to a session")
	}
	if q.Token == redactedToken {
		return fmt.Errorf("Bad Token '%s', it looks like a query definition with a redacted token was submitted", q.Token)
	}
	svc := &q.Service
	if svc.Service == "" {
		return errors.New("Must provide a Service name to query")
	}
	if svc.Failover.NearestN < 0 {
		return fmt.Errorf("Bad NearestN '%d', must be >= 0", svc.Failover.NearestN)
	}
	if (svc.Failover.NearestN != 0 || len(svc.Failover.Datacenters) != 0) && len(svc.Failover.Targets) != 0 {
		return errors.New("Targets cannot be populated with NearestN or Datacenters")
	}
	for _, t := range svc.Failover.Targets {
		if t.Peer != "" {
			return fmt.Errorf("Bad failover target: peer '%s': cluster peering is not supported", t.Peer)
		}
	}
	if svc.Peer != "" {
		return fmt.Errorf("Bad Peer '%s': cluster peering is not supported", svc.Peer)
	}
	if svc.SamenessGroup != "" {
		return errors.New("sameness-groups are an enterprise-only feature")
	}
	if err := validateNodeMeta(svc.NodeMeta); err != nil {
		return err
	}
	if q.DNS.TTL != "" {
		ttl, err := time.ParseDuration(q.DNS.TTL)
		if err != nil {
			return fmt.Errorf("Bad DNS TTL '%s': %v", q.DNS.TTL, err)
		}
		if ttl < 0 {
			return fmt.Errorf("DNS TTL '%d', must be >=0", ttl)
		}
	}
	return nil
}

// validateNodeMeta: a NodeMeta filter under Consul's ValidateNodeMetadata
// (reserved "consul-" keys allowed: a filter may name them), its messages.
func validateNodeMeta(meta map[string]string) error {
	if len(meta) > 64 {
		return errors.New("Node metadata cannot contain more than 64 key/value pairs")
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		var problem string
		switch v := meta[k]; {
		case k == "":
			problem = "Key cannot be blank"
		case !cfgMetaKeyPattern.MatchString(k):
			problem = "Key contains invalid characters"
		case len(k) > 128:
			problem = "Key is too long (limit: 128 characters)"
		case len(v) > 512:
			problem = "Value is too long (limit: 512 characters)"
		default:
			continue
		}
		return fmt.Errorf("Couldn't load metadata pair ('%s', '%s'): %s", k, meta[k], problem)
	}
	return nil
}

func (t *txn) applyPreparedQuery(req *preparedQueryRequest) error {
	if req.DeleteID != "" {
		q, ok := t.st.queries.byID.get(req.DeleteID)
		if !ok {
			return fmt.Errorf("Cannot modify non-existent prepared query: '%s'", req.DeleteID)
		}
		t.deleteQuery(q)
		return nil
	}
	q := req.Query
	if q == nil || q.ID == "" {
		return errors.New("Missing prepared query ID")
	}
	if err := parseQuery(q); err != nil {
		return fmt.Errorf("Invalid prepared query: %v", err)
	}
	existing, exists := t.st.queries.byID.get(q.ID)
	name := strings.ToLower(q.Name)
	if q.Name != "" {
		if other, ok := t.st.queries.names.get(name); ok && other != q.ID {
			return fmt.Errorf("name '%s' aliases an existing query name", q.Name)
		}
	} else if q.isTemplate() {
		if other, ok := t.st.queries.templates.get(""); ok && other != q.ID {
			return errors.New("a query template with an empty name already exists")
		}
	}
	if isUUID(q.Name) {
		if _, ok := t.st.queries.byID.get(q.Name); ok {
			return fmt.Errorf("name '%s' aliases an existing query ID", q.Name)
		}
	}
	if q.Session != "" {
		if _, ok := t.st.sessions.get(q.Session); !ok {
			return fmt.Errorf("invalid session %q", q.Session)
		}
	}
	if q.isTemplate() {
		if _, err := compileQueryTemplate(q); err != nil {
			return fmt.Errorf("failed compiling template: %s", err)
		}
	}
	stored := *q
	stored.CreateIndex, stored.ModifyIndex = t.index, t.index
	if exists {
		stored.CreateIndex = existing.CreateIndex
		t.unindexQuery(existing)
	}
	t.st.queries.byID = t.st.queries.byID.set(q.ID, &stored)
	t.st.queries = t.st.queries.indexed(&stored)
	t.bump(indexPreparedQueries)
	return nil
}

// indexed adds q to the name indexes.
func (qs queryState) indexed(q *PreparedQuery) queryState {
	name := strings.ToLower(q.Name)
	if q.Name != "" {
		qs.names = qs.names.set(name, q.ID)
	}
	if q.isTemplate() {
		qs.templates = qs.templates.set(name, q.ID)
	}
	return qs
}

func (t *txn) unindexQuery(q *PreparedQuery) {
	name := strings.ToLower(q.Name)
	if id, ok := t.st.queries.names.get(name); ok && id == q.ID {
		t.st.queries.names, _ = t.st.queries.names.delete(name)
	}
	if id, ok := t.st.queries.templates.get(name); ok && id == q.ID {
		t.st.queries.templates, _ = t.st.queries.templates.delete(name)
	}
}

func (t *txn) deleteQuery(q *PreparedQuery) {
	t.unindexQuery(q)
	t.st.queries.byID, _ = t.st.queries.byID.delete(q.ID)
	t.bump(indexPreparedQueries)
}

// deleteSessionQueries deletes the queries bound to a session that is
// being invalidated. The table is small (queries are written by hand), so a
// scan is cheaper than keeping one more index.
func (t *txn) deleteSessionQueries(session string) {
	var bound []*PreparedQuery
	t.st.queries.byID.each(func(_ string, q *PreparedQuery) bool {
		if q.Session == session {
			bound = append(bound, q)
		}
		return true
	})
	for _, q := range bound {
		t.deleteQuery(q)
	}
}

// --- reads ---

// errQueryNotFound is Consul's structs.ErrQueryNotFound, a 404.
var errQueryNotFound = notFound("Query not found")

// queryGet returns the query with the ID; a malformed ID is Consul's
// UUID index error.
func (st *state) queryGet(id string) (*PreparedQuery, error) {
	if len(id) != 36 {
		return nil, errors.New("failed prepared query lookup: index error: UUID must be 36 characters")
	}
	q, ok := st.queries.byID.get(id)
	if !ok {
		return nil, errQueryNotFound
	}
	return q, nil
}

// queryList lists every query, by ID.
func (st *state) queryList() []*PreparedQuery {
	out := []*PreparedQuery{}
	st.queries.byID.each(func(_ string, q *PreparedQuery) bool {
		out = append(out, q)
		return true
	})
	return out
}

// queryResolve finds the query an execute or explain names, as Consul's
// PreparedQueryResolve: an ID (not of a template), else an exact name
// (case-insensitive), else the template with the longest name that is a
// prefix of it (the catch-all last); a template is rendered for the name.
// (nil, nil): no query.
func (st *state) queryResolve(idOrName, agentSegment string) (*PreparedQuery, error) {
	if idOrName == "" {
		return nil, errors.New("Missing query ID")
	}
	if isUUID(idOrName) {
		if q, ok := st.queries.byID.get(idOrName); ok {
			if q.isTemplate() {
				return nil, errors.New("prepared query templates can only be resolved up by name, not by ID")
			}
			return q, nil
		}
	}
	name := strings.ToLower(idOrName)
	id, ok := st.queries.names.get(name)
	for i := len(name); !ok && i >= 0; i-- {
		id, ok = st.queries.templates.get(name[:i])
	}
	if !ok {
		return nil, nil
	}
	q, _ := st.queries.byID.get(id)
	if !q.isTemplate() {
		return q, nil
	}
	ct, err := compileQueryTemplate(q)
	if err != nil {
		return nil, err
	}
	return ct.render(idOrName, agentSegment)
}
