package dataset

import (
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var errNull = errors.New("null in a column that is not nullable")

// recordBuilder accumulates rows into an Arrow record batch of a Schema,
// parsing text, JSON or Go values per column, and keeps a running estimate
// of the batch's encoded size so that sources can cut batches by bytes.
// It is used by one goroutine at a time.
type recordBuilder struct {
	schema   *Schema
	rb       *array.RecordBuilder
	cols     []colBuilder
	rowFixed int // encoded bytes per row that do not depend on values
	rows     int
	bytes    int
	jsonVals [][]byte // appendJSONArrayValues' scratch
}

type colBuilder struct {
	col Column
	loc *time.Location
	i64 *array.Int64Builder
	f64 *array.Float64Builder
	bl  *array.BooleanBuilder
	str *array.StringBuilder
	bin *array.BinaryBuilder
	ts  *array.TimestampBuilder
	d32 *array.Date32Builder
	dec *array.Decimal128Builder
}

func newRecordBuilder(mem memory.Allocator, s *Schema) *recordBuilder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := &recordBuilder{schema: s, rb: array.NewRecordBuilder(mem, s.Arrow()), cols: make([]colBuilder, s.NumColumns())}
	for i := range b.cols {
		c := &b.cols[i]
		c.col, c.loc = s.Column(i), s.location(i)
		switch fb := b.rb.Field(i).(type) {
		case *array.Int64Builder:
			c.i64 = fb
		case *array.Float64Builder:
			c.f64 = fb
		case *array.BooleanBuilder:
			c.bl = fb
		case *array.StringBuilder:
			c.str = fb
		case *array.BinaryBuilder:
			c.bin = fb
		case *array.TimestampBuilder:
			c.ts = fb
		case *array.Date32Builder:
			c.d32 = fb
		case *array.Decimal128Builder:
			c.dec = fb
		}
		b.rowFixed += fixedWidth(c.col.Type)
	}
	return b
}

// fixedWidth is the per-row encoded size of a column in the batched layout,
// not counting variable-length bytes (rounded up for bits).
func fixedWidth(t Type) int {
	switch t {
	case TypeInt64, TypeFloat64, TypeTimestamp:
		return 8
	case TypeDate, TypeString, TypeBinary, TypeDecimal:
		return 4
	default:
		return 1
	}
}

func (b *recordBuilder) release() { b.rb.Release() }

// endRow counts a completed row.
func (b *recordBuilder) endRow() {
	b.rows++
	b.bytes += b.rowFixed
}

// reserve pre-sizes every column for n more rows.
func (b *recordBuilder) reserve(n int) {
	for i := range b.cols {
		b.rb.Field(i).Reserve(n)
	}
}

// newRecord returns the rows built so far as a record batch (the caller
// releases it) and resets the builder.
func (b *recordBuilder) newRecord() arrow.RecordBatch {
	b.rows, b.bytes = 0, 0
	return b.rb.NewRecordBatch()
}

// appendNull appends a null to column i.
func (b *recordBuilder) appendNull(i int) error {
	c := &b.cols[i]
	if !c.col.Nullable {
		return errNull
	}
	b.rb.Field(i).AppendNull()
	return nil
}

func (b *recordBuilder) appendString(i int, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string is not valid UTF-8")
	}
	b.cols[i].str.BinaryBuilder.Append(unsafe.Slice(unsafe.StringData(s), len(s))) // copied, not converted
	b.bytes += len(s)
	return nil
}

func (b *recordBuilder) appendBinary(i int, v []byte) {
	b.cols[i].bin.Append(v)
	b.bytes += len(v)
}

func (b *recordBuilder) appendDecimal(i int, n decimal128.Num) error {
	c := &b.cols[i]
	if err := checkDecimal(n, c.col.Precision); err != nil {
		return err
	}
	c.dec.Append(n)
	b.bytes += c.col.Precision + 2
	return nil
}

