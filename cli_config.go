// cli_config.go: the config command family of the command-line client,
// as Consul 1.22.7's: "config write|read|list|delete", with its messages,
// output and exit codes (checked against the real binary).
//
// Data flow: flags, and for write a JSON file or stdin (decoded first by
// the agent's own strict decoder, decodeConfigEntry, so a bad file is
// refused before any request) → /v1/config… (http_config_entry.go)
// through cliClient → Consul's text on stdout, or its error line on
// stderr, exit 1. read prints the entry as Consul's client does: indented,
// without the Hash.
//
// Concurrency: none.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// configCommands is the config family, for cliFamilies.
func configCommands() []cliCommand {
	return []cliCommand{
		{name: "config", synopsis: "Interact with Consul's Centralized Configurations", help: configFamilyHelp},
		{name: "config write", synopsis: "Create or update a centralized config entry",
			help: cliFlagsUsage(configWriteHelp, newConfigFlags(&configValues{}, "write")), run: configWriteCommand},
		{name: "config read", synopsis: "Read a centralized config entry",
			help: cliFlagsUsage(configReadHelp, newConfigFlags(&configValues{}, "read")), run: configReadCommand},
		{name: "config list", synopsis: "List centralized config entries of a given kind",
			help: cliFlagsUsage(configListHelp, newConfigFlags(&configValues{}, "list")), run: configListCommand},
		{name: "config delete", synopsis: "Delete a centralized config entry",
			help: cliFlagsUsage(configDeleteHelp, newConfigFlags(&configValues{}, "delete")), run: configDeleteCommand},
	}
}

// --- config ---

type configValues struct {
	kind, name  string
	cas         bool
	modifyIndex uint64
}

// newConfigFlags is the flag set of one config command.
func newConfigFlags(v *configValues, cmd string) *cliFlags {
	f := newCLIFlags(true, false)
	if cmd == "write" || cmd == "delete" {
		f.BoolVar(&v.cas, "cas", false, "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. The default value is false.")
		f.Uint64Var(&v.modifyIndex, "modify-index", 0, "Unsigned integer representing the ModifyIndex of the config entry. This is used in combination with the -cas flag.")
	}
	if cmd != "write" {
		f.StringVar(&v.kind, "kind", "", "The kind of configuration to "+cmd+".")
	}
	if cmd == "read" || cmd == "delete" {
		f.StringVar(&v.name, "name", "", "The name of configuration to "+cmd+".")
	}
	return f
}

// configKindName parses the flags and checks -kind (and -name if asked).
func configKindName(c *cliEnv, v *configValues, cmd string, args []string, needName bool) (*cliClient, bool) {
	f := newConfigFlags(v, cmd)
	if !f.parse(c, args) {
		return nil, false
	}
	switch {
	case v.kind == "":
		c.errorf("Must specify the -kind parameter")
		return nil, false
	case needName && v.name == "":
		c.errorf("Must specify the -name parameter")
		return nil, false
	}
	cl := f.connect(c)
	return cl, cl != nil
}

func configWriteCommand(c *cliEnv, args []string) int {
	var v configValues
	f := newConfigFlags(&v, "write")
	if !f.parse(c, args) {
		return 1
	}
	if f.NArg() != 1 {
		c.errorf("Must provide exactly one positional argument to specify the config entry to write")
		return 1
	}
	var data []byte
	var err error
	if f.Arg(0) == "-" {
		data, err = io.ReadAll(c.stdin)
	} else {
		data, err = os.ReadFile(f.Arg(0))
	}
	if err != nil {
		c.errorf("Failed to load data: Failed to read file: %v", err)
		return 1
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}") // an empty file is an empty object, as Consul's HCL reads it
	}
	entry, err := decodeConfigEntry(data)
	if err != nil {
		c.errorf("Failed to decode config entry input: %v", err)
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	kind, name := entry.kindName()
	if kind == kindProxyDefaults {
		name = proxyDefaultsGlobal // Consul's client names it so, whatever the file says
	}
	q := url.Values{}
	if v.cas {
		q.Set("cas", strconv.FormatUint(v.modifyIndex, 10))
	}
	var ok bool
	if _, err := cl.call(http.MethodPut, "/v1/config", q, bytes.NewReader(data), &ok); err != nil {
		c.errorf("Error writing config entry %s/%s: %v — The target config entry is referenced by gateway/router and cannot be "+
			"modified or deleted until it is unreferenced. Check upstream configs (routers/gateways) referencing service '%s' "+
			"with `consul config list` and `consul config read`.", kind, name, err, name) // Consul's text, for any error
		return 1
	}
	if !ok {
		c.errorf("Config entry not updated: %s/%s", kind, name)
		return 1
	}
	fmt.Fprintf(c.stdout, "Config entry written: %s/%s\n", kind, name)
	return 0
}

