package dataset

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// DefaultParquetRowGroupRows is the default row group size of ParquetSink.
// The sink buffers one row group of encoded pages in memory.
const DefaultParquetRowGroupRows = 128 << 10

// ParquetConfig configures a Parquet source or sink. The zero value means
// defaults.
type ParquetConfig struct {
	ReadConfig
	// RowGroupRows is the sink's row group size. Default
	// DefaultParquetRowGroupRows.
	RowGroupRows int
	// Compression is the sink's codec: "snappy" (default), "zstd", "gzip"
	// or "none".
	Compression string
}

// Validate checks the configuration.
func (c ParquetConfig) Validate() error {
	if err := c.ReadConfig.Validate(); err != nil {
		return err
	}
	if c.RowGroupRows < 0 {
		return configErrorf("RowGroupRows %d is negative", c.RowGroupRows)
	}
	_, err := c.codec()
	return err
}

func (c ParquetConfig) codec() (compress.Compression, error) {
	switch c.Compression {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "none":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, configErrorf("unknown Parquet compression %q (want snappy, zstd, gzip or none)", c.Compression)
}

// ParquetSource reads a Parquet file row group by row group; within a row
// group it reads pages as it goes (buffered stream reads), so memory is
// bounded by the batch size and page sizes, not by the file.
type ParquetSource struct {
	pf     *file.Reader
	fr     *pqarrow.FileReader
	schema *Schema
	cfg    ParquetConfig
	total  int64
	rg     int                  // next row group
	rr     pqarrow.RecordReader // current row group, or nil
	row    int64                // rows of the batches read or skipped so far
	slicer batchSlicer
	err    error
	closed bool
}

// NewParquetSource opens a Parquet file. The caller closes r after the source.
func NewParquetSource(r parquet.ReaderAtSeeker, cfg ParquetConfig) (*ParquetSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	props := parquet.NewReaderProperties(cfg.Allocator)
	props.BufferedStreamEnabled = true
	src := &ParquetSource{cfg: cfg}
	err := safely(func() error {
		var err error
		if src.pf, err = file.NewParquetReader(readerOnly{r}, file.WithReadProps(props)); err != nil {
			return err
		}
		src.fr, err = pqarrow.NewFileReader(src.pf, pqarrow.ArrowReadProperties{BatchSize: int64(cfg.BatchRows)}, cfg.Allocator)
		return err
	})
	if err != nil {
		if src.pf != nil {
			src.pf.Close()
		}
		return nil, &InputError{Format: "parquet", Offset: -1, Err: err}
	}
	as, err := src.fr.Schema()
	if err == nil {
		src.schema, err = FromArrow(as)
	}
	if err == nil {
		// Parquet has no second-resolution timestamps and keeps only "is UTC"
		// of a zone; the Arrow schema stored by writers such as ParquetSink
		// recovers the exact types, and reads are converted to them.
		if stored := storedArrowSchema(src.pf, cfg.Allocator); stored != nil && sameNames(stored, as) {
			if exact, serr := FromArrow(stored); serr == nil {
				src.schema = exact
			}
		}
	}
	if err != nil {
		src.pf.Close()
		return nil, err
	}
	src.total = src.pf.NumRows()
	if cfg.StartRow > src.total {
		src.pf.Close()
		return nil, configErrorf("start row %d is past the end of the Parquet file (%d rows)", cfg.StartRow, src.total)
	}
	src.slicer = batchSlicer{schema: src.schema, mem: cfg.Allocator, max: int64(cfg.BatchRows), skip: cfg.StartRow}
	return src, nil
}

// Schema implements Source.
func (s *ParquetSource) Schema() *Schema { return s.schema }

// Info implements Source; the row count comes from the file metadata.
func (s *ParquetSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: s.total, Resumable: true}
}

func (s *ParquetSource) fail(err error) error {
	s.err = &InputError{Format: "parquet", Row: s.row + 1, Offset: -1, Err: err}
	return s.err
}

