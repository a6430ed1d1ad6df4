package dataset

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// writeFormat writes rows of s through the format's sink, in batches of
// batch rows, and returns the file bytes.
func writeFormat(t *testing.T, mem memory.Allocator, f Format, s *Schema, rows []Row, batch int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var sink Sink
	var err error
	switch f {
	case FormatParquet:
		sink, err = NewParquetSink(&buf, s, ParquetConfig{RowGroupRows: 3, ReadConfig: ReadConfig{Allocator: mem}})
	case FormatArrow:
		sink, err = NewArrowFileSink(&buf, s, ArrowConfig{ReadConfig: ReadConfig{Allocator: mem}})
	default:
		sink, err = NewSink(&buf, f, s)
	}
	require.NoError(t, err)
	for i := 0; i < len(rows); i += batch {
		rec, err := RowsToRecord(mem, s, rows[i:min(i+batch, len(rows))])
		require.NoError(t, err)
		require.NoError(t, sink.Write(rec))
		rec.Release()
	}
	require.NoError(t, sink.Close())
	require.NoError(t, sink.Close(), "Close is idempotent")
	return buf.Bytes()
}

func TestFormatsRoundTripEveryType(t *testing.T) {
	s := allTypesSchema(t)
	rows := allTypesRows(t)
	want := wantRows(t, s, rows)
	for _, f := range Formats() {
		for _, n := range []int{len(rows), 0} {
			t.Run(fmt.Sprintf("%s/%drows", f, n), func(t *testing.T) {
				mem := newChecked(t)
				data := writeFormat(t, mem, f, s, rows[:n], 3)
				src, err := NewFileSource(bytes.NewReader(data), f, FileOptions{Schema: s, ReadConfig: ReadConfig{BatchRows: 2, Allocator: mem}})
				require.NoError(t, err)
				require.True(t, src.Schema().Equal(s), "schema read back: %s", src.Schema())
				got := drain(t, src)
				require.NoError(t, src.Close())
				requireSameRows(t, s, want[:n], got)
			})
		}
	}
}

func TestFormatsResume(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "name", Type: TypeString, Nullable: true})
	var rows []Row
	for i := 0; i < 100; i++ {
		var name any = fmt.Sprintf("name %d", i)
		if i%7 == 0 {
			name = nil
		}
		rows = append(rows, Row{int64(i), name})
	}
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			mem := newChecked(t)
			data := writeFormat(t, mem, f, s, rows, 16)
			for _, start := range []int64{0, 1, 15, 16, 17, 48, 99, 100} {
				src, err := NewFileSource(bytes.NewReader(data), f, FileOptions{Schema: s, ReadConfig: ReadConfig{StartRow: start, BatchRows: 10, Allocator: mem}})
				require.NoError(t, err)
				require.Equal(t, start, src.Info().StartRow)
				require.True(t, src.Info().Resumable)
				got := drain(t, src)
				require.NoError(t, src.Close())
				requireSameRows(t, s, rows[start:], got)
			}
			src, err := NewFileSource(bytes.NewReader(data), f, FileOptions{Schema: s, ReadConfig: ReadConfig{StartRow: 101, Allocator: mem}})
			if err == nil {
				err = drainErr(t, src)
				require.NoError(t, src.Close())
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestParquetTotalRowsAndRowGroups(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64})
	rows := make([]Row, 10)
	for i := range rows {
		rows[i] = Row{int64(i)}
	}
	data := writeFormat(t, memory.DefaultAllocator, FormatParquet, s, rows, 4)
	src, err := NewParquetSource(bytes.NewReader(data), ParquetConfig{})
	require.NoError(t, err)
	defer src.Close()
	require.Equal(t, int64(10), src.Info().TotalRows)
	require.Equal(t, 4, src.pf.NumRowGroups()) // RowGroupRows 3
}