func configReadCommand(c *cliEnv, args []string) int {
	var v configValues
	cl, ok := configKindName(c, &v, "read", args, true)
	if !ok {
		return 1
	}
	resp, err := cl.call(http.MethodGet, "/v1/config/"+url.PathEscape(v.kind)+"/"+url.PathEscape(v.name), nil, nil, nil)
	if err != nil {
		c.errorf("Error reading config entry %s/%s: %v", v.kind, v.name, err)
		return 1
	}
	entry, err := decodeConfigEntry(resp.body)
	if err != nil {
		c.errorf("Error reading config entry %s/%s: %v", v.kind, v.name, err)
		return 1
	}
	_, _, _, _, hash := entry.meta()
	*hash = 0 // Consul's client has no Hash field
	b, err := json.MarshalIndent(entry.body(), "", "    ")
	if err != nil {
		c.errorf("Error formatting config entry: %v", err)
		return 1
	}
	fmt.Fprintln(c.stdout, string(b))
	return 0
}

func configListCommand(c *cliEnv, args []string) int {
	var v configValues
	cl, ok := configKindName(c, &v, "list", args, false)
	if !ok {
		return 1
	}
	var entries []struct{ Name string }
	if _, err := cl.call(http.MethodGet, "/v1/config/"+url.PathEscape(v.kind), nil, nil, &entries); err != nil {
		c.errorf("Error listing config entries for kind %q: %v", v.kind, err)
		return 1
	}
	for _, e := range entries {
		fmt.Fprintln(c.stdout, e.Name)
	}
	return 0
}

func configDeleteCommand(c *cliEnv, args []string) int {
	var v configValues
	cl, ok := configKindName(c, &v, "delete", args, true)
	if !ok {
		return 1
	}
	q := url.Values{}
	if v.cas {
		q.Set("cas", strconv.FormatUint(v.modifyIndex, 10))
	}
	resp, err := cl.call(http.MethodDelete, "/v1/config/"+url.PathEscape(v.kind)+"/"+url.PathEscape(v.name), q, nil, nil)
	if err != nil {
		c.errorf("Error deleting config entry %s/%s: %v", v.kind, v.name, err)
		return 1
	}
	if v.cas && strings.TrimSpace(string(resp.body)) != "true" {
		c.errorf("Config entry not deleted: %s/%s", v.kind, v.name)
		return 1
	}
	fmt.Fprintf(c.stdout, "Config entry deleted: %s/%s\n", v.kind, v.name)
	return 0
}

// --- help ---

const configFamilyHelp = `Usage: consul config <subcommand> [options] [args]

  This command has subcommands for interacting with Consul's Centralized
  Configuration system. Here are some simple examples, and more detailed
  examples are available in the subcommands or the documentation.

  Write a config:

    $ consul config write web.serviceconf.json

  Read a config:

    $ consul config read -kind service-defaults -name web

  List all configs for a type:

    $ consul config list -kind service-defaults

  Delete a config:

    $ consul config delete -kind service-defaults -name web

  For more examples, ask for subcommand help or view the documentation.
`

const configWriteHelp = `Usage: consul config write [options] <configuration>

  Request a config entry to be created or updated. The configuration
  argument is either a file path or '-' to indicate that the config
  should be read from stdin. The data should be in JSON form.

  Example (from file):

    $ consul config write web.service.json

  Example (from stdin):

    $ consul config write -`

const configReadHelp = `Usage: consul config read [options] -kind <config kind> -name <config name>

  Reads the config entry specified by the given kind and name and outputs its
  JSON representation.

  Example:

    $ consul config read -kind proxy-defaults -name global`

const configListHelp = `Usage: consul config list [options] -kind <config kind>

  Lists all of the config entries for a given kind. The -kind parameter
  is required.

  Example:

    $ consul config list -kind service-defaults`

const configDeleteHelp = `Usage: consul config delete [options] -kind <config kind> -name <config name>

  Deletes the configuration entry specified by the kind and name.

  Example:

    $ consul config delete -kind service-defaults -name web`
