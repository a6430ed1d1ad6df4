package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// sourceState is the part of a streamed Source's state that CSV, JSON Lines
// and SQL share: whether it is closed, and the error that ended it.
type sourceState struct {
	err    error // the first failure; Next repeats it
	closed bool
}

// nextBatch runs next unless the source is closed or has failed, and keeps a
// failure (io.EOF is none) so that every later Next returns it again.
func (st *sourceState) nextBatch(next func() (arrow.RecordBatch, error)) (arrow.RecordBatch, error) {
	if st.closed {
		return nil, ErrClosed
	}
	if st.err != nil {
		return nil, st.err
	}
	rec, err := next()
	if err != nil && !errors.Is(err, io.EOF) {
		st.err = err
	}
	return rec, err
}

// skipToStart reads and drops rows until *row reaches startRow (resume at a
// batch boundary), checking ctx every 1,024 rows. skip reads one row; its
// io.EOF means the start is past the end of the input (format names it).
func skipToStart(ctx context.Context, row *int64, startRow int64, format string, skip func() error) error {
	for *row < startRow {
		if *row%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := skip(); errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: start row %d is past the end of the %s (%d rows)", ErrInvalidConfig, startRow, format, *row)
		} else if err != nil {
			return err
		}
		*row++
	}
	return nil
}
