package broadcast_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

// The fan-out scenario of issue 5: one topic, many subscribers on loopback
// WebSocket sessions, one line per interval. Every subscriber that reads gets
// every line in order; stalled subscribers (they read nothing until the
// publisher is done) are handled by the topic's policy; the publisher's
// Publish latency and the delivery latency (publish to Next) are measured.
//
// The default run is small. STREAMD_FANOUT_FULL=1 runs the full size (100
// sessions × 10 subscriptions = 1,000 subscribers, 1 line/ms for 10 s):
//
//	STREAMD_FANOUT_FULL=1 go test -run TestFanout -v -timeout 10m ./stream/broadcast
//	STREAMD_FANOUT_FULL=1 go test -run XXX -bench Fanout -benchtime 1x ./stream/broadcast
//
// STREAMD_FANOUT_SESSIONS and STREAMD_FANOUT_PER_SESSION change the shape
// (e.g. 1000 × 1), STREAMD_FANOUT_LINES the duration, STREAMD_FANOUT_COMPRESS
// the clients' compression (default zstd,gzip; "none").
type fanoutParams struct {
	sessions, perSession int           // subscribers = sessions × perSession
	stalled              int           // subscribers that do not read until the end
	lines                int           // lines published
	interval             time.Duration // between two lines
	lineSize             int           // bytes per line (≥ 16)
	queueBytes           int           // the topic's QueueBytes
	policy               broadcast.Policy
	sendBuffer           int // the server's stream.Config.SendBuffer (0: default)
	// pace > 0 makes the publisher wait, after every pace lines, until every
	// reading subscriber has received them (never for the stalled ones). The
	// default run, under the race detector on a shared 2-core machine, cannot
	// promise that readers keep up with a fixed rate; pacing keeps the check
	// that they lose nothing honest. The full run does not pace.
	pace int
	// stalledWindow > 0 puts each stalled subscriber on a session of its own
	// with this (fixed) stream window, in addition to the sessions × perSession
	// reading ones; 0 mixes them into the first sessions (one per session).
	stalledWindow int
	// compression is the clients' stream.Config.Compression (nil: default).
	compression []string
}

func (p fanoutParams) String() string {
	where := "mixed into the sessions"
	if p.stalledWindow > 0 {
		where = "on sessions of their own"
	}
	comp := "zstd,gzip"
	if p.compression != nil {
		comp = strings.Join(p.compression, ",")
	}
	return fmt.Sprintf("%d subscribers on %d sessions, %d of them stalled (%s); %d lines of %d B every %v; queue %d B, %v; compression %s",
		p.subscribers(), p.numSessions(), p.stalled, where, p.lines, p.lineSize, p.interval, p.queueBytes, p.policy, comp)
}

func (p fanoutParams) subscribers() int {
	if p.stalledWindow > 0 {
		return p.sessions*p.perSession + p.stalled
	}
	return p.sessions * p.perSession
}

func (p fanoutParams) numSessions() int {
	if p.stalledWindow > 0 {
		return p.sessions + p.stalled
	}
	return p.sessions
}

func smallFanout(policy broadcast.Policy) fanoutParams {
	// A stalled subscriber holds about 4 KiB (its window) + 8 KiB (send
	// buffer) + 64 KiB (queue): 700 lines of 200 B (149 KB) overflow it.
	return fanoutParams{sessions: 3, perSession: 4, stalled: 2, lines: 700, interval: time.Millisecond, lineSize: 200,
		queueBytes: 64 << 10, policy: policy, sendBuffer: 8 << 10, stalledWindow: 4 << 10, pace: 50}
}

func fullFanout(policy broadcast.Policy) fanoutParams {
	// Default stream windows and topic queue (1 MiB): a stalled subscriber
	// holds about 256 KiB (window) + 256 KiB (send buffer) + 1 MiB, less than
	// the 2.1 MB of 10,000 lines of 200 B; a reading one may lag 4,900 lines.
	p := fanoutParams{sessions: 100, perSession: 10, stalled: 10, lines: 10000, interval: time.Millisecond, lineSize: 200,
		queueBytes: broadcast.DefaultQueueBytes, policy: policy}
	if v, err := strconv.Atoi(os.Getenv("STREAMD_FANOUT_SESSIONS")); err == nil && v > 0 {
		p.sessions = v
	}
	if v, err := strconv.Atoi(os.Getenv("STREAMD_FANOUT_PER_SESSION")); err == nil && v > 0 {
		p.perSession = v
	}
	if v, err := strconv.Atoi(os.Getenv("STREAMD_FANOUT_LINES")); err == nil && v > 0 {
		p.lines = v
	}
	if v := os.Getenv("STREAMD_FANOUT_COMPRESS"); v != "" {
		p.compression = strings.Split(v, ",")
	}
	return p
}

