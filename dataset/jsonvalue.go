package dataset

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The JSON value conventions, shared by JSON Lines and the rows layout:
//
//	int64      number                      (exact in the text; see DATASET.md for JS)
//	float64    number, or "NaN", "Infinity", "-Infinity"
//	bool       true / false
//	string     string
//	binary     string, standard base64
//	timestamp  string, RFC 3339 in the column's zone (see appendTimestampText)
//	date       string, YYYY-MM-DD
//	decimal    string, exact text with Scale fraction digits
//	null       null

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendJSONValue appends row i of column c (array arr) as a JSON value.
func appendJSONValue(buf []byte, s *Schema, c int, arr arrow.Array, i int) []byte {
	if arr.IsNull(i) {
		return append(buf, "null"...)
	}
	col := s.Column(c)
	switch a := arr.(type) {
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10)
	case *array.Float64:
		f := a.Value(i)
		switch {
		case math.IsNaN(f):
			return append(buf, `"NaN"`...)
		case math.IsInf(f, 1):
			return append(buf, `"Infinity"`...)
		case math.IsInf(f, -1):
			return append(buf, `"-Infinity"`...)
		}
		return appendFloatText(buf, f)
	case *array.Boolean:
		return strconv.AppendBool(buf, a.Value(i))
	case *array.String:
		return appendJSONString(buf, a.Value(i))
	case *array.Binary:
		v := a.Value(i)
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, v)
		return append(buf, '"')
	case *array.Timestamp:
		buf = append(buf, '"')
		buf = appendTimestampText(buf, int64(a.Value(i)), col.Unit, s.location(c))
		return append(buf, '"')
	case *array.Date32:
		buf = append(buf, '"')
		buf = appendDateText(buf, int32(a.Value(i)))
		return append(buf, '"')
	case *array.Decimal128:
		buf = append(buf, '"')
		buf = appendDecimal(buf, a.Value(i), col.Scale)
		return append(buf, '"')
	}
	panic(fmt.Sprintf("dataset: unexpected array %T for column %q", arr, col.Name))
}

// appendJSONArrayRow appends row i of rec as a JSON array.
func appendJSONArrayRow(buf []byte, s *Schema, rec arrow.RecordBatch, i int) []byte {
	buf = append(buf, '[')
	for c := 0; c < s.NumColumns(); c++ {
		if c > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONValue(buf, s, c, rec.Column(c), i)
	}
	return append(buf, ']')
}

// appendJSONArrayValues parses a JSON array of one value per column into b
// (one row). It does not call b.endRow.
func appendJSONArrayValues(b *recordBuilder, msg []byte) (col string, err error) {
	vals, err := splitJSONArray(b.jsonVals[:0], msg, b.cols)
	if err != nil {
		return "", err
	}
	b.jsonVals = vals
	for i, v := range vals {
		if err := b.appendJSON(i, v); err != nil {
			return b.schema.Column(i).Name, err
		}
	}
	return "", nil
}

// splitJSONArray splits a JSON array of exactly len(cols) scalar values
// into their raw texts (slices of msg), checking the JSON grammar on the
// way. It replaces encoding/json here: 4× faster on the demo rows. It
// appends the texts to vals (a reused slice).
func splitJSONArray(vals [][]byte, msg []byte, cols []colBuilder) ([][]byte, error) {
	i := skipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '[' {
		return nil, fmt.Errorf("not a JSON array")
	}
	i = skipSpace(msg, i+1)
	if i < len(msg) && msg[i] == ']' {
		i++
	} else {
		for {
			end, err := scanJSONScalar(msg, i)
			if err != nil {
				return nil, err
			}
			vals = append(vals, msg[i:end])
			i = skipSpace(msg, end)
			if i >= len(msg) {
				return nil, fmt.Errorf("unterminated JSON array")
			}
			if msg[i] == ']' {
				i++
				break
			}
			if msg[i] != ',' {
				return nil, fmt.Errorf("bad JSON at byte %d: want , or ]", i)
			}
			i = skipSpace(msg, i+1)
		}
	}
	if skipSpace(msg, i) != len(msg) {
		return nil, fmt.Errorf("trailing data after the JSON array")
	}
	if len(vals) != len(cols) {
		return nil, fmt.Errorf("%d values for %d columns", len(vals), len(cols))
	}
	return vals, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanJSONScalar returns the end of the JSON string, number or literal at
// b[i:]. Strings are checked for closing quotes and escape syntax only;
// unquoteJSON decodes them.
func scanJSONScalar(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("missing JSON value")
	}
	switch c := b[i]; {
	case c == '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated JSON string")
	case c == 'n' || c == 't' || c == 'f':
		for _, lit := range []string{"null", "true", "false"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, fmt.Errorf("bad JSON literal at byte %d", i)
	case c == '-' || (c >= '0' && c <= '9'):
		return scanJSONNumber(b, i)
	case c == '[' || c == '{':
		return 0, fmt.Errorf("nested JSON value at byte %d", i)
	}
	return 0, fmt.Errorf("bad JSON value at byte %d", i)
}

// scanJSONNumber checks -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanJSONNumber(b []byte, i int) (int, error) {
	start := i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return 0, fmt.Errorf("bad JSON number at byte %d", start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0, fmt.Errorf("bad JSON number at byte %d", start)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, fmt.Errorf("bad JSON number at byte %d", start)
		}
	}
	return i, nil
}
