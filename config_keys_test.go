// config_keys_test.go: tests of config_keys.go, the table of Consul's
// configuration keys: the ignored top-level keys stay sorted, unique and
// apart from the implemented ones.
//
// Concurrency: none; the tests only read the tables.
package main

import (
	"slices"
	"testing"
)

func TestIgnoredTopLevelKeysTable(t *testing.T) {
	t.Parallel()
	if !slices.IsSorted(ignoredTopLevelKeys) {
		t.Error("ignoredTopLevelKeys is not sorted")
	}
	if len(slices.Compact(slices.Clone(ignoredTopLevelKeys))) != len(ignoredTopLevelKeys) {
		t.Error("ignoredTopLevelKeys has duplicates")
	}
	for _, name := range ignoredTopLevelKeys {
		if configRoot.fields[name].set != nil || configRoot.fields[name].fields != nil {
			t.Errorf("%q is both implemented and ignored", name)
		}
	}
}
