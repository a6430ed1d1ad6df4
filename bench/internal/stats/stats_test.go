package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	in := []float64{5, 1, 4, 2, 3}
	s, err := Summarize(in)
	require.NoError(t, err)
	require.Equal(t, Summary{Median: 3, Min: 1, Max: 5, N: 5}, s)
	require.Equal(t, []float64{5, 1, 4, 2, 3}, in, "input must not be reordered")

	s, err = Summarize([]float64{10, 2, 4, 8})
	require.NoError(t, err)
	require.Equal(t, Summary{Median: 6, Min: 2, Max: 10, N: 4}, s)

	s, err = Summarize([]float64{7})
	require.NoError(t, err)
	require.Equal(t, Summary{Median: 7, Min: 7, Max: 7, N: 1}, s)
}

func TestSummarizeErrors(t *testing.T) {
	_, err := Summarize(nil)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = Summarize([]float64{1, math.NaN()})
	require.ErrorIs(t, err, ErrInvalidSample)
	_, err = Median([]float64{math.Inf(1)})
	require.ErrorIs(t, err, ErrInvalidSample)
}

func TestMedian(t *testing.T) {
	m, err := Median([]float64{3, 1, 2})
	require.NoError(t, err)
	require.Equal(t, 2.0, m)
	m, err = Median([]float64{1, 2, 3, 100})
	require.NoError(t, err)
	require.Equal(t, 2.5, m)
}

func TestPercentileNearestRank(t *testing.T) {
	// 1..100: the p-th percentile by nearest rank is p itself.
	xs := make([]float64, 100)
	for i := range xs {
		xs[len(xs)-1-i] = float64(i + 1) // reversed, to prove sorting
	}
	for _, tc := range []struct{ p, want float64 }{
		{0, 1}, {1, 1}, {50, 50}, {99, 99}, {99.5, 100}, {100, 100},
	} {
		got, err := Percentile(xs, tc.p)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "p%v", tc.p)
	}

	// Classic textbook example: {15, 20, 35, 40, 50}.
	xs = []float64{15, 20, 35, 40, 50}
	for _, tc := range []struct{ p, want float64 }{
		{5, 15}, {30, 20}, {40, 20}, {50, 35}, {100, 50},
	} {
		got, err := Percentile(xs, tc.p)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "p%v", tc.p)
	}
}

func TestPercentileErrors(t *testing.T) {
	_, err := Percentile(nil, 50)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = Percentile([]float64{1}, -1)
	require.ErrorIs(t, err, ErrPercentileRange)
	_, err = Percentile([]float64{1}, 100.01)
	require.ErrorIs(t, err, ErrPercentileRange)
	_, err = PercentileSorted([]float64{1}, math.NaN())
	require.ErrorIs(t, err, ErrPercentileRange)
}

func TestJain(t *testing.T) {
	j, err := Jain([]float64{5, 5, 5, 5})
	require.NoError(t, err)
	require.InDelta(t, 1.0, j, 1e-12)

	j, err = Jain([]float64{10, 0, 0, 0})
	require.NoError(t, err)
	require.InDelta(t, 0.25, j, 1e-12, "one taker of four gives 1/n")

	// (1+2+3)^2 / (3 * (1+4+9)) = 36/42
	j, err = Jain([]float64{1, 2, 3})
	require.NoError(t, err)
	require.InDelta(t, 36.0/42.0, j, 1e-12)

	// Scale invariance.
	j2, err := Jain([]float64{100, 200, 300})
	require.NoError(t, err)
	require.InDelta(t, j, j2, 1e-12)
}

func TestJainErrors(t *testing.T) {
	_, err := Jain(nil)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = Jain([]float64{0, 0})
	require.ErrorIs(t, err, ErrUndefined)
	_, err = Jain([]float64{1, -1})
	require.ErrorIs(t, err, ErrInvalidSample)
	_, err = Jain([]float64{1, math.NaN()})
	require.ErrorIs(t, err, ErrInvalidSample)
}
