// cli_acl_token.go: "acl token create|read|update|delete|list|clone", as
// Consul 1.22.7's, over /v1/acl/token… (the shared client, shapes and
// output are in cli_acl.go).
//
// Data flow: flags → ID prefixes resolved by listing /v1/acl/tokens,
// policy and role IDs by listing /v1/acl/policies and /v1/acl/roles
// (names are left to the agent) → the call → Consul's token text
// (aclTokenPretty) or its JSON. "update" reads the token and sends it
// back whole with the flags applied, in Consul's way: -policy-… and
// -role-… replace, their -append-… variants (and the deprecated -merge-…
// flags) add; identities given without -append-… replace the token's,
// so an update without any clears them, as Consul's command does.
// Deprecated flags (-id, -merge-…) work but stay out of the help, as
// Consul's. "read -expanded" reads /v1/acl/token/<id>?expanded and
// writes out what the token resolves to, each identity and templated
// policy with the synthetic policy it stands for (cli_acl.go's
// templates).
//
// Concurrency: none.
package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// aclTokenCommands are the token commands, for aclCommands.
func aclTokenCommands() []cliCommand {
	return []cliCommand{
		{name: "acl token", synopsis: "Manage Consul's ACL tokens", help: aclTokenFamilyHelp},
		{name: "acl token create", synopsis: "Create an ACL token",
			help: cliFlagsUsage(aclTokenCreateHelp, newACLTokenCreateFlags(&aclTokenValues{}).cliFlags), run: aclTokenCreateCommand},
		{name: "acl token read", synopsis: "Read an ACL token",
			help: cliFlagsUsage(aclTokenReadHelp, newACLTokenReadFlags(&aclTokenValues{}).cliFlags), run: aclTokenReadCommand},
		{name: "acl token update", synopsis: "Update an ACL token",
			help: cliFlagsUsage(aclTokenUpdateHelp, newACLTokenUpdateFlags(&aclTokenValues{}).cliFlags), run: aclTokenUpdateCommand},
		{name: "acl token delete", synopsis: "Delete an ACL token",
			help: cliFlagsUsage(aclTokenDeleteHelp, newACLTokenDeleteFlags(&aclTokenValues{}).cliFlags), run: aclTokenDeleteCommand},
		{name: "acl token list", synopsis: "List ACL tokens",
			help: cliFlagsUsage(aclTokenListHelp, newACLFlags(aclTokenMetaUsageRaft, true).cliFlags), run: aclTokenListCommand},
		{name: "acl token clone", synopsis: "Clone an ACL token",
			help: cliFlagsUsage(aclTokenCloneHelp, newACLTokenCloneFlags(&aclTokenValues{}).cliFlags), run: aclTokenCloneCommand},
	}
}

const (
	aclTokenMetaUsage     = "Indicates that token metadata such as the content hash and raft indices should be shown for each entry"
	aclTokenMetaUsageRaft = "Indicates that token metadata such as the content hash and Raft indices should be shown for each entry"
	aclAccessorIDUsage    = "It may be specified as a unique ID prefix but will error if the prefix matches multiple token Accessor IDs"
)

// aclTokenValues are the token commands' own flags.
type aclTokenValues struct {
	accessorID, id, name, accessor, secret, description string
	local, self, expanded                               bool
	expiresTTL                                          time.Duration
	policyIDs, policyNames, roleIDs, roleNames          cliListFlag
	serviceIdents, nodeIdents                           cliListFlag
	appendPolicyIDs, appendPolicyNames                  cliListFlag
	appendRoleIDs, appendRoleNames                      cliListFlag
	appendServiceIdents, appendNodeIdents               cliListFlag
	templatedPolicy, templatedPolicyFile                string
	appendTP, appendTPFile, replaceTP, replaceTPFile    string
	vars                                                cliListFlag
	mergePolicies, mergeRoles, mergeSvcs, mergeNodes    bool
}

// deprecatedID adds -id, which the commands take for -accessor-id but
// leave out of their help.
func (v *aclTokenValues) deprecatedID(f *aclFlags) {
	f.StringVar(&v.id, "id", "", "DEPRECATED. Use -accessor-id instead.")
}

// accessor is -accessor-id or else the deprecated -id, with Consul's
// warning for the latter; "" if neither is given.
func (v *aclTokenValues) accessorOrID(c *cliEnv, warning string) string {
	if v.accessorID != "" {
		return v.accessorID
	}
	if v.id != "" {
		c.errorf("%s", warning)
	}
	return v.id
}

