package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

var (
	metricAggLines  = Metric{Key: "aggregate_lines_per_s", Label: "delivered, all subscribers", Unit: "lines/s", HigherIsBetter: true, Chart: true}
	metricPubLines  = Metric{Key: "published_lines_per_s", Label: "published", Unit: "lines/s", HigherIsBetter: true, Chart: true}
	metricMedLines  = Metric{Key: "median_sub_lines_per_s", Label: "per subscriber (median)", Unit: "lines/s", HigherIsBetter: true}
	metricMinLines  = Metric{Key: "slowest_sub_lines_per_s", Label: "slowest subscriber", Unit: "lines/s", HigherIsBetter: true}
	metricDropped   = Metric{Key: "dropped_pct", Label: "dropped", Unit: "%", HigherIsBetter: false}
	metricPublishUs = Metric{Key: "publish_p99_us", Label: "publish call p99", Unit: "µs", HigherIsBetter: false, Chart: true}
)

// Contenders of the fanout scenario.
const (
	fanoutWebSocket = "websocket"
	fanoutStreamd   = "streamd"
)

// fanoutTopic is the topic's name.
const fanoutTopic = "fanout"

// fanoutDialers is how many subscribers connect at once while a measurement
// is set up.
const fanoutDialers = 16

// maxFanoutLine is the longest line the scenario publishes: a topic's
// default MaxRecord.
const maxFanoutLine = broadcast.DefaultMaxRecord

// fanoutTimeout bounds a measurement's setup and its teardown.
const fanoutTimeout = 2 * time.Minute

func runFanout(ctx context.Context, r *runner) (*ScenarioResult, error) {
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("One publisher on the server publishes %d-byte log lines as fast as it can; N "+
			"subscribers, each on a session of its own over loopback WebSocket, follow the topic from the live "+
			"end. Lines delivered to each subscriber are counted over a %v window after %v of warm-up; the "+
			"aggregate is their sum. A subscriber that falls more than %s behind loses lines: its oldest "+
			"(streamd, drop-oldest) or the newest (the baseline); dropped is the share of the lines delivered "+
			"or dropped in the window that were dropped (streamd: counted by the GAP records the subscribers "+
			"get; the baseline: counted at the server). Publish call p99 times every call in the window.",
			p.FanoutLineSize, p.Measure, p.Warmup, sizeLabel(broadcast.DefaultQueueBytes)),
		Baseline: fanoutWebSocket,
		Primary:  metricAggLines.Key,
		Metrics:  []Metric{metricAggLines, metricPubLines, metricMedLines, metricMinLines, metricDropped, metricPublishUs},
		Contenders: []ContenderInfo{
			{Name: fanoutWebSocket, Description: fmt.Sprintf("the hand-written alternative, as in gorilla/websocket's "+
				"chat example: N raw WebSocket connections, each with a buffered channel of %d lines (the same %s "+
				"of lag as a streamd subscriber's queue) drained by one writer goroutine sending one WebSocket "+
				"message per line; publishing copies the line once and offers it to every channel without "+
				"waiting, and a full channel drops it (the newest line, counted at the server)",
				fanoutQueueLines(p.FanoutLineSize), sizeLabel(broadcast.DefaultQueueBytes))},
			{Name: fanoutStreamd, Description: "stream/broadcast: a broadcast.Memory topic (default config: " +
				"drop-oldest, 1 MiB queue per subscriber, 10,000-line replay ring) served on a streamd server; " +
				"each subscriber is broadcast.Subscribe on its own session (default config, no compression)"},
		},
		Notes: []string{
			"The publisher, the server and every subscriber run in this process and share its cores: a " +
				"publisher at full speed takes one of them, so the subscribers cannot keep up and drop lines by " +
				"design; what matters is how many lines reach them and how cheap publishing stays.",
		},
	}
	lines := fanoutLines(p.FanoutLineSize)
	col := newCollector()
	for _, n := range p.FanoutSubscribers {
		caseName := fmt.Sprintf("%d subscribers", n)
		if n == 1 {
			caseName = "1 subscriber"
		}
		for rep := 1; rep <= p.Repeat; rep++ {
			for _, name := range []string{fanoutWebSocket, fanoutStreamd} {
				m, err := fanoutOnce(ctx, name, n, lines, p.Warmup, p.Measure)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(caseName, name, err)
					r.logf("fanout %-15s %-10s rep %d/%d: error: %v", caseName, name, rep, p.Repeat, err)
					continue
				}
				col.add(caseName, name, metricAggLines.Key, m.aggregate)
				col.add(caseName, name, metricPubLines.Key, m.published)
				col.add(caseName, name, metricMedLines.Key, m.median)
				col.add(caseName, name, metricMinLines.Key, m.slowest)
				col.add(caseName, name, metricDropped.Key, m.droppedPct)
				col.add(caseName, name, metricPublishUs.Key, m.publishP99.Seconds()*1e6)
				r.logf("fanout %-15s %-10s rep %d/%d: published %9.0f/s  delivered %10.0f/s (median %8.0f, slowest %8.0f)  dropped %5.1f%%  publish p99 %6.2f µs",
					caseName, name, rep, p.Repeat, m.published, m.aggregate, m.median, m.slowest, m.droppedPct,
					m.publishP99.Seconds()*1e6)
			}
		}
	}
	return finish(col, res)
}

