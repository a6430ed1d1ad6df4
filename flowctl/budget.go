package flowctl

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Budget bounds the bytes a connection has granted but not yet seen consumed, summed over
// all its streams, so a connection's receive memory stays bounded however many streams it
// has. It is safe for concurrent use. A nil *Budget is unlimited: Acquire grants everything
// asked, Release does nothing.
//
// The bound is soft by design: Acquire's min argument is granted even at the cap, so every
// stream can always make progress by one frame. As long as each stream asks for a floor of
// at most F only to top its outstanding credit up to F, the bytes in use never exceed
// cap + maxStreams × F. RecvWindow follows that rule with F = RecvConfig.Initial (its
// promised initial window; later top-ups only go up to RecvConfig.Min ≤ Initial).
type Budget struct {
	capBytes uint64
	used     atomic.Uint64
}

// NewBudget returns a budget of capBytes. A cap of zero grants only floors.
func NewBudget(capBytes uint64) *Budget {
	return &Budget{capBytes: capBytes}
}

// Acquire grants up to want bytes, as many as the cap leaves free, but never fewer than
// min (clamped to want), even when that exceeds the cap. It returns the bytes granted; the
// caller must Release them when they are consumed.
func (b *Budget) Acquire(want, min uint64) uint64 {
	if b == nil {
		return want
	}
	if min > want {
		min = want
	}
	for {
		used := b.used.Load()
		var free uint64
		if used < b.capBytes {
			free = b.capBytes - used
		}
		g := want
		if g > free {
			g = free
		}
		if g < min {
			g = min
		}
		if g == 0 {
			return 0
		}
		if g > math.MaxUint64-used {
			g = math.MaxUint64 - used
		}
		if b.used.CompareAndSwap(used, used+g) {
			return g
		}
	}
}

// Release returns n bytes acquired earlier. Releasing more than is in use is a bug in the
// caller and panics.
func (b *Budget) Release(n uint64) {
	if b == nil || n == 0 {
		return
	}
	for {
		used := b.used.Load()
		if n > used {
			panic(fmt.Sprintf("flowctl: Budget.Release(%d) with only %d bytes in use", n, used))
		}
		if b.used.CompareAndSwap(used, used-n) {
			return
		}
	}
}

// InUse returns the bytes currently acquired (it may exceed Cap by the floors granted).
func (b *Budget) InUse() uint64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Cap returns the configured cap (math.MaxUint64 for a nil Budget).
func (b *Budget) Cap() uint64 {
	if b == nil {
		return math.MaxUint64
	}
	return b.capBytes
}

// Available returns the bytes that can be acquired before the cap is reached.
func (b *Budget) Available() uint64 {
	if b == nil {
		return math.MaxUint64
	}
	if used := b.used.Load(); used < b.capBytes {
		return b.capBytes - used
	}
	return 0
}
