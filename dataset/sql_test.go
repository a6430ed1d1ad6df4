package dataset

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "demo.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func demoRows(from, to int64) []Row {
	rows := make([]Row, 0, to-from)
	for i := from; i < to; i++ {
		rows = append(rows, DemoRow(i))
	}
	return rows
}

func TestSQLiteDemoSource(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	require.NoError(t, SeedDemo(ctx, db, DemoTable, 2000))
	require.NoError(t, SeedDemo(ctx, db, DemoTable, 2000), "seeding twice is a no-op")
	var n int64
	require.NoError(t, db.QueryRow("SELECT count(*) FROM demo").Scan(&n))
	require.Equal(t, int64(2000), n)

	s := DemoSchema()
	want := wantRows(t, s, demoRows(0, 2000))
	mem := newChecked(t)

	cfg := DemoSQLConfig(DemoTable)
	cfg.Allocator, cfg.BatchRows, cfg.CountRows = mem, 300, true
	src, err := NewSQLSource(ctx, db, cfg)
	require.NoError(t, err)
	require.Equal(t, SourceInfo{TotalRows: 2000, Resumable: true}, src.Info())
	requireSameRows(t, s, want, drain(t, src))
	require.NoError(t, src.Close())

	// Resume at a batch boundary.
	cfg.StartRow = 1500
	src, err = NewSQLSource(ctx, db, cfg)
	require.NoError(t, err)
	requireSameRows(t, s, want[1500:], drain(t, src))
	require.NoError(t, src.Close())

	// The schema derived from the column types matches the declared one.
	src, err = NewSQLSource(ctx, db, SQLConfig{Query: "SELECT * FROM demo", ReadConfig: ReadConfig{Allocator: mem}})
	require.NoError(t, err)
	for i, c := range src.Schema().Columns() {
		want := s.Column(i)
		c.Nullable = want.Nullable
		require.Equal(t, want, c)
	}
	require.False(t, src.Info().Resumable)
	require.NoError(t, src.Close())
}

func TestSQLNotResumableWithoutOrder(t *testing.T) {
	db := openSQLite(t)
	_, err := NewSQLSource(context.Background(), db, SQLConfig{Query: "SELECT 1", ReadConfig: ReadConfig{StartRow: 10}})
	require.ErrorIs(t, err, ErrNotResumable)
	_, err = NewSQLSource(context.Background(), db, SQLConfig{})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestSQLCancel(t *testing.T) {
	db := openSQLite(t)
	require.NoError(t, SeedDemo(context.Background(), db, DemoTable, 5000))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := DemoSQLConfig(DemoTable)
	cfg.BatchRows = 1000
	src, err := NewSQLSource(ctx, db, cfg)
	require.NoError(t, err)
	defer src.Close()
	rec, err := src.Next(ctx)
	require.NoError(t, err)
	rec.Release()
	cancel()
	_, err = src.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestSQLBadValueIsTyped(t *testing.T) {
	db := openSQLite(t)
	_, err := db.Exec(`CREATE TABLE t (id INTEGER, v INTEGER); INSERT INTO t VALUES (1, 5), (2, 'not a number')`)
	require.NoError(t, err)
	src, err := NewSQLSource(context.Background(), db, SQLConfig{Query: "SELECT id, v FROM t", OrderBy: "id"})
	require.NoError(t, err)
	defer src.Close()
	err = drainErr(t, src)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, int64(2), ie.Row)
	require.Equal(t, "v", ie.Column)
}

func TestSQLiteExportToParquetOverTheWire(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	require.NoError(t, SeedDemo(ctx, db, "people", 3000))
	mem := newChecked(t)
	cfg := DemoSQLConfig("people")
	cfg.Allocator, cfg.CountRows = mem, true
	for _, layout := range Layouts() {
		src, err := NewSQLSource(ctx, db, cfg)
		require.NoError(t, err)
		p, err := NewProducer(src, ProducerConfig{Layout: layout, BatchRows: 1000, Allocator: mem})
		require.NoError(t, err)
		var wire, out bytes.Buffer
		_, err = SendFramed(ctx, &wire, p)
		require.NoError(t, err)
		require.NoError(t, p.Close())
		h, n, err := ReceiveFramed(ctx, &wire, 0, func(h Header) (Sink, error) {
			return NewParquetSink(&out, h.Schema, ParquetConfig{ReadConfig: ReadConfig{Allocator: mem}})
		}, ConsumerConfig{Allocator: mem})
		require.NoError(t, err)
		require.Equal(t, int64(3000), n)
		require.Equal(t, int64(3000), h.TotalRows)
		back, err := NewParquetSource(bytes.NewReader(out.Bytes()), ParquetConfig{ReadConfig: ReadConfig{Allocator: mem}})
		require.NoError(t, err)
		requireSameRows(t, DemoSchema(), wantRows(t, DemoSchema(), demoRows(0, 3000)), drain(t, back))
		require.NoError(t, back.Close())
	}
}

func TestSeedDemoRejectsBadNames(t *testing.T) {
	db := openSQLite(t)
	require.ErrorIs(t, SeedDemo(context.Background(), db, "demo; DROP TABLE x", 1), ErrInvalidConfig)
	require.ErrorIs(t, SeedDemo(context.Background(), db, "demo", -1), ErrInvalidConfig)
}

func TestDemoRowDeterministic(t *testing.T) {
	a, b := DemoRow(12345), DemoRow(12345)
	require.Equal(t, a, b)
	require.Equal(t, int64(12345), a[0])
	require.IsType(t, time.Time{}, DemoRow(1)[4])
	require.Nil(t, DemoRow(7)[4])
}
