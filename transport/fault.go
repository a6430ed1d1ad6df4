package transport

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Direction tells which way a message passes through a Conn from WithFaults.
type Direction int

const (
	// Outbound is a message written by this end.
	Outbound Direction = iota + 1
	// Inbound is a message read by this end.
	Inbound
)

// String returns "outbound" or "inbound".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Defaults of FaultConfig.
const (
	// DefaultFaultBurst is the default FaultConfig.Burst: 64 KiB.
	DefaultFaultBurst = 64 << 10
	// minFaultInFlight is the floor of the default FaultConfig.MaxInFlightBytes: 4 MiB.
	minFaultInFlight = 4 << 20
	// faultFlushGrace is how long Close waits, beyond Latency, for queued messages to be
	// delivered before it drops them.
	faultFlushGrace = 500 * time.Millisecond
	// maxFaultFlushLatency caps the Latency part of Close's wait (in real time, whatever the
	// Clock), so a fake clock with a huge Latency cannot stall Close.
	maxFaultFlushLatency = 10 * time.Second
	// delayedMessageOverhead is charged per queued message so that empty messages count too.
	delayedMessageOverhead = 64
)

// FaultConfig says which faults WithFaults injects. The zero value injects none. Latency and
// BytesPerSecond shape the writes of the wrapped end; wrap both ends to shape both directions.
type FaultConfig struct {
	// Latency is the one-way delay added to each written message. Messages stay in order and
	// WriteMessage does not sleep for it: a delivery queue holds each message until it is due,
	// so throughput is bounded by BytesPerSecond and MaxInFlightBytes, as on a real link.
	Latency time.Duration
	// BytesPerSecond caps the write bandwidth (a token bucket of Burst bytes); 0 = unlimited.
	BytesPerSecond int64
	// Burst is how many bytes the writer may run ahead of BytesPerSecond. Default 64 KiB.
	Burst int64
	// MaxInFlightBytes bounds the bytes held in the latency queue (each message is charged
	// its size plus 64); WriteMessage blocks while it is full. Default: the larger of 4 MiB and
	// 2 × BytesPerSecond × Latency.
	MaxInFlightBytes int64
	// CutAfterBytes cuts the connection, in both directions, at this many bytes written and
	// read in total: messages go through while the running total stays within it; the first
	// message that would exceed it is not transferred and the conn fails with ErrInjectedCut.
	// Messages still in the latency queue are lost, as on a real link. 0 = never.
	CutAfterBytes int64
	// CutAfterMessages cuts the connection in the same way once this many messages have been
	// written and read in total. 0 = never.
	CutAfterMessages int64
	// OnMessage, when set, is called for each message before it is transferred, with its
	// direction, its index (counted over both directions from 0) and its size; a non-nil
	// return cuts the connection with that error. It runs under the conn's accounting lock:
	// keep it short and do not call the Conn from it.
	OnMessage func(d Direction, index int64, size int) error
	// Clock is the time source for Latency and BytesPerSecond. Default SystemClock.
	Clock Clock
}

// Validate reports a negative field as an error matching ErrInvalidConfig.
func (c FaultConfig) Validate() error {
	fields := []struct {
		name  string
		value int64
	}{
		{"Latency", int64(c.Latency)},
		{"BytesPerSecond", c.BytesPerSecond},
		{"Burst", c.Burst},
		{"MaxInFlightBytes", c.MaxInFlightBytes},
		{"CutAfterBytes", c.CutAfterBytes},
		{"CutAfterMessages", c.CutAfterMessages},
	}
	for _, f := range fields {
		if f.value < 0 {
			return fmt.Errorf("%w: FaultConfig.%s is negative (%d)", ErrInvalidConfig, f.name, f.value)
		}
	}
	return nil
}

