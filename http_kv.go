// http_kv.go: the KV endpoint, /v1/kv/<key>.
//
// GET reads a key, a prefix (?recurse) or key names (?keys, ?separator) from
// a snapshot, blocking on exactly that key or prefix. PUT (with ?cas,
// ?acquire or ?release) and DELETE become kv commands through the log and
// answer true or false, as Consul. ACLs (acl_authorizer.go): a key needs
// key:read or key:write, DELETE ?recurse write on everything under the
// prefix, and ?recurse and ?keys lists are filtered to what the token may
// read (X-Consul-Results-Filtered-By-ACLs). Values
// are bounded by limits.kv_max_value_size (512 KiB) before they are read in.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go) and reads an immutable store snapshot.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const kvPath = "/v1/kv/"

func (h *httpAPI) registerKV() {
	h.kvHandler = h.wrap([]string{http.MethodGet, http.MethodPut, http.MethodDelete}, h.kv)
}

func (h *httpAPI) kv(w http.ResponseWriter, r *http.Request) (any, error) {
	key := strings.TrimPrefix(r.URL.Path, kvPath)
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case http.MethodGet:
		return h.kvGet(w, r, key, authz)
	case http.MethodPut:
		if err := authz.require(aclResKey, aclWrite, key); err != nil {
			return nil, err
		}
		return h.kvPut(w, r, key)
	default:
		if queryFlag(r, "recurse") {
			err = authz.keyWritePrefix(key)
		} else {
			err = authz.require(aclResKey, aclWrite, key)
		}
		if err != nil {
			return nil, err
		}
		return h.kvDelete(w, r, key)
	}
}

func (h *httpAPI) kvGet(w http.ResponseWriter, r *http.Request, key string, authz *aclAuthz) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	_, listKeys := query(r)["keys"]
	recurse := queryFlag(r, "recurse")
	if !recurse && !listKeys && key == "" {
		return nil, badRequest("Missing key name")
	}
	if !recurse && !listKeys {
		if err := authz.require(aclResKey, aclRead, key); err != nil {
			return nil, err
		}
	}
	// Lists keep only what the token may read (Consul's filter, without
	// acl.enable_key_list_policy), and say so.
	filtered := false
	watchPrefix := func(ws *watch) { ws.watchKVPrefix(key) }
	var obj any
	switch {
	case listKeys:
		sep := query(r).Get("separator")
		obj, err = h.blockingQuery(w, r, q, watchPrefix, func(st *state) (any, uint64, error) {
			keys, idx := st.kvKeys(key, sep)
			n := len(keys)
			keys = slices.DeleteFunc(keys, func(k string) bool { return !authz.allows(aclResKey, aclRead, k) })
			filtered = len(keys) < n
			if len(keys) == 0 {
				return nil, idx, nil
			}
			return keys, idx, nil
		})
	case recurse:
		obj, err = h.blockingQuery(w, r, q, watchPrefix, func(st *state) (any, uint64, error) {
			entries, idx := st.kvList(key)
			n := len(entries)
			entries = slices.DeleteFunc(entries, func(e *KVEntry) bool { return !authz.allows(aclResKey, aclRead, e.Key) })
			filtered = len(entries) < n
			if len(entries) == 0 {
				return nil, idx, nil
			}
			return entries, idx, nil
		})
	default:
		obj, err = h.blockingQuery(w, r, q, func(ws *watch) { ws.watchKVKey(key) }, func(st *state) (any, uint64, error) {
			e, idx := st.kvGet(key)
			if e == nil {
				return nil, idx, nil
			}
			return []*KVEntry{e}, idx, nil
		})
	}
	if err != nil {
		return nil, err
	}
	authz.markFiltered(w, filtered) // never to the anonymous token, as Consul masks it
	if obj == nil {
		w.WriteHeader(http.StatusNotFound) // the query meta headers are already set
		return nil, nil
	}
	if entries, ok := obj.([]*KVEntry); ok && !recurse && queryFlag(r, "raw") {
		w.Write(entries[0].Value)
		return nil, nil
	}
	if entries, ok := obj.([]*KVEntry); ok && !query(r).Has("pretty") {
		h.writeKVEntries(w, entries) // encoding/json's bytes without its reflection (http_kv_json.go)
		return nil, nil
	}
	return obj, nil
}

// kvValueTooLarge is Consul's answer to a value over the limit.
func (h *httpAPI) kvValueTooLarge(size int64) error {
	return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf(
		"Request body(%d bytes) too large, max size: %d bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.",
		size, h.a.cfg.KVMaxValueSize)}
}

// uintParam parses an optional unsigned query parameter.
func uintParam(r *http.Request, name, errMsg string) (uint64, bool, error) {
	v, ok := query(r)[name]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, true, badRequest("%s", errMsg)
	}
	return n, true, nil
}

// conflictingFlags refuses a request that combines mutually exclusive
// parameters, with Consul's message.
func conflictingFlags(r *http.Request, names ...string) error {
	var present []string
	for _, n := range names {
		if query(r).Has(n) {
			present = append(present, n)
		}
	}
	if len(present) > 1 {
		return badRequest("Conflicting flags: %s", strings.Join(present, "&"))
	}
	return nil
}

func (h *httpAPI) kvPut(w http.ResponseWriter, r *http.Request, key string) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	if err := conflictingFlags(r, "cas", "acquire", "release"); err != nil {
		return nil, err
	}
	flags, _, err := uintParam(r, "flags", "Invalid flags")
	if err != nil {
		return nil, err
	}
	casIndex, cas, err := uintParam(r, "cas", "Invalid cas index")
	if err != nil {
		return nil, err
	}
	limit := int64(h.a.cfg.KVMaxValueSize)
	if r.ContentLength > limit {
		return nil, h.kvValueTooLarge(r.ContentLength)
	}
	// The store keeps a copy of its own size, made as the command is
	// decoded (store_command_wire.go): this buffer lives for the request.
	value, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("Failed to read the value: %v", err)
	}
	if int64(len(value)) > limit {
		return nil, h.kvValueTooLarge(int64(len(value)))
	}
	if len(value) == 0 {
		value = nil // Consul stores an empty value as null
	}
	req := &kvRequest{Op: kvSet, Entry: KVEntry{Key: key, Flags: flags, Value: value}}
	switch values := query(r); {
	case cas:
		req.Op, req.Entry.ModifyIndex = kvCAS, casIndex
	case values.Has("acquire"):
		req.Op, req.Entry.Session = kvLock, values.Get("acquire")
	case values.Has("release"):
		req.Op, req.Entry.Session = kvUnlock, values.Get("release")
	}
	return h.applyKV(r.Context(), req)
}

func (h *httpAPI) kvDelete(w http.ResponseWriter, r *http.Request, key string) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	if err := conflictingFlags(r, "recurse", "cas"); err != nil {
		return nil, err
	}
	req := &kvRequest{Op: kvDelete, Entry: KVEntry{Key: key}}
	casIndex, cas, err := uintParam(r, "cas", "Invalid cas index")
	if err != nil {
		return nil, err
	}
	switch {
	case queryFlag(r, "recurse"):
		req.Op = kvDeleteTree
	case key == "":
		return nil, badRequest("Missing key name")
	case cas:
		req.Op, req.Entry.ModifyIndex = kvDeleteCAS, casIndex
	}
	return h.applyKV(r.Context(), req)
}

func (h *httpAPI) applyKV(ctx context.Context, req *kvRequest) (any, error) {
	res, err := h.a.apply(ctx, &command{Type: cmdKV, KV: req})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return nil, err
	}
	return res.ok, nil
}
