package flowctl_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

const mib = 1 << 20

// tuneRig is one auto-tuning window with a fake clock and an RTT estimate of rtt.
type tuneRig struct {
	w   *flowctl.RecvWindow
	clk *flowctl.FakeClock
	rtt *flowctl.RTTStats
}

func newTuneRig(cfg flowctl.RecvConfig, rtt time.Duration) *tuneRig {
	r := &tuneRig{clk: flowctl.NewFakeClock(time.Unix(1_700_000_000, 0)), rtt: &flowctl.RTTStats{}}
	r.rtt.AddSample(rtt)
	cfg.Clock, cfg.RTT = r.clk, r.rtt
	r.w = flowctl.NewRecvWindow(cfg)
	return r
}

// link describes the path in a simulation: the link serializes frames at
// Rate bytes/s and delivers each OneWay later; CREDIT frames take OneWay back;
// the application reads at ReadRate bytes/s (0: as fast as data arrives).
type link struct {
	Rate     float64
	OneWay   time.Duration
	ReadRate float64
}

// simStats is what a simulation run saw.
type simStats struct {
	rate    float64 // bytes consumed per second of simulated time
	maxSize uint64  // largest window size seen
}

// sim runs a sender that uses all the credit it has, in 16 KiB frames, over l
// until total more bytes were consumed, in simulated time on the rig's clock.
// On every step it checks that credit is never revoked, the window never
// passes maxSize, and the peer never sees a flow-control error.
func (r *tuneRig) sim(t *testing.T, l link, total, maxSize uint64) simStats {
	t.Helper()
	const frame = 16 * kib
	type arrival struct {
		at time.Time
		n  uint64
	}
	w := r.w
	now := r.clk.Now()
	start, startConsumed := now, w.Consumed()
	end := startConsumed + total
	senderLimit, sent := w.Limit(), w.Received()
	linkFree, readFree := now, now
	var frames, credits []arrival
	st := simStats{maxSize: w.Size()}
	far := now.Add(24 * time.Hour)
	dur := func(n uint64, rate float64) time.Duration {
		return time.Duration(float64(n) / rate * float64(time.Second))
	}
	for steps := 0; w.Consumed() < end; steps++ {
		if steps > 10_000_000 {
			t.Fatal("no progress")
		}
		next := far
		if sent < senderLimit {
			next = later(now, linkFree)
		}
		if len(frames) > 0 && frames[0].at.Before(next) {
			next = frames[0].at
		}
		if len(credits) > 0 && credits[0].at.Before(next) {
			next = credits[0].at
		}
		if w.Buffered() > 0 && l.ReadRate > 0 && later(now, readFree).Before(next) {
			next = later(now, readFree)
		}
		require.True(t, next.Before(far), "deadlock: sent %d, sender limit %d, window %+v", sent, senderLimit, w)
		r.clk.Advance(next.Sub(now))
		now = next
		for len(credits) > 0 && !credits[0].at.After(now) {
			senderLimit = max(senderLimit, credits[0].n)
			credits = credits[1:]
		}
		if sent < senderLimit && !linkFree.After(now) {
			n := min(frame, senderLimit-sent)
			linkFree = now.Add(dur(n, l.Rate))
			frames = append(frames, arrival{linkFree.Add(l.OneWay), n})
			sent += n
		}
		for len(frames) > 0 && !frames[0].at.After(now) {
			if err := w.OnData(w.Received(), frames[0].n); err != nil {
				t.Fatal(err)
			}
			frames = frames[1:]
		}
		read := uint64(0)
		switch {
		case l.ReadRate == 0:
			read = w.Buffered()
		case w.Buffered() > 0 && !readFree.After(now):
			read = min(frame, w.Buffered())
			readFree = now.Add(dur(read, l.ReadRate))
		}
		if read > 0 {
			w.OnConsume(min(read, end-w.Consumed()))
			prev := w.Limit()
			if limit, ok := w.PendingGrant(); ok {
				if limit <= prev {
					t.Fatalf("grant %d not above %d", limit, prev)
				}
				credits = append(credits, arrival{now.Add(l.OneWay), limit})
			}
		}
		if w.Limit() < senderLimit || w.Size() > maxSize || w.Received() > w.Limit() {
			t.Fatalf("credit revoked or window past %d: sender limit %d, window %+v", maxSize, senderLimit, w)
		}
		st.maxSize = max(st.maxSize, w.Size())
	}
	st.rate = float64(w.Consumed()-startConsumed) / now.Sub(start).Seconds()
	return st
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestAutoTuneGrowsTowardBDP(t *testing.T) {
	const (
		rate = 100e6 // bytes/s
		rtt  = 10 * time.Millisecond
		bdp  = rate * 0.010
	)
	l := link{Rate: rate, OneWay: rtt / 2}
	r := newTuneRig(flowctl.RecvConfig{}, rtt)
	r.sim(t, l, 64*mib, 16*mib) // ramp up
	st := r.sim(t, l, 256*mib, 16*mib)
	// The window doubles while it limits the stream and a doubling pays, so it
	// settles at 1-2 bandwidth-delay products (2 MiB here: with half-window
	// grants, 1 MiB keeps only 0.5-1 BDP in flight); once a second it probes
	// one doubling above and steps back. The link is full.
	require.GreaterOrEqual(t, float64(r.w.Size()), bdp)
	require.LessOrEqual(t, r.w.Size(), uint64(4*mib))
	require.LessOrEqual(t, st.maxSize, uint64(4*mib), "a doubling that does not pay does not stay")
	require.Greater(t, st.rate, 0.8*rate, "link not filled: window %d", r.w.Size())

	fixed := newTuneRig(flowctl.RecvConfig{FixedWindow: true}, rtt)
	fst := fixed.sim(t, l, 16*mib, 256*kib)
	require.Less(t, fst.rate, 0.4*rate, "a 256 KiB window cannot fill a 1 MB BDP")
}

func TestAutoTuneNeverPastMax(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{Max: 4 * mib}, 50*time.Millisecond)
	r.sim(t, link{Rate: 10e9, OneWay: 25 * time.Millisecond}, 256*mib, 4*mib)
	require.Equal(t, uint64(4*mib), r.w.Size())
}

