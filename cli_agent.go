// cli_agent.go: the command-line client's agent family, Consul's commands
// that talk to one agent about itself and its gossip pools: members, join,
// leave, force-leave, reload, maint, info, event, keyring, and validate
// (which talks to no agent: it loads configuration files as the agent
// would). Each is registered in cliFamilies (cli.go) by agentCLICommands.
//
// Data flow: arguments → the command's flags (cliFlags, with Consul's HTTP
// flags and environment) → one or a few calls to the local agent's HTTP API
// (/v1/agent/..., /v1/event/fire/..., /v1/operator/keyring) → Consul's
// words and columns on stdout, errors on stderr, Consul 1.22's exit codes
// (members exits 2 when no member matches -status). Help texts are built
// from the flag sets in Consul's shape (cliAgentUsage).
//
// Concurrency: none.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// agentCLICommands is the agent family of commands.
func agentCLICommands() []cliCommand {
	return []cliCommand{
		{name: "members", synopsis: "Lists the members of a Consul cluster", help: cliFlagsUsage(membersHelp, membersFlags(&membersOpts{})), run: membersCommand},
		{name: "join", synopsis: "Tell Consul agent to join cluster", help: cliFlagsUsage(joinHelp, joinFlags(&joinOpts{})), run: joinCommand},
		{name: "leave", synopsis: "Gracefully leaves the Consul cluster and shuts down", help: cliFlagsUsage(leaveHelp, newCLIFlags(true, false)), run: leaveCommand},
		{name: "force-leave", synopsis: "Forces a member of the cluster to enter the \"left\" state", help: cliFlagsUsage(forceLeaveHelp, forceLeaveFlags(&forceLeaveOpts{})), run: forceLeaveCommand},
		{name: "reload", synopsis: "Triggers the agent to reload configuration files", help: cliFlagsUsage(reloadHelp, newCLIFlags(true, false)), run: reloadCommand},
		{name: "maint", synopsis: "Controls node or service maintenance mode", help: cliFlagsUsage(maintHelp, maintFlags(&maintOpts{})), run: maintCommand},
		{name: "info", synopsis: "Provides debugging information for operators.", help: cliFlagsUsage(infoHelp, newCLIFlags(true, false)), run: infoCommand},
		{name: "event", synopsis: "Fire a new event", help: cliFlagsUsage(eventHelp, eventFlags(&eventOpts{})), run: eventCommand},
		{name: "keyring", synopsis: "Manages gossip layer encryption keys", help: cliFlagsUsage(keyringHelp, keyringFlags(&keyringOpts{})), run: keyringCommand},
		{name: "validate", synopsis: "Validate config files/directories", help: cliFlagsUsage(validateHelp, validateFlags(&validateOpts{})), run: validateCommand},
	}
}

// --- members ---

type membersOpts struct {
	detailed, wan                      bool
	status, segment, filter, partition string
}

func membersFlags(o *membersOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(&o.detailed, "detailed", false, "Provides detailed information about nodes.")
	f.BoolVar(&o.wan, "wan", false, "If the agent is in server mode, this can be used to return the other peers in the WAN pool.")
	f.StringVar(&o.status, "status", ".*", "If provided, output is filtered to only nodes matching the regular expression for status.")
	f.StringVar(&o.segment, "segment", "_all", "(Enterprise-only) If provided, output is filtered to only nodes inthe given segment.")
	f.StringVar(&o.filter, "filter", "", "Filter to use with the request")
	f.partitionVar(&o.partition)
	return f
}

// serfStatus is Serf's name of a member status.
func serfStatus(s int) string {
	switch s {
	case 0:
		return "none"
	case memberAlive:
		return "alive"
	case 2:
		return "leaving"
	case memberLeft:
		return "left"
	case memberFailed:
		return "failed"
	}
	return "unknown"
}

