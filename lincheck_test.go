// lincheck_test.go: a linearizability checker for key/value histories, and
// its own tests.
//
// Tests that drive the replicated KV store while faults are injected record
// every client call as a linOp. checkLinearizable then decides whether some
// total order of the calls (a) keeps real-time order: an op that returned
// before another was sent comes first, and (b) is a legal sequential history
// of one register per key, each starting absent (Herlihy & Wing 1990).
//
// Method. Linearizability is local (Herlihy & Wing 1990, Theorem 1), so each
// key is checked on its own ("P-compositionality", Horn & Kroening 2015). For
// one key, the search of Wing & Gong 1993: walk the calls and returns in time
// order; at a call, try letting that op take effect now; at the return of an
// op that has not taken effect, undo the most recent choice and try the next.
// Lowe 2017 ("Testing for linearizability") makes it practical: every
// configuration reached (the set of ops taken effect, the register's value)
// is remembered, so that no search starts from it twice. The events are a
// doubly linked list: an op that takes effect is unlinked, and put back on
// backtracking.
//
// Three shortcuts beyond Lowe's, sound for any register history, keep the
// search near linear on realistic histories; TestLinCheckBruteForce checks
// them against a plain search. A get or failed cas that can take effect now
// is the only choice tried (search); a write that leaves for good a value
// some op still has to read is cut off at once (try); a lost write of a value
// no op needs is tried only just before a cas it makes fail (linDropBlind).
//
// An op whose answer never came (Unknown) may take effect any time after it
// was sent, or never: its return is at +infinity, and the search succeeds as
// soon as every op with a known outcome has taken effect.
//
// Equal timestamps count as overlapping (calls sort before returns): one clock
// reading cannot order two events. The search is bounded by linMaxSteps; a
// key that exceeds it is reported as inconclusive, an error, so that a test
// never passes on a history nobody checked.
package main

