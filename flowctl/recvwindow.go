package flowctl

import (
	"fmt"
	"math"
	"time"
)

// Window defaults used for zero RecvConfig fields.
const (
	// DefaultInitialWindow is the default RecvConfig.Initial.
	DefaultInitialWindow = 256 << 10
	// DefaultMinWindow is the default RecvConfig.Min.
	DefaultMinWindow = 64 << 10
	// DefaultMaxWindow is the default RecvConfig.Max.
	DefaultMaxWindow = 16 << 20
	// DefaultMaxFrame is the default RecvConfig.MaxFrame.
	DefaultMaxFrame = 16 << 10
	// MaxWindowLimit is the largest RecvConfig.Max accepted (keeps offset arithmetic far
	// from overflow).
	MaxWindowLimit = 1 << 62
)

// autoTuneRTTs is how many smoothed RTTs consuming one full window may take for the window
// to count as a possible bottleneck, worth a doubling probe. A window-limited sender moves
// about one window per credit round trip, and that round trip is longer than a PING's
// (on WebTransport over loopback, 0.9 ms against a 0.34 ms PING RTT: data and credit wait
// in QUIC's queues), so the test is generous; the rate check after each doubling is what
// keeps a window from growing when it is not the bottleneck. Slow streams (a log tail)
// never pass it, so they never probe.
const autoTuneRTTs = 8

// RecvConfig configures a RecvWindow. The zero value means: defaults, auto-tuning on,
// real clock, no RTT estimate yet, no connection budget.
type RecvConfig struct {
	// StreamID identifies the stream in the *FlowError values OnData returns.
	StreamID uint32
	// Initial is the initial window, the credit the peer may use before any CREDIT frame
	// (the value announced in the handshake). Default 256 KiB.
	Initial uint64
	// Min is the window floor: under budget pressure a stream is still topped up to Min
	// bytes of outstanding credit. Must be ≥ MaxFrame. Default 64 KiB.
	Min uint64
	// Max is the ceiling auto-tuning grows the window to. Default 16 MiB.
	Max uint64
	// MaxFrame is the largest data-frame payload the peer may send; Min must hold at least
	// one. Default 16 KiB.
	MaxFrame uint64
	// FixedWindow turns auto-tuning off: the window stays at Initial.
	FixedWindow bool
	// Clock tells time to the auto-tuner. Default: the real clock.
	Clock Clock
	// RTT is the connection's smoothed RTT, shared by all its windows. Nil or without a
	// sample: the window does not auto-tune (it has nothing to compare with).
	RTT *RTTStats
	// Budget is the connection-wide cap on granted-but-unconsumed bytes. Nil: no cap.
	Budget *Budget
}

// WithDefaults returns c with every zero field set to its default.
func (c RecvConfig) WithDefaults() RecvConfig {
	if c.Initial == 0 {
		c.Initial = DefaultInitialWindow
	}
	if c.Min == 0 {
		c.Min = DefaultMinWindow
	}
	if c.Max == 0 {
		c.Max = DefaultMaxWindow
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c
}

// Validate checks the fields (after defaults) against each other:
// MaxFrame ≤ Min ≤ Initial ≤ Max ≤ MaxWindowLimit. Errors wrap ErrInvalidConfig.
func (c RecvConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Max > MaxWindowLimit:
		return fmt.Errorf("%w: window Max %d above %d", ErrInvalidConfig, c.Max, uint64(MaxWindowLimit))
	case c.Min < c.MaxFrame:
		return fmt.Errorf("%w: window Min %d below MaxFrame %d", ErrInvalidConfig, c.Min, c.MaxFrame)
	case c.Initial < c.Min:
		return fmt.Errorf("%w: window Initial %d below Min %d", ErrInvalidConfig, c.Initial, c.Min)
	case c.Initial > c.Max:
		return fmt.Errorf("%w: window Initial %d above Max %d", ErrInvalidConfig, c.Initial, c.Max)
	}
	return nil
}

// RecvWindow is a receiver's flow-control state for one stream. It grants credit as the
// application consumes data, so a slow reader slows only its own sender, batches grants
// (PendingGrant), auto-tunes its size toward the bandwidth-delay product and holds budget
// for every byte of credit outstanding. Not synchronized: guard it with the stream's mutex.
type RecvWindow struct {
	received uint64 // contiguous bytes received (next expected offset)
	consumed uint64 // bytes the application has read
	limit    uint64 // highest offset granted (announced or, for Initial, implied)
	held     uint64 // budget held; == limit-consumed until Release
	size     uint64 // current window size

	min, max uint64
	maxFrame uint64
	id       uint32
	autoTune bool
	released bool

	epochStarted bool
	epochStart   time.Time
	epochOffset  uint64 // consumed at epochStart
	// The previous epoch's start, for rates over the last two epochs.
	prevStart  time.Time
	prevOffset uint64
	havePrev   bool

	// Growth probing (maybeGrow): the size and rate before the last doubling,
	// where the probe stands, and until when growth is on hold.
	probe     probeState
	probeFrom uint64
	probeRate float64
	holdUntil time.Time

	clock  Clock
	rtt    *RTTStats
	budget *Budget
}

