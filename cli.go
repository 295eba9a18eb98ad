// cli.go: the command-line client, Consul's commands in the same binary:
// the table of commands, the dispatch of the process's arguments to one of
// them, and what they share: the HTTP API client with Consul's flags and
// environment variables, flag parsing with Consul's help and exit codes,
// and column output as Consul's columnize.
//
// Data flow: run (main.go) → cliDispatch picks the longest run of words
// that names a command ("operator raft list-peers") → the command parses
// its flags, calls the local agent's HTTP API through cliClient (every
// command is a thin client of the API, as Consul's are), and prints to
// stdout, or an error to stderr. Exit codes as Consul 1.22's: 0, 1 for an
// error and for bad flags or usage, 127 for an unknown command. A command
// family with no action of its own ("kv") prints its subcommands and
// exits 1; -h, -help and --help print a command's help on stdout, exit 0.
//
// The commands live one family per file (cli_kv.go, cli_catalog.go, …)
// and register in cliCommands, the one table.
//
// Concurrency: none; a command runs on the process's main goroutine.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cliCommand is one command of the table.
type cliCommand struct {
	name     string // its words: "kv get"
	synopsis string // one line, for the lists of commands
	help     string // the whole help text, "Usage: consul …" first
	// run runs the command with the arguments after its words; nil for a
	// family, which has subcommands only.
	run func(c *cliEnv, args []string) int
}

// cliEnv is what a command runs with: the process's streams and
// environment, so that tests can run commands in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
}

// errorf prints an error line on stderr, as Consul's UI.Error.
func (c *cliEnv) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, format+"\n", args...)
}

// cliCommands returns the table of commands, in one place. It is built on
// each call: the process runs one command.
func cliCommands() []cliCommand {
	cmds := []cliCommand{
		{name: "agent", synopsis: "Runs a Consul agent", help: cliAgentHelp(), run: func(c *cliEnv, args []string) int {
			return agentCommand(args, c.stdout, c.stderr)
		}},
		{name: "keygen", synopsis: "Generates a new encryption key", help: `Usage: consul keygen

  Generates a new 32-byte encryption key that can be used to configure the
  agent to encrypt traffic. The output of this command is already
  in the proper format that the agent expects.`, run: func(c *cliEnv, args []string) int {
			return keygenCommand(c.stdout, c.stderr)
		}},
		{name: "version", synopsis: "Prints the Consul version", help: `Usage: consul version [options]

Command Options

  -format=<string>
     Output format {pretty|json}`, run: func(c *cliEnv, args []string) int {
			return versionCommand(args, c.stdout, c.stderr)
		}},
	}
	for _, family := range cliFamilies {
		cmds = append(cmds, family()...)
	}
	slices.SortFunc(cmds, func(a, b cliCommand) int { return strings.Compare(a.name, b.name) })
	return cmds
}

// cliAgentHelp is the help of "agent": every flag of agentFlags in
// Consul's layout, -datacenter under "HTTP API Options" as Consul's.
func cliAgentHelp() string {
	return cliUsageText(`Usage: consul agent [options]

  Starts the Consul agent and runs until an interrupt is received. The
  agent represents a single node in a cluster.`, newAgentFlagSet(nil), map[string]bool{"datacenter": true})
}

// cliFamilies are the command families, one per cli_*.go file; each
// returns its commands.
var cliFamilies = []func() []cliCommand{kvCommands, agentCLICommands, catalogCommands, servicesCommands, snapshotCommands, operatorCommands, lockCommands, watchCommands, monitorCommands, intentionCommands, configCommands, connectCommands, connectCACommands, aclCommands, tlsCommands, rttCommands}

// cliDispatch runs the command args name and returns the exit code.
func cliDispatch(args []string, c *cliEnv) int {
	cmds := cliCommands()
	if len(args) == 0 {
		cliUsage(c.stderr, cmds)
		return 127
	}
	switch args[0] {
	case "-v", "-version", "--version":
		return versionCommand(args[1:], c.stdout, c.stderr)
	case "-h", "-help", "--help":
		if len(args) == 1 {
			cliUsage(c.stdout, cmds)
			return 0
		}
		args = append(args[1:], args[0]) // "consul -h kv": kv's help
	}
	var found *cliCommand
	words := 0
	for i := range cmds {
		n := len(strings.Fields(cmds[i].name))
		if n > words && n <= len(args) && strings.Join(args[:n], " ") == cmds[i].name {
			found, words = &cmds[i], n
		}
	}
	if found == nil {
		cliUsage(c.stderr, cmds)
		return 127
	}
	rest := args[words:]
	flags := rest
	if i := slices.Index(rest, "--"); i >= 0 {
		flags = rest[:i] // after "--", a -h is an argument, not a flag
	}
	if slices.ContainsFunc(flags, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprint(c.stdout, cliHelp(found, cmds))
		return 0
	}
	if found.run == nil {
		fmt.Fprint(c.stderr, cliHelp(found, cmds))
		return 1
	}
	return found.run(c, rest)
}