func (c FaultConfig) withDefaults() FaultConfig {
	if c.Burst == 0 {
		c.Burst = DefaultFaultBurst
	}
	if c.MaxInFlightBytes == 0 {
		bdp := int64(float64(c.BytesPerSecond) * c.Latency.Seconds())
		c.MaxInFlightBytes = max(minFaultInFlight, 2*bdp)
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

// WithFaults wraps c to inject the faults of cfg; see FaultConfig. The result follows the
// Conn contract and owns c: closing it closes c. With a Latency it runs one delivery
// goroutine, which Close stops after delivering what was written (waiting at most Latency,
// capped at 10 s, + 500 ms), so always Close it. WithFaults panics if cfg.Validate fails:
// that is a bug in the caller.
func WithFaults(c Conn, cfg FaultConfig) Conn {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	f := &faultConn{
		inner:      c,
		cfg:        cfg,
		clock:      cfg.Clock,
		burst:      transmitTime(cfg.Burst, cfg.BytesPerSecond),
		stopping:   make(chan struct{}),
		aborted:    make(chan struct{}),
		shaper:     linkShaper{bytesPerSecond: cfg.BytesPerSecond, latency: cfg.Latency},
		maxMessage: MaxMessageSize(c),
	}
	if cfg.Latency > 0 {
		f.queue = newDelayQueue(cfg.MaxInFlightBytes)
		f.delivered = make(chan struct{})
		go f.deliver()
	}
	if lc := Lanes(c); lc != nil && cfg.Latency == 0 && cfg.BytesPerSecond == 0 {
		// Lanes pass through, counted for the cuts (shaping would need a queue per lane).
		return &faultLaneConn{faultConn: f, lanes: lc}
	}
	return f
}

// faultLaneConn is the Conn WithFaults returns for a LaneConn without shaping: lane
// messages count toward the cut limits like any other.
type faultLaneConn struct {
	*faultConn
	lanes LaneConn
}

func (f *faultLaneConn) StartLanes() error { return f.lanes.StartLanes() }

func (f *faultLaneConn) WriteLane(id uint32, parts ...[]byte) error {
	if err := f.admit(Outbound, MessageSize(parts)); err != nil {
		return err
	}
	if err := f.lanes.WriteLane(id, parts...); err != nil {
		return f.fail(err)
	}
	return nil
}

func (f *faultLaneConn) EndLane(id uint32) { f.lanes.EndLane(id) }

// faultConn is the Conn returned by WithFaults.
type faultConn struct {
	inner Conn
	cfg   FaultConfig
	clock Clock
	burst time.Duration // cfg.Burst as time at cfg.BytesPerSecond

	maxMessage int // the inner conn's limit, 0 if unknown

	mu       sync.Mutex
	err      error // why the conn shut down (ErrClosed, a cut, an inner error); nil while open
	total    int64 // bytes transferred, both directions
	messages int64 // messages transferred, both directions

	stopping  chan struct{} // closed on Close or failure: ends the writer's waits
	aborted   chan struct{} // closed on failure or a failed flush: ends delivery
	stopOnce  sync.Once
	abortOnce sync.Once

	shaper    linkShaper    // owned by the writer goroutine
	queue     *delayQueue   // nil without Latency
	delivered chan struct{} // closed when the delivery goroutine exits; nil without Latency
}

func (f *faultConn) ReadMessage() ([]byte, error) {
	if err := f.shutdownErr(); err != nil {
		return nil, err
	}
	msg, err := f.inner.ReadMessage()
	if err != nil {
		return nil, f.fail(err)
	}
	if err := f.admit(Inbound, len(msg)); err != nil {
		return nil, err
	}
	return msg, nil
}

func (f *faultConn) WriteMessage(parts ...[]byte) error {
	n := MessageSize(parts)
	if f.maxMessage > 0 && n > f.maxMessage {
		// Checked here because with a Latency the inner conn would see the message too late.
		return f.fail(TooLarge(int64(n), int64(f.maxMessage)))
	}
	if err := f.admit(Outbound, n); err != nil {
		return err
	}
	var arrive time.Time
	if f.cfg.BytesPerSecond > 0 {
		// Token bucket: book the bytes on the link model, then wait until the writer is at
		// most Burst ahead of the link.
		now := f.clock.Now()
		var sent time.Time
		sent, arrive = f.shaper.schedule(now, n)
		if wait := sent.Sub(now) - f.burst; wait > 0 && !f.clock.Sleep(wait, f.stopping) {
			return f.shutdownErr()
		}
	}
	if f.queue == nil {
		if err := f.inner.WriteMessage(parts...); err != nil {
			return f.fail(err)
		}
		return nil
	}
	if !f.queue.reserve(n) {
		return f.shutdownErr()
	}
	// Nothing arrives sooner than Latency after it was handed over (reserve may have waited).
	if earliest := f.clock.Now().Add(f.cfg.Latency); arrive.Before(earliest) {
		arrive = earliest
	}
	if !f.queue.push(arrive, parts, n) {
		return f.shutdownErr()
	}
	return nil
}

// deliver writes queued messages to the inner conn when they are due, in order.
func (f *faultConn) deliver() {
	defer close(f.delivered)
	for {
		m, ok := f.queue.next()
		if !ok {
			return
		}
		if wait := m.due.Sub(f.clock.Now()); wait > 0 && !f.clock.Sleep(wait, f.aborted) {
			return
		}
		err := f.inner.WriteMessage(m.buf)
		f.queue.done()
		if err != nil {
			f.fail(err)
			return
		}
	}
}

// admit accounts one message and cuts the conn when a limit or the hook says so.
func (f *faultConn) admit(d Direction, n int) error {
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return f.shutdownErr()
	}
	var cut error
	switch {
	case f.cfg.CutAfterBytes > 0 && f.total+int64(n) > f.cfg.CutAfterBytes:
		cut = &cutError{fmt.Sprintf("after %d bytes (next: %s message of %d bytes)", f.total, d, n)}
	case f.cfg.CutAfterMessages > 0 && f.messages >= f.cfg.CutAfterMessages:
		cut = &cutError{fmt.Sprintf("after %d messages", f.messages)}
	case f.cfg.OnMessage != nil:
		cut = f.cfg.OnMessage(d, f.messages, n)
	}
	if cut == nil {
		f.total += int64(n)
		f.messages++
	}
	f.mu.Unlock()
	if cut != nil {
		return f.fail(cut)
	}
	return nil
}

// fail shuts the conn down because of err, unless it is down already, and returns the error
// to report for the operation that hit err.
func (f *faultConn) fail(err error) error {
	f.mu.Lock()
	first := f.err == nil
	if first {
		f.err = err
	}
	f.mu.Unlock()
	f.stop()
	f.abort()
	f.inner.Close()
	if first {
		return err
	}
	return f.shutdownErr()
}

// shutdownErr is the error for operations on a conn that is down: the cause itself when it
// matches ErrClosed (a close, a peer close, a cut), otherwise ErrClosed naming the cause.
func (f *faultConn) shutdownErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || errors.Is(f.err, ErrClosed) {
		return f.err
	}
	return fmt.Errorf("%w (after: %v)", ErrClosed, f.err)
}

