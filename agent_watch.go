// agent_watch.go: Consul's watches (api/watch), shared by the agent's
// `watches` configuration and the `watch` command (cli_watch.go): the
// watch plan (its type, its parameters checked as Consul's
// watch.ParseExempt checks them, the query of each type), the
// blocking-query loop with Consul's change rules, and the agent's running
// watches with their handlers (a process, or an HTTP endpoint).
//
// Data flow: a watch's parameters (a `watches` entry of the config files,
// or the command's flags compiled into the same map) → parseWatch, which
// consumes each parameter it knows and refuses the rest → watchPlan.run:
// a GET of the agent's HTTP API (followIndex, loops.go) with ?index= the
// last X-Consul-Index blocks until the view changes; an answer at the same
// index is no change, and a new index whose result equals the last one is
// none either (Consul's plan.go: the handler never runs twice for one
// result) → the handler gets the result as one line of JSON in the shape
// of Consul's Go client (a key is one object or null). The agent's watches
// call its own HTTP API (its first HTTP address) with the watch's token,
// if any (else the API applies acl.tokens.default, as Consul's, whose
// watches send no other); an args or handler process gets the JSON on
// stdin and CONSUL_INDEX in its environment, and runs without
// enable_script_checks, as Consul's; an http_handler_config endpoint gets
// it POSTed with X-Consul-Index. A reload (agent_reload.go) stops the
// watches no longer configured and starts the new ones; an unchanged
// watch keeps running (Consul restarts them all, running every handler
// again).
//
// Concurrency: each watch runs on its own goroutine (the agent's
// WaitGroup), its handler on the same goroutine, one run at a time, as
// Consul's; stopping a watch cancels its context, which ends its blocking
// query and kills a handler process still running. agentWatches.mu guards
// the set of running watches.
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// watchHandlerOutputMax is the handler output the agent logs: its last
// 4 KiB, as Consul's WatchBufSize.
const watchHandlerOutputMax = 4 * 1024

// watchHandlerWaitDelay bounds the wait for a handler's output once the
// handler is killed (its watch stopped).
const watchHandlerWaitDelay = time.Second

// watchHTTPDefaultTimeout is an HTTP handler's timeout when none is set
// (Consul's watch.DefaultTimeout).
const watchHTTPDefaultTimeout = 10 * time.Second

// watchFetch is one query of a view: the answer's index and its result as
// JSON ("null" for none).
type watchFetch func(ctx context.Context, cl *cliClient, index uint64) (uint64, json.RawMessage, error)

// watchPlan is a parsed watch: Consul's watch.Plan.
type watchPlan struct {
	Type, Datacenter, Token, HandlerType string
	fetch                                watchFetch
	http                                 *watchHTTPConfig // handler_type http
	exempt                               map[string]any   // the exempt parameters, as given
}

// watchHTTPConfig is http_handler_config (Consul's HttpHandlerConfig).
type watchHTTPConfig struct {
	Path          string
	Method        string
	Header        map[string][]string
	Timeout       time.Duration
	TLSSkipVerify bool
}

// parseWatch checks and consumes the parameters as Consul's
// watch.ParseExempt: the generic ones, the handler type's, the watch
// type's, then the exempt ones; any left is invalid. Errors are Consul's
// words. params is consumed.
func parseWatch(params map[string]any, exempt []string) (*watchPlan, error) {
	p := &watchPlan{exempt: map[string]any{}}
	for _, f := range []struct {
		name string
		out  *string
	}{{"datacenter", &p.Datacenter}, {"token", &p.Token}, {"type", &p.Type}} {
		if err := watchString(params, f.name, f.out); err != nil {
			return nil, err
		}
	}
	if p.Type == "" {
		return nil, errors.New("Watch type must be specified")
	}
	if err := watchString(params, "handler_type", &p.HandlerType); err != nil {
		return nil, err
	}
	if p.HandlerType == "http" {
		raw, ok := params["http_handler_config"]
		if !ok {
			return nil, errors.New("Handler type 'http' requires 'http_handler_config' to be set")
		}
		cfg, err := parseWatchHTTPConfig(raw)
		if err != nil {
			return nil, fmt.Errorf("Failed to parse 'http_handler_config': %v", err)
		}
		p.http = cfg
		delete(params, "http_handler_config")
	}
	var err error
	if p.fetch, err = watchTypeFetch(p.Type, params); err != nil {
		return nil, err
	}
	for _, name := range exempt {
		if v, ok := params[name]; ok {
			p.exempt[name] = v
			delete(params, name)
		}
	}
	if len(params) > 0 {
		var bad []string
		for n := range params {
			bad = append(bad, n)
		}
		slices.Sort(bad) // Consul's order is its map's, random
		return nil, fmt.Errorf("Invalid parameters: %v", bad)
	}
	return p, nil
}

