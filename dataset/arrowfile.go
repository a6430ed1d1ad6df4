package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// DefaultMaxArrowMessageBytes bounds one message of an Arrow IPC stream
// read by ArrowStreamSource (a corrupt length is refused before allocation).
const DefaultMaxArrowMessageBytes = 1 << 30

// ArrowConfig configures Arrow IPC sources and sinks. The zero value means
// defaults.
type ArrowConfig struct {
	ReadConfig
	// MaxMessageBytes bounds an IPC message of a stream source. Default
	// DefaultMaxArrowMessageBytes.
	MaxMessageBytes int64
}

// batchSlicer yields the records of a file cut to at most BatchRows rows,
// after skipping StartRow rows. Files hold their own batch sizes; memory
// is bounded by the largest batch in the file.
type batchSlicer struct {
	schema *Schema
	mem    memory.Allocator
	max    int64
	skip   int64
	cur    arrow.RecordBatch
	off    int64
}

// take returns the next slice of cur, or nil when cur is used up.
func (b *batchSlicer) take() arrow.RecordBatch {
	for b.cur != nil {
		n := b.cur.NumRows()
		if b.skip > 0 {
			d := min(b.skip, n-b.off)
			b.off += d
			b.skip -= d
		}
		if b.off < n {
			end := min(b.off+b.max, n)
			out := b.cur.NewSlice(b.off, end)
			b.off = end
			return out
		}
		b.cur.Release()
		b.cur = nil
	}
	return nil
}

// put conforms rec (consumed) to the schema and makes it current.
func (b *batchSlicer) put(rec arrow.RecordBatch) error {
	out, err := conformRecord(b.mem, b.schema, rec)
	if err != nil {
		return err
	}
	b.cur, b.off = out, 0
	return nil
}

func (b *batchSlicer) release() {
	if b.cur != nil {
		b.cur.Release()
		b.cur = nil
	}
}

// ArrowFileSource reads an Arrow IPC file (random access format), record
// batch by record batch.
type ArrowFileSource struct {
	fr     *ipc.FileReader
	schema *Schema
	cfg    ArrowConfig
	next   int   // next record index
	row    int64 // rows of the records loaded so far
	slicer batchSlicer
	err    error
	closed bool
}

// NewArrowFileSource opens an Arrow IPC file. The caller closes r after
// the source.
func NewArrowFileSource(r ipc.ReadAtSeeker, cfg ArrowConfig) (*ArrowFileSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	var fr *ipc.FileReader
	err := safely(func() error {
		var err error
		fr, err = ipc.NewFileReader(r, ipc.WithAllocator(cfg.Allocator))
		return err
	})
	if err != nil {
		return nil, &InputError{Format: "arrow", Offset: -1, Err: err}
	}
	s, err := FromArrow(fr.Schema())
	if err != nil {
		fr.Close()
		return nil, err
	}
	src := &ArrowFileSource{fr: fr, schema: s, cfg: cfg}
	src.slicer = batchSlicer{schema: s, mem: cfg.Allocator, max: int64(cfg.BatchRows), skip: cfg.StartRow}
	return src, nil
}

// Schema implements Source.
func (s *ArrowFileSource) Schema() *Schema { return s.schema }

// Info implements Source. The row count of an Arrow file is not known
// without reading every batch, so TotalRows is -1.
func (s *ArrowFileSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: -1, Resumable: true}
}

// Next implements Source.
func (s *ArrowFileSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.err != nil {
		return nil, s.err
	}
	for {
		if rec := s.slicer.take(); rec != nil {
			return rec, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.next >= s.fr.NumRecords() {
			if s.slicer.skip > 0 {
				s.err = fmt.Errorf("%w: start row %d is past the end of the Arrow file (%d rows)", ErrInvalidConfig, s.cfg.StartRow, s.row)
				return nil, s.err
			}
			return nil, io.EOF
		}
		var rec arrow.RecordBatch
		err := safely(func() error {
			var err error
			rec, err = s.fr.RecordBatchAt(s.next)
			return err
		})
		if err == nil {
			if err = validateArrowInput(s.schema, rec); err != nil {
				rec.Release()
			}
		}
		if err != nil {
			s.err = &InputError{Format: "arrow", Row: s.row + 1, Offset: -1, Err: fmt.Errorf("record batch %d: %w", s.next, err)}
			return nil, s.err
		}
		first := s.row + 1
		s.next++
		s.row += rec.NumRows()
		if err := s.slicer.put(rec); err != nil {
			s.err = &InputError{Format: "arrow", Row: first, Offset: -1, Err: fmt.Errorf("record batch %d: %w", s.next-1, err)}
			return nil, s.err
		}
	}
}

// Close implements Source.
func (s *ArrowFileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.slicer.release()
	return s.fr.Close()
}

// validateArrowInput checks a record from an Arrow file before it is
// converted: its schema maps to s and its buffers are consistent.
func validateArrowInput(s *Schema, rec arrow.RecordBatch) error {
	if int(rec.NumCols()) != s.NumColumns() {
		return mismatchErrorf("record has %d columns, the file schema %d", rec.NumCols(), s.NumColumns())
	}
	for c := 0; c < s.NumColumns(); c++ {
		if rec.Column(c).Len() != int(rec.NumRows()) {
			return fmt.Errorf("column %q has %d values for %d rows", s.Column(c).Name, rec.Column(c).Len(), rec.NumRows())
		}
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

// Read implements io.Reader.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ArrowStreamSource reads an Arrow IPC stream, record batch by record batch.
type ArrowStreamSource struct {
	rdr    *ipc.Reader
	cr     *countingReader
	schema *Schema
	cfg    ArrowConfig
	row    int64
	slicer batchSlicer
	err    error
	closed bool
}

// NewArrowStreamSource reads the schema message from r and returns the
// source. The caller closes r after the source.
func NewArrowStreamSource(r io.Reader, cfg ArrowConfig) (*ArrowStreamSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxArrowMessageBytes
	}
	cr := &countingReader{r: r}
	var rdr *ipc.Reader
	err := safely(func() error {
		var err error
		mr := ipc.NewMessageReader(cr, ipc.WithAllocator(cfg.Allocator), ipc.WithBodySizeLimit(cfg.MaxMessageBytes), ipc.WithMetadataSizeLimit(cfg.MaxMessageBytes))
		rdr, err = ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(cfg.Allocator))
		return err
	})
	if err != nil {
		return nil, &InputError{Format: "arrow", Offset: 0, Err: err}
	}
	s, err := FromArrow(rdr.Schema())
	if err != nil {
		rdr.Release()
		return nil, err
	}
	src := &ArrowStreamSource{rdr: rdr, cr: cr, schema: s, cfg: cfg}
	src.slicer = batchSlicer{schema: s, mem: cfg.Allocator, max: int64(cfg.BatchRows), skip: cfg.StartRow}
	return src, nil
}

// Schema implements Source.
func (s *ArrowStreamSource) Schema() *Schema { return s.schema }

// Info implements Source.
func (s *ArrowStreamSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: -1, Resumable: true}
}

