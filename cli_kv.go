// cli_kv.go: the kv command family, Consul's `consul kv get|put|delete|
// export|import` and the `kv` family help, with Consul 1.22's flags,
// messages, output formats and exit codes.
//
// Data flow: cliDispatch → kvGetCommand/kvPutCommand/… parse the flags
// (kvGetFlags, …, which also render the help), read the value or the JSON
// to import from the argument, a file (@file) or stdin (-), then call the
// agent's /v1/kv/<key> through cliClient as Consul's API client does (the
// same query parameters; 404 on a read is "no key"); they print the value,
// `-detailed` metadata (text/tabwriter, as Consul's), key names, `Success!`
// lines or export JSON (base64 values, tab-indented) to stdout, and errors
// in Consul's words to stderr: exit 0, or 1 for any error or bad usage.
//
// Concurrency: none.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
)

// kvCommands is the kv family, for cliFamilies.
func kvCommands() []cliCommand {
	return []cliCommand{
		{name: "kv", synopsis: "Interact with the key-value store", help: kvFamilyHelp},
		{name: "kv get", synopsis: "Retrieves or lists data from the KV store",
			help: cliFlagsUsage(kvGetHelp, newKVGetFlags().f), run: kvGetCommand},
		{name: "kv put", synopsis: "Sets or updates data in the KV store",
			help: cliFlagsUsage(kvPutHelp, newKVPutFlags().f), run: kvPutCommand},
		{name: "kv delete", synopsis: "Removes data from the KV store",
			help: cliFlagsUsage(kvDeleteHelp, newKVDeleteFlags().f), run: kvDeleteCommand},
		{name: "kv export", synopsis: "Exports a tree from the KV store as JSON",
			help: cliFlagsUsage(kvExportHelp, newKVExportFlags()), run: kvExportCommand},
		{name: "kv import", synopsis: "Imports a tree stored as JSON to the KV store",
			help: cliFlagsUsage(kvImportHelp, newKVImportFlags().f), run: kvImportCommand},
	}
}

// --- flags and help ---

// kvTenancy are Consul's -namespace and -partition (Enterprise features:
// passed on as ns= and partition=, for the agent to accept or refuse).
type kvTenancy struct{ namespace, partition string }

// newKVFlags is the flag set every kv command has: the HTTP client's and
// server's flags and -namespace/-partition.
func newKVFlags() (*cliFlags, *kvTenancy) {
	f := newCLIFlags(true, true)
	t := &kvTenancy{}
	f.StringVar(&t.namespace, "namespace", "", "Specifies the namespace to query. If not provided, the namespace will be inferred from the request's ACL token, or will default to the `default` namespace. Namespaces are a Consul Enterprise feature.")
	f.partitionVar(&t.partition)
	return f, t
}

// query is a request's query with the tenancy parameters of the flags or
// of CONSUL_NAMESPACE and CONSUL_PARTITION.
func (t *kvTenancy) query(c *cliEnv) url.Values {
	q := url.Values{}
	if ns := kvOr(t.namespace, c.getenv("CONSUL_NAMESPACE")); ns != "" {
		q.Set("ns", ns)
	}
	if p := kvOr(t.partition, c.getenv("CONSUL_PARTITION")); p != "" {
		q.Set("partition", p)
	}
	return q
}

func kvOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// --- talking to the agent ---

// kvAPIPath is the API path of a key (escaped by cliClient.do).
func kvAPIPath(key string) string { return kvPath + key }

// kvRead reads a key's entries (or a prefix's with recurse, or names with
// keys); a 404 is no entry.
func kvRead(cl *cliClient, key string, q url.Values, out any) (found bool, err error) {
	resp, err := cl.do(http.MethodGet, kvAPIPath(key), q, nil)
	if err != nil {
		return false, err
	}
	switch resp.code {
	case http.StatusNotFound:
		return false, nil
	case http.StatusOK:
		if err := json.Unmarshal(resp.body, out); err != nil {
			return false, fmt.Errorf("error decoding the agent's answer: %w", err)
		}
		return true, nil
	}
	return false, &errCLIStatus{resp.code, string(resp.body)}
}

