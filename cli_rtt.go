// cli_rtt.go: "rtt", Consul's estimate of the round-trip time between two
// nodes from their network coordinates (serf_vivaldi.go), with its output,
// messages and exit codes.
//
// Data flow: flags → LAN: GET /v1/coordinate/nodes (the second node, when
// not given, is the agent's: /v1/agent/self); -wan: GET
// /v1/coordinate/datacenters, nodes named <node>.<datacenter> → Serf's
// distance → "Estimated a <-> b rtt: 1.234 ms (using LAN coordinates)".
//
// Concurrency: none.
package main

import (
	"fmt"
	"strings"
)

func rttCommands() []cliCommand {
	return []cliCommand{{name: "rtt", synopsis: "Estimates network round trip time between nodes",
		help: cliFlagsUsage(rttHelp, newRTTFlags(new(bool))), run: rttCommand}}
}

func newRTTFlags(wan *bool) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(wan, "wan", false, "Use WAN coordinates instead of LAN coordinates.")
	return f
}

func rttCommand(c *cliEnv, args []string) int {
	var wan bool
	f := newRTTFlags(&wan)
	if !f.parse(c, args) {
		return 1
	}
	nodes := f.Args()
	if len(nodes) < 1 || len(nodes) > 2 {
		c.errorf("One or two node names must be specified")
		c.errorf("")
		c.errorf("%s", strings.TrimRight(cliFlagsUsage(rttHelp, newRTTFlags(new(bool))), "\n"))
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var self struct {
		Config struct{ NodeName, Datacenter string }
	}
	if len(nodes) < 2 {
		if _, err := cl.call("GET", "/v1/agent/self", nil, nil, &self); err != nil {
			c.errorf("Unable to look up agent info: %s", err)
			return 1
		}
	}
	source := "LAN"
	var coord1, coord2 *Coordinate
	if wan {
		source = "WAN"
		if len(nodes) < 2 {
			nodes = append(nodes, self.Config.NodeName+"."+self.Config.Datacenter)
		}
		parts1, parts2 := strings.Split(nodes[0], "."), strings.Split(nodes[1], ".")
		if len(parts1) != 2 || len(parts2) != 2 {
			c.errorf("Node names must be specified as <node name>.<datacenter> with -wan")
			return 1
		}
		var dcs []datacenterMap
		if _, err := cl.call("GET", "/v1/coordinate/datacenters", nil, nil, &dcs); err != nil {
			c.errorf("Error getting coordinates: %s", err)
			return 1
		}
		for _, dc := range dcs {
			for _, e := range dc.Coordinates {
				if dc.Datacenter == parts1[1] && strings.EqualFold(e.Node, parts1[0]) {
					coord1 = e.Coord
				}
				if dc.Datacenter == parts2[1] && strings.EqualFold(e.Node, parts2[0]) {
					coord2 = e.Coord
				}
			}
		}
		if coord1 == nil || coord2 == nil {
			coord1, coord2 = nil, nil // Consul then names the first node, whichever is missing
		}
	} else {
		if len(nodes) < 2 {
			nodes = append(nodes, self.Config.NodeName)
		}
		var entries []CoordinateEntry
		if _, err := cl.call("GET", "/v1/coordinate/nodes", nil, nil, &entries); err != nil {
			c.errorf("Error getting coordinates: %s", err)
			return 1
		}
		for _, e := range entries {
			if strings.EqualFold(e.Node, nodes[0]) {
				coord1 = e.Coord
			}
			if strings.EqualFold(e.Node, nodes[1]) {
				coord2 = e.Coord
			}
		}
	}
	if coord1 == nil {
		c.errorf("Could not find a coordinate for node %q", nodes[0])
		return 1
	}
	if coord2 == nil || !coord1.compatible(coord2) {
		c.errorf("Could not find a coordinate for node %q", nodes[1])
		return 1
	}
	fmt.Fprintf(c.stdout, "Estimated %s <-> %s rtt: %.3f ms (using %s coordinates)\n",
		nodes[0], nodes[1], coord1.distanceTo(coord2).Seconds()*1000.0, source)
	return 0
}

const rttHelp = `Usage: consul rtt [options] node1 [node2]

  Estimates the round trip time between two nodes using Consul's network
  coordinate model of the cluster.

  At least one node name is required. If the second node name isn't given, it
  is set to the agent's node name. Note that these are node names as known to
  Consul as "consul members" would show, not IP addresses.

  By default, the two nodes are assumed to be nodes in the local datacenter
  and the LAN coordinates are used. If the -wan option is given, then the WAN
  coordinates are used, and the node names must be suffixed by a period and
  the datacenter (eg. "myserver.dc1").

  It is not possible to measure between LAN coordinates and WAN coordinates
  because they are maintained by independent Serf gossip areas, so they are
  not compatible.`
