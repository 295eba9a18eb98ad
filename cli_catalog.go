// cli_catalog.go: the "catalog" commands, as Consul's: catalog datacenters,
// catalog nodes [-service -near -detailed -node-meta] and catalog services
// [-node -node-meta -tags]; and what cli_services.go and cli_snapshot.go
// share with them: the key=value and repeatable flag values and the help
// text's flag sections in Consul's shape (catalogUsage).
//
// Data flow: flags → GET /v1/catalog/datacenters, /v1/catalog/nodes,
// /v1/catalog/service/<name>, /v1/catalog/services or /v1/catalog/node/<name>
// → columns on stdout (Consul's columnize for nodes, its tabwriter for
// services -tags). An empty answer is Consul's "No … match the given query"
// on stderr, exit 0; a failed request "Error listing …: <err>", exit 1.
//
// Concurrency: none.
package main

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// catalogCommands is the catalog family.
func catalogCommands() []cliCommand {
	return []cliCommand{
		{name: "catalog", synopsis: "Interact with the catalog", help: catalogHelp},
		{name: "catalog datacenters", synopsis: "Lists all known datacenters",
			help: cliFlagsUsage(catalogDCHelp, newCLIFlags(true, true)), run: catalogDatacenters},
		{name: "catalog nodes", synopsis: "Lists all nodes in the given datacenter",
			help: cliFlagsUsage(catalogNodesHelp, newCatalogNodesFlags(&catalogNodesOpts{})), run: catalogNodes},
		{name: "catalog services", synopsis: "Lists all registered services in a datacenter",
			help: cliFlagsUsage(catalogServicesHelp, newCatalogServicesFlags(&catalogServicesOpts{})), run: catalogServices},
	}
}

// catalogTooMany is Consul's message for arguments a command does not take.
func catalogTooMany(c *cliEnv, want int, args []string) bool {
	if len(args) > want {
		c.errorf("Too many arguments (expected %d, got %d)", want, len(args))
		return true
	}
	return false
}

func catalogDatacenters(c *cliEnv, args []string) int {
	f := newCLIFlags(true, true)
	if !f.parse(c, args) || catalogTooMany(c, 0, f.Args()) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var dcs []string
	if _, err := cl.call("GET", "/v1/catalog/datacenters", nil, nil, &dcs); err != nil {
		c.errorf("Error listing datacenters: %s", err)
		return 1
	}
	for _, dc := range dcs {
		fmt.Fprintln(c.stdout, dc)
	}
	return 0
}

type catalogNodesOpts struct {
	detailed      bool
	near, service string
	nodeMeta      cliMapFlag
}

func newCatalogNodesFlags(o *catalogNodesOpts) *cliFlags {
	f := newCLIFlags(true, true)
	f.BoolVar(&o.detailed, "detailed", false, "Output detailed information about the nodes including their addresses and metadata.")
	f.StringVar(&o.near, "near", "", "Node name to sort the node list in ascending order based on estimated round-trip time from that node. Passing \"_agent\" will use this agent's node for sorting.")
	f.Var(&o.nodeMeta, "node-meta", "Metadata to filter nodes with the given `key=value` pairs. This flag may be specified multiple times to filter on multiple sources of metadata.")
	f.StringVar(&o.service, "service", "", "Service `id or name` to filter nodes. Only nodes which are providing the given service will be returned.")
	return f
}

func catalogNodes(c *cliEnv, args []string) int {
	var o catalogNodesOpts
	f := newCatalogNodesFlags(&o)
	if !f.parse(c, args) || catalogTooMany(c, 0, f.Args()) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := o.nodeMeta.query()
	if o.near != "" {
		q.Set("near", o.near)
	}
	var nodes []*Node
	if o.service != "" {
		// One row per instance, as Consul's: a node with two instances of
		// the service is listed twice.
		var instances []*catalogServiceNode
		if _, err := cl.call("GET", "/v1/catalog/service/"+url.PathEscape(o.service), q, nil, &instances); err != nil {
			c.errorf("Error listing nodes for service: %s", err)
			return 1
		}
		for _, s := range instances {
			nodes = append(nodes, &Node{ID: s.ID, Node: s.Node, Address: s.Address, Datacenter: s.Datacenter,
				TaggedAddresses: s.TaggedAddresses, Meta: s.NodeMeta})
		}
	} else if _, err := cl.call("GET", "/v1/catalog/nodes", q, nil, &nodes); err != nil {
		c.errorf("Error listing nodes: %s", err)
		return 1
	}
	if len(nodes) == 0 {
		c.errorf("No nodes match the given query - try expanding your search.")
		return 0
	}
	fmt.Fprintln(c.stdout, catalogNodeRows(nodes, o.detailed))
	return 0
}

// catalogNodeRows are the columns of catalog nodes: Node, ID (its first
// group only, unless detailed), Address, DC, and with detailed the tagged
// addresses and the metadata as sorted k=v lists. Fields are joined by
// fields, not "|"-joined, so that a "|" in metadata stays (Consul joins
// them with the unit separator for the same reason).
func catalogNodeRows(nodes []*Node, detailed bool) string {
	header := []string{"Node", "ID", "Address", "DC"}
	if detailed {
		header = append(header, "TaggedAddresses", "Meta")
	}
	rows := [][]string{header}
	for _, n := range nodes {
		id := n.ID
		if !detailed {
			if i := strings.Index(id, "-"); i > 0 {
				id = id[:i]
			}
		}
		row := []string{n.Node, id, n.Address, n.Datacenter}
		if detailed {
			row = append(row, catalogKV(n.TaggedAddresses), catalogKV(n.Meta))
		}
		rows = append(rows, row)
	}
	return catalogColumns(rows)
}

