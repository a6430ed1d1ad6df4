package dataset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

var updateVectors = flag.Bool("update", false, "rewrite testdata/dataset/*.json from the Go codec")

const vectorsDir = "../testdata/dataset"

// The vector files pair wire bytes (hex) with the values a decoder must
// produce, written in a JSON form that JavaScript can check exactly:
//
//	int64, timestamp  decimal string of the stored int64 (BigInt(s))
//	date              number of days since 1970-01-01
//	float64           number, or "NaN", "Infinity", "-Infinity", "-0"
//	bool              true / false
//	string            string
//	binary            lowercase hex string
//	decimal           the decimal text carried on the wire
//	null              null
type vectorFile struct {
	Description string          `json:"description"`
	Vectors     []vector        `json:"vectors"`
	Invalid     []invalidVector `json:"invalid,omitempty"`
}

type vector struct {
	Name     string         `json:"name"`
	Schema   *Schema        `json:"schema"`
	Hex      string         `json:"hex,omitempty"`      // batched layout: one message
	Messages []string       `json:"messages,omitempty"` // rows layout: one JSON text per row
	Columns  []vectorColumn `json:"columns"`
}

type vectorColumn struct {
	Name   string `json:"name"`
	Values []any  `json:"values"`
}

type invalidVector struct {
	Name   string  `json:"name"`
	Schema *Schema `json:"schema"`
	Hex    string  `json:"hex"`
	Reason string  `json:"reason"`
}

// rawValue renders row i of arr in the vector value form.
func rawValue(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Timestamp:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Date32:
		return json.Number(strconv.Itoa(int(a.Value(i))))
	case *array.Float64:
		f := a.Value(i)
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		case f == 0 && math.Signbit(f):
			return "-0"
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return hex.EncodeToString(a.Value(i))
	case *array.Decimal128:
		return formatDecimal(a.Value(i), int(a.DataType().(*arrow.Decimal128Type).Scale))
	}
	panic(fmt.Sprintf("unexpected %T", arr))
}

// rowFromRaw turns vector values (as decoded by encoding/json with
// UseNumber) into a Row for RowsToRecord.
func rowsFromColumns(t *testing.T, s *Schema, cols []vectorColumn) []Row {
	t.Helper()
	require.Len(t, cols, s.NumColumns())
	n := len(cols[0].Values)
	rows := make([]Row, n)
	for r := range rows {
		rows[r] = make(Row, len(cols))
		for c, col := range cols {
			require.Equal(t, s.Column(c).Name, col.Name)
			require.Len(t, col.Values, n)
			v := col.Values[r]
			if v == nil {
				continue
			}
			switch s.Column(c).Type {
			case TypeInt64:
				x, err := strconv.ParseInt(v.(string), 10, 64)
				require.NoError(t, err)
				rows[r][c] = x
			case TypeTimestamp:
				x, err := strconv.ParseInt(v.(string), 10, 64)
				require.NoError(t, err)
				rows[r][c] = arrow.Timestamp(x)
			case TypeDate:
				x, err := v.(json.Number).Int64()
				require.NoError(t, err)
				rows[r][c] = arrow.Date32(x)
			case TypeFloat64:
				if str, ok := v.(string); ok {
					if str == "-0" {
						rows[r][c] = math.Copysign(0, -1)
					} else {
						f, err := parseFloatText(str)
						require.NoError(t, err)
						rows[r][c] = f
					}
				} else {
					f, err := v.(json.Number).Float64()
					require.NoError(t, err)
					rows[r][c] = f
				}
			case TypeBinary:
				b, err := hex.DecodeString(v.(string))
				require.NoError(t, err)
				rows[r][c] = b
			default:
				rows[r][c] = v
			}
		}
	}
	return rows
}

func columnsOf(s *Schema, rec arrow.RecordBatch) []vectorColumn {
	cols := make([]vectorColumn, s.NumColumns())
	for c := range cols {
		cols[c] = vectorColumn{Name: s.Column(c).Name, Values: []any{}}
		for i := 0; i < int(rec.NumRows()); i++ {
			cols[c].Values = append(cols[c].Values, rawValue(rec.Column(c), i))
		}
	}
	return cols
}

// vectorCases are the datasets the vector files are generated from.
func vectorCases(t *testing.T) []struct {
	name   string
	schema *Schema
	rows   []Row
} {
	all := allTypesSchema(t)
	nulls := MustSchema(Column{Name: "n", Type: TypeInt64, Nullable: true}, Column{Name: "b", Type: TypeBool, Nullable: true}, Column{Name: "s", Type: TypeString, Nullable: true})
	nullRows := make([]Row, 9)
	for i := range nullRows {
		nullRows[i] = Row{nil, nil, nil}
	}
	nullRows[8] = Row{int64(8), false, "last"}
	bits := MustSchema(Column{Name: "i", Type: TypeInt64}, Column{Name: "b", Type: TypeBool})
	var bitRows []Row
	for i := 0; i < 17; i++ {
		bitRows = append(bitRows, Row{int64(i * i), i%3 == 0})
	}
	return []struct {
		name   string
		schema *Schema
		rows   []Row
	}{
		{"worked example (docs/DATASET.md)", workedExampleSchema(), workedExampleRows()},
		{"every type", all, allTypesRows(t)},
		{"empty batch", all, nil},
		{"nulls across a byte boundary", nulls, nullRows},
		{"17 rows without nulls", bits, bitRows},
	}
}

func workedExampleSchema() *Schema {
	return MustSchema(
		Column{Name: "id", Type: TypeInt64},
		Column{Name: "name", Type: TypeString, Nullable: true},
		Column{Name: "ok", Type: TypeBool},
	)
}