// watchTypeFetch consumes the type's own parameters (Consul's
// watchFuncFactory) and returns its query.
func watchTypeFetch(typ string, params map[string]any) (watchFetch, error) {
	var stale bool
	var filter, service, state string
	str := func(name string, out *string) error { return watchString(params, name, out) }
	switch typ {
	case "key", "keyprefix":
		name, msg := "key", "Must specify a single key to watch"
		if typ == "keyprefix" {
			name, msg = "prefix", "Must specify a single prefix to watch"
		}
		var key string
		if err := errors.Join(watchBool(params, "stale", &stale), str(name, &key)); err != nil {
			return nil, err
		}
		if key == "" {
			return nil, errors.New(msg)
		}
		return watchKV(key, typ == "keyprefix", stale), nil
	case "services", "nodes":
		if err := errors.Join(watchBool(params, "stale", &stale), str("filter", &filter)); err != nil {
			return nil, err
		}
		path := map[string]string{"services": "/v1/catalog/services", "nodes": "/v1/catalog/nodes"}[typ]
		return watchGet(path, url.Values{}, stale, filter), nil
	case "service":
		if err := errors.Join(watchBool(params, "stale", &stale), str("filter", &filter), str("service", &service)); err != nil {
			return nil, err
		}
		if service == "" {
			return nil, errors.New("Must specify a single service to watch")
		}
		var tags []string
		var passing bool
		if err := errors.Join(watchStrings(params, "tag", &tags), watchBool(params, "passingonly", &passing)); err != nil {
			return nil, err
		}
		q := url.Values{}
		for _, t := range tags {
			q.Add("tag", t)
		}
		if passing {
			q.Set("passing", "1")
		}
		return watchGet("/v1/health/service/"+url.PathEscape(service), q, stale, filter), nil
	case "checks":
		if err := errors.Join(watchBool(params, "stale", &stale), str("service", &service), str("state", &state), str("filter", &filter)); err != nil {
			return nil, err
		}
		if service != "" && state != "" {
			return nil, errors.New("Cannot specify service and state")
		}
		if state == "" && service == "" {
			state = "any"
		}
		if state != "" {
			return watchGet("/v1/health/state/"+url.PathEscape(state), url.Values{}, stale, filter), nil
		}
		return watchGet("/v1/health/checks/"+url.PathEscape(service), url.Values{}, stale, filter), nil
	case "event":
		var name string
		if err := str("name", &name); err != nil {
			return nil, err
		}
		q := url.Values{}
		if name != "" {
			q.Set("name", name)
		}
		return watchGet("/v1/event/list", q, false, ""), nil
	case "connect_roots", "connect_leaf", "agent_service":
		// Consul's types that miniconsul's CLI and agent refuse after
		// parsing (as Consul's CLI does); their parameters are consumed.
		var s string
		switch typ {
		case "connect_leaf":
			return nil, str("service", &s)
		case "agent_service":
			return nil, str("service_id", &s)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("Unsupported watch type: %s", typ)
}

// watchString takes a string parameter (Consul's assignValue).
func watchString(params map[string]any, name string, out *string) error {
	raw, ok := params[name]
	if !ok {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		return fmt.Errorf("Expecting %s to be a string", name)
	}
	*out = s
	delete(params, name)
	return nil
}

// watchBool takes a boolean parameter (Consul's assignValueBool).
func watchBool(params map[string]any, name string, out *bool) error {
	raw, ok := params[name]
	if !ok {
		return nil
	}
	b, ok := raw.(bool)
	if !ok {
		return fmt.Errorf("Expecting %s to be a boolean", name)
	}
	*out = b
	delete(params, name)
	return nil
}

// watchStrings takes a string or a list of strings (Consul's
// assignValueStringSlice).
func watchStrings(params map[string]any, name string, out *[]string) error {
	raw, ok := params[name]
	if !ok {
		return nil
	}
	switch v := raw.(type) {
	case string:
		*out = []string{v}
	case []string:
		*out = slices.Clone(v)
	case []any:
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return fmt.Errorf("Index %d of %s expected to be string", i, name)
			}
			*out = append(*out, s)
		}
	default:
		return fmt.Errorf("Expecting %s to be a string or []string", name)
	}
	delete(params, name)
	return nil
}