// catalogColumns aligns rows as columnize does, their fields given apart.
func catalogColumns(rows [][]string) string {
	widths := []int{}
	for _, r := range rows {
		for i, f := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(strings.TrimSpace(f)))
		}
	}
	var b strings.Builder
	for ri, r := range rows {
		if ri > 0 {
			b.WriteByte('\n')
		}
		for i, f := range r {
			f = strings.TrimSpace(f)
			if i == len(r)-1 {
				b.WriteString(f)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], f)
			}
		}
	}
	return b.String()
}

// catalogKV is a map as "k1=v1, k2=v2", keys sorted.
func catalogKV(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

type catalogServicesOpts struct {
	node     string
	nodeMeta cliMapFlag
	tags     bool
}

func newCatalogServicesFlags(o *catalogServicesOpts) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(&o.node, "node", "", "Node `id or name` for which to list services.")
	f.Var(&o.nodeMeta, "node-meta", "Metadata to filter nodes with the given `key=value` pairs. If specified, only services running on nodes matching the given metadata will be returned. This flag may be specified multiple times to filter on multiple sources of metadata.")
	f.BoolVar(&o.tags, "tags", false, "Display each service's tags as a comma-separated list beside each service entry.")
	return f
}

func catalogServices(c *cliEnv, args []string) int {
	var o catalogServicesOpts
	f := newCatalogServicesFlags(&o)
	if !f.parse(c, args) || catalogTooMany(c, 0, f.Args()) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var services map[string][]string
	if o.node != "" {
		var node *struct{ Services map[string]*Service }
		if _, err := cl.call("GET", "/v1/catalog/node/"+url.PathEscape(o.node), o.nodeMeta.query(), nil, &node); err != nil {
			c.errorf("Error listing services for node: %s", err)
			return 1
		}
		if node != nil {
			services = map[string][]string{}
			// The instances in ID order, their tags together, duplicates
			// kept, as Consul's.
			for _, id := range slices.Sorted(maps.Keys(node.Services)) {
				s := node.Services[id]
				services[s.Service] = append(services[s.Service], s.Tags...)
			}
		}
	} else if _, err := cl.call("GET", "/v1/catalog/services", o.nodeMeta.query(), nil, &services); err != nil {
		c.errorf("Error listing services: %s", err)
		return 1
	}
	if len(services) == 0 {
		c.errorf("No services match the given query - try expanding your search.")
		return 0
	}
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	if !o.tags {
		for _, name := range names {
			fmt.Fprintln(c.stdout, name)
		}
		return 0
	}
	// Consul's tabwriter (padding 6) and its trimmed output: the rows
	// keep their trailing padding, all but the last.
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	for _, name := range names {
		tags := slices.Clone(services[name])
		sort.Strings(tags)
		fmt.Fprintf(tw, "%s\t%s\n", name, strings.Join(tags, ","))
	}
	tw.Flush()
	fmt.Fprintln(c.stdout, strings.TrimSpace(b.String()))
	return 0
}

// --- shared by the catalog, services and snapshot commands ---

// query is the node-meta filter as the API takes it: node-meta=k:v.
func (m cliMapFlag) query() url.Values {
	q := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		q.Add("node-meta", k+":"+m[k])
	}
	return q
}

const catalogHelp = `Usage: consul catalog <subcommand> [options] [args]

  This command has subcommands for interacting with Consul's catalog. The
  catalog should not be confused with the agent, although the APIs and
  responses may be similar.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  List all datacenters:

      $ consul catalog datacenters

  List all nodes:

      $ consul catalog nodes

  List all services:

      $ consul catalog services

  For more examples, ask for subcommand help or view the documentation.
`

const catalogDCHelp = `Usage: consul catalog datacenters [options]

  Retrieves the list of all known datacenters. This datacenters are sorted in
  ascending order based on the estimated median round trip time from the servers
  in this datacenter to the servers in the other datacenters.

  To retrieve the list of datacenters:

      $ consul catalog datacenters

  For a full list of options and examples, please see the Consul documentation.
`

const catalogNodesHelp = `Usage: consul catalog nodes [options]

  Retrieves the list nodes registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of nodes:

      $ consul catalog nodes

  To print detailed information including full node IDs, tagged addresses, and
  metadata information:

      $ consul catalog nodes -detailed

  To list nodes which are running a particular service:

      $ consul catalog nodes -service=web

  To filter by node metadata:

      $ consul catalog nodes -node-meta="foo=bar"

  To sort nodes by estimated round-trip time from node-web:

      $ consul catalog nodes -near=node-web

  For a full list of options and examples, please see the Consul documentation.
`

const catalogServicesHelp = `Usage: consul catalog services [options]

  Retrieves the list services registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of services:

      $ consul catalog services

  To include the services' tags in the output:

      $ consul catalog services -tags

  To list services which run on a particular node:

      $ consul catalog services -node=web

  To filter services on node metadata:

      $ consul catalog services -node-meta="foo=bar"

  For a full list of options and examples, please see the Consul documentation.
`
