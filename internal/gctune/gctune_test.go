package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		live, headroom uint64
		want           int
	}{
		{0, 32 * MiB, 800},                 // nothing live yet: the runtime's 4 MiB minimum
		{1 * MiB, 32 * MiB, 800},           // likewise
		{1 * MiB, 128 * MiB, MaxPercent},   // capped
		{8 * MiB, 32 * MiB, 400},           // goal 40 MiB
		{64 * MiB, 32 * MiB, 50},           // goal 96 MiB
		{1024 * MiB, 32 * MiB, MinPercent}, // never below 1.1 × live
	}
	for _, tt := range tests {
		if got := percentFor(tt.live, tt.headroom); got != tt.want {
			t.Errorf("percentFor(%d MiB, %d MiB) = %d, want %d", tt.live/MiB, tt.headroom/MiB, got, tt.want)
		}
	}
}

var keep [][]byte

// The tuner follows the live heap from one collection to the next, and
// Stop restores GOGC.
func TestTunerFollowsLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	tu := Start(32 << 20)
	waitPercent := func(ok func(int) bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(tu.Percent()) {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d, want %s", tu.Percent(), what)
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitPercent(func(p int) bool { return p >= 200 }, "at least 200 with a small live heap")

	for range 32 {
		keep = append(keep, make([]byte, 8<<20)) // 256 MiB live
	}
	// 32 MiB over 256 MiB live (and a little more): 12.
	waitPercent(func(p int) bool { return p >= MinPercent && p <= 12 }, "about 12 with 256 MiB live")

	keep = nil
	waitPercent(func(p int) bool { return p >= 200 }, "at least 200 once the heap is freed")

	tu.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop GOGC is %d, want the 100 in force before Start", got)
	}
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("a collection after Stop changed GOGC to %d", got)
	}
}
