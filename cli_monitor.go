// cli_monitor.go: "monitor [-log-level] [-log-json]", Consul's: streams the
// agent's log lines (GET /v1/agent/monitor) to stdout until interrupted.
//
// Data flow: flags → one streaming GET with ?loglevel (default INFO) and
// ?logjson → a reader goroutine splits the body into lines → the command
// prints each line. SIGINT or SIGTERM ends it with exit 0; the agent
// ending the stream prints Consul's "Remote side ended the monitor!" and
// exits 1; a refused request prints "Error starting monitor: …", exit 1.
//
// Concurrency: none in the command's state; one reader goroutine hands
// lines over a channel and stops when the request's context is cancelled.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func monitorCommands() []cliCommand {
	return []cliCommand{
		{name: "monitor", synopsis: "Stream logs from a Consul agent", help: cliFlagsUsage(monitorHelp, monitorFlags(&monitorOpts{})), run: monitorCommand},
	}
}

const monitorHelp = `
Usage: consul monitor [options]

  Shows recent log messages of a Consul agent, and attaches to the agent,
  outputting log messages as they occur in real time. The monitor lets you
  listen for log levels that may be filtered out of the Consul agent. For
  example your agent may only be logging at INFO level, but with the monitor
  you can see the DEBUG level logs.
`

type monitorOpts struct {
	logLevel string
	logJSON  bool
}

func monitorFlags(o *monitorOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.StringVar(&o.logLevel, "log-level", "INFO", "Log level of the agent.")
	f.BoolVar(&o.logJSON, "log-json", false, "Output logs in JSON format.")
	return f
}

// monitorCommand runs the monitor until SIGINT or SIGTERM, as Consul's
// shutdown channel.
func monitorCommand(c *cliEnv, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runMonitor(c, args, ctx.Done())
}

// runMonitor streams the log until interrupt closes (exit 0) or the agent
// ends the stream (exit 1).
func runMonitor(c *cliEnv, args []string, interrupt <-chan struct{}) int {
	var o monitorOpts
	f := monitorFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	what := "monitor"
	q := url.Values{}
	if o.logLevel != "" {
		q.Set("loglevel", o.logLevel)
	}
	if o.logJSON {
		what = "JSON monitor"
		q.Set("logjson", "true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body, err := cl.stream(ctx, "/v1/agent/monitor", q)
	if err != nil {
		c.errorf("Error starting %s: %s", what, err)
		return 1
	}
	defer body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(body)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimRight(line, "\r\n"); line != "" || err == nil {
				if line == "" {
					line = " " // Consul's client: an empty line is not the end
				}
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				fmt.Fprintln(c.stdout)
				fmt.Fprintln(c.stdout, "Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.")
				return 1
			}
			fmt.Fprintln(c.stdout, line)
		case <-interrupt:
			return 0
		}
	}
}

// stream sends a GET whose answer is read as it comes: the body of a 200,
// to close; any other answer is an errCLIStatus, as call's.
func (cl *cliClient) stream(ctx context.Context, path string, query url.Values) (io.ReadCloser, error) {
	req, err := cl.request(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, &errCLIStatus{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	return resp.Body, nil
}