// parseWatchHTTPConfig decodes http_handler_config: path is required, the
// method defaults to POST and the timeout to 10s (Consul's).
func parseWatchHTTPConfig(raw any) (*watchHTTPConfig, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("'' expected a map, got '%s'", cfgJSONKind(raw))
	}
	obj = cloneWatchParams(obj) // decoding consumes it
	cfg := &watchHTTPConfig{Method: http.MethodPost, Timeout: watchHTTPDefaultTimeout}
	var timeout string
	for k, v := range obj {
		var err error
		switch k {
		case "path":
			err = watchString(obj, k, &cfg.Path)
		case "method":
			err = watchString(obj, k, &cfg.Method)
		case "timeout":
			err = watchString(obj, k, &timeout)
		case "tls_skip_verify":
			err = watchBool(obj, k, &cfg.TLSSkipVerify)
		case "header":
			cfg.Header, err = watchHeader(v)
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.Path == "" {
		return nil, errors.New("Requires 'path' to be set")
	}
	cfg.Method = cmp.Or(cfg.Method, http.MethodPost)
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil {
			return nil, fmt.Errorf("Failed to parse timeout: %v", err)
		}
		cfg.Timeout = d
	}
	return cfg, nil
}

// watchHeader decodes http_handler_config.header: each name to a list of
// values (a single string is one value).
func watchHeader(raw any) (map[string][]string, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("'header' expected a map, got '%s'", cfgJSONKind(raw))
	}
	h := map[string][]string{}
	for name, v := range obj {
		var vals []string
		if err := watchStrings(map[string]any{name: v}, name, &vals); err != nil {
			return nil, err
		}
		h[name] = vals
	}
	return h, nil
}

// watchQuery sends a (blocking, if index > 0) GET and returns the answer.
func watchQuery(ctx context.Context, cl *cliClient, path string, q url.Values, index uint64) (*cliResponse, error) {
	q = cloneValues(q)
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
	}
	return cl.doContext(ctx, http.MethodGet, path, q, nil)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// watchGet is the query of a list view (catalog, health, events).
func watchGet(path string, q url.Values, stale bool, filter string) watchFetch {
	if filter != "" {
		q.Set("filter", filter)
	}
	if stale {
		q.Set("stale", "")
	}
	return func(ctx context.Context, cl *cliClient, index uint64) (uint64, json.RawMessage, error) {
		resp, err := watchQuery(ctx, cl, path, q, index)
		if err != nil {
			return 0, nil, err
		}
		if resp.code != http.StatusOK {
			return 0, nil, &errCLIStatus{resp.code, strings.TrimSpace(string(resp.body))}
		}
		return resp.index(), json.RawMessage(bytes.TrimSpace(resp.body)), nil
	}
}

// watchKVPair is a KV entry as Consul's Go client encodes it (api.KVPair),
// the shape its watches hand on: its fields in that order, Session always.
type watchKVPair struct {
	Key         string
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Flags       uint64
	Value       []byte
	Session     string
}

