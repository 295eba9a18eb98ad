// cli_intention.go: the intention command family of the command-line
// client, as Consul 1.22.7's: "intention create|check|delete|get|list",
// with its messages, output and exit codes (checked against the real
// binary).
//
// Data flow: flags and arguments → calls to the agent's
// /v1/connect/intentions… and /v1/config/service-intentions…
// (http_connect_intention.go, http_config_entry.go) through cliClient → Consul's text on stdout, or
// its error line on stderr. "intention check" exits 0 when allowed, 1
// when denied, 2 on an error, as Consul's. "intention create" without
// -replace adds the source to the destination's service-intentions entry
// as a check-and-set, so an existing intention is refused with the
// entry's own message (Consul's "Sources[1] defines … more than once");
// with -replace it writes the exact intention. "get" and "delete" take
// SRC DST, or the ID of a legacy intention (written through the ID-based
// API, http_connect_intention_legacy.go). Other intentions have no ID and
// no creation time, so "get" shows Consul's zero time and "list" an empty
// ID column, as Consul shows them.
//
// Concurrency: none.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// intentionCommands is the intention family, for cliFamilies.
func intentionCommands() []cliCommand {
	return []cliCommand{
		{name: "intention", synopsis: "Interact with Connect service intentions", help: intentionFamilyHelp},
		{name: "intention create", synopsis: "Create intentions for service connections.",
			help: cliFlagsUsage(intentionCreateHelp, newIntentionCreateFlags(&intentionCreateValues{})), run: intentionCreateCommand},
		{name: "intention check", synopsis: "Check whether a connection between two services is allowed.",
			help: cliFlagsUsage(intentionCheckHelp, newCLIFlags(true, false)), run: intentionCheckCommand},
		{name: "intention delete", synopsis: "Delete an intention.",
			help: cliFlagsUsage(intentionDeleteHelp, newCLIFlags(true, false)), run: intentionDeleteCommand},
		{name: "intention get", synopsis: "Show information about an intention.",
			help: cliFlagsUsage(intentionGetHelp, newCLIFlags(true, false)), run: intentionGetCommand},
		{name: "intention list", synopsis: "List intentions.",
			help: cliFlagsUsage(intentionListHelp, newCLIFlags(true, false)), run: intentionListCommand},
	}
}

// --- intention ---

type intentionCreateValues struct{ allow, deny, replace bool }

func newIntentionCreateFlags(v *intentionCreateValues) *cliFlags {
	f := newCLIFlags(true, false)
	f.BoolVar(&v.allow, "allow", false, "Create an intention that allows when matched.")
	f.BoolVar(&v.deny, "deny", false, "Create an intention that denies when matched.")
	f.BoolVar(&v.replace, "replace", false, "Replace matching intentions.")
	return f
}

// intentionArgs parses flags and takes an intention's ID (the legacy
// form) or its SRC DST, refusing another number of arguments with
// Consul's message.
func intentionArgs(c *cliEnv, args []string) (cl *cliClient, ids []string, ok bool) {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return nil, nil, false
	}
	if f.NArg() != 1 && f.NArg() != 2 {
		c.errorf("command requires exactly 1 or 2 arguments")
		return nil, nil, false
	}
	if cl = f.connect(c); cl == nil {
		return nil, nil, false
	}
	return cl, f.Args(), true
}

