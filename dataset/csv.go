package dataset

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// CSV conventions (docs/DATASET.md, "CSV"): a header row of column names;
// an unquoted empty field is null; a quoted empty field ("") is the empty
// string (or empty binary) and null for the other types; values use the
// text forms of values.go; binary is standard base64.

// Defaults for text sources.
const (
	// DefaultInferRows is how many records CSV and JSON Lines sources read to
	// infer a schema.
	DefaultInferRows = 1000
	// DefaultMaxRecordBytes bounds one CSV record or JSON line.
	DefaultMaxRecordBytes = 16 << 20
)

// CSVConfig configures a CSV source or sink. The zero value means defaults.
type CSVConfig struct {
	ReadConfig
	// Schema declares the columns (source: the header names must be exactly
	// these, in any order). Nil makes the source infer a schema from the
	// first InferRows records: every column nullable, typed int64, float64,
	// bool, date, timestamp or string, the first that fits every sampled
	// value. Required when NoHeader is set. The sink ignores it.
	Schema *Schema
	// Comma is the field delimiter, an ASCII character other than '"', CR
	// and LF. Default ','.
	Comma rune
	// NoHeader says there is no header row (source) or that none is written (sink).
	NoHeader bool
	// InferRows is the number of records sampled to infer a schema. Default
	// DefaultInferRows.
	InferRows int
	// MaxRecordBytes bounds a record's size. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// CRLF makes the sink end lines with CRLF instead of LF.
	CRLF bool
}

func (c CSVConfig) comma() byte {
	if c.Comma == 0 {
		return ','
	}
	return byte(c.Comma)
}

// Validate checks the configuration.
func (c CSVConfig) Validate() error {
	if err := c.ReadConfig.Validate(); err != nil {
		return err
	}
	switch {
	case c.Comma < 0 || c.Comma >= 0x80 || c.Comma == '"' || c.Comma == '\r' || c.Comma == '\n':
		return configErrorf("CSV delimiter %q must be ASCII and not a quote or line break", c.Comma)
	case c.NoHeader && c.Schema == nil:
		return configErrorf("a CSV without header needs a declared Schema")
	case c.InferRows < 0 || c.MaxRecordBytes < 0:
		return configErrorf("negative InferRows or MaxRecordBytes")
	}
	return nil
}

// CSVSource reads CSV, streamed, batch by batch.
type CSVSource struct {
	cfg    CSVConfig
	rd     *csvReader
	schema *Schema
	colOf  []int // field index → column index
	b      *recordBuilder
	sample []csvRecord // records read for inference, yielded first
	row    int64       // data rows read so far
	done   bool
	sourceState
}

type csvRecord struct {
	vals   []string
	quoted []bool
	line   int64
	offset int64
}

// NewCSVSource reads the header (and, without a declared schema, the
// inference sample) from r and returns the source. The caller keeps r and
// closes it after the source.
func NewCSVSource(r io.Reader, cfg CSVConfig) (*CSVSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	if cfg.InferRows == 0 {
		cfg.InferRows = DefaultInferRows
	}
	if cfg.MaxRecordBytes == 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	src := &CSVSource{cfg: cfg, schema: cfg.Schema}
	skipBlank := cfg.Schema != nil && cfg.Schema.NumColumns() > 1
	src.rd = newCSVReader(r, cfg.comma(), cfg.MaxRecordBytes, skipBlank)
	var header []string
	if !cfg.NoHeader {
		err := src.rd.read()
		switch {
		case errors.Is(err, io.EOF) && cfg.Schema != nil:
			src.done = true
		case errors.Is(err, io.EOF):
			return nil, &InputError{Format: "csv", Line: 1, Offset: 0, Err: errors.New("empty input: no header row to infer a schema from")}
		case err != nil:
			return nil, csvSyntaxError(src.rd, 0, err)
		default:
			for i := range src.rd.fields {
				header = append(header, src.rd.field(i))
			}
			src.rd.skipBlank = len(header) > 1
		}
	}
	if src.schema == nil {
		if err := src.infer(header); err != nil {
			return nil, err
		}
	}
	src.colOf = make([]int, src.schema.NumColumns())
	for i := range src.colOf {
		src.colOf[i] = i
	}
	if header != nil && cfg.Schema != nil {
		if err := src.mapHeader(header); err != nil {
			return nil, err
		}
	}
	src.b = newRecordBuilder(cfg.Allocator, src.schema)
	return src, nil
}

