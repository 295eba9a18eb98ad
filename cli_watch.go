// cli_watch.go: `consul watch`, Consul's watch of a data view over the
// HTTP API's blocking queries: key, keyprefix, services, nodes, service,
// checks and event.
//
// Data flow: the flags become Consul's watch parameters (checked as
// Consul's watch.Parse checks them: the type's required ones, then any
// left unused) → GET /v1/status/leader, to see the agent answers → the
// loop: a query with ?index= the last X-Consul-Index (none the first
// time) blocks until the view changes; an answer at the same index is no
// change, an index that goes backwards resets the next query's index to
// 0, and a new index whose result equals the last one is no change either.
// On a change, without a handler the JSON (indented four spaces, Consul's
// shape for the type: a key is one object or null) goes to stdout and the
// command exits 0; with a handler, `sh -c` (or $SHELL; the words alone
// with -shell=false) runs with the compact JSON and a newline on stdin
// and CONSUL_INDEX set, on the first result and on each change, until
// SIGINT or SIGTERM (exit 0) or a failing handler (exit 1).
//
// Concurrency: none shared; each query runs on its own goroutine so that
// a stop need not wait for a blocking query to answer, and its answer
// comes back on a channel.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const watchHelpText = `
Usage: consul watch [options] [child...]

  Watches for changes in a given data view from Consul. If a child process
  is specified, it will be invoked with the latest results on changes. Otherwise,
  the latest values are dumped to stdout and the watch terminates.

  Providing the watch type is required, and other parameters may be required
  or supported depending on the watch type.
