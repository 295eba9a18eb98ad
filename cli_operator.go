// cli_operator.go: the operator commands of the command-line client, as
// Consul's: "operator raft list-peers|remove-peer|transfer-leader" and
// "operator autopilot get-config|set-config|state", with the "operator",
// "operator raft" and "operator autopilot" family helps; and opUsage,
// which writes a command's help in Consul's shape from its flags (also
// used by cli_lock.go).
//
// Data flow: flags → one or two calls to /v1/operator/raft/… or
// /v1/operator/autopilot/… (http_operator.go, http_operator_autopilot.go)
// → Consul's text on stdout, or "Error …: <the client's error>" on stderr
// with exit 1. list-peers computes "Commit Index" and "Trails Leader By"
// from each server's LastIndex in the configuration's answer, as Consul's.
//
// Concurrency: none.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// operatorCommands is the operator family.
func operatorCommands() []cliCommand {
	return []cliCommand{
		{name: "operator", synopsis: "Provides cluster-level tools for Consul operators", help: operatorHelp},
		{name: "operator raft", synopsis: "Provides cluster-level tools for Consul operators", help: operatorRaftHelp},
		{name: "operator autopilot", synopsis: "Provides tools for modifying Autopilot configuration", help: operatorAutopilotHelp},
		{name: "operator raft list-peers", synopsis: "Display the current Raft peer configuration",
			help: cliFlagsUsage(listPeersHelp, newCLIFlags(true, true)), run: runListPeers},
		{name: "operator raft remove-peer", synopsis: "Remove a Consul server from the Raft configuration",
			help: cliFlagsUsage(removePeerHelp, newRemovePeerFlags(new(string), new(string))), run: runRemovePeer},
		{name: "operator raft transfer-leader", synopsis: "Transfer raft leadership to another node",
			help: cliFlagsUsage(transferLeaderHelp, newTransferLeaderFlags(new(string))), run: runTransferLeader},
		{name: "operator autopilot get-config", synopsis: "Display the current Autopilot configuration",
			help: cliFlagsUsage(autopilotGetHelp, newCLIFlags(true, true)), run: runAutopilotGet},
		{name: "operator autopilot set-config", synopsis: "Modify the current Autopilot configuration",
			help: cliFlagsUsage(autopilotSetHelp, newAutopilotSetFlags(&autopilotSetValues{})), run: runAutopilotSet},
		{name: "operator autopilot state", synopsis: "Display the current Autopilot configuration",
			help: cliFlagsUsage(autopilotGetHelp, newAutopilotStateFlags(new(string))), run: runAutopilotState},
	}
}

const operatorHelp = `Usage: consul operator <subcommand> [options]

  Provides cluster-level tools for Consul operators, such as interacting with
  the Raft subsystem. NOTE: Use this command with extreme caution, as improper
  use could lead to a Consul outage and even loss of data.

  If ACLs are enabled then a token with operator privileges may be required in
  order to use this command. Requests are forwarded internally to the leader
  if required, so this can be run from any Consul node in a cluster.

  Run consul operator <subcommand> with no arguments for help on that
  subcommand.
`

const operatorRaftHelp = `Usage: consul operator raft <subcommand> [options]

The Raft operator command is used to interact with Consul's Raft subsystem. The
command can be used to verify Raft peers or in rare cases to recover quorum by
removing invalid peers.
`

const operatorAutopilotHelp = `Usage: consul operator autopilot <subcommand> [options]

  The Autopilot operator command is used to interact with Consul's Autopilot
  subsystem. The command can be used to view or modify the current configuration.
`

const listPeersHelp = `Usage: consul operator raft list-peers [options]

  Displays the current Raft peer configuration.`

const removePeerHelp = `Usage: consul operator raft remove-peer [options]

  Remove the Consul server with given -address from the Raft configuration.

  There are rare cases where a peer may be left behind in the Raft quorum even
  though the server is no longer present and known to the cluster. This command
  can be used to remove the failed server so that it is no longer affects the Raft
  quorum. If the server still shows in the output of the "consul members" command,
  it is preferable to clean up by simply running "consul force-leave" instead of
  this command.`

const transferLeaderHelp = `Usage: consul operator raft transfer-leader [options]

  Transfer raft leadership to another node.`

// Consul's state command reuses get-config's help text, as here.
const autopilotGetHelp = `Usage: consul operator autopilot get-config [options]

  Displays the current Autopilot configuration.`

const autopilotSetHelp = `Usage: consul operator autopilot set-config [options]

  Modifies the current Autopilot configuration.`