func (f *faultConn) stop() {
	f.stopOnce.Do(func() {
		close(f.stopping)
		if f.queue != nil {
			f.queue.close()
		}
	})
}

func (f *faultConn) abort() {
	f.abortOnce.Do(func() {
		close(f.aborted)
		if f.queue != nil {
			f.queue.abort()
		}
	})
}

// Close stops writes at once, lets the messages already written arrive (waiting at most
// Latency, capped at 10 s, + 500 ms of real time), then closes the inner conn.
func (f *faultConn) Close() error {
	f.mu.Lock()
	if f.err == nil {
		f.err = ErrClosed
	}
	f.mu.Unlock()
	f.stop()
	if f.queue != nil {
		grace := time.NewTimer(min(f.cfg.Latency, maxFaultFlushLatency) + faultFlushGrace)
		select {
		case <-f.delivered:
		case <-grace.C:
		}
		grace.Stop()
		f.abort()
		f.inner.Close() // unblocks a delivery stuck in a full inner conn
		<-f.delivered
	}
	f.abort()
	return f.inner.Close()
}

// MaxMessageSize returns the inner conn's limit (0 if unknown).
func (f *faultConn) MaxMessageSize() int { return f.maxMessage }

func (f *faultConn) LocalAddr() net.Addr  { return f.inner.LocalAddr() }
func (f *faultConn) RemoteAddr() net.Addr { return f.inner.RemoteAddr() }