// appendText parses s with the text conventions of CSV. The caller decides
// what is null before calling.
func (b *recordBuilder) appendText(i int, s string) error {
	c := &b.cols[i]
	switch c.col.Type {
	case TypeInt64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("int64 %q: %w", s, errors.Unwrap(err))
		}
		c.i64.Append(v)
	case TypeFloat64:
		v, err := parseFloatText(s)
		if err != nil {
			return err
		}
		c.f64.Append(v)
	case TypeBool:
		v, err := parseBoolText(s)
		if err != nil {
			return err
		}
		c.bl.Append(v)
	case TypeString:
		return b.appendString(i, s)
	case TypeBinary:
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("binary value is not standard base64: %w", err)
		}
		b.appendBinary(i, v)
	case TypeTimestamp:
		v, err := parseTimestampText(s, c.col.Unit, c.loc)
		if err != nil {
			return err
		}
		c.ts.Append(arrow.Timestamp(v))
	case TypeDate:
		v, err := parseDateText(s)
		if err != nil {
			return err
		}
		c.d32.Append(arrow.Date32(v))
	case TypeDecimal:
		v, err := parseDecimalText(s, c.col.Precision, c.col.Scale)
		if err != nil {
			return err
		}
		return b.appendDecimal(i, v)
	}
	return nil
}

// appendJSON parses one JSON value (already syntactically valid) with the
// JSON conventions of JSON Lines and the rows layout.
func (b *recordBuilder) appendJSON(i int, raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("empty JSON value")
	}
	if raw[0] == 'n' { // null
		return b.appendNull(i)
	}
	c := &b.cols[i]
	isStr := raw[0] == '"'
	// s is the text to parse. For a string without escapes and for a bare
	// value it is a view of raw, valid during this call only: appendText
	// keeps nothing of it, and appendTextView parses a copy for its error.
	var s string
	if isStr {
		if body, ok := simpleJSONString(raw); ok {
			if !utf8.Valid(body) {
				return fmt.Errorf("string is not valid UTF-8")
			}
			s = unsafeString(body)
		} else {
			var err error
			if s, err = unquoteJSON(raw); err != nil {
				return err
			}
		}
	} else if raw[0] == '{' || raw[0] == '[' {
		return fmt.Errorf("nested JSON value where %s expected", c.col.Type)
	}
	switch c.col.Type {
	case TypeBool:
		switch string(raw) {
		case "true":
			c.bl.Append(true)
		case "false":
			c.bl.Append(false)
		default:
			return fmt.Errorf("bool expected, got %.40s", raw)
		}
		return nil
	case TypeString:
		if !isStr {
			s = unsafeString(raw) // a number or boolean kept as its JSON text
		}
		return b.appendString(i, s) // the builder copies s
	case TypeBinary:
		if !isStr {
			return fmt.Errorf("binary expected as a base64 string, got %.40s", raw)
		}
		return b.appendTextView(i, s)
	case TypeFloat64:
		if isStr {
			v, err := parseFloatText(s)
			if err != nil || !(math.IsNaN(v) || math.IsInf(v, 0)) {
				return fmt.Errorf("float64 expected as a number or \"NaN\", \"Infinity\", \"-Infinity\", got %.40s", raw)
			}
			c.f64.Append(v)
			return nil
		}
		if raw[0] == 't' || raw[0] == 'f' {
			return fmt.Errorf("float64 expected, got %s", raw)
		}
		return b.appendTextView(i, unsafeString(raw))
	default: // int64, timestamp, date, decimal: a number, or a string in the text form
		if !isStr {
			if raw[0] == 't' || raw[0] == 'f' {
				return fmt.Errorf("%s expected, got %s", c.col.Type, raw)
			}
			s = unsafeString(raw)
		}
		return b.appendTextView(i, s)
	}
}

// appendTextView is appendText of s, which may be a view of bytes valid only
// during the call (see unsafeString): appendText keeps nothing of its
// argument when it succeeds, and on failure (when it appended nothing)
// appendTextView parses a copy again for the error, which may keep it.
func (b *recordBuilder) appendTextView(i int, s string) error {
	if err := b.appendText(i, s); err != nil {
		return b.appendText(i, strings.Clone(s))
	}
	return nil
}

