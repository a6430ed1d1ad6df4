package flowctl_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

func TestSendWindowConsumeAndUpdate(t *testing.T) {
	w := flowctl.NewSendWindow(100)
	w.SetStreamID(5)
	require.Equal(t, uint64(100), w.Available())
	require.NoError(t, w.Consume(60))
	require.Equal(t, uint64(60), w.Sent())
	require.Equal(t, uint64(40), w.Available())

	err := w.Consume(41)
	require.ErrorIs(t, err, flowctl.ErrFlowControl)
	var fe *flowctl.FlowError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, flowctl.FlowError{StreamID: 5, Kind: flowctl.KindSendOverrun, Bytes: 101, Credit: 100}, *fe)
	require.Equal(t, uint64(60), w.Sent(), "a failed Consume changes nothing")

	require.NoError(t, w.Consume(40))
	require.Zero(t, w.Available())
	require.NoError(t, w.Consume(0))

	require.True(t, w.Update(150))
	require.False(t, w.Update(150), "duplicate credit")
	require.False(t, w.Update(120), "reordered older credit")
	require.Equal(t, uint64(150), w.Limit())
	require.Equal(t, uint64(50), w.Available())
}

func TestSendWindowZeroValueAndOverflow(t *testing.T) {
	var w flowctl.SendWindow
	require.Zero(t, w.Available())
	require.Error(t, w.Consume(1))
	require.True(t, w.Update(10))
	require.NoError(t, w.Consume(10))
	err := w.Consume(math.MaxUint64)
	var fe *flowctl.FlowError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, uint64(math.MaxUint64), fe.Bytes, "saturated, not wrapped")
}