func fanoutCases() []fanoutParams {
	if os.Getenv("STREAMD_FANOUT_FULL") != "" {
		return []fanoutParams{fullFanout(broadcast.DropOldest), fullFanout(broadcast.Disconnect)}
	}
	return []fanoutParams{smallFanout(broadcast.DropOldest), smallFanout(broadcast.Disconnect)}
}

type fanoutResult struct {
	publish, publishFirst, publishLast histogram // Publish call duration (all, first and last third)
	deliver                            histogram // publish → Next, over every reading subscriber
	elapsed                            time.Duration
	delivered                          uint64 // DATA records received by reading subscribers
	gaps, disconnects                  uint64
	cpu                                time.Duration // CPU time of the process (server and clients)
	problems                           []string      // broken guarantees
}

func (r *fanoutResult) report(tb testing.TB, p fanoutParams) {
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	tb.Logf("%v", p)
	tb.Logf("  published %d lines in %v (%.0f lines/s); delivered %d records (%.0f/s)", p.lines, r.elapsed.Round(time.Millisecond),
		float64(p.lines)/r.elapsed.Seconds(), r.delivered, float64(r.delivered)/r.elapsed.Seconds())
	tb.Logf("  publish latency p50 %s p99 %s max %s (first third p99 %s, last third p99 %s)",
		us(r.publish.quantile(0.5)), us(r.publish.quantile(0.99)), us(r.publish.max),
		us(r.publishFirst.quantile(0.99)), us(r.publishLast.quantile(0.99)))
	tb.Logf("  delivery latency p50 %s p99 %s max %s", ms(r.deliver.quantile(0.5)), ms(r.deliver.quantile(0.99)), ms(r.deliver.max))
	tb.Logf("  stalled subscribers: %d gap records, %d disconnected", r.gaps, r.disconnects)
	tb.Logf("  CPU %.1f s in %.1f s (%.2f cores; server and clients in one process)",
		r.cpu.Seconds(), r.elapsed.Seconds(), r.cpu.Seconds()/r.elapsed.Seconds())
	for i, p := range r.problems {
		if i == 10 {
			tb.Logf("  … %d more problems", len(r.problems)-i)
			break
		}
		tb.Logf("  PROBLEM: %s", p)
	}
}

func TestFanout(t *testing.T) {
	for _, p := range fanoutCases() {
		t.Run(p.policy.String(), func(t *testing.T) {
			r := runFanout(t, p)
			r.report(t, p)
			require.Empty(t, r.problems)
		})
	}
}

func BenchmarkFanout(b *testing.B) {
	for _, p := range fanoutCases() {
		b.Run(p.policy.String(), func(b *testing.B) {
			var r *fanoutResult
			for b.Loop() {
				r = runFanout(b, p)
			}
			r.report(b, p)
			require.Empty(b, r.problems)
			b.ReportMetric(float64(r.publish.quantile(0.99))/1e3, "publish-p99-µs")
			b.ReportMetric(float64(r.deliver.quantile(0.5))/1e6, "deliver-p50-ms")
			b.ReportMetric(float64(r.deliver.quantile(0.99))/1e6, "deliver-p99-ms")
		})
	}
}

// fanoutSub is one subscriber's outcome.
type fanoutSub struct {
	sub     *broadcast.Subscription
	stalled bool
	deliver histogram
	seqs    uint64        // DATA records received
	last    atomic.Uint64 // last DATA seq
	done    atomic.Bool   // read has returned
	gaps    uint64        // GAP records
	lost    uint64        // records the GAP records report
	err     error
}