// fanoutQueueLines is the depth of the baseline's queues: the lines that
// fit in a streamd subscriber's default queue (encoded as DATA records), so
// that both let a subscriber lag by the same amount before dropping.
func fanoutQueueLines(lineSize int) int {
	return max(1, broadcast.DefaultQueueBytes/(lineSize+broadcast.DataOverhead))
}

// fanoutLines returns 256 distinct log lines of exactly size bytes.
func fanoutLines(size int) [][]byte {
	src := JSONLines(256*size+1024, 11)
	out := make([][]byte, 256)
	for i := range out {
		line := make([]byte, size)
		copy(line, src[i*size:])
		for j := range line {
			if line[j] == '\n' {
				line[j] = ' '
			}
		}
		out[i] = line
	}
	return out
}

// subCounter is one subscriber's tally, written by one goroutine, read by
// the publisher; padded so that subscribers do not share a cache line.
type subCounter struct {
	delivered atomic.Int64 // lines received
	dropped   atomic.Int64 // lines it lost
	_         [48]byte
}

// fanoutSystem is a running publisher/subscribers setup of one contender.
type fanoutSystem interface {
	// publish publishes one line to every subscriber; it must not wait for them.
	publish(line []byte) error
	// failed is closed when a subscriber failed; err then says why.
	failed() <-chan struct{}
	err() error
	// close tears everything down and waits for its goroutines.
	close() error
}

// fanoutResult is one measurement; rates are per second of the window.
type fanoutResult struct {
	published, aggregate, median, slowest float64
	droppedPct                            float64
	publishP99                            time.Duration
}

func fanoutOnce(ctx context.Context, contender string, n int, lines [][]byte, warmup, measure time.Duration) (res fanoutResult, err error) {
	setupCtx, cancel := context.WithTimeout(ctx, fanoutTimeout)
	defer cancel()
	subs := make([]subCounter, n)
	var sys fanoutSystem
	switch contender {
	case fanoutWebSocket:
		sys, err = startWSFanout(setupCtx, subs, len(lines[0]))
	case fanoutStreamd:
		sys, err = startStreamdFanout(setupCtx, subs)
	default:
		err = fmt.Errorf("%w: no fanout contender %q", ErrNoContenders, contender)
	}
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.close()) }()
	return publishFor(ctx, sys, subs, lines, warmup, measure)
}

// publishFor publishes lines back to back for warmup+measure. The publisher
// itself opens and closes the measuring window (it reads the clock after
// every call anyway), snapshotting the subscribers' counters at both ends.
func publishFor(ctx context.Context, sys fanoutSystem, subs []subCounter, lines [][]byte, warmup, measure time.Duration) (fanoutResult, error) {
	var (
		hist      latencyHist
		published int64
		before    []int64
		beforeDr  int64
		opened    time.Time
		measuring bool
	)
	snapshot := func() ([]int64, int64) {
		got := make([]int64, len(subs))
		var dropped int64
		for i := range subs {
			got[i] = subs[i].delivered.Load()
			dropped += subs[i].dropped.Load()
		}
		return got, dropped
	}
	t := time.Now()
	open, end := t.Add(warmup), t.Add(warmup+measure)
	for i := 0; ; i++ {
		// t is when the previous call returned; the work between two calls
		// (these checks, the snapshot) is not timed as part of a call.
		if i%1024 == 0 {
			select {
			case <-sys.failed():
				return fanoutResult{}, sys.err()
			case <-ctx.Done():
				return fanoutResult{}, ctx.Err()
			default:
			}
			t = time.Now()
		}
		if !measuring && !t.Before(open) {
			before, beforeDr = snapshot()
			t = time.Now()
			measuring, opened = true, t
		}
		if !t.Before(end) {
			break
		}
		if err := sys.publish(lines[i%len(lines)]); err != nil {
			return fanoutResult{}, fmt.Errorf("publish: %w", err)
		}
		now := time.Now()
		if measuring {
			hist.record(now.Sub(t))
			published++
		}
		t = now
	}
	after, afterDr := snapshot()
	secs := t.Sub(opened).Seconds()
	rates := make([]float64, len(subs))
	var delivered int64
	for i := range subs {
		d := after[i] - before[i]
		delivered += d
		rates[i] = float64(d) / secs
	}
	slices.Sort(rates)
	dropped := afterDr - beforeDr
	res := fanoutResult{
		published:  float64(published) / secs,
		aggregate:  float64(delivered) / secs,
		median:     rates[len(rates)/2],
		slowest:    rates[0],
		droppedPct: nanValue,
		publishP99: hist.quantile(0.99),
	}
	if len(rates)%2 == 0 {
		res.median = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
	}
	if delivered+dropped > 0 {
		res.droppedPct = 100 * float64(dropped) / float64(delivered+dropped)
	}
	return res, nil
}