func TestAutoTuneNeverPastBudget(t *testing.T) {
	b := flowctl.NewBudget(1 * mib)
	r := newTuneRig(flowctl.RecvConfig{Budget: b}, 50*time.Millisecond)
	r.sim(t, link{Rate: 10e9, OneWay: 25 * time.Millisecond}, 64*mib, 1*mib)
	require.Equal(t, uint64(1*mib), r.w.Size(), "the window stops at the connection cap")
	require.LessOrEqual(t, b.InUse(), b.Cap())
	require.Equal(t, r.w.Outstanding(), b.InUse())
}

func TestAutoTuneBlockedWhileBudgetIsHeldElsewhere(t *testing.T) {
	b := flowctl.NewBudget(1 * mib)
	other := b.Acquire(800*kib, 0) // another stream holds most of the budget
	r := newTuneRig(flowctl.RecvConfig{Budget: b}, 50*time.Millisecond)
	l := link{Rate: 10e9, OneWay: 25 * time.Millisecond}
	r.sim(t, l, 16*mib, 256*kib)
	require.Equal(t, uint64(256*kib), r.w.Size(), "no room in the budget to double into")
	b.Release(other)
	r.sim(t, l, 16*mib, 1*mib)
	require.Equal(t, uint64(1*mib), r.w.Size(), "grows once the budget frees up")
}

// TestAutoTuneStepsBackWhenGrowthDoesNotPay is the loopback case: the reader
// (the CPU), not the window, limits the stream, and the RTT samples are
// inflated by the stream's own queue, so the window looks like the bottleneck.
// A doubling brings no more throughput, so the window steps back and stays
// within one doubling of its initial size: bulk bytes do not pile up in socket
// buffers ahead of small messages.
func TestAutoTuneStepsBackWhenGrowthDoesNotPay(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{}, 400*time.Microsecond)
	l := link{Rate: 20e9, OneWay: 5 * time.Microsecond, ReadRate: 1.5e9}
	st := r.sim(t, l, 3<<30, 16*mib) // 2 simulated seconds: a probe, a hold, a probe
	require.Equal(t, uint64(256*kib), r.w.Size())
	require.LessOrEqual(t, st.maxSize, uint64(512*kib), "probes go one doubling up, then back")
	require.Greater(t, st.rate, 0.95*l.ReadRate)
}