// Next implements Source.
func (s *ArrowStreamSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.err != nil {
		return nil, s.err
	}
	for {
		if rec := s.slicer.take(); rec != nil {
			return rec, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		at := s.cr.n
		var rec arrow.RecordBatch
		err := safely(func() error {
			if !s.rdr.Next() {
				if err := s.rdr.Err(); err != nil {
					return err
				}
				return io.EOF
			}
			rec = s.rdr.RecordBatch()
			rec.Retain()
			return nil
		})
		if errors.Is(err, io.EOF) {
			if s.slicer.skip > 0 {
				s.err = fmt.Errorf("%w: start row %d is past the end of the Arrow stream (%d rows)", ErrInvalidConfig, s.cfg.StartRow, s.row)
				return nil, s.err
			}
			return nil, io.EOF
		}
		if err == nil {
			if err = validateArrowInput(s.schema, rec); err != nil {
				rec.Release()
			}
		}
		if err != nil {
			s.err = &InputError{Format: "arrow", Row: s.row + 1, Offset: at, Err: err}
			return nil, s.err
		}
		first := s.row + 1
		s.row += rec.NumRows()
		if err := s.slicer.put(rec); err != nil {
			s.err = &InputError{Format: "arrow", Row: first, Offset: at, Err: err}
			return nil, s.err
		}
	}
}

// Close implements Source.
func (s *ArrowStreamSource) Close() error {
	if !s.closed {
		s.closed = true
		s.slicer.release()
		s.rdr.Release()
	}
	return nil
}

// recordWriter is what the Arrow IPC and Parquet writers have in common.
type recordWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// recordSink is a Sink over a recordWriter: it checks each batch against the
// schema, writes it under the schema's field metadata and closes once.
type recordSink[W recordWriter] struct {
	w      W
	schema *Schema
	closed bool
}

// Write implements Sink.
func (k *recordSink[W]) Write(rec arrow.RecordBatch) error {
	if k.closed {
		return ErrClosed
	}
	if err := checkRecord(k.schema, rec); err != nil {
		return err
	}
	r := withSchema(k.schema, rec)
	defer r.Release()
	return k.w.Write(r)
}

// Close implements Sink: it writes the trailer (the IPC file footer, the
// end-of-stream marker, or Parquet's last row group and footer).
func (k *recordSink[W]) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	return k.w.Close()
}

// ArrowFileSink writes an Arrow IPC file (the footer, on Close, makes it
// seekable).
type ArrowFileSink struct {
	recordSink[*ipc.FileWriter]
}

// NewArrowFileSink returns a sink writing an Arrow IPC file of schema s to w.
func NewArrowFileSink(w io.Writer, s *Schema, cfg ArrowConfig) (*ArrowFileSink, error) {
	mem := cfg.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(s.Arrow()), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	return &ArrowFileSink{recordSink[*ipc.FileWriter]{w: fw, schema: s}}, nil
}

// ArrowStreamSink writes an Arrow IPC stream.
type ArrowStreamSink struct {
	recordSink[*ipc.Writer]
}

// NewArrowStreamSink returns a sink writing an Arrow IPC stream of schema s to w.
func NewArrowStreamSink(w io.Writer, s *Schema, cfg ArrowConfig) *ArrowStreamSink {
	mem := cfg.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &ArrowStreamSink{recordSink[*ipc.Writer]{w: ipc.NewWriter(w, ipc.WithSchema(s.Arrow()), ipc.WithAllocator(mem)), schema: s}}
}
