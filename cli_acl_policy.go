// cli_acl_policy.go: "acl policy create|read|update|delete|list", as
// Consul 1.22.7's, over /v1/acl/policy… (the shared client, shapes and
// output are in cli_acl.go).
//
// Data flow: flags (-rules as text, @file or - for stdin) → an ID
// resolved from a built-in name, a prefix (by listing /v1/acl/policies)
// or a name (/v1/acl/policy/name/<name>) → the call → Consul's policy
// text or its JSON. "update" merges the flags given into the policy read
// (only flags actually set replace, so -description "" clears it), or
// with -no-merge writes exactly the flags. The agent parses the rules;
// its errors (a 500 with the position) are shown as Consul shows them.
//
// Concurrency: none.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
)

// aclPolicyCommands are the policy commands, for aclCommands.
func aclPolicyCommands() []cliCommand {
	return []cliCommand{
		{name: "acl policy", synopsis: "Manage Consul's ACL policies", help: aclPolicyFamilyHelp},
		{name: "acl policy create", synopsis: "Create an ACL policy",
			help: cliFlagsUsage(aclPolicyCreateHelp, newACLPolicyFlags(&aclPolicyValues{}, "create").cliFlags), run: aclPolicyCreateCommand},
		{name: "acl policy read", synopsis: "Read an ACL policy",
			help: cliFlagsUsage(aclPolicyReadHelp, newACLPolicyFlags(&aclPolicyValues{}, "read").cliFlags), run: aclPolicyReadCommand},
		{name: "acl policy update", synopsis: "Update an ACL policy",
			help: cliFlagsUsage(aclPolicyUpdateHelp, newACLPolicyFlags(&aclPolicyValues{}, "update").cliFlags), run: aclPolicyUpdateCommand},
		{name: "acl policy delete", synopsis: "Delete an ACL policy",
			help: cliFlagsUsage(aclPolicyDeleteHelp, newACLPolicyFlags(&aclPolicyValues{}, "delete").cliFlags), run: aclPolicyDeleteCommand},
		{name: "acl policy list", synopsis: "Lists ACL policies",
			help: cliFlagsUsage(aclPolicyListHelp, newACLPolicyFlags(&aclPolicyValues{}, "list").cliFlags), run: aclPolicyListCommand},
	}
}

// aclPolicyValues are the policy commands' own flags.
type aclPolicyValues struct {
	id, name, description, rules string
	datacenters                  cliListFlag
	noMerge                      bool
}

// newACLPolicyFlags is the flag set of the policy command cmd, with
// Consul's usage texts.
func newACLPolicyFlags(v *aclPolicyValues, cmd string) *aclFlags {
	const meta = "Indicates that policy metadata such as the content hash and raft indices should be shown for each entry"
	const idUsage = "It may be specified as a unique ID prefix but will error if the prefix matches multiple policy IDs"
	var f *aclFlags
	if cmd == "delete" {
		f = newACLFlags("", false)
	} else {
		f = newACLFlags(meta, true)
	}
	switch cmd {
	case "read", "update", "delete":
		f.StringVar(&v.id, "id", "", "The ID of the policy to "+cmd+". "+idUsage)
	}
	switch cmd {
	case "create":
		f.StringVar(&v.name, "name", "", "The new policy's name. This flag is required.")
	case "update":
		f.StringVar(&v.name, "name", "", "The policies name.")
	case "read", "delete":
		f.StringVar(&v.name, "name", "", "The name of the policy to "+cmd+".")
	}
	if cmd == "create" || cmd == "update" {
		f.StringVar(&v.description, "description", "", "A description of the policy")
		f.Var(&v.datacenters, "valid-datacenter", "Datacenter that the policy should be valid within. This flag may be specified multiple times")
		f.StringVar(&v.rules, "rules", "", "The policy rules. May be prefixed with '@' to indicate that the value is a file path to load the rules from. '-' may also be given to indicate that the rules are available on stdin")
	}
	if cmd == "update" {
		f.BoolVar(&v.noMerge, "no-merge", false, "Do not merge the current policy information with what is provided to the command. Instead overwrite all fields with the exception of the policy ID which is immutable.")
	}
	return f
}