// unsafeString returns a string sharing b's bytes: only for parsing that
// keeps nothing of it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// unquoteJSON decodes a JSON string literal.
func unquoteJSON(raw []byte) (string, error) {
	if body, ok := simpleJSONString(raw); ok {
		if !utf8.Valid(body) {
			return "", fmt.Errorf("string is not valid UTF-8")
		}
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("bad JSON string: %w", err)
	}
	return s, nil
}

// simpleJSONString returns the text inside a JSON string literal that has
// no escapes and no control characters (UTF-8 not checked), or false.
func simpleJSONString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 {
			return nil, false
		}
	}
	return body, true
}

// appendGo stores a Go value: the Row conventions (see Row) plus the
// values database/sql drivers produce.
func (b *recordBuilder) appendGo(i int, v any) error {
	if v == nil {
		return b.appendNull(i)
	}
	if vr, ok := v.(driver.Valuer); ok {
		dv, err := vr.Value()
		if err != nil {
			return err
		}
		if _, again := dv.(driver.Valuer); !again {
			return b.appendGo(i, dv)
		}
	}
	c := &b.cols[i]
	mismatch := func() error { return fmt.Errorf("cannot store %T in a %s column", v, c.col.Type) }
	switch c.col.Type {
	case TypeInt64:
		n, ok := toInt64(v)
		if !ok {
			if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			}
			return mismatch()
		}
		c.i64.Append(n)
	case TypeFloat64:
		switch x := v.(type) {
		case float64:
			c.f64.Append(x)
		case float32:
			c.f64.Append(float64(x))
		default:
			if n, ok := toInt64(v); ok {
				c.f64.Append(float64(n))
			} else if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			} else {
				return mismatch()
			}
		}
	case TypeBool:
		switch x := v.(type) {
		case bool:
			c.bl.Append(x)
		default:
			if n, ok := toInt64(v); ok && (n == 0 || n == 1) {
				c.bl.Append(n == 1)
			} else if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			} else {
				return mismatch()
			}
		}
	case TypeString:
		switch x := v.(type) {
		case string:
			return b.appendString(i, x)
		case []byte:
			return b.appendString(i, string(x))
		case int64:
			return b.appendString(i, strconv.FormatInt(x, 10))
		case float64:
			return b.appendString(i, string(appendFloatText(nil, x)))
		case bool:
			return b.appendString(i, strconv.FormatBool(x))
		case time.Time:
			return b.appendString(i, x.Format(time.RFC3339Nano))
		default:
			return mismatch()
		}
	case TypeBinary:
		switch x := v.(type) {
		case []byte:
			b.appendBinary(i, x)
		case string:
			b.appendBinary(i, []byte(x))
		default:
			return mismatch()
		}
	case TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			n, err := timeToStored(x, c.col.Unit, c.loc)
			if err != nil {
				return err
			}
			c.ts.Append(arrow.Timestamp(n))
		case arrow.Timestamp:
			c.ts.Append(x)
		default:
			if n, ok := toInt64(v); ok {
				c.ts.Append(arrow.Timestamp(n))
			} else if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			} else {
				return mismatch()
			}
		}
	case TypeDate:
		switch x := v.(type) {
		case time.Time:
			d, err := dateToDays(x)
			if err != nil {
				return err
			}
			c.d32.Append(arrow.Date32(d))
		case arrow.Date32:
			c.d32.Append(x)
		default:
			if n, ok := toInt64(v); ok {
				if n < math.MinInt32 || n > math.MaxInt32 {
					return fmt.Errorf("date of %d days is out of range", n)
				}
				c.d32.Append(arrow.Date32(n))
			} else if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			} else {
				return mismatch()
			}
		}
	case TypeDecimal:
		switch x := v.(type) {
		case decimal128.Num:
			return b.appendDecimal(i, x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("cannot store %v in a decimal column", x)
			}
			return b.appendText(i, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			if n, ok := toInt64(v); ok {
				return b.appendText(i, strconv.FormatInt(n, 10))
			}
			if s, isText := textOf(v); isText {
				return b.appendText(i, s)
			}
			return mismatch()
		}
	}
	return nil
}

func textOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x), true
		}
	}
	return 0, false
}
