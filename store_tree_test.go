package main

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// checkTreap verifies the search-tree order and the heap order of priorities.
func checkTreap[V any](t *testing.T, n *treeNode[V], lo, hi string) int {
	t.Helper()
	if n == nil {
		return 0
	}
	if (lo != "" && n.key <= lo) || (hi != "" && n.key >= hi) {
		t.Fatalf("key %q out of order (%q, %q)", n.key, lo, hi)
	}
	for _, c := range []*treeNode[V]{n.left, n.right} {
		if c != nil && c.priority > n.priority {
			t.Fatalf("heap order broken at %q", n.key)
		}
	}
	return 1 + checkTreap(t, n.left, lo, n.key) + checkTreap(t, n.right, n.key, hi)
}

func treeKeys[V any](tr tree[V]) []string {
	var keys []string
	tr.each(func(k string, _ V) bool { keys = append(keys, k); return true })
	return keys
}

func TestTreeAgainstMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(1))
	var tr tree[int]
	model := map[string]int{}
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%03d", rng.Intn(500))
		if rng.Intn(3) == 0 {
			var found bool
			tr, found = tr.delete(k)
			if _, ok := model[k]; ok != found {
				t.Fatalf("delete %q: found=%v, model %v", k, found, ok)
			}
			delete(model, k)
		} else {
			tr = tr.set(k, i)
			model[k] = i
		}
	}
	if n := checkTreap(t, tr.root, "", ""); n != len(model) {
		t.Fatalf("tree has %d keys, model %d", n, len(model))
	}
	for k, v := range model {
		if got, ok := tr.get(k); !ok || got != v {
			t.Fatalf("get %q = %v %v, want %v", k, got, ok, v)
		}
	}
	want := make([]string, 0, len(model))
	for k := range model {
		want = append(want, k)
	}
	slices.Sort(want)
	if got := treeKeys(tr); !slices.Equal(got, want) {
		t.Fatalf("order: got %d keys, want %d", len(got), len(want))
	}
}

func TestTreeOldVersionsUnchanged(t *testing.T) {
	t.Parallel()
	var v1 tree[string]
	v1 = v1.set("a", "1").set("b", "1")
	v2 := v1.set("a", "2").set("c", "2")
	v3, _ := v2.delete("b")
	if got := treeKeys(v1); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("v1 changed: %v", got)
	}
	if a, _ := v1.get("a"); a != "1" {
		t.Fatalf("v1 a = %q", a)
	}
	if got := treeKeys(v2); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("v2 changed: %v", got)
	}
	if got := treeKeys(v3); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("v3: %v", got)
	}
}

func TestTreePrefixWalkAndCut(t *testing.T) {
	t.Parallel()
	var tr tree[int]
	keys := []string{"a", "ab", "ab/c", "ab\xff", "ab\xff\xff", "abc", "ac", "b", "\xff", "\xff\xffz"}
	for i, k := range keys {
		tr = tr.set(k, i)
	}
	slices.Sort(keys)
	for _, prefix := range []string{"", "a", "ab", "ab\xff", "\xff", "zz"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		var got []string
		tr.ascendPrefix(prefix, "", func(k string, _ int) bool { got = append(got, k); return true })
		if !slices.Equal(got, want) {
			t.Errorf("ascendPrefix(%q) = %q, want %q", prefix, got, want)
		}
		rest, cut := tr.cutPrefix(prefix)
		checkTreap(t, rest.root, "", "")
		checkTreap(t, cut.root, "", "")
		if got := treeKeys(cut); !slices.Equal(got, want) {
			t.Errorf("cutPrefix(%q) cut %q, want %q", prefix, got, want)
		}
		if n := len(treeKeys(rest)); n != len(keys)-len(want) {
			t.Errorf("cutPrefix(%q) left %d keys", prefix, n)
		}
	}
	// Starting point and early stop.
	var got []string
	tr.ascendPrefix("ab", "ab\xff", func(k string, _ int) bool { got = append(got, k); return len(got) < 2 })
	if !slices.Equal(got, []string{"ab\xff", "ab\xff\xff"}) {
		t.Errorf("from/stop: %q", got)
	}
}

func TestTreeBuilderMatchesInserts(t *testing.T) {
	t.Parallel()
	var b treeBuilder[int]
	var tr tree[int]
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("key/%05d", i)
		if !b.add(k, i) {
			t.Fatal("builder refused an increasing key")
		}
		tr = tr.set(k, i)
	}
	if b.add("key/00000", 0) {
		t.Fatal("builder accepted a key out of order")
	}
	built := b.tree()
	if n := checkTreap(t, built.root, "", ""); n != 5000 {
		t.Fatalf("built %d nodes", n)
	}
	if !slices.Equal(treeKeys(built), treeKeys(tr)) {
		t.Fatal("builder and inserts disagree")
	}
}

func BenchmarkTreeSet(b *testing.B) {
	var tr tree[int]
	for i := 0; i < b.N; i++ {
		tr = tr.set(fmt.Sprintf("bench/key-%09d", i), i)
	}
}

// TestTreeSetInKeepsPublishedVersions: commands (owners) that set many keys
// in place of their own nodes never change a version published before
// them, and each version holds exactly what its commands wrote, in treap
// order; deletes between them copy as before.
func TestTreeSetInKeepsPublishedVersions(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	var tr tree[int]
	model := map[string]int{}
	type version struct {
		tr    tree[int]
		model map[string]int
	}
	var published []version
	for owner := uint64(1); owner <= 400; owner++ {
		for range 1 + rng.Intn(40) {
			k := fmt.Sprintf("k%04d", rng.Intn(2000))
			if rng.Intn(5) == 0 {
				tr, _ = tr.delete(k)
				delete(model, k)
				continue
			}
			v := rng.Int()
			tr = tr.setIn(owner, k, v)
			model[k] = v
		}
		published = append(published, version{tr, maps.Clone(model)})
	}
	for i, v := range published {
		if n := checkTreap(t, v.tr.root, "", ""); n != len(v.model) {
			t.Fatalf("version %d: %d keys, want %d", i+1, n, len(v.model))
		}
		for k, want := range v.model {
			if got, ok := v.tr.get(k); !ok || got != want {
				t.Fatalf("version %d: %q = %v %v, want %v (changed by a later command)", i+1, k, got, ok, want)
			}
		}
	}
}
