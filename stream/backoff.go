package stream

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Backoff.
const (
	DefaultBackoffInitial    = 100 * time.Millisecond
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffMax        = 30 * time.Second
)

// Backoff is an exponential backoff policy with full jitter (the AWS
// architecture blog's "full jitter"): before retry n (n = 0 for the first)
// a client waits a uniformly random time in [0, min(Max, Initial × Multiplier^n)).
// Random waits spread the reconnects of many clients after a server restart.
// The zero value means the defaults.
type Backoff struct {
	// Initial is the ceiling of the first wait. Default 100 ms.
	Initial time.Duration
	// Multiplier grows the ceiling per attempt; at least 1. Default 2.
	Multiplier float64
	// Max caps the ceiling. Default 30 s.
	Max time.Duration
	// MaxAttempts is how many connection attempts in a row may fail before the
	// client gives up (state ConnFailed). Default 0: never give up.
	MaxAttempts int
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Multiplier == 0 {
		b.Multiplier = DefaultBackoffMultiplier
	}
	if b.Max == 0 {
		b.Max = DefaultBackoffMax
	}
	return b
}

// Validate checks the fields. Zero fields are valid (defaults).
func (b Backoff) Validate() error {
	d := b.withDefaults()
	var errs []error
	if d.Initial < 0 || d.Max < 0 || d.MaxAttempts < 0 {
		errs = append(errs, errors.New("negative Initial, Max or MaxAttempts"))
	}
	if d.Multiplier < 1 || math.IsNaN(d.Multiplier) || math.IsInf(d.Multiplier, 0) {
		errs = append(errs, fmt.Errorf("Multiplier %v must be a finite number ≥ 1", d.Multiplier))
	}
	if d.Max < d.Initial {
		errs = append(errs, fmt.Errorf("Max %v below Initial %v", d.Max, d.Initial))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: backoff: %w", ErrInvalidArgument, errors.Join(errs...))
	}
	return nil
}

// Ceiling returns the upper bound of the wait before retry n (0-based):
// min(Max, Initial × Multiplier^n).
func (b Backoff) Ceiling(n int) time.Duration {
	d := b.withDefaults()
	c := float64(d.Initial) * math.Pow(d.Multiplier, float64(n))
	if c >= float64(d.Max) || math.IsInf(c, 0) || math.IsNaN(c) {
		return d.Max
	}
	return time.Duration(c)
}

// Delay returns the wait before retry n given r, a uniform random number in
// [0, 1): r × Ceiling(n).
func (b Backoff) Delay(n int, r float64) time.Duration {
	r = min(max(r, 0), 1)
	return time.Duration(r * float64(b.Ceiling(n)))
}

// ConnState is the state of a ReconnectingClient.
type ConnState int

// Connection states. A client starts closed; Connect moves it to connecting,
// then open. A lost transport moves it to reconnecting and back to open (or
// to failed when Backoff.MaxAttempts attempts in a row fail); Close moves it
// through closing to closed.
const (
	ConnClosed ConnState = iota
	ConnConnecting
	ConnOpen
	ConnReconnecting
	ConnClosing
	ConnFailed
)

var connStateNames = [...]string{"closed", "connecting", "open", "reconnecting", "closing", "failed"}

func (s ConnState) String() string {
	if s >= 0 && int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return fmt.Sprintf("ConnState(%d)", int(s))
}
