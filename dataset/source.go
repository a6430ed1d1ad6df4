package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Source yields the rows of a dataset as Arrow record batches, streamed:
// no source holds more than about one batch in memory.
type Source interface {
	// Schema returns the dataset schema. Every record Next returns has
	// exactly these columns.
	Schema() *Schema
	// Info describes the source; it does not change after construction.
	Info() SourceInfo
	// Next returns the next record batch, or io.EOF after the last one. The
	// caller owns the record and must Release it. Next honours ctx; after a
	// cancellation or any error other than io.EOF the source is unusable.
	Next(ctx context.Context) (arrow.RecordBatch, error)
	// Close releases the source's resources (open files stay open when they
	// were passed in by the caller). It must not be called concurrently with Next.
	Close() error
}

// Sink receives record batches and writes them in some format.
type Sink interface {
	// Write writes one record batch of the sink's schema. The caller keeps
	// ownership of rec.
	Write(rec arrow.RecordBatch) error
	// Close flushes buffered rows and writes any footer. It does not close
	// the io.Writer the sink was built on.
	Close() error
}

// SourceInfo describes a source.
type SourceInfo struct {
	// StartRow is the 0-based index of the first row the source yields.
	StartRow int64
	// TotalRows is the number of rows in the whole dataset (not only from
	// StartRow on), or -1 if unknown.
	TotalRows int64
	// Resumable says whether the same source can be opened again at a row
	// offset and yield the same rows from there.
	Resumable bool
}

// ReadConfig holds the settings every source shares. The zero value means
// defaults.
type ReadConfig struct {
	// StartRow is the 0-based index of the first row to yield, for resuming
	// at a batch boundary. Default 0.
	StartRow int64
	// BatchRows is the most rows per record the source builds. Default
	// DefaultBatchRows. (Sources reading Arrow or Parquet yield the file's own
	// batches, cut to at most this many rows.)
	BatchRows int
	// BatchBytes is the approximate upper bound of a record's size that
	// sources building records row by row aim for. Default DefaultBatchBytes.
	BatchBytes int
	// Allocator allocates Arrow buffers. Default memory.DefaultAllocator.
	Allocator memory.Allocator
}

// Validate checks the configuration.
func (c ReadConfig) Validate() error {
	switch {
	case c.StartRow < 0:
		return configErrorf("StartRow %d is negative", c.StartRow)
	case c.BatchRows < 0 || c.BatchRows > MaxBatchRows:
		return configErrorf("BatchRows %d not in 1..%d", c.BatchRows, MaxBatchRows)
	case c.BatchBytes < 0:
		return configErrorf("BatchBytes %d is negative", c.BatchBytes)
	}
	return nil
}

func (c ReadConfig) withDefaults() ReadConfig {
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Allocator == nil {
		c.Allocator = memory.DefaultAllocator
	}
	return c
}

// Copy reads src until io.EOF and writes every batch to sink. It returns
// the number of rows copied; it closes neither.
func Copy(ctx context.Context, sink Sink, src Source) (int64, error) {
	var rows int64
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		err = sink.Write(rec)
		rows += rec.NumRows()
		rec.Release()
		if err != nil {
			return rows, err
		}
	}
}

// RecordSource is a Source over record batches held in memory, for tests,
// small fixed datasets and adapters.
type RecordSource struct {
	schema *Schema
	recs   []arrow.RecordBatch
	total  int64
	start  int64
	i      int
	skip   int64 // rows still to skip before the next record
	closed bool
}

// NewRecordSource returns a source yielding recs (retained; released by
// Close) from row startRow on. Every record must match s.
func NewRecordSource(s *Schema, recs []arrow.RecordBatch, startRow int64) (*RecordSource, error) {
	var total int64
	for i, r := range recs {
		if err := checkRecord(s, r); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		total += r.NumRows()
	}
	if startRow < 0 || startRow > total {
		return nil, configErrorf("start row %d outside 0..%d", startRow, total)
	}
	cp := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		r.Retain()
		cp[i] = r
	}
	return &RecordSource{schema: s, recs: cp, total: total, start: startRow, skip: startRow}, nil
}

// Schema implements Source.
func (s *RecordSource) Schema() *Schema { return s.schema }

// Info implements Source.
func (s *RecordSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.start, TotalRows: s.total, Resumable: true}
}

// Next implements Source.
func (s *RecordSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for s.i < len(s.recs) {
		r := s.recs[s.i]
		s.i++
		n := r.NumRows()
		if s.skip >= n {
			s.skip -= n
			continue
		}
		out := r.NewSlice(s.skip, n)
		s.skip = 0
		return withSchemaOwned(s.schema, out), nil
	}
	return nil, io.EOF
}

// Close implements Source.
func (s *RecordSource) Close() error {
	if !s.closed {
		s.closed = true
		for _, r := range s.recs {
			r.Release()
		}
		s.recs = nil
	}
	return nil
}

// withSchemaOwned is withSchema that consumes the caller's reference to rec.
func withSchemaOwned(s *Schema, rec arrow.RecordBatch) arrow.RecordBatch {
	out := withSchema(s, rec)
	rec.Release()
	return out
}
