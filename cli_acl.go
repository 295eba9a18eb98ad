// cli_acl.go: the acl command family of the command-line client, as
// Consul 1.22.7's: "acl bootstrap", "acl set-agent-token", and what the
// token, policy and role commands (cli_acl_token.go, cli_acl_policy.go,
// cli_acl_role.go) share: the ACL API's JSON shapes as Consul's Go client
// (its api package) has them, the client of /v1/acl/… with Consul's
// -namespace/-partition, the resolution of partial IDs and names to IDs,
// the parsing of -service-identity, -node-identity and templated policy
// flags, and output (pretty or -format=json, then one newline, as
// Consul's UI.Info). Every message, output and exit code was checked
// against the real binary (testdata/cli/acl/*.json are its recordings).
//
// Data flow: flags → calls to the agent's /v1/acl/… and
// /v1/agent/token/<kind> through cliClient → Consul's text on stdout, or
// its error line on stderr (warnings too), exit 0 or 1. The commands are
// thin clients: the agent resolves policy and role names, checks rules
// and permissions; a command resolves only ID prefixes (by listing) and,
// for update, reads the object first and sends it back whole, as
// Consul's commands do (a token update replaces the whole token).
//
// Concurrency: none.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// aclCommands is the acl family, for cliFamilies.
func aclCommands() []cliCommand {
	cmds := []cliCommand{
		{name: "acl", synopsis: "Interact with Consul's ACLs", help: aclFamilyHelp},
		{name: "acl bootstrap", synopsis: "Bootstrap Consul's ACL system",
			help: cliFlagsUsage(aclBootstrapHelp, newACLBootstrapFlags(new(string))), run: aclBootstrapCommand},
		{name: "acl set-agent-token", synopsis: "Assign tokens for the Consul Agent's usage",
			help: cliFlagsUsage(aclSetAgentTokenHelp, newCLIFlags(true, true)), run: aclSetAgentTokenCommand},
	}
	cmds = append(cmds, aclTokenCommands()...)
	cmds = append(cmds, aclPolicyCommands()...)
	return append(cmds, aclRoleCommands()...)
}

// --- the API's shapes (Consul's api package, field for field: -format=json
// prints them as Consul's CLI does, and requests carry the same JSON) ---

// cliACLLink names a policy or a role by ID or name.
type cliACLLink struct {
	ID   string
	Name string
}

type cliACLServiceIdentity struct {
	ServiceName string
	Datacenters []string `json:",omitempty"`
}

type cliACLNodeIdentity struct {
	NodeName   string
	Datacenter string
}

type cliACLTemplatedPolicyVariables struct {
	Name string
}

type cliACLTemplatedPolicy struct {
	TemplateName      string
	TemplateVariables *cliACLTemplatedPolicyVariables `json:",omitempty"`
	Datacenters       []string                        `json:",omitempty"`
}

// cliACLToken is a token as /v1/acl/token/… reads and writes it.
type cliACLToken struct {
	CreateIndex         uint64
	ModifyIndex         uint64
	Name                string `json:",omitempty"`
	AccessorID          string
	SecretID            string
	Description         string
	Policies            []*cliACLLink            `json:",omitempty"`
	Roles               []*cliACLLink            `json:",omitempty"`
	ServiceIdentities   []*cliACLServiceIdentity `json:",omitempty"`
	NodeIdentities      []*cliACLNodeIdentity    `json:",omitempty"`
	TemplatedPolicies   []*cliACLTemplatedPolicy `json:",omitempty"`
	Local               bool
	AuthMethod          string        `json:",omitempty"`
	ExpirationTTL       time.Duration `json:",omitempty"`
	ExpirationTime      *time.Time    `json:",omitempty"`
	CreateTime          time.Time     `json:",omitempty"`
	Hash                []byte        `json:",omitempty"`
	Namespace           string        `json:",omitempty"`
	Partition           string        `json:",omitempty"`
	AuthMethodNamespace string        `json:",omitempty"`
}