func (s *CSVSource) mapHeader(header []string) error {
	if len(header) != s.schema.NumColumns() {
		return &InputError{Format: "csv", Line: 1, Offset: 0, Err: fmt.Errorf("header has %d fields, the schema %d columns", len(header), s.schema.NumColumns())}
	}
	seen := make([]bool, len(header))
	for f, name := range header {
		c := s.schema.Index(name)
		if c < 0 || seen[c] {
			return &InputError{Format: "csv", Line: 1, Offset: 0, Err: fmt.Errorf("header field %q is not a column of the schema (or repeats)", name)}
		}
		seen[c] = true
		s.colOf[f] = c
	}
	return nil
}

// infer reads up to InferRows records and derives the schema.
func (s *CSVSource) infer(header []string) error {
	for len(s.sample) < s.cfg.InferRows {
		err := s.rd.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvSyntaxError(s.rd, int64(len(s.sample)+1), err)
		}
		rec := csvRecord{line: s.rd.recLine, offset: s.rd.recOffset}
		for i, f := range s.rd.fields {
			rec.vals = append(rec.vals, s.rd.field(i))
			rec.quoted = append(rec.quoted, f.quoted)
		}
		if len(rec.vals) != len(header) {
			return &InputError{Format: "csv", Row: int64(len(s.sample) + 1), Line: rec.line, Offset: rec.offset,
				Err: fmt.Errorf("%d fields, the header has %d", len(rec.vals), len(header))}
		}
		s.sample = append(s.sample, rec)
	}
	cols := make([]Column, len(header))
	for i, name := range header {
		vals := make([]string, 0, len(s.sample))
		for _, r := range s.sample {
			if r.vals[i] != "" {
				vals = append(vals, r.vals[i])
			}
		}
		cols[i] = inferTextColumn(name, vals)
	}
	schema, err := NewSchema(cols...)
	if err != nil {
		return &InputError{Format: "csv", Line: 1, Offset: 0, Err: err}
	}
	s.schema = schema
	return nil
}

// inferTextColumn picks the first of int64, float64, bool, date, timestamp
// that parses every value, else string.
func inferTextColumn(name string, vals []string) Column {
	c := Column{Name: name, Nullable: true, Type: TypeString}
	if len(vals) == 0 {
		return c
	}
	all := func(ok func(string) bool) bool {
		for _, v := range vals {
			if !ok(v) {
				return false
			}
		}
		return true
	}
	switch {
	case all(func(v string) bool { _, err := strconv.ParseInt(v, 10, 64); return err == nil }):
		c.Type = TypeInt64
	case all(func(v string) bool { _, err := parseFloatText(v); return err == nil }):
		c.Type = TypeFloat64
	case all(func(v string) bool { l := strings.ToLower(v); return l == "true" || l == "false" }):
		c.Type = TypeBool
	case all(func(v string) bool { _, err := parseDateText(v); return err == nil && !isInteger(v) }):
		c.Type = TypeDate
	case all(func(v string) bool {
		_, err := parseTimestampText(v, UnitNano, nil)
		return err == nil && !isInteger(v)
	}):
		c.Type, c.Unit = TypeTimestamp, UnitMicro
		for _, v := range vals {
			if _, frac, ok := strings.Cut(v, "."); ok {
				if digits := len(frac) - len(strings.TrimLeft(frac, "0123456789")); digits > 6 {
					c.Unit = UnitNano
				}
			}
			if len(v) > 19 && strings.ContainsAny(v[19:], "Z+-") {
				c.Zone = "UTC"
			}
		}
	}
	return c
}

// Schema implements Source.
func (s *CSVSource) Schema() *Schema { return s.schema }

// Info implements Source. CSV row counts are unknown until read.
func (s *CSVSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: -1, Resumable: true}
}

// nextRecord advances to the next data record, from the sample first.
func (s *CSVSource) nextRecord() (vals func(int) (string, bool), line, offset int64, n int, err error) {
	if len(s.sample) > 0 {
		r := s.sample[0]
		s.sample = s.sample[1:]
		return func(i int) (string, bool) { return r.vals[i], r.quoted[i] }, r.line, r.offset, len(r.vals), nil
	}
	if s.done {
		return nil, 0, 0, 0, io.EOF
	}
	if err := s.rd.read(); err != nil {
		return nil, s.rd.recLine, s.rd.recOffset, 0, err
	}
	rd := s.rd
	return func(i int) (string, bool) { return rd.field(i), rd.fields[i].quoted }, rd.recLine, rd.recOffset, len(rd.fields), nil
}

// Next implements Source.
func (s *CSVSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	return s.nextBatch(func() (arrow.RecordBatch, error) { return s.next(ctx) })
}

