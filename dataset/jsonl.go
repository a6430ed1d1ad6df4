package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// JSONLConfig configures a JSON Lines source or sink. The zero value means
// defaults.
type JSONLConfig struct {
	ReadConfig
	// Schema declares the columns. Nil makes the source infer one from the
	// first InferRows lines: keys in order of first appearance, every column
	// nullable; integers give int64, other numbers float64, booleans bool,
	// strings date, timestamp or string (the first that parses every value),
	// and a key with mixed kinds string. The sink ignores it.
	Schema *Schema
	// InferRows is the number of lines sampled to infer a schema. Default
	// DefaultInferRows.
	InferRows int
	// MaxLineBytes bounds one line. Default DefaultMaxRecordBytes.
	MaxLineBytes int
	// IgnoreUnknown makes the source skip keys that are not columns; by
	// default they are an error, so that no data is dropped silently.
	IgnoreUnknown bool
}

// Validate checks the configuration.
func (c JSONLConfig) Validate() error {
	if err := c.ReadConfig.Validate(); err != nil {
		return err
	}
	if c.InferRows < 0 || c.MaxLineBytes < 0 {
		return configErrorf("negative InferRows or MaxLineBytes")
	}
	return nil
}

// JSONLSource reads JSON Lines: one JSON object per line, keyed by column
// name; a missing key is null; blank lines are skipped.
type JSONLSource struct {
	cfg    JSONLConfig
	r      *bufio.Reader
	schema *Schema
	b      *recordBuilder
	obj    map[string]json.RawMessage
	sample []jsonlLine
	offset int64 // bytes consumed
	line   int64 // lines consumed
	row    int64 // data rows read
	done   bool
	sourceState
}

type jsonlLine struct {
	text         []byte
	line, offset int64
}

// NewJSONLSource returns a source reading r (the caller closes r after the
// source). Without a declared schema it reads the inference sample first.
func NewJSONLSource(r io.Reader, cfg JSONLConfig) (*JSONLSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	if cfg.InferRows == 0 {
		cfg.InferRows = DefaultInferRows
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = DefaultMaxRecordBytes
	}
	s := &JSONLSource{cfg: cfg, r: bufio.NewReaderSize(r, 64<<10), schema: cfg.Schema, obj: map[string]json.RawMessage{}}
	if s.schema == nil {
		if err := s.infer(); err != nil {
			return nil, err
		}
	}
	s.b = newRecordBuilder(cfg.Allocator, s.schema)
	return s, nil
}

func (s *JSONLSource) inputError(row, line, offset int64, col string, err error) error {
	return &InputError{Format: "jsonl", Row: row, Line: line, Offset: offset, Column: col, Err: err}
}

// readLine returns the next non-blank line (a copy when sampling).
func (s *JSONLSource) readLine() (text []byte, line, offset int64, err error) {
	for {
		offset, line = s.offset, s.line+1
		text, err = s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), text...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= s.cfg.MaxLineBytes {
				text, err = s.r.ReadSlice('\n')
				long = append(long, text...)
			}
			text = long
		}
		if len(text) > s.cfg.MaxLineBytes {
			return nil, line, offset, s.inputError(s.row+1, line, offset, "", fmt.Errorf("line longer than %d bytes", s.cfg.MaxLineBytes))
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, line, offset, err
		}
		s.offset += int64(len(text))
		if len(text) == 0 {
			return nil, line, offset, io.EOF
		}
		s.line++
		if len(bytes.TrimSpace(text)) > 0 {
			return text, line, offset, nil
		}
		if err != nil { // io.EOF after a blank last line
			return nil, line, offset, io.EOF
		}
	}
}

// jsonKind classifies a sampled JSON value for inference.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindInt
	kindFloat
	kindBool
	kindString
)

func (s *JSONLSource) infer() error {
	var names []string
	kinds := map[string]map[jsonKind]bool{}
	strs := map[string][]string{}
	for len(s.sample) < s.cfg.InferRows {
		text, line, offset, err := s.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		row := int64(len(s.sample) + 1)
		keys, vals, err := objectMembers(text)
		if err != nil {
			return s.inputError(row, line, offset, "", err)
		}
		for i, k := range keys {
			if kinds[k] == nil {
				names = append(names, k)
				kinds[k] = map[jsonKind]bool{}
			}
			v := vals[i]
			switch {
			case v[0] == 'n':
				continue
			case v[0] == 't' || v[0] == 'f':
				kinds[k][kindBool] = true
			case v[0] == '"':
				str, err := unquoteJSON(v)
				if err != nil {
					return s.inputError(row, line, offset, k, err)
				}
				kinds[k][kindString] = true
				strs[k] = append(strs[k], str)
			case v[0] == '{' || v[0] == '[':
				return s.inputError(row, line, offset, k, fmt.Errorf("%w: nested JSON value", ErrUnsupportedType))
			default:
				if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
					kinds[k][kindInt] = true
				} else {
					kinds[k][kindFloat] = true
				}
			}
		}
		s.sample = append(s.sample, jsonlLine{text: append([]byte(nil), text...), line: line, offset: offset})
	}
	if len(names) == 0 {
		return s.inputError(0, 1, 0, "", errors.New("no JSON object with keys to infer a schema from"))
	}
	cols := make([]Column, len(names))
	for i, n := range names {
		cols[i] = inferJSONColumn(n, kinds[n], strs[n])
	}
	schema, err := NewSchema(cols...)
	if err != nil {
		return s.inputError(0, 1, 0, "", err)
	}
	s.schema = schema
	return nil
}

