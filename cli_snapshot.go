// cli_snapshot.go: the "snapshot" commands, as Consul's: snapshot save
// FILE, snapshot restore FILE and snapshot inspect [-format -kvdetails
// -kvdepth -kvfilter] FILE, on miniconsul's own snapshot format
// (store_snapshot.go).
//
// Data flow: save: GET /v1/snapshot → FILE.unverified.tmpN → verified by
// reading it whole through readSnapshot, the reader a restore uses (magic,
// every record, order, trailing SHA-256) → renamed to FILE → "Saved and
// verified snapshot to index N" (the answer's X-Consul-Index). restore:
// FILE → PUT /v1/snapshot → "Restored snapshot". inspect (no agent): FILE
// → readSnapshot (refuses a corrupt file) → a second pass that walks the
// records and counts them by type with their bytes → Consul's layout (ID,
// Size, Index, Term, Version; a Type/Count/Size table, largest first) or
// its JSON. The record types take Consul's names where one fits: nodes,
// services and checks are all "Register" (Consul's RegisterRequest
// records), KV entries "KVS", then "Tombstone", "Index", "Session",
// "Autopilot", and "LockDelay" (which Consul does not snapshot). Our
// format has no Raft term, so Term is 0; ID is the snapshot's index and
// the start of its checksum; Version is the format's (1).
//
// Concurrency: none.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// snapshotCommands is the snapshot family.
func snapshotCommands() []cliCommand {
	return []cliCommand{
		{name: "snapshot", synopsis: "Saves, restores and inspects snapshots of Consul server state", help: snapshotHelp},
		{name: "snapshot save", synopsis: "Saves snapshot of Consul server state",
			help: cliFlagsUsage(snapshotSaveHelp, newCLIFlags(true, true)), run: snapshotSave},
		{name: "snapshot restore", synopsis: "Restores snapshot of Consul server state",
			help: cliFlagsUsage(snapshotRestoreHelp, newCLIFlags(true, true)), run: snapshotRestore},
		{name: "snapshot inspect", synopsis: "Displays information about a Consul snapshot file",
			help: cliFlagsUsage(snapshotInspectHelp, newSnapshotInspectFlags(&snapshotInspectOpts{})), run: snapshotInspect},
	}
}

// snapshotFileArg is the one FILE argument, with Consul's messages.
func snapshotFileArg(c *cliEnv, args []string) (string, bool) {
	switch len(args) {
	case 0:
		c.errorf("Missing FILE argument")
		return "", false
	case 1:
		return args[0], true
	}
	c.errorf("Too many arguments (expected 1, got %d)", len(args))
	return "", false
}

// snapshotFileClient parses save's and restore's flags and their one
// file argument, and makes the client; nil after the error is printed.
func snapshotFileClient(c *cliEnv, args []string) (string, *cliClient) {
	f := newCLIFlags(true, true)
	if !f.parse(c, args) {
		return "", nil
	}
	file, ok := snapshotFileArg(c, f.Args())
	if !ok {
		return "", nil
	}
	return file, f.connect(c)
}

func snapshotSave(c *cliEnv, args []string) int {
	file, cl := snapshotFileClient(c, args)
	if cl == nil {
		return 1
	}
	resp, err := cl.call("GET", "/v1/snapshot", nil, nil, nil)
	if err != nil {
		c.errorf("Error saving snapshot: %s", err)
		return 1
	}
	unverified := file + ".unverified"
	if err := snapshotWriteFile(unverified, resp.body); err != nil {
		c.errorf("Error writing unverified snapshot file: %s", err)
		return 1
	}
	defer os.Remove(unverified)
	in, err := os.Open(unverified)
	if err != nil {
		c.errorf("Error opening snapshot file for verify: %s", err)
		return 1
	}
	_, err = readSnapshot(in)
	in.Close()
	if err != nil {
		c.errorf("Error verifying snapshot file: %s", err)
		return 1
	}
	if err := os.Rename(unverified, file); err != nil {
		c.errorf("Error renaming %q to %q: %v", unverified, file, err)
		return 1
	}
	fmt.Fprintf(c.stdout, "Saved and verified snapshot to index %d\n", resp.index())
	return 0
}

// snapshotWriteFile writes data to path safely, as Consul's safeio: to
// path.tmpN (mode 0600) first, synced, then renamed.
func snapshotWriteFile(path string, data []byte) error {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<31))
	if err != nil {
		return err
	}
	tmp := path + ".tmp" + n.String()
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func snapshotRestore(c *cliEnv, args []string) int {
	file, cl := snapshotFileClient(c, args)
	if cl == nil {
		return 1
	}
	in, err := os.Open(file)
	if err != nil {
		c.errorf("Error opening snapshot file: %s", err)
		return 1
	}
	defer in.Close()
	if _, err := cl.call("PUT", "/v1/snapshot", nil, in, nil); err != nil {
		c.errorf("Error restoring snapshot: %s", err)
		return 1
	}
	fmt.Fprintln(c.stdout, "Restored snapshot")
	return 0
}

type snapshotInspectOpts struct {
	format    string
	kvDetails bool
	kvDepth   int
	kvFilter  string
}