func workedExampleRows() []Row {
	return []Row{{int64(1), "hi", true}, {int64(2), nil, false}, {int64(-1), "é", true}}
}

func TestBatchedVectors(t *testing.T) {
	path := filepath.Join(vectorsDir, "batched.json")
	if *updateVectors {
		f := vectorFile{Description: "Row-batched layout test vectors (docs/DATASET.md). Each vector is one batch message (hex) and the values a decoder must produce; see the value forms in dataset/vectors_test.go. Invalid vectors must be rejected."}
		for _, c := range vectorCases(t) {
			rec, err := RowsToRecord(nil, c.schema, c.rows)
			require.NoError(t, err)
			msg, err := encodeBatched(c.schema, rec)
			require.NoError(t, err)
			f.Vectors = append(f.Vectors, vector{Name: c.name, Schema: c.schema, Hex: hex.EncodeToString(msg), Columns: columnsOf(c.schema, rec)})
			rec.Release()
		}
		f.Invalid = invalidVectors(t)
		writeVectors(t, path, f)
	}
	f := readVectors(t, path)
	require.NotEmpty(t, f.Vectors)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			msg, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			rec, err := decodeBatched(memory.DefaultAllocator, v.Schema, msg)
			require.NoError(t, err)
			defer rec.Release()
			got, err := json.Marshal(columnsOf(v.Schema, rec))
			require.NoError(t, err)
			want, err := json.Marshal(v.Columns)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got), "decoded values")

			built, err := RowsToRecord(nil, v.Schema, rowsFromColumns(t, v.Schema, v.Columns))
			require.NoError(t, err)
			defer built.Release()
			enc, err := encodeBatched(v.Schema, built)
			require.NoError(t, err)
			require.Equal(t, v.Hex, hex.EncodeToString(enc), "encoding the values gives the same bytes")
		})
	}
	require.NotEmpty(t, f.Invalid)
	for _, v := range f.Invalid {
		msg, err := hex.DecodeString(v.Hex)
		require.NoError(t, err)
		_, err = decodeBatched(memory.DefaultAllocator, v.Schema, msg)
		requireInputError(t, err, "batched")
	}
}

func invalidVectors(t *testing.T) []invalidVector {
	s := workedExampleSchema()
	rec, err := RowsToRecord(nil, s, workedExampleRows())
	require.NoError(t, err)
	defer rec.Release()
	good, err := encodeBatched(s, rec)
	require.NoError(t, err)
	mut := func(f func(b []byte) []byte) string {
		return hex.EncodeToString(f(append([]byte(nil), good...)))
	}
	return []invalidVector{
		{"truncated", s, mut(func(b []byte) []byte { return b[:len(b)-8] }), "message ends inside the last column block"},
		{"column count", s, mut(func(b []byte) []byte { b[4] = 2; return b }), "column_count differs from the schema"},
		{"unknown flag", s, mut(func(b []byte) []byte { b[8] = 2; return b }), "flags has a bit other than bit 0"},
		{"null in non-nullable", s, mut(func(b []byte) []byte { b[8] = 1; return b }), "a validity bitmap with a null in a non-nullable column"},
		{"offsets decrease", s, mut(func(b []byte) []byte { b[60] = 9; return b }), "string offsets must not decrease"},
		{"invalid UTF-8", s, mut(func(b []byte) []byte { b[72] = 0xff; return b }), "string bytes must be UTF-8"},
		{"trailing bytes", s, mut(func(b []byte) []byte { return append(b, 0, 0, 0, 0, 0, 0, 0, 0) }), "bytes after the last column block"},
	}
}

// TestRowsVectors pins the rows layout: one JSON array per row.
func TestRowsVectors(t *testing.T) {
	path := filepath.Join(vectorsDir, "rows.json")
	if *updateVectors {
		f := vectorFile{Description: "Rows layout test vectors (docs/DATASET.md): one JSON text per row and the stored values it carries (value forms as in batched.json)."}
		for _, c := range vectorCases(t)[:2] {
			rec, err := RowsToRecord(nil, c.schema, c.rows)
			require.NoError(t, err)
			v := vector{Name: c.name, Schema: c.schema, Columns: columnsOf(c.schema, rec)}
			for i := 0; i < int(rec.NumRows()); i++ {
				v.Messages = append(v.Messages, string(appendJSONArrayRow(nil, c.schema, rec, i)))
			}
			f.Vectors = append(f.Vectors, v)
			rec.Release()
		}
		writeVectors(t, path, f)
	}
	f := readVectors(t, path)
	for _, v := range f.Vectors {
		c, err := NewConsumer(Header{Version: HeaderVersion, Schema: v.Schema, Layout: LayoutRows, BatchRows: 1000, BatchBytes: 1 << 20, TotalRows: -1}, ConsumerConfig{CoalesceRows: 1000})
		require.NoError(t, err)
		for _, m := range v.Messages {
			r, err := c.Decode([]byte(m))
			require.NoError(t, err)
			require.Nil(t, r)
		}
		rec := c.Flush()
		require.NotNil(t, rec)
		got, _ := json.Marshal(columnsOf(v.Schema, rec))
		want, _ := json.Marshal(v.Columns)
		require.JSONEq(t, string(want), string(got), v.Name)
		for i, m := range v.Messages {
			require.Equal(t, m, string(appendJSONArrayRow(nil, v.Schema, rec, i)))
		}
		rec.Release()
		c.Close()
	}
}

func writeVectors(t *testing.T, path string, f vectorFile) {
	b, err := json.MarshalIndent(f, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
}

func readVectors(t *testing.T, path string) vectorFile {
	b, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./dataset -run Vectors -update to generate")
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&f))
	return f
}
