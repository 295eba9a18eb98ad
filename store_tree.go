// store_tree.go: the persistent ordered map under every table of the state store.
//
// A tree is a treap (Seidel & Aragon, "Randomized search trees", 1996): a
// binary search tree on keys that is also a heap on priorities. Priorities are
// a hash of the key, so a given set of keys always has the same shape and the
// expected depth is about 1.39·log2(n) whatever the insertion order.
//
// The tree is immutable. Every update copies only the nodes on the path from
// the root to the change ("path copying", Okasaki, "Purely Functional Data
// Structures" §2.2) and shares the rest, so an old root stays a complete,
// consistent version: this is what gives the store its MVCC snapshots. A
// reader holding an old tree never sees a later write, and never blocks one.
//
// Within one command, copying a node that command made itself is waste: no
// reader has seen it. setIn takes the command's owner (its log index): the
// nodes it makes carry it, and a node already carrying it is changed in
// place (a "transient", as Clojure's and go-immutable-radix's
// transactions). A transaction of 64 sets shares the top of the paths it
// copies, instead of copying them 64 times (BenchmarkStoreTxn64).
//
// Concurrency: none needed. A tree value is never modified after it is
// published: only setIn, with an owner that is the command's own and so
// younger than any tree a reader holds, changes nodes, and only its own.
package main

// tree is an immutable sorted map from string keys to values of type V.
// The zero value is the empty tree.
type tree[V any] struct {
	root *treeNode[V]
}

type treeNode[V any] struct {
	key         string
	val         V
	priority    uint32
	left, right *treeNode[V]
	owner       uint64 // the command that made the node (setIn); 0: none, never changed in place
}