func newACLTokenCreateFlags(v *aclTokenValues) *aclFlags {
	f := newACLFlags(aclTokenMetaUsage, true)
	f.StringVar(&v.name, "name", "", "Create the token with this name.If empty and an auth-method token name format is specified, the token name is automatically generated.")
	f.StringVar(&v.accessor, "accessor", "", "Create the token with this Accessor ID. It must be a UUID. If not specified one will be auto-generated")
	f.StringVar(&v.secret, "secret", "", "Create the token with this Secret ID. It must be a UUID. If not specified one will be auto-generated")
	f.BoolVar(&v.local, "local", false, "Create this as a datacenter local token")
	f.StringVar(&v.description, "description", "", "A description of the token")
	f.Var(&v.policyIDs, "policy-id", "ID of a policy to use for this token. May be specified multiple times")
	f.Var(&v.policyNames, "policy-name", "Name of a policy to use for this token. May be specified multiple times")
	f.Var(&v.roleIDs, "role-id", "ID of a role to use for this token. May be specified multiple times")
	f.Var(&v.roleNames, "role-name", "Name of a role to use for this token. May be specified multiple times")
	f.Var(&v.serviceIdents, "service-identity", "Name of a service identity to use for this token. May be specified multiple times. Format is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...")
	f.Var(&v.nodeIdents, "node-identity", "Name of a node identity to use for this token. May be specified multiple times. Format is NODENAME:DATACENTER")
	f.DurationVar(&v.expiresTTL, "expires-ttl", 0, "Duration of time this token should be valid for")
	f.Var(&v.vars, "var", "Templated policy variables. Must be used in combination with -templated-policy flag to specify required variables. May be specified multiple times with different variables. Format is VariableName:Value")
	f.StringVar(&v.templatedPolicy, "templated-policy", "", "The templated policy name.  Use -var flag to specify variables when required.")
	f.StringVar(&v.templatedPolicyFile, "templated-policy-file", "", "Path to a file containing templated policies and variables.")
	return f
}

