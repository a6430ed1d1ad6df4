package dataset

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
)

// TestPostgresSource runs against a real server named by
// STREAMD_TEST_POSTGRES_DSN, for example
// postgres://streamd@127.0.0.1:5432/streamd?sslmode=disable.
func TestPostgresSource(t *testing.T) {
	dsn := os.Getenv("STREAMD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PostgreSQL test skipped: set STREAMD_TEST_POSTGRES_DSN (e.g. postgres://user@127.0.0.1:5432/db?sslmode=disable) to run it against a real server")
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	table := fmt.Sprintf("streamd_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	_, err = db.ExecContext(ctx, `CREATE TABLE `+table+` (
		id bigint PRIMARY KEY, i int4, f float8, b boolean, s text, bin bytea,
		ts timestamptz, tsl timestamp, d date, dec numeric(38,10), num numeric, r real)`)
	require.NoError(t, err)
	defer db.ExecContext(ctx, `DROP TABLE `+table)

	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	rows := []Row{
		{int64(math.MinInt64), int64(math.MinInt32), math.NaN(), true, "", []byte{0, 0xff},
			utc(2024, 3, 10, 6, 59, 59, 999999000), utc(2024, 1, 2, 3, 4, 5, 678000000), utc(1969, 12, 31, 0, 0, 0, 0),
			"-9999999999999999999999999999.9999999999", "123.456", 1.5},
		{int64(1), int64(math.MaxInt32), math.Inf(1), false, "héllo 日本 🎉\n\"q\"", []byte{},
			utc(1900, 1, 1, 0, 0, 0, 0), utc(2262, 4, 11, 23, 47, 16, 0), utc(9999, 12, 31, 0, 0, 0, 0),
			"0.0000000001", "-1e-20", -0.25},
		{int64(2), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(math.MaxInt64), int64(0), math.Inf(-1), true, "NULL", []byte("x"),
			utc(2024, 7, 4, 12, 0, 0, 1000), utc(1970, 1, 1, 0, 0, 0, 0), utc(2000, 2, 29, 0, 0, 0, 0),
			"12.5", "99999999999999999999999999999999999999999.5", float64(float32(3.1))},
	}
	for _, r := range rows {
		_, err := db.ExecContext(ctx, `INSERT INTO `+table+` VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`, r...)
		require.NoError(t, err)
	}
	mem := newChecked(t)
	cfg := SQLConfig{Query: "SELECT * FROM " + table, OrderBy: "id", CountRows: true, ReadConfig: ReadConfig{Allocator: mem, BatchRows: 3}}
	src, err := NewSQLSource(ctx, db, cfg)
	require.NoError(t, err)
	require.Equal(t, "id int64?, i int64?, f float64?, b bool?, s string?, bin binary?, ts timestamp(us,UTC)?, tsl timestamp(us,)?, d date?, dec decimal(38,10)?, num string?, r float64?", src.Schema().String())
	require.Equal(t, SourceInfo{TotalRows: 4, Resumable: true}, src.Info())
	s := src.Schema()
	want := wantRows(t, s, rows)
	want[0][10], want[1][10], want[3][10] = "123.456", "-0.00000000000000000001", "99999999999999999999999999999999999999999.5" // numeric without typmod: exact text
	got := drain(t, src)
	require.NoError(t, src.Close())
	requireSameRows(t, s, want, got)

	cfg.StartRow = 2
	src, err = NewSQLSource(ctx, db, cfg)
	require.NoError(t, err)
	requireSameRows(t, s, want[2:], drain(t, src))
	require.NoError(t, src.Close())

	// Export over every layout into Parquet and read it back.
	cfg.StartRow = 0
	for _, layout := range Layouts() {
		src, err := NewSQLSource(ctx, db, cfg)
		require.NoError(t, err)
		p, err := NewProducer(src, ProducerConfig{Layout: layout, Allocator: mem})
		require.NoError(t, err)
		var wire, out bytes.Buffer
		_, err = SendFramed(ctx, &wire, p)
		require.NoError(t, err)
		require.NoError(t, p.Close())
		_, n, err := ReceiveFramed(ctx, &wire, 0, func(h Header) (Sink, error) {
			return NewParquetSink(&out, h.Schema, ParquetConfig{ReadConfig: ReadConfig{Allocator: mem}})
		}, ConsumerConfig{Allocator: mem})
		require.NoError(t, err)
		require.Equal(t, int64(4), n)
		back, err := NewParquetSource(bytes.NewReader(out.Bytes()), ParquetConfig{ReadConfig: ReadConfig{Allocator: mem}})
		require.NoError(t, err)
		requireSameRows(t, s, want, drain(t, back))
		require.NoError(t, back.Close())
	}
}
