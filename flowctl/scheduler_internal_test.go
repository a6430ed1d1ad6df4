package flowctl

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSchedulerForgetsIdleStreams checks that popped streams are remembered only up to
// maxIdleSchedEntries and that forgotten ones queue normally again.
func TestSchedulerForgetsIdleStreams(t *testing.T) {
	const streams = 3 * maxIdleSchedEntries
	var s SendScheduler
	for id := range uint32(streams) {
		s.Push(id, uint8(id%2))
	}
	var order []uint32
	for {
		id, ok := s.Pop()
		if !ok {
			break
		}
		order = append(order, id)
		require.LessOrEqual(t, len(s.index), s.Len()+maxIdleSchedEntries)
	}
	require.Len(t, order, streams)
	require.Equal(t, uint32(1), order[0], "odd IDs have the higher priority")
	require.Equal(t, uint32(0), order[streams/2])
	require.Len(t, s.index, maxIdleSchedEntries)

	for id := uint32(streams); id > 0; id-- {
		s.Push(id-1, 9)
	}
	require.Equal(t, streams, s.Len())
	for want := uint32(streams); want > 0; want-- {
		id, ok := s.Pop()
		require.True(t, ok)
		require.Equal(t, want-1, id)
	}
	for id := range uint32(streams) {
		s.Remove(id)
	}
	require.Empty(t, s.index)
	require.Len(t, s.free, len(s.nodes)-1, "every node is back on the free list")
}