func intentionCreateCommand(c *cliEnv, args []string) int {
	var v intentionCreateValues
	f := newIntentionCreateFlags(&v)
	if !f.parse(c, args) {
		return 1
	}
	if v.allow && v.deny {
		c.errorf("Only one of -allow or -deny may be specified.")
		return 1
	}
	action := intentionAllow
	if v.deny {
		action = intentionDeny
	}
	if f.NArg() != 2 {
		c.errorf("Error: Must specify two arguments: source and destination")
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	src, dst := f.Arg(0), f.Arg(1)
	exact := cliQuery("source", src, "destination", dst)
	if v.replace {
		_, err := cl.call(http.MethodGet, "/v1/connect/intentions/exact", exact, nil, nil)
		switch {
		case err == nil: // replaced: Consul prints nothing
			body := `{"Action":"` + action + `"}`
			if _, err := cl.call(http.MethodPut, "/v1/connect/intentions/exact", exact, strings.NewReader(body), nil); err != nil {
				c.errorf("Error replacing intention with source %q and destination %q: %s", src, dst, err)
				return 1
			}
			return 0
		case !isCLIStatus(err, http.StatusNotFound):
			c.errorf("Error looking up intention for replacement with source %q and destination %q: %s", src, dst, err)
			return 1
		}
	}
	if err := intentionAdd(cl, src, dst, action); err != nil {
		c.errorf("Error creating intention \"%s => %s (%s)\": %s", src, dst, action, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Created: %s => %s (%s)\n", src, dst, action)
	return 0
}

// intentionAdd appends the source to the destination's entry, as a
// check-and-set, retried when another write came in between.
func intentionAdd(cl *cliClient, src, dst, action string) error {
	for {
		var entry ServiceIntentionsEntry
		_, err := cl.call(http.MethodGet, "/v1/config/"+kindServiceIntentions+"/"+url.PathEscape(dst), nil, nil, &entry)
		if err != nil && !isCLIStatus(err, http.StatusNotFound) {
			return err
		}
		entry.Kind, entry.Name = kindServiceIntentions, dst
		entry.Sources = append(entry.Sources, &SourceIntention{Name: src, Action: action})
		b, err := json.Marshal(entry)
		if err != nil {
			return err
		}
		var ok bool
		q := url.Values{"cas": {strconv.FormatUint(entry.ModifyIndex, 10)}}
		if _, err := cl.call(http.MethodPut, "/v1/config", q, bytes.NewReader(b), &ok); err != nil || ok {
			return err
		}
	}
}

func intentionCheckCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return 2
	}
	if f.NArg() != 2 {
		c.errorf("Error: command requires exactly two arguments: src and dst")
		return 2
	}
	cl := f.connect(c)
	if cl == nil {
		return 2
	}
	var out struct{ Allowed bool }
	if _, err := cl.call(http.MethodGet, "/v1/connect/intentions/check",
		cliQuery("source", f.Arg(0), "destination", f.Arg(1), "source-type", intentionSourceConsul), nil, &out); err != nil {
		c.errorf("Error checking the connection: %s", err)
		return 2
	}
	if out.Allowed {
		fmt.Fprintln(c.stdout, "Allowed")
		return 0
	}
	fmt.Fprintln(c.stdout, "Denied")
	return 1
}

func intentionDeleteCommand(c *cliEnv, args []string) int {
	cl, ids, ok := intentionArgs(c, args)
	if !ok {
		return 1
	}
	var err error
	if len(ids) == 1 {
		_, err = cl.call(http.MethodDelete, "/v1/connect/intentions/"+url.PathEscape(ids[0]), nil, nil, nil)
	} else {
		_, err = cl.call(http.MethodDelete, "/v1/connect/intentions/exact", cliQuery("source", ids[0], "destination", ids[1]), nil, nil)
	}
	if err != nil {
		c.errorf("Error deleting the intention: %s", err)
		return 1
	}
	fmt.Fprintln(c.stdout, "Intention deleted.")
	return 0
}

func intentionGetCommand(c *cliEnv, args []string) int {
	cl, ids, ok := intentionArgs(c, args)
	if !ok {
		return 1
	}
	var x Intention
	var err error
	notFound := ""
	if len(ids) == 1 {
		_, err = cl.call(http.MethodGet, "/v1/connect/intentions/"+url.PathEscape(ids[0]), nil, nil, &x)
		notFound = fmt.Sprintf("Intention not found with ID %q", ids[0])
		// Consul's client words this endpoint's errors its own way.
		var se *errCLIStatus
		if errors.As(err, &se) && se.code != http.StatusNotFound {
			err = fmt.Errorf("Unexpected response %d: %s", se.code, se.body)
		}
	} else {
		_, err = cl.call(http.MethodGet, "/v1/connect/intentions/exact", cliQuery("source", ids[0], "destination", ids[1]), nil, &x)
		notFound = fmt.Sprintf("Intention not found with source %q and destination %q", ids[0], ids[1])
	}
	switch {
	case isCLIStatus(err, http.StatusNotFound):
		c.errorf("%s", notFound)
		return 1
	case err != nil:
		c.errorf("Error reading the intention: %s", err)
		return 1
	}
	lines := []string{"Source:|" + x.SourceName, "Destination:|" + x.DestinationName, "Action:|" + x.Action}
	if x.ID != "" {
		lines = append(lines, "ID:|"+x.ID)
	}
	if x.Description != "" {
		lines = append(lines, "Description:|"+x.Description)
	}
	keys := make([]string, 0, len(x.Meta))
	for k := range x.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, "Meta["+k+"]:|"+x.Meta[k])
	}
	// Only a legacy intention has a creation time: for any other, Consul
	// prints the zero time.
	created := time.Time{}
	if x.CreatedAt != nil {
		created = *x.CreatedAt
	}
	lines = append(lines, "Created At:|"+created.Local().Format(time.RFC850))
	fmt.Fprintln(c.stdout, columnize(lines))
	return 0
}

