package flowctl

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRTTStatsMinIgnoresQueueingInflation(t *testing.T) {
	var r RTTStats
	require.Zero(t, r.Min())
	r.AddSample(10 * time.Millisecond)
	r.AddSample(50 * time.Millisecond) // a sample behind queued bulk data
	r.AddSample(40 * time.Millisecond)
	require.Equal(t, 10*time.Millisecond, r.Min())
	require.Greater(t, r.Smoothed(), 10*time.Millisecond)
	r.AddSample(8 * time.Millisecond)
	require.Equal(t, 8*time.Millisecond, r.Min())
	var nilStats *RTTStats
	require.Zero(t, nilStats.Min())
}