// opParse parses a command's flags as Consul's operator commands do: on
// a bad flag, the flag package's message and usage, then "Failed to parse
// args: …", exit 1.
func opParse(c *cliEnv, f *cliFlags, args []string) bool {
	probe := *f.FlagSet // a copy to learn the error without printing twice
	probe.SetOutput(io.Discard)
	if err := probe.Parse(args); err != nil {
		f.parse(c, args)
		c.errorf("Failed to parse args: %v", err)
		return false
	}
	return f.parse(c, args)
}

// opClient parses the flags and makes the HTTP client; false after an
// error has been printed.
func opClient(c *cliEnv, f *cliFlags, args []string) (*cliClient, bool) {
	if !opParse(c, f, args) {
		return nil, false
	}
	cl, err := f.http.client(c)
	if err != nil {
		c.errorf("Error initializing client: %s", err)
		return nil, false
	}
	return cl, true
}

// --- operator raft ---

func runListPeers(c *cliEnv, args []string) int {
	cl, ok := opClient(c, newCLIFlags(true, true), args)
	if !ok {
		return 1
	}
	var reply struct {
		Servers []raftServerInfo
	}
	if _, err := cl.call("GET", "/v1/operator/raft/configuration", nil, nil, &reply); err != nil {
		c.errorf("Error getting peers: Failed to retrieve raft configuration: %v", err)
		return 1
	}
	var leaderIndex uint64
	for _, s := range reply.Servers {
		if s.Leader {
			leaderIndex = s.LastIndex
		}
	}
	lines := []string{"Node|ID|Address|State|Voter|RaftProtocol|Commit Index|Trails Leader By"}
	for _, s := range reply.Servers {
		proto := s.ProtocolVersion
		if proto == "" {
			proto = "<=1"
		}
		state, trails := "follower", fmt.Sprintf("%d commits", leaderIndex-s.LastIndex)
		if s.Leader {
			state, trails = "leader", "-"
		} else if leaderIndex-s.LastIndex == 1 {
			trails = "1 commit"
		}
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%v|%s|%d|%s",
			s.Node, s.ID, s.Address, state, s.Voter, proto, s.LastIndex, trails))
	}
	fmt.Fprintln(c.stdout, columnize(lines))
	return 0
}

func newRemovePeerFlags(address, id *string) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(address, "address", "", "The address to remove from the Raft configuration.")
	f.StringVar(id, "id", "", "The ID to remove from the Raft configuration.")
	return f
}

func runRemovePeer(c *cliEnv, args []string) int {
	var address, id string
	cl, ok := opClient(c, newRemovePeerFlags(&address, &id), args)
	if !ok {
		return 1
	}
	q := url.Values{}
	switch {
	case address == "" && id == "":
		c.errorf("Error removing peer: an address or id is required for the peer to remove")
		return 1
	case address != "" && id != "":
		c.errorf("Error removing peer: cannot give both an address and id")
		return 1
	case address != "":
		q.Set("address", address)
	default:
		q.Set("id", id)
	}
	if _, err := cl.call("DELETE", "/v1/operator/raft/peer", q, nil, nil); err != nil {
		c.errorf("Error removing peer: %v", err)
		return 1
	}
	if address != "" {
		fmt.Fprintf(c.stdout, "Removed peer with address %q\n", address)
	} else {
		fmt.Fprintf(c.stdout, "Removed peer with id %q\n", id)
	}
	return 0
}

func newTransferLeaderFlags(id *string) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(id, "id", "", "The ID of the node to transfer leadership to.")
	return f
}

func runTransferLeader(c *cliEnv, args []string) int {
	var id string
	cl, ok := opClient(c, newTransferLeaderFlags(&id), args)
	if !ok {
		return 1
	}
	q := url.Values{}
	if id != "" {
		q.Set("id", id)
	}
	var reply struct{ Success bool }
	if _, err := cl.call("POST", "/v1/operator/raft/transfer-leader", q, nil, &reply); err != nil {
		c.errorf("Error transfering leadership: Failed to transfer leadership %v", err)
		return 1
	}
	if !reply.Success {
		c.errorf("Error transfering leadership: Failed to transfer leadership")
		return 1
	}
	fmt.Fprintln(c.stdout, "Success")
	return 0
}

// --- operator autopilot ---

// autopilotConfigJSON is the configuration as the API sends and takes it.
type autopilotConfigJSON struct {
	CleanupDeadServers      bool
	LastContactThreshold    string
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime string
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
	CreateIndex             uint64
	ModifyIndex             uint64
}

// readableDuration is a duration as Consul's api.ReadableDuration prints it.
func readableDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return d.String()
}

