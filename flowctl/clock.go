package flowctl

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time to the window auto-tuner. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// realClock is the Clock used when RecvConfig.Clock is nil.
type realClock struct{}

// Now returns time.Now().
func (realClock) Now() time.Time { return time.Now() }

// FakeClock is a manually advanced Clock for tests. It is safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock that reads start until advanced.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward if d is negative).
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// RTTStats holds a connection's smoothed round-trip time, fed by the session (which measures
// RTT with PING/PONG) and read by every RecvWindow's auto-tuner. It is safe for concurrent
// use; the zero value has no estimate yet. A nil *RTTStats reads as no estimate.
type RTTStats struct {
	smoothed atomic.Int64 // nanoseconds; 0 = no sample yet
	min      atomic.Int64 // nanoseconds; 0 = no sample yet
}

// AddSample folds one RTT measurement into the smoothed RTT (exponentially weighted, gain
// 1/8, as RFC 6298 and QUIC do; the first sample is taken as is). Samples ≤ 0 are ignored.
func (r *RTTStats) AddSample(d time.Duration) {
	if d <= 0 {
		return
	}
	for {
		old := r.min.Load()
		if old != 0 && old <= int64(d) || r.min.CompareAndSwap(old, int64(d)) {
			break
		}
	}
	for {
		old := r.smoothed.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
			if next <= 0 {
				next = 1
			}
		}
		if r.smoothed.CompareAndSwap(old, next) {
			return
		}
	}
}

// Min returns the smallest RTT seen, or 0 before the first sample: the path's
// latency without the queueing that bulk data adds to later samples.
func (r *RTTStats) Min() time.Duration {
	if r == nil {
		return 0
	}
	return time.Duration(r.min.Load())
}

// Smoothed returns the smoothed RTT, or 0 before the first sample.
func (r *RTTStats) Smoothed() time.Duration {
	if r == nil {
		return 0
	}
	return time.Duration(r.smoothed.Load())
}
