// http_session.go: sessions (/v1/session/...).
//
// Session create and destroy are commands through the log; renew only
// restarts the leader's TTL timer (server_leader.go), as in Consul; the reads are
// blocking queries on a store snapshot. Transactions are in http_txn.go.
// ACLs (http_acl_enforce.go): writes need session:write on the session's
// node; reads keep the sessions the token may read.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Consul's limits for sessions.
const (
	defaultLockDelay  = 15 * time.Second
	maxLockDelay      = 60 * time.Second
	lockDelaySecondsC = 1000 // a numeric LockDelay below this is seconds, above it nanoseconds (Consul's rule)
)

func (h *httpAPI) registerSession() {
	get, put := []string{http.MethodGet}, []string{http.MethodPut}
	h.endpoint("/v1/session/create", put, h.sessionCreate)
	h.endpoint("/v1/session/destroy/", put, h.sessionDestroy)
	h.endpoint("/v1/session/renew/", put, h.sessionRenew)
	h.endpoint("/v1/session/info/", get, func(w http.ResponseWriter, r *http.Request) (any, error) {
		return h.sessionRead(w, r, "/v1/session/info/", func(st *state, id string) []*Session {
			if s := st.session(id); s != nil {
				return []*Session{s}
			}
			return []*Session{}
		})
	})
	h.endpoint("/v1/session/node/", get, func(w http.ResponseWriter, r *http.Request) (any, error) {
		return h.sessionRead(w, r, "/v1/session/node/", (*state).sessionList)
	})
	h.endpoint("/v1/session/list", get, func(w http.ResponseWriter, r *http.Request) (any, error) {
		q, err := h.parseQuery(r)
		if err != nil {
			return nil, err
		}
		z, err := h.authorize(r)
		if err != nil {
			return nil, err
		}
		filtered := false
		out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexSessions) }, func(st *state) (any, uint64, error) {
			var list []*Session
			list, filtered = z.filterSessions(st.sessionList(""))
			return list, st.tableIndex(indexSessions), nil
		})
		z.markFiltered(w, filtered)
		return out, err
	})
}

// sessionRead answers the session reads that take one path argument.
func (h *httpAPI) sessionRead(w http.ResponseWriter, r *http.Request, prefix string, read func(*state, string) []*Session) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	arg, err := pathArg(r, prefix, "session ID or node name")
	if err != nil {
		return nil, err
	}
	z, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	filtered := false
	out, err := h.blockingQuery(w, r, q, func(ws *watch) { ws.watchTopic(indexSessions) }, func(st *state) (any, uint64, error) {
		var list []*Session
		list, filtered = z.filterSessions(read(st, arg))
		return list, st.tableIndex(indexSessions), nil
	})
	z.markFiltered(w, filtered) // ACLs: http_acl_enforce.go
	return out, err
}

// sessionBody is the body of /v1/session/create, as Consul reads it.
type sessionBody struct {
	Name          string
	Node          string
	LockDelay     json.RawMessage
	Behavior      string
	TTL           string
	Checks        []string // the old name of NodeChecks
	NodeChecks    []string
	ServiceChecks []ServiceCheck
}

// parseLockDelay reads a LockDelay given as a duration string or a number.
func parseLockDelay(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return defaultLockDelay, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	var d time.Duration
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", x)
		}
		d = p
	case float64:
		d = time.Duration(x)
		if x < lockDelaySecondsC {
			d = time.Duration(x * float64(time.Second))
		}
	default:
		return 0, fmt.Errorf("invalid LockDelay %s", raw)
	}
	if d < 0 || d > maxLockDelay {
		return 0, fmt.Errorf("LockDelay must be between 0 and %v", maxLockDelay)
	}
	return d, nil
}

