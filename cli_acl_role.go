// cli_acl_role.go: "acl role create|read|update|delete|list", as Consul
// 1.22.7's, over /v1/acl/role… (the shared client, shapes and output are
// in cli_acl.go).
//
// Data flow: flags → an ID resolved from a prefix or a name (both by
// listing /v1/acl/roles) → the call → Consul's role text or its JSON.
// "update" reads the role and adds what the flags give (policies by name
// or ID not there yet, service identities replacing the same service's),
// or with -no-merge writes exactly the flags. Consul's own quirks are
// kept, being its behaviour: with -no-merge the role is written under
// the -id given (not the resolved ID), and a merged -node-identity is
// added unless the role has the node in another datacenter.
//
// Concurrency: none.
package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// aclRoleCommands are the role commands, for aclCommands.
func aclRoleCommands() []cliCommand {
	return []cliCommand{
		{name: "acl role", synopsis: "Manage Consul's ACL roles", help: aclRoleFamilyHelp},
		{name: "acl role create", synopsis: "Create an ACL role",
			help: cliFlagsUsage(aclRoleCreateHelp, newACLRoleFlags(&aclRoleValues{}, "create").cliFlags), run: aclRoleCreateCommand},
		{name: "acl role read", synopsis: "Read an ACL role",
			help: cliFlagsUsage(aclRoleReadHelp, newACLRoleFlags(&aclRoleValues{}, "read").cliFlags), run: aclRoleReadCommand},
		{name: "acl role update", synopsis: "Update an ACL role",
			help: cliFlagsUsage(aclRoleUpdateHelp, newACLRoleFlags(&aclRoleValues{}, "update").cliFlags), run: aclRoleUpdateCommand},
		{name: "acl role delete", synopsis: "Delete an ACL role",
			help: cliFlagsUsage(aclRoleDeleteHelp, newACLRoleFlags(&aclRoleValues{}, "delete").cliFlags), run: aclRoleDeleteCommand},
		{name: "acl role list", synopsis: "Lists ACL roles",
			help: cliFlagsUsage(aclRoleListHelp, newACLRoleFlags(&aclRoleValues{}, "list").cliFlags), run: aclRoleListCommand},
	}
}

// aclRoleValues are the role commands' own flags.
type aclRoleValues struct {
	id, name, description                             string
	policyIDs, policyNames, serviceIdents, nodeIdents cliListFlag
	noMerge                                           bool
	templatedPolicy, templatedPolicyFile              string
	appendTP, appendTPFile, replaceTP, replaceTPFile  string
	varList                                           cliListFlag
}