`

// watchCommands is the watch family: one command.
func watchCommands() []cliCommand {
	f, _ := newWatchFlags()
	return []cliCommand{{name: "watch", synopsis: "Watch for changes in Consul", help: cliFlagsUsage(watchHelpText, f), run: watchCommand}}
}

// watchOptions are the command's own flags.
type watchOptions struct {
	watchType, key, prefix, service, passingOnly, state, name, filter string
	tags                                                              cliListFlag
	shell                                                             bool
}

func newWatchFlags() (*cliFlags, *watchOptions) {
	f := newCLIFlags(true, true)
	o := &watchOptions{}
	f.StringVar(&o.watchType, "type", "", "Specifies the watch type. One of key, keyprefix, services, nodes, service, checks, or event.")
	f.StringVar(&o.key, "key", "", "Specifies the key to watch. Only for 'key' type.")
	f.StringVar(&o.prefix, "prefix", "", "Specifies the key prefix to watch. Only for 'keyprefix' type.")
	f.StringVar(&o.service, "service", "", "Specifies the service to watch. Required for 'service' type, optional for 'checks' type.")
	f.Var(&o.tags, "tag", "Specifies the service tag(s) to filter on. Optional for 'service' type. May be specified multiple times")
	f.StringVar(&o.passingOnly, "passingonly", "", "Specifies if only hosts passing all checks are displayed. Optional for 'service' type, must be one of `[true|false]`. Defaults false.")
	f.BoolVar(&o.shell, "shell", true, "Use a shell to run the command (can set a custom shell via the SHELL environment variable).")
	f.StringVar(&o.state, "state", "", "Specifies the states to watch. Optional for 'checks' type.")
	f.StringVar(&o.name, "name", "", "Specifies an event name to watch. Only for 'event' type.")
	f.StringVar(&o.filter, "filter", "", "Filter to use with the request")
	return f, o
}

// watchCommand runs the watch until SIGINT or SIGTERM, which end it with
// exit 0 as Consul's.
func watchCommand(c *cliEnv, args []string) int {
	stop := make(chan struct{})
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigCh)
	go func() {
		if _, ok := <-sigCh; ok {
			close(stop)
		}
	}()
	return watchRun(c, args, stop)
}

// watchFetch is one query of a view: the answer's index and its result as
// JSON ("null" for none).
type watchFetch func(cl *cliClient, index uint64) (uint64, json.RawMessage, error)

// watchPlan checks the parameters as Consul's watch.Parse and returns the
// type's query, or Consul's message.
func watchPlan(o *watchOptions, stale bool, passing *bool) (watchFetch, error) {
	// The parameters set, as Consul's command compiles them; each type
	// consumes its own and any left over is invalid.
	params := map[string]bool{}
	set := func(name string, ok bool) {
		if ok {
			params[name] = true
		}
	}
	set("key", o.key != "")
	set("prefix", o.prefix != "")
	set("service", o.service != "")
	set("filter", o.filter != "")
	set("tag", len(o.tags) > 0)
	set("stale", stale)
	set("state", o.state != "")
	set("name", o.name != "")
	set("passingonly", passing != nil)
	use := func(names ...string) {
		for _, n := range names {
			delete(params, n)
		}
	}
	var fetch watchFetch
	switch o.watchType {
	case "key":
		use("stale", "key")
		if o.key == "" {
			return nil, fmt.Errorf("Must specify a single key to watch")
		}
		fetch = watchKV(o.key, false)
	case "keyprefix":
		use("stale", "prefix")
		if o.prefix == "" {
			return nil, fmt.Errorf("Must specify a single prefix to watch")
		}
		fetch = watchKV(o.prefix, true)
	case "services":
		use("stale", "filter")
		fetch = watchGet("/v1/catalog/services", url.Values{}, o.filter)
	case "nodes":
		use("stale", "filter")
		fetch = watchGet("/v1/catalog/nodes", url.Values{}, o.filter)
	case "service":
		use("stale", "filter", "service")
		if o.service == "" {
			return nil, fmt.Errorf("Must specify a single service to watch")
		}
		use("tag", "passingonly")
		q := url.Values{}
		for _, t := range o.tags {
			q.Add("tag", t)
		}
		if passing != nil && *passing {
			q.Set("passing", "1")
		}
		fetch = watchGet("/v1/health/service/"+url.PathEscape(o.service), q, o.filter)
	case "checks":
		use("stale", "service", "state", "filter")
		if o.service != "" && o.state != "" {
			return nil, fmt.Errorf("Cannot specify service and state")
		}
		if o.service == "" && o.state == "" {
			o.state = "any"
		}
		if o.state != "" {
			fetch = watchGet("/v1/health/state/"+url.PathEscape(o.state), url.Values{}, o.filter)
		} else {
			fetch = watchGet("/v1/health/checks/"+url.PathEscape(o.service), url.Values{}, o.filter)
		}
	case "event":
		use("name")
		q := url.Values{}
		if o.name != "" {
			q.Set("name", o.name)
		}
		fetch = watchGet("/v1/event/list", q, "")
	case "connect_roots":
	case "connect_leaf", "agent_service":
		use("service")
	default:
		return nil, fmt.Errorf("Unsupported watch type: %s", o.watchType)
	}
	if len(params) > 0 {
		var bad []string
		for n := range params {
			bad = append(bad, n)
		}
		slices.Sort(bad) // Consul's order is its map's, random
		return nil, fmt.Errorf("Invalid parameters: %v", bad)
	}
	if strings.HasPrefix(o.watchType, "connect_") || strings.HasPrefix(o.watchType, "agent_") {
		return nil, fmt.Errorf("Type %s is not supported in the CLI tool", o.watchType)
	}
	return fetch, nil
}

// watchQuery sends a (blocking, if index > 0) GET and returns the answer.
func watchQuery(cl *cliClient, path string, q url.Values, index uint64) (*cliResponse, error) {
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
	} else {
		q.Del("index")
	}
	return cl.do(http.MethodGet, path, q, nil)
}

// watchGet is the query of a list view (catalog, health, events).
func watchGet(path string, q url.Values, filter string) watchFetch {
	if filter != "" {
		q.Set("filter", filter)
	}
	return func(cl *cliClient, index uint64) (uint64, json.RawMessage, error) {
		resp, err := watchQuery(cl, path, q, index)
		if err != nil {
			return 0, nil, err
		}
		if resp.code != http.StatusOK {
			return 0, nil, &errCLIStatus{resp.code, strings.TrimSpace(string(resp.body))}
		}
		return resp.index(), json.RawMessage(bytes.TrimSpace(resp.body)), nil
	}
}

// watchKV is the query of a key (its entry, or null) or of a prefix (its
// entries, or null when there are none), as Consul's KV().Get and List.
func watchKV(key string, prefix bool) watchFetch {
	q := url.Values{}
	if prefix {
		q.Set("recurse", "")
	}
	path := kvAPIPath(kvTrimSlash(key))
	if prefix {
		path = kvAPIPath(key)
	}
	return func(cl *cliClient, index uint64) (uint64, json.RawMessage, error) {
		resp, err := watchQuery(cl, path, q, index)
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
		if prefix {
			return resp.index(), json.RawMessage(bytes.TrimSpace(resp.body)), nil
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(resp.body, &entries); err != nil {
			return 0, nil, err
		}
		if len(entries) == 0 {
			return resp.index(), json.RawMessage("null"), nil
		}
		return resp.index(), entries[0], nil
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

// watchRetry is Consul's backoff after a failed query: 5s × failures²,
// at most 180s.
func watchRetry(failures int) time.Duration {
	return min(5*time.Second*time.Duration(failures*failures), 180*time.Second)
}

// watchRun is the command; stop ends a running watch (exit 0).
func watchRun(c *cliEnv, args []string, stop <-chan struct{}) int {
	f, o := newWatchFlags()
	if !f.parse(c, args) {
		return 1
	}
	if o.watchType == "" {
		c.errorf("Watch type must be specified")
		c.errorf("")
		c.errorf("%s", strings.TrimRight(cliFlagsUsage(watchHelpText, f), "\n"))
		return 1
	}
	var passing *bool
	if o.passingOnly != "" {
		b, err := strconv.ParseBool(o.passingOnly)
		if err != nil {
			c.errorf("Failed to parse passingonly flag: %s", err)
			return 1
		}
		passing = &b
	}
	fetch, err := watchPlan(o, f.http.stale, passing)
	if err != nil {
		c.errorf("%s", err)
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if _, err := cl.call(http.MethodGet, "/v1/status/leader", nil, nil, nil); err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}
	handler := f.Args()

	type answer struct {
		index  uint64
		result json.RawMessage
		err    error
	}
	var (
		last       uint64
		haveLast   bool
		lastResult []byte
		failures   int
	)
	for {
		ch := make(chan answer, 1)
		go func(index uint64) {
			idx, res, err := fetch(cl, index)
			ch <- answer{idx, res, err}
		}(last)
		var a answer
		select {
		case <-stop:
			return 0
		case a = <-ch:
		}
		if a.err != nil {
			failures++
			retry := watchRetry(failures)
			fmt.Fprintf(c.stderr, "%s [ERROR] watch: Watch errored: type=%s error=%q retry=%s\n",
				time.Now().Format("2006-01-02T15:04:05.000Z0700"), o.watchType, a.err.Error(), retry)
			select {
			case <-time.After(retry):
				continue
			case <-stop:
				return 0
			}
		}
		failures = 0
		if haveLast && a.index == last {
			continue // no change: the query timed out
		}
		if o.watchType == "event" {
			a.result = watchPruneEvents(a.result, last, haveLast)
		}
		wasSet := haveLast
		if a.index < last {
			last = 0 // the index went backwards: start over
		} else {
			last = a.index
		}
		haveLast = true
		var compact bytes.Buffer
		if err := json.Compact(&compact, a.result); err != nil {
			compact.Reset()
			compact.Write(a.result)
		}
		if wasSet && bytes.Equal(compact.Bytes(), lastResult) {
			continue
		}
		lastResult = compact.Bytes()

		if len(handler) == 0 {
			var out bytes.Buffer
			if err := json.Indent(&out, a.result, "", "    "); err != nil {
				c.errorf("Error encoding output: %s", err)
				return 1
			}
			fmt.Fprintln(c.stdout, out.String())
			return 0
		}
		if err := watchHandle(c, handler, o.shell, a.index, lastResult); err != nil {
			c.errorf("%s", err)
			return 1
		}
	}
}

// watchHandle runs the handler with the result on stdin, as Consul's
// exec.Script (the shell's -c) or exec.Subprocess (-shell=false).
func watchHandle(c *cliEnv, handler []string, shell bool, index uint64, result []byte) error {
	var cmd *exec.Cmd
	if shell {
		sh := "/bin/sh"
		if s := c.getenv("SHELL"); s != "" {
			sh = s
		}
		cmd = exec.Command(sh, "-c", strings.Join(handler, " "))
	} else {
		cmd = exec.Command(handler[0], handler[1:]...)
	}
	cmd.Env = append(os.Environ(), "CONSUL_INDEX="+strconv.FormatUint(index, 10))
	cmd.Stdin = bytes.NewReader(append(slices.Clone(result), '\n'))
	cmd.Stdout = c.stdout
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("Error starting handler: %s", err)
	}
	// SIGINT and SIGTERM reach the handler too, as Consul forwards them: a
	// handler that never ends must not keep the watch from stopping (the
	// watch's own channel gets them as well, and stops it).
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigCh)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	forwarded := false
	for {
		select {
		case sig := <-sigCh:
			forwarded = true
			cmd.Process.Signal(sig)
		case err := <-done:
			if err != nil && !forwarded {
				return fmt.Errorf("Error executing handler: %s", err)
			}
			return nil
		}
	}
}