// cliACLTokenExpanded is a token read with ?expanded: the token and what
// it resolves to.
type cliACLTokenExpanded struct {
	ExpandedPolicies          []cliACLPolicy
	ExpandedRoles             []cliACLRole
	NamespaceDefaultPolicyIDs []string
	NamespaceDefaultRoleIDs   []string
	AgentACLDefaultPolicy     string
	AgentACLDownPolicy        string
	ResolvedByAgent           string
	cliACLToken
}

// cliACLTokenListEntry is a token of /v1/acl/tokens.
type cliACLTokenListEntry struct {
	Name                string `json:",omitempty"`
	CreateIndex         uint64
	ModifyIndex         uint64
	AccessorID          string
	SecretID            string
	Description         string
	Policies            []*cliACLLink            `json:",omitempty"`
	Roles               []*cliACLLink            `json:",omitempty"`
	ServiceIdentities   []*cliACLServiceIdentity `json:",omitempty"`
	NodeIdentities      []*cliACLNodeIdentity    `json:",omitempty"`
	TemplatedPolicies   []*cliACLTemplatedPolicy `json:",omitempty"`
	Local               bool
	AuthMethod          string     `json:",omitempty"`
	ExpirationTime      *time.Time `json:",omitempty"`
	CreateTime          time.Time
	Hash                []byte
	Namespace           string `json:",omitempty"`
	Partition           string `json:",omitempty"`
	AuthMethodNamespace string `json:",omitempty"`
}

// cliACLPolicy is a policy as /v1/acl/policy/… reads and writes it.
type cliACLPolicy struct {
	ID          string
	Name        string
	Description string
	Rules       string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
	Namespace   string `json:",omitempty"`
	Partition   string `json:",omitempty"`
}

// cliACLPolicyListEntry is a policy of /v1/acl/policies (no rules).
type cliACLPolicyListEntry struct {
	ID          string
	Name        string
	Description string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
	Namespace   string `json:",omitempty"`
	Partition   string `json:",omitempty"`
}

// cliACLRole is a role as /v1/acl/role/… and /v1/acl/roles have it.
type cliACLRole struct {
	ID                string
	Name              string
	Description       string
	Policies          []*cliACLLink            `json:",omitempty"`
	ServiceIdentities []*cliACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*cliACLNodeIdentity    `json:",omitempty"`
	TemplatedPolicies []*cliACLTemplatedPolicy `json:",omitempty"`
	Hash              []byte
	CreateIndex       uint64
	ModifyIndex       uint64
	Namespace         string `json:",omitempty"`
	Partition         string `json:",omitempty"`
}

// The built-in policies, which the commands take by name where an ID is
// asked for (Consul's structs.ACLBuiltinPolicies).
var cliACLBuiltinPolicies = map[string]string{
	"global-management":        "00000000-0000-0000-0000-000000000001",
	"builtin/global-read-only": "00000000-0000-0000-0000-000000000002",
}

// cliACLTemplatedPolicies are the rules of Consul's templated policies
// (Consul's agent/structs/acltemplatedpolicy/policies/ce/*.hcl, byte for
// byte: the expanded token shows them so), {{.Name}} standing for the
// template's Name variable. A service identity is builtin/service of
// the service, a node identity builtin/node of the node.
var cliACLTemplatedPolicies = map[string]string{
	"builtin/service":      "\nservice \"{{.Name}}\" {\n\tpolicy = \"write\"\n}\nservice \"{{.Name}}-sidecar-proxy\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}\nnode_prefix \"\" {\n\tpolicy = \"read\"\n}",
	"builtin/node":         "\nnode \"{{.Name}}\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}",
	"builtin/dns":          "\nnode_prefix \"\" {\n\tpolicy = \"read\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}\nquery_prefix \"\" {\n\tpolicy = \"read\"\n}",
	"builtin/nomad-server": "\nacl = \"write\"\nagent_prefix \"\" {\n  policy = \"read\"\n}\nnode_prefix \"\" {\n  policy = \"read\"\n}\nservice_prefix \"\" {\n  policy = \"write\"\n}",
	"builtin/api-gateway":  "mesh = \"read\"\nnode_prefix \"\" {\n\tpolicy = \"read\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}\nservice \"{{.Name}}\" {\n\tpolicy = \"write\"\n}",
	"builtin/nomad-client": "agent_prefix \"\" {\n  policy = \"read\"\n}\nnode_prefix \"\" {\n  policy = \"read\"\n}\nservice_prefix \"\" {\n  policy = \"write\"\n}\nkey_prefix \"\" {\n  policy = \"read\"\n}",
}

