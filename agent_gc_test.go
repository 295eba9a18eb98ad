package main

import "testing"

// TestGCPercentFor: at least gcHeadroom of garbage for a small live heap,
// half the live heap for a large one, the change at twice gcHeadroom.
func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 3200},        // before the first cycle: as for 1 MiB
		{1 << 20, 3200},  // 1 MiB live: a 33 MiB heap
		{8 << 20, 400},   // 8 MiB: 40 MiB
		{32 << 20, 100},  // 32 MiB: 64 MiB
		{64<<20 - 1, 50}, // just under twice the headroom
		{64 << 20, 50},   // from there on, half the live heap
		{480 << 20, 50},  // a million keys: the peak stays within 1.5×
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}
