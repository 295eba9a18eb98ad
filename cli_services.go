// cli_services.go: the "services" commands, as Consul's: services register
// [-name -id -address -port -tag -meta] [FILE...] and services deregister
// [-id] [FILE...], with the local agent.
//
// Data flow: flags, or service definition files (JSON, in a config file's
// shape: {"service": {…}} or {"services": [{…}, …]}, keys in snake_case or
// as the API spells them, decoded by the agent's own config code,
// cfgDefinitions) → PUT /v1/agent/service/register for each definition, or
// PUT /v1/agent/service/deregister/<id> (the ID, else the name) →
// "Registered service: <name>" / "Deregistered service: <id>" on stdout.
//
// Concurrency: none.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
)

// servicesCommands is the services family.
func servicesCommands() []cliCommand {
	return []cliCommand{
		{name: "services", synopsis: "Interact with services", help: servicesHelp},
		{name: "services register", synopsis: "Register services with the local agent",
			help: cliFlagsUsage(servicesRegisterHelp, newServicesRegisterFlags(&servicesRegisterOpts{})), run: servicesRegister},
		{name: "services deregister", synopsis: "Deregister services with the local agent",
			help: cliFlagsUsage(servicesDeregisterHelp, newServicesDeregisterFlags(new(string))), run: servicesDeregister},
	}
}

type servicesRegisterOpts struct {
	id, name, address string
	port              int
	tags              cliListFlag
	meta              cliMapFlag
}

func newServicesRegisterFlags(o *servicesRegisterOpts) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(&o.id, "id", "", "ID of the service to register for arg-based registration. If this isn't set, it will default to the -name value.")
	f.StringVar(&o.name, "name", "", "Name of the service to register for arg-based registration.")
	f.StringVar(&o.address, "address", "", "Address of the service to register for arg-based registration.")
	f.IntVar(&o.port, "port", 0, "Port of the service to register for arg-based registration.")
	f.Var(&o.meta, "meta", "Metadata to set on the service, formatted as key=value. This flag may be specified multiple times to set multiple meta fields.")
	f.Var(&o.tags, "tag", "Tag to add to the service. This flag can be specified multiple times to set multiple tags.")
	return f
}

func servicesRegister(c *cliEnv, args []string) int {
	var o servicesRegisterOpts
	f := newServicesRegisterFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	if o.address != "" {
		if _, port, err := net.SplitHostPort(o.address); err == nil && port != "" {
			c.errorf("Invalid Service address when using CLI flags. Use -port flag instead: address should not contain port")
			return 1
		}
	}
	files := f.Args()
	switch {
	case len(files) == 0 && o.name == "":
		c.errorf("Service registration requires at least one argument or flags.")
		return 1
	case len(files) > 0 && o.name != "":
		c.errorf("Service registration requires arguments or -id, not both.")
		return 1
	}
	defs, cl := servicesLoad(c, f, files, []*serviceDefinition{{ID: o.id, Name: o.name, Address: o.address, Port: o.port, Tags: o.tags, Meta: o.meta}})
	if cl == nil {
		return 1
	}
	for _, def := range defs {
		body, err := json.Marshal(def)
		if err == nil {
			_, err = cl.call("PUT", "/v1/agent/service/register", nil, bytes.NewReader(body), nil)
		}
		if err != nil {
			c.errorf("Error registering service %q: %s", def.Name, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Registered service: %s\n", def.Name)
	}
	return 0
}

func newServicesDeregisterFlags(id *string) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(id, "id", "", "ID to delete. This must not be set if arguments are given.")
	return f
}

func servicesDeregister(c *cliEnv, args []string) int {
	var id string
	f := newServicesDeregisterFlags(&id)
	if !f.parse(c, args) {
		return 1
	}
	files := f.Args()
	switch {
	case len(files) == 0 && id == "":
		c.errorf("Service deregistration requires at least one argument or -id.")
		return 1
	case len(files) > 0 && id != "":
		c.errorf("Service deregistration requires arguments or -id, not both.")
		return 1
	}
	defs, cl := servicesLoad(c, f, files, []*serviceDefinition{{ID: id}})
	if cl == nil {
		return 1
	}
	for _, def := range defs {
		id := def.ID
		if id == "" {
			id = def.Name
		}
		if id == "" {
			continue
		}
		if _, err := cl.call("PUT", "/v1/agent/service/deregister/"+url.PathEscape(id), nil, nil, nil); err != nil {
			// Consul names the definition's name here, empty with -id.
			c.errorf("Error deregistering service %q: %s", def.Name, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Deregistered service: %s\n", id)
	}
	return 0
}

// servicesFromFiles reads the service definitions of config files, in
// file order, "service" before "services" in each, with Consul's messages
// for a file that cannot be read or parsed. Other keys of a config file
// are allowed and ignored.
func servicesFromFiles(files []string) ([]*serviceDefinition, error) {
	var cfg Config
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: Open failed on %s. %w", path, err)
		}
		var root map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&root); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", path, err)
		}
		for _, key := range []string{"service", "services"} {
			if v, ok := root[key]; ok && v != nil {
				set := cfgDefinitions(key == "service", func(c *Config) *[]*serviceDefinition { return &c.Services }).set
				if err := set(&cfg, v); err != nil {
					return nil, fmt.Errorf("config: file %s: key %q: %w", path, key, err)
				}
			}
		}
	}
	return cfg.Services, nil
}

const servicesHelp = `Usage: consul services <subcommand> [options] [args]

  This command has subcommands for interacting with services. The subcommands
  default to working with services registered with the local agent. Please see
  the "consul catalog" command for interacting with the entire catalog.

  For more examples, ask for subcommand help or view the documentation.
`

const servicesRegisterHelp = `Usage: consul services register [options] [FILE...]

  Register one or more services using the local agent API. Services can
  be registered from standard Consul configuration files (JSON) or
  using flags. The service is registered and the command returns. The caller
  must remember to call "consul services deregister" or a similar API to
  deregister the service when complete.

      $ consul services register web.json

  Additional flags and more advanced use cases are detailed below.
`

const servicesDeregisterHelp = `Usage: consul services deregister [options] [FILE...]

  Deregister one or more services that were previously registered with
  the local agent.

      $ consul services deregister web.json db.json

  The -id flag may be used to deregister a single service by ID:

      $ consul services deregister -id=web

  Services are deregistered from the local agent catalog. This command must
  be run against the same agent where the service was registered.
`

// servicesLoad is the definitions of files, or defs (the flags') if
// there are none, and the client; nil after the error is printed.
func servicesLoad(c *cliEnv, f *cliFlags, files []string, defs []*serviceDefinition) ([]*serviceDefinition, *cliClient) {
	if len(files) > 0 {
		var err error
		if defs, err = servicesFromFiles(files); err != nil {
			c.errorf("Error: %s", err)
			return nil, nil
		}
	}
	return defs, f.connect(c)
}
