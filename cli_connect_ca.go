// cli_connect_ca.go: `consul connect ca get-config` and `set-config`, thin
// clients of /v1/connect/ca/configuration (the CA itself:
// server_connect_ca.go).
//
// Data flow: get-config prints the configuration the servers hold as
// Consul's client decodes and indents it (tab-indented JSON in the fields'
// order of its api.CAConfig); set-config reads a JSON file of that shape
// and PUTs it, which rotates the root when the key or its type changes.
//
// Concurrency: none; one request per run.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

const connectCAHelp = `Usage: consul connect ca <subcommand> [options] [args]

  This command has subcommands for interacting with Consul Connect's 
  Certificate Authority (CA).

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Get the configuration:

      $ consul connect ca get-config

  Update the configuration:

      $ consul connect ca set-config -config-file ca.json

  For more examples, ask for subcommand help or view the documentation.`

const connectCAGetHelp = `Usage: consul connect ca get-config [options]

  Displays the current Connect Certificate Authority (CA) configuration.`

const connectCASetHelp = `Usage: consul connect ca set-config [options]

  Modifies the current Connect Certificate Authority (CA) configuration.`

func connectCACommands() []cliCommand {
	set, _ := newConnectCASetFlags()
	return []cliCommand{
		{name: "connect ca", synopsis: "Interact with the Consul Connect Certificate Authority (CA)", help: connectCAHelp},
		{name: "connect ca get-config", synopsis: "Display the current Connect Certificate Authority (CA) configuration",
			help: cliFlagsUsage(connectCAGetHelp, newCLIFlags(true, true)), run: connectCAGetCommand},
		{name: "connect ca set-config", synopsis: "Modify the current Connect CA configuration",
			help: cliFlagsUsage(connectCASetHelp, set), run: connectCASetCommand},
	}
}

// cliCAConfig is Consul's api.CAConfig: its fields, in its order.
type cliCAConfig struct {
	Provider                 string
	Config                   map[string]any
	State                    map[string]string
	ForceWithoutCrossSigning bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

func connectCAGetCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, true)
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var cfg cliCAConfig
	if _, err := cl.call("GET", "/v1/connect/ca/configuration", nil, nil, &cfg); err != nil {
		c.errorf("Error querying CA configuration: %s", err)
		return 1
	}
	out, _ := json.MarshalIndent(cfg, "", "\t")
	fmt.Fprintln(c.stdout, string(out))
	return 0
}

type connectCASetOptions struct {
	configFile string
	force      bool
}

func newConnectCASetFlags() (*cliFlags, *connectCASetOptions) {
	f := newCLIFlags(true, true)
	o := &connectCASetOptions{}
	f.StringVar(&o.configFile, "config-file", "", "The path to the config file to use.")
	f.BoolVar(&o.force, "force-without-cross-signing", false, "Indicates that the CA reconfiguration should go ahead even if the current CA is unable to cross sign certificates. This risks temporary connection failures during the rollout as new leafs will be rejected by proxies that have not yet observed the new root cert but is the only option if a CA that doesn't support cross signing needs to be reconfigured or mirated away from.")
	return f, o
}

func connectCASetCommand(c *cliEnv, args []string) int {
	f, o := newConnectCASetFlags()
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	if o.configFile == "" {
		c.errorf("The -config-file flag is required")
		return 1
	}
	raw, err := os.ReadFile(o.configFile)
	if err != nil {
		c.errorf("Error reading config file: %s", err)
		return 1
	}
	var cfg cliCAConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		c.errorf("Error parsing config file: %s", err)
		return 1
	}
	cfg.ForceWithoutCrossSigning = o.force
	body, _ := json.Marshal(cfg)
	if _, err := cl.call("PUT", "/v1/connect/ca/configuration", nil, bytes.NewReader(body), nil); err != nil {
		c.errorf("Error setting CA configuration: %s", err)
		return 1
	}
	fmt.Fprintln(c.stdout, "Configuration updated!")
	return 0
}
