package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLinkShaperSchedule(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := linkShaper{bytesPerSecond: 1000, latency: 10 * time.Millisecond}

	sent, arrive := s.schedule(t0, 500) // 0.5 s on the wire
	require.Equal(t, t0.Add(500*time.Millisecond), sent)
	require.Equal(t, t0.Add(510*time.Millisecond), arrive)

	sent, arrive = s.schedule(t0.Add(100*time.Millisecond), 500) // queues behind the first
	require.Equal(t, t0.Add(time.Second), sent)
	require.Equal(t, t0.Add(1010*time.Millisecond), arrive)

	sent, arrive = s.schedule(t0.Add(5*time.Second), 0) // idle link: no credit saved up
	require.Equal(t, t0.Add(5*time.Second), sent)
	require.Equal(t, t0.Add(5010*time.Millisecond), arrive)

	unlimited := linkShaper{latency: time.Second}
	sent, arrive = unlimited.schedule(t0, 1<<30)
	require.Equal(t, t0, sent)
	require.Equal(t, t0.Add(time.Second), arrive)
}

func TestTransmitTime(t *testing.T) {
	require.Equal(t, time.Duration(0), transmitTime(100, 0))
	require.Equal(t, time.Second, transmitTime(125_000_000, 125_000_000))
	require.Equal(t, 8*time.Nanosecond, transmitTime(1, 125_000_000))
	// Large values neither overflow nor lose the fraction.
	require.Equal(t, 3*time.Second+500*time.Millisecond, transmitTime(7<<40, 2<<40))
	require.Equal(t, 1500*time.Millisecond, transmitTime(3, 2))
}

func TestFifo(t *testing.T) {
	var q fifo[int]
	for round := range 3 {
		for i := range 20 {
			q.push(round*100 + i)
		}
		for i := range 15 {
			require.Equal(t, round*100+i, q.pop())
		}
		require.Equal(t, 5, q.len())
		require.Equal(t, round*100+15, *q.front())
		q.clear()
		require.Zero(t, q.len())
	}
}
