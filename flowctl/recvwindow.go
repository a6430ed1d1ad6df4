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
	// marks holds (time, consumed) at recent epoch ends, oldest first, for
	// consumption rates over spans of several RTTs (rateSince).
	marks [rateMarks]rateMark
	nmark int

	// Growth probing (maybeGrow): the size and rate before the last doubling,
	// where the probe stands, when its measured span began, and until when
	// growth is on hold.
	probe      probeState
	probeFrom  uint64
	probeRate  float64
	probeStart rateMark
	holdUntil  time.Time
	ramping    bool // at start, or the last doubling nearly doubled the rate: measure over rampRTTs

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
		ramping:  true, // start like a window-bound stream; the first probe tells
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
// when the stream consumed at better than a full window per autoTuneRTTs smoothed
// RTTs: the window, not the link, may be the bottleneck (quic-go's
// maybeAdjustWindowSize, with a wider test).
//
// Then it checks that the doubling paid, as gRPC's BDP estimator grows only
// while measured bandwidth rises: it lets one epoch pass (bytes sent under the
// old credit still arrive at the old rate), measures the consumption rate over
// at least rateRTTs RTTs, and unless that is probeGain times the rate over the
// same span before the doubling, the bottleneck is elsewhere (a busy CPU, the
// reader, the sender, the link): the window steps back and holds for probeHold.
// Rates span several RTTs because a window-bound sender moves in bursts of one
// window per RTT, and a span of a window or two measures the bursts, not the
// rate (at 50 ms RTT that made a doubling look like a loss). Without the check a
// fast reader on a short path grew its window on RTT samples inflated by its own
// queue, and the extra bytes in flight queued in socket buffers ahead of small
// messages (BenchmarkHOL: p50 273 µs, p99 2.7 ms auto-tuned vs 8 µs, 264 µs
// fixed). Stepping back never revokes credit: the limit already granted stands,
// later grants are smaller.
func (w *RecvWindow) maybeGrow() {
	if !w.epochStarted {
		return
	}
	if w.consumed-w.epochOffset <= w.size/2 {
		return
	}
	now := w.clock.Now()
	w.epochStart, w.epochOffset = now, w.consumed
	here := rateMark{at: now, consumed: w.consumed}
	rtt := w.rtt.Smoothed()
	if rtt <= 0 {
		return
	}
	rtts := rateRTTs
	if w.ramping {
		rtts = rampRTTs
	}
	span := max(time.Duration(rtts)*rtt, minRateSpan)
	defer w.mark(here, span/(rateMarks/2))
	switch w.probe {
	case probeSettling:
		w.probe, w.probeStart = probeMeasuring, here
		return
	case probeMeasuring:
		if now.Sub(w.probeStart.at) < span {
			return
		}
		w.probe = probeIdle
		after := here.rateSince(w.probeStart)
		w.ramping = after >= rampGain*w.probeRate
		if after < probeGain*w.probeRate {
			w.size = w.probeFrom
			w.holdUntil = now.Add(max(probeHold, 8*rtt))
		}
		return
	}
	if now.Before(w.holdUntil) {
		return
	}
	from, ok := w.markBefore(now.Add(-span))
	if !ok {
		return // not enough history yet
	}
	rate := here.rateSince(from)
	if rate*autoTuneRTTs*rtt.Seconds() > float64(w.size) {
		newSize := min(2*w.size, w.max, w.budget.Cap())
		if newSize > w.size && w.budget.Available() >= newSize-w.size {
			w.probeFrom, w.probeRate, w.probe = w.size, rate, probeSettling
			w.size = newSize
		}
	}
}

// rateMark is the bytes consumed by a point in time.
type rateMark struct {
	at       time.Time
	consumed uint64
}

// rateSince returns the consumption rate in bytes per second from earlier to m.
func (m rateMark) rateSince(earlier rateMark) float64 {
	d := m.at.Sub(earlier.at)
	if d <= 0 {
		return math.Inf(1)
	}
	return float64(m.consumed-earlier.consumed) / d.Seconds()
}

// mark records an epoch end at least gap after the last mark kept (so that the
// marks reach two spans back), dropping the oldest when full.
func (w *RecvWindow) mark(m rateMark, gap time.Duration) {
	if w.nmark > 0 && m.at.Sub(w.marks[w.nmark-1].at) < gap {
		return
	}
	if w.nmark == rateMarks {
		copy(w.marks[:], w.marks[1:])
		w.nmark--
	}
	w.marks[w.nmark] = m
	w.nmark++
}

// markBefore returns the newest mark at or before t.
func (w *RecvWindow) markBefore(t time.Time) (rateMark, bool) {
	for i := w.nmark - 1; i >= 0; i-- {
		if !w.marks[i].at.After(t) {
			return w.marks[i], true
		}
	}
	return rateMark{}, false
}

// Growth probing (see maybeGrow).
const (
	// probeGain is the rise in consumption rate a doubling must bring to stay:
	// a window-bound stream nearly doubles its rate, a stream bound elsewhere
	// does not move.
	probeGain = 1.25
	// probeHold is how long a window whose doubling did not pay waits before it
	// probes again (or 8 smoothed RTTs, when that is longer).
	probeHold = time.Second
	// rateRTTs is the shortest span, in smoothed RTTs, that rates are measured
	// over: a burst more or less in the span moves the rate by at most 1/4.
	rateRTTs = 4
	// rampGain and rampRTTs: at start, and after a doubling that raised the rate
	// rampGain times (clearly window-bound, as on a long fat link), the next
	// probe measures over rampRTTs only, so the window ramps in ~3 RTTs per
	// doubling instead of ~5; a 1/2 error from bursts cannot hide a 1.6x gain.
	rampGain = 1.6
	rampRTTs = 2
	// minRateSpan is the shortest span on short paths, where a few RTTs are a
	// few hundred microseconds and the rate swings with goroutine scheduling
	// (BenchmarkHOL saw chance "gains" grow a loopback window to 4 MiB).
	minRateSpan = 20 * time.Millisecond
	// rateMarks is how many epoch ends are kept for those spans, spaced so
	// that they reach two spans back.
	rateMarks = 16
)

// probeState tracks a window doubling until the rate after it is known.
type probeState uint8

const (
	probeIdle      probeState = iota
	probeSettling             // first epoch after a doubling: old-credit bytes still arrive
	probeMeasuring            // measuring the rate since probeStart, over rateRTTs RTTs
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