// newACLRoleFlags is the flag set of the role command cmd, with Consul's
// usage texts.
func newACLRoleFlags(v *aclRoleValues, cmd string) *aclFlags {
	var f *aclFlags
	switch cmd {
	case "delete":
		f = newACLFlags("", false)
	case "list":
		f = newACLFlags("Indicates that policy metadata such as the content hash and raft indices should be shown for each entry", true)
	default:
		f = newACLFlags("Indicates that role metadata such as the content hash and raft indices should be shown for each entry", true)
	}
	switch cmd {
	case "read":
		f.StringVar(&v.id, "id", "", "The ID of the role to read. It may be specified as a unique ID prefix but will error if the prefix matches multiple policy IDs")
	case "update", "delete":
		f.StringVar(&v.id, "id", "", "The ID of the role to "+cmd+". It may be specified as a unique ID prefix but will error if the prefix matches multiple role IDs")
	}
	switch cmd {
	case "create":
		f.StringVar(&v.name, "name", "", "The new role's name. This flag is required.")
	case "update":
		f.StringVar(&v.name, "name", "", "The role name.")
	case "read", "delete":
		f.StringVar(&v.name, "name", "", "The name of the role to "+cmd+".")
	}
	if cmd != "create" && cmd != "update" {
		return f
	}
	f.StringVar(&v.description, "description", "", "A description of the role")
	f.Var(&v.policyIDs, "policy-id", "ID of a policy to use for this role. May be specified multiple times")
	f.Var(&v.policyNames, "policy-name", "Name of a policy to use for this role. May be specified multiple times")
	f.Var(&v.serviceIdents, "service-identity", "Name of a service identity to use for this role. May be specified multiple times. Format is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...")
	f.Var(&v.nodeIdents, "node-identity", "Name of a node identity to use for this role. May be specified multiple times. Format is NODENAME:DATACENTER")
	if cmd == "create" {
		f.Var(&v.varList, "var", "Templated policy variables. Must be used in combination with -templated-policy flag to specify required variables. May be specified multiple times with different variables. Format is VariableName:Value")
		f.StringVar(&v.templatedPolicy, "templated-policy", "", "The templated policy name. Use -var flag to specify variables when required.")
		f.StringVar(&v.templatedPolicyFile, "templated-policy-file", "", "Path to a file containing templated policy names and variables.")
		return f
	}
	f.BoolVar(&v.noMerge, "no-merge", false, "Do not merge the current role information with what is provided to the command. Instead overwrite all fields with the exception of the role ID which is immutable.")
	f.Var(&v.varList, "var", "Templated policy variables. Must be used in combination with -append-templated-policy or -replace-templated-policy flags to specify required variables. May be specified multiple times with different variables. Format is VariableName:Value")
	f.StringVar(&v.appendTP, "append-templated-policy", "", "The templated policy name to attach to the role's existing templated policies list. Use -var flag to specify variables when required. The role retains existing templated policies.")
	f.StringVar(&v.replaceTP, "replace-templated-policy", "", "The templated policy name to replace the existing templated policies list with. Use -var flag to specify variables when required. Overwrites the role's existing templated policies.")
	f.StringVar(&v.appendTPFile, "append-templated-policy-file", "", "Path to a file containing templated policies and variables. Works like `-append-templated-policy`. The role retains existing templated policies.")
	f.StringVar(&v.replaceTPFile, "replace-templated-policy-file", "", "Path to a file containing templated policies and variables. Works like `-replace-templated-policy`. Overwrites the role's existing templated policies.")
	return f
}

