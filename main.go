// The command line of miniconsul, a re-implementation of HashiCorp Consul.
//
// "agent" runs an agent: configuration flows from the agent flags defined
// here and from JSON files into a Config (loadConfig, config.go), which
// newAgent turns into running listeners and services until SIGINT or SIGTERM
// asks for a shutdown; SIGHUP reloads the services and checks of the config
// files (agent_reload.go). Each agent flag is Consul's and sets one Consul config
// key, so flags and files share one set of checks. "version" prints the
// version as Consul does. Nothing depends on the name the binary is run
// under, so it can be installed as "consul".
//
// Concurrency: run is the process's main goroutine; after the agent starts
// it only waits, in one select, for a signal (SIGHUP: a reload; SIGINT or
// SIGTERM: a shutdown), the agent leaving, or its Raft storage failing.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// consulVersion is the Consul version miniconsul reports being.
const consulVersion = "1.21.0"

// Consul RPC protocol versions, as "consul version" reports them.
const (
	rpcProtocolDefault = 2
	rpcProtocolMin     = 2
	rpcProtocolMax     = 3
)

// levelTrace is Consul's trace level, below slog's debug.
const levelTrace = slog.LevelDebug - 4

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: the
// command-line client's table (cli.go) holds every command, agent included.
func run(args []string, stdout, stderr io.Writer) int {
	return cliDispatch(args, &cliEnv{stdout: stdout, stderr: stderr, stdin: os.Stdin, getenv: os.Getenv})
}

// programName is the name the binary was run under, for help texts.
func programName() string {
	return filepath.Base(os.Args[0])
}

// agentCommand runs an agent until SIGINT or SIGTERM.
func agentCommand(args []string, stdout, stderr io.Writer) int {
	cfg, ignored, err := loadConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, cliAgentHelp()) // -h=true and the like: cliDispatch answers plain -h
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// SIGHUP is caught from here on: one that arrives while the agent
	// starts (it may already serve HTTP) is a reload once it runs, as in
	// Consul, not the default action that kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger := newAgentLogger(cfg, stdout)
	for _, key := range ignored {
		logger.Warn("ignored config key", "key", key)
	}
	logger.Info("starting Consul agent", "version", consulVersion, "node", cfg.NodeName,
		"datacenter", cfg.Datacenter, "server", cfg.Server, "bootstrap", cfg.Bootstrap,
		"bind", cfg.BindAddr, "advertise", cfg.AdvertiseAddr, "dev", cfg.DevMode)

	// How much garbage may grow before a collection (agent_gc.go).
	gcStop := make(chan struct{})
	defer close(gcStop)
	tuneGC(gcStop)
	if err := raiseFileLimit(cfg, logger); err != nil {
		fmt.Fprintf(stderr, "error starting agent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	agent, err := newAgent(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "error starting agent: %v\n", err)
		return 1
	}
	code := 0
	for running := true; running; {
		select {
		case <-hup:
			logger.Info("caught SIGHUP, reloading the configuration")
			agent.reload() // a refused reload is logged, and the agent runs on
		case <-ctx.Done():
			logger.Info("caught signal, shutting down")
			running = false
		case <-agent.Left():
			logger.Info("left the cluster, shutting down")
			running = false
		case <-agent.Failed():
			logger.Error("this server's Raft storage failed: exiting, so that the other servers elect a leader "+
				"and clients move to them; restart it once its disk is repaired", "error", agent.raft.failure)
			code, running = 1, false
		}
	}
	stop() // a second signal now kills the process
	agent.Shutdown()
	logger.Info("agent stopped")
	return code
}

// raiseFileLimit raises the soft limit on open descriptors to the hard
// limit, as Consul does (through Go's os package, which does it for every Go
// program since Go 1.19: done here explicitly, so the limit is logged),
// and refuses to start, as Consul does, when the limit cannot hold
// limits.http_max_conns_per_client connections and the agent's own 20.
func raiseFileLimit(cfg *Config, logger *slog.Logger) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Debug("file descriptor limit unknown", "error", err)
		return nil
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			logger.Warn("cannot raise the file descriptor limit", "soft", lim.Cur, "hard", lim.Max, "error", err)
		} else {
			lim = raised
		}
	}
	logger.Debug("file descriptor limit", "soft", lim.Cur, "hard", lim.Max)
	if need := uint64(cfg.HTTPMaxConnsPerClient) + 20; cfg.HTTPMaxConnsPerClient > 0 && lim.Cur < need {
		return fmt.Errorf("system allows a max of %d file descriptors, but limits.http_max_conns_per_client: %d needs at least %d",
			lim.Cur, cfg.HTTPMaxConnsPerClient, need)
	}
	return nil
}