func aclPolicyCreateCommand(c *cliEnv, args []string) int {
	var v aclPolicyValues
	f := newACLPolicyFlags(&v, "create")
	if !f.parse(c, args) {
		return 1
	}
	if v.name == "" {
		c.errorf("Missing required '-name' flag")
		c.errorf("%s", strings.TrimRight(cliFlagsUsage(aclPolicyCreateHelp, newACLPolicyFlags(&aclPolicyValues{}, "create").cliFlags), "\n"))
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	rules, err := kvLoadData(c, v.rules)
	if err != nil {
		c.errorf("Error loading rules: %v", err)
		return 1
	}
	p := &cliACLPolicy{Name: v.name, Description: v.description, Datacenters: v.datacenters, Rules: rules}
	var out cliACLPolicy
	if err := a.call(http.MethodPut, "/v1/acl/policy", p, &out); err != nil {
		c.errorf("Failed to create new policy: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclPolicyPretty(&out, f.meta) }, &out)
}

func aclPolicyReadCommand(c *cliEnv, args []string) int {
	var v aclPolicyValues
	f := newACLPolicyFlags(&v, "read")
	if !f.parse(c, args) {
		return 1
	}
	if v.id == "" && v.name == "" {
		c.errorf("Must specify either the -id or -name parameters")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	var p *cliACLPolicy
	var err error
	errArg := "name:" + v.name
	if v.id != "" {
		id, rerr := a.policyID(v.id)
		if rerr != nil {
			c.errorf("Error determining policy ID: %v", rerr)
			return 1
		}
		errArg = "id:" + id
		p = &cliACLPolicy{}
		err = a.call(http.MethodGet, "/v1/acl/policy/"+id, nil, p)
	} else {
		p, err = a.policyByName(v.name)
	}
	if err != nil {
		c.errorf("Error reading policy %q: %v", errArg, err)
		return 1
	}
	if p == nil {
		c.errorf("Error policy not found: %s", v.name)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclPolicyPretty(p, f.meta) }, p)
}

func aclPolicyUpdateCommand(c *cliEnv, args []string) int {
	var v aclPolicyValues
	f := newACLPolicyFlags(&v, "update")
	if !f.parse(c, args) {
		return 1
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if v.id == "" && v.name == "" {
		c.errorf("Must specify either the -id or -name parameters")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := idOrName(v.id, v.name, a.policyID, a.policyIDByName)
	if err != nil {
		c.errorf("Error determining policy ID: %v", err)
		return 1
	}
	rules, err := kvLoadData(c, v.rules)
	if err != nil {
		c.errorf("Error loading data source: %v", err)
		return 1
	}
	updated := &cliACLPolicy{ID: id, Name: v.name, Description: v.description, Datacenters: v.datacenters, Rules: rules}
	if !v.noMerge {
		var p cliACLPolicy
		if err := a.call(http.MethodGet, "/v1/acl/policy/"+id, nil, &p); err != nil {
			c.errorf("Error reading policy %q: %v", id, err)
			return 1
		}
		updated = &cliACLPolicy{ID: id, Name: p.Name, Description: p.Description, Datacenters: p.Datacenters, Rules: p.Rules}
		if set["name"] {
			updated.Name = v.name
		}
		if set["description"] {
			updated.Description = v.description
		}
		if set["rules"] {
			updated.Rules = rules
		}
		if v.datacenters != nil {
			updated.Datacenters = v.datacenters
		}
	}
	var out cliACLPolicy
	if err := a.call(http.MethodPut, "/v1/acl/policy/"+id, updated, &out); err != nil {
		c.errorf("Error updating policy %q: %v", id, err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclPolicyPretty(&out, f.meta) }, &out)
}

func aclPolicyDeleteCommand(c *cliEnv, args []string) int {
	var v aclPolicyValues
	f := newACLPolicyFlags(&v, "delete")
	if !f.parse(c, args) {
		return 1
	}
	if v.id == "" && v.name == "" {
		c.errorf("Must specify either the -id or -name parameters")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := idOrName(v.id, v.name, a.policyID, a.policyIDByName)
	if err != nil {
		c.errorf("Error determining policy ID: %v", err)
		return 1
	}
	if err := a.call(http.MethodDelete, "/v1/acl/policy/"+id, nil, nil); err != nil {
		// Consul's client drops the body of this one answer before
		// reporting it: its message shows the status alone.
		var se *errCLIStatus
		if errors.As(err, &se) {
			se.body = ""
		}
		c.errorf("Error deleting policy %q: %v", id, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Policy %q deleted successfully\n", id)
	return 0
}

func aclPolicyListCommand(c *cliEnv, args []string) int {
	f := newACLPolicyFlags(&aclPolicyValues{}, "list")
	if !f.parse(c, args) {
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	var list []*cliACLPolicyListEntry
	if err := a.call(http.MethodGet, "/v1/acl/policies", nil, &list); err != nil {
		c.errorf("Failed to retrieve the policy list: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string {
		var b strings.Builder
		for _, p := range list {
			fmt.Fprintf(&b, "%s:\n", p.Name)
			fmt.Fprintf(&b, "   ID:           %s\n", p.ID)
			aclPolicyFields(&b, "   ", p.Partition, p.Namespace, p.Description, p.Datacenters, p.Hash, p.CreateIndex, p.ModifyIndex, f.meta)
		}
		return b.String()
	}, list)
}

// aclPolicyPretty is Consul's text of a policy: its fields, then its
// rules as they are.
func aclPolicyPretty(p *cliACLPolicy, meta bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ID:           %s\n", p.ID)
	fmt.Fprintf(&b, "Name:         %s\n", p.Name)
	aclPolicyFields(&b, "", p.Partition, p.Namespace, p.Description, p.Datacenters, p.Hash, p.CreateIndex, p.ModifyIndex, meta)
	b.WriteString("Rules:\n")
	b.WriteString(p.Rules)
	return b.String()
}

// aclPolicyFields are the lines a policy and a policy list entry share.
func aclPolicyFields(b *strings.Builder, indent, partition, namespace, description string, dcs []string, hash []byte, createIndex, modifyIndex uint64, meta bool) {
	if partition != "" {
		fmt.Fprintf(b, "%sPartition:    %s\n", indent, partition)
	}
	if namespace != "" {
		fmt.Fprintf(b, "%sNamespace:    %s\n", indent, namespace)
	}
	fmt.Fprintf(b, "%sDescription:  %s\n", indent, description)
	fmt.Fprintf(b, "%sDatacenters:  %s\n", indent, strings.Join(dcs, ", "))
	if meta {
		fmt.Fprintf(b, "%sHash:         %x\n", indent, hash)
		fmt.Fprintf(b, "%sCreate Index: %d\n", indent, createIndex)
		fmt.Fprintf(b, "%sModify Index: %d\n", indent, modifyIndex)
	}
}

// --- help ---

const aclPolicyFamilyHelp = `Usage: consul acl policy <subcommand> [options] [args]

  This command has subcommands for managing Consul's ACL policies.
  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a new ACL policy:

      $ consul acl policy create -name "new-policy" \
                                 -description "This is an example policy" \
                                 -datacenter "dc1" \
                                 -datacenter "dc2" \
                                 -rules @rules.hcl
  List all policies:

      $ consul acl policy list

  Update a policy:

      $ consul acl policy update -name "other-policy" -datacenter "dc1"

  Read a policy:

    $ consul acl policy read -id 0479e93e-091c-4475-9b06-79a004765c24

  Delete a policy

    $ consul acl policy delete -name "my-policy"

  For more examples, ask for subcommand help or view the documentation.
`

const aclPolicyCreateHelp = `Usage: consul acl policy create -name NAME [options]

    The -rules option values allows loading the value from stdin, a file 
    or the raw value. To use stdin pass '-' as the value. To load the value 
    from a file prefix the value with an '@'. Any other values will be used 
    directly.

    Create a new policy:

        $ consul acl policy create -name "new-policy" \
                                   -description "This is an example policy" \
                                   -datacenter "dc1" \
                                   -datacenter "dc2" \
                                   -rules @rules.hcl`

const aclPolicyReadHelp = `Usage: consul acl policy read [options] POLICY

    This command will retrieve and print out the details
    of a single policy.

    Read:

        $ consul acl policy read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba

    Read by name:

        $ consul acl policy read -name my-policy`

const aclPolicyUpdateHelp = `Usage: consul acl policy update [options]

  Updates a policy. By default it will merge the policy information with its
  current state so that you do not have to provide all parameters. This
  behavior can be disabled by passing -no-merge.

  Rename the policy:

          $ consul acl policy update -id abcd -name "better-name"

  Override all policy attributes:

          # this will remove any datacenter scope if provided and will remove
          # the description
          $consul acl policy update -id abcd -name "better-name" -rules @rules.hcl`

const aclPolicyDeleteHelp = `Usage: consul acl policy delete [options] -id POLICY

    Deletes an ACL policy by providing either the ID or a unique ID prefix.

    Delete by prefix:

        $ consul acl policy delete -id b6b85

    Delete by full ID:

        $ consul acl policy delete -id b6b856da-5193-4e78-845a-7d61ca8371ba`

const aclPolicyListHelp = `Usage: consul acl policy list [options]

    Lists all the ACL policies

    Example:

        $ consul acl policy list`