// aclSyntheticPolicy is the description and rules of the policy a
// templated policy stands for with the name; none for a template not
// known here.
func aclSyntheticPolicy(template, name string) (description, rules string) {
	tmpl, ok := cliACLTemplatedPolicies[template]
	if !ok {
		return "", ""
	}
	return "synthetic policy generated from templated policy: " + template, strings.ReplaceAll(tmpl, "{{.Name}}", name)
}

// --- the client ---

// aclFlags is the flag set of a token, policy or role command: the HTTP
// client's and server's flags, Consul's -namespace and -partition, and
// -format (and -meta where the command shows metadata).
type aclFlags struct {
	*cliFlags
	tenancy *kvTenancy
	format  string
	meta    bool
}

// newACLFlags makes the flag set; metaUsage is -meta's usage ("" for a
// command without it); withFormat adds -format.
func newACLFlags(metaUsage string, withFormat bool) *aclFlags {
	f, t := newKVFlags()
	a := &aclFlags{cliFlags: f, tenancy: t}
	if metaUsage != "" {
		a.BoolVar(&a.meta, "meta", false, metaUsage)
	}
	if withFormat {
		a.StringVar(&a.format, "format", "pretty", "Output format {pretty|json}")
	}
	return a
}

// aclClient is the HTTP client with the command's tenancy on every request.
type aclClient struct {
	cl    *cliClient
	query url.Values
}

// client makes the command's client, or prints Consul's message.
func (f *aclFlags) client(c *cliEnv) *aclClient {
	cl := f.connect(c)
	if cl == nil {
		return nil
	}
	return &aclClient{cl: cl, query: f.tenancy.query(c)}
}

// call does a request with a JSON body (nil for none) that must answer 200
// and decodes the answer into out (unless nil), as Consul's client.
func (a *aclClient) call(method, path string, in, out any) error {
	_, err := a.do(method, path, in, out)
	return err
}

