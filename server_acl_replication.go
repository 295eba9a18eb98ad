// server_acl_replication.go: ACL replication between datacenters, as
// Consul's (agent/consul/acl_replication.go, leader_acl.go): the primary
// datacenter (primary_datacenter) is authoritative for policies, roles and
// global tokens; the leader of each secondary datacenter copies them into
// its own log, and its servers resolve tokens from that copy.
//
// The routine, one goroutine per table on a secondary's leader (policies
// and roles always; tokens with acl.enable_token_replication, Consul's
// ReplicationType "tokens", else "policies"):
//
//	GET /v1/acl/<list>?index=<last>  to a server of the primary (WAN pool,
//	    as a forwarded HTTP.Request), with acl.tokens.replication: a
//	    blocking query that returns when the primary's table changes
//	  → diff with the local table by Hash: changed and new objects
//	    (a policy is fetched whole, GET /v1/acl/policy/<id>, since the list
//	    has no rules), and the IDs gone from the primary; tokens: global
//	    ones only, Local tokens stay in their datacenter
//	  → one cmdACLReplicate command through the log (store_acl_replication.go)
//	  → the status: ReplicatedIndex (policies), ReplicatedRoleIndex,
//	    ReplicatedTokenIndex = the primary's index; LastSuccess
//	on an error: LastError, LastErrorMessage, and a retry after a pause
//	(doubling from 1 s to 30 s); an index that goes back starts over
//
// Writes: a secondary's server sends policy, role and global token writes
// to the primary (Consul forwards ACL writes to the primary datacenter:
// aclWriteDC), and keeps Local tokens' writes; the change comes back by
// replication. A secondary is never bootstrapped itself: its
// /v1/acl/bootstrap is Consul's 500 "ACL support disabled".
//
// GET /v1/acl/replication is answered by the leader (Consul forwards
// ACL.ReplicationStatus to it) and needs no token (Consul: "this doesn't
// leak any sensitive information").
//
// Concurrency: aclReplication.mu guards the status and the cancel func
// of the running routines; the routines start when this server takes up
// leadership and stop when it drops it or the agent stops.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const rpcACLReplicationStatus = "ACL.ReplicationStatus"

// aclReplicationStatus is Consul's structs.ACLReplicationStatus.
type aclReplicationStatus struct {
	Enabled              bool
	Running              bool
	SourceDatacenter     string
	ReplicationType      string
	ReplicatedIndex      uint64
	ReplicatedRoleIndex  uint64
	ReplicatedTokenIndex uint64
	LastSuccess          time.Time
	LastError            time.Time
	LastErrorMessage     string
}

// aclReplication is a server's replication routine and its status.
type aclReplication struct {
	a *Agent

	mu     sync.Mutex
	cancel context.CancelFunc // the running routines; nil: stopped
	status aclReplicationStatus
}

func newACLReplication(a *Agent) *aclReplication {
	rp := &aclReplication{a: a}
	if rp.enabled() {
		rp.status.Enabled, rp.status.SourceDatacenter = true, a.cfg.PrimaryDatacenter
		rp.status.ReplicationType = aclReplPolicies
		if a.cfg.ACL.EnableTokenReplication {
			rp.status.ReplicationType = aclReplTokens
		}
	}
	return rp
}

// enabled: this is a server of a secondary datacenter with ACLs on.
func (rp *aclReplication) enabled() bool {
	c := rp.a.cfg
	return c.Server && c.ACL.Enabled && c.PrimaryDatacenter != "" && c.PrimaryDatacenter != c.Datacenter
}

// start runs the routines (the leader of a secondary).
func (rp *aclReplication) start() {
	if !rp.enabled() {
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(rp.a.lifetime())
	rp.cancel = cancel
	rp.status.Running = true
	tables := []string{aclReplPolicies, aclReplRoles}
	if rp.a.cfg.ACL.EnableTokenReplication {
		tables = append(tables, aclReplTokens)
	}
	rp.a.logger.Info("acl: started replication from the primary datacenter", "primary", rp.a.cfg.PrimaryDatacenter, "type", rp.status.ReplicationType)
	for _, table := range tables {
		go rp.run(ctx, table)
	}
}

// stop ends the routines (leadership lost).
func (rp *aclReplication) stop() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.cancel != nil {
		rp.cancel()
		rp.cancel = nil
		rp.status.Running = false
	}
}

// current is the status, as JSON (the leader's side of rpcACLReplicationStatus).
func (rp *aclReplication) current(context.Context) ([]byte, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return json.Marshal(rp.status)
}