func (s *CSVSource) next(ctx context.Context) (arrow.RecordBatch, error) {
	err := skipToStart(ctx, &s.row, s.cfg.StartRow, "CSV", func() error {
		_, line, off, _, err := s.nextRecord()
		if err != nil && !errors.Is(err, io.EOF) {
			return &InputError{Format: "csv", Row: s.row + 1, Line: line, Offset: off, Err: err}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ncol := s.schema.NumColumns()
	for s.b.rows < s.cfg.BatchRows && s.b.bytes < s.cfg.BatchBytes {
		if s.b.rows%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		field, line, off, n, err := s.nextRecord()
		if errors.Is(err, io.EOF) {
			s.done = true
			break
		}
		if err != nil {
			return nil, &InputError{Format: "csv", Row: s.row + 1, Line: line, Offset: off, Err: err}
		}
		s.row++
		if n != ncol {
			return nil, &InputError{Format: "csv", Row: s.row, Line: line, Offset: off, Err: fmt.Errorf("%d fields, want %d", n, ncol)}
		}
		for f := 0; f < ncol; f++ {
			c := s.colOf[f]
			v, quoted := field(f)
			var err error
			t := s.schema.Column(c).Type
			if v == "" && (!quoted || (t != TypeString && t != TypeBinary)) {
				err = s.b.appendNull(c)
			} else {
				err = s.b.appendText(c, v)
			}
			if err != nil {
				return nil, &InputError{Format: "csv", Row: s.row, Line: line, Offset: off, Column: s.schema.Column(c).Name, Err: err}
			}
		}
		s.b.endRow()
	}
	if s.b.rows == 0 {
		return nil, io.EOF
	}
	return s.b.newRecord(), nil
}

// Close implements Source.
func (s *CSVSource) Close() error {
	if !s.closed {
		s.closed = true
		s.b.release()
	}
	return nil
}

// CSVSink writes CSV.
type CSVSink struct {
	w      *bufio.Writer
	schema *Schema
	comma  byte
	eol    string
	header bool // header still to write
	buf    []byte
	closed bool
}

// NewCSVSink returns a sink writing CSV of schema s to w. With NoHeader
// no header row is written (for appending to a file that has one, when
// resuming an export).
func NewCSVSink(w io.Writer, s *Schema, cfg CSVConfig) (*CSVSink, error) {
	cfg.Schema, cfg.ReadConfig = s, ReadConfig{}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	k := &CSVSink{w: bufio.NewWriterSize(w, 64<<10), schema: s, comma: cfg.comma(), eol: "\n", header: !cfg.NoHeader}
	if cfg.CRLF {
		k.eol = "\r\n"
	}
	return k, nil
}

func (k *CSVSink) writeHeader() error {
	if !k.header {
		return nil
	}
	k.header = false
	k.buf = k.buf[:0]
	for i, name := range k.schema.Names() {
		if i > 0 {
			k.buf = append(k.buf, k.comma)
		}
		k.buf = appendCSVField(k.buf, []byte(name), k.comma)
	}
	k.buf = append(k.buf, k.eol...)
	_, err := k.w.Write(k.buf)
	return err
}

// Write implements Sink.
func (k *CSVSink) Write(rec arrow.RecordBatch) error {
	if k.closed {
		return ErrClosed
	}
	if err := checkRecord(k.schema, rec); err != nil {
		return err
	}
	if err := k.writeHeader(); err != nil {
		return err
	}
	ncol := k.schema.NumColumns()
	var val []byte
	for r := 0; r < int(rec.NumRows()); r++ {
		k.buf = k.buf[:0]
		for c := 0; c < ncol; c++ {
			if c > 0 {
				k.buf = append(k.buf, k.comma)
			}
			arr := rec.Column(c)
			if arr.IsNull(r) {
				continue
			}
			val = appendTextValue(val[:0], k.schema, c, arr, r)
			k.buf = appendCSVField(k.buf, val, k.comma)
		}
		k.buf = append(k.buf, k.eol...)
		if _, err := k.w.Write(k.buf); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Sink: it writes the header if no batch came, and flushes.
func (k *CSVSink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	if err := k.writeHeader(); err != nil {
		return err
	}
	return k.w.Flush()
}

// appendTextValue appends the text form of a non-null value.
func appendTextValue(buf []byte, s *Schema, c int, arr arrow.Array, i int) []byte {
	switch a := arr.(type) {
	case *array.Float64:
		return appendFloatText(buf, a.Value(i))
	case *array.String:
		return append(buf, a.Value(i)...)
	case *array.Binary:
		return base64.StdEncoding.AppendEncode(buf, a.Value(i))
	case *array.Timestamp, *array.Date32, *array.Decimal128:
		// The JSON forms of these are quoted text forms; strip the quotes.
		at := len(buf)
		buf = appendJSONValue(buf, s, c, arr, i)
		return append(buf[:at], buf[at+1:len(buf)-1]...)
	default: // int64, bool
		return appendJSONValue(buf, s, c, arr, i)
	}
}