// NewRecvWindow returns a window that has granted cfg.Initial bytes (the handshake's
// implicit grant, always taken from the budget even beyond its cap). It panics if
// cfg.Validate fails: validate configuration once, where it is loaded.
func NewRecvWindow(cfg RecvConfig) *RecvWindow {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.WithDefaults()
	w := &RecvWindow{
		limit:    cfg.Initial,
		size:     cfg.Initial,
		min:      cfg.Min,
		max:      cfg.Max,
		maxFrame: cfg.MaxFrame,
		id:       cfg.StreamID,
		autoTune: !cfg.FixedWindow,
		clock:    cfg.Clock,
		rtt:      cfg.RTT,
		budget:   cfg.Budget,
	}
	w.held = cfg.Budget.Acquire(cfg.Initial, cfg.Initial)
	return w
}

// Limit returns the highest offset granted so far: what the peer may send up to.
func (w *RecvWindow) Limit() uint64 { return w.limit }

// Received returns the contiguous bytes received so far (the next expected offset).
func (w *RecvWindow) Received() uint64 { return w.received }

// Consumed returns the bytes the application has read (after Release: all received bytes).
func (w *RecvWindow) Consumed() uint64 { return w.consumed }

// Buffered returns the bytes received but not yet read by the application.
func (w *RecvWindow) Buffered() uint64 { return w.received - w.consumed }

// Outstanding returns the credit granted and not yet consumed (Limit - Consumed); this is
// what the window holds of the budget until Release, after which it is 0.
func (w *RecvWindow) Outstanding() uint64 { return w.held }

// Size returns the current window size (Initial, grown by auto-tuning up to Max).
func (w *RecvWindow) Size() uint64 { return w.size }

// StreamID returns the stream ID from the config.
func (w *RecvWindow) StreamID() uint32 { return w.id }

// OnData records that data [offset, offset+n) arrived. The data must be contiguous (offset
// equal to Received), else a *FlowError of KindOutOfOrder; it must not pass Limit, else a
// *FlowError of KindCreditExceeded naming the bytes and the credit. On error nothing
// changes. After Release the checks still apply but the data counts as consumed at once
// (the session drops it).
func (w *RecvWindow) OnData(offset, n uint64) error {
	if offset != w.received {
		return &FlowError{StreamID: w.id, Kind: KindOutOfOrder, Bytes: offset, Credit: w.limit, Expected: w.received}
	}
	end := offset + n
	if end < offset || end > w.limit {
		return &FlowError{StreamID: w.id, Kind: KindCreditExceeded, Bytes: addSat(offset, n), Credit: w.limit}
	}
	if n > 0 && w.autoTune && !w.epochStarted {
		w.epochStarted = true
		w.epochStart = w.clock.Now()
		w.epochOffset = w.consumed
	}
	w.received = end
	if w.released {
		w.consumed = end
	}
	return nil
}

// OnConsume records that the application read n bytes and returns their budget. Reading
// more than Buffered is a bug in the caller and panics. After Release it does nothing.
func (w *RecvWindow) OnConsume(n uint64) {
	if w.released {
		return
	}
	if n > w.received-w.consumed {
		panic(fmt.Sprintf("flowctl: stream %d consumed %d bytes with only %d buffered",
			w.id, n, w.received-w.consumed))
	}
	w.consumed += n
	w.held -= n
	w.budget.Release(n)
}

// GrantDue reports whether PendingGrant would try to grant: when at least half a window of
// credit is un-announced, or when the outstanding credit no longer covers one MaxFrame (only
// possible with a window under two frames). It changes nothing; use it to decide whether to
// wake the writer.
func (w *RecvWindow) GrantDue() bool {
	return !w.released && (w.held <= w.size-w.size/2 || w.held < w.maxFrame)
}

// PendingGrant commits and returns a new limit when one is due (see GrantDue): it first lets auto-tuning grow the window,
// then raises the limit toward Consumed + Size as far as the budget allows, and returns the
// new limit with ok = true. The caller must then send CREDIT(limit) to the peer; there is no
// separate "mark granted" step. It returns ok = false when no grant is due, after Release,
// or when the budget is exhausted and the stream still holds at least Min of credit (it then
// grants on a later call, after the application consumed more). A budget-limited grant
// smaller than both the wanted amount and Min is given back rather than announced, so
// CREDIT frames stay large.
func (w *RecvWindow) PendingGrant() (limit uint64, ok bool) {
	if !w.GrantDue() {
		return w.limit, false
	}
	if w.autoTune {
		w.maybeGrow()
	}
	target := w.consumed + w.size
	if target < w.consumed {
		target = math.MaxUint64
	}
	want := target - w.limit
	var floor uint64
	if w.held < w.min {
		floor = w.min - w.held
	}
	g := w.budget.Acquire(want, floor)
	if g == 0 {
		return w.limit, false
	}
	if floor == 0 && g < want && g < w.min {
		w.budget.Release(g)
		return w.limit, false
	}
	w.limit += g
	w.held += g
	return w.limit, true
}