// subFailure records the first failure of a subscriber that happened before
// the teardown began.
type subFailure struct {
	stopping atomic.Bool
	once     sync.Once
	ch       chan struct{}
	first    error
}

func newSubFailure() *subFailure { return &subFailure{ch: make(chan struct{})} }

func (f *subFailure) fail(err error) {
	if f.stopping.Load() {
		return
	}
	f.once.Do(func() {
		f.first = err
		close(f.ch)
	})
}

func (f *subFailure) failed() <-chan struct{} { return f.ch }

func (f *subFailure) err() error {
	select {
	case <-f.ch:
		return f.first
	default:
		return nil
	}
}

// streamdFanout is the streamd side: a broadcast.Memory topic on a streamd
// server, each subscriber a broadcast.Subscription on its own session.
type streamdFanout struct {
	*subFailure
	broker   *broadcast.Memory
	topic    *broadcast.Topic
	srv      *streamdServer
	sessions []*stream.Session
	cancel   context.CancelFunc
	readers  sync.WaitGroup
}

func startStreamdFanout(ctx context.Context, subs []subCounter) (_ fanoutSystem, err error) {
	broker, err := broadcast.NewMemory(nil)
	if err != nil {
		return nil, err
	}
	topic, err := broker.CreateTopic(fanoutTopic, nil)
	if err != nil {
		_ = broker.Close()
		return nil, err
	}
	mux := stream.NewMux()
	broker.Register(mux)
	srv, err := startStreamdServer(mux)
	if err != nil {
		_ = broker.Close()
		return nil, err
	}
	readCtx, cancel := context.WithCancel(context.Background())
	f := &streamdFanout{subFailure: newSubFailure(), broker: broker, topic: topic, srv: srv,
		sessions: make([]*stream.Session, len(subs)), cancel: cancel}
	defer func() {
		if err != nil {
			_ = f.close()
		}
	}()
	subscriptions := make([]*broadcast.Subscription, len(subs))
	err = forEachParallel(len(subs), fanoutDialers, func(i int) error {
		sess, err := srv.dial(ctx)
		if err != nil {
			return fmt.Errorf("subscriber %d: dial: %w", i, err)
		}
		f.sessions[i] = sess
		sub, err := broadcast.Subscribe(ctx, sess, fanoutTopic, nil)
		if err != nil {
			return fmt.Errorf("subscriber %d: subscribe: %w", i, err)
		}
		subscriptions[i] = sub
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, func() bool { return topic.Stats().Subscribers == len(subs) }); err != nil {
		return nil, fmt.Errorf("topic has %d of %d subscribers: %w", topic.Stats().Subscribers, len(subs), err)
	}
	for i, sub := range subscriptions {
		f.readers.Add(1)
		go func() {
			defer f.readers.Done()
			defer sub.Close()
			for {
				rec, err := sub.Next(readCtx)
				if err != nil {
					f.fail(fmt.Errorf("subscriber %d: %w", i, err))
					return
				}
				switch rec.Type {
				case broadcast.TypeData:
					subs[i].delivered.Add(1)
				case broadcast.TypeGap:
					subs[i].dropped.Add(int64(rec.Records))
				}
			}
		}()
	}
	return f, nil
}

func (f *streamdFanout) publish(line []byte) error {
	_, err := f.topic.Publish(line)
	return err
}

func (f *streamdFanout) close() error {
	f.stopping.Store(true)
	f.cancel()
	var errs []error
	for _, s := range f.sessions {
		if s != nil {
			errs = append(errs, ignoreClosed(s.Close()))
		}
	}
	if !waitTimeout(&f.readers, stopTimeout) {
		errs = append(errs, fmt.Errorf("subscribers did not stop within %v", stopTimeout))
	}
	errs = append(errs, f.srv.close(), f.broker.Close())
	return errors.Join(errs...)
}

// forEachParallel runs fn(0) … fn(n-1) on up to workers goroutines and
// returns the first error; after an error no new calls start.
func forEachParallel(n, workers int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// waitFor polls cond every millisecond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// latencyHist is a log-linear histogram of durations: 16 buckets per power
// of two (about 6 % wide), constant memory however many calls it times. It
// is used by one goroutine.
type latencyHist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 4
	histBuckets = (64 - histSubBits + 1) << histSubBits
)

// histIndex maps v to its bucket: values below 16 have one bucket each;
// above, the bucket keeps the top five bits of v.
func histIndex(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return shift<<histSubBits + int(v>>shift)
}

// histUpper is the largest value of bucket i.
func histUpper(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	mantissa := uint64(i&(1<<histSubBits-1) | 1<<histSubBits)
	return (mantissa+1)<<shift - 1
}

func (h *latencyHist) record(d time.Duration) {
	d = max(d, 0)
	h.counts[histIndex(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (nearest rank), at most the largest value recorded; 0 when empty.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(max(1, math.Ceil(q*float64(h.n)-1e-9)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i)), h.max)
		}
	}
	return h.max
}