func inferJSONColumn(name string, k map[jsonKind]bool, strs []string) Column {
	c := Column{Name: name, Nullable: true, Type: TypeString}
	special := func() bool { // strings that are all float specials
		for _, v := range strs {
			if f, err := parseFloatText(v); err != nil || !(math.IsNaN(f) || math.IsInf(f, 0)) {
				return false
			}
		}
		return true
	}
	switch {
	case len(k) == 0:
	case len(k) == 1 && k[kindInt]:
		c.Type = TypeInt64
	case !k[kindBool] && (k[kindInt] || k[kindFloat]) && (!k[kindString] || special()):
		c.Type = TypeFloat64
	case len(k) == 1 && k[kindBool]:
		c.Type = TypeBool
	case len(k) == 1 && k[kindString]:
		if t := inferTextColumn(name, strs); t.Type == TypeDate || t.Type == TypeTimestamp {
			return t
		}
	}
	return c
}

// objectMembers splits a JSON object into keys and raw values, in order.
func objectMembers(text []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("bad JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("line is not a JSON object")
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("bad JSON: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("bad JSON: %w", err)
		}
		keys = append(keys, tok.(string))
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("trailing data after the JSON object")
	}
	return keys, vals, nil
}

// Schema implements Source.
func (s *JSONLSource) Schema() *Schema { return s.schema }

// Info implements Source.
func (s *JSONLSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: -1, Resumable: true}
}

func (s *JSONLSource) nextLine() (text []byte, line, offset int64, err error) {
	if len(s.sample) > 0 {
		l := s.sample[0]
		s.sample = s.sample[1:]
		return l.text, l.line, l.offset, nil
	}
	if s.done {
		return nil, 0, 0, io.EOF
	}
	return s.readLine()
}

// Next implements Source.
func (s *JSONLSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	return s.nextBatch(func() (arrow.RecordBatch, error) { return s.next(ctx) })
}

func (s *JSONLSource) next(ctx context.Context) (arrow.RecordBatch, error) {
	err := skipToStart(ctx, &s.row, s.cfg.StartRow, "JSON Lines", func() error {
		_, _, _, err := s.nextLine()
		return err
	})
	if err != nil {
		return nil, err
	}
	for s.b.rows < s.cfg.BatchRows && s.b.bytes < s.cfg.BatchBytes {
		if s.b.rows%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		text, line, offset, err := s.nextLine()
		if errors.Is(err, io.EOF) {
			s.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		s.row++
		if col, err := s.appendLine(text); err != nil {
			return nil, s.inputError(s.row, line, offset, col, err)
		}
		s.b.endRow()
	}
	if s.b.rows == 0 {
		return nil, io.EOF
	}
	return s.b.newRecord(), nil
}

func (s *JSONLSource) appendLine(text []byte) (string, error) {
	clear(s.obj)
	if err := json.Unmarshal(text, &s.obj); err != nil {
		return "", fmt.Errorf("not a JSON object: %w", err)
	}
	if !s.cfg.IgnoreUnknown && len(s.obj) > 0 {
		for k := range s.obj {
			if s.schema.Index(k) < 0 {
				return k, errors.New("unknown column (set IgnoreUnknown to skip it)")
			}
		}
	}
	for c := 0; c < s.schema.NumColumns(); c++ {
		name := s.schema.Column(c).Name
		var err error
		if v, ok := s.obj[name]; ok {
			err = s.b.appendJSON(c, v)
		} else {
			err = s.b.appendNull(c)
		}
		if err != nil {
			return name, err
		}
	}
	return "", nil
}

// Close implements Source.
func (s *JSONLSource) Close() error {
	if !s.closed {
		s.closed = true
		s.b.release()
	}
	return nil
}

// JSONLSink writes JSON Lines: one object per row, every column present
// (null for nulls), in schema order.
type JSONLSink struct {
	w      *bufio.Writer
	schema *Schema
	keys   [][]byte // `"name":` per column
	buf    []byte
	closed bool
}

// NewJSONLSink returns a sink writing JSON Lines of schema s to w.
func NewJSONLSink(w io.Writer, s *Schema) *JSONLSink {
	k := &JSONLSink{w: bufio.NewWriterSize(w, 64<<10), schema: s}
	for _, n := range s.Names() {
		k.keys = append(k.keys, append(appendJSONString(nil, n), ':'))
	}
	return k
}

// Write implements Sink.
func (k *JSONLSink) Write(rec arrow.RecordBatch) error {
	if k.closed {
		return ErrClosed
	}
	if err := checkRecord(k.schema, rec); err != nil {
		return err
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		k.buf = append(k.buf[:0], '{')
		for c := range k.keys {
			if c > 0 {
				k.buf = append(k.buf, ',')
			}
			k.buf = append(k.buf, k.keys[c]...)
			k.buf = appendJSONValue(k.buf, k.schema, c, rec.Column(c), r)
		}
		k.buf = append(k.buf, '}', '\n')
		if _, err := k.w.Write(k.buf); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Sink: it flushes.
func (k *JSONLSink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	return k.w.Flush()
}