// maybeGrow runs at the end of each epoch (more than half a window consumed). It
// doubles the window (capped by Max, the budget's cap and the budget's free bytes)
// when the last two epochs consumed their bytes at better than a full window per
// autoTuneRTTs smoothed RTTs: the window, not the link, may be the bottleneck.
// This is quic-go's maybeAdjustWindowSize, with a wider test.
//
// Then it checks that the doubling paid, as gRPC's BDP estimator grows only
// while measured bandwidth rises: it lets one epoch pass (bytes sent under the
// old credit still arrive at the old rate), and if the consumption rate over the
// next two epochs is not probeGain times the rate before the doubling, the
// bottleneck is elsewhere (a busy CPU, the reader, the sender, the link), so the
// window steps back and holds for probeHold. Without that check a fast reader on
// a short path grew its window on RTT samples inflated by its own queue, and the
// extra bytes in flight queued in socket buffers ahead of small messages
// (BenchmarkHOL: p50 273 µs, p99 2.7 ms auto-tuned vs 8 µs, 264 µs fixed; an
// earlier "the peer ran out of credit" test could not tell a starved sender
// from one whose credit was topped up in time). Stepping back never revokes
// credit: the limit already granted stands, later grants are smaller.
func (w *RecvWindow) maybeGrow() {
	if !w.epochStarted {
		return
	}
	inEpoch := w.consumed - w.epochOffset
	if inEpoch <= w.size/2 {
		return
	}
	now := w.clock.Now()
	// Rates and the speed test look at the last two epochs, a full window: over
	// half a window the rate swings with where the sender's bursts fall.
	spanStart, spanOffset, whole := w.prevStart, w.prevOffset, w.havePrev
	w.prevStart, w.prevOffset, w.havePrev = w.epochStart, w.epochOffset, true
	w.epochStart, w.epochOffset = now, w.consumed
	if !whole {
		return
	}
	span := w.consumed - spanOffset
	elapsed := now.Sub(spanStart)
	rate := math.Inf(1)
	if elapsed > 0 {
		rate = float64(span) / elapsed.Seconds()
	}
	switch w.probe {
	case probeSettling, probeMeasuring:
		w.probe++
		return
	case probeDeciding:
		w.probe = probeIdle
		if rate < probeGain*w.probeRate {
			w.size = w.probeFrom
			w.holdUntil = now.Add(max(probeHold, 8*w.rtt.Min()))
		}
		return
	}
	if now.Before(w.holdUntil) {
		return
	}
	// The minimum RTT, not the smoothed one: samples taken while bulk data
	// queues in socket buffers are inflated by that queue.
	rtt := w.rtt.Smoothed()
	fraction := float64(span) / float64(w.size)
	if rtt > 0 && float64(elapsed) < autoTuneRTTs*fraction*float64(rtt) {
		newSize := min(2*w.size, w.max, w.budget.Cap())
		if newSize > w.size && w.budget.Available() >= newSize-w.size {
			w.probeFrom, w.probeRate, w.probe = w.size, rate, probeSettling
			w.size = newSize
		}
	}
}

// Growth probing (see maybeGrow).
const (
	// probeGain is the rise in consumption rate a doubling must bring to stay:
	// a window-bound stream nearly doubles its rate, a stream bound elsewhere
	// does not move.
	probeGain = 1.25
	// probeHold is how long a window whose doubling did not pay waits before it
	// probes again (or 8 minimum RTTs, when that is longer).
	probeHold = time.Second
)

// probeState tracks a window doubling until the rate after it is known.
type probeState uint8

const (
	probeIdle      probeState = iota
	probeSettling             // first epoch after a doubling: old-credit bytes still arrive
	probeMeasuring            // second epoch: the first half of the measured span
	probeDeciding             // third epoch: the rate over the last two decides
)

// Release ends the window when the stream's receive side is finished and its buffer
// dropped: it returns all budget the window holds. Later OnConsume and PendingGrant calls
// do nothing; OnData still checks the peer's data. Release is idempotent.
func (w *RecvWindow) Release() {
	if w.released {
		return
	}
	w.released = true
	w.budget.Release(w.held)
	w.held = 0
	w.consumed = w.received
}

// Released reports whether Release was called.
func (w *RecvWindow) Released() bool { return w.released }
