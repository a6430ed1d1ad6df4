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

// pump simulates a sender that always uses all the credit it has, in 16 KiB frames, and an
// application reading at bytesPerSec, until total more bytes were consumed. The fake clock
// advances by the reading time only, so the consumption rate is exactly bytesPerSec. On
// every step it checks that credit is never revoked, the window never shrinks nor passes
// maxSize, and the peer never sees a flow-control error.
func (r *tuneRig) pump(t *testing.T, bytesPerSec float64, total, maxSize uint64) {
	t.Helper()
	const frame = 16 * kib
	w := r.w
	end := w.Consumed() + total
	for steps := 0; w.Consumed() < end; steps++ {
		require.Less(t, steps, 1_000_000, "no progress")
		for w.Received() < w.Limit() {
			require.NoError(t, w.OnData(w.Received(), min(frame, w.Limit()-w.Received())))
		}
		n := min(frame, w.Buffered(), end-w.Consumed())
		r.clk.Advance(time.Duration(float64(n) / bytesPerSec * float64(time.Second)))
		w.OnConsume(n)
		prevLimit, prevSize := w.Limit(), w.Size()
		limit, ok := w.PendingGrant()
		if ok {
			require.Greater(t, limit, prevLimit)
		}
		require.GreaterOrEqual(t, w.Limit(), prevLimit, "credit revoked")
		require.GreaterOrEqual(t, w.Size(), prevSize, "window shrank")
		require.LessOrEqual(t, w.Size(), maxSize)
		require.LessOrEqual(t, w.Received(), w.Limit())
	}
}

func TestAutoTuneGrowsTowardBDP(t *testing.T) {
	const (
		rate = 100e6 // bytes/s
		rtt  = 10 * time.Millisecond
		bdp  = rate * 0.010
	)
	r := newTuneRig(flowctl.RecvConfig{}, rtt)
	r.pump(t, rate, 64*mib, 16*mib)
	// The window doubles while a full window takes under 2 RTTs, so it settles between
	// 2 and 4 bandwidth-delay products: big enough never to be the bottleneck, no bigger.
	require.GreaterOrEqual(t, float64(r.w.Size()), 2*bdp)
	require.LessOrEqual(t, float64(r.w.Size()), 4*bdp)
	require.Equal(t, uint64(2*mib), r.w.Size())
}

func TestAutoTuneNeverPastMax(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{Max: 4 * mib}, 50*time.Millisecond)
	r.pump(t, 10e9, 256*mib, 4*mib)
	require.Equal(t, uint64(4*mib), r.w.Size())
}

func TestAutoTuneNeverPastBudget(t *testing.T) {
	b := flowctl.NewBudget(1 * mib)
	r := newTuneRig(flowctl.RecvConfig{Budget: b}, 50*time.Millisecond)
	r.pump(t, 10e9, 64*mib, 1*mib)
	require.Equal(t, uint64(1*mib), r.w.Size(), "the window stops at the connection cap")
	require.LessOrEqual(t, b.InUse(), b.Cap())
	require.Equal(t, r.w.Outstanding(), b.InUse())
}

func TestAutoTuneBlockedWhileBudgetIsHeldElsewhere(t *testing.T) {
	b := flowctl.NewBudget(1 * mib)
	other := b.Acquire(800*kib, 0) // another stream holds most of the budget
	r := newTuneRig(flowctl.RecvConfig{Budget: b}, 50*time.Millisecond)
	r.pump(t, 10e9, 16*mib, 256*kib)
	require.Equal(t, uint64(256*kib), r.w.Size(), "no room in the budget to double into")
	b.Release(other)
	r.pump(t, 10e9, 16*mib, 1*mib)
	require.Equal(t, uint64(1*mib), r.w.Size(), "grows once the budget frees up")
}

func TestAutoTuneStaysPutWhenConsumptionIsSlow(t *testing.T) {
	// 1 MB/s with a 10 ms RTT: the BDP is 10 KB, far below the initial 256 KiB.
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	r.pump(t, 1e6, 8*mib, 256*kib)
	require.Equal(t, uint64(256*kib), r.w.Size())
}

func TestAutoTuneNeverShrinksAfterSlowdown(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	r.pump(t, 1e9, 64*mib, 16*mib)
	grown := r.w.Size()
	require.Greater(t, grown, uint64(256*kib))
	r.pump(t, 1e5, 2*mib, 16*mib) // pump checks the window and limit never go down
	require.Equal(t, grown, r.w.Size())
}

func TestAutoTuneOffWithoutRTTOrWhenFixed(t *testing.T) {
	fixed := newTuneRig(flowctl.RecvConfig{FixedWindow: true}, 10*time.Millisecond)
	fixed.pump(t, 10e9, 32*mib, 256*kib)
	require.Equal(t, uint64(256*kib), fixed.w.Size())

	noRTT := newTuneRig(flowctl.RecvConfig{}, 0) // AddSample(0) is ignored
	require.Zero(t, noRTT.rtt.Smoothed())
	noRTT.pump(t, 10e9, 32*mib, 256*kib)
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

// TestAutoTuneNeedsCreditExhaustion: a fast reader whose peer never runs out of
// credit (a short path: CREDIT arrives before the sender used half its window)
// does not grow the window, however fast it consumes. Growing it would only put
// more bytes in flight, queued in socket buffers ahead of small messages.
func TestAutoTuneNeedsCreditExhaustion(t *testing.T) {
	r := newTuneRig(flowctl.RecvConfig{}, 10*time.Millisecond)
	w := r.w
	initial := w.Size()
	for w.Consumed() < 64*mib {
		// The sender keeps one frame in flight, far below its credit.
		require.NoError(t, w.OnData(w.Received(), 16*kib))
		r.clk.Advance(time.Microsecond) // consumption much faster than the RTT allows
		w.OnConsume(16 * kib)
		w.PendingGrant()
	}
	require.Equal(t, initial, w.Size())
}