// kvWrite sends a PUT or DELETE whose answer is true or false, as Consul's
// client: a key may not begin with "/".
func kvWrite(cl *cliClient, method, key string, q url.Values, value []byte) (bool, error) {
	if method == http.MethodPut && strings.HasPrefix(key, "/") {
		return false, fmt.Errorf("Invalid key. Key must not begin with a '/': %s", key)
	}
	var body io.Reader
	if value != nil {
		body = strings.NewReader(string(value))
	}
	var ok bool
	if _, err := cl.call(method, kvAPIPath(key), q, body, &ok); err != nil {
		return false, err
	}
	return ok, nil
}

// kvTrimSlash drops one leading "/", as Consul's commands do for reads
// and deletes.
func kvTrimSlash(key string) string { return strings.TrimPrefix(key, "/") }

// kvOneArg is the optional single argument of get, delete and export.
func kvOneArg(c *cliEnv, args []string) (string, bool) {
	switch len(args) {
	case 0:
		return "", true
	case 1:
		return args[0], true
	}
	c.errorf("Too many arguments (expected 1, got %d)", len(args))
	return "", false
}

// --- kv get ---

type kvGetFlags struct {
	f                               *cliFlags
	t                               *kvTenancy
	base64, detailed, keys, recurse bool
	separator                       string
}

func newKVGetFlags() *kvGetFlags {
	g := &kvGetFlags{}
	g.f, g.t = newKVFlags()
	g.f.BoolVar(&g.base64, "base64", false, "Base64 encode the value. The default value is false.")
	g.f.BoolVar(&g.detailed, "detailed", false, "Provide additional metadata about the key in addition to the value such as the ModifyIndex and any flags that may have been set on the key. The default value is false.")
	g.f.BoolVar(&g.keys, "keys", false, "List keys which start with the given prefix, but not their values. This is especially useful if you only need the key names themselves. This option is commonly combined with the -separator option. The default value is false.")
	g.f.BoolVar(&g.recurse, "recurse", false, "Recursively look at all keys prefixed with the given path. The default value is false.")
	g.f.StringVar(&g.separator, "separator", "/", "String to use as a separator between keys. The default value is \"/\", but this option is only taken into account when paired with the -keys flag.")
	return g
}

func kvGetCommand(c *cliEnv, args []string) int {
	g := newKVGetFlags()
	if !g.f.parse(c, args) {
		return 1
	}
	key, ok := kvOneArg(c, g.f.Args())
	if !ok {
		return 1
	}
	key = kvTrimSlash(key)
	if key == "" && !g.recurse && !g.keys {
		c.errorf("Error! Missing KEY argument")
		return 1
	}
	cl := g.f.connect(c)
	if cl == nil {
		return 1
	}
	q := g.t.query(c)
	switch {
	case g.keys && !g.recurse:
		q.Set("keys", "")
		q.Set("separator", g.separator)
		var keys []string
		if _, err := kvRead(cl, key, q, &keys); err != nil {
			c.errorf("Error querying Consul agent: %s", err)
			return 1
		}
		for _, k := range keys {
			fmt.Fprintln(c.stdout, k)
		}
		return 0
	case g.recurse:
		q.Set("recurse", "")
		var pairs []*KVEntry
		if _, err := kvRead(cl, key, q, &pairs); err != nil {
			c.errorf("Error querying Consul agent: %s", err)
			return 1
		}
		for i, p := range pairs {
			switch {
			case g.detailed:
				fmt.Fprintln(c.stdout, kvDetailed(p, g.base64 && !g.keys, g.keys))
				if i < len(pairs)-1 {
					fmt.Fprintln(c.stdout)
				}
			case g.keys:
				fmt.Fprintln(c.stdout, p.Key)
			case g.base64:
				fmt.Fprintf(c.stdout, "%s:%s\n", p.Key, base64.StdEncoding.EncodeToString(p.Value))
			default:
				fmt.Fprintf(c.stdout, "%s:%s\n", p.Key, p.Value)
			}
		}
		return 0
	}
	var pairs []*KVEntry
	found, err := kvRead(cl, key, q, &pairs)
	if err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}
	if !found || len(pairs) == 0 {
		c.errorf("Error! No key exists at: %s", key)
		return 1
	}
	p := pairs[0]
	switch {
	case g.detailed:
		fmt.Fprintln(c.stdout, kvDetailed(p, g.base64, false))
	case g.base64:
		fmt.Fprintln(c.stdout, base64.StdEncoding.EncodeToString(p.Value))
	default:
		fmt.Fprintf(c.stdout, "%s\n", p.Value)
	}
	return 0
}