func runAutopilotGet(c *cliEnv, args []string) int {
	cl, ok := opClient(c, newCLIFlags(true, true), args)
	if !ok {
		return 1
	}
	var conf autopilotConfigJSON
	if _, err := cl.call("GET", "/v1/operator/autopilot/configuration", nil, nil, &conf); err != nil {
		c.errorf("Error querying Autopilot configuration: %s", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "CleanupDeadServers = %v\n", conf.CleanupDeadServers)
	fmt.Fprintf(c.stdout, "LastContactThreshold = %v\n", readableDuration(conf.LastContactThreshold))
	fmt.Fprintf(c.stdout, "MaxTrailingLogs = %v\n", conf.MaxTrailingLogs)
	fmt.Fprintf(c.stdout, "MinQuorum = %v\n", conf.MinQuorum)
	fmt.Fprintf(c.stdout, "ServerStabilizationTime = %v\n", readableDuration(conf.ServerStabilizationTime))
	fmt.Fprintf(c.stdout, "RedundancyZoneTag = %q\n", conf.RedundancyZoneTag)
	fmt.Fprintf(c.stdout, "DisableUpgradeMigration = %v\n", conf.DisableUpgradeMigration)
	fmt.Fprintf(c.stdout, "UpgradeVersionTag = %q\n", conf.UpgradeVersionTag)
	return 0
}

// optionalValue is a flag that remembers whether it was given, as
// Consul's flags.BoolValue, UintValue, DurationValue and StringValue;
// parse checks the value's syntax.
type optionalValue struct {
	v     string
	set   bool
	parse func(string) error
}

func (o *optionalValue) String() string { return o.v }
func (o *optionalValue) Set(s string) error {
	if o.parse != nil {
		if err := o.parse(s); err != nil {
			return err
		}
	}
	o.v, o.set = s, true
	return nil
}

// autopilotSetValues are set-config's flags.
type autopilotSetValues struct {
	cleanup, maxTrailing, minQuorum, lastContact, stabilization optionalValue
	zoneTag, disableMigration, versionTag                       optionalValue
}

func newAutopilotSetFlags(v *autopilotSetValues) *cliFlags {
	isBool := func(s string) error { _, err := strconv.ParseBool(s); return err }
	isUint := func(s string) error { _, err := strconv.ParseUint(s, 10, 64); return err }
	isDuration := func(s string) error { _, err := time.ParseDuration(s); return err }
	v.cleanup.parse, v.disableMigration.parse = isBool, isBool
	v.maxTrailing.parse, v.minQuorum.parse = isUint, isUint
	v.lastContact.parse, v.stabilization.parse = isDuration, isDuration
	f := newCLIFlags(true, true)
	f.Var(&v.cleanup, "cleanup-dead-servers", "Controls whether Consul will automatically remove dead servers when new ones are successfully added. Must be one of `true|false`.")
	f.Var(&v.maxTrailing, "max-trailing-logs", "Controls the maximum number of log entries that a server can trail the leader by before being considered unhealthy.")
	f.Var(&v.minQuorum, "min-quorum", "Sets the minimum number of servers required in a cluster before autopilot is allowed to prune dead servers.")
	f.Var(&v.lastContact, "last-contact-threshold", "Controls the maximum amount of time a server can go without contact from the leader before being considered unhealthy. Must be a duration value such as `200ms`.")
	f.Var(&v.stabilization, "server-stabilization-time", "Controls the minimum amount of time a server must be stable in the 'healthy' state before being added to the cluster. Only takes effect if all servers are running Raft protocol version 3 or higher. Must be a duration value such as `10s`.")
	f.Var(&v.zoneTag, "redundancy-zone-tag", "(Enterprise-only) Controls the node_meta tag name used for separating servers into different redundancy zones.")
	f.Var(&v.disableMigration, "disable-upgrade-migration", "(Enterprise-only) Controls whether Consul will avoid promoting new servers until it can perform a migration. Must be one of `true|false`.")
	f.Var(&v.versionTag, "upgrade-version-tag", "(Enterprise-only) The node_meta tag to use for version info when performing upgrade migrations. If left blank, the Consul version will be used.")
	return f
}

func runAutopilotSet(c *cliEnv, args []string) int {
	var v autopilotSetValues
	cl, ok := opClient(c, newAutopilotSetFlags(&v), args)
	if !ok {
		return 1
	}
	var conf autopilotConfigJSON
	if _, err := cl.call("GET", "/v1/operator/autopilot/configuration", nil, nil, &conf); err != nil {
		c.errorf("Error querying Autopilot configuration: %s", err)
		return 1
	}
	if v.cleanup.set {
		conf.CleanupDeadServers, _ = strconv.ParseBool(v.cleanup.v)
	}
	if v.disableMigration.set {
		conf.DisableUpgradeMigration, _ = strconv.ParseBool(v.disableMigration.v)
	}
	if v.zoneTag.set {
		conf.RedundancyZoneTag = v.zoneTag.v
	}
	if v.versionTag.set {
		conf.UpgradeVersionTag = v.versionTag.v
	}
	if v.minQuorum.set {
		n, _ := strconv.ParseUint(v.minQuorum.v, 10, 64)
		conf.MinQuorum = uint(n)
	}
	if v.maxTrailing.set {
		conf.MaxTrailingLogs, _ = strconv.ParseUint(v.maxTrailing.v, 10, 64)
	}
	if v.lastContact.set {
		conf.LastContactThreshold = v.lastContact.v
	}
	if v.stabilization.set {
		conf.ServerStabilizationTime = v.stabilization.v
	}
	q := url.Values{"cas": {strconv.FormatUint(conf.ModifyIndex, 10)}}
	body := map[string]any{
		"CleanupDeadServers": conf.CleanupDeadServers, "LastContactThreshold": readableDuration(conf.LastContactThreshold),
		"MaxTrailingLogs": conf.MaxTrailingLogs, "MinQuorum": conf.MinQuorum,
		"ServerStabilizationTime": readableDuration(conf.ServerStabilizationTime), "RedundancyZoneTag": conf.RedundancyZoneTag,
		"DisableUpgradeMigration": conf.DisableUpgradeMigration, "UpgradeVersionTag": conf.UpgradeVersionTag,
	}
	b, _ := json.Marshal(body)
	var won bool
	if _, err := cl.call("PUT", "/v1/operator/autopilot/configuration", q, strings.NewReader(string(b)), &won); err != nil {
		c.errorf("Error setting Autopilot configuration: %s", err)
		return 1
	}
	if won {
		fmt.Fprintln(c.stdout, "Configuration updated!")
		return 0
	}
	fmt.Fprintln(c.stdout, "Configuration could not be atomically updated, please try again")
	return 1
}

func newAutopilotStateFlags(format *string) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(format, "format", "pretty", "Output format {pretty|json}")
	return f
}