// newAgentLogger logs one line per event to w, at the configured level,
// and to the agent's monitors at theirs.
func newAgentLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: slogLevel(cfg.LogLevel),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && len(groups) == 0 && a.Value.Any() == levelTrace {
				a.Value = slog.StringValue("TRACE")
			}
			return a
		},
	}
	// The agent's log fans out to the monitors of /v1/agent/monitor
	// (agent_monitor.go).
	if cfg.LogJSON {
		return slog.New(newMonitorHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(newMonitorHandler(slog.NewTextHandler(w, opts)))
}

// slogLevel maps a validated Consul log level to slog's.
func slogLevel(level string) slog.Level {
	switch level {
	case "trace":
		return levelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "err", "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// versionOutput is the JSON shape of "consul version -format=json".
type versionOutput struct {
	Version    string
	Revision   string
	Prerelease string
	FIPS       string `json:",omitempty"`
	BuildDate  string
	RPC        struct{ Default, Min, Max int }
}

// buildVersion describes this build; revision and date come from the VCS
// stamp Go embeds, with Consul's placeholder date when there is none.
func buildVersion() versionOutput {
	v := versionOutput{Version: consulVersion, BuildDate: "1970-01-01T00:00:01Z"}
	v.RPC.Default, v.RPC.Min, v.RPC.Max = rpcProtocolDefault, rpcProtocolMin, rpcProtocolMax
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.BuildDate = s.Value
			}
		}
	}
	return v
}

func versionCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "pretty", "Output format {pretty|json}")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	v := buildVersion()
	switch *format {
	case "pretty":
		fmt.Fprintf(stdout, "Consul v%s\n", v.Version)
		if v.Revision != "" {
			fmt.Fprintf(stdout, "Revision %s\n", v.Revision)
		}
		fmt.Fprintf(stdout, "Build Date %s\n", v.BuildDate)
		fmt.Fprintf(stdout, "Protocol %d spoken by default, understands %d to %d (agent will automatically use protocol >%d when speaking to compatible agents)\n",
			v.RPC.Default, v.RPC.Min, v.RPC.Max, v.RPC.Default)
	case "json":
		out, err := json.MarshalIndent(v, "", "   ")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", out)
	default:
		fmt.Fprintf(stderr, "Unknown format: %s\n", *format)
		return 1
	}
	return 0
}

// agentFlag is one command-line flag of "agent" and the config key it sets;
// flags with no key steer the loading itself.
type agentFlag struct {
	name, key string
	kind      flagKind
	usage     string
}

// flagKind says how a flag's text becomes the JSON value its key takes.
type flagKind int

const (
	flagBool   flagKind = iota // -x or -x=false: a boolean
	flagInt                    // an integer
	flagString                 // a string
	flagList                   // repeatable: each use appends one string
	flagMeta                   // repeatable key:value
)

func (k flagKind) parse(s string) (any, error) {
	switch k {
	case flagBool:
		return strconv.ParseBool(s)
	case flagInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, errors.New("expected an integer")
		}
		return json.Number(strconv.Itoa(n)), nil
	case flagList:
		return []any{s}, nil
	case flagMeta:
		key, value, _ := strings.Cut(s, ":")
		return map[string]any{key: value}, nil
	}
	return s, nil
}