// run replicates one table until ctx ends.
func (rp *aclReplication) run(ctx context.Context, table string) {
	var index uint64
	pause := time.Second
	for ctx.Err() == nil {
		next, err := rp.round(ctx, table, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			rp.a.logger.Warn("acl: replication round failed", "table", table, "error", err)
			rp.mu.Lock()
			rp.status.LastError, rp.status.LastErrorMessage = time.Now().Round(time.Second).UTC(), err.Error()
			rp.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 30*time.Second)
			continue
		}
		pause = time.Second
		index = next
		rp.mu.Lock()
		switch table {
		case aclReplPolicies:
			rp.status.ReplicatedIndex = index
		case aclReplRoles:
			rp.status.ReplicatedRoleIndex = index
		default:
			rp.status.ReplicatedTokenIndex = index
		}
		rp.status.LastSuccess = time.Now().Round(time.Second).UTC() // Consul rounds both to the second
		rp.mu.Unlock()
	}
}

// round is one blocking read of the primary's table and the command that
// brings the local copy level with it; it returns the primary's index.
func (rp *aclReplication) round(ctx context.Context, table string, index uint64) (uint64, error) {
	list := map[string]string{aclReplPolicies: "/v1/acl/policies", aclReplRoles: "/v1/acl/roles", aclReplTokens: "/v1/acl/tokens"}[table]
	body, remoteIndex, err := rp.get(ctx, fmt.Sprintf("%s?index=%d", list, index), true)
	if err != nil {
		return 0, err
	}
	if remoteIndex < index {
		return 0, nil // the primary's index went back (a restore): start over
	}
	st := rp.a.store.snapshot()
	req := &aclReplicateRequest{Table: table}
	remote := map[string]bool{}
	switch table {
	case aclReplPolicies:
		var entries []aclPolicyListEntry
		if err := json.Unmarshal(body, &entries); err != nil {
			return 0, fmt.Errorf("decoding the primary's policies: %w", err)
		}
		for _, e := range entries {
			remote[e.ID] = true
			if local, ok := st.acl.policies.get(e.ID); ok && bytes.Equal(local.Hash, e.Hash) {
				continue
			}
			b, _, err := rp.get(ctx, "/v1/acl/policy/"+e.ID, false)
			if err != nil {
				return 0, err
			}
			var p ACLPolicy
			if err := json.Unmarshal(b, &p); err != nil {
				return 0, fmt.Errorf("decoding the primary's policy %s: %w", e.ID, err)
			}
			req.Policies = append(req.Policies, &p)
		}
		st.acl.policies.each(func(id string, _ *ACLPolicy) bool {
			if !remote[id] {
				req.Deletes = append(req.Deletes, id)
			}
			return true
		})
	case aclReplRoles:
		var roles []*ACLRole
		if err := json.Unmarshal(body, &roles); err != nil {
			return 0, fmt.Errorf("decoding the primary's roles: %w", err)
		}
		for _, r := range roles {
			remote[r.ID] = true
			if local, ok := st.acl.roles.get(r.ID); !ok || !bytes.Equal(local.Hash, r.Hash) {
				req.Roles = append(req.Roles, r)
			}
		}
		st.acl.roles.each(func(id string, _ *ACLRole) bool {
			if !remote[id] {
				req.Deletes = append(req.Deletes, id)
			}
			return true
		})
	default:
		var tokens []*ACLToken
		if err := json.Unmarshal(body, &tokens); err != nil {
			return 0, fmt.Errorf("decoding the primary's tokens: %w", err)
		}
		for _, t := range tokens {
			if t.Local {
				continue
			}
			remote[t.AccessorID] = true
			if local, ok := st.acl.tokens.get(t.AccessorID); !ok || !bytes.Equal(local.Hash, t.Hash) {
				req.Tokens = append(req.Tokens, t)
			}
		}
		st.acl.tokens.each(func(id string, t *ACLToken) bool {
			if !t.Local && !remote[id] {
				req.Deletes = append(req.Deletes, id)
			}
			return true
		})
	}
	if len(req.Policies)+len(req.Roles)+len(req.Tokens)+len(req.Deletes) > 0 {
		res, err := rp.a.apply(ctx, &command{Type: cmdACLReplicate, ACLRepl: req})
		if err == nil {
			err = res.err
		}
		if err != nil {
			return 0, fmt.Errorf("applying the replicated %s: %w", table, err)
		}
	}
	return remoteIndex, nil
}

