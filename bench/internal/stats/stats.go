package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrEmpty is returned when a statistic is asked of no samples.
var ErrEmpty = errors.New("stats: no samples")

// ErrInvalidSample is returned when a sample is NaN or infinite, or negative
// where only non-negative values make sense (Jain's index).
var ErrInvalidSample = errors.New("stats: invalid sample")

// ErrUndefined is returned when a statistic has no value for the input, such
// as Jain's index of all-zero throughputs.
var ErrUndefined = errors.New("stats: undefined for these samples")

// ErrPercentileRange is returned for a percentile outside [0, 100].
var ErrPercentileRange = errors.New("stats: percentile outside [0, 100]")

// Summary describes repeated measurements of one quantity.
type Summary struct {
	// Median is the middle sample (the mean of the two middle ones for an even count).
	Median float64 `json:"median"`
	// Min is the smallest sample.
	Min float64 `json:"min"`
	// Max is the largest sample.
	Max float64 `json:"max"`
	// N is the number of samples.
	N int `json:"n"`
}

// Summarize returns the median, minimum and maximum of xs.
func Summarize(xs []float64) (Summary, error) {
	s, err := sortedCopy(xs)
	if err != nil {
		return Summary{}, err
	}
	return Summary{Median: medianSorted(s), Min: s[0], Max: s[len(s)-1], N: len(s)}, nil
}

// Median returns the median of xs.
func Median(xs []float64) (float64, error) {
	s, err := sortedCopy(xs)
	if err != nil {
		return 0, err
	}
	return medianSorted(s), nil
}

// Percentile returns the p-th percentile of xs (0 <= p <= 100) by the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are less than or equal to it. Percentile(xs, 0) is the minimum
// and Percentile(xs, 100) the maximum. For many percentiles of one large
// sample, sort once and use PercentileSorted.
func Percentile(xs []float64, p float64) (float64, error) {
	s, err := sortedCopy(xs)
	if err != nil {
		return 0, err
	}
	return PercentileSorted(s, p)
}

// PercentileSorted is Percentile for a slice already sorted ascending.
func PercentileSorted(sorted []float64, p float64) (float64, error) {
	if len(sorted) == 0 {
		return 0, ErrEmpty
	}
	if math.IsNaN(p) || p < 0 || p > 100 {
		return 0, fmt.Errorf("%w: %v", ErrPercentileRange, p)
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1], nil
}

// Jain returns Jain's fairness index of the allocations xs:
// (Σx)² / (n·Σx²). It is 1 when all are equal and 1/n when one gets
// everything. Samples must be finite and non-negative, and not all zero.
func Jain(xs []float64) (float64, error) {
	if len(xs) == 0 {
		return 0, ErrEmpty
	}
	var sum, sumSq float64
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return 0, fmt.Errorf("%w: xs[%d] = %v", ErrInvalidSample, i, x)
		}
		sum += x
		sumSq += x * x
	}
	if sumSq == 0 {
		return 0, fmt.Errorf("%w: all allocations are zero", ErrUndefined)
	}
	return sum * sum / (float64(len(xs)) * sumSq), nil
}

func sortedCopy(xs []float64) ([]float64, error) {
	if len(xs) == 0 {
		return nil, ErrEmpty
	}
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: xs[%d] = %v", ErrInvalidSample, i, x)
		}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s, nil
}

func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