func runAutopilotState(c *cliEnv, args []string) int {
	var format string
	cl, ok := opClient(c, newAutopilotStateFlags(&format), args)
	if !ok {
		return 1
	}
	var st autopilotState
	if _, err := cl.call("GET", "/v1/operator/autopilot/state", nil, nil, &st); err != nil {
		c.errorf("Error querying Autopilot state: %s", err)
		return 1
	}
	switch format {
	case "pretty":
		fmt.Fprintln(c.stdout, autopilotStatePretty(&st))
	case "json":
		b, err := json.MarshalIndent(&st, "", "    ")
		if err != nil {
			c.errorf("Failed to marshal token: %v", err)
			return 1
		}
		fmt.Fprintln(c.stdout, string(b))
	default:
		c.errorf("Unknown format: %s", format)
		return 1
	}
	return 0
}

// autopilotStatePretty is the state as Consul's pretty formatter writes
// it (Consul CE: no read replicas, zones or upgrade), ending in a newline.
func autopilotStatePretty(st *autopilotState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Healthy:                      %t\n", st.Healthy)
	fmt.Fprintf(&b, "Failure Tolerance:            %d\n", st.FailureTolerance)
	fmt.Fprintf(&b, "Optimistic Failure Tolerance: %d\n", st.OptimisticFailureTolerance)
	fmt.Fprintf(&b, "Leader:                       %s\n", st.Leader)
	b.WriteString("Voters:\n")
	for _, v := range st.Voters {
		fmt.Fprintf(&b, "   %s\n", v)
	}
	b.WriteString("Servers:\n")
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := st.Servers[id]
		fmt.Fprintf(&b, "   %s\n", s.ID)
		fmt.Fprintf(&b, "      Name:            %s\n", s.Name)
		fmt.Fprintf(&b, "      Address:         %s\n", s.Address)
		fmt.Fprintf(&b, "      Version:         %s\n", s.Version)
		fmt.Fprintf(&b, "      Status:          %s\n", s.Status)
		fmt.Fprintf(&b, "      Node Type:       %s\n", s.NodeType)
		fmt.Fprintf(&b, "      Node Status:     %s\n", s.NodeStatus)
		fmt.Fprintf(&b, "      Healthy:         %t\n", s.Healthy)
		fmt.Fprintf(&b, "      Last Contact:    %s\n", time.Duration(s.LastContact).String())
		fmt.Fprintf(&b, "      Last Term:       %d\n", s.LastTerm)
		fmt.Fprintf(&b, "      Last Index:      %d\n", s.LastIndex)
		if s.ReadReplica {
			fmt.Fprintf(&b, "      Read Replica:    %t\n", s.ReadReplica)
		}
		if len(s.Meta) > 0 {
			b.WriteString("      Meta\n")
			keys := make([]string, 0, len(s.Meta))
			for k := range s.Meta {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "         %q: %q\n", k, s.Meta[k])
			}
		}
	}
	return b.String()
}