// kvDetailed is Consul's -detailed block: name and value columns six
// spaces apart, the value last and without a newline (none at all with
// keysOnly, which ends with the Session line's newline).
func kvDetailed(p *KVEntry, b64, keysOnly bool) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	fmt.Fprintf(tw, "CreateIndex\t%d\n", p.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", p.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", p.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", p.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", p.ModifyIndex)
	fmt.Fprintf(tw, "Session\t%s\n", kvOr(p.Session, "-"))
	switch {
	case keysOnly:
	case b64:
		fmt.Fprintf(tw, "Value\t%s", base64.StdEncoding.EncodeToString(p.Value))
	default:
		fmt.Fprintf(tw, "Value\t%s", p.Value)
	}
	tw.Flush()
	return b.String()
}

// --- kv put ---

type kvPutFlags struct {
	f                             *cliFlags
	t                             *kvTenancy
	cas, base64, acquire, release bool
	flags, modifyIndex            uint64
	session                       string
}

func newKVPutFlags() *kvPutFlags {
	p := &kvPutFlags{}
	p.f, p.t = newKVFlags()
	p.f.BoolVar(&p.cas, "cas", false, "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. The default value is false.")
	p.f.Uint64Var(&p.flags, "flags", 0, "Unsigned integer value to assign to this key-value pair. This value is not read by Consul, so clients can use this value however makes sense for their use case. The default value is 0 (no flags).")
	p.f.BoolVar(&p.base64, "base64", false, "Treat the data as base 64 encoded. The default value is false.")
	p.f.Uint64Var(&p.modifyIndex, "modify-index", 0, "Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.")
	p.f.StringVar(&p.session, "session", "", "User-defined identifer for this session as a string. This is commonly used with the -acquire and -release operations to build robust locking, but it can be set on any key. The default value is empty (no session).")
	p.f.BoolVar(&p.acquire, "acquire", false, "Obtain a lock on the key. If the key does not exist, this operation will create the key and obtain the lock. The session must already exist and be specified via the -session flag. The default value is false.")
	p.f.BoolVar(&p.release, "release", false, "Forfeit the lock on the key at the given path. This requires the -session flag to be set. The key must be held by the session in order to be unlocked. The default value is false.")
	return p
}

// kvLoadData reads a DATA argument: @file, - for stdin, or the text.
func kvLoadData(c *cliEnv, data string) (string, error) {
	switch {
	case strings.HasPrefix(data, "@"):
		b, err := os.ReadFile(data[1:])
		if err != nil {
			return "", fmt.Errorf("Failed to read file: %v", err)
		}
		return string(b), nil
	case data == "-":
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return "", fmt.Errorf("Failed to read stdin: %v", err)
		}
		return string(b), nil
	}
	return data, nil
}