func newSnapshotInspectFlags(o *snapshotInspectOpts) *cliFlags {
	f := newCLIFlags(false, false)
	f.BoolVar(&o.kvDetails, "kvdetails", false, "Provides a detailed KV space usage breakdown for any KV data that's been stored.")
	f.IntVar(&o.kvDepth, "kvdepth", 2, "Can only be used with -kvdetails. The key prefix depth used to breakdown KV store data. Defaults to 2.")
	f.StringVar(&o.kvFilter, "kvfilter", "", "Can only be used with -kvdetails. Limits KV key breakdown using this prefix filter.")
	f.StringVar(&o.format, "format", "pretty", "Output format {pretty|json}")
	return f
}

// snapshotStat is one line of inspect's tables.
type snapshotStat struct {
	Name  string
	Sum   int
	Count int
}

// snapshotInfo is inspect's JSON, in Consul's shape.
type snapshotInfo struct {
	Meta struct {
		ID      string
		Size    int64
		Index   uint64
		Term    uint64
		Version int
	}
	Stats       []snapshotStat
	StatsKV     []snapshotStat
	TotalSize   int
	TotalSizeKV int
}

func snapshotInspect(c *cliEnv, args []string) int {
	var o snapshotInspectOpts
	f := newSnapshotInspectFlags(&o)
	if !f.parse(c, args) {
		return 1
	}
	file, ok := snapshotFileArg(c, f.Args())
	if !ok {
		return 1
	}
	in, err := os.Open(file)
	if err != nil {
		c.errorf("Error opening snapshot file: %s", err)
		return 1
	}
	defer in.Close()
	if _, err := readSnapshot(in); err != nil {
		c.errorf("Error reading snapshot: %s", err)
		return 1
	}
	info, err := snapshotStats(in, o)
	if err != nil {
		c.errorf("Error extracting snapshot data: %s", err)
		return 1
	}
	switch o.format {
	case "pretty":
		fmt.Fprintln(c.stdout, info.pretty())
	case "json":
		b, _ := json.MarshalIndent(info, "", "   ")
		fmt.Fprintln(c.stdout, string(b))
	default:
		c.errorf("Error outputting enhanced snapshot data: Unknown format: %s", o.format)
		return 1
	}
	return 0
}

// snapshotRecordName is a record type's name, in Consul's words.
func snapshotRecordName(tag byte) string {
	switch tag {
	case tagKV:
		return "KVS"
	case tagTombstone:
		return "Tombstone"
	case tagNode, tagService, tagCheck:
		return "Register"
	case tagIndex:
		return "Index"
	case tagSession:
		return "Session"
	case tagLockDelay:
		return "LockDelay"
	case tagAutopilot:
		return "Autopilot"
	case tagConfigEntry:
		return "ConfigEntry"
	case tagConnectCA:
		return "ConnectCA"
	case tagACL:
		return "ACL"
	}
	return fmt.Sprintf("Unknown(%d)", tag)
}

// snapshotCounter counts the bytes read through it.
type snapshotCounter struct {
	r io.Reader
	n int64
}

func (cr *snapshotCounter) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	return n, err
}

// snapshotStats walks the records of a snapshot readSnapshot has accepted
// (from its start) and counts them by type, each with its bytes, tag
// included.
func snapshotStats(f *os.File, o snapshotInspectOpts) (*snapshotInfo, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	cr := &snapshotCounter{r: f}
	sr := &snapshotReader{wireReader{src: bufio.NewReaderSize(cr, 64<<10), sum: sha256.New(), maxField: maxSnapshotField, errs: &snapshotWireErrors}}
	pos := func() int64 { return cr.n - int64(sr.src.Buffered()) }
	if _, err := io.ReadFull(sr.src, make([]byte, len(snapshotMagic))); err != nil {
		return nil, err
	}
	info := &snapshotInfo{}
	info.Meta.Size, info.Meta.Version = size, 1
	stats := map[string]*snapshotStat{}
	kvStats := map[string]*snapshotStat{}
	add := func(m map[string]*snapshotStat, name string, n int) {
		s := m[name]
		if s == nil {
			s = &snapshotStat{Name: name}
			m[name] = s
		}
		s.Sum += n
		s.Count++
	}
	for {
		start := pos()
		tag := sr.byte()
		var key string
		switch tag {
		case tagEnd:
			sum := make([]byte, sha256.Size)
			if _, err := io.ReadFull(sr.src, sum); err != nil {
				return nil, err
			}
			info.Meta.ID = strconv.FormatUint(info.Meta.Index, 10) + "-" + hex.EncodeToString(sum[:6])
			info.Stats = snapshotSorted(stats)
			if o.kvDetails && len(kvStats) > 0 {
				info.StatsKV = snapshotSorted(kvStats)
			}
			return info, nil
		case tagMeta:
			info.Meta.Index = sr.uvarint()
			sr.uvarint()
			continue
		case tagKV:
			key = sr.string()
			sr.uvarint()
			sr.bytes()
			sr.uvarint()
			sr.uvarint()
			sr.uvarint()
			sr.string()
		case tagTombstone, tagIndex, tagLockDelay:
			sr.string()
			sr.uvarint()
		case tagService:
			sr.string()
			sr.bytes()
		case tagNode, tagCheck, tagSession, tagAutopilot, tagConfigEntry, tagConnectCA, tagACL:
			sr.bytes()
		default:
			sr.failf("unexpected record %d", tag)
		}
		if sr.err != nil {
			return nil, sr.err
		}
		n := int(pos() - start)
		add(stats, snapshotRecordName(tag), n)
		info.TotalSize += n
		if tag == tagKV && o.kvDetails && strings.HasPrefix(key, o.kvFilter) {
			parts := strings.Split(key, "/")
			add(kvStats, strings.Join(parts[:min(max(o.kvDepth, 0), len(parts))], "/"), n)
			info.TotalSizeKV += n
		}
	}
}