// cutError is the error of a conn cut by CutAfterBytes or CutAfterMessages. It matches both
// ErrInjectedCut and ErrClosed.
type cutError struct{ detail string }

func (e *cutError) Error() string { return ErrInjectedCut.Error() + " " + e.detail }

// Is matches ErrInjectedCut and ErrClosed.
func (e *cutError) Is(target error) bool { return target == ErrInjectedCut || target == ErrClosed }

// delayedMessage is a copy of a written message waiting for its arrival time.
type delayedMessage struct {
	due time.Time
	buf []byte
}

// delayQueue is the bounded FIFO between a faultConn's writer and its delivery goroutine.
type delayQueue struct {
	mu       sync.Mutex
	changed  sync.Cond // broadcast on push, done, close and abort
	msgs     fifo[delayedMessage]
	bytes    int64 // charged bytes queued
	maxBytes int64
	closed   bool // no more pushes; next drains, then reports false
	aborted  bool // drop everything; next reports false at once
	stash    bufferStash
}

func newDelayQueue(maxBytes int64) *delayQueue {
	q := &delayQueue{maxBytes: maxBytes, stash: bufferStash{maxBytes: 4 << 20}}
	q.changed.L = &q.mu
	return q
}

func charge(n int) int64 { return int64(n) + delayedMessageOverhead }

// reserve waits until a message of n bytes fits (an empty queue takes any message); it
// reports false if the queue was closed meanwhile.
func (q *delayQueue) reserve(n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && !q.aborted && q.bytes > 0 && q.bytes+charge(n) > q.maxBytes {
		q.changed.Wait()
	}
	return !q.closed && !q.aborted
}

// push copies parts into the queue after a successful reserve; only the delivery goroutine
// changes the queue in between, and it only shrinks it.
func (q *delayQueue) push(due time.Time, parts [][]byte, n int) bool {
	q.mu.Lock()
	buf := q.stash.get(n)
	q.mu.Unlock()
	off := 0
	for _, p := range parts {
		off += copy(buf[off:], p)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.aborted {
		return false
	}
	q.msgs.push(delayedMessage{due: due, buf: buf})
	q.bytes += charge(n)
	q.changed.Broadcast()
	return true
}

// next waits for the oldest message and returns it without removing it; it reports false when
// the queue is aborted, or closed and drained.
func (q *delayQueue) next() (delayedMessage, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.msgs.len() == 0 && !q.closed && !q.aborted {
		q.changed.Wait()
	}
	if q.aborted || q.msgs.len() == 0 {
		return delayedMessage{}, false
	}
	return *q.msgs.front(), true
}

// done removes the message returned by next, once delivered.
func (q *delayQueue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.msgs.len() == 0 { // aborted meanwhile
		return
	}
	m := q.msgs.pop()
	q.bytes -= charge(len(m.buf))
	q.stash.put(m.buf)
	q.changed.Broadcast()
}

func (q *delayQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.changed.Broadcast()
	q.mu.Unlock()
}

func (q *delayQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.msgs.clear()
	q.bytes = 0
	q.changed.Broadcast()
	q.mu.Unlock()
}