func intentionListCommand(c *cliEnv, args []string) int {
	f := newCLIFlags(true, false)
	if !f.parse(c, args) {
		return 1
	}
	cl := f.connect(c)
	if cl == nil {
		return 1
	}
	var list []Intention
	if _, err := cl.call(http.MethodGet, "/v1/connect/intentions", nil, nil, &list); err != nil {
		c.errorf("Failed to retrieve the intentions list: %s", err)
		return 1
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "There are no intentions.")
		return 2 // as Consul's
	}
	lines := []string{"ID|Source|Action|Destination|Precedence"}
	for _, x := range list {
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%d", x.ID, x.SourceName, x.Action, x.DestinationName, x.Precedence))
	}
	fmt.Fprintln(c.stdout, columnize(lines))
	return 0
}

// --- help ---

const intentionFamilyHelp = `Usage: consul intention <subcommand> [options] [args]

  This command has subcommands for interacting with intentions. Intentions
  are permissions describing which services are allowed to communicate via
  Connect. Here are some simple examples, and more detailed examples are
  available in the subcommands or the documentation.

  Create an intention to allow "web" to talk to "db":

      $ consul intention create web db

  Test whether a "web" is allowed to connect to "db":

      $ consul intention check web db

  List all intentions:

      $ consul intention list

  For more examples, ask for subcommand help or view the documentation.
`

const intentionCreateHelp = `Usage: consul intention create [options] SRC DST

  Create an intention from SRC to DST.

      $ consul intention create web db

  An "allow" intention is created by default (allowlist). To create a
  "deny" intention, the "-deny" flag should be specified.

  If a conflicting intention is found, creation will fail. To replace any
  conflicting intentions, specify the "-replace" flag. This will replace any
  conflicting intentions with the intention specified in this command.
  Metadata and any other fields of the previous intention will not be
  preserved.`

const intentionCheckHelp = `Usage: consul intention check [options] SRC DST

  Check whether a connection between SRC and DST would be allowed by
  Connect given the current Consul configuration.

      $ consul intention check web db`

const intentionDeleteHelp = `Usage: consul intention delete [options] SRC DST

  Delete an intention. This cannot be reversed. The intention is looked
  up via an exact source/destination match.

      $ consul intention delete web db`

const intentionGetHelp = `Usage: consul intention get [options] SRC DST

  Read and show the details about an intention. The intention is looked
  up via an exact source/destination match.

      $ consul intention get web db`

const intentionListHelp = `Usage: consul intention list

  List all intentions.`