// Next implements Source.
func (s *ParquetSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
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
		if s.rr == nil {
			// Skip whole row groups before StartRow without reading them.
			for s.rg < s.pf.NumRowGroups() {
				n := s.pf.MetaData().RowGroup(s.rg).NumRows()
				if s.slicer.skip < n || n == 0 && s.slicer.skip == 0 {
					break
				}
				s.slicer.skip -= n
				s.row += n
				s.rg++
			}
			if s.rg >= s.pf.NumRowGroups() {
				return nil, io.EOF
			}
			rg := s.rg
			err := safely(func() error {
				var err error
				s.rr, err = s.fr.GetRecordReader(ctx, nil, []int{rg})
				return err
			})
			if err != nil {
				return nil, s.fail(fmt.Errorf("row group %d: %w", rg, err))
			}
			s.rg++
		}
		var rec arrow.RecordBatch
		err := safely(func() error {
			if s.rr.Next() {
				rec = s.rr.RecordBatch()
				rec.Retain()
				return nil
			}
			return s.rr.Err()
		})
		if err != nil {
			return nil, s.fail(fmt.Errorf("row group %d: %w", s.rg-1, err))
		}
		if rec == nil {
			s.rr.Release()
			s.rr = nil
			continue
		}
		if err := validateArrowInput(s.schema, rec); err != nil {
			rec.Release()
			return nil, s.fail(err)
		}
		first := s.row
		s.row += rec.NumRows()
		if err := s.slicer.put(rec); err != nil {
			s.row = first
			return nil, s.fail(err)
		}
	}
}

// Close implements Source.
func (s *ParquetSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.slicer.release()
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
	return s.pf.Close()
}

// ParquetSink writes a Parquet file. The Arrow schema is stored in the file
// metadata, so time zones and units read back exactly.
type ParquetSink struct {
	recordSink[bufferedParquet]
}

// bufferedParquet writes through WriteBuffered, so rows collect into row
// groups of the configured length instead of one row group per batch.
type bufferedParquet struct{ *pqarrow.FileWriter }

func (b bufferedParquet) Write(rec arrow.RecordBatch) error { return b.WriteBuffered(rec) }

// readerOnly hides an io.Closer: file.Reader.Close would close it, and
// the caller owns r.
type readerOnly struct{ parquet.ReaderAtSeeker }

// storedArrowSchema returns the Arrow schema a writer stored in the file
// metadata ("ARROW:schema", base64 of an IPC schema message), or nil.
func storedArrowSchema(pf *file.Reader, mem memory.Allocator) *arrow.Schema {
	v := pf.MetaData().KeyValueMetadata().FindValue("ARROW:schema")
	if v == nil {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(*v)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(*v); err != nil {
			return nil
		}
	}
	var schema *arrow.Schema
	_ = safely(func() error {
		rdr, err := ipc.NewReader(bytes.NewReader(raw), ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		schema = rdr.Schema()
		rdr.Release()
		return nil
	})
	return schema
}

func sameNames(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		if a.Field(i).Name != b.Field(i).Name {
			return false
		}
	}
	return true
}

// writerOnly hides an io.Closer: the Parquet writer would close it.
type writerOnly struct{ io.Writer }

// NewParquetSink returns a sink writing a Parquet file of schema s to w.
func NewParquetSink(w io.Writer, s *Schema, cfg ParquetConfig) (*ParquetSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	codec, _ := cfg.codec()
	mem := cfg.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	rows := cfg.RowGroupRows
	if rows == 0 {
		rows = DefaultParquetRowGroupRows
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(int64(rows)),
		parquet.WithVersion(parquet.V2_LATEST),
		parquet.WithCreatedBy("streamd"),
	)
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem))
	fw, err := pqarrow.NewFileWriter(s.Arrow(), writerOnly{w}, props, arrProps)
	if err != nil {
		return nil, err
	}
	return &ParquetSink{recordSink[bufferedParquet]{w: bufferedParquet{fw}, schema: s}}, nil
}