func runFanout(tb testing.TB, p fanoutParams) *fanoutResult {
	b, err := broadcast.NewMemory(nil)
	require.NoError(tb, err)
	defer b.Close()
	topic, err := b.CreateTopic("fanout", &broadcast.TopicConfig{QueueBytes: p.queueBytes, Policy: p.policy,
		ReplayBytes: max(4<<20, 2*p.queueBytes)})
	require.NoError(tb, err)
	mux := stream.NewMux()
	b.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger(),
		Session: &stream.Config{SendBuffer: p.sendBuffer, MaxStreams: max(p.perSession, 1000)}})
	require.NoError(tb, err)
	hs := httptest.NewServer(srv)
	defer func() {
		shutdown(srv)
		hs.Close()
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dial := func(cfg *stream.Config) *stream.Session {
		sess, err := stream.Dial(ctx, url, &stream.DialOptions{Config: cfg})
		require.NoError(tb, err)
		return sess
	}
	var subs []*fanoutSub
	addSub := func(sess *stream.Session, stalled bool) {
		sub, err := broadcast.Subscribe(ctx, sess, "fanout", nil)
		require.NoError(tb, err)
		subs = append(subs, &fanoutSub{sub: sub, stalled: stalled})
	}
	for s := range p.sessions {
		sess := dial(&stream.Config{Logger: quietLogger(), Compression: p.compression})
		defer sess.Close()
		for i := range p.perSession {
			// Mixed in: a stalled stream must not hold up its session.
			addSub(sess, p.stalledWindow == 0 && i == 0 && s < p.stalled)
		}
	}
	if p.stalledWindow > 0 {
		w := p.stalledWindow
		for range p.stalled {
			sess := dial(&stream.Config{Logger: quietLogger(), Compression: p.compression, MaxFrame: w, StreamWindow: w, FixedWindow: true, MaxMessage: stream.DefaultMaxMessage})
			defer sess.Close()
			addSub(sess, true)
		}
	}
	stalledCount := 0
	for _, s := range subs {
		if s.stalled {
			stalledCount++
		}
	}
	require.Equal(tb, p.stalled, stalledCount, "one stalled subscriber per session at most")
	require.Equal(tb, p.subscribers(), len(subs))

	// Readers: the reading subscribers at once, the stalled ones once the
	// publisher is done.
	published := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() {
			if s.stalled {
				<-published
			}
			s.read(ctx)
		})
	}

	res := &fanoutResult{}
	cpu0 := processCPU()
	payload := make([]byte, p.lineSize)
	for i := 16; i < len(payload); i++ {
		payload[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	next := start
	for i := range p.lines {
		next = next.Add(p.interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		binary.BigEndian.PutUint64(payload, uint64(t0.UnixNano()))
		binary.BigEndian.PutUint64(payload[8:], uint64(i+1))
		_, err := topic.Publish(payload)
		d := time.Since(t0)
		require.NoError(tb, err)
		res.publish.add(d)
		if p.pace > 0 && (i+1)%p.pace == 0 {
			for _, s := range subs {
				for !s.stalled && s.last.Load() < uint64(i+1) && !s.done.Load() {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
		switch {
		case i < p.lines/3:
			res.publishFirst.add(d)
		case i >= p.lines-p.lines/3:
			res.publishLast.add(d)
		}
	}
	res.elapsed = time.Since(start)
	require.NoError(tb, topic.Close())
	close(published)
	wg.Wait()
	res.cpu = processCPU() - cpu0

	check := func(ok bool, format string, args ...any) {
		if !ok {
			res.problems = append(res.problems, fmt.Sprintf(format, args...))
		}
	}
	for i, s := range subs {
		if s.stalled {
			res.gaps += s.gaps
			switch p.policy {
			case broadcast.Disconnect:
				check(errors.Is(s.err, stream.ErrSlowConsumer), "stalled subscriber %d under Disconnect ended with %v", i, s.err)
				res.disconnects++
			case broadcast.DropOldest:
				check(s.err == nil, "stalled subscriber %d: %v", i, s.err)
				check(s.gaps > 0, "stalled subscriber %d lost nothing: the run is too small to overflow it", i)
				check(s.last.Load() == uint64(p.lines), "stalled subscriber %d did not get the newest record", i)
				check(s.seqs+s.lost == uint64(p.lines), "stalled subscriber %d: %d received + %d reported lost != %d", i, s.seqs, s.lost, p.lines)
			}
			continue
		}
		check(s.err == nil, "reading subscriber %d: %v", i, s.err)
		check(s.gaps == 0, "reading subscriber %d lost %d records (%d gaps)", i, s.lost, s.gaps)
		check(s.seqs+s.lost == uint64(p.lines), "reading subscriber %d got %d + lost %d of %d lines", i, s.seqs, s.lost, p.lines)
		res.deliver.merge(&s.deliver)
		res.delivered += s.seqs
	}
	check(topic.Stats().Published == uint64(p.lines), "published %d", topic.Stats().Published)
	if p.policy == broadcast.Disconnect {
		check(topic.Stats().Disconnects == uint64(p.stalled), "%d disconnects", topic.Stats().Disconnects)
	}
	return res
}

// read consumes the subscription to its end, checking order.
func (s *fanoutSub) read(ctx context.Context) {
	defer s.done.Store(true)
	defer s.sub.Close()
	for {
		r, err := s.sub.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return
		}
		switch r.Type {
		case broadcast.TypeData:
			now := time.Now()
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Data)))
			n := binary.BigEndian.Uint64(r.Data[8:])
			last := s.last.Load()
			if n != r.Seq || r.Seq <= last || (r.Seq != last+1 && s.gaps == 0) {
				s.err = fmt.Errorf("out of order: seq %d (line %d) after %d", r.Seq, n, last)
				return
			}
			s.last.Store(r.Seq)
			s.seqs++
			if !s.stalled {
				s.deliver.add(now.Sub(sent))
			}
		case broadcast.TypeGap:
			s.gaps++
			s.lost += r.Records
		}
	}
}

// histogram is a log-linear latency histogram: 16 buckets per power of two
// (about 6% resolution), constant memory.
type histogram struct {
	counts [1024]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < 32 {
		return int(v)
	}
	e := bits.Len64(v) - 5
	return e*16 + int(v>>e)
}

func bucketValue(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	e := i/16 - 1
	m := uint64(i - e*16)
	return m<<e + (uint64(1)<<e)/2
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketValue(i)), h.max)
		}
	}
	return h.max
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.99} {
		want := float64(q * 1000 * 1e3)
		got := float64(h.quantile(q))
		require.InEpsilon(t, want, got, 0.07, "q%v", q)
	}
	require.Equal(t, time.Millisecond, h.max)
	require.InEpsilon(t, float64(time.Millisecond), float64(h.quantile(1)), 0.07)
	prev := 0
	for v := range uint64(1 << 16) {
		i := bucketOf(v)
		require.GreaterOrEqual(t, i, prev, "buckets grow with the value")
		prev = i
		if v > 32 {
			require.InEpsilon(t, float64(v), float64(bucketValue(i)), 0.07, "value %d", v)
		}
	}
}

