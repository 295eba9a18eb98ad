// http_config_entry.go: /v1/config, the config entries API (Consul's
// config_endpoint.go), over the table of store_config_entry.go.
//
//	PUT    /v1/config[?cas=N]          body → decodeConfigEntry → validate → log → true/false
//	GET    /v1/config/<kind>           the kind's entries, blocking on the kind
//	GET    /v1/config/<kind>/<name>    one entry, blocking on the kind
//	DELETE /v1/config/<kind>/<name>    {} (with ?cas=N: true/false)
//
// The decoder is strict as Consul's (its DecodeConfigEntry, mapstructure
// with ErrorUnused): a key no field takes is refused with the path of the
// key, every one at once in Consul's multi-error text. Keys match a
// field case-insensitively and in snake_case too (mesh_gateway), as
// Consul's aliases do. Validation messages and status codes are Consul
// 1.22.7's, checked against the real binary.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

func (h *httpAPI) registerConfigEntries() {
	h.endpoint("/v1/config", []string{http.MethodPut}, h.configEntryPut)
	h.endpoint("/v1/config/", []string{http.MethodGet, http.MethodDelete}, h.configEntryGetDelete)
}

// configEntryPut: PUT /v1/config, with ?cas=<ModifyIndex> a check-and-set
// (0: only if there is none).
func (h *httpAPI) configEntryPut(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.checkDatacenter(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		return nil, err
	}
	entry, err := decodeConfigEntry(body)
	if err != nil {
		return nil, badRequest("Request decoding failed: %v", err)
	}
	req := &configEntryRequest{Op: "set", Entry: entry}
	if req.CAS, req.Index, err = casParam(r); err != nil {
		return nil, err
	}
	entry.normalize()
	if err := entry.validate(); err != nil {
		return nil, err
	}
	if err := h.vet(r, func(z *aclAuthz, _ *state) error { return z.configEntryWrite(entry.kindName()) }); err != nil {
		return nil, err // http_connect_acl.go
	}
	if unchanged(h.a.store.snapshot(), entry) {
		return true, nil // as Consul's shouldSkipOperation: no write, CAS or not
	}
	return h.applyConfigEntry(r, req)
}

// unchanged reports whether the stored entry of that kind and name has
// entry's content already (its Hash).
func unchanged(st *state, entry *configEntry) bool {
	cur, _ := st.configEntryGet(entry.kindName())
	if cur == nil {
		return false
	}
	c, err := entry.withoutIndexes()
	if err != nil {
		return false
	}
	_, _, _, _, curHash := cur.meta()
	return c.contentHash() == *curHash
}

// casParam reads ?cas=; a bad value is Consul's 500 with strconv's message.
func casParam(r *http.Request) (bool, uint64, error) {
	v, ok := query(r)["cas"]
	if !ok {
		return false, 0, nil
	}
	idx, err := strconv.ParseUint(strings.Join(v, ""), 10, 64)
	return true, idx, err
}

func (h *httpAPI) applyConfigEntry(r *http.Request, req *configEntryRequest) (bool, error) {
	res, err := h.a.apply(r.Context(), &command{Type: cmdConfigEntry, ConfigEntry: req})
	if err == nil {
		err = res.err
	}
	return res.ok, err
}

// configEntryGetDelete: GET and DELETE under /v1/config/<kind>[/<name>].
func (h *httpAPI) configEntryGetDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	kind, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/config/"), "/")
	if r.Method == http.MethodDelete {
		if err := h.checkDatacenter(r); err != nil {
			return nil, err
		}
		if !validConfigKind(kind) {
			return nil, badRequest("invalid config entry kind: %s", kind)
		}
		if name == "" {
			return nil, notFound("Must provide both a kind and name to delete")
		}
		if err := h.vet(r, func(z *aclAuthz, _ *state) error { return z.configEntryWrite(kind, name) }); err != nil {
			return nil, err
		}
		req := &configEntryRequest{Op: "delete", Kind: kind, Name: name}
		var err error
		if req.CAS, req.Index, err = casParam(r); err != nil {
			return nil, err
		}
		ok, err := h.applyConfigEntry(r, req)
		if err != nil || req.CAS {
			return ok, err
		}
		return struct{}{}, nil
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	if !validConfigKind(kind) {
		return nil, fmt.Errorf("invalid config entry kind: %s", kind)
	}
	authz, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	watch := func(ws *watch) { ws.watchTopic(indexConfigKindPrefix + kind) }
	if name == "" {
		expr, err := configEntryFilter(r, kind)
		if err != nil {
			return nil, err
		}
		removed := false
		out, err := h.blockingQuery(w, r, q, watch, func(st *state) (any, uint64, error) {
			all, idx := st.configEntryList(kind)
			var entries []*configEntry
			entries, removed = aclKeep(all, func(e *configEntry) bool { return authz.configEntryRead(e.kindName()) })
			if expr != nil { // evaluated on the entry as answered
				entries, _ = aclKeep(entries, func(e *configEntry) bool { return expr.match(e.ServiceDefaults) })
			}
			out := make([]any, len(entries))
			for i, e := range entries {
				out[i] = e.body()
			}
			return out, idx, nil
		})
		authz.markFiltered(w, removed)
		return out, err
	}
	if err := authz.configEntryReadErr(kind, name); err != nil {
		return nil, err
	}
	obj, err := h.blockingQuery(w, r, q, watch, func(st *state) (any, uint64, error) {
		e, idx := st.configEntryGet(kind, name)
		if e == nil {
			return nil, idx, nil // blocks like any read; a 404 once answered
		}
		return e.body(), idx, nil
	})
	if err == nil && obj == nil {
		err = notFound("Config entry not found for %q / %q", kind, name)
	}
	return obj, err
}