// get reads a path from a server of the primary datacenter with the
// replication token; blocking reads wait up to defaultBlockingWait.
func (rp *aclReplication) get(ctx context.Context, uri string, blocking bool) ([]byte, uint64, error) {
	timeout := rpcDefaultCallTimeout
	if blocking {
		timeout += defaultBlockingWait + defaultBlockingWait/16
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	header := http.Header{}
	if t := rp.a.acl.token("replication"); t != "" {
		header.Set("X-Consul-Token", t)
	}
	f := forwardRequest{Method: http.MethodGet, URI: uri, Header: header}
	resp, err := rp.a.sendRequest(ctx, dcServers{rp.a, rp.a.cfg.PrimaryDatacenter}, f, true)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s from the primary datacenter: %w", uri, err)
	}
	if resp.Status != http.StatusOK {
		return nil, 0, fmt.Errorf("reading %s from the primary datacenter: %d %s", uri, resp.Status, strings.TrimSpace(string(resp.Body)))
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return resp.Body, index, nil
}

// --- the HTTP side ---

// aclReplicationStatus answers GET /v1/acl/replication from the leader
// (a client agent forwards it to a server, as all of /v1/acl/).
func (h *httpAPI) aclReplicationStatus(r *http.Request) (any, error) {
	if !h.a.cfg.ACL.Enabled {
		return nil, errACLDisabled
	}
	ctx, cancel := context.WithTimeout(r.Context(), rpcHoldTimeout)
	defer cancel()
	out, err := h.a.leaderCall(ctx, rpcACLReplicationStatus, nil, h.a.aclRepl.current)
	if err != nil {
		return nil, err
	}
	var st aclReplicationStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, err
	}
	return st, nil
}

// aclWriteDC is the datacenter an ACL write goes to: the primary's, for a
// write a secondary's server gets on a policy, a role or a global token;
// "" to serve it here. A token create with Local, and the update, clone
// or delete of a Local token, stay here.
func (h *httpAPI) aclWriteDC(r *http.Request) string {
	if r.Method == http.MethodGet || !h.a.aclRepl.enabled() || !strings.HasPrefix(r.URL.Path, "/v1/acl/") {
		return ""
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/acl/")
	switch {
	case path == "policy", path == "role",
		strings.HasPrefix(path, "policy/"), strings.HasPrefix(path, "role/"):
		return h.a.cfg.PrimaryDatacenter
	case path == "token":
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b struct{ Local bool }
		if err != nil || json.Unmarshal(body, &b) != nil || !b.Local {
			return h.a.cfg.PrimaryDatacenter // the primary answers a bad body as it does
		}
	case strings.HasPrefix(path, "token/"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "token/"), "/clone")
		if tok, ok := h.a.store.snapshot().acl.tokens.get(id); !ok || !tok.Local {
			return h.a.cfg.PrimaryDatacenter
		}
	}
	return ""
}

// --- tokens without token replication ---

// resolvesRemotely: a secondary's server that does not replicate tokens
// asks the primary for the ones it does not hold (Consul resolves such
// tokens from the primary datacenter).
func (rp *aclReplication) resolvesRemotely() bool {
	return rp.enabled() && !rp.a.cfg.ACL.EnableTokenReplication
}

// resolveRemote reads a token from the primary (GET /v1/acl/token/self
// with it) and makes its identity from this datacenter's replicated
// policies and roles; it is trusted for acl.token_ttl. A Local token of
// the primary does not exist here.
func (rp *aclReplication) resolveRemote(ctx context.Context, st *state, secret string) (*aclIdentity, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcDefaultCallTimeout)
	defer cancel()
	f := forwardRequest{Method: http.MethodGet, URI: "/v1/acl/token/self", Header: http.Header{"X-Consul-Token": {secret}}}
	resp, err := rp.a.sendRequest(ctx, dcServers{rp.a, rp.a.cfg.PrimaryDatacenter}, f, true)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("resolving a token in the primary datacenter: %w", err)
	}
	if resp.Status == http.StatusForbidden {
		return nil, time.Time{}, errACLNotFound
	}
	if resp.Status != http.StatusOK {
		return nil, time.Time{}, &httpError{resp.Status, string(resp.Body)}
	}
	var tok ACLToken
	if err := json.Unmarshal(resp.Body, &tok); err != nil {
		return nil, time.Time{}, fmt.Errorf("decoding the primary's token: %w", err)
	}
	if tok.Local {
		return nil, time.Time{}, errACLNotFound
	}
	expires := time.Now().Add(rp.a.cfg.ACL.TokenTTL)
	if tok.ExpirationTime != nil && tok.ExpirationTime.Before(expires) {
		expires = *tok.ExpirationTime
	}
	return aclTokenIdentity(st, &tok, rp.a.cfg.Datacenter), expires, nil
}