// snapshotSorted lists stats largest first, then by name, as Consul's.
func snapshotSorted(m map[string]*snapshotStat) []snapshotStat {
	var out []snapshotStat
	for _, s := range m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b snapshotStat) int {
		if a.Sum != b.Sum {
			return b.Sum - a.Sum
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// pretty is Consul's layout of inspect: the metadata, then the record
// types, then (with -kvdetails) the key prefixes, in one tabwriter.
func (info *snapshotInfo) pretty() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 8, 8, 6, ' ', 0)
	fmt.Fprintf(tw, " ID\t%s\n Size\t%d\n Index\t%d\n Term\t%d\n Version\t%d\n", info.Meta.ID, info.Meta.Size, info.Meta.Index, info.Meta.Term, info.Meta.Version)
	table := func(title string, stats []snapshotStat, total int) {
		fmt.Fprintf(tw, "\n %s\tCount\tSize\n ----\t----\t----", title)
		for _, s := range stats {
			fmt.Fprintf(tw, "\n %s\t%d\t%s", s.Name, s.Count, snapshotByteSize(uint64(s.Sum)))
		}
		fmt.Fprintf(tw, "\n ----\t----\t----\n Total\t\t%s", snapshotByteSize(uint64(total)))
	}
	table("Type", info.Stats, info.TotalSize)
	if info.StatsKV != nil {
		fmt.Fprintln(tw)
		table("Key Name", info.StatsKV, info.TotalSizeKV)
	}
	tw.Flush()
	return b.String()
}

// snapshotByteSize is a size as Consul's inspect writes it: "0", "12B",
// "1.2KB", "3MB", one decimal unless it is zero.
func snapshotByteSize(n uint64) string {
	units := []string{"TB", "GB", "MB", "KB"}
	for i, u := range units {
		if limit := uint64(1) << (10 * (len(units) - i)); n >= limit {
			return strings.TrimSuffix(strconv.FormatFloat(float64(n)/float64(limit), 'f', 1, 64), ".0") + u
		}
	}
	if n == 0 {
		return "0"
	}
	return strconv.FormatUint(n, 10) + "B"
}

const snapshotHelp = `Usage: consul snapshot <subcommand> [options] [args]

  This command has subcommands for saving, restoring, and inspecting the state
  of the Consul servers for disaster recovery. These are atomic, point-in-time
  snapshots which include key/value entries, service catalog, prepared queries,
  sessions, and ACLs.

  If ACLs are enabled, a management token must be supplied in order to perform
  snapshot operations.

  Create a snapshot:

      $ consul snapshot save backup.snap

  Restore a snapshot:

      $ consul snapshot restore backup.snap

  Inspect a snapshot:

      $ consul snapshot inspect backup.snap

  For more examples, ask for subcommand help or view the documentation.
`

const snapshotSaveHelp = `Usage: consul snapshot save [options] FILE

  Retrieves an atomic, point-in-time snapshot of the state of the Consul servers
  which includes key/value entries, service catalog, prepared queries, sessions,
  and ACLs.

  If ACLs are enabled, a management token must be supplied in order to perform
  snapshot operations.

  To create a snapshot from the leader server and save it to "backup.snap":

    $ consul snapshot save backup.snap

  To create a potentially stale snapshot from any available server (useful if no
  leader is available):

    $ consul snapshot save -stale backup.snap

  For a full list of options and examples, please see the Consul documentation.
`

const snapshotRestoreHelp = `Usage: consul snapshot restore [options] FILE

  Restores an atomic, point-in-time snapshot of the state of the Consul servers
  which includes key/value entries, service catalog, prepared queries, sessions,
  and ACLs.

  Restores involve a potentially dangerous low-level Raft operation that is not
  designed to handle server failures during a restore. This command is primarily
  intended to be used when recovering from a disaster, restoring into a fresh
  cluster of Consul servers.

  If ACLs are enabled, a management token must be supplied in order to perform
  snapshot operations.

  To restore a snapshot from the file "backup.snap":

    $ consul snapshot restore backup.snap

  For a full list of options and examples, please see the Consul documentation.
`

const snapshotInspectHelp = `Usage: consul snapshot inspect [options] FILE

  Displays information about a snapshot file on disk.

  To inspect the file "backup.snap":

    $ consul snapshot inspect backup.snap

  For a full list of options and examples, please see the Consul documentation.
`
