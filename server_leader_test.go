package main

import (
	"testing"
	"time"
)

func TestTombstoneAges(t *testing.T) {
	t.Parallel()
	g := &tombstoneAges{ttl: 15 * time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		after time.Duration
		index uint64
		want  uint64
	}{
		{0, 5, 0},
		{10 * time.Minute, 9, 0},
		{15 * time.Minute, 12, 5}, // the first mark is now a TTL old
		{20 * time.Minute, 14, 0}, // the mark at 10 min is only 10 min old
		{25 * time.Minute, 20, 9},
		{60 * time.Minute, 30, 20}, // the marks at 20 and 25 min expire at once: the newer counts
	}
	for _, s := range steps {
		if got := g.tick(t0.Add(s.after), s.index); got != s.want {
			t.Fatalf("at +%v: reap to %d, want %d", s.after, got, s.want)
		}
	}
}