// keyPriority is the heap priority of a key: FNV-1a, then a finalising mix
// so that keys sharing a long prefix still get unrelated priorities.
func keyPriority(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// get returns the value stored at key.
func (t tree[V]) get(key string) (V, bool) {
	n := t.root
	for n != nil {
		switch {
		case key < n.key:
			n = n.left
		case key > n.key:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// set returns a tree in which key maps to val.
func (t tree[V]) set(key string, val V) tree[V] { return t.setIn(0, key, val) }

// setIn is set by the command owner (non-zero, unique to the command, and
// the tree not yet published): the nodes it made before are changed in
// place.
func (t tree[V]) setIn(owner uint64, key string, val V) tree[V] {
	return tree[V]{root: insertNode(t.root, key, val, keyPriority(key), owner)}
}

// own returns n itself if owner made it, else a copy of it that owner makes.
func own[V any](n *treeNode[V], owner uint64) *treeNode[V] {
	if owner != 0 && n.owner == owner {
		return n
	}
	c := *n
	c.owner = owner
	return &c
}

func insertNode[V any](n *treeNode[V], key string, val V, priority uint32, owner uint64) *treeNode[V] {
	if n == nil {
		return &treeNode[V]{key: key, val: val, priority: priority, owner: owner}
	}
	if key == n.key {
		c := own(n, owner)
		c.val = val
		return c
	}
	if priority > n.priority {
		// The new node belongs above n: split n's subtree around key.
		l, r := splitNodeIn(n, key, owner)
		return &treeNode[V]{key: key, val: val, priority: priority, left: l, right: r, owner: owner}
	}
	c := own(n, owner)
	if key < n.key {
		c.left = insertNode(c.left, key, val, priority, owner)
	} else {
		c.right = insertNode(c.right, key, val, priority, owner)
	}
	return c
}

// splitNode divides a subtree into the keys < key and the keys >= key,
// copying only the nodes on the search path.
func splitNode[V any](n *treeNode[V], key string) (less, atLeast *treeNode[V]) {
	return splitNodeIn(n, key, 0)
}

// splitNodeIn is splitNode by the command owner (see setIn).
func splitNodeIn[V any](n *treeNode[V], key string, owner uint64) (less, atLeast *treeNode[V]) {
	if n == nil {
		return nil, nil
	}
	c := own(n, owner)
	if c.key < key {
		c.right, atLeast = splitNodeIn(c.right, key, owner)
		return c, atLeast
	}
	less, c.left = splitNodeIn(c.left, key, owner)
	return less, c
}

// joinNodes merges two subtrees where every key of l is below every key of r.
func joinNodes[V any](l, r *treeNode[V]) *treeNode[V] {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.priority > r.priority:
		c := *l
		c.right = joinNodes(l.right, r)
		return &c
	default:
		c := *r
		c.left = joinNodes(l, r.left)
		return &c
	}
}

// delete returns a tree without key, and whether key was there.
func (t tree[V]) delete(key string) (tree[V], bool) {
	root, found := deleteNode(t.root, key)
	if !found {
		return t, false
	}
	return tree[V]{root: root}, true
}

func deleteNode[V any](n *treeNode[V], key string) (*treeNode[V], bool) {
	if n == nil {
		return nil, false
	}
	if key == n.key {
		return joinNodes(n.left, n.right), true
	}
	var found bool
	c := *n
	if key < n.key {
		c.left, found = deleteNode(n.left, key)
	} else {
		c.right, found = deleteNode(n.right, key)
	}
	if !found {
		return n, false
	}
	return &c, true
}

// cutPrefix returns the tree without the keys that start with prefix, and a
// tree of just those keys. It costs O(log n) whatever the number of keys cut:
// two splits and a join.
func (t tree[V]) cutPrefix(prefix string) (rest, cut tree[V]) {
	less, atLeast := splitNode(t.root, prefix)
	if end, ok := prefixEnd(prefix); ok {
		inside, greater := splitNode(atLeast, end)
		return tree[V]{root: joinNodes(less, greater)}, tree[V]{root: inside}
	}
	return tree[V]{root: less}, tree[V]{root: atLeast}
}

// prefixEnd is the smallest key greater than every key starting with prefix;
// ok is false when there is none (prefix empty or all 0xff bytes).
func prefixEnd(prefix string) (end string, ok bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// ascendPrefix calls fn in key order for every key that starts with prefix,
// starting at the first key >= from (from may be "" to start at prefix). It
// stops when fn returns false.
func (t tree[V]) ascendPrefix(prefix, from string, fn func(key string, val V) bool) {
	if from < prefix {
		from = prefix
	}
	end, bounded := prefixEnd(prefix)
	ascendNode(t.root, from, end, bounded, fn)
}

// ascendNode walks keys in [from, end) in order; it returns false once fn
// asked to stop.
func ascendNode[V any](n *treeNode[V], from, end string, bounded bool, fn func(string, V) bool) bool {
	for n != nil {
		if n.key < from {
			n = n.right // the whole left subtree is below from as well
			continue
		}
		if !ascendNode(n.left, from, end, bounded, fn) {
			return false
		}
		if bounded && n.key >= end {
			return false
		}
		if !fn(n.key, n.val) {
			return false
		}
		n = n.right
	}
	return true
}

// each calls fn for every key in order until fn returns false.
func (t tree[V]) each(fn func(key string, val V) bool) {
	t.ascendPrefix("", "", fn)
}

// empty reports whether the tree has no keys.
func (t tree[V]) empty() bool { return t.root == nil }

// treeBuilder builds a tree from keys given in strictly increasing order in
// O(n) time, allocating nothing but the nodes themselves: the classic
// right-spine construction of a Cartesian tree. Snapshot restore uses it, so
// restoring a state needs little more memory than the state itself.
type treeBuilder[V any] struct {
	spine []*treeNode[V] // the right spine, root first; priorities decrease
	last  string
}

// add appends key; it reports false if key is not above the previous one.
func (b *treeBuilder[V]) add(key string, val V) bool {
	if len(b.spine) > 0 && key <= b.last {
		return false
	}
	b.last = key
	n := &treeNode[V]{key: key, val: val, priority: keyPriority(key)}
	var popped *treeNode[V]
	for len(b.spine) > 0 && b.spine[len(b.spine)-1].priority < n.priority {
		popped = b.spine[len(b.spine)-1]
		b.spine = b.spine[:len(b.spine)-1]
	}
	n.left = popped
	if len(b.spine) > 0 {
		b.spine[len(b.spine)-1].right = n
	}
	b.spine = append(b.spine, n)
	return true
}

// tree returns the tree built so far; the builder must not be used after.
func (b *treeBuilder[V]) tree() tree[V] {
	if len(b.spine) == 0 {
		return tree[V]{}
	}
	return tree[V]{root: b.spine[0]}
}