import (
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// linOp is one completed (or timed-out) client operation on one key.
type linOp struct {
	Client int
	Kind   linKind // linGet, linPut, linCas
	Key    string
	Value  string // put: the value written; cas: the new value
	Expect string // cas: the value the key must hold for the cas to succeed ("" = the key must be absent/empty)
	// Outcome, as the client saw it:
	Found   bool   // get: whether the key existed
	Out     string // get: the value read
	OK      bool   // cas: whether it succeeded
	Unknown bool   // the call timed out or failed in transit: it may or may not have taken effect, at any time after Start
	// When the call was sent and when its answer arrived, on any monotonic
	// clock; End is ignored for Unknown ops (treated as +infinity).
	Start, End int64
}

type linKind uint8

const (
	linGet linKind = iota
	linPut
	linCas
)

// linMaxSteps bounds the work of searching one key: ops looked at, plus 20
// for each configuration tried. Using it all up takes about a quarter of a
// second (1.5 s under -race) and some 30 MB; the random histories of the
// tests need a few percent of it.
var linMaxSteps = 50_000_000

// checkLinearizable reports whether the history is linearizable against a
// register per key, starting absent. If it is not, the error names the first
// such key (in sorted order) and the longest order of its ops that the search
// found, with the ops none of which could come next.
func checkLinearizable(history []linOp) error {
	byKey := map[string][]linOp{}
	for _, o := range history {
		if o.Kind > linCas {
			return fmt.Errorf("lincheck: %v: unknown kind %d", o, o.Kind)
		}
		if !o.Unknown && o.End < o.Start {
			return fmt.Errorf("lincheck: %v: ends before it starts", o)
		}
		if o.Unknown && o.Kind == linGet {
			continue // a read nobody saw constrains nothing
		}
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	var first error
	failed := 0
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		if err := linCheckKey(key, byKey[key]); err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	if failed > 1 {
		return fmt.Errorf("%w\n(and %d more keys fail)", first, failed-1)
	}
	return first
}

// linArg is an op's strings as register states (0 is absent).
type linArg struct {
	val, exp, out int
	need          int  // the state a known op needs to take effect in, or -1
	writes        bool // whether the op may change the register
	blind         bool // an Unknown write of a value no op needs (see linDropBlind)
}

// linEntry is a call or a return in one key's history, linked in time order.
type linEntry struct {
	op         int
	call       bool
	match      *linEntry // a call's return
	prev, next *linEntry
}

// linSearch is the state of the search over one key's ops.
type linSearch struct {
	key    string
	ops    []linOp // known ops in call order, then unknown ones
	nKnown int
	arg    []linArg
	vals   []string // the string of each state but 0
	empty  int      // the state of the value "", which a cas expecting "" accepts too; -1 if none
	unseen int      // the state of all values that no op reads or expects; -1 if none

	// The set of ops taken effect, one bit each: known ops in call order,
	// then unknown ones, apart (see memoKey).
	known, unknown []uint64
	memo           map[string]struct{} // Lowe's cache of configurations reached
	buf            []byte

	// Per state, how many known ops that have not taken effect need the
	// register to hold it, and how many ops not taken effect can write it.
	readers, writers []int

	head        *linEntry // of the list of events not taken effect
	path        []int     // the ops taken effect, in order
	done, steps int       // known ops taken effect; work done (ops looked at)
	best        linStuck  // the deepest place the search got stuck
}

func linCheckKey(key string, ops []linOp) error {
	c, err := newLinSearch(key, ops)
	if err != nil {
		return err
	}
	if c.search(0) {
		return nil
	}
	if c.steps >= linMaxSteps {
		return fmt.Errorf("lincheck: key %q: inconclusive: no answer after %d steps over %d ops (at best %d took effect); too concurrent to check",
			key, c.steps, len(c.ops), c.best.depth)
	}
	return c.explain(c.best)
}

func newLinSearch(key string, ops []linOp) (*linSearch, error) {
	ops, needed, seen := linDropBlind(ops)
	slices.SortStableFunc(ops, func(a, b linOp) int {
		return cmp.Or(cmp.Compare(linB2i(a.Unknown), linB2i(b.Unknown)), cmp.Compare(a.Start, b.Start))
	})
	c := &linSearch{key: key, ops: ops, empty: -1, unseen: -1, memo: map[string]struct{}{}, vals: []string{""}}
	// Register states: 0 is absent, then one per value that some op reads
	// or expects, and one for all other values, which no op can tell apart.
	ids := map[string]int{}
	id := func(v string) int {
		if !seen[v] {
			if c.unseen < 0 {
				c.unseen, c.vals = len(c.vals), append(c.vals, "")
			}
			return c.unseen
		}
		if _, ok := ids[v]; !ok {
			ids[v] = len(c.vals)
			c.vals = append(c.vals, v)
		}
		return ids[v]
	}
	c.arg = make([]linArg, len(ops))
	for i, o := range ops {
		a := &c.arg[i]
		a.val, a.blind = id(o.Value), o.Unknown && !needed[o.Value]
		if o.Expect != "" {
			a.exp = id(o.Expect)
		}
		if o.Kind == linGet && o.Found {
			a.out = id(o.Out)
		}
		if !o.Unknown {
			c.nKnown++
		}
	}
	if e, ok := ids[""]; ok {
		c.empty = e
	}
	c.readers, c.writers = make([]int, len(c.vals)), make([]int, len(c.vals))
	for i, o := range ops {
		a := &c.arg[i]
		a.need, a.writes = -1, o.Kind == linPut || o.Kind == linCas && (o.OK || o.Unknown)
		switch {
		case o.Unknown:
		case o.Kind == linGet:
			a.need = a.out
		case o.Kind == linCas && o.OK && (a.exp != 0 || c.empty < 0):
			a.need = a.exp
		}
		if a.need >= 0 {
			c.readers[a.need]++
		}
		if a.writes {
			c.writers[a.val]++
		}
	}
	for i, o := range ops {
		if need := c.arg[i].need; need > 0 && c.writers[need] == 0 {
			return nil, fmt.Errorf("lincheck: key %q is not linearizable: %v needs a value that no op wrote", key, o)
		}
	}
	c.known = make([]uint64, (c.nKnown+63)/64)
	c.unknown = make([]uint64, (len(ops)-c.nKnown+63)/64)
	c.link()
	return c, nil
}

// link puts the calls and returns in one list, in time order, calls first
// at equal times.
func (c *linSearch) link() {
	type event struct {
		t   int64
		ret bool
		op  int
	}
	events := make([]event, 0, 2*len(c.ops))
	for i, o := range c.ops {
		end := o.End
		if o.Unknown {
			end = math.MaxInt64
		}
		events = append(events, event{o.Start, false, i}, event{end, true, i})
	}
	slices.SortFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(linB2i(a.ret), linB2i(b.ret)), cmp.Compare(a.op, b.op))
	})
	entries := make([]linEntry, len(events)+1)
	c.head = &entries[len(events)]
	calls := make([]*linEntry, len(c.ops))
	prev := c.head
	for i, ev := range events {
		e := &entries[i]
		e.op, e.call, e.prev, prev.next = ev.op, !ev.ret, prev, e
		if e.call {
			calls[ev.op] = e
		} else {
			calls[ev.op].match = e
		}
		prev = e
	}
}

