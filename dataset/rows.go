package dataset

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Row is one row as Go values in schema column order. The value of each
// column type is:
//
//	int64      int64
//	float64    float64
//	bool       bool
//	string     string
//	binary     []byte
//	timestamp  time.Time (in the column's zone; UTC for wall-clock columns)
//	date       time.Time (midnight UTC)
//	decimal    string, exactly Scale digits after the point ("-12.50")
//	null       nil
//
// RowsToRecord also accepts other integer widths, float32, time.Time in
// any location (a wall-clock column keeps its wall-clock fields), decimal
// text in any exact form ("1.5e2"), arrow.Timestamp / arrow.Date32 /
// decimal128.Num stored values, and driver.Valuer implementations.
type Row []any

// RowsToRecord converts rows to one record batch of schema s. The caller
// releases the result. A value that does not fit its column fails with an
// *InputError (Format "rows") naming the 1-based row and the column.
func RowsToRecord(mem memory.Allocator, s *Schema, rows []Row) (arrow.RecordBatch, error) {
	b := newRecordBuilder(mem, s)
	defer b.release()
	b.reserve(len(rows))
	for r, row := range rows {
		if len(row) != s.NumColumns() {
			return nil, &InputError{Format: "rows", Row: int64(r + 1), Offset: -1,
				Err: fmt.Errorf("%d values for %d columns", len(row), s.NumColumns())}
		}
		for i, v := range row {
			if err := b.appendGo(i, v); err != nil {
				return nil, &InputError{Format: "rows", Row: int64(r + 1), Offset: -1, Column: s.Column(i).Name, Err: err}
			}
		}
		b.endRow()
	}
	return b.newRecord(), nil
}

// RecordRows converts a record batch of schema s to rows. The rows share no
// memory with the record.
func RecordRows(s *Schema, rec arrow.RecordBatch) ([]Row, error) {
	if err := checkRecord(s, rec); err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	rows := make([]Row, n)
	vals := make([]any, n*s.NumColumns())
	for r := range rows {
		rows[r] = vals[r*s.NumColumns() : (r+1)*s.NumColumns() : (r+1)*s.NumColumns()]
	}
	for c := 0; c < s.NumColumns(); c++ {
		arr := rec.Column(c)
		for r := 0; r < n; r++ {
			rows[r][c] = valueAt(s, c, arr, r)
		}
	}
	return rows, nil
}

// valueAt returns row i of column c (array arr) as its Row value.
func valueAt(s *Schema, c int, arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	col := s.Column(c)
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.Binary:
		return bytes.Clone(a.Value(i))
	case *array.Timestamp:
		return storedToTime(int64(a.Value(i)), col.Unit, s.location(c))
	case *array.Date32:
		return daysToTime(int32(a.Value(i)))
	case *array.Decimal128:
		return formatDecimal(a.Value(i), col.Scale)
	}
	panic(fmt.Sprintf("dataset: unexpected array %T for column %q", arr, col.Name))
}

// checkRecord verifies that rec has exactly the columns of s (names, types
// and nullability; metadata is ignored).
func checkRecord(s *Schema, rec arrow.RecordBatch) error {
	if rec == nil {
		return mismatchErrorf("nil record")
	}
	as := rec.Schema()
	if as.NumFields() != s.NumColumns() {
		return mismatchErrorf("record has %d columns, schema %d", as.NumFields(), s.NumColumns())
	}
	want := s.Arrow()
	for i := 0; i < as.NumFields(); i++ {
		got, exp := as.Field(i), want.Field(i)
		if got.Name != exp.Name || !arrow.TypeEqual(got.Type, exp.Type) {
			return mismatchErrorf("column %d is %q %s, schema says %q %s", i, got.Name, got.Type, exp.Name, exp.Type)
		}
		if !exp.Nullable && rec.Column(i).NullN() > 0 {
			return mismatchErrorf("column %q is not nullable but the record has %d nulls", exp.Name, rec.Column(i).NullN())
		}
	}
	return nil
}
