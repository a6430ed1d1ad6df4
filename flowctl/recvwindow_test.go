package flowctl_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

const kib = 1 << 10

func fixedCfg(initial uint64) flowctl.RecvConfig {
	return flowctl.RecvConfig{Initial: initial, Min: 64 * kib, FixedWindow: true}
}

func TestRecvConfigDefaultsAndValidate(t *testing.T) {
	var zero flowctl.RecvConfig
	require.NoError(t, zero.Validate())
	d := zero.WithDefaults()
	require.Equal(t, uint64(256*kib), d.Initial)
	require.Equal(t, uint64(64*kib), d.Min)
	require.Equal(t, uint64(16<<20), d.Max)
	require.Equal(t, uint64(16*kib), d.MaxFrame)
	require.NotNil(t, d.Clock)

	bad := []flowctl.RecvConfig{
		{Min: 8 * kib},                    // below MaxFrame
		{Initial: 32 * kib},               // below Min
		{Initial: 32 << 20},               // above Max
		{Max: flowctl.MaxWindowLimit + 1}, // absurd ceiling
		{MaxFrame: 128 * kib},             // Min cannot hold a frame
	}
	for _, c := range bad {
		require.ErrorIs(t, c.Validate(), flowctl.ErrInvalidConfig, "%+v", c)
	}
	require.Panics(t, func() { flowctl.NewRecvWindow(bad[0]) })
}

func TestRecvWindowGrantsOnlyOnConsume(t *testing.T) {
	w := flowctl.NewRecvWindow(fixedCfg(128 * kib))
	require.Equal(t, uint64(128*kib), w.Limit())
	require.NoError(t, w.OnData(0, 128*kib))
	require.Equal(t, uint64(128*kib), w.Buffered())
	_, ok := w.PendingGrant()
	require.False(t, ok, "arrival alone grants nothing: a slow reader holds its sender back")
	require.False(t, w.GrantDue())

	w.OnConsume(64 * kib)
	require.True(t, w.GrantDue())
	limit, ok := w.PendingGrant()
	require.True(t, ok)
	require.Equal(t, uint64(64*kib+128*kib), limit)
	require.Equal(t, limit, w.Limit())
	require.Equal(t, uint64(64*kib), w.Buffered())
}

func TestRecvWindowBatchingThreshold(t *testing.T) {
	w := flowctl.NewRecvWindow(fixedCfg(64 * kib))
	require.NoError(t, w.OnData(0, 64*kib))
	w.OnConsume(32*kib - 1)
	_, ok := w.PendingGrant()
	require.False(t, ok, "less than half a window un-announced")
	w.OnConsume(1)
	limit, ok := w.PendingGrant()
	require.True(t, ok, "half a window un-announced")
	require.Equal(t, uint64(32*kib+64*kib), limit)
	_, ok = w.PendingGrant()
	require.False(t, ok, "PendingGrant committed the grant itself")
	require.Equal(t, uint64(64*kib), w.Outstanding())
}

func TestRecvWindowOverrunError(t *testing.T) {
	w := flowctl.NewRecvWindow(flowctl.RecvConfig{StreamID: 7, Initial: 65536, Min: 65536, FixedWindow: true})
	err := w.OnData(0, 70000)
	require.ErrorIs(t, err, flowctl.ErrFlowControl)
	require.EqualError(t, err, "flowctl: stream 7 sent 70000 bytes beyond credit 65536")
	var fe *flowctl.FlowError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, flowctl.FlowError{StreamID: 7, Kind: flowctl.KindCreditExceeded, Bytes: 70000, Credit: 65536}, *fe)
	require.Zero(t, w.Received(), "a rejected frame changes nothing")

	require.NoError(t, w.OnData(0, 65536), "exactly the credit is fine")
	require.ErrorAs(t, w.OnData(65536, 1), &fe)
	require.Equal(t, uint64(65537), fe.Bytes)

	require.ErrorAs(t, w.OnData(65536, math.MaxUint64), &fe)
	require.Equal(t, flowctl.KindCreditExceeded, fe.Kind)
	require.Equal(t, uint64(math.MaxUint64), fe.Bytes, "offset overflow saturates")
}

func TestRecvWindowOutOfOrder(t *testing.T) {
	w := flowctl.NewRecvWindow(flowctl.RecvConfig{StreamID: 3})
	require.NoError(t, w.OnData(0, 10))
	for _, off := range []uint64{20, 0, 9} {
		err := w.OnData(off, 10)
		var fe *flowctl.FlowError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, flowctl.FlowError{StreamID: 3, Kind: flowctl.KindOutOfOrder, Bytes: off,
			Credit: 256 * kib, Expected: 10}, *fe)
	}
	require.NoError(t, w.OnData(10, 0), "an empty frame at the right offset is fine")
	require.Equal(t, uint64(10), w.Received())
}