func TestOpenFileAndFormats(t *testing.T) {
	dir := t.TempDir()
	s := MustSchema(Column{Name: "a", Type: TypeInt64}, Column{Name: "b", Type: TypeString})
	rows := []Row{{int64(1), "x"}, {int64(2), "y"}}
	for _, f := range Formats() {
		path := filepath.Join(dir, "data."+string(f))
		require.NoError(t, os.WriteFile(path, writeFormat(t, memory.DefaultAllocator, f, s, rows, 1), 0o600))
		src, err := OpenFile(path, "", FileOptions{Schema: s})
		require.NoError(t, err)
		requireSameRows(t, s, rows, drain(t, src))
		require.NoError(t, src.Close())
	}
	_, err := ParseFormat("xlsx")
	require.ErrorIs(t, err, ErrUnknownFormat)
	_, err = OpenFile(filepath.Join(dir, "x.xlsx"), "", FileOptions{})
	require.ErrorIs(t, err, ErrUnknownFormat)
	_, err = NewSink(&bytes.Buffer{}, "xlsx", s)
	require.ErrorIs(t, err, ErrUnknownFormat)
}

func TestSinksRejectWrongSchema(t *testing.T) {
	s := MustSchema(Column{Name: "a", Type: TypeInt64})
	other := MustSchema(Column{Name: "a", Type: TypeString})
	rec, err := RowsToRecord(nil, other, []Row{{"x"}})
	require.NoError(t, err)
	defer rec.Release()
	for _, f := range Formats() {
		sink, err := NewSink(&bytes.Buffer{}, f, s)
		require.NoError(t, err)
		require.ErrorIs(t, sink.Write(rec), ErrSchemaMismatch, f)
		require.NoError(t, sink.Close())
		require.ErrorIs(t, sink.Write(rec), ErrClosed)
	}
}

func TestCopyBetweenFormats(t *testing.T) {
	s := allTypesSchema(t)
	rows := allTypesRows(t)
	want := wantRows(t, s, rows)
	mem := newChecked(t)
	data := writeFormat(t, mem, FormatParquet, s, rows, 100)
	src, err := NewParquetSource(bytes.NewReader(data), ParquetConfig{ReadConfig: ReadConfig{Allocator: mem}})
	require.NoError(t, err)
	var csv bytes.Buffer
	sink, err := NewCSVSink(&csv, s, CSVConfig{})
	require.NoError(t, err)
	n, err := Copy(context.Background(), sink, src)
	require.NoError(t, err)
	require.Equal(t, int64(len(rows)), n)
	require.NoError(t, sink.Close())
	require.NoError(t, src.Close())
	back, err := NewCSVSource(&csv, CSVConfig{Schema: s, ReadConfig: ReadConfig{Allocator: mem}})
	require.NoError(t, err)
	requireSameRows(t, s, want, drain(t, back))
	require.NoError(t, back.Close())
}

// arrowRecordOf is a small helper for tests that need a record directly.
func arrowRecordOf(t *testing.T, s *Schema, rows ...Row) arrow.RecordBatch {
	t.Helper()
	rec, err := RowsToRecord(nil, s, rows)
	require.NoError(t, err)
	return rec
}

func TestSourcesHonourCancellation(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64})
	rows := make([]Row, 100)
	for i := range rows {
		rows[i] = Row{int64(i)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range Formats() {
		data := writeFormat(t, memory.DefaultAllocator, f, s, rows, 10)
		src, err := NewFileSource(bytes.NewReader(data), f, FileOptions{Schema: s, ReadConfig: ReadConfig{BatchRows: 10}})
		require.NoError(t, err)
		_, err = src.Next(ctx)
		require.ErrorIs(t, err, context.Canceled, f)
		_, err = src.Next(context.Background())
		if f == FormatCSV || f == FormatJSONL {
			require.ErrorIs(t, err, context.Canceled, "%s: errors are sticky", f)
		}
		require.NoError(t, src.Close())
		_, err = src.Next(context.Background())
		require.ErrorIs(t, err, ErrClosed, f)
	}
}