func membersCommand(c *cliEnv, args []string) int {
	var o membersOpts
	f := membersFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	statusRe, err := regexp.Compile(o.status)
	if err != nil {
		c.errorf("Failed to compile status regexp: %v", err)
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := cliQuery("wan", cliIf(o.wan, "1"), "segment", o.segment, "filter", o.filter, "partition", o.partition)
	var members []agentMember
	if _, err := cl.call("GET", "/v1/agent/members", q, nil, &members); err != nil {
		c.errorf("Error retrieving members: %s", err)
		return 1
	}
	var shown []agentMember
	for _, m := range members {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		if m.Tags["ap"] == "" {
			m.Tags["ap"] = "default"
		}
		if m.Tags["ap"] == "default" {
			if o.segment == "_all" && m.Tags["role"] == "consul" {
				m.Tags["segment"] = "<all>"
			} else if m.Tags["segment"] == "" {
				m.Tags["segment"] = "<default>"
			}
		} else {
			m.Tags["segment"] = ""
		}
		if statusRe.MatchString(serfStatus(m.Status)) {
			shown = append(shown, m)
		}
	}
	if len(shown) == 0 {
		return 2
	}
	// Servers first, then the default partition, by segment, partition, name.
	slices.SortStableFunc(shown, func(a, b agentMember) int {
		if sa, sb := a.Tags["role"] == "consul", b.Tags["role"] == "consul"; sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		if da, db := a.Tags["ap"] == "default", b.Tags["ap"] == "default"; da != db {
			if da {
				return -1
			}
			return 1
		}
		if r := strings.Compare(a.Tags["segment"], b.Tags["segment"]); r != 0 {
			return r
		}
		if r := strings.Compare(a.Tags["ap"], b.Tags["ap"]); r != 0 {
			return r
		}
		return strings.Compare(a.Name, b.Name)
	})
	var lines []string
	if o.detailed {
		lines = append(lines, "Node|Address|Status|Tags")
	} else {
		lines = append(lines, "Node|Address|Status|Type|Build|Protocol|DC|Partition|Segment")
	}
	for _, m := range shown {
		addr := (&net.TCPAddr{IP: net.ParseIP(m.Addr), Port: int(m.Port)}).String()
		status := serfStatus(m.Status)
		if o.detailed {
			var pairs []string
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range m.Tags {
					if !yield(k) {
						return
					}
				}
			}) {
				pairs = append(pairs, k+"="+m.Tags[k])
			}
			lines = append(lines, strings.Join([]string{m.Name, addr, status, strings.Join(pairs, ",")}, "|"))
			continue
		}
		build := m.Tags["build"]
		if build == "" {
			build = "< 0.3"
		} else if i := strings.Index(build, ":"); i >= 0 {
			build = build[:i]
		}
		kind := ""
		switch m.Tags["role"] {
		case "node":
			kind = "client"
		case "consul":
			kind = "server"
		default:
			lines = append(lines, strings.Join([]string{m.Name, addr, status, "unknown", "", "", "", "", ""}, "|"))
			continue
		}
		lines = append(lines, strings.Join([]string{m.Name, addr, status, kind, build, m.Tags["vsn"], m.Tags["dc"], m.Tags["ap"], m.Tags["segment"]}, "|"))
	}
	fmt.Fprintln(c.stdout, columnize(lines))
	return 0
}

// --- join ---

type joinOpts struct {
	wan       bool
	partition string
}

func joinFlags(o *joinOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(&o.wan, "wan", false, "Joins a server to another server in the WAN pool.")
	f.partitionVar(&o.partition)
	return f
}

func joinCommand(c *cliEnv, args []string) int {
	var o joinOpts
	f := joinFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	addrs := f.Args()
	if len(addrs) == 0 {
		c.errorf("At least one address to join must be specified.")
		c.errorf("")
		fmt.Fprint(c.stderr, cliFlagsUsage(joinHelp, f))
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := cliQuery("wan", cliIf(o.wan, "1"), "partition", o.partition)
	joins := 0
	for _, addr := range addrs {
		if _, err := cl.call("PUT", "/v1/agent/join/"+addr, q, nil, nil); err != nil {
			c.errorf("Error joining address '%s': %s", addr, err)
			continue
		}
		joins++
	}
	if joins == 0 {
		c.errorf("Failed to join any nodes.")
		return 1
	}
	fmt.Fprintf(c.stdout, "Successfully joined cluster by contacting %d nodes.\n", joins)
	return 0
}

// --- leave, reload ---

func leaveCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return 1
	}
	if f.NArg() > 0 {
		c.errorf("Error found unexpected args: %v", f.Args())
		fmt.Fprint(c.stdout, cliFlagsUsage(leaveHelp, f))
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if _, err := cl.call("PUT", "/v1/agent/leave", nil, nil, nil); err != nil {
		c.errorf("Error leaving: %s", err)
		return 1
	}
	fmt.Fprintln(c.stdout, "Graceful leave complete")
	return 0
}

func reloadCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if _, err := cl.call("PUT", "/v1/agent/reload", nil, nil, nil); err != nil {
		c.errorf("Error reloading: %s", err)
		return 1
	}
	fmt.Fprintln(c.stdout, "Configuration reload triggered")
	return 0
}

// --- force-leave ---

type forceLeaveOpts struct {
	prune, wan bool
	partition  string
}

func forceLeaveFlags(o *forceLeaveOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(&o.prune, "prune", false, "Remove agent completely from list of members")
	f.BoolVar(&o.wan, "wan", false, "Exclusively leave the agent from the WAN serf pool.")
	f.partitionVar(&o.partition)
	return f
}

func forceLeaveCommand(c *cliEnv, args []string) int {
	var o forceLeaveOpts
	f := forceLeaveFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	if f.NArg() != 1 {
		c.errorf("A single node name must be specified to force leave.")
		c.errorf("")
		fmt.Fprint(c.stderr, cliFlagsUsage(forceLeaveHelp, f))
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := cliQuery("prune", cliIf(o.prune, "1"), "wan", cliIf(o.wan, "1"), "partition", o.partition)
	if _, err := cl.call("PUT", "/v1/agent/force-leave/"+f.Arg(0), q, nil, nil); err != nil {
		c.errorf("Error force leaving: %s", err)
		return 1
	}
	return 0
}

// --- maint ---

type maintOpts struct {
	enable, disable   bool
	reason, serviceID string
}

func maintFlags(o *maintOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(&o.enable, "enable", false, "Enable maintenance mode.")
	f.BoolVar(&o.disable, "disable", false, "Disable maintenance mode.")
	f.StringVar(&o.reason, "reason", "", "Text describing the maintenance reason.")
	f.StringVar(&o.serviceID, "service", "", "Control maintenance mode for a specific service ID.")
	return f
}

func maintCommand(c *cliEnv, args []string) int {
	var o maintOpts
	f := maintFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	switch {
	case o.enable && o.disable:
		c.errorf("Only one of -enable or -disable may be provided")
		return 1
	case !o.enable && o.reason != "":
		c.errorf("Reason may only be provided with -enable")
		return 1
	case !o.enable && !o.disable && o.serviceID != "":
		c.errorf("Service requires either -enable or -disable")
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if !o.enable && !o.disable {
		return maintStatus(c, cl)
	}
	q := url.Values{"enable": {strconv.FormatBool(o.enable)}}
	if o.enable {
		q.Set("reason", o.reason)
	}
	word := map[bool]string{true: "enabl", false: "disabl"}[o.enable]
	if o.serviceID == "" {
		if _, err := cl.call("PUT", "/v1/agent/maintenance", q, nil, nil); err != nil {
			c.errorf("Error %sing node maintenance: %s", word, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Node maintenance is now %sed\n", word)
		return 0
	}
	if _, err := cl.call("PUT", "/v1/agent/service/maintenance/"+o.serviceID, q, nil, nil); err != nil {
		c.errorf("Error %sing service maintenance: %s", word, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Service maintenance is now %sed for %q\n", word, o.serviceID)
	return 0
}

// maintStatus prints the node's and services' maintenance checks (nothing
// when none is in maintenance).
func maintStatus(c *cliEnv, cl *cliClient) int {
	var self struct{ Config struct{ NodeName string } }
	if _, err := cl.call("GET", "/v1/agent/self", nil, nil, &self); err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}
	var checks map[string]struct{ CheckID, ServiceID, Notes string }
	if _, err := cl.call("GET", "/v1/agent/checks", nil, nil, &checks); err != nil {
		c.errorf("Error getting checks: %s", err)
		return 1
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range checks {
			if !yield(id) {
				return
			}
		}
	}) {
		check := checks[id]
		switch {
		case check.CheckID == nodeMaintCheckID:
			fmt.Fprintf(c.stdout, "Node:\n  Name:   %s\n  Reason: %s\n\n", self.Config.NodeName, check.Notes)
		case strings.HasPrefix(check.CheckID, serviceMaintCheckPrefix):
			fmt.Fprintf(c.stdout, "Service:\n  ID:     %s\n  Reason: %s\n\n", check.ServiceID, check.Notes)
		}
	}
	return 0
}

// --- info ---

func infoCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var self map[string]json.RawMessage
	if _, err := cl.call("GET", "/v1/agent/self", nil, nil, &self); err != nil {
		c.errorf("Error querying agent: %s", err)
		return 1
	}
	var stats map[string]map[string]any
	if raw, ok := self["Stats"]; !ok || json.Unmarshal(raw, &stats) != nil {
		c.errorf("Agent response did not contain 'Stats' key: %v", self)
		return 1
	}
	for _, key := range slices.Sorted(mapKeys(stats)) {
		fmt.Fprintf(c.stdout, "%s:\n", key)
		for _, sub := range slices.Sorted(mapKeys(stats[key])) {
			fmt.Fprintf(c.stdout, "\t%s = %v\n", sub, stats[key][sub])
		}
	}
	return 0
}

// mapKeys iterates over the keys of m.
func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// --- event ---

type eventOpts struct{ name, node, service, tag string }

func eventFlags(o *eventOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.StringVar(&o.name, "name", "", "Name of the event.")
	f.StringVar(&o.node, "node", "", "Regular expression to filter on node names.")
	f.StringVar(&o.service, "service", "", "Regular expression to filter on service instances.")
	f.StringVar(&o.tag, "tag", "", "Regular expression to filter on service tags. Must be used with -service.")
	return f
}

func eventCommand(c *cliEnv, args []string) int {
	var o eventOpts
	f := eventFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	if o.name == "" {
		c.errorf("Event name must be specified")
		c.errorf("")
		fmt.Fprint(c.stderr, cliFlagsUsage(eventHelp, f))
		return 1
	}
	for _, re := range []struct{ what, expr string }{{"node", o.node}, {"service", o.service}, {"tag", o.tag}} {
		if re.expr == "" {
			continue
		}
		if _, err := regexp.Compile(re.expr); err != nil {
			c.errorf("Failed to compile %s filter regexp: %v", re.what, err)
			return 1
		}
	}
	if o.tag != "" && o.service == "" {
		c.errorf("Cannot provide tag filter without service filter.")
		return 1
	}
	var payload string
	switch f.NArg() {
	case 0:
	case 1:
		payload = f.Arg(0)
	default:
		c.errorf("Too many command line arguments.")
		c.errorf("")
		fmt.Fprint(c.stderr, cliFlagsUsage(eventHelp, f))
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if _, err := cl.call("GET", "/v1/agent/self", nil, nil, nil); err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}
	q := cliQuery("node", o.node, "service", o.service, "tag", o.tag)
	var fired struct{ ID string }
	if _, err := cl.call("PUT", "/v1/event/fire/"+o.name, q, strings.NewReader(payload), &fired); err != nil {
		c.errorf("Error firing event: %s", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Event ID: %s\n", fired.ID)
	return 0
}

// --- keyring ---

type keyringOpts struct {
	install, use, remove string
	list, listPrimary    bool
	relay                int
	local                bool
}

func keyringFlags(o *keyringOpts) *cliFlags {
	f := newCLIFlags(true, false)
	f.StringVar(&o.install, "install", "", "Install a new encryption key. This will broadcast the new key to all members in the cluster.")
	f.StringVar(&o.use, "use", "", "Change the primary encryption key, which is used to encrypt messages. The key must already be installed before this operation can succeed.")
	f.StringVar(&o.remove, "remove", "", "Remove the given key from the cluster. This operation may only be performed on keys which are not currently the primary key.")
	f.BoolVar(&o.list, "list", false, "List all keys currently in use within the cluster.")
	f.BoolVar(&o.listPrimary, "list-primary", false, "List all primary keys currently in use within the cluster.")
	f.IntVar(&o.relay, "relay-factor", 0, "Setting this to a non-zero value will cause nodes to relay their response to the operation through this many randomly-chosen other nodes in the cluster. The maximum allowed value is 5.")
	f.BoolVar(&o.local, "local-only", false, "Setting this to true will force the keyring query to only hit local servers (no WAN traffic). This flag can only be set for list queries.")
	return f
}

func keyringCommand(c *cliEnv, args []string) int {
	var o keyringOpts
	f := keyringFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	actions := 0
	for _, set := range []bool{o.list, o.listPrimary, o.install != "", o.use != "", o.remove != ""} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		fmt.Fprint(c.stderr, cliFlagsUsage(keyringHelp, f))
		return 1
	case actions > 1:
		c.errorf("Only a single action is allowed")
		return 1
	case o.relay < 0 || o.relay > 5:
		c.errorf("Error parsing relay factor: Relay factor must be in range: [0, 5]")
		return 1
	case o.local && !o.list && !o.listPrimary:
		c.errorf("Error validating local-only: local-only can only be set for list requests")
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := url.Values{}
	if o.relay > 0 {
		q.Set("relay-factor", strconv.Itoa(o.relay))
	}
	if o.list || o.listPrimary {
		if o.local {
			q.Set("local-only", "true")
		}
		if o.list {
			fmt.Fprintln(c.stdout, "==> Gathering installed encryption keys...")
		} else {
			fmt.Fprintln(c.stdout, "==> Gathering installed primary encryption keys...")
		}
		var responses []KeyringResponse
		if _, err := cl.call("GET", "/v1/operator/keyring", q, nil, &responses); err != nil {
			c.errorf("error: %s", err)
			return 1
		}
		for _, r := range responses {
			keys := r.Keys
			if o.listPrimary {
				keys = r.PrimaryKeys
			}
			fmt.Fprintln(c.stdout, keyringFormat(&r, keys))
		}
		return 0
	}
	method, key, info := "POST", o.install, "Installing new gossip encryption key..."
	if o.use != "" {
		method, key, info = "PUT", o.use, "Changing primary gossip encryption key..."
	} else if o.remove != "" {
		method, key, info = "DELETE", o.remove, "Removing gossip encryption key..."
	}
	fmt.Fprintf(c.stdout, "==> %s\n", info)
	body, _ := json.Marshal(map[string]string{"Key": key})
	if _, err := cl.call(method, "/v1/operator/keyring", q, strings.NewReader(string(body)), nil); err != nil {
		c.errorf("error: %s", err)
		return 1
	}
	return 0
}

// keyringFormat is one pool's answer as Consul prints it: a blank line,
// the pool, what failed members said, and each key with how many members
// hold it (sorted, where Consul's order is a map's).
func keyringFormat(r *KeyringResponse, keys map[string]int) string {
	var b strings.Builder
	pool := r.Datacenter + " (LAN)"
	if r.WAN {
		pool = "WAN"
	}
	if r.Segment != "" {
		pool += " [" + r.Segment + "]"
	}
	fmt.Fprintf(&b, "\n%s:\n", pool)
	for _, from := range slices.Sorted(mapKeys(r.Messages)) {
		fmt.Fprintf(&b, "  ===> %s: %s\n", from, r.Messages[from])
	}
	for _, key := range slices.Sorted(mapKeys(keys)) {
		fmt.Fprintf(&b, "  %s [%d/%d]\n", key, keys[key], r.NumNodes)
	}
	return strings.TrimRight(b.String(), "\n")
}

// --- validate ---

type validateOpts struct {
	format string
	quiet  bool
}

func validateFlags(o *validateOpts) *cliFlags {
	f := newCLIFlags(false, false)
	f.StringVar(&o.format, "config-format", "", "Config files are in this format irrespective of their extension. Must be 'hcl' or 'json'")
	f.BoolVar(&o.quiet, "quiet", false, "When given, a successful run will produce no output.")
	return f
}

// validateCommand loads the files and directories as "agent -config-file"
// would (loadConfig), without starting anything.
func validateCommand(c *cliEnv, args []string) int {
	var o validateOpts
	f := validateFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	if f.NArg() == 0 {
		c.errorf("Must specify at least one config file or directory")
		return 1
	}
	if o.format != "" && o.format != "hcl" && o.format != "json" {
		c.errorf("-config-format must be either 'hcl' or 'json")
		return 1
	}
	var agentArgs []string
	for _, path := range f.Args() {
		agentArgs = append(agentArgs, "-config-file", path)
	}
	if o.format != "" {
		agentArgs = append(agentArgs, "-config-format", o.format)
	}
	_, ignored, err := loadConfig(agentArgs)
	if err != nil {
		c.errorf("Config validation failed: %v", err)
		return 1
	}
	if !o.quiet {
		for _, key := range ignored {
			c.errorf("config key %q is not implemented by miniconsul and is ignored", key)
		}
		fmt.Fprintln(c.stdout, "Configuration is valid!")
	}
	return 0
}

const membersHelp = `
Usage: consul members [options]

  Outputs the members of a running Consul agent.
`

const joinHelp = `
Usage: consul join [options] address ...

  Tells a running Consul agent (with "consul agent") to join the cluster
  by specifying at least one existing member.
`

const leaveHelp = `
Usage: consul leave [options]

  Causes the agent to gracefully leave the Consul cluster and shutdown.
`

const forceLeaveHelp = `
Usage: consul force-leave [options] name

  Forces a member of a Consul cluster to enter the "left" state. Note
  that if the member is still actually alive, it will eventually rejoin
  the cluster. This command is most useful for cleaning out "failed" nodes
  that are never coming back. If you do not force leave a failed node,
  Consul will attempt to reconnect to those failed nodes for some period of
  time before eventually reaping them.

  -prune    Remove agent completely from list of members
  -wan      Exclusively leave the agent from the WAN serf pool.
`

const reloadHelp = `
Usage: consul reload

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent.
`

const maintHelp = `
Usage: consul maint [options]

  Places a node or service into maintenance mode. During maintenance mode,
  the node or service will be excluded from all queries through the DNS
  or API interfaces, effectively taking it out of the pool of available
  nodes. This is done by registering an additional critical health check.

  When enabling maintenance mode for a node or service, you may optionally
  specify a reason string. This string will appear in the "Notes" field
  of the critical health check which is registered against the node or
  service. If no reason is provided, a default value will be used.

  Maintenance mode is persistent, and will be restored in the event of an
  agent restart. It is therefore required to disable maintenance mode on
  a given node or service before it will be placed back into the pool.

  By default, we operate on the node as a whole. By specifying the
  "-service" argument, this behavior can be changed to enable or disable
  only a specific service.

  If no arguments are given, the agent's maintenance status will be shown.
  This will return blank if nothing is currently under maintenance.
`

const infoHelp = `
Usage: consul info [options]

  Provides debugging information for operators.
`

const eventHelp = `
Usage: consul event [options] [payload]

  Dispatches a custom user event across a datacenter. An event must provide
  a name, but a payload is optional. Events support filtering using
  regular expressions on node name, service, and tag definitions.
`

const keyringHelp = `
Usage: consul keyring [options]

  Manages encryption keys used for gossip messages. Gossip encryption is
  optional. When enabled, this command may be used to examine active encryption
  keys in the cluster, add new keys, and remove old ones. When combined, this
  functionality provides the ability to perform key rotation cluster-wide,
  without disrupting the cluster.

  All operations performed by this command can only be run against server nodes,
  and affect both the LAN and WAN keyrings in lock-step.

  All variations of the keyring command return 0 if all nodes reply and there
  are no errors. If any node fails to reply or reports failure, the exit code
  will be 1.
`

const validateHelp = `
Usage: consul validate [options] FILE_OR_DIRECTORY...

  Performs a thorough sanity test on Consul configuration files. For each file
  or directory given, the validate command will attempt to parse the contents
  just as the "consul agent" command would, and catch any errors.

  This is useful to do a test of the configuration only, without actually
  starting the agent. This performs all of the validation the agent would, so
  this should be given the complete set of configuration files that are going
  to be loaded by the agent. This command cannot operate on partial
  configuration fragments since those won't pass the full agent validation.

  Returns 0 if the configuration is valid, or 1 if there are problems.
`