// watchKV is the query of a key (its entry, or null) or of a prefix (its
// entries, or null when there are none), as Consul's KV().Get and List.
func watchKV(key string, prefix, stale bool) watchFetch {
	q := url.Values{}
	if prefix {
		q.Set("recurse", "")
	}
	if stale {
		q.Set("stale", "")
	}
	path := kvAPIPath(kvTrimSlash(key))
	if prefix {
		path = kvAPIPath(key)
	}
	return func(ctx context.Context, cl *cliClient, index uint64) (uint64, json.RawMessage, error) {
		resp, err := watchQuery(ctx, cl, path, q, index)
		if err != nil {
			return 0, nil, err
		}
		switch resp.code {
		case http.StatusNotFound:
			return resp.index(), json.RawMessage("null"), nil
		case http.StatusOK:
		default:
			return 0, nil, &errCLIStatus{resp.code, strings.TrimSpace(string(resp.body))}
		}
		var entries []watchKVPair
		if err := json.Unmarshal(resp.body, &entries); err != nil {
			return 0, nil, err
		}
		var v any = entries
		switch {
		case len(entries) == 0:
			v = nil
		case !prefix:
			v = entries[0]
		}
		b, err := json.Marshal(v)
		return resp.index(), b, err
	}
}

// watchEventIndex is Consul's client's index of an event ID (api's
// Event.IDToIndex): the ID's first and second 64 bits, read as hex, xored.
func watchEventIndex(id string) (uint64, bool) {
	if len(id) != 36 {
		return 0, false
	}
	lo, err1 := strconv.ParseUint(id[0:8]+id[9:13]+id[14:18], 16, 64)
	hi, err2 := strconv.ParseUint(id[19:23]+id[24:36], 16, 64)
	return lo ^ hi, err1 == nil && err2 == nil
}

// watchPruneEvents keeps the events after the one whose index is last
// (the events the watch has already seen), as Consul's event watch.
func watchPruneEvents(raw json.RawMessage, last uint64, haveLast bool) json.RawMessage {
	if !haveLast {
		return raw
	}
	var events []json.RawMessage
	if json.Unmarshal(raw, &events) != nil {
		return raw
	}
	for i, e := range events {
		var ev struct{ ID string }
		if json.Unmarshal(e, &ev) == nil {
			if idx, ok := watchEventIndex(ev.ID); ok && idx == last {
				rest, _ := json.Marshal(events[i+1:])
				return rest
			}
		}
	}
	return raw
}

// run follows the view until ctx ends, calling handle with the index and
// the compact JSON of the first result and of each change; failed queries
// go to logErr with the pause before the next try (followIndex's backoff).
func (p *watchPlan) run(ctx context.Context, cl *cliClient, handle func(index uint64, result []byte), logErr func(err error, retry time.Duration)) {
	var (
		have       bool
		last       uint64 // the index of the last answer
		lastResult []byte
		failures   int
	)
	followIndex(ctx, func(ctx context.Context, index uint64) (uint64, error) {
		idx, result, err := p.fetch(ctx, cl, index)
		if err != nil {
			if ctx.Err() == nil {
				failures++
				logErr(err, retryBackoff(failures, time.Minute))
			}
			return 0, err
		}
		failures = 0
		// last, not index: followIndex starts over from 0 when an index
		// goes back, which an event's (a hash of its ID) often does.
		if have && idx == last {
			return idx, nil // no change: the query timed out
		}
		if p.Type == "event" {
			result = watchPruneEvents(result, last, have)
		}
		last = idx
		var compact bytes.Buffer
		if json.Compact(&compact, result) != nil {
			compact.Reset()
			compact.Write(result)
		}
		if have && bytes.Equal(compact.Bytes(), lastResult) {
			return idx, nil
		}
		have, lastResult = true, compact.Bytes()
		handle(idx, lastResult)
		return idx, nil
	})
}

// watchHandlerCmd is a handler process with the result on stdin (and a
// newline, as Consul's json.Encoder) and CONSUL_INDEX in its environment:
// the words themselves (Consul's exec.Subprocess), or, given a shell, a
// script run by its -c (exec.Script).
func watchHandlerCmd(ctx context.Context, args []string, script, shell string, index uint64, result []byte) *exec.Cmd {
	var cmd *exec.Cmd
	if shell != "" {
		cmd = exec.CommandContext(ctx, shell, "-c", script)
	} else {
		cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	}
	cmd.Env = append(os.Environ(), "CONSUL_INDEX="+strconv.FormatUint(index, 10))
	cmd.Stdin = bytes.NewReader(append(slices.Clone(result), '\n'))
	cmd.WaitDelay = watchHandlerWaitDelay // a killed handler's children may hold its output open
	return cmd
}