// cliUsage lists the top-level commands, as Consul's help does.
func cliUsage(w io.Writer, cmds []cliCommand) {
	fmt.Fprintf(w, "Usage: %s [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n", programName())
	cliList(w, cmds, "")
}

// cliList lists the commands one word below parent ("" for the top level),
// names padded to the longest.
func cliList(w io.Writer, cmds []cliCommand, parent string) {
	var names []string
	synopsis := map[string]string{}
	for _, cmd := range cmds {
		rest, ok := strings.CutPrefix(cmd.name, parent)
		if parent != "" {
			rest, ok = strings.CutPrefix(rest, " ")
		}
		if ok && rest != "" && !strings.Contains(rest, " ") {
			names = append(names, rest)
			synopsis[rest] = cmd.synopsis
		}
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	gap := " " // Consul's top-level list; a family's subcommands are 4 apart
	if parent != "" {
		gap = "    "
	}
	for _, n := range names {
		fmt.Fprintf(w, "    %-*s%s%s\n", width, n, gap, synopsis[n])
	}
}

// cliHelp is a command's help text; a family's ends with its subcommands.
func cliHelp(cmd *cliCommand, cmds []cliCommand) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(cmd.help, "\n"))
	b.WriteString("\n")
	var sub strings.Builder
	cliList(&sub, cmds, cmd.name)
	if sub.Len() > 0 {
		b.WriteString("\nSubcommands:\n")
		b.WriteString(sub.String())
	}
	return b.String()
}

// --- flags ---

// cliFlags is a command's flag set: Consul's flags of the HTTP client
// (if http is set) and the command's own.
type cliFlags struct {
	*flag.FlagSet
	http *cliHTTP
}

// newCLIFlags makes the flag set of a command; withHTTP adds the HTTP
// client's flags, withServer also -datacenter and -stale.
func newCLIFlags(withHTTP, withServer bool) *cliFlags {
	f := &cliFlags{FlagSet: flag.NewFlagSet("", flag.ContinueOnError)}
	f.SetOutput(io.Discard)
	if withHTTP {
		f.http = &cliHTTP{}
		f.Var((*cliString)(&f.http.addr), "http-addr", "The `address` and port of the Consul HTTP agent. The value can be an IP address or DNS address, but it must also include the port. This can also be specified via the CONSUL_HTTP_ADDR environment variable. The default value is http://localhost:8500. The scheme can also be set to HTTPS by setting the environment variable CONSUL_HTTP_SSL=true.")
		f.Var((*cliString)(&f.http.token), "token", "ACL token to use in the request. This can also be specified via the CONSUL_HTTP_TOKEN environment variable. If unspecified, the query will default to the token of the Consul agent at the HTTP address.")
		f.Var((*cliString)(&f.http.tokenFile), "token-file", "File containing the ACL token to use in the request instead of one specified via the -token argument or CONSUL_HTTP_TOKEN environment variable. This can also be specified via the CONSUL_HTTP_TOKEN_FILE environment variable.")
		f.Var((*cliString)(&f.http.caFile), "ca-file", "Path to a CA file to use for TLS when communicating with Consul. This can also be specified via the CONSUL_CACERT environment variable.")
		f.Var((*cliString)(&f.http.caPath), "ca-path", "Path to a directory of CA certificates to use for TLS when communicating with Consul. This can also be specified via the CONSUL_CAPATH environment variable.")
		f.Var((*cliString)(&f.http.clientCert), "client-cert", "Path to a client cert file to use for TLS when 'verify_incoming' is enabled. This can also be specified via the CONSUL_CLIENT_CERT environment variable.")
		f.Var((*cliString)(&f.http.clientKey), "client-key", "Path to a client key file to use for TLS when 'verify_incoming' is enabled. This can also be specified via the CONSUL_CLIENT_KEY environment variable.")
		f.Var((*cliString)(&f.http.tlsServerName), "tls-server-name", "The server name to use as the SNI host when connecting via TLS. This can also be specified via the CONSUL_TLS_SERVER_NAME environment variable.")
		if withServer {
			f.Var((*cliString)(&f.http.datacenter), "datacenter", "Name of the datacenter to query. If unspecified, this will default to the datacenter of the queried agent.")
			f.BoolVar(&f.http.stale, "stale", false, "Permit any Consul server (non-leader) to respond to this request. This allows for lower latency and higher throughput, but can result in stale data. This option has no effect on non-read operations. The default value is false.")
		}
	}
	return f
}