func (h *httpAPI) sessionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	// Consul's defaults, which the body's fields replace when present (a
	// null included): the node's serfHealth, in both the old and the new
	// field.
	body := sessionBody{Checks: []string{serfHealthID}, NodeChecks: []string{serfHealthID}}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, badRequest("Request decode failed: %v", err)
		}
	}
	// Consul's fixupEmptySessionChecks: an empty Checks means no node
	// checks; the default Checks defers to NodeChecks; an empty NodeChecks
	// drops Checks. What is left of both are the node checks.
	checks, nodeChecks := body.Checks, body.NodeChecks
	switch {
	case len(checks) == 0:
		nodeChecks = []string{}
	case len(checks) == 1 && checks[0] == serfHealthID:
		checks = nil
	case len(nodeChecks) == 0:
		checks = nil
	}
	for _, c := range checks {
		if !slices.Contains(nodeChecks, c) {
			nodeChecks = append(nodeChecks, c)
		}
	}
	s := &Session{ID: newUUID(), Name: body.Name, Node: body.Node, Behavior: body.Behavior,
		NodeChecks: nodeChecks, ServiceChecks: body.ServiceChecks}
	if s.Node == "" {
		s.Node = h.a.cfg.NodeName
	}
	if err := h.requireSessionWrite(r, s.Node); err != nil {
		return nil, err
	}
	switch s.Behavior {
	case "":
		s.Behavior = sessionRelease
	case sessionRelease, sessionDelete:
	default:
		return nil, badRequest("Invalid Behavior setting '%s'", s.Behavior)
	}
	if s.LockDelay, err = parseLockDelay(body.LockDelay); err != nil {
		return nil, badRequest("Request decode failed: %v", err)
	}
	var ttl time.Duration
	if body.TTL != "" {
		ttl, err = time.ParseDuration(body.TTL)
		if err != nil {
			return nil, badRequest("Request decode failed: invalid duration %q", body.TTL)
		}
		if ttl != 0 && (ttl < sessionTTLMin || ttl > sessionTTLMax) {
			return nil, badRequest("Invalid Session TTL '%s', must be between [%v=%v]", body.TTL, sessionTTLMin, sessionTTLMax)
		}
		if ttl != 0 {
			s.TTL = ttl.String()
		}
	}
	// The session's TTL timer must follow a committed session, so its
	// creation is waited for even if the client hangs up (a session in the
	// store without a timer would never expire).
	res, err := h.a.apply(context.WithoutCancel(r.Context()), &command{Type: cmdSession, Session: &sessionRequest{Session: s}})
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, &httpError{http.StatusInternalServerError, "Failed to create session: " + res.err.Error()}
	}
	if err := h.a.renewSessionTimer(s.ID, ttl); err != nil {
		return nil, err
	}
	return map[string]string{"ID": s.ID}, nil
}

func (h *httpAPI) sessionDestroy(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	id, err := pathArg(r, "/v1/session/destroy/", "session ID")
	if err != nil {
		return nil, err
	}
	if existing := h.a.store.snapshot().session(id); existing != nil {
		if err := h.requireSessionWrite(r, existing.Node); err != nil {
			return nil, err
		}
	}
	if _, err := h.a.apply(r.Context(), &command{Type: cmdSession, Session: &sessionRequest{DestroyID: id}}); err != nil {
		return nil, err
	}
	h.a.sessions.clear(id)
	return true, nil
}

func (h *httpAPI) sessionRenew(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	id, err := pathArg(r, "/v1/session/renew/", "session ID")
	if err != nil {
		return nil, err
	}
	// The session may be newer than what this server has applied.
	if err := h.a.readBarrier(r.Context(), queryOptions{}); err != nil {
		return nil, err
	}
	s := h.a.store.snapshot().session(id)
	if s == nil {
		return nil, notFound("Session id '%s' not found", id)
	}
	if err := h.requireSessionWrite(r, s.Node); err != nil {
		return nil, err
	}
	if ttl, err := time.ParseDuration(s.TTL); err == nil {
		if err := h.a.renewSessionTimer(id, ttl); err != nil {
			return nil, err
		}
	}
	return []*Session{s}, nil
}

// requireSessionWrite is Consul's check on a session's create, destroy and
// renew: session:write on its node (http_acl_enforce.go).
func (h *httpAPI) requireSessionWrite(r *http.Request, node string) error {
	z, err := h.authorize(r)
	if err != nil {
		return err
	}
	return z.require(aclResSession, aclWrite, node)
}
