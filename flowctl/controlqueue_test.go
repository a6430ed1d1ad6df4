package flowctl_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

func TestControlQueueCapAndOrder(t *testing.T) {
	q := flowctl.NewControlQueue[int](40)
	require.Equal(t, 40, q.Cap())
	next, want := 0, 0
	// Interleave pushes and pops so the ring wraps and grows several times.
	for round := range 10 {
		for q.Len() < q.Cap() {
			require.NoError(t, q.Push(next))
			next++
		}
		require.ErrorIs(t, q.Push(-1), flowctl.ErrControlQueueFull, "round %d", round)
		require.Equal(t, 40, q.Len())
		for range 13 + round {
			v, ok := q.Pop()
			require.True(t, ok)
			require.Equal(t, want, v)
			want++
		}
	}
	head, ok := q.Peek()
	require.True(t, ok)
	require.Equal(t, want, head)
	for q.Len() > 0 {
		v, _ := q.Pop()
		require.Equal(t, want, v)
		want++
	}
	require.Equal(t, next, want)
	_, ok = q.Pop()
	require.False(t, ok)
	_, ok = q.Peek()
	require.False(t, ok)
}

func TestControlQueueDefaults(t *testing.T) {
	var zero flowctl.ControlQueue[string]
	require.Equal(t, flowctl.DefaultControlQueueMax, zero.Cap())
	for range flowctl.DefaultControlQueueMax {
		require.NoError(t, zero.Push("x"))
	}
	require.ErrorIs(t, zero.Push("y"), flowctl.ErrControlQueueFull)
	require.Equal(t, flowctl.DefaultControlQueueMax, flowctl.NewControlQueue[int](-3).Cap())
	one := flowctl.NewControlQueue[int](1)
	require.NoError(t, one.Push(1))
	require.ErrorIs(t, one.Push(2), flowctl.ErrControlQueueFull)
}