// find is call for a read that Consul's client answers with "not found"
// (nil, no error) on a 404.
func (a *aclClient) find(path string, out any) (bool, error) {
	resp, err := a.do(http.MethodGet, path, nil, out)
	if resp != nil && resp.code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

func (a *aclClient) do(method, path string, in, out any) (*cliResponse, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	// A query in path ("…?expanded=true") joins the tenancy's.
	path, raw, _ := strings.Cut(path, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	for k, v := range a.query {
		q[k] = v
	}
	return a.cl.call(method, path, q, body, out)
}

// --- resolving IDs (Consul's command/acl helpers) ---

// tokenAccessorID resolves a token's accessor ID from a unique prefix, a
// whole ID (36 characters, taken as it is) or "anonymous".
func (a *aclClient) tokenAccessorID(partial string) (string, error) {
	if partial == "anonymous" {
		return "00000000-0000-0000-0000-000000000002", nil
	}
	if len(partial) == 36 {
		return partial, nil
	}
	var list []*cliACLTokenListEntry
	if err := a.call(http.MethodGet, "/v1/acl/tokens", nil, &list); err != nil {
		return "", err
	}
	ids := make([]string, len(list))
	for i, t := range list {
		ids[i] = t.AccessorID
	}
	return aclUniquePrefix(ids, partial, "Partial token ID is not unique", "No such token ID with prefix: %s")
}

// policyID resolves a policy's ID from a built-in policy's name, a whole
// ID, or a unique prefix.
func (a *aclClient) policyID(partial string) (string, error) {
	if id, ok := cliACLBuiltinPolicies[partial]; ok {
		return id, nil
	}
	for _, id := range cliACLBuiltinPolicies {
		if id == partial {
			return id, nil
		}
	}
	if len(partial) == 36 {
		return partial, nil
	}
	var list []*cliACLPolicyListEntry
	if err := a.call(http.MethodGet, "/v1/acl/policies", nil, &list); err != nil {
		return "", err
	}
	ids := make([]string, len(list))
	for i, p := range list {
		ids[i] = p.ID
	}
	return aclUniquePrefix(ids, partial, "Partial policy ID is not unique", "No such policy ID with prefix: %s")
}

// policyByName reads a policy by name; nil if there is none.
func (a *aclClient) policyByName(name string) (*cliACLPolicy, error) {
	if name == "" {
		return nil, fmt.Errorf("No name specified")
	}
	var p cliACLPolicy
	found, err := a.find("/v1/acl/policy/name/"+url.QueryEscape(name), &p)
	if err != nil {
		return nil, fmt.Errorf("Failed to find policy with name %s: %w", name, err)
	}
	if !found {
		return nil, nil
	}
	return &p, nil
}

// policyIDByName is the ID of the policy with the name.
func (a *aclClient) policyIDByName(name string) (string, error) {
	p, err := a.policyByName(name)
	if err != nil {
		return "", err
	}
	if p == nil {
		return "", fmt.Errorf("No such policy with name: %s", name)
	}
	return p.ID, nil
}

// roleID resolves a role's ID from a whole ID or a unique prefix.
func (a *aclClient) roleID(partial string) (string, error) {
	if len(partial) == 36 {
		return partial, nil
	}
	roles, err := a.roles()
	if err != nil {
		return "", err
	}
	ids := make([]string, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	return aclUniquePrefix(ids, partial, "Partial role ID is not unique", "No such role ID with prefix: %s")
}

// roleIDByName is the ID of the role with the name, found in the list.
func (a *aclClient) roleIDByName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("No name specified")
	}
	roles, err := a.roles()
	if err != nil {
		return "", err
	}
	for _, r := range roles {
		if r.Name == name {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("No such role with name %s", name)
}

func (a *aclClient) roles() ([]*cliACLRole, error) {
	var list []*cliACLRole
	err := a.call(http.MethodGet, "/v1/acl/roles", nil, &list)
	return list, err
}

// aclUniquePrefix is the one ID that starts with prefix.
func aclUniquePrefix(ids []string, prefix, notUnique, none string) (string, error) {
	found := ""
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			if found != "" {
				return "", fmt.Errorf("%s", notUnique)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf(none, prefix)
	}
	return found, nil
}

// policyLinks are the links of -policy-name (by name, for the agent to
// resolve) then -policy-id (resolved here), in Consul's order. A prefix
// that resolves to nothing is reported with an empty ID, as Consul's
// message has it (its variable is shadowed).
func (a *aclClient) policyLinks(names, ids []string) ([]*cliACLLink, error) {
	return aclLinks(names, ids, a.policyID, "policy")
}

// roleLinks is policyLinks for roles.
func (a *aclClient) roleLinks(names, ids []string) ([]*cliACLLink, error) {
	return aclLinks(names, ids, a.roleID, "role")
}

func aclLinks(names, ids []string, resolve func(string) (string, error), kind string) ([]*cliACLLink, error) {
	var links []*cliACLLink
	for _, n := range names {
		links = append(links, &cliACLLink{Name: n})
	}
	for _, partial := range ids {
		id, err := resolve(partial)
		if err != nil {
			return nil, fmt.Errorf("Error resolving %s ID : %v", kind, err)
		}
		links = append(links, &cliACLLink{ID: id})
	}
	return links, nil
}

// idOrName resolves -id (a prefix) when given, else -name, with the
// resolvers of one kind (policy or role).
func idOrName(id, name string, byID, byName func(string) (string, error)) (string, error) {
	if id != "" {
		return byID(id)
	}
	return byName(name)
}

// --- identities and templated policies from flags ---

// aclServiceIdentities parses -service-identity: SERVICE or
// SERVICE:DC1,DC2.
func aclServiceIdentities(args []string) ([]*cliACLServiceIdentity, error) {
	var out []*cliACLServiceIdentity
	for _, raw := range args {
		parts := strings.Split(raw, ":")
		switch len(parts) {
		case 1:
			out = append(out, &cliACLServiceIdentity{ServiceName: parts[0]})
		case 2:
			out = append(out, &cliACLServiceIdentity{ServiceName: parts[0], Datacenters: strings.Split(parts[1], ",")})
		default:
			return nil, fmt.Errorf("Malformed -service-identity argument: %q", raw)
		}
	}
	return out, nil
}

// aclNodeIdentities parses -node-identity: NODE:DC.
func aclNodeIdentities(args []string) ([]*cliACLNodeIdentity, error) {
	var out []*cliACLNodeIdentity
	for _, raw := range args {
		parts := strings.Split(raw, ":")
		if len(parts) != 2 {
			return nil, fmt.Errorf("Malformed -node-identity argument: %q", raw)
		}
		out = append(out, &cliACLNodeIdentity{NodeName: parts[0], Datacenter: parts[1]})
	}
	return out, nil
}

// aclTemplatedPolicies builds templated policies from -templated-policy
// with its -var flags (VariableName:Value; the one variable templates
// have is Name, matched without regard to case as Consul's decoder), and
// from a -templated-policy-file. Consul reads that file as HCL; here it
// is read in HCL's JSON form,
// {"TemplatedPolicy": {"builtin/service": [{"Name": "web"}]}}, which
// Consul reads the same way.
func aclTemplatedPolicies(name, file string, vars []string) ([]*cliACLTemplatedPolicy, error) {
	var out []*cliACLTemplatedPolicy
	if name != "" {
		tp := &cliACLTemplatedPolicy{TemplateName: name}
		if len(vars) > 0 {
			tp.TemplateVariables = &cliACLTemplatedPolicyVariables{}
			for _, v := range vars {
				k, val, ok := strings.Cut(v, ":")
				if !ok || strings.Contains(val, ":") {
					return nil, fmt.Errorf("malformed -var argument: %q, expecting VariableName:Value", v)
				}
				if strings.EqualFold(k, "name") {
					tp.TemplateVariables.Name = val
				}
			}
		}
		out = append(out, tp)
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("Failed to read file: %v", err)
		}
		var config struct {
			TemplatedPolicy map[string][]cliACLTemplatedPolicyVariables
		}
		if err := json.Unmarshal(data, &config); err != nil {
			return nil, fmt.Errorf("%s: only the JSON form of a templated policy file is read: %v", file, err)
		}
		// In the order of the names (Consul's is a map's, random).
		for _, tname := range slices.Sorted(maps.Keys(config.TemplatedPolicy)) {
			for _, v := range config.TemplatedPolicy[tname] {
				out = append(out, &cliACLTemplatedPolicy{TemplateName: tname, TemplateVariables: &cliACLTemplatedPolicyVariables{Name: v.Name}})
			}
		}
	}
	return out, nil
}

// --- output ---

// aclPrint prints a command's result in the -format asked for: pretty
// (the text the command's formatter makes) or json (the object indented
// by four spaces, as Consul's). As Consul's, the format is checked only
// once the call is done, and the output is followed by a newline unless
// it is empty.
func aclPrint(c *cliEnv, format string, pretty func() string, obj any) int {
	var out string
	switch format {
	case "pretty":
		out = pretty()
	case "json":
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			c.errorf("Failed to marshal: %v", err)
			return 1
		}
		out = string(b)
	default:
		c.errorf("Unknown format: %s", format)
		return 1
	}
	if out != "" {
		fmt.Fprintln(c.stdout, out)
	}
	return 0
}

// aclIdentityLines are the pretty lines of identities and templated
// policies, indented by indent (Consul's token and role formatters).
func aclIdentityLines(b *strings.Builder, indent string, svcs []*cliACLServiceIdentity, nodes []*cliACLNodeIdentity, tps []*cliACLTemplatedPolicy) {
	if len(svcs) > 0 {
		fmt.Fprintf(b, "%sService Identities:\n", indent)
		for _, s := range svcs {
			dcs := "all"
			if len(s.Datacenters) > 0 {
				dcs = strings.Join(s.Datacenters, ", ")
			}
			fmt.Fprintf(b, "%s   %s (Datacenters: %s)\n", indent, s.ServiceName, dcs)
		}
	}
	if len(nodes) > 0 {
		fmt.Fprintf(b, "%sNode Identities:\n", indent)
		for _, n := range nodes {
			fmt.Fprintf(b, "%s   %s (Datacenter: %s)\n", indent, n.NodeName, n.Datacenter)
		}
	}
	if len(tps) > 0 {
		fmt.Fprintf(b, "%sTemplated Policies:\n", indent)
		for _, tp := range tps {
			fmt.Fprintf(b, "%s   %s\n", indent, tp.TemplateName)
			if tp.TemplateVariables != nil && tp.TemplateVariables.Name != "" {
				fmt.Fprintf(b, "%s      Name: %s\n", indent, tp.TemplateVariables.Name)
			}
			dcs := "all"
			if len(tp.Datacenters) > 0 {
				dcs = strings.Join(tp.Datacenters, ", ")
			}
			fmt.Fprintf(b, "%s      Datacenters: %s\n", indent, dcs)
		}
	}
}

// aclLinkLines are the pretty lines of policy or role links.
func aclLinkLines(b *strings.Builder, indent, title string, links []*cliACLLink) {
	if len(links) > 0 {
		fmt.Fprintf(b, "%s%s:\n", indent, title)
		for _, l := range links {
			fmt.Fprintf(b, "%s   %s - %s\n", indent, l.ID, l.Name)
		}
	}
}

// --- acl bootstrap ---

func newACLBootstrapFlags(format *string) *cliFlags {
	f := newCLIFlags(true, true)
	f.StringVar(format, "format", "pretty", "Output format {pretty|json}")
	return f
}

// aclBootstrapCommand asks for the initial management token; an argument
// names a file (or - for stdin) holding the SecretID to give it.
func aclBootstrapCommand(c *cliEnv, args []string) int {
	var format string
	f := newACLBootstrapFlags(&format)
	if !f.parse(c, args) {
		return 1
	}
	if f.NArg() > 1 {
		c.errorf("This command takes up to one argument")
		return 1
	}
	var secret string
	if f.NArg() == 1 {
		var b []byte
		var err error
		switch src := f.Arg(0); src {
		case "":
			err = fmt.Errorf("Failed to load data: must specify a file path or '-' for stdin")
		case "-":
			b, err = io.ReadAll(c.stdin)
			if err != nil {
				err = fmt.Errorf("Failed to read stdin: %v", err)
			}
		default:
			if b, err = os.ReadFile(src); err != nil {
				err = fmt.Errorf("Failed to read file: %v", err)
			}
		}
		if err != nil {
			c.errorf("Error reading provided token: %v", err)
			return 1
		}
		secret = strings.TrimSpace(string(b))
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var body io.Reader
	if secret != "" {
		b, _ := json.Marshal(struct{ BootstrapSecret string }{secret})
		body = bytes.NewReader(b)
	}
	var t cliACLToken
	if _, err := cl.call(http.MethodPut, "/v1/acl/bootstrap", nil, body, &t); err != nil {
		c.errorf("Failed ACL bootstrapping: %v", err)
		return 1
	}
	return aclPrint(c, format, func() string { return aclTokenPretty(&t, false) }, &t)
}

// --- acl set-agent-token ---

// aclAgentTokenPaths are the kinds of agent token and the names the
// agent's API is tried under, newest first (Consul's client falls back to
// the older name on any failure).
var aclAgentTokenPaths = map[string][]string{
	"default":                          {"default", "acl_token"},
	"agent":                            {"agent", "acl_agent_token"},
	"recovery":                         {"agent_recovery", "agent_master", "acl_agent_master_token"},
	"replication":                      {"replication", "acl_replication_token"},
	"config_file_service_registration": {"config_file_service_registration"},
	"dns":                              {"dns"},
}

func aclSetAgentTokenCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, true)
	if !f.parse(c, args) {
		return 1
	}
	var kind, token string
	switch f.NArg() {
	case 0:
		c.errorf("Error! Missing TYPE and TOKEN arguments")
		return 1
	case 1:
		switch f.Arg(0) {
		case "default", "agent", "recovery", "replication":
			c.errorf("Error! Missing TOKEN argument")
		default:
			c.errorf("Error! MISSING TYPE argument")
		}
		return 1
	case 2:
		data, err := kvLoadData(c, f.Arg(1))
		if err != nil {
			c.errorf("Error! %v", err)
			return 1
		}
		kind, token = f.Arg(0), data
	default:
		c.errorf("Error! Too many arguments: expected 2 got %d", f.NArg())
		return 1
	}
	cl, err := f.http.client(c)
	if err != nil {
		c.errorf("Error connecting to Consul Agent: %s", err)
		return 1
	}
	paths, ok := aclAgentTokenPaths[kind]
	if !ok {
		c.errorf("Unknown token type")
		return 1
	}
	body, _ := json.Marshal(struct{ Token string }{token})
	for _, p := range paths {
		if _, err = cl.call(http.MethodPut, "/v1/agent/token/"+p, nil, bytes.NewReader(body), nil); err == nil {
			break
		}
	}
	if err != nil {
		c.errorf("Failed to set ACL token %q: %v", kind, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "ACL token %q set successfully\n", kind)
	return 0
}

// --- help ---

const aclFamilyHelp = `Usage: consul acl <subcommand> [options] [args]

  This command has subcommands for interacting with Consul's ACLs.
  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Bootstrap ACLs:

      $ consul acl bootstrap

  List all ACL tokens:

      $ consul acl token list

  Create a new ACL policy:

      $ consul acl policy create -name "new-policy" \
                                 -description "This is an example policy" \
                                 -datacenter "dc1" \
                                 -datacenter "dc2" \
                                 -rules @rules.hcl

  Set the default agent token:

      $ consul acl set-agent-token default 0bc6bc46-f25e-4262-b2d9-ffbe1d96be6f

  For more examples, ask for subcommand help or view the documentation.
`

const aclBootstrapHelp = `Usage: consul acl bootstrap [options]

  The bootstrap command will request Consul to generate a new token with unlimited privileges to use
  for management purposes and output its details. This can only be done once and afterwards bootstrapping
  will be disabled. If all tokens are lost and you need to bootstrap again you can follow the bootstrap
  reset procedure`

const aclSetAgentTokenHelp = `Usage: consul acl set-agent-token [options] TYPE TOKEN

  This command will set the corresponding token for the agent to use. If token
  persistence is not enabled, then tokens uploaded this way are not persisted
  and if the agent reloads then the tokens will need to be set again.

  Token Types:

    default                           The default token is the token that the agent will use for
                                      both internal agent operations and operations initiated by
                                      the HTTP and DNS interfaces when no specific token is provided.
                                      If not set the agent will use the anonymous token.

    agent                             The token that the agent will use for internal agent operations.
                                      If not given then the default token is used for these operations.

    recovery                          This sets the token that can be used to access the Agent APIs in
                                      the event that the ACL datacenter cannot be reached.

    replication                       This is the token that the agent will use for replication
                                      operations. This token will need to be configured with read access
                                      to whatever data is being replicated.

    config_file_service_registration  This is the token that the agent uses to register services
                                      and checks defined in config files. This token needs to
                                      be configured with permission for the service or checks
                                      being registered. If not set, the default token is used.
                                      If a service or check definition contains a 'token'
                                      field, then that token is used instead.

    dns                               This is the token that the will be used in place of the default
                                      token when specified for DNS requests and for DNS-specific RPCs.
                                      If not provided the agent will attempt to use the default token
                                      if one is present, then fallback to the anonymous token.

  Example:

    $ consul acl set-agent-token default c4d0f8df-3aba-4ab6-a7a0-35b760dc29a1`