var agentFlags = []agentFlag{
	{"dev", "", flagBool, "Development mode: in-memory server that bootstraps itself, on 127.0.0.1."},
	{"config-file", "", flagString, "JSON config file to load; repeatable."},
	{"config-dir", "", flagString, "Directory whose *.json files are loaded in lexical order; repeatable."},
	{"config-format", "", flagString, "Format of config files whatever their extension; only \"json\" is supported."},
	{"server", "server", flagBool, "Run in server mode."},
	{"bootstrap", "bootstrap", flagBool, "Bootstrap the cluster as its only server."},
	{"bootstrap-expect", "bootstrap_expect", flagInt, "Number of servers to wait for before bootstrapping."},
	{"node", "node_name", flagString, "Node name (default: host name)."},
	{"node-id", "node_id", flagString, "Node ID, a UUID."},
	{"node-meta", "node_meta", flagMeta, "Node metadata as key:value; repeatable."},
	{"datacenter", "datacenter", flagString, "Datacenter of the agent (default \"dc1\")."},
	{"data-dir", "data_dir", flagString, "Directory for agent state; required unless -dev."},
	{"bind", "bind_addr", flagString, "IP for cluster communication (default \"0.0.0.0\")."},
	{"advertise", "advertise_addr", flagString, "IP advertised to the cluster."},
	{"client", "client_addr", flagString, "Space-separated IPs for the HTTP and DNS interfaces (default \"127.0.0.1\")."},
	{"http-port", "ports.http", flagInt, "HTTP API port, -1 to disable (default 8500)."},
	{"dns-port", "ports.dns", flagInt, "DNS port, -1 to disable (default 8600)."},
	{"server-port", "ports.server", flagInt, "Server RPC port (default 8300)."},
	{"serf-lan-port", "ports.serf_lan", flagInt, "Serf LAN port (default 8301)."},
	{"serf-wan-port", "ports.serf_wan", flagInt, "Serf WAN port (default 8302)."},
	{"retry-join", "retry_join", flagList, "Address of an agent to join, retried until it succeeds; repeatable."},
	{"retry-join-wan", "retry_join_wan", flagList, "Address of a server to join over the WAN; repeatable."},
	{"join", "start_join", flagList, "Deprecated: same as -retry-join."},
	{"join-wan", "start_join_wan", flagList, "Deprecated: same as -retry-join-wan."},
	{"recursor", "recursors", flagList, "Upstream DNS server; repeatable."},
	{"domain", "domain", flagString, "DNS domain (default \"consul.\")."},
	{"encrypt", "encrypt", flagString, "Gossip encryption key, base64."},
	{"log-level", "log_level", flagString, "trace, debug, info, warn or error (default \"info\")."},
	{"log-json", "log_json", flagBool, "Log in JSON."},
	{"enable-script-checks", "enable_script_checks", flagBool, "Allow script checks."},
	{"enable-local-script-checks", "enable_local_script_checks", flagBool, "Allow script checks from local config only."},
	{"raft-protocol", "raft_protocol", flagInt, "Ignored."},
	{"ui", "ui_config.enabled", flagBool, "Enables the built-in static web UI server."},
}

// flagSetting is one use of a flag on the command line.
type flagSetting struct {
	flag  agentFlag
	value any
}

// agentArgs is the parsed command line of "agent".
type agentArgs struct {
	dev          bool
	configPaths  []string
	configFormat string
	settings     []flagSetting // flags that set config keys, in command-line order
}

// flagRecorder is the flag.Value of every agent flag: it records each use.
type flagRecorder struct {
	flag   agentFlag
	record func(agentFlag, any)
}

func (r *flagRecorder) String() string   { return "" }
func (r *flagRecorder) IsBoolFlag() bool { return r.flag.kind == flagBool }

func (r *flagRecorder) Set(s string) error {
	v, err := r.flag.kind.parse(s)
	if err == nil {
		r.record(r.flag, v)
	}
	return err
}

// newAgentFlagSet defines the agent flags, passing each use to record.
func newAgentFlagSet(record func(agentFlag, any)) *flag.FlagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range agentFlags {
		fs.Var(&flagRecorder{flag: f, record: record}, f.name, f.usage)
	}
	return fs
}

func parseAgentFlags(args []string) (*agentArgs, error) {
	parsed := &agentArgs{}
	fs := newAgentFlagSet(func(f agentFlag, v any) {
		switch f.name {
		case "dev":
			parsed.dev = v.(bool)
		case "config-file", "config-dir":
			parsed.configPaths = append(parsed.configPaths, v.(string))
		case "config-format":
			parsed.configFormat = v.(string)
		default:
			parsed.settings = append(parsed.settings, flagSetting{f, v})
		}
	})
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("config: unexpected arguments %q", fs.Args())
	}
	switch parsed.configFormat {
	case "", "json":
	case "hcl":
		return nil, errors.New("config: flag -config-format: HCL is not supported, only json")
	default:
		return nil, fmt.Errorf("config: flag -config-format: invalid format %q, only json is supported", parsed.configFormat)
	}
	return parsed, nil
}