func TestRecvWindowConsumeMoreThanBufferedPanics(t *testing.T) {
	w := flowctl.NewRecvWindow(flowctl.RecvConfig{StreamID: 4})
	require.NoError(t, w.OnData(0, 10))
	require.PanicsWithValue(t, "flowctl: stream 4 consumed 11 bytes with only 10 buffered", func() { w.OnConsume(11) })
}

func TestRecvWindowBudgetAccounting(t *testing.T) {
	b := flowctl.NewBudget(1 << 20)
	cfg := fixedCfg(256 * kib)
	cfg.Budget = b
	w := flowctl.NewRecvWindow(cfg)
	require.Equal(t, uint64(256*kib), b.InUse(), "the initial window holds budget")
	require.NoError(t, w.OnData(0, 200*kib))
	w.OnConsume(150 * kib)
	require.Equal(t, uint64(106*kib), b.InUse(), "consumed bytes return their budget")
	_, ok := w.PendingGrant()
	require.True(t, ok)
	require.Equal(t, uint64(256*kib), b.InUse())
	require.Equal(t, w.Limit()-w.Consumed(), b.InUse())

	w.Release()
	require.Zero(t, b.InUse())
	require.Zero(t, w.Buffered(), "the buffer is dropped")
	w.Release()
	require.Zero(t, b.InUse(), "Release is idempotent")
	w.OnConsume(1 << 30)
	_, ok = w.PendingGrant()
	require.False(t, ok)
	require.NoError(t, w.OnData(200*kib, 100*kib), "in-flight data after Release is still checked")
	require.Error(t, w.OnData(300*kib, w.Limit()))
	require.Zero(t, b.InUse())
}

// TestRecvWindowBudgetCapAndFloor: with the budget exhausted a stream keeps its credit until
// it falls below Min, then it is topped up to exactly Min (one more frame can always come),
// and the total stays within cap + streams × Initial.
func TestRecvWindowBudgetCapAndFloor(t *testing.T) {
	b := flowctl.NewBudget(512 * kib)
	cfg := fixedCfg(256 * kib)
	cfg.Budget = b
	w := flowctl.NewRecvWindow(cfg)
	hog := b.Acquire(math.MaxUint64, 0) // another stream holds the rest
	require.Equal(t, uint64(256*kib), hog)

	require.NoError(t, w.OnData(0, 256*kib))
	w.OnConsume(128 * kib)
	hog += b.Acquire(math.MaxUint64, 0) // and takes what the consumed bytes gave back
	_, ok := w.PendingGrant()
	require.False(t, ok, "budget exhausted and 128 KiB ≥ Min still outstanding")
	w.OnConsume(64*kib + 1)
	hog += b.Acquire(math.MaxUint64, 0)
	require.Zero(t, b.Available())
	limit, ok := w.PendingGrant()
	require.True(t, ok, "below Min: the floor tops it up")
	require.Equal(t, uint64(64*kib), w.Outstanding())
	require.Equal(t, w.Consumed()+64*kib, limit)
	require.LessOrEqual(t, b.InUse(), b.Cap()+64*kib)

	b.Release(hog)
	w.OnConsume(w.Buffered())
	limit, ok = w.PendingGrant()
	require.True(t, ok)
	require.Equal(t, w.Consumed()+256*kib, limit, "with budget back, the full window again")
	require.Equal(t, w.Outstanding(), b.InUse())
}

func TestRecvWindowManyStreamsAtCap(t *testing.T) {
	const streams = 16
	b := flowctl.NewBudget(256 * kib)
	ws := make([]*flowctl.RecvWindow, streams)
	for i := range ws {
		cfg := fixedCfg(64 * kib)
		cfg.Budget = b
		cfg.StreamID = uint32(i)
		ws[i] = flowctl.NewRecvWindow(cfg)
	}
	require.Equal(t, uint64(streams*64*kib), b.InUse(), "initial windows are promised, so honoured")
	for round := range 20 {
		for _, w := range ws {
			require.NoError(t, w.OnData(w.Received(), w.Limit()-w.Received()))
			w.OnConsume(w.Buffered())
			_, ok := w.PendingGrant()
			require.True(t, ok, "round %d: every stream progresses at the cap", round)
			require.GreaterOrEqual(t, w.Outstanding(), uint64(64*kib))
		}
		require.LessOrEqual(t, b.InUse(), b.Cap()+streams*64*kib)
	}
	for _, w := range ws {
		w.Release()
	}
	require.Zero(t, b.InUse())
}

func TestRecvWindowSmallBudgetGrantIsNotAnnounced(t *testing.T) {
	b := flowctl.NewBudget(256*kib + 10*kib)
	cfg := fixedCfg(256 * kib)
	cfg.Budget = b
	w := flowctl.NewRecvWindow(cfg)
	require.NoError(t, w.OnData(0, 200*kib))
	w.OnConsume(150 * kib) // 106 KiB outstanding, 160 KiB free in the budget
	hog := b.Acquire(150*kib, 0)
	_, ok := w.PendingGrant()
	require.False(t, ok, "10 KiB is below Min and the stream still has credit: not worth a frame")
	require.Equal(t, w.Outstanding(), b.InUse()-hog)
}