// BenchmarkPublish measures Publish alone (no network) with many feeds: idle
// ones (subscribed, not reading: no per-subscriber work under DropOldest, one
// comparison each under Disconnect) and reading ones (each woken per record).
func BenchmarkPublish(b *testing.B) {
	for _, policy := range []broadcast.Policy{broadcast.DropOldest, broadcast.Disconnect} {
		for _, readers := range []bool{false, true} {
			for _, n := range []int{0, 100, 1000} {
				if readers && n == 0 {
					continue
				}
				mode := "idle"
				if readers {
					mode = "reading"
				}
				b.Run(fmt.Sprintf("%v/%s/%d", policy, mode, n), func(b *testing.B) {
					benchmarkPublish(b, policy, n, readers)
				})
			}
		}
	}
}

func benchmarkPublish(b *testing.B, policy broadcast.Policy, n int, readers bool) {
	br, err := broadcast.NewMemory(nil)
	require.NoError(b, err)
	defer br.Close()
	// A queue large enough that idle feeds are not cut off during the run.
	topic, err := br.CreateTopic("bench", &broadcast.TopicConfig{Policy: policy, QueueBytes: 1 << 30, ReplayBytes: 1 << 30, ReplayRecords: 1 << 20})
	require.NoError(b, err)
	var wg sync.WaitGroup
	for range n {
		f, err := topic.Subscribe(context.Background(), broadcast.Start{})
		require.NoError(b, err)
		defer f.Close()
		if readers {
			wg.Go(func() {
				var recs []broadcast.Record
				for {
					var err error
					if recs, err = f.Next(context.Background(), recs[:0]); err != nil {
						return
					}
				}
			})
		}
	}
	data := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := topic.Publish(data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	topic.Close()
	wg.Wait()
}