// configEntryFilter is a kind list's ?filter: Consul filters only
// service-defaults entries (by their own fields).
func configEntryFilter(r *http.Request, kind string) (*resultFilter, error) {
	if query(r).Get("filter") == "" {
		return nil, nil
	}
	if kind != "service-defaults" {
		return nil, fmt.Errorf("filtering not supported for config entry kind=%s", kind)
	}
	return bindFilter[ServiceDefaultsEntry](r)
}

// decodeConfigEntry decodes a PUT body as Consul does: a JSON object whose
// Kind (or kind) names the entry's type; every other key must name a field
// of that kind.
func decodeConfigEntry(body []byte) (*configEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("'' expected type 'map[string]interface {}', got unconvertible type '%T'", raw)
	}
	kindVal, ok := obj["Kind"]
	if !ok {
		kindVal, ok = obj["kind"]
	}
	if !ok {
		return nil, fmt.Errorf("Payload does not contain a kind/Kind key at the top level")
	}
	kind, ok := kindVal.(string)
	if !ok {
		return nil, fmt.Errorf("Kind value in payload is not a string")
	}
	entry := &configEntry{}
	var target any
	switch kind {
	case kindServiceDefaults:
		entry.ServiceDefaults = &ServiceDefaultsEntry{}
		target = entry.ServiceDefaults
	case kindProxyDefaults:
		entry.ProxyDefaults = &ProxyDefaultsEntry{}
		target = entry.ProxyDefaults
	case kindServiceIntentions:
		entry.ServiceIntentions = &ServiceIntentionsEntry{}
		target = entry.ServiceIntentions
	default:
		return nil, fmt.Errorf("invalid config entry kind: %s", kind)
	}
	delete(obj, "kind") // the Kind found above is the entry's
	obj["Kind"] = kind
	var unused []string
	canon := canonicalKeys(obj, reflect.TypeOf(target).Elem(), "", &unused)
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, multiError(unused)
	}
	b, err := json.Marshal(canon)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, target); err != nil {
		return nil, err
	}
	return entry, nil
}

// multiError is Consul's text for several errors (hashicorp/go-multierror).
func multiError(msgs []string) error {
	var b strings.Builder
	if len(msgs) == 1 {
		b.WriteString("1 error occurred:\n")
	} else {
		fmt.Fprintf(&b, "%d errors occurred:\n", len(msgs))
	}
	for _, m := range msgs {
		fmt.Fprintf(&b, "\t* %s\n", m)
	}
	b.WriteString("\n")
	return fmt.Errorf("%s", b.String())
}

// canonicalKeys respells the keys of a decoded JSON value as the field
// names of t (struct fields matched case-insensitively, with or without
// underscores), recording each key no field takes, as
// `invalid config key "<path>"`. Maps (Config, Meta) keep their keys.
func canonicalKeys(v any, t reflect.Type, path string, unused *[]string) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return v // json.Unmarshal reports the type
		}
		out := map[string]any{}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys) // two spellings of one field: the last in this order wins, every time
		for _, k := range keys {
			val := obj[k]
			f, ok := fieldByKey(t, k)
			if !ok {
				*unused = append(*unused, fmt.Sprintf("invalid config key %q", path+k))
				continue
			}
			out[f.Name] = canonicalKeys(val, f.Type, path+f.Name+".", unused)
		}
		return out
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(arr))
		prefix := strings.TrimSuffix(path, ".")
		for i, el := range arr {
			out[i] = canonicalKeys(el, t.Elem(), fmt.Sprintf("%s[%d].", prefix, i), unused)
		}
		return out
	}
	return v
}

// fieldByKey finds the exported field of t a JSON key names.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	norm := strings.ToLower(strings.ReplaceAll(key, "_", ""))
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && strings.ToLower(f.Name) == norm {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