// watchShell is the shell of a script handler: $SHELL, else /bin/sh.
func watchShell(getenv func(string) string) string {
	return cmp.Or(getenv("SHELL"), "/bin/sh")
}

// --- the agent's watches ---

// agentWatches are the agent's running watches, by their configuration.
type agentWatches struct {
	mu      sync.Mutex
	running map[string]context.CancelFunc // by watchKeys
}

// watchKeys identify the configured watches: each one's parameters as
// JSON (sorted keys), and which of identical ones it is.
func watchKeys(list []map[string]any) []string {
	seen := map[string]int{}
	keys := make([]string, len(list))
	for i, params := range list {
		b, _ := json.Marshal(params)
		seen[string(b)]++
		keys[i] = fmt.Sprintf("%s#%d", b, seen[string(b)])
	}
	return keys
}

// prepareWatches parses the configured watches as Consul's agent does
// (reloadWatches, makeWatchPlan): the handler type defaults to script; a
// connect_ type is refused; exactly one handler: args (a process), handler
// (a script for the shell, deprecated) or http_handler_config.
func prepareWatches(list []map[string]any) ([]*watchPlan, error) {
	var plans []*watchPlan
	for _, orig := range list {
		params := cloneWatchParams(orig)
		if ht, ok := params["handler_type"]; !ok {
			params["handler_type"] = "script"
		} else if ht != "http" && ht != "script" {
			return nil, fmt.Errorf("Handler type '%v' not recognized", ht)
		}
		if typ, ok := params["type"].(string); ok && strings.HasPrefix(typ, "connect_") {
			return nil, fmt.Errorf("Watch type %s is not allowed in agent config", typ)
		}
		p, err := parseWatch(params, []string{"handler", "args"})
		if err != nil {
			return nil, fmt.Errorf("Failed to parse watch (%s): %v", goMapString(params), err)
		}
		handler, hasHandler := p.exempt["handler"]
		if _, ok := handler.(string); hasHandler && !ok {
			return nil, errors.New("Watch handler must be a string")
		}
		args, hasArgs := p.exempt["args"]
		if hasArgs {
			var list []string
			if watchStrings(map[string]any{"args": args}, "args", &list) != nil {
				return nil, errors.New("Watch args must be a list of strings")
			}
			p.exempt["args"] = list
		}
		isHTTP := p.HandlerType == "http"
		if hasHandler && hasArgs || hasHandler && isHTTP || hasArgs && isHTTP {
			return nil, errors.New("Only one watch handler allowed")
		}
		if !hasHandler && !hasArgs && !isHTTP {
			return nil, errors.New("Must define a watch handler")
		}
		if hasArgs && len(p.exempt["args"].([]string)) == 0 {
			return nil, errors.New("Watch args must name a command") // Consul's runs an empty script
		}
		if p.Type == "agent_service" {
			return nil, fmt.Errorf("Watch type %s is not supported by miniconsul's agent", p.Type)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// cloneWatchParams copies the top level of a watch's parameters, which
// parsing consumes.
func cloneWatchParams(params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	return out
}

// goMapString renders parameters as Go's %#v of Consul's decoded
// map[string]interface {} (its numbers are ints or floats), as Consul's
// message shows them.
func goMapString(params map[string]any) string {
	var conv func(v any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return int(i)
			}
			f, _ := x.Float64()
			return f
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, val := range x {
				out[k] = conv(val)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, val := range x {
				out[i] = conv(val)
			}
			return out
		}
		return v
	}
	return fmt.Sprintf("%#v", conv(params))
}

// reloadWatches makes the running watches those of list: a watch no longer
// configured stops, a new one starts (its handler runs with the current
// result at once), one configured before keeps running. Callers hold
// reloadMu (startup, reload).
func (a *Agent) reloadWatches(list []map[string]any) error {
	plans, err := prepareWatches(list)
	if err != nil {
		return err
	}
	if len(plans) > 0 && len(a.httpListeners) == 0 {
		return errors.New("watch plans require an HTTP endpoint (miniconsul's watches do not use HTTPS)")
	}
	keys := watchKeys(list)
	w := &a.watches
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for k, stop := range w.running {
		if !want[k] {
			stop()
			delete(w.running, k)
		}
	}
	if w.running == nil {
		w.running = map[string]context.CancelFunc{}
	}
	if isShutdown(a.shutdownCh) {
		return nil
	}
	for i, p := range plans {
		if w.running[keys[i]] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(a.lifetime())
		w.running[keys[i]] = cancel
		a.wg.Go(func() { a.runWatch(ctx, p) })
	}
	return nil
}

// runWatch runs one configured watch until ctx ends.
func (a *Agent) runWatch(ctx context.Context, p *watchPlan) {
	logger := a.logger.With("watch_type", p.Type)
	host, port, _ := net.SplitHostPort(a.HTTPAddrs()[0])
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening on every address: call it on loopback, as Consul's ClientAddress
	}
	cl := &cliClient{
		base:       url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)},
		http:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		token:      p.Token,
		datacenter: p.Datacenter,
	}
	defer cl.http.CloseIdleConnections()
	var handle func(index uint64, result []byte)
	if p.http != nil {
		client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: p.http.TLSSkipVerify}
		defer client.CloseIdleConnections()
		handle = func(index uint64, result []byte) { a.watchHTTPHandle(ctx, client, p.http, index, result) }
	} else {
		handle = func(index uint64, result []byte) { a.watchProcessHandle(ctx, p, index, result) }
	}
	if _, ok := p.exempt["handler"]; ok {
		logger.Warn("The 'handler' field in watches has been deprecated and replaced with the 'args' field. See https://developer.hashicorp.com/docs/agent/watches")
	}
	p.run(ctx, cl, handle, func(err error, retry time.Duration) {
		logger.Error("Watch errored", "error", err, "retry", retry)
	})
}