func TestAutoTuneStaysPutWhenConsumptionIsSlow(t *testing.T) {
	// 1 MB/s with a 10 ms RTT: the BDP is 10 KB, far below the initial 256 KiB.
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	st := r.sim(t, link{Rate: 1e9, OneWay: 5 * time.Millisecond, ReadRate: 1e6}, 8*mib, 256*kib)
	require.Equal(t, uint64(256*kib), r.w.Size())
	require.Equal(t, uint64(256*kib), st.maxSize)
}

func TestAutoTuneKeepsWindowAfterSlowdown(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	r.sim(t, link{Rate: 1e9, OneWay: 5 * time.Millisecond}, 64*mib, 16*mib)
	grown := r.w.Size()
	require.Greater(t, grown, uint64(256*kib))
	// A slow reader is no reason to take back a window that paid.
	r.sim(t, link{Rate: 1e9, OneWay: 5 * time.Millisecond, ReadRate: 1e5}, 2*mib, 16*mib)
	require.Equal(t, grown, r.w.Size())
}

func TestAutoTuneOffWithoutRTTOrWhenFixed(t *testing.T) {
	fixed := newTuneRig(flowctl.RecvConfig{FixedWindow: true}, 10*time.Millisecond)
	fixed.sim(t, link{Rate: 10e9, OneWay: 5 * time.Millisecond}, 32*mib, 256*kib)
	require.Equal(t, uint64(256*kib), fixed.w.Size())

	noRTT := newTuneRig(flowctl.RecvConfig{}, 0) // AddSample(0) is ignored
	require.Zero(t, noRTT.rtt.Smoothed())
	noRTT.sim(t, link{Rate: 10e9, OneWay: 5 * time.Millisecond}, 32*mib, 256*kib)
	require.Equal(t, uint64(256*kib), noRTT.w.Size())
}

func TestRTTStatsSmoothing(t *testing.T) {
	var nilStats *flowctl.RTTStats
	require.Zero(t, nilStats.Smoothed())
	var r flowctl.RTTStats
	require.Zero(t, r.Smoothed())
	r.AddSample(-time.Second)
	require.Zero(t, r.Smoothed())
	r.AddSample(80 * time.Millisecond)
	require.Equal(t, 80*time.Millisecond, r.Smoothed(), "first sample taken as is")
	r.AddSample(160 * time.Millisecond)
	require.Equal(t, 90*time.Millisecond, r.Smoothed(), "gain 1/8")

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r.AddSample(90 * time.Millisecond)
				_ = r.Smoothed()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 90*time.Millisecond, r.Smoothed())
}

func TestFakeClock(t *testing.T) {
	start := time.Unix(100, 0)
	c := flowctl.NewFakeClock(start)
	require.Equal(t, start, c.Now())
	c.Advance(time.Second)
	require.Equal(t, start.Add(time.Second), c.Now())
}

// TestAutoTuneNeedsCreditExhaustion: a fast reader whose peer keeps only one
// frame in flight (the sender, not the window, is the bottleneck) may probe one
// doubling, gains nothing from it and steps back, however fast it consumes.
// Growing further would only put more bytes in flight, queued in socket buffers
// ahead of small messages.
func TestAutoTuneNeedsCreditExhaustion(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	w := r.w
	initial, largest := w.Size(), w.Size()
	for w.Consumed() < 64*mib {
		// The sender keeps one frame in flight, far below its credit.
		require.NoError(t, w.OnData(w.Received(), 16*kib))
		r.clk.Advance(time.Microsecond) // consumption much faster than the RTT allows
		w.OnConsume(16 * kib)
		w.PendingGrant()
		largest = max(largest, w.Size())
	}
	require.Equal(t, initial, w.Size())
	require.LessOrEqual(t, largest, 2*initial)
}
