// cli_watch.go: `consul watch`, Consul's watch of a data view over the
// HTTP API's blocking queries: key, keyprefix, services, nodes, service,
// checks and event; the watch itself (parameters, queries, change rules)
// is agent_watch.go's, shared with the agent's `watches` configuration.
//
// Data flow: the flags become Consul's watch parameters, as Consul's
// command compiles them → parseWatch (agent_watch.go) checks them → GET
// /v1/status/leader, to see the agent answers → watchPlan.run follows the
// view. On the first result, without a handler the JSON (indented four
// spaces, Consul's shape for the type: a key is one object or null) goes
// to stdout and the command exits 0; with a handler, `sh -c` (or $SHELL;
// the words alone with -shell=false) runs with the compact JSON and a
// newline on stdin and CONSUL_INDEX set, on the first result and on each
// change, until SIGINT or SIGTERM (exit 0) or a failing handler (exit 1).
//
// Concurrency: none shared; a stop cancels the watch's context, which
// ends its blocking query.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
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
	// The parameters, as Consul's command compiles them (the token and
	// the datacenter travel with the client).
	params := map[string]any{"type": o.watchType}
	for name, v := range map[string]string{"key": o.key, "prefix": o.prefix, "service": o.service, "filter": o.filter, "state": o.state, "name": o.name} {
		if v != "" {
			params[name] = v
		}
	}
	if len(o.tags) > 0 {
		params["tag"] = []string(o.tags)
	}
	if f.http.stale {
		params["stale"] = true
	}
	if o.passingOnly != "" {
		b, err := strconv.ParseBool(o.passingOnly)
		if err != nil {
			c.errorf("Failed to parse passingonly flag: %s", err)
			return 1
		}
		params["passingonly"] = b
	}
	plan, err := parseWatch(params, nil)
	if err != nil {
		c.errorf("%s", err)
		return 1
	}
	if strings.HasPrefix(plan.Type, "connect_") || strings.HasPrefix(plan.Type, "agent_") {
		c.errorf("Type %s is not supported in the CLI tool", plan.Type)
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	code := 0
	plan.run(ctx, cl, func(index uint64, result []byte) {
		if len(handler) == 0 {
			var out bytes.Buffer
			if err := json.Indent(&out, result, "", "    "); err != nil {
				c.errorf("Error encoding output: %s", err)
				code = 1
			} else {
				fmt.Fprintln(c.stdout, out.String())
			}
			cancel()
			return
		}
		if err := watchHandle(c, handler, o.shell, index, result); err != nil {
			c.errorf("%s", err)
			code = 1
			cancel()
		}
	}, func(err error, retry time.Duration) {
		fmt.Fprintf(c.stderr, "%s [ERROR] watch: Watch errored: type=%s error=%q retry=%s\n",
			time.Now().Format("2006-01-02T15:04:05.000Z0700"), plan.Type, err.Error(), retry)
	})
	return code
}

// watchHandle runs the handler with the result on stdin, as Consul's
// exec.Script (the shell's -c) or exec.Subprocess (-shell=false).
func watchHandle(c *cliEnv, handler []string, shell bool, index uint64, result []byte) error {
	sh, script := "", ""
	if shell {
		sh, script = watchShell(c.getenv), strings.Join(handler, " ")
	}
	cmd := watchHandlerCmd(context.Background(), handler, script, sh, index, result)
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