func aclRoleCreateCommand(c *cliEnv, args []string) int {
	var v aclRoleValues
	f := newACLRoleFlags(&v, "create")
	if !f.parse(c, args) {
		return 1
	}
	if v.name == "" {
		c.errorf("Missing required '-name' flag")
		c.errorf("%s", strings.TrimRight(cliFlagsUsage(aclRoleCreateHelp, newACLRoleFlags(&aclRoleValues{}, "create").cliFlags), "\n"))
		return 1
	}
	if len(v.policyNames) == 0 && len(v.policyIDs) == 0 && len(v.serviceIdents) == 0 && len(v.nodeIdents) == 0 &&
		v.templatedPolicy == "" && v.templatedPolicyFile == "" {
		c.errorf("Cannot create a role without specifying -policy-name, -policy-id, -service-identity, -node-identity, -templated-policy-file or -templated-policy at least once")
		return 1
	}
	if v.templatedPolicy != "" && v.templatedPolicyFile != "" {
		c.errorf("Cannot combine the use of templated-policy flag with templated-policy-file. " +
			"To create a role with a single templated policy and simple use case, use -templated-policy. " +
			"For multiple templated policies and more complicated use cases, use -templated-policy-file")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	r := &cliACLRole{Name: v.name, Description: v.description}
	var err error
	if r.Policies, err = a.policyLinks(v.policyNames, v.policyIDs); err == nil {
		if r.ServiceIdentities, err = aclServiceIdentities(v.serviceIdents); err == nil {
			if r.NodeIdentities, err = aclNodeIdentities(v.nodeIdents); err == nil {
				r.TemplatedPolicies, err = aclTemplatedPolicies(v.templatedPolicy, v.templatedPolicyFile, v.varList)
			}
		}
	}
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	var out cliACLRole
	if err := a.call(http.MethodPut, "/v1/acl/role", r, &out); err != nil {
		c.errorf("Failed to create new role: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclRolePretty(&out, f.meta) }, &out)
}

func aclRoleReadCommand(c *cliEnv, args []string) int {
	var v aclRoleValues
	f := newACLRoleFlags(&v, "read")
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
	var r cliACLRole
	if v.id != "" {
		id, err := a.roleID(v.id)
		if err != nil {
			c.errorf("Error determining role ID: %v", err)
			return 1
		}
		found, err := a.find("/v1/acl/role/"+id, &r)
		if err != nil {
			c.errorf("Error reading role %q: %v", id, err)
			return 1
		} else if !found {
			c.errorf("Role not found with ID %q", id)
			return 1
		}
	} else {
		found, err := a.find("/v1/acl/role/name/"+url.QueryEscape(v.name), &r)
		if err != nil {
			c.errorf("Error reading role %q: %v", v.name, err)
			return 1
		} else if !found {
			c.errorf("Role not found with name %q", v.name)
			return 1
		}
	}
	return aclPrint(c, f.format, func() string { return aclRolePretty(&r, f.meta) }, &r)
}

func aclRoleUpdateCommand(c *cliEnv, args []string) int {
	var v aclRoleValues
	f := newACLRoleFlags(&v, "update")
	if !f.parse(c, args) {
		return 1
	}
	if v.id == "" {
		c.errorf("Cannot update a role without specifying the -id parameter")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := a.roleID(v.id)
	if err != nil {
		c.errorf("Error determining role ID: %v", err)
		return 1
	}
	svcs, err := aclServiceIdentities(v.serviceIdents)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	nodes, err := aclNodeIdentities(v.nodeIdents)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	appendTPs := v.appendTP != "" || v.appendTPFile != ""
	replaceTPs := v.replaceTP != "" || v.replaceTPFile != ""
	if appendTPs && replaceTPs {
		c.errorf("Cannot combine the use of append-templated-policy flags with replace-templated-policy. " +
			"To set or overwrite existing templated policies, use -replace-templated-policy or -replace-templated-policy-file. " +
			"To append to existing templated policies, use -append-templated-policy or -append-templated-policy-file.")
		return 1
	}
	tpName, tpFile := v.replaceTP, v.replaceTPFile
	if appendTPs {
		tpName, tpFile = v.appendTP, v.appendTPFile
	}
	tps, err := aclTemplatedPolicies(tpName, tpFile, v.varList)
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	// The role is read in both modes, to fail better if it is not there.
	var r cliACLRole
	found, err := a.find("/v1/acl/role/"+id, &r)
	if err != nil {
		c.errorf("Error when retrieving current role: %v", err)
		return 1
	} else if !found {
		c.errorf("Role not found with ID %q", id)
		return 1
	}
	if v.noMerge {
		r = cliACLRole{ID: v.id, Name: v.name, Description: v.description, ServiceIdentities: svcs, NodeIdentities: nodes, TemplatedPolicies: tps}
		if r.Policies, err = a.policyLinks(v.policyNames, v.policyIDs); err != nil {
			c.errorf("%v", err)
			return 1
		}
	} else {
		if v.name != "" {
			r.Name = v.name
		}
		if v.description != "" {
			r.Description = v.description
		}
		if r.Policies, err = aclMergeLinks(r.Policies, v.policyNames, v.policyIDs, a.policyID, "policy", false); err != nil {
			c.errorf("%v", err)
			return 1
		}
		r.ServiceIdentities = aclMergeServiceIdentities(r.ServiceIdentities, svcs)
		for _, n := range nodes {
			if !aclHasNodeIdentity(r.NodeIdentities, n, false) {
				r.NodeIdentities = append(r.NodeIdentities, n)
			}
		}
		if replaceTPs {
			r.TemplatedPolicies = tps
		} else {
			r.TemplatedPolicies = append(r.TemplatedPolicies, tps...)
		}
	}
	var out cliACLRole
	if err := a.call(http.MethodPut, "/v1/acl/role/"+r.ID, &r, &out); err != nil {
		c.errorf("Error updating role %q: %v", id, err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclRolePretty(&out, f.meta) }, &out)
}

func aclRoleDeleteCommand(c *cliEnv, args []string) int {
	var v aclRoleValues
	f := newACLRoleFlags(&v, "delete")
	if !f.parse(c, args) {
		return 1
	}
	if v.id == "" && v.name == "" {
		c.errorf("Must specify the -id or -name parameters")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := idOrName(v.id, v.name, a.roleID, a.roleIDByName)
	if err != nil {
		c.errorf("Error determining role ID: %v", err)
		return 1
	}
	if err := a.call(http.MethodDelete, "/v1/acl/role/"+id, nil, nil); err != nil {
		c.errorf("Error deleting role %q: %v", id, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Role %q deleted successfully\n", id)
	return 0
}

func aclRoleListCommand(c *cliEnv, args []string) int {
	f := newACLRoleFlags(&aclRoleValues{}, "list")
	if !f.parse(c, args) {
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	roles, err := a.roles()
	if err != nil {
		c.errorf("Failed to retrieve the role list: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string {
		var b strings.Builder
		for _, r := range roles {
			fmt.Fprintf(&b, "%s:\n", r.Name)
			fmt.Fprintf(&b, "   ID:           %s\n", r.ID)
			aclRoleFields(&b, "   ", r, f.meta)
		}
		return b.String()
	}, roles)
}

// aclRolePretty is Consul's text of a role.
func aclRolePretty(r *cliACLRole, meta bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ID:           %s\n", r.ID)
	fmt.Fprintf(&b, "Name:         %s\n", r.Name)
	aclRoleFields(&b, "", r, meta)
	return b.String()
}

// aclRoleFields are the lines a role and a role list entry share.
func aclRoleFields(b *strings.Builder, indent string, r *cliACLRole, meta bool) {
	if r.Partition != "" {
		fmt.Fprintf(b, "%sPartition:    %s\n", indent, r.Partition)
	}
	if r.Namespace != "" {
		fmt.Fprintf(b, "%sNamespace:    %s\n", indent, r.Namespace)
	}
	fmt.Fprintf(b, "%sDescription:  %s\n", indent, r.Description)
	if meta {
		fmt.Fprintf(b, "%sHash:         %x\n", indent, r.Hash)
		fmt.Fprintf(b, "%sCreate Index: %d\n", indent, r.CreateIndex)
		fmt.Fprintf(b, "%sModify Index: %d\n", indent, r.ModifyIndex)
	}
	aclLinkLines(b, indent, "Policies", r.Policies)
	aclIdentityLines(b, indent, r.ServiceIdentities, r.NodeIdentities, r.TemplatedPolicies)
}

// --- help ---

const aclRoleFamilyHelp = `Usage: consul acl role <subcommand> [options] [args]

  This command has subcommands for managing Consul's ACL roles.
  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a new ACL role:

      $ consul acl role create -name "new-role" \
                               -description "This is an example role" \
                               -policy-id 06acc965
  List all roles:

      $ consul acl role list

  Update a role:

      $ consul acl role update -name "other-role" -datacenter "dc1"

  Read a role:

    $ consul acl role read -id 0479e93e-091c-4475-9b06-79a004765c24

  Delete a role

    $ consul acl role delete -name "my-role"

  For more examples, ask for subcommand help or view the documentation.
`

const aclRoleCreateHelp = `Usage: consul acl role create -name NAME [options]

    Create a new role:

        $ consul acl role create -name "new-role" \
                                 -description "This is an example role" \
                                 -policy-id b52fc3de-5 \
                                 -policy-name "acl-replication" \
                                 -service-identity "web" \
                                 -service-identity "db:east,west" \
                                 -templated-policy "builtin/service" \
                                 -var "name:api"`

const aclRoleReadHelp = `Usage: consul acl role read [options] ROLE

    This command will retrieve and print out the details
    of a single role.

    Read:

        $ consul acl role read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba

    Read by name:

        $ consul acl role read -name my-policy`

const aclRoleUpdateHelp = `Usage: consul acl role update [options]

  Updates a role. By default it will merge the role information with its
  current state so that you do not have to provide all parameters. This
  behavior can be disabled by passing -no-merge.

  Rename the role:

          $ consul acl role update -id abcd -name "better-name"

  Update all editable fields of the role:

          $ consul acl role update -id abcd \
                                   -name "better-name" \
                                   -description "replication" \
                                   -policy-name "token-replication" \
                                   -service-identity "web" \
                                   -templated-policy "builtin/service" \
                                   -var "name:api"`

const aclRoleDeleteHelp = `Usage: consul acl role delete [options] -id ROLE

    Deletes an ACL role by providing the ID or a unique ID prefix.

    Delete by prefix:

        $ consul acl role delete -id b6b85

    Delete by full ID:

        $ consul acl role delete -id b6b856da-5193-4e78-845a-7d61ca8371ba`

const aclRoleListHelp = `Usage: consul acl role list [options]

    Lists all the ACL roles.

    Example:

        $ consul acl role list`