// cliFlagsUsage renders a command's help as Consul's flags.Usage: the
// text, then "HTTP API Options" (the flags newCLIFlags adds) and "Command
// Options", each flag as "  -name=<example>" ("  -name" for a boolean)
// and its usage wrapped at 72 columns with minimal raggedness, indented 5.
func cliFlagsUsage(text string, f *cliFlags) string {
	httpNames := map[string]bool{}
	if f.http != nil {
		newCLIFlags(true, true).VisitAll(func(fl *flag.Flag) { httpNames[fl.Name] = true })
	}
	return cliUsageText(text, f.FlagSet, httpNames)
}

// cliUsageText is cliFlagsUsage of any flag set: the flags httpNames
// names go under "HTTP API Options".
func cliUsageText(text string, fs *flag.FlagSet, httpNames map[string]bool) string {
	var httpPart, cmdPart strings.Builder
	fs.VisitAll(func(fl *flag.Flag) {
		w := &cmdPart
		if httpNames[fl.Name] {
			w = &httpPart
		}
		example, _ := flag.UnquoteUsage(fl)
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			example = ""
		}
		if example != "" {
			fmt.Fprintf(w, "  -%s=<%s>\n", fl.Name, example)
		} else {
			fmt.Fprintf(w, "  -%s\n", fl.Name)
		}
		for _, line := range cliWrap(fl.Usage, 72-5) {
			fmt.Fprintf(w, "     %s\n", line)
		}
		w.WriteString("\n")
	})
	var b strings.Builder
	b.WriteString(strings.TrimSpace(text))
	b.WriteString("\n\n")
	if httpPart.Len() > 0 {
		b.WriteString("HTTP API Options\n\n" + httpPart.String())
	}
	if cmdPart.Len() > 0 {
		b.WriteString("Command Options\n\n" + cmdPart.String())
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// cliWrap breaks s into lines of at most width bytes with the least
// raggedness, as Consul's help does (kr/text): the sum over all lines but
// the last of the squared shortfall is minimal (on a tie the earlier
// break wins); a word longer than the width makes a line of its own, at a
// large penalty.
func cliWrap(s string, width int) []string {
	words := strings.Split(strings.ReplaceAll(strings.TrimSpace(s), "\n", " "), " ") // as kr/text: a double space is an empty word
	n := len(words)
	const penalty = 100000
	// span(i, j) is the length of words[i:j] joined by single spaces.
	span := func(i, j int) int {
		l := j - i - 1
		for _, w := range words[i:j] {
			l += len(w)
		}
		return l
	}
	cost := make([]int, n+1)
	next := make([]int, n+1)
	for i := n - 1; i >= 0; i-- {
		if span(i, n) <= width || i == n-1 {
			cost[i], next[i] = 0, n
			continue
		}
		cost[i] = int(^uint(0) >> 1)
		for j := i + 1; j < n; j++ {
			l := span(i, j)
			c := (width-l)*(width-l) + cost[j]
			if l > width {
				c += penalty
			}
			if c < cost[i] {
				cost[i], next[i] = c, j
			}
		}
	}
	var lines []string
	for i := 0; i < n; i = next[i] {
		lines = append(lines, strings.Join(words[i:next[i]], " "))
	}
	return lines
}

// partitionVar adds Consul's -partition flag (Enterprise's admin
// partition, passed on as the query's partition).
func (f *cliFlags) partitionVar(p *string) {
	f.StringVar(p, "partition", "", "Specifies the admin partition to query. If not provided, the admin partition will be inferred from the request's ACL token, or will default to the `default` admin partition. Admin Partitions are a Consul Enterprise feature.")
}

// cliMapFlag is a repeatable key=value flag (Consul's FlagMapValue).
type cliMapFlag map[string]string

func (m *cliMapFlag) String() string { return "" }

func (m *cliMapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("Missing \"=\" value in argument: %s", v)
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = val
	return nil
}

// cliListFlag is a repeatable flag (Consul's AppendSliceValue).
type cliListFlag []string

func (l *cliListFlag) String() string { return strings.Join(*l, ",") }

func (l *cliListFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// cliString is a string flag that its usage shows as "value", as
// Consul's flag types show.
type cliString string

func (v *cliString) String() string     { return string(*v) }
func (v *cliString) Set(s string) error { *v = cliString(s); return nil }

// parse parses args; on a bad flag it prints Consul's message and the
// command's usage of the flags on stderr, and returns false (exit 1).
func (f *cliFlags) parse(c *cliEnv, args []string) bool {
	if err := f.Parse(args); err != nil {
		c.errorf("%v", err)
		f.SetOutput(c.stderr)
		fmt.Fprintln(c.stderr, "Usage:")
		f.PrintDefaults()
		f.SetOutput(io.Discard)
		return false
	}
	return true
}

// connect makes the HTTP client of the flags and the environment, or
// prints Consul's message and returns nil.
func (f *cliFlags) connect(c *cliEnv) *cliClient {
	cl, err := f.http.client(c)
	if err != nil {
		c.errorf("Error connecting to Consul agent: %s", err)
		return nil
	}
	return cl
}

// cliQuery is the query of the pairs name, value whose value is set.
func cliQuery(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	return q
}

// cliIf is v if set, else "" (a flag cliQuery leaves out).
func cliIf(set bool, v string) string {
	if set {
		return v
	}
	return ""
}

// cliHTTP are the HTTP client's flags; an empty one takes its environment
// variable, as Consul's api.DefaultConfig.
type cliHTTP struct {
	addr, token, tokenFile, datacenter                   string
	caFile, caPath, clientCert, clientKey, tlsServerName string
	stale                                                bool
}

// cliClient calls the agent's HTTP API.
type cliClient struct {
	base       url.URL // scheme, host, and the path prefix of an address like http://host:port/prefix
	http       *http.Client
	token      string
	auth       *url.Userinfo // CONSUL_HTTP_AUTH's user:password, sent as basic auth
	datacenter string
	stale      bool
}

// client makes the HTTP client the flags and the environment describe.
func (h *cliHTTP) client(c *cliEnv) (*cliClient, error) {
	env := func(v *string, name string) {
		if *v == "" {
			*v = c.getenv(name)
		}
	}
	env(&h.addr, "CONSUL_HTTP_ADDR")
	env(&h.caFile, "CONSUL_CACERT")
	env(&h.caPath, "CONSUL_CAPATH")
	env(&h.clientCert, "CONSUL_CLIENT_CERT")
	env(&h.clientKey, "CONSUL_CLIENT_KEY")
	env(&h.tlsServerName, "CONSUL_TLS_SERVER_NAME")
	if h.addr == "" {
		h.addr = "localhost:8500"
	}
	cl := &cliClient{datacenter: h.datacenter, stale: h.stale}
	// The token, in Consul's order: -token-file, -token,
	// CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN.
	for _, src := range []struct{ token, file string }{
		{file: h.tokenFile}, {token: h.token}, {file: c.getenv("CONSUL_HTTP_TOKEN_FILE")}, {token: c.getenv("CONSUL_HTTP_TOKEN")},
	} {
		if src.file != "" {
			b, err := os.ReadFile(src.file)
			if err != nil {
				return nil, fmt.Errorf("Error loading token file %s : %s", src.file, err)
			}
			cl.token = strings.TrimSpace(string(b))
			break
		}
		if src.token != "" {
			cl.token = src.token
			break
		}
	}
	if auth := c.getenv("CONSUL_HTTP_AUTH"); auth != "" {
		user, pass, hasPass := strings.Cut(auth, ":")
		cl.auth = url.User(user)
		if hasPass {
			cl.auth = url.UserPassword(user, pass)
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	cl.http = &http.Client{Transport: transport}
	ssl, _ := strconv.ParseBool(c.getenv("CONSUL_HTTP_SSL"))
	scheme, rest, found := strings.Cut(h.addr, "://")
	if !found {
		scheme, rest = "http", h.addr
	}
	if scheme == "http" && ssl {
		scheme = "https" // never back to http once TLS is asked for, as Consul's client
	}
	switch scheme {
	case "unix":
		socket := rest
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
		cl.base = url.URL{Scheme: "http", Host: "localhost"}
	case "http", "https":
		host, prefix, _ := strings.Cut(rest, "/")
		cl.base = url.URL{Scheme: scheme, Host: host, Path: strings.TrimSuffix("/"+prefix, "/")}
	default:
		return nil, fmt.Errorf("Unknown protocol scheme: %s", scheme)
	}
	if scheme == "https" {
		cfg, err := h.tlsConfig(c)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = cfg
	}
	return cl, nil
}

// tlsConfig is the TLS client configuration of -ca-file, -ca-path,
// -client-cert, -client-key, -tls-server-name and CONSUL_HTTP_SSL_VERIFY.
func (h *cliHTTP) tlsConfig(c *cliEnv) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: h.tlsServerName}
	if v := c.getenv("CONSUL_HTTP_SSL_VERIFY"); v != "" {
		verify, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("Could not parse CONSUL_HTTP_SSL_VERIFY: %w", err)
		}
		cfg.InsecureSkipVerify = !verify
	}
	var pems []string
	if h.caFile != "" {
		pems = append(pems, h.caFile)
	} else if h.caPath != "" {
		matches, err := filepath.Glob(filepath.Join(h.caPath, "*"))
		if err != nil {
			return nil, err
		}
		pems = matches
	}
	if len(pems) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		for _, p := range pems {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("Error loading CA File: %w", err)
			}
			if !cfg.RootCAs.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("Error loading CA File: no certificates in %s", p)
			}
		}
	}
	if h.clientCert != "" || h.clientKey != "" {
		cert, err := tls.LoadX509KeyPair(h.clientCert, h.clientKey)
		if err != nil {
			return nil, fmt.Errorf("Error loading client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// cliResponse is an answer of the API, its body read.
type cliResponse struct {
	code   int
	header http.Header
	body   []byte
}

// index is the answer's X-Consul-Index.
func (r *cliResponse) index() uint64 {
	i, _ := strconv.ParseUint(r.header.Get("X-Consul-Index"), 10, 64)
	return i
}

// do sends a request with the client's token, datacenter and staleness;
// a transport failure is Go's error ("Get \"http://…\": dial tcp …"), as
// Consul's client reports it. Any status is returned: see check.
func (cl *cliClient) do(method, path string, query url.Values, body io.Reader) (*cliResponse, error) {
	return cl.doContext(context.Background(), method, path, query, body)
}

// doContext is do, given up when ctx ends (a watch that stops).
func (cl *cliClient) doContext(ctx context.Context, method, path string, query url.Values, body io.Reader) (*cliResponse, error) {
	if query == nil {
		query = url.Values{}
	}
	if cl.stale {
		query.Set("stale", "")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	req, err := cl.request(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &cliResponse{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

// request builds a request to the agent: the address's path prefix, the
// datacenter, the token, and basic auth if CONSUL_HTTP_AUTH asks for it.
func (cl *cliClient) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := cl.base
	u.Path += path
	if cl.datacenter != "" {
		query.Set("dc", cl.datacenter)
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if cl.token != "" {
		req.Header.Set("X-Consul-Token", cl.token)
	}
	if cl.auth != nil {
		pass, _ := cl.auth.Password()
		req.SetBasicAuth(cl.auth.Username(), pass)
	}
	return req, nil
}

// errCLIStatus is an answer other than 200, in Consul's client's words.
type errCLIStatus struct {
	code int
	body string
}

func (e *errCLIStatus) Error() string {
	return fmt.Sprintf("Unexpected response code: %d (%s)", e.code, e.body)
}

// call does a request that must answer 200 and decodes its JSON into out
// (unless out is nil).
func (cl *cliClient) call(method, path string, query url.Values, body io.Reader, out any) (*cliResponse, error) {
	resp, err := cl.do(method, path, query, body)
	if err != nil {
		return nil, err
	}
	if resp.code != http.StatusOK {
		return resp, &errCLIStatus{resp.code, strings.TrimSpace(string(resp.body))}
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return resp, fmt.Errorf("error decoding the agent's answer: %w", err)
		}
	}
	return resp, nil
}

// isCLIStatus says whether err is an answer with the status code.
func isCLIStatus(err error, code int) bool {
	var se *errCLIStatus
	return errors.As(err, &se) && se.code == code
}

// --- output ---

// columnize aligns lines of "|"-separated fields as Consul's output does
// (ryanuber/columnize's defaults): each field trimmed, columns two spaces
// apart, the last one not padded.
func columnize(lines []string) string {
	var rows [][]string
	var widths []int
	for _, l := range lines {
		fields := strings.Split(l, "|")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(fields[i]))
		}
		rows = append(rows, fields)
	}
	var b strings.Builder
	for r, fields := range rows {
		if r > 0 {
			b.WriteByte('\n')
		}
		for i, f := range fields {
			if i == len(fields)-1 {
				b.WriteString(f)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", widths[i], f)
		}
	}
	return b.String()
}
