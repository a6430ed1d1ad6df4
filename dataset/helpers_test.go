package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// allTypesSchema has every type, several timestamp units and zones, and
// both nullable and non-nullable columns.
func allTypesSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(
		Column{Name: "id", Type: TypeInt64},
		Column{Name: "i", Type: TypeInt64, Nullable: true},
		Column{Name: "f", Type: TypeFloat64, Nullable: true},
		Column{Name: "b", Type: TypeBool, Nullable: true},
		Column{Name: "s", Type: TypeString, Nullable: true},
		Column{Name: "bin", Type: TypeBinary, Nullable: true},
		Column{Name: "ts_utc", Type: TypeTimestamp, Unit: UnitMicro, Zone: "UTC", Nullable: true},
		Column{Name: "ts_ny", Type: TypeTimestamp, Unit: UnitNano, Zone: "America/New_York", Nullable: true},
		Column{Name: "ts_wall", Type: TypeTimestamp, Unit: UnitMilli, Nullable: true},
		Column{Name: "ts_off", Type: TypeTimestamp, Unit: UnitSecond, Zone: "+05:30", Nullable: true},
		Column{Name: "d", Type: TypeDate, Nullable: true},
		Column{Name: "dec", Type: TypeDecimal, Precision: 38, Scale: 10, Nullable: true},
		Column{Name: "dec2", Type: TypeDecimal, Precision: 5, Scale: 2, Nullable: true},
	)
	require.NoError(t, err)
	return s
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := parseZone(name)
	require.NoError(t, err)
	return loc
}

// allTypesRows covers nulls, empty strings, unicode, int64 min/max,
// NaN/±Inf/-0, timestamps in and around DST, dates before 1970 and
// extreme decimals.
func allTypesRows(t testing.TB) []Row {
	ny := mustLoc(t, "America/New_York")
	ist := mustLoc(t, "+05:30")
	return []Row{
		{int64(1), int64(math.MinInt64), math.NaN(), true, "", []byte{}, time.Date(2024, 3, 10, 6, 59, 59, 999999000, time.UTC),
			time.Date(2024, 3, 10, 1, 59, 59, 123456789, ny), time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC),
			time.Date(1969, 12, 31, 23, 59, 59, 0, ist), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
			"-9999999999999999999999999999.9999999999", "-999.99"},
		{int64(2), int64(math.MaxInt64), math.Inf(1), false, "héllo wörld 日本語 🎉", []byte{0, 1, 2, 255},
			time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 11, 3, 1, 30, 0, 0, ny),
			time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 19, 3, 14, 8, 0, ist),
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0.0000000001", "0.00"},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(4), int64(0), math.Inf(-1), true, "line\nbreak, \"quoted\", comma\ttab\r\n", []byte("plain"),
			time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC), time.Date(1677, 9, 22, 0, 0, 0, 0, time.UTC).In(ny),
			time.Date(9999, 12, 31, 23, 59, 59, 999000000, time.UTC), time.Date(2024, 6, 1, 12, 0, 0, 0, ist),
			time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "9999999999999999999999999999.9999999999", "999.99"},
		{int64(5), int64(-1), math.Copysign(0, -1), false, "\x00 nul and \u2028 separator", []byte(""),
			nil, time.Date(2024, 7, 4, 12, 0, 0, 1, ny), nil, nil, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), "0E-10", nil},
		{int64(6), int64(42), 1.0000000000000002, true, " leading and trailing ", nil,
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), nil, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), nil, nil, "1.5", "-0.01"},
		{int64(7), int64(7), 5e-324, nil, "NULL", []byte{'"'}, nil, nil, nil, nil, nil, nil, "12.30"},
		{int64(8), int64(8), -1.7976931348623157e308, true, `\N`, []byte{10, 13}, nil, nil, nil, nil, nil, "0", "1"},
	}
}

// wantRows normalises input rows to what a round trip yields (decimals in
// canonical text, times in the column's zone).
func wantRows(t testing.TB, s *Schema, rows []Row) []Row {
	t.Helper()
	rec, err := RowsToRecord(memory.DefaultAllocator, s, rows)
	require.NoError(t, err)
	defer rec.Release()
	out, err := RecordRows(s, rec)
	require.NoError(t, err)
	return out
}

func recordsToRows(t testing.TB, s *Schema, recs []arrow.RecordBatch) []Row {
	t.Helper()
	out := []Row{}
	for _, r := range recs {
		rows, err := RecordRows(s, r)
		require.NoError(t, err)
		out = append(out, rows...)
	}
	return out
}

func requireSameRows(t testing.TB, s *Schema, want, got []Row) {
	t.Helper()
	require.Equal(t, len(want), len(got), "row count")
	for r := range want {
		for c := range want[r] {
			require.Truef(t, sameValue(want[r][c], got[r][c]), "row %d column %q: want %#v, got %#v", r, s.Column(c).Name, want[r][c], got[r][c])
		}
	}
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y)))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location().String() == y.Location().String()
	}
	return a == b
}

func newChecked(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// collectSink keeps every record it receives (retained).
type collectSink struct {
	recs   []arrow.RecordBatch
	closed bool
}

func (c *collectSink) Write(rec arrow.RecordBatch) error {
	rec.Retain()
	c.recs = append(c.recs, rec)
	return nil
}

func (c *collectSink) Close() error { c.closed = true; return nil }

func (c *collectSink) release() {
	for _, r := range c.recs {
		r.Release()
	}
	c.recs = nil
}

// drain reads a source to the end and returns its rows.
func drain(t testing.TB, src Source) []Row {
	t.Helper()
	var sink collectSink
	defer sink.release()
	_, err := Copy(context.Background(), &sink, src)
	require.NoError(t, err)
	return recordsToRows(t, src.Schema(), sink.recs)
}

// drainErr reads a source until it fails and returns the error.
func drainErr(t testing.TB, src Source) error {
	t.Helper()
	for {
		rec, err := src.Next(context.Background())
		if err != nil {
			require.False(t, errors.Is(err, io.EOF), "source ended without the expected error")
			return err
		}
		rec.Release()
	}
}