func kvPutCommand(c *cliEnv, args []string) int {
	p := newKVPutFlags()
	if !p.f.parse(c, args) {
		return 1
	}
	args = p.f.Args()
	var key, data string
	switch len(args) {
	case 0:
		c.errorf("Error! Missing KEY argument")
		return 1
	case 1:
		key = args[0]
	case 2:
		key = args[0]
		var err error
		if data, err = kvLoadData(c, args[1]); err != nil {
			c.errorf("Error! %s", err)
			return 1
		}
	default:
		c.errorf("Error! Too many arguments (expected 1 or 2, got %d)", len(args))
		return 1
	}
	value := []byte(data)
	if p.base64 {
		var err error
		// As Consul: the error is reported, and what decoded is written.
		if value, err = base64.StdEncoding.DecodeString(data); err != nil {
			c.errorf("Error! Cannot base 64 decode data: %s", err)
		}
	}
	if (p.release || p.acquire) && p.session == "" {
		c.errorf("Error! Missing -session (required with -acquire and -release)")
		return 1
	}
	cl := p.f.connect(c)
	if cl == nil {
		return 1
	}
	q := p.t.query(c)
	if p.flags != 0 {
		q.Set("flags", strconv.FormatUint(p.flags, 10))
	}
	switch {
	case p.cas:
		q.Set("cas", strconv.FormatUint(p.modifyIndex, 10))
		ok, err := kvWrite(cl, http.MethodPut, key, q, value)
		switch {
		case err != nil:
			c.errorf("Error! Did not write to %s: %s", key, err)
			return 1
		case !ok && p.modifyIndex == 0:
			c.errorf("Error! Did not write to %s: CAS performed with index=0 and key already exists.", key)
			return 1
		case !ok:
			c.errorf("Error! Did not write to %s: CAS failed", key)
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Data written to: %s\n", key)
	case p.acquire:
		q.Set("acquire", p.session)
		ok, err := kvWrite(cl, http.MethodPut, key, q, value)
		if err != nil {
			c.errorf("Error! Failed writing data: %s", err)
			return 1
		}
		if !ok {
			c.errorf("Error! Did not acquire lock")
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Lock acquired on: %s\n", key)
	case p.release:
		q.Set("release", p.session)
		ok, err := kvWrite(cl, http.MethodPut, key, q, value)
		if err != nil {
			c.errorf("Error! Failed writing data: %s", key) // sic, as Consul
			return 1
		}
		if !ok {
			c.errorf("Error! Did not release lock")
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Lock released on: %s\n", key)
	default:
		if _, err := kvWrite(cl, http.MethodPut, key, q, value); err != nil {
			c.errorf("Error! Failed writing data: %s", err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Data written to: %s\n", key)
	}
	return 0
}

// --- kv delete ---

type kvDeleteFlags struct {
	f            *cliFlags
	t            *kvTenancy
	cas, recurse bool
	modifyIndex  uint64
}

func newKVDeleteFlags() *kvDeleteFlags {
	d := &kvDeleteFlags{}
	d.f, d.t = newKVFlags()
	d.f.BoolVar(&d.cas, "cas", false, "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. The default value is false.")
	d.f.Uint64Var(&d.modifyIndex, "modify-index", 0, "Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.")
	d.f.BoolVar(&d.recurse, "recurse", false, "Recursively delete all keys with the path. The default value is false.")
	return d
}

func kvDeleteCommand(c *cliEnv, args []string) int {
	d := newKVDeleteFlags()
	if !d.f.parse(c, args) {
		return 1
	}
	key, ok := kvOneArg(c, d.f.Args())
	if !ok {
		return 1
	}
	key = kvTrimSlash(key)
	switch {
	case key == "" && !d.recurse:
		c.errorf("Error! Missing KEY argument")
		return 1
	case d.cas && d.modifyIndex == 0:
		c.errorf("Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.")
		return 1
	case d.modifyIndex != 0 && !d.cas:
		c.errorf("Cannot specify -modify-index without -cas!")
		return 1
	case d.recurse && d.cas:
		c.errorf("Cannot specify both -cas and -recurse!")
		return 1
	}
	cl := d.f.connect(c)
	if cl == nil {
		return 1
	}
	q := d.t.query(c)
	switch {
	case d.recurse:
		q.Set("recurse", "")
		if _, err := kvWrite(cl, http.MethodDelete, key, q, nil); err != nil {
			c.errorf("Error! Did not delete prefix %s: %s", key, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Deleted keys with prefix: %s\n", key)
	case d.cas:
		q.Set("cas", strconv.FormatUint(d.modifyIndex, 10))
		ok, err := kvWrite(cl, http.MethodDelete, key, q, nil)
		if err != nil {
			c.errorf("Error! Did not delete key %s: %s", key, err)
			return 1
		}
		if !ok {
			c.errorf("Error! Did not delete key %s: CAS failed", key)
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Deleted key: %s\n", key)
	default:
		if _, err := kvWrite(cl, http.MethodDelete, key, q, nil); err != nil {
			c.errorf("Error deleting key %s: %s", key, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Success! Deleted key: %s\n", key)
	}
	return 0
}

// --- kv export and import ---

// kvExportEntry is one pair of Consul's export JSON: the value in base64.
type kvExportEntry struct {
	Key       string `json:"key"`
	Flags     uint64 `json:"flags"`
	Value     string `json:"value"`
	Namespace string `json:"namespace,omitempty"`
	Partition string `json:"partition,omitempty"`
}

func newKVExportFlags() *cliFlags {
	f, _ := newKVFlags()
	return f
}

func kvExportCommand(c *cliEnv, args []string) int {
	f, t := newKVFlags()
	if !f.parse(c, args) {
		return 1
	}
	key, ok := kvOneArg(c, f.Args())
	if !ok {
		return 1
	}
	key = kvTrimSlash(key)
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	q := t.query(c)
	q.Set("recurse", "")
	var pairs []*KVEntry
	if _, err := kvRead(cl, key, q, &pairs); err != nil {
		c.errorf("Error querying Consul agent: %s", err)
		return 1
	}
	exported := make([]*kvExportEntry, 0, len(pairs))
	for _, p := range pairs {
		exported = append(exported, &kvExportEntry{Key: p.Key, Flags: p.Flags, Value: base64.StdEncoding.EncodeToString(p.Value)})
	}
	out, err := json.MarshalIndent(exported, "", "\t")
	if err != nil {
		c.errorf("Error exporting KV data: %s", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "%s\n", out)
	return 0
}

type kvImportFlags struct {
	f      *cliFlags
	t      *kvTenancy
	prefix string
}

func newKVImportFlags() *kvImportFlags {
	i := &kvImportFlags{}
	i.f, i.t = newKVFlags()
	i.f.StringVar(&i.prefix, "prefix", "", "Key prefix for imported data")
	return i
}

func kvImportCommand(c *cliEnv, args []string) int {
	im := newKVImportFlags()
	if !im.f.parse(c, args) {
		return 1
	}
	args = im.f.Args()
	var data string
	switch {
	case len(args) == 0:
		c.errorf("Error! Missing DATA argument")
		return 1
	case len(args) > 1:
		c.errorf("Error! Too many arguments (expected 1, got %d)", len(args))
		return 1
	case args[0] == "":
		c.errorf("Error! Empty DATA argument")
		return 1
	default:
		var err error
		if data, err = kvLoadData(c, args[0]); err != nil {
			c.errorf("Error! %s", err)
			return 1
		}
	}
	cl := im.f.connect(c)
	if cl == nil {
		return 1
	}
	var entries []*kvExportEntry
	if err := json.Unmarshal([]byte(data), &entries); err != nil {
		c.errorf("Cannot unmarshal data: %s", kvConsulTypeNames(err))
		return 1
	}
	for _, e := range entries {
		value, err := base64.StdEncoding.DecodeString(e.Value)
		if err != nil {
			c.errorf("Error base 64 decoding value for key %s: %s", e.Key, err)
			return 1
		}
		key := path.Join(im.prefix, e.Key)
		if strings.HasSuffix(e.Key, "/") {
			key += "/"
		}
		q := im.t.query(c)
		if e.Namespace != "" {
			q.Set("ns", e.Namespace)
		}
		if e.Flags != 0 {
			q.Set("flags", strconv.FormatUint(e.Flags, 10))
		}
		if _, err := kvWrite(cl, http.MethodPut, key, q, value); err != nil {
			c.errorf("Error! Failed writing data for key %s: %s", key, err)
			return 1
		}
		fmt.Fprintf(c.stdout, "Imported: %s\n", key)
	}
	return 0
}

// kvConsulTypeNames words a JSON type error with Consul's Go type names
// (impexp.Entry), which scripts may match.
func kvConsulTypeNames(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	s := strings.ReplaceAll(err.Error(), "main.kvExportEntry", "impexp.Entry")
	return strings.ReplaceAll(s, "Go struct field kvExportEntry.", "Go struct field Entry.")
}

// --- help texts, Consul's ---

const kvFamilyHelp = `Usage: consul kv <subcommand> [options] [args]

  This command has subcommands for interacting with Consul's key-value
  store. Here are some simple examples, and more detailed examples are
  available in the subcommands or the documentation.

  Create or update the key named "redis/config/connections" with the value "5":

      $ consul kv put redis/config/connections 5

  Read this value back:

      $ consul kv get redis/config/connections

  Or get detailed key information:

      $ consul kv get -detailed redis/config/connections

  Finally, delete the key:

      $ consul kv delete redis/config/connections

  For more examples, ask for subcommand help or view the documentation.
`

const kvGetHelp = `Usage: consul kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from Consul's key-value store at the given key name. If no
  key exists with that name, an error is returned. If a key exists with that
  name but has no data, nothing is returned. If the name or prefix is omitted,
  it defaults to "" which is the root of the key-value store.

  To retrieve the value for the key named "foo" in the key-value store:

      $ consul kv get foo

  This will return the original, raw value stored in Consul. To view detailed
  information about the key, specify the "-detailed" flag. This will output all
  known metadata about the key including ModifyIndex and any user-supplied
  flags:

      $ consul kv get -detailed foo

  To treat the path as a prefix and list all keys which start with the given
  prefix, specify the "-recurse" flag:

      $ consul kv get -recurse foo

  This will return all key-value pairs. To just list the keys which start with
  the specified prefix, use the "-keys" option instead:

      $ consul kv get -keys foo

  For a full list of options and examples, please see the Consul documentation.
`

const kvPutHelp = `Usage: consul kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ consul kv put config/redis/maxconns 5

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol. For example:

      $ consul kv put config/program/license @license.lic

  Or it can be read from stdin using the "-" symbol:

      $ echo "abcd1234" | consul kv put config/program/license -

  The DATA argument itself is optional. If omitted, this will create an empty
  key-value pair at the specified path:

      $ consul kv put webapp/beta/active

  If the -base64 flag is specified, the data will be treated as base 64
  encoded.

  To perform a Check-And-Set operation, specify the -cas flag with the
  appropriate -modify-index flag corresponding to the key you want to perform
  the CAS operation on:

      $ consul kv put -cas -modify-index=844 config/redis/maxconns 5

  Additional flags and more advanced use cases are detailed below.
`

const kvDeleteHelp = `Usage: consul kv delete [options] KEY_OR_PREFIX

  Removes the value from Consul's key-value store at the given path. If no
  key exists at the path, no action is taken.

  To delete the value for the key named "foo" in the key-value store:

      $ consul kv delete foo

  To delete all keys which start with "foo", specify the -recurse option:

      $ consul kv delete -recurse foo

  This will delete the keys named "foo", "food", and "foo/bar/zip" if they
  existed.
`

const kvExportHelp = `Usage: consul kv export [KEY_OR_PREFIX]

  Retrieves key-value pairs for the given prefix from Consul's key-value store,
  and writes a JSON representation to stdout. This can be used with the command
  "consul kv import" to move entire trees between Consul clusters.

      $ consul kv export vault

  For a full list of options and examples, please see the Consul documentation.
`

const kvImportHelp = `Usage: consul kv import [DATA]

  Imports key-value pairs to the key-value store from the JSON representation
  generated by the "consul kv export" command.

  The data can be read from a file by prefixing the filename with the "@"
  symbol. For example:

      $ consul kv import @filename.json

  Or it can be read from stdin using the "-" symbol:

      $ cat filename.json | consul kv import -

  Alternatively the data may be provided as the final parameter to the command,
  though care must be taken with regards to shell escaping.

  For a full list of options and examples, please see the Consul documentation.
`