// search reports whether the ops that have not taken effect can all do so,
// in an order that respects real time, starting in state. It is Wing & Gong's
// search, with Lowe's cache.
func (c *linSearch) search(state int) bool {
	if c.done == c.nKnown {
		return true
	}
	if c.steps >= linMaxSteps {
		return false
	}
	// The ops that may take effect next are those called before the first
	// return still in the list; that return's op has to be one of them.
	ret := c.head.next
	for ret.call {
		ret = ret.next
	}
	// A get or a failed cas that can take effect now may as well: it changes
	// nothing, and nothing that must precede it is still pending, so any
	// order that places it later can place it here. Then it is the only
	// choice to try (a partial-order reduction; Wing & Gong try them all).
	var fails []int // failed cas pending
	for e := c.head.next; e != ret; e = e.next {
		c.steps++
		if c.readOnly(e.op) {
			if _, ok := c.step(state, e.op); ok {
				return c.try(e, state, state)
			}
			if c.ops[e.op].Kind == linCas {
				fails = append(fails, e.op)
			}
		}
	}
	unseenTried := false
	for e := c.head.next; e != ret && c.steps < linMaxSteps; e = e.next {
		c.steps++
		if c.readOnly(e.op) {
			continue
		}
		next, ok := c.step(state, e.op)
		if a := &c.arg[e.op]; ok && a.blind { // see linDropBlind
			ok = slices.ContainsFunc(fails, func(f int) bool { _, ok := c.step(next, f); return ok })
			if c.ops[e.op].Kind == linPut && next == c.unseen {
				ok, unseenTried = ok && !unseenTried, unseenTried || ok
			}
		}
		if ok && c.try(e, state, next) {
			return true
		}
	}
	// Stuck: ret's op can no longer take effect before it returns.
	if c.best.pending == nil || len(c.path) > c.best.depth {
		c.best = c.stuck(state, ret)
	}
	return false
}

// try lets e's op take effect, moving from state to next, and searches on
// from there.
func (c *linSearch) try(e *linEntry, state, next int) bool {
	c.steps += 20 // about what it costs, next to looking at an op
	c.take(e.op, +1)
	defer c.take(e.op, -1)
	// A known op that needs state can take effect only while the register
	// holds it. If no op left can write state, leaving it is a dead end: cut
	// it off now rather than when that op's return comes round.
	if next != state && c.readers[state] > 0 && c.writers[state] == 0 {
		return false
	}
	// Lowe 2017: a configuration reached before is either on the path that
	// led here, impossible as the set only grows, or has failed already.
	k := c.memoKey(next)
	if _, seen := c.memo[string(k)]; seen {
		return false
	}
	c.memo[string(k)] = struct{}{}
	linLift(e)
	defer linUnlift(e)
	return c.search(next)
}

// take counts op i as taken effect (d = +1), or no longer (d = -1).
func (c *linSearch) take(i, d int) {
	a := &c.arg[i]
	if a.need >= 0 {
		c.readers[a.need] -= d
	}
	if a.writes {
		c.writers[a.val] -= d
	}
	if i < c.nKnown {
		c.done += d
		c.known[i/64] ^= 1 << (i % 64)
	} else {
		j := i - c.nKnown
		c.unknown[j/64] ^= 1 << (j % 64)
	}
	if d > 0 {
		c.path = append(c.path, i)
	} else {
		c.path = c.path[:len(c.path)-1]
	}
}

// readOnly reports whether op i never changes the register.
func (c *linSearch) readOnly(i int) bool {
	o := &c.ops[i]
	return o.Kind == linGet || o.Kind == linCas && !o.OK && !o.Unknown
}

// step is the register's sequential specification: whether op i can take
// effect in state s, and the state after it.
func (c *linSearch) step(s, i int) (int, bool) {
	o, a := &c.ops[i], &c.arg[i]
	switch o.Kind {
	case linGet:
		return s, s == a.out
	case linPut:
		return a.val, true
	}
	match := s == a.exp || a.exp == 0 && s == c.empty
	if o.OK || o.Unknown {
		// An Unknown cas that failed changed nothing: it is as if it never
		// took effect, which the search allows anyway.
		return a.val, match
	}
	return s, !match
}