// watchProcessHandle runs an args or handler process, logs its output
// (the last 4 KiB) and a failure, as Consul's makeWatchHandler.
func (a *Agent) watchProcessHandle(ctx context.Context, p *watchPlan, index uint64, result []byte) {
	args, _ := p.exempt["args"].([]string)
	script, isScript := p.exempt["handler"].(string)
	shell := ""
	if isScript {
		shell = watchShell(os.Getenv)
	}
	cmd := watchHandlerCmd(ctx, args, script, shell, index, result)
	out := tailBuffer{max: watchHandlerOutputMax}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		a.logger.Error("Failed to run watch handler", "watch_handler", cmp.Or(script, fmt.Sprintf("%q", args)), "error", err)
	}
	a.logger.Debug("watch handler output", "watch_handler", cmp.Or(script, fmt.Sprintf("%q", args)), "output", out.String())
}

// watchHTTPHandle POSTs (or the configured method) the result to the
// handler's endpoint with Content-Type application/json, X-Consul-Index
// and the configured headers, as Consul's makeHTTPWatchHandler.
func (a *Agent) watchHTTPHandle(ctx context.Context, client *http.Client, cfg *watchHTTPConfig, index uint64, result []byte) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.Path, bytes.NewReader(append(slices.Clone(result), '\n')))
	if err != nil {
		a.logger.Error("Failed to setup http watch", "error", err)
		return
	}
	req.Header.Add("Content-Type", "application/json")
	req.Header.Add("X-Consul-Index", strconv.FormatUint(index, 10))
	for name, vals := range cfg.Header {
		for _, v := range vals {
			req.Header.Add(name, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		a.logger.Error("Failed to invoke http watch handler", "watch", cfg.Path, "error", err)
		return
	}
	defer resp.Body.Close()
	out := tailBuffer{max: watchHandlerOutputMax}
	io.Copy(&out, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.logger.Error("http watch handler failed with output", "watch", cfg.Path, "status", resp.Status, "output", out.String())
	}
}

// startWatches starts the configured watches, as the agent starts.
func (a *Agent) startWatches() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.reloadWatches(a.cfg.Watches)
}