func aclTokenCreateCommand(c *cliEnv, args []string) int {
	var v aclTokenValues
	f := newACLTokenCreateFlags(&v)
	if !f.parse(c, args) {
		return 1
	}
	if len(v.policyNames) == 0 && len(v.policyIDs) == 0 && len(v.roleNames) == 0 && len(v.roleIDs) == 0 &&
		len(v.serviceIdents) == 0 && len(v.nodeIdents) == 0 && v.templatedPolicy == "" && v.templatedPolicyFile == "" {
		c.errorf("Cannot create a token without specifying -policy-name, -policy-id, -role-name, -role-id, -service-identity, -node-identity, -templated-policy, or -templated-policy-file at least once")
		return 1
	}
	if v.templatedPolicy != "" && v.templatedPolicyFile != "" {
		c.errorf("Cannot combine the use of templated-policy flag with templated-policy-file. " +
			"To create a token with a single templated policy and simple use case, use -templated-policy. " +
			"For multiple templated policies and more complicated use cases, use -templated-policy-file")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	t := &cliACLToken{Name: v.name, Description: v.description, Local: v.local, AccessorID: v.accessor, SecretID: v.secret}
	if v.expiresTTL > 0 {
		t.ExpirationTTL = v.expiresTTL
	}
	var err error
	if t.ServiceIdentities, err = aclServiceIdentities(v.serviceIdents); err == nil {
		if t.NodeIdentities, err = aclNodeIdentities(v.nodeIdents); err == nil {
			t.TemplatedPolicies, err = aclTemplatedPolicies(v.templatedPolicy, v.templatedPolicyFile, v.vars)
		}
	}
	if err == nil {
		if t.Policies, err = a.policyLinks(v.policyNames, v.policyIDs); err == nil {
			t.Roles, err = a.roleLinks(v.roleNames, v.roleIDs)
		}
	}
	if err != nil {
		c.errorf("%v", err)
		return 1
	}
	var out cliACLToken
	if err := a.call(http.MethodPut, "/v1/acl/token", t, &out); err != nil {
		c.errorf("Failed to create new token: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclTokenPretty(&out, f.meta) }, &out)
}

func newACLTokenReadFlags(v *aclTokenValues) *aclFlags {
	f := newACLFlags(aclTokenMetaUsageRaft, true)
	f.BoolVar(&v.self, "self", false, "Indicates that the current HTTP token should be read by secret ID instead of expecting a -accessor-id option")
	f.BoolVar(&v.expanded, "expanded", false, "Indicates that the contents of the  policies and roles affecting the token should also be shown.")
	f.StringVar(&v.accessorID, "accessor-id", "", "The Accessor ID of the token to read. "+aclAccessorIDUsage)
	return f
}

func aclTokenReadCommand(c *cliEnv, args []string) int {
	var v aclTokenValues
	f := newACLTokenReadFlags(&v)
	v.deprecatedID(f)
	if !f.parse(c, args) {
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	var t cliACLTokenExpanded
	if v.self {
		// As Consul's: the expanded form is read by accessor ID only.
		if v.expanded {
			c.errorf("Cannot use both -expanded and -self. Instead, use -expanded and -accessor-id=<accessor id>.")
			return 1
		}
		if err := a.call(http.MethodGet, "/v1/acl/token/self", nil, &t.cliACLToken); err != nil {
			c.errorf("Error reading token: %v", err)
			return 1
		}
	} else {
		accessor := v.accessorOrID(c, "Use the -accessor-id parameter to specify token by Accessor ID")
		if accessor == "" {
			c.errorf("Must specify the -accessor-id parameter")
			return 1
		}
		id, err := a.tokenAccessorID(accessor)
		if err != nil {
			c.errorf("Error determining token ID: %v", err)
			return 1
		}
		path, out := "/v1/acl/token/"+id, any(&t.cliACLToken)
		if v.expanded {
			path, out = path+"?expanded=true", &t
		}
		if err := a.call(http.MethodGet, path, nil, out); err != nil {
			c.errorf("Error reading token %q: %v", id, err)
			return 1
		}
	}
	if v.expanded {
		return aclPrint(c, f.format, func() string { return aclTokenExpandedPretty(&t, f.meta) }, &t)
	}
	return aclPrint(c, f.format, func() string { return aclTokenPretty(&t.cliACLToken, f.meta) }, &t.cliACLToken)
}

func newACLTokenUpdateFlags(v *aclTokenValues) *aclFlags {
	f := newACLFlags(aclTokenMetaUsage, true)
	f.StringVar(&v.name, "name", "", "Update the token name with this value.")
	f.StringVar(&v.accessorID, "accessor-id", "", "The Accessor ID of the token to update. "+aclAccessorIDUsage)
	f.StringVar(&v.description, "description", "", "A description of the token")
	f.Var(&v.policyIDs, "policy-id", "ID of a policy to use for this token. Overwrites existing policies. May be specified multiple times")
	f.Var(&v.appendPolicyIDs, "append-policy-id", "ID of a policy to use for this token. The token retains existing policies. May be specified multiple times")
	f.Var(&v.policyNames, "policy-name", "Name of a policy to use for this token. Overwrites existing policies. May be specified multiple times")
	f.Var(&v.appendPolicyNames, "append-policy-name", "Name of a policy to add to this token. The token retains existing policies. May be specified multiple times")
	f.Var(&v.roleIDs, "role-id", "ID of a role to use for this token. Overwrites existing roles. May be specified multiple times")
	f.Var(&v.roleNames, "role-name", "Name of a role to use for this token. Overwrites existing roles. May be specified multiple times")
	f.Var(&v.appendRoleIDs, "append-role-id", "ID of a role to add to this token. The token retains existing roles. May be specified multiple times")
	f.Var(&v.appendRoleNames, "append-role-name", "Name of a role to add to this token. The token retains existing roles. May be specified multiple times")
	f.Var(&v.serviceIdents, "service-identity", "Name of a service identity to use for this token. May be specified multiple times. Format is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...")
	f.Var(&v.appendServiceIdents, "append-service-identity", "Name of a service identity to use for this token. This token retains existing service identities. May be specifiedmultiple times. Format is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...")
	f.Var(&v.nodeIdents, "node-identity", "Name of a node identity to use for this token. May be specified multiple times. Format is NODENAME:DATACENTER")
	f.Var(&v.appendNodeIdents, "append-node-identity", "Name of a node identity to use for this token. This token retains existing node identities. May be specified multiple times. Format is NODENAME:DATACENTER")
	f.Var(&v.vars, "var", "Templated policy variables. Must be used in combination with -replace-templated-policy or -append-templated-policy flags to specify required variables. May be specified multiple times with different variables. Format is VariableName:Value")
	f.StringVar(&v.appendTP, "append-templated-policy", "", "The templated policy name to attach to the token's existing templated policies.Use -var flag to specify variables when required. Token retains existing templated policies.")
	f.StringVar(&v.replaceTP, "replace-templated-policy", "", "The templated policy name to use replace token's existing templated policies. Use -var flag to specify variables when required. Overwrites token's existing templated policies.")
	f.StringVar(&v.appendTPFile, "append-templated-policy-file", "", "Path to a file containing templated policy names and variables. Works similarly to `-append-templated-policy`. The token retains existing templated policies.")
	f.StringVar(&v.replaceTPFile, "replace-templated-policy-file", "", "Path to a file containing templated policy names and variables. Works similarly to `-replace-templated-policy`. Overwrites the token's existing templated policies.")
	return f
}

func aclTokenUpdateCommand(c *cliEnv, args []string) int {
	var v aclTokenValues
	f := newACLTokenUpdateFlags(&v)
	v.deprecatedID(f)
	f.BoolVar(&v.mergePolicies, "merge-policies", false, "DEPRECATED. Use -append-policy-id or -append-policy-name instead.")
	f.BoolVar(&v.mergeRoles, "merge-roles", false, "DEPRECATED. Use -append-role-id or -append-role-name instead.")
	f.BoolVar(&v.mergeSvcs, "merge-service-identities", false, "DEPRECATED. Use -append-service-identity instead.")
	f.BoolVar(&v.mergeNodes, "merge-node-identities", false, "DEPRECATED. Use -append-node-identity instead.")
	if !f.parse(c, args) {
		return 1
	}
	if v.accessorID == "" && v.id == "" {
		c.errorf("Cannot update a token without specifying the -accessor-id parameter")
		return 1
	}
	accessor := v.accessorOrID(c, "Use the -accessor-id parameter to specify token by Accessor ID")
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := a.tokenAccessorID(accessor)
	if err != nil {
		c.errorf("Error determining token ID: %v", err)
		return 1
	}
	var t cliACLToken
	if err := a.call(http.MethodGet, "/v1/acl/token/"+id, nil, &t); err != nil {
		c.errorf("Error when retrieving current token: %v", err)
		return 1
	}
	if err := aclTokenApply(c, a, &v, &t); err != nil {
		c.errorf("%v", err)
		return 1
	}
	var out cliACLToken
	if err := a.call(http.MethodPut, "/v1/acl/token/"+t.AccessorID, &t, &out); err != nil {
		c.errorf("Failed to update token %s: %v", id, err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclTokenPretty(&out, f.meta) }, &out)
}

// aclTokenApply applies update's flags to the token read, in Consul's
// order and with its messages; warnings go to stderr as they come.
func aclTokenApply(c *cliEnv, a *aclClient, v *aclTokenValues, t *cliACLToken) error {
	if v.description != "" {
		t.Description = v.description // an empty one keeps the old, as Consul's
	}
	if v.name != "" {
		t.Name = v.name
	}
	appendSvcs := len(v.appendServiceIdents) > 0
	if appendSvcs && len(v.serviceIdents) > 0 {
		return fmt.Errorf("Cannot combine the use of service-identity flag with append-service-identity. " +
			"To set or overwrite existing service identities, use -service-identity. " +
			"To append to existing service identities, use -append-service-identity.")
	}
	svcArgs := v.serviceIdents
	if appendSvcs {
		svcArgs = v.appendServiceIdents
	}
	svcs, err := aclServiceIdentities(svcArgs)
	if err != nil {
		return err
	}
	appendNodes := len(v.appendNodeIdents) > 0
	if appendNodes && len(v.nodeIdents) > 0 {
		return fmt.Errorf("Cannot combine the use of node-identity flag with append-node-identity. " +
			"To set or overwrite existing node identities, use -node-identity. " +
			"To append to existing node identities, use -append-node-identity.")
	}
	nodeArgs := v.nodeIdents
	if appendNodes {
		nodeArgs = v.appendNodeIdents
	}
	nodes, err := aclNodeIdentities(nodeArgs)
	if err != nil {
		return err
	}
	appendTPs := v.appendTP != "" || v.appendTPFile != ""
	replaceTPs := v.replaceTP != "" || v.replaceTPFile != ""
	if appendTPs && replaceTPs {
		return fmt.Errorf("Cannot combine the use of -append-templated-policy flags with replace-templated-policy. " +
			"To set or overwrite existing templated policies, use -replace-templated-policy or -replace-templated-policy-file. " +
			"To append to existing templated policies, use -append-templated-policy or -append-templated-policy-file.")
	}
	tpName, tpFile := v.replaceTP, v.replaceTPFile
	if appendTPs {
		tpName, tpFile = v.appendTP, v.appendTPFile
	}
	tps, err := aclTemplatedPolicies(tpName, tpFile, v.vars)
	if err != nil {
		return err
	}

	if v.mergePolicies {
		c.errorf("merge-policies is deprecated and will be removed in a future Consul version. Use `append-policy-name` or `append-policy-id` instead.")
		if t.Policies, err = aclMergeLinks(t.Policies, v.policyNames, v.policyIDs, a.policyID, "policy", false); err != nil {
			return err
		}
	} else {
		if (len(v.policyIDs) > 0 || len(v.policyNames) > 0) && (len(v.appendPolicyIDs) > 0 || len(v.appendPolicyNames) > 0) {
			return fmt.Errorf("Cannot combine the use of policy-id/policy-name flags with append- variants. " +
				"To set or overwrite existing policies, use -policy-id or -policy-name. " +
				"To append to existing policies, use -append-policy-id or -append-policy-name.")
		}
		names, ids := v.appendPolicyNames, v.appendPolicyIDs
		if len(v.policyIDs) > 0 || len(v.policyNames) > 0 {
			names, ids, t.Policies = v.policyNames, v.policyIDs, nil
		}
		links, err := a.policyLinks(names, ids)
		if err != nil {
			return err
		}
		t.Policies = append(t.Policies, links...)
	}

	if v.mergeRoles {
		c.errorf("merge-roles is deprecated and will be removed in a future Consul version. Use `append-role-name` or `append-role-id` instead.")
		// Consul's command adds a role given by ID under Name: kept, as
		// its behaviour.
		if t.Roles, err = aclMergeLinks(t.Roles, v.roleNames, v.roleIDs, a.roleID, "role", true); err != nil {
			return err
		}
	} else {
		if (len(v.roleIDs) > 0 || len(v.roleNames) > 0) && (len(v.appendRoleIDs) > 0 || len(v.appendRoleNames) > 0) {
			return fmt.Errorf("Cannot combine the use of role-id/role-name flags with append- variants. " +
				"To set or overwrite existing roles, use -role-id or -role-name. " +
				"To append to existing roles, use -append-role-id or -append-role-name.")
		}
		names, ids := v.appendRoleNames, v.appendRoleIDs
		if len(v.roleIDs) > 0 || len(v.roleNames) > 0 {
			names, ids, t.Roles = v.roleNames, v.roleIDs, nil
		}
		links, err := a.roleLinks(names, ids)
		if err != nil {
			return err
		}
		t.Roles = append(t.Roles, links...)
	}

	if v.mergeSvcs || appendSvcs {
		t.ServiceIdentities = aclMergeServiceIdentities(t.ServiceIdentities, svcs)
	} else {
		t.ServiceIdentities = svcs
	}
	if v.mergeNodes || appendNodes {
		for _, n := range nodes {
			if !aclHasNodeIdentity(t.NodeIdentities, n, true) {
				t.NodeIdentities = append(t.NodeIdentities, n)
			}
		}
	} else {
		t.NodeIdentities = nodes
	}
	if replaceTPs {
		t.TemplatedPolicies = tps
	} else {
		t.TemplatedPolicies = append(t.TemplatedPolicies, tps...)
	}
	return nil
}

// aclMergeLinks adds the links by name, then by ID (resolved), that the
// list does not have yet. idAsName puts a resolved ID in the link's Name,
// as Consul's -merge-roles does.
func aclMergeLinks(links []*cliACLLink, names, ids []string, resolve func(string) (string, error), what string, idAsName bool) ([]*cliACLLink, error) {
	has := func(match func(*cliACLLink) bool) bool {
		for _, l := range links {
			if match(l) {
				return true
			}
		}
		return false
	}
	for _, n := range names {
		if !has(func(l *cliACLLink) bool { return l.Name == n }) {
			links = append(links, &cliACLLink{Name: n})
		}
	}
	for _, partial := range ids {
		id, err := resolve(partial)
		if err != nil {
			return nil, fmt.Errorf("Error resolving %s ID : %v", what, err)
		}
		if !has(func(l *cliACLLink) bool { return l.ID == id }) {
			if idAsName {
				links = append(links, &cliACLLink{Name: id})
			} else {
				links = append(links, &cliACLLink{ID: id})
			}
		}
	}
	return links, nil
}

// aclMergeServiceIdentities replaces the identities of the same service
// and appends the others.
func aclMergeServiceIdentities(have, add []*cliACLServiceIdentity) []*cliACLServiceIdentity {
	for _, s := range add {
		found := false
		for i, h := range have {
			if h.ServiceName == s.ServiceName {
				have[i], found = s, true
				break
			}
		}
		if !found {
			have = append(have, s)
		}
	}
	return have
}

// aclHasNodeIdentity says whether the list has an identity of n's node
// with n's datacenter (sameDC) or, as Consul's role update compares,
// with another datacenter (!sameDC).
func aclHasNodeIdentity(have []*cliACLNodeIdentity, n *cliACLNodeIdentity, sameDC bool) bool {
	for _, h := range have {
		if h.NodeName == n.NodeName && (h.Datacenter == n.Datacenter) == sameDC {
			return true
		}
	}
	return false
}

func newACLTokenDeleteFlags(v *aclTokenValues) *aclFlags {
	f := newACLFlags("", false)
	f.StringVar(&v.accessorID, "accessor-id", "", "The Accessor ID of the token to delete. "+aclAccessorIDUsage)
	return f
}

func aclTokenDeleteCommand(c *cliEnv, args []string) int {
	var v aclTokenValues
	f := newACLTokenDeleteFlags(&v)
	v.deprecatedID(f)
	if !f.parse(c, args) {
		return 1
	}
	accessor := v.accessorOrID(c, "Use the -accessor-id parameter to specify token by Accessor ID.")
	if accessor == "" {
		c.errorf("Must specify the -accessor-id parameter")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := a.tokenAccessorID(accessor)
	if err != nil {
		c.errorf("Error determining token ID: %v", err)
		return 1
	}
	if err := a.call(http.MethodDelete, "/v1/acl/token/"+id, nil, nil); err != nil {
		c.errorf("Error deleting token %q: %v", id, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Token %q deleted successfully\n", id)
	return 0
}

func aclTokenListCommand(c *cliEnv, args []string) int {
	f := newACLFlags(aclTokenMetaUsageRaft, true)
	if !f.parse(c, args) {
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	var list []*cliACLTokenListEntry
	if err := a.call(http.MethodGet, "/v1/acl/tokens", nil, &list); err != nil {
		c.errorf("Failed to retrieve the token list: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string {
		entries := make([]string, len(list))
		for i, e := range list {
			entries[i] = aclTokenPretty(&cliACLToken{
				Name: e.Name, AccessorID: e.AccessorID, SecretID: e.SecretID, Description: e.Description,
				Policies: e.Policies, Roles: e.Roles, ServiceIdentities: e.ServiceIdentities,
				NodeIdentities: e.NodeIdentities, TemplatedPolicies: e.TemplatedPolicies, Local: e.Local,
				AuthMethod: e.AuthMethod, ExpirationTime: e.ExpirationTime, CreateTime: e.CreateTime, Hash: e.Hash,
				CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex, Namespace: e.Namespace, Partition: e.Partition,
				AuthMethodNamespace: e.AuthMethodNamespace,
			}, f.meta)
		}
		return strings.Join(entries, "\n")
	}, list)
}

func newACLTokenCloneFlags(v *aclTokenValues) *aclFlags {
	f := newACLFlags("", true)
	f.StringVar(&v.accessorID, "accessor-id", "", "The Accessor ID of the token to clone. "+aclAccessorIDUsage+
		". The special value of 'anonymous' may be provided instead of the anonymous tokens accessor ID")
	f.StringVar(&v.description, "description", "", "A description of the new cloned token")
	return f
}

func aclTokenCloneCommand(c *cliEnv, args []string) int {
	var v aclTokenValues
	f := newACLTokenCloneFlags(&v)
	v.deprecatedID(f)
	if !f.parse(c, args) {
		return 1
	}
	accessor := v.accessorOrID(c, "The -id parameter is deprecated. Use the -accessor-id parameter instead.")
	if accessor == "" {
		c.errorf("Cannot update a token without specifying the -accessor-id parameter")
		return 1
	}
	a := f.client(c)
	if a == nil {
		return 1
	}
	id, err := a.tokenAccessorID(accessor)
	if err != nil {
		c.errorf("Error determining token Accessor ID: %v", err)
		return 1
	}
	var out cliACLToken
	if err := a.call(http.MethodPut, "/v1/acl/token/"+id+"/clone", struct{ Description string }{v.description}, &out); err != nil {
		c.errorf("Error cloning token: %v", err)
		return 1
	}
	return aclPrint(c, f.format, func() string { return aclTokenPretty(&out, false) }, &out)
}

// aclTokenPretty is Consul's text of a token (and of each entry of a
// list): the fields in its order, times in Go's default layout, the hash
// in hex with -meta.
func aclTokenPretty(t *cliACLToken, meta bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name:             %s\n", t.Name)
	fmt.Fprintf(&b, "AccessorID:       %s\n", t.AccessorID)
	fmt.Fprintf(&b, "SecretID:         %s\n", t.SecretID)
	if t.Partition != "" {
		fmt.Fprintf(&b, "Partition:        %s\n", t.Partition)
	}
	if t.Namespace != "" {
		fmt.Fprintf(&b, "Namespace:        %s\n", t.Namespace)
	}
	fmt.Fprintf(&b, "Description:      %s\n", t.Description)
	fmt.Fprintf(&b, "Local:            %t\n", t.Local)
	if t.AuthMethod != "" {
		fmt.Fprintf(&b, "Auth Method:      %s (Namespace: %s)\n", t.AuthMethod, t.AuthMethodNamespace)
	}
	fmt.Fprintf(&b, "Create Time:      %v\n", t.CreateTime)
	if t.ExpirationTime != nil && !t.ExpirationTime.IsZero() {
		fmt.Fprintf(&b, "Expiration Time:  %v\n", *t.ExpirationTime)
	}
	if meta {
		fmt.Fprintf(&b, "Hash:             %x\n", t.Hash)
		fmt.Fprintf(&b, "Create Index:     %d\n", t.CreateIndex)
		fmt.Fprintf(&b, "Modify Index:     %d\n", t.ModifyIndex)
	}
	aclLinkLines(&b, "", "Policies", t.Policies)
	aclLinkLines(&b, "", "Roles", t.Roles)
	aclIdentityLines(&b, "", t.ServiceIdentities, t.NodeIdentities, t.TemplatedPolicies)
	return b.String()
}

// aclTokenExpandedPretty is Consul's text of a token read with
// -expanded: the token, then each of its policies, identities (with the
// synthetic policy each stands for), templated policies and roles
// written out, then the agent's defaults, as the layers of the
// authorizer that resolves it.
func aclTokenExpandedPretty(t *cliACLTokenExpanded, meta bool) string {
	var b strings.Builder
	full := aclTokenPretty(&t.cliACLToken, meta)
	// The token's own lines, up to its links (written out below instead).
	for _, line := range strings.SplitAfter(full, "\n") {
		if line == "Policies:\n" || line == "Roles:\n" || line == "Service Identities:\n" ||
			line == "Node Identities:\n" || line == "Templated Policies:\n" {
			break
		}
		b.WriteString(line)
	}
	policies := map[string]cliACLPolicy{}
	for _, p := range t.ExpandedPolicies {
		policies[p.ID] = p
	}
	roles := map[string]cliACLRole{}
	for _, r := range t.ExpandedRoles {
		roles[r.ID] = r
	}
	policy := func(p cliACLPolicy, indent string) {
		fmt.Fprintf(&b, "%sPolicy Name: %s\n", indent, p.Name)
		fmt.Fprintf(&b, "%s\tID: %s\n", indent, p.ID)
		fmt.Fprintf(&b, "%s\tDescription: %s\n", indent, p.Description)
		fmt.Fprintf(&b, "%s\tRules:\n%s\t\t%s\n\n", indent, indent, strings.ReplaceAll(p.Rules, "\n", "\n"+indent+"\t\t"))
	}
	synthetic := func(template, name, indent string) {
		desc, rules := aclSyntheticPolicy(template, name)
		fmt.Fprintf(&b, "%s\tDescription: %s\n", indent, desc)
		fmt.Fprintf(&b, "%s\tRules:%s\n\n", indent, strings.ReplaceAll(rules, "\n", "\n"+indent+"\t\t"))
	}
	service := func(s *cliACLServiceIdentity, indent string) {
		dcs := "all"
		if len(s.Datacenters) > 0 {
			dcs = strings.Join(s.Datacenters, ", ")
		}
		fmt.Fprintf(&b, "%sName: %s (Datacenters: %s)\n", indent, s.ServiceName, dcs)
		synthetic("builtin/service", s.ServiceName, indent)
	}
	node := func(n *cliACLNodeIdentity, indent string) {
		fmt.Fprintf(&b, "%sName: %s (Datacenter: %s)\n", indent, n.NodeName, n.Datacenter)
		synthetic("builtin/node", n.NodeName, indent)
	}
	for _, l := range t.Policies {
		if l == t.Policies[0] {
			b.WriteString("Policies:\n")
		}
		policy(policies[l.ID], "\t")
	}
	for i, s := range t.ServiceIdentities {
		if i == 0 {
			b.WriteString("Service Identities:\n")
		}
		service(s, "\t")
	}
	for i, n := range t.NodeIdentities {
		if i == 0 {
			b.WriteString("Node Identities:\n")
		}
		node(n, "\t")
	}
	for i, tp := range t.TemplatedPolicies {
		if i == 0 {
			b.WriteString("Templated Policies:\n")
		}
		fmt.Fprintf(&b, "\t%s\n", tp.TemplateName)
		name := ""
		if tp.TemplateVariables != nil && tp.TemplateVariables.Name != "" {
			name = tp.TemplateVariables.Name
			fmt.Fprintf(&b, "\t\tName: %s\n", name)
		}
		dcs := "all"
		if len(tp.Datacenters) > 0 {
			dcs = strings.Join(tp.Datacenters, ", ")
		}
		fmt.Fprintf(&b, "\t\tDatacenters: %s\n", dcs)
		synthetic(tp.TemplateName, name, "\t")
	}
	role := func(r cliACLRole, indent string) {
		fmt.Fprintf(&b, "%sRole Name: %s\n", indent, r.Name)
		fmt.Fprintf(&b, "%s\tID: %s\n", indent, r.ID)
		fmt.Fprintf(&b, "%s\tDescription: %s\n", indent, r.Description)
		for i, l := range r.Policies {
			if i == 0 {
				fmt.Fprintf(&b, "%s\tPolicies:\n", indent)
			}
			policy(policies[l.ID], indent+"\t\t")
		}
		for i, s := range r.ServiceIdentities {
			if i == 0 {
				fmt.Fprintf(&b, "%s\tService Identities:\n", indent)
			}
			service(s, indent+"\t\t")
		}
		for i, n := range r.NodeIdentities {
			if i == 0 {
				fmt.Fprintf(&b, "%s\tNode Identities:\n", indent)
			}
			node(n, indent+"\t\t")
		}
	}
	for i, l := range t.Roles {
		if i == 0 {
			b.WriteString("Roles:\n")
		}
		role(roles[l.ID], "\t")
	}
	b.WriteString("=== End of Authorizer Layer 0: Token ===\n")
	if len(t.NamespaceDefaultPolicyIDs) > 0 || len(t.NamespaceDefaultRoleIDs) > 0 {
		b.WriteString("=== Start of Authorizer Layer 1: Token Namespace’s Defaults (Inherited) ===\n")
		fmt.Fprintf(&b, "Description: ACL Roles inherited by all Tokens in Namespace %q\n\n", t.Namespace)
		b.WriteString("Namespace Policy Defaults:\n")
		for _, id := range t.NamespaceDefaultPolicyIDs {
			policy(policies[id], "\t")
		}
		b.WriteString("Namespace Role Defaults:\n")
		for _, id := range t.NamespaceDefaultRoleIDs {
			role(roles[id], "\t")
		}
		b.WriteString("=== End of Authorizer Layer 1: Token Namespace’s Defaults (Inherited) ===\n")
	}
	b.WriteString("=== Start of Authorizer Layer 2: Agent Configuration Defaults (Inherited) ===\n")
	b.WriteString("Description: Defined at request-time by the agent that resolves the ACL token; other agents may have different configuration defaults\n")
	fmt.Fprintf(&b, "Resolved By Agent: %q\n\n", t.ResolvedByAgent)
	fmt.Fprintf(&b, "Default Policy: %s\n", t.AgentACLDefaultPolicy)
	b.WriteString("\tDescription: Backstop rule used if no preceding layer has a matching rule (refer to default_policy option in agent configuration)\n\n")
	fmt.Fprintf(&b, "Down Policy: %s\n", t.AgentACLDownPolicy)
	b.WriteString("\tDescription: Defines what to do if this Token's information cannot be read from the primary_datacenter (refer to down_policy option in agent configuration)\n\n")
	return b.String()
}

// --- help ---

const aclTokenFamilyHelp = `Usage: consul acl token <subcommand> [options] [args]

  This command has subcommands for managing Consul ACL tokens.
  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a new ACL token:

      $ consul acl token create \
                                 -description "This is an example token" \
                                 -policy-id 06acc965
  List all tokens:

      $ consul acl token list

  Update a token:

      $ consul acl token update -accessor-id 986193 -description "WonderToken"

  Read a token with an accessor ID:

    $ consul acl token read -accessor-id 986193

  Delete a token

    $ consul acl token delete -accessor-id 986193

  For more examples, ask for subcommand help or view the documentation.
`

const aclTokenCreateHelp = `Usage: consul acl token create [options]

  When creating a new token policies may be linked using either the -policy-id
  or the -policy-name options. When specifying policies by IDs you may use a
  unique prefix of the UUID as a shortcut for specifying the entire UUID.

  Create a new token:

          $ consul acl token create -description "Replication token" \
                                    -policy-id b52fc3de-5 \
                                    -policy-name "acl-replication" \
                                    -role-id c630d4ef-6 \
                                    -role-name "db-updater" \
                                    -service-identity "web" \
                                    -service-identity "db:east,west" \
                                    -templated-policy "builtin/service" \
                                    -var "name:web"`

const aclTokenReadHelp = `Usage: consul acl token read [options] -accessor-id TOKENID

  This command will retrieve and print out the details of
  a single token.

  Using a partial ID:

          $ consul acl token read -accessor-id 4be56c77-82

  Using the full ID:

          $ consul acl token read -accessor-id 4be56c77-8244-4c7d-b08c-667b8c71baed`

const aclTokenUpdateHelp = `Usage: consul acl token update [options]

    This command will update a token. Some parts such as marking the token local
    cannot be changed.

    Update a token description and take the policies from the existing token:

        $ consul acl token update -accessor-id abcd -description "replication" -merge-policies

    Update all editable fields of the token:

        $ consul acl token update -accessor-id abcd \
                                  -description "replication" \
                                  -policy-name "token-replication" \
                                  -role-name "db-updater" \
                                  -templated-policy "builtin/service" \
                                  -var "name:web"`

const aclTokenDeleteHelp = `Usage: consul acl token delete [options] -accessor-id TOKEN

  Deletes an ACL token by providing either the ID or a unique ID prefix.

      Delete by prefix:

          $ consul acl token delete -accessor-id b6b85

      Delete by full ID:

          $ consul acl token delete -accessor-id b6b856da-5193-4e78-845a-7d61ca8371ba`

const aclTokenListHelp = `Usage: consul acl token list [options]

  List all the ACL tokens

          $ consul acl token list`

const aclTokenCloneHelp = `Usage: consul acl token clone [options]

    This command will clone a token. When cloning an alternate description may be given
    for use with the new token.

    Example:

        $ consul acl token clone -accessor-id abcd -description "replication"`
