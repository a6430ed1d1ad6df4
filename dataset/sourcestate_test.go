package dataset

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

// A failed source repeats its failure without reading on; io.EOF is not a
// failure; a closed source says ErrClosed.
func TestSourceStateNextBatch(t *testing.T) {
	var st sourceState
	calls := 0
	result := io.EOF
	next := func() (arrow.RecordBatch, error) { calls++; return nil, result }

	_, err := st.nextBatch(next)
	require.ErrorIs(t, err, io.EOF)
	result = errors.New("disk on fire")
	_, err = st.nextBatch(next)
	require.ErrorIs(t, err, result)
	_, err = st.nextBatch(next)
	require.ErrorIs(t, err, result, "repeated")
	require.Equal(t, 2, calls, "not read again after the failure")
	st.closed = true
	_, err = st.nextBatch(next)
	require.ErrorIs(t, err, ErrClosed)
}

// skipToStart stops at the start row, reports a start past the end as
// ErrInvalidConfig naming the format, and honours a cancelled context.
func TestSkipToStart(t *testing.T) {
	var row int64
	left := 5
	skip := func() error {
		if left == 0 {
			return io.EOF
		}
		left--
		return nil
	}
	require.NoError(t, skipToStart(context.Background(), &row, 3, "CSV", skip))
	require.EqualValues(t, 3, row)
	err := skipToStart(context.Background(), &row, 9, "CSV", skip)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "past the end of the CSV (5 rows)")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	row = 0
	require.ErrorIs(t, skipToStart(ctx, &row, 1, "CSV", skip), context.Canceled)
}