// memoKey encodes a configuration exactly, and compactly. Every known op
// that returned before the current point has taken effect, and those still
// pending overlap it; so the known set is all ones up to a few words of mixed
// bits, then zeros, and only those middle words are stored. Unknown ops are
// in call order too: the words after the last one set are left out.
func (c *linSearch) memoKey(state int) []byte {
	lo, hi := 0, len(c.known)
	for lo < hi && c.known[lo] == math.MaxUint64 {
		lo++
	}
	for hi > lo && c.known[hi-1] == 0 {
		hi--
	}
	b := binary.AppendUvarint(c.buf[:0], uint64(state))
	b = binary.AppendUvarint(b, uint64(lo))
	b = binary.AppendUvarint(b, uint64(hi-lo))
	for _, w := range c.known[lo:hi] {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	u := len(c.unknown)
	for u > 0 && c.unknown[u-1] == 0 {
		u--
	}
	for _, w := range c.unknown[:u] {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	c.buf = b
	return b
}

// linLift unlinks a call and its return; linUnlift undoes it, in reverse order.
func linLift(e *linEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	r := e.match
	r.prev.next = r.next
	if r.next != nil {
		r.next.prev = r.prev
	}
}

func linUnlift(e *linEntry) {
	r := e.match
	r.prev.next = r
	if r.next != nil {
		r.next.prev = r
	}
	e.prev.next, e.next.prev = e, e
}

// linDropBlind returns the ops without needless blind writes; the values some
// op needs the register to hold (a get reads it, a cas that succeeded or may
// have expects it); and the values some op reads or expects at all.
//
// A blind write is an Unknown put or cas of a value no op needs. If one took
// effect, until the next write only failed cas could follow (a get would
// read its value, a cas would expect it); if none did, it may as well never
// have happened. So some order, if any, has every blind write that takes
// effect followed at once by a failed cas. Search tries one only then, and
// only one blind put of a value nobody saw (they are all alike); those sent
// after every failed cas returned are dropped. This keeps lost writes from
// doubling the search each.
func linDropBlind(ops []linOp) (_ []linOp, needed, seen map[string]bool) {
	needed, seen = map[string]bool{}, map[string]bool{}
	lastFail := int64(math.MinInt64)
	for _, o := range ops {
		switch {
		case o.Kind == linGet && o.Found:
			needed[o.Out], seen[o.Out] = true, true
		case o.Kind == linCas && !o.OK && !o.Unknown:
			seen[o.Expect] = true
			lastFail = max(lastFail, o.End)
		case o.Kind == linCas:
			needed[o.Expect], seen[o.Expect] = true, true
		}
	}
	return slices.DeleteFunc(slices.Clone(ops), func(o linOp) bool {
		return o.Unknown && !needed[o.Value] && o.Start > lastFail
	}), needed, seen
}

// linStuck is where the deepest search got stuck: after depth ops took
// effect, leaving state, op blocked had to take effect before it returned,
// and none of the pending ops could lead on.
type linStuck struct {
	depth, state   int
	blocked        int
	pending        []int
	last           []int    // the last ops that took effect, oldest first
	known, unknown []uint64 // the set of ops taken effect
}

func (c *linSearch) stuck(state int, ret *linEntry) linStuck {
	s := linStuck{depth: len(c.path), state: state, blocked: ret.op, pending: []int{},
		last: slices.Clone(c.path[max(0, len(c.path)-4):]), known: slices.Clone(c.known), unknown: slices.Clone(c.unknown)}
	for e := c.head.next; e != ret; e = e.next {
		s.pending = append(s.pending, e.op)
	}
	return s
}

func (c *linSearch) explain(s linStuck) error {
	held := "absent"
	switch s.state {
	case 0:
	case c.unseen:
		held = "a value no op reads"
	default:
		held = strconv.Quote(c.vals[s.state])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lincheck: key %q is not linearizable (%d ops). ", c.key, len(c.ops))
	if s.depth == 0 {
		fmt.Fprintf(&b, "No op can take effect first, with the key absent:\n")
	} else {
		fmt.Fprintf(&b, "The longest legal order found has %d ops, ending\n", s.depth)
		for _, i := range s.last {
			fmt.Fprintf(&b, "\t%v\n", c.ops[i])
		}
		fmt.Fprintf(&b, "which leaves the key %s; then none of these can take effect:\n", held)
	}
	for _, i := range s.pending {
		var notes []string
		if i == s.blocked {
			notes = append(notes, fmt.Sprintf("must take effect by %d, when it returned", c.ops[i].End))
		}
		if next, ok := c.step(s.state, i); ok {
			if r := c.stillNeeds(&s, i); next != s.state && r >= 0 {
				notes = append(notes, fmt.Sprintf("would overwrite %s, which %v still needs", held, c.ops[r]))
			} else {
				notes = append(notes, "leads to a dead end")
			}
		}
		note := ""
		if notes != nil {
			note = "   <- " + strings.Join(notes, "; ")
		}
		fmt.Fprintf(&b, "\t%v%s\n", c.ops[i], note)
	}
	return fmt.Errorf("%s", strings.TrimSuffix(b.String(), "\n"))
}

// stillNeeds returns an op, not taken effect when s was, that needs s.state,
// if no op but skip could write it again; else -1.
func (c *linSearch) stillNeeds(s *linStuck, skip int) int {
	reader := -1
	for i := range c.ops {
		taken := i < c.nKnown && linBit(s.known, i) || i >= c.nKnown && linBit(s.unknown, i-c.nKnown)
		if i == skip || taken {
			continue
		}
		if c.arg[i].writes && c.arg[i].val == s.state {
			return -1
		}
		if reader < 0 && c.arg[i].need == s.state {
			reader = i
		}
	}
	return reader
}

func (o linOp) String() string {
	var what string
	switch o.Kind {
	case linGet:
		what = fmt.Sprintf("get %q -> %q", o.Key, o.Out)
		if o.Unknown {
			what = fmt.Sprintf("get %q -> ?", o.Key)
		} else if !o.Found {
			what = fmt.Sprintf("get %q -> absent", o.Key)
		}
	case linPut:
		what = fmt.Sprintf("put %q = %q", o.Key, o.Value)
	case linCas:
		expect, result := strconv.Quote(o.Expect), "failed"
		if o.Expect == "" {
			expect = "absent"
		}
		if o.OK {
			result = "ok"
		}
		if o.Unknown {
			result = "?"
		}
		what = fmt.Sprintf("cas %q %s -> %q %s", o.Key, expect, o.Value, result)
	}
	if o.Unknown {
		return fmt.Sprintf("c%d %s [%d, ?) unknown", o.Client, what, o.Start)
	}
	return fmt.Sprintf("c%d %s [%d, %d]", o.Client, what, o.Start, o.End)
}

func linBit(words []uint64, i int) bool { return words[i/64]&(1<<(i%64)) != 0 }

func linB2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Histories for the tests, one constructor per kind of op.

func lPut(c int, key, v string, start, end int64) linOp {
	return linOp{Client: c, Kind: linPut, Key: key, Value: v, Start: start, End: end}
}

func lGet(c int, key, out string, start, end int64) linOp {
	return linOp{Client: c, Kind: linGet, Key: key, Found: true, Out: out, Start: start, End: end}
}

func lMiss(c int, key string, start, end int64) linOp {
	return linOp{Client: c, Kind: linGet, Key: key, Start: start, End: end}
}

func lCas(c int, key, expect, v string, ok bool, start, end int64) linOp {
	return linOp{Client: c, Kind: linCas, Key: key, Expect: expect, Value: v, OK: ok, Start: start, End: end}
}

// lLost marks an op as timed out: End is ignored, so it is set to nonsense.
func lLost(o linOp) linOp {
	o.Unknown, o.End = true, -1
	return o
}

func TestLinCheckAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h    []linOp
	}{
		{"empty", nil},
		{"read of a fresh key", []linOp{lMiss(0, "x", 0, 1)}},
		{"sequential", []linOp{
			lMiss(0, "x", 0, 1), lPut(0, "x", "1", 2, 3), lGet(1, "x", "1", 4, 5),
			lCas(1, "x", "1", "2", true, 6, 7), lCas(0, "x", "1", "3", false, 8, 9), lGet(0, "x", "2", 10, 11),
			lPut(1, "x", "", 12, 13), lCas(0, "x", "", "4", true, 14, 15), lGet(1, "x", "4", 16, 17),
		}},
		{"get overlapping a put sees the old value", []linOp{
			lPut(0, "x", "1", 0, 10), lPut(0, "x", "2", 20, 40), lGet(1, "x", "1", 25, 35),
		}},
		{"get overlapping a put sees the new value", []linOp{
			lPut(0, "x", "1", 0, 10), lPut(0, "x", "2", 20, 40), lGet(1, "x", "2", 25, 35),
		}},
		{"new value then old is fine while the put is running", []linOp{
			// The put takes effect after the first get, so the later gets
			// both see "2"; this is the reverse of "reads going back in time".
			lPut(0, "x", "1", 0, 10), lPut(0, "x", "2", 20, 100), lGet(1, "x", "1", 30, 40), lGet(2, "x", "2", 50, 60),
		}},
		{"touching intervals overlap", []linOp{lPut(0, "x", "1", 0, 10), lMiss(1, "x", 10, 20)}},
		{"cas race, one wins", []linOp{
			lPut(0, "x", "0", 0, 5), lCas(1, "x", "0", "1", true, 10, 20), lCas(2, "x", "0", "2", false, 12, 22),
			lGet(0, "x", "1", 30, 40),
		}},
		{"cas race from absent, later starter wins", []linOp{
			lCas(1, "x", "", "a", false, 0, 20), lCas(2, "x", "", "b", true, 5, 15), lGet(0, "x", "b", 30, 40),
		}},
		{"lost put shows up later", []linOp{
			lLost(lPut(0, "x", "1", 0, 0)), lMiss(1, "x", 10, 20), lGet(1, "x", "1", 100, 110), lGet(2, "x", "1", 120, 130),
		}},
		{"lost put never happens", []linOp{
			lLost(lPut(0, "x", "1", 0, 0)), lMiss(1, "x", 10, 20), lMiss(1, "x", 100, 110),
		}},
		{"lost put explains a failed cas", []linOp{
			lPut(0, "x", "1", 0, 10), lLost(lPut(1, "x", "2", 15, 0)), lCas(0, "x", "1", "3", false, 20, 30),
		}},
		{"lost cas took effect", []linOp{
			lPut(0, "x", "1", 0, 10), lLost(lCas(1, "x", "1", "2", false, 20, 0)), lGet(0, "x", "2", 30, 40),
		}},
		{"lost cas did not", []linOp{
			lPut(0, "x", "1", 0, 10), lLost(lCas(1, "x", "1", "2", true, 20, 0)), lGet(0, "x", "1", 30, 40),
		}},
		{"two lost puts explain three failed cas, in one order only", []linOp{
			// F1 needs "b" or "c" by 30, F2 not "b", F3 not "c": so c, then b.
			lPut(0, "x", "a", 0, 10), lLost(lPut(1, "x", "b", 11, 0)), lLost(lPut(2, "x", "c", 12, 0)),
			lCas(0, "x", "a", "z", false, 20, 30), lCas(0, "x", "b", "z", false, 40, 50), lCas(0, "x", "c", "z", false, 60, 70),
		}},
		{"lost get constrains nothing", []linOp{lLost(lGet(0, "x", "never written", 0, 0))}},
		{"keys are independent", []linOp{
			lPut(0, "x", "1", 0, 10), lPut(1, "y", "1", 0, 10), lGet(0, "y", "1", 20, 30), lMiss(1, "z", 20, 30),
			lGet(1, "x", "1", 20, 30),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkLinearizable(tc.h); err != nil {
				t.Fatalf("rejected a linearizable history:\n%v", err)
			}
		})
	}
}

func TestLinCheckRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h    []linOp
		want string // in the explanation
	}{
		{"stale read after a completed write", []linOp{
			lPut(0, "x", "1", 0, 10), lMiss(1, "x", 20, 30),
		}, `c0 put "x" = "1" [0, 10]   <- must take effect by 10, when it returned; would overwrite absent, which c1 get "x" -> absent [20, 30] still needs`},
		{"two cas from the same value both succeed", []linOp{
			lPut(0, "x", "0", 0, 5), lCas(1, "x", "0", "1", true, 10, 20), lCas(2, "x", "0", "2", true, 12, 22),
		}, `would overwrite "0", which c2 cas "x" "0" -> "2" ok [12, 22] still needs`},
		{"get of a value never written", []linOp{
			lPut(0, "x", "1", 0, 10), lGet(1, "x", "ghost", 5, 30),
		}, `c1 get "x" -> "ghost"`},
		{"ABA without a second write", []linOp{
			lPut(0, "x", "1", 0, 10), lPut(0, "x", "2", 20, 30), lGet(1, "x", "2", 40, 50), lGet(1, "x", "1", 60, 70),
		}, `c0 put "x" = "2" [20, 30]   <- must take effect by 30, when it returned; would overwrite "1", which c1 get "x" -> "1" [60, 70] still needs`},
		{"reads going back in time across two readers", []linOp{
			lPut(0, "x", "1", 0, 10), lPut(0, "x", "2", 20, 100), lGet(1, "x", "2", 30, 40), lGet(2, "x", "1", 50, 60),
		}, `c2 get "x" -> "1" [50, 60]`},
		{"failed cas that had to succeed", []linOp{
			lPut(0, "x", "1", 0, 10), lCas(1, "x", "1", "2", false, 20, 30),
		}, `cas "x" "1" -> "2" failed [20, 30]   <- must take effect by 30`},
		{"one lost put cannot explain two failed cas", []linOp{
			lPut(0, "x", "a", 0, 10), lLost(lPut(1, "x", "b", 11, 0)),
			lCas(0, "x", "a", "z", false, 20, 30), lCas(0, "x", "b", "z", false, 40, 50),
		}, `c0 cas "x" "b" -> "z" failed [40, 50]   <- must take effect by 50`},
		{"lost put seen before it was sent", []linOp{
			lGet(1, "x", "1", 0, 10), lLost(lPut(0, "x", "1", 50, 0)),
		}, "No op can take effect first"},
		{"one bad key among good ones", []linOp{
			lPut(0, "a", "1", 0, 10), lGet(0, "a", "1", 20, 30),
			lPut(1, "b", "1", 0, 10), lPut(1, "b", "2", 20, 30), lGet(2, "b", "1", 40, 50),
		}, `key "b" is not linearizable`},
		{"malformed: ends before it starts", []linOp{lPut(0, "x", "1", 10, 5)}, "ends before it starts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLinearizable(tc.h)
			if err == nil {
				t.Fatal("accepted a history that is not linearizable")
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("explanation lacks %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestLinCheckInconclusive gives the search a history that takes it
// exponential time: twenty puts at once, then reads that need two of them to
// both come last. It must give up with an error, not pass.
func TestLinCheckInconclusive(t *testing.T) {
	t.Parallel()
	var h []linOp
	for i := range 20 {
		h = append(h, lPut(i, "x", fmt.Sprint("p", i), 0, 100))
	}
	h = append(h, lGet(20, "x", "p5", 200, 210), lGet(20, "x", "p6", 220, 230))
	start := time.Now()
	err := checkLinearizable(h)
	if err == nil || !strings.Contains(err.Error(), `key "x": inconclusive`) {
		t.Fatalf("got %v, want an inconclusive error", err)
	}
	t.Logf("gave up after %v: %v", time.Since(start), err)
}

var linSeedFlag = flag.Uint64("lin.seed", 0, "seed of the randomized linearizability tests (0: pick one; or set LIN_SEED)")

// linSeed is the seed to replay: -lin.seed, else $LIN_SEED, else the clock.
func linSeed(t testing.TB) uint64 {
	seed := *linSeedFlag
	if s := os.Getenv("LIN_SEED"); seed == 0 && s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LIN_SEED: %v", err)
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -lin.seed=%d)", seed, seed)
	return seed
}

// linSimulate records a history from a register that is linearizable by
// construction: each op takes effect atomically at a random instant inside
// its [Start, End]. The client that has been idle longest goes next, so
// nearly all clients are in flight at once. A fraction of ops is Unknown,
// and of those half took effect.
func linSimulate(rng *rand.Rand, clients, n int, keys []string, unknown float64) []linOp {
	h := make([]linOp, n)
	at := make([]int64, n) // when each op takes effect
	now := make([]int64, clients)
	written := map[string][]string{}
	for i := range h {
		c := slices.Index(now, slices.Min(now))
		o := linOp{Client: c, Key: keys[rng.IntN(len(keys))], Start: now[c] + rng.Int64N(10)}
		o.End = o.Start + 1 + rng.Int64N(100)
		at[i] = o.Start + rng.Int64N(o.End-o.Start+1)
		now[c] = o.End + 1
		switch r := rng.IntN(10); {
		case r < 4:
			o.Kind = linGet
		case r < 7:
			o.Kind = linPut
		default:
			o.Kind = linCas
			if w := written[o.Key]; len(w) > 0 && rng.IntN(5) > 0 {
				o.Expect = w[max(0, len(w)-1-rng.IntN(3))]
			}
		}
		if o.Kind != linGet {
			o.Value = fmt.Sprintf("c%d.%d", c, i)
			written[o.Key] = append(written[o.Key], o.Value)
		}
		o.Unknown = rng.Float64() < unknown
		if o.Unknown && rng.IntN(2) == 0 {
			at[i] = -1 // lost for good
		}
		h[i] = o
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(at[a], at[b]) })
	reg := map[string]string{}
	for _, i := range order {
		if at[i] < 0 {
			continue
		}
		o := &h[i]
		switch cur, found := reg[o.Key]; o.Kind {
		case linGet:
			o.Found, o.Out = found, cur
		case linPut:
			reg[o.Key] = o.Value
		case linCas:
			if o.OK = cur == o.Expect; o.OK {
				reg[o.Key] = o.Value
			}
		}
	}
	for i := range h {
		if h[i].Unknown {
			h[i].End = 0 // ignored: the client never learned it
		}
	}
	return h
}

func TestLinCheckRandom(t *testing.T) {
	t.Parallel()
	seed := linSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	for round := range 4 {
		h := linSimulate(rng, 8, 2000, keys, 0.05)
		if err := checkLinearizable(h); err != nil {
			t.Fatalf("round %d: rejected a linearizable history:\n%v", round, err)
		}
		for _, corrupt := range []struct {
			name string
			do   func(h []linOp) (string, bool) // the key corrupted, false if none could be
		}{
			{"get of a value never written", func(h []linOp) (string, bool) {
				for _, i := range rng.Perm(len(h)) {
					if o := &h[i]; o.Kind == linGet && !o.Unknown {
						o.Found, o.Out = true, "never written"
						return o.Key, true
					}
				}
				return "", false
			}},
			{"absent after a completed write", func(h []linOp) (string, bool) {
				for _, i := range rng.Perm(len(h)) {
					if g := &h[i]; g.Kind == linGet && !g.Unknown && g.Found &&
						slices.ContainsFunc(h, func(w linOp) bool { return linDone(w, g.Key) && w.End < g.Start }) {
						g.Found, g.Out = false, ""
						return g.Key, true
					}
				}
				return "", false
			}},
			{"stale read of an overwritten value", func(h []linOp) (string, bool) {
				// w1 was overwritten by w2, which finished before the get started.
				for _, i := range rng.Perm(len(h)) {
					g := &h[i]
					if g.Kind != linGet || g.Unknown {
						continue
					}
					for _, w1 := range h {
						if linDone(w1, g.Key) && w1.End < g.Start && slices.ContainsFunc(h, func(w2 linOp) bool {
							return linDone(w2, g.Key) && w1.End < w2.Start && w2.End < g.Start
						}) {
							g.Found, g.Out = true, w1.Value
							return g.Key, true
						}
					}
				}
				return "", false
			}},
		} {
			bad := slices.Clone(h)
			key, ok := corrupt.do(bad)
			if !ok {
				t.Fatalf("round %d: %s: no op to corrupt", round, corrupt.name)
			}
			err := checkLinearizable(bad)
			if err == nil {
				t.Fatalf("round %d: %s: accepted a corrupted history", round, corrupt.name)
			}
			if want := fmt.Sprintf("key %q is not linearizable", key); !strings.Contains(err.Error(), want) {
				t.Fatalf("round %d: %s: want %s, got:\n%v", round, corrupt.name, want, err)
			}
		}
	}
}

// linDone reports whether o is a write to key known to have taken effect.
func linDone(o linOp, key string) bool {
	return o.Key == key && !o.Unknown && (o.Kind == linPut || o.Kind == linCas && o.OK)
}

// TestLinCheckBruteForce compares the checker, and its shortcuts, with a
// plain search over every order of small random histories, most of them
// not linearizable: duplicate and empty values, lost ops, any overlap.
func TestLinCheckBruteForce(t *testing.T) {
	t.Parallel()
	seed := linSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	values := []string{"a", "b", ""}
	pick := func() string { return values[rng.IntN(len(values))] }
	write := func() string { // sometimes a value no op reads
		if rng.IntN(3) == 0 {
			return fmt.Sprint(rng.IntN(1000))
		}
		return pick()
	}
	var yes, no int
	for round := range 20000 {
		h := make([]linOp, 1+rng.IntN(7))
		for i := range h {
			o := linOp{Client: i, Kind: linKind(rng.IntN(3)), Key: "x", Start: rng.Int64N(20)}
			o.End = o.Start + rng.Int64N(10)
			switch o.Kind {
			case linGet:
				o.Found, o.Out = rng.IntN(4) > 0, pick()
				if !o.Found {
					o.Out = ""
				}
			case linPut:
				o.Value = write()
			case linCas:
				o.Expect, o.Value, o.OK = pick(), write(), rng.IntN(2) == 0
			}
			o.Unknown = rng.IntN(5) == 0
			h[i] = o
		}
		want := linBruteForce(h, make([]bool, len(h)), false, "")
		err := checkLinearizable(h)
		if got := err == nil; got != want {
			var b strings.Builder
			for _, o := range h {
				fmt.Fprintf(&b, "\t%v\n", o)
			}
			t.Fatalf("round %d: checker says %v (%v), brute force %v, for\n%s", round, got, err, want, b.String())
		}
		if want {
			yes++
		} else {
			no++
		}
	}
	t.Logf("%d linearizable, %d not", yes, no)
}

// linBruteForce tries every order of the ops not done, in which each op
// comes after the known ops that returned before it was sent, starting
// from the register (present, val). Unknown ops may also never happen.
func linBruteForce(h []linOp, done []bool, present bool, val string) bool {
	finished := true
	for i, o := range h {
		if done[i] || o.Unknown {
			continue
		}
		finished = false
	}
	if finished {
		return true
	}
	for i, o := range h {
		if done[i] || o.Kind == linGet && o.Unknown {
			continue
		}
		ready := true
		for j, p := range h {
			if !done[j] && !p.Unknown && p.End < o.Start {
				ready = false
			}
		}
		if !ready {
			continue
		}
		p, v := present, val
		switch match := o.Expect == "" && (!present || val == "") || present && val == o.Expect; {
		case o.Kind == linGet:
			if o.Found != present || present && o.Out != val {
				continue
			}
		case o.Kind == linPut, o.Kind == linCas && match && (o.OK || o.Unknown):
			p, v = true, o.Value
		case o.Kind == linCas && (match || o.OK || o.Unknown):
			continue
		}
		done[i] = true
		ok := linBruteForce(h, done, p, v)
		done[i] = false
		if ok {
			return true
		}
	}
	return false
}

// TestLinCheckLarge checks the step budget suffices for the largest
// histories expected: thousands of ops on one key from 32 clients.
func TestLinCheckLarge(t *testing.T) {
	t.Parallel()
	seed := linSeed(t)
	h := linSimulate(rand.New(rand.NewPCG(seed, seed)), 32, 4000, []string{"x"}, 0.02)
	if err := checkLinearizable(h); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLinCheck(b *testing.B) {
	for _, unknown := range []float64{0, 0.02} {
		b.Run(fmt.Sprintf("5000ops-16clients-unknown%g", unknown), func(b *testing.B) {
			h := linSimulate(rand.New(rand.NewPCG(7, 7)), 16, 5000, []string{"x"}, unknown)
			for b.Loop() {
				if err := checkLinearizable(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
