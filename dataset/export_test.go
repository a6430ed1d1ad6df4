package dataset

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
)

// exportEnv is a catalog served over loopback WebSocket.
type exportEnv struct {
	t       testing.TB
	catalog *Catalog
	url     string
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newExportEnv serves a new catalog over dir (may be "") on a loopback
// WebSocket server; everything stops at the end of the test.
func newExportEnv(t testing.TB, cfg CatalogConfig, scfg *stream.Config) *exportEnv {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	cat, err := NewCatalog(cfg)
	require.NoError(t, err)
	mux := stream.NewMux()
	cat.Register(mux)
	if scfg == nil {
		scfg = &stream.Config{}
	}
	scfg.Logger = quietLog
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Session: scfg, Logger: quietLog})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln) //nolint:errcheck // ends with hs.Close
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // the test has finished its streams
		hs.Close()
		require.NoError(t, cat.Close())
	})
	return &exportEnv{t: t, catalog: cat, url: "ws://" + ln.Addr().String()}
}

// dial opens a client session offering the given compression (nil: default).
func (e *exportEnv) dial(compression ...string) *stream.Session {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := stream.Dial(ctx, e.url, &stream.DialOptions{Config: &stream.Config{Compression: compression, Logger: quietLog}})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { sess.Close() })
	return sess
}

// addDemo seeds a demo table of n rows and registers it as "demo".
func (e *exportEnv) addDemo(n int64) *sql.DB {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "demo.db")
	require.NoError(e.t, e.catalog.AddDemo("demo", path, n))
	db, err := sql.Open("sqlite", path)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { db.Close() })
	return db
}

// addRecords registers a dataset over rows of s held in memory, in records
// of batch rows.
func (e *exportEnv) addRecords(name string, s *Schema, rows []Row, batch int) {
	e.t.Helper()
	var recs []arrow.RecordBatch
	for i := 0; i < len(rows); i += batch {
		rec, err := RowsToRecord(memory.DefaultAllocator, s, rows[i:min(i+batch, len(rows))])
		require.NoError(e.t, err)
		recs = append(recs, rec)
	}
	e.t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	require.NoError(e.t, e.catalog.AddFunc(DatasetInfo{Name: name, Resumable: true}, func(_ context.Context, req OpenRequest) (Source, error) {
		return NewRecordSource(s, recs, req.StartRow)
	}))
}

// readFile reads back an exported file with the schema declared.
func readFile(t testing.TB, path string, f Format, s *Schema) []Row {
	t.Helper()
	src, err := OpenFile(path, f, FileOptions{Schema: s})
	require.NoError(t, err)
	defer src.Close()
	require.True(t, src.Schema().Equal(s), "schema read back: %s", src.Schema())
	return drain(t, src)
}

func TestExportEveryLayoutAndFormat(t *testing.T) {
	env := newExportEnv(t, CatalogConfig{}, nil)
	const demoN = 1500
	env.addDemo(demoN)
	s := allTypesSchema(t)
	var all []Row
	for range 4 { // several batches of the small batch size below
		all = append(all, allTypesRows(t)...)
	}
	for i := range all {
		all[i] = append(Row{}, all[i]...)
		all[i][0] = int64(i)
	}
	env.addRecords("types", s, all, 6)
	env.addRecords("empty", s, nil, 6)
	sess := env.dial()
	ctx := t.Context()
	dir := t.TempDir()
	sources := []struct {
		name      string
		schema    *Schema
		want      []Row
		batchRows int
	}{
		{"types", s, wantRows(t, s, all), 3},
		{"empty", s, nil, 3},
		{"demo", DemoSchema(), wantRows(t, DemoSchema(), demoRows(0, demoN)), 400},
	}
	for _, src := range sources {
		for _, layout := range Layouts() {
			for _, f := range Formats() {
				t.Run(fmt.Sprintf("%s/%s/%s", src.name, layout, f), func(t *testing.T) {
					path := filepath.Join(dir, fmt.Sprintf("%s-%s.%s", src.name, layout, f))
					var batches int
					res, err := ExportFile(ctx, sess, src.name, path, f, ExportFileOptions{ExportOptions: ExportOptions{
						Layouts: []Layout{layout}, BatchRows: src.batchRows,
						OnBatch: func(rec arrow.RecordBatch, first int64) error {
							require.LessOrEqual(t, rec.NumRows(), int64(src.batchRows))
							batches++
							return nil
						},
					}})
					require.NoError(t, err)
					require.Equal(t, layout, res.Header.Layout)
					require.Equal(t, int64(len(src.want)), res.Rows)
					require.Equal(t, int64(len(src.want)), res.NextRow)
					require.Equal(t, (len(src.want)+src.batchRows-1)/src.batchRows, batches)
					require.True(t, res.Header.Schema.Equal(src.schema))
					requireSameRows(t, src.schema, src.want, readFile(t, path, f, src.schema))
					_, err = os.Stat(path + CheckpointSuffix)
					require.ErrorIs(t, err, os.ErrNotExist, "the checkpoint is removed at the end")
				})
			}
		}
	}
	require.Equal(t, 0, sess.NumStreams())
}

func TestExportReaderIsASource(t *testing.T) {
	env := newExportEnv(t, CatalogConfig{}, nil)
	env.addDemo(2500)
	sess := env.dial()
	ctx := t.Context()
	for _, layout := range Layouts() {
		mem := newChecked(t)
		r, err := OpenExport(ctx, sess, "demo", ExportOptions{Layouts: []Layout{layout}, BatchRows: 1000, Consumer: ConsumerConfig{Allocator: mem}})
		require.NoError(t, err)
		h := r.Header()
		require.Equal(t, layout, h.Layout)
		require.Equal(t, int64(2500), h.TotalRows, "the demo table's size is announced")
		require.Equal(t, SourceInfo{TotalRows: 2500, Resumable: true}, r.Info())
		got := drain(t, r)
		requireSameRows(t, DemoSchema(), wantRows(t, DemoSchema(), demoRows(0, 2500)), got)
		res := r.Result()
		require.Equal(t, int64(2500), res.Rows)
		require.Equal(t, int64(3), res.Batches)
		require.Positive(t, res.FirstBatch)
		require.LessOrEqual(t, res.FirstBatch, res.Duration)
		require.Positive(t, res.DataBytes)
		require.Positive(t, res.WireBytes)
		require.NoError(t, r.Close())
		_, err = r.Next(ctx)
		require.ErrorIs(t, err, ErrClosed)
	}
	// Abandoning an export halfway cancels it; the session goes on.
	r, err := OpenExport(ctx, sess, "demo", ExportOptions{BatchRows: 100})
	require.NoError(t, err)
	rec, err := r.Next(ctx)
	require.NoError(t, err)
	rec.Release()
	require.NoError(t, r.Close())
	list, err := ListDatasets(ctx, sess)
	require.NoError(t, err)
	require.Equal(t, []DatasetInfo{{Name: "demo", Kind: KindSQL, Resumable: true}}, list)
	require.Eventually(t, func() bool { return sess.NumStreams() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestExportRefusals(t *testing.T) {
	dir := t.TempDir()
	env := newExportEnv(t, CatalogConfig{Dir: dir, Layouts: []Layout{LayoutBatched, LayoutArrow}, MaxBatchRows: 10_000}, nil)
	db := env.addDemo(100)
	require.NoError(t, env.catalog.Add(DatasetSpec{Name: "unordered", DB: db, Query: "SELECT id, name FROM demo"}))
	require.NoError(t, env.catalog.Add(DatasetSpec{Name: "adhoc", DB: db, Query: "SELECT id FROM demo", OrderBy: "id", AllowQuery: true}))
	sess := env.dial()
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		dataset  string
		opts     ExportOptions
		sentinel error
		code     stream.Code
	}{
		{"unknown dataset", "missing", ExportOptions{}, ErrUnknownDataset, stream.CodeNotFound},
		{"escaping name", "../x.csv", ExportOptions{}, ErrUnknownDataset, stream.CodeNotFound},
		{"no common layout", "demo", ExportOptions{Layouts: []Layout{LayoutRows, "hologram"}}, ErrNoCommonLayout, CodeNoCommonLayout},
		{"not resumable", "unordered", ExportOptions{StartRow: 10}, ErrNotResumable, CodeNotResumable},
		{"raw query not allowed", "demo", ExportOptions{Query: "SELECT 1"}, ErrQueryNotAllowed, stream.CodeUnauthorized},
		{"raw query without order", "adhoc", ExportOptions{Query: "SELECT id FROM demo", StartRow: 5}, ErrNotResumable, CodeNotResumable},
		{"batch too large", "demo", ExportOptions{BatchRows: 10_001}, ErrInvalidConfig, stream.CodeInvalidArgument},
		{"start past the end", "demo", ExportOptions{StartRow: 101}, ErrInvalidConfig, stream.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Export(ctx, sess, tc.dataset, tc.opts)
			require.ErrorIs(t, err, tc.sentinel)
			var ee *ExportError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, tc.code, ee.Code, "%v", err)
			require.Equal(t, tc.dataset, ee.Dataset)
		})
	}
	var se *stream.StreamError
	_, err := Export(ctx, sess, "missing", ExportOptions{})
	require.ErrorIs(t, err, stream.ErrNotFound, "the stream sentinel matches too")
	require.ErrorAs(t, err, &se)

	// The session survived every refusal; a client query runs where allowed.
	var ids []int64
	res, err := Export(ctx, sess, "adhoc", ExportOptions{Query: "SELECT id * 2 AS twice FROM demo WHERE id < 5", OrderBy: "twice",
		OnBatch: func(rec arrow.RecordBatch, _ int64) error {
			rows, err := RecordRows(mustSchema(t, rec), rec)
			require.NoError(t, err)
			for _, r := range rows {
				ids = append(ids, r[0].(int64))
			}
			return nil
		}})
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Rows)
	require.Equal(t, []int64{0, 2, 4, 6, 8}, ids)
	require.Eventually(t, func() bool { return sess.NumStreams() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func mustSchema(t testing.TB, rec arrow.RecordBatch) *Schema {
	s, err := FromArrow(rec.Schema())
	require.NoError(t, err)
	return s
}

// TestExportMalformedSource drops malformed files into the catalog
// directory: the export fails with an error naming the row, and the same
// session exports the next dataset.
func TestExportMalformedSource(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := 1; i <= 3000; i++ {
		if i == 2345 {
			csv.WriteString("2345,two,extra\n") // one field too many
			continue
		}
		fmt.Fprintf(&csv, "%d,name %d\n", i, i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "late.csv"), []byte(csv.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "early.csv"), []byte("id,name\n1,a\n2,\"unterminated\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{\"id\":1}\n{\"id\":2}\n[3]\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good.csv"), []byte("id,name\n1,a\n2,b\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "corrupt.parquet"), []byte("PAR1 this is not parquet PAR1"), 0o644))
	env := newExportEnv(t, CatalogConfig{Dir: dir}, nil)
	sess := env.dial()
	ctx := t.Context()
	for _, tc := range []struct{ dataset, where string }{
		{"late.csv", "row 2345"},
		{"late", "row 2345"}, // by its stem
		{"early.csv", "row 2"},
		{"bad.jsonl", "row 3"},
		{"corrupt.parquet", "parquet"},
	} {
		for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
			var rows int64
			res, err := Export(ctx, sess, tc.dataset, ExportOptions{Layouts: []Layout{layout}, BatchRows: 1000,
				OnBatch: func(rec arrow.RecordBatch, _ int64) error { rows += rec.NumRows(); return nil }})
			require.ErrorIs(t, err, ErrMalformed, "%s", tc.dataset)
			t.Logf("%s (%s): %v", tc.dataset, layout, err)
			require.ErrorContains(t, err, tc.where)
			var ee *ExportError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, CodeMalformed, ee.Code)
			require.Equal(t, rows, res.Rows)
			if tc.dataset == "late.csv" {
				require.LessOrEqual(t, rows, int64(2344), "no row past the bad one arrives")
			}
		}
	}
	res, err := Export(ctx, sess, "good.csv", ExportOptions{})
	require.NoError(t, err, "the session survives malformed sources")
	require.Equal(t, int64(2), res.Rows)
	list, err := ListDatasets(ctx, sess)
	require.NoError(t, err)
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
	}
	require.Equal(t, []string{"bad.jsonl", "corrupt.parquet", "early.csv", "good.csv", "late.csv"}, names)
}

func TestExportResume(t *testing.T) {
	env := newExportEnv(t, CatalogConfig{}, nil)
	const n, batch = 2000, 300
	env.addDemo(n)
	sess := env.dial()
	ctx := t.Context()
	want := wantRows(t, DemoSchema(), demoRows(0, n))

	// Start rows at and between batch boundaries, every layout.
	for _, layout := range Layouts() {
		for _, start := range []int64{0, 1, batch, 2*batch - 1, n - 1, n} {
			r, err := OpenExport(ctx, sess, "demo", ExportOptions{Layouts: []Layout{layout}, BatchRows: batch, StartRow: start})
			require.NoError(t, err)
			require.Equal(t, start, r.Header().StartRow)
			got := drain(t, r)
			require.Equal(t, int64(n), r.NextRow())
			require.NoError(t, r.Close())
			requireSameRows(t, DemoSchema(), want[start:], got)
		}
	}

	// An interrupted CSV / JSON Lines file export continues where its
	// checkpoint says, and the file ends up identical to an uninterrupted one.
	dir := t.TempDir()
	for _, f := range []Format{FormatCSV, FormatJSONL} {
		full := filepath.Join(dir, "full."+string(f))
		_, err := ExportFile(ctx, sess, "demo", full, f, ExportFileOptions{ExportOptions: ExportOptions{BatchRows: batch}})
		require.NoError(t, err)
		path := filepath.Join(dir, "resumed."+string(f))
		stop := errors.New("pulled the cable")
		batches := 0
		res, err := ExportFile(ctx, sess, "demo", path, f, ExportFileOptions{ExportOptions: ExportOptions{BatchRows: batch,
			OnBatch: func(arrow.RecordBatch, int64) error {
				if batches++; batches == 4 {
					return stop
				}
				return nil
			}}})
		require.ErrorIs(t, err, stop)
		require.Equal(t, int64(3*batch), res.NextRow, "the fourth batch arrived but was not written")
		require.Equal(t, int64(3*batch), res.Rows)
		_, err = os.Stat(path + CheckpointSuffix)
		require.NoError(t, err, "the checkpoint stays for resuming")
		// Garbage after the checkpoint (a half-written batch) is cut off.
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = fh.WriteString("half a row,")
		require.NoError(t, err)
		require.NoError(t, fh.Close())

		res, err = ExportFile(ctx, sess, "demo", path, f, ExportFileOptions{ExportOptions: ExportOptions{BatchRows: batch}, Resume: true})
		require.NoError(t, err)
		require.Equal(t, int64(3*batch), res.Header.StartRow)
		require.Equal(t, int64(n-3*batch), res.Rows)
		require.Equal(t, int64(n), res.NextRow)
		a, err := os.ReadFile(full)
		require.NoError(t, err)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "%s: resumed file differs from the uninterrupted one", f)
		_, err = os.Stat(path + CheckpointSuffix)
		require.ErrorIs(t, err, os.ErrNotExist)

		// A finished file has no checkpoint: resuming it is refused.
		_, err = ExportFile(ctx, sess, "demo", path, f, ExportFileOptions{Resume: true})
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
	// Arrow and Parquet files cannot be appended.
	_, err := ExportFile(ctx, sess, "demo", filepath.Join(dir, "x.parquet"), FormatParquet, ExportFileOptions{Resume: true})
	require.ErrorIs(t, err, ErrNotResumable)
	// A failed Parquet export leaves no file behind.
	_, err = ExportFile(ctx, sess, "missing", filepath.Join(dir, "y.parquet"), FormatParquet, ExportFileOptions{})
	require.ErrorIs(t, err, ErrUnknownDataset)
	_, err = os.Stat(filepath.Join(dir, "y.parquet"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "y.parquet.partial"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCatalogConfiguration(t *testing.T) {
	spec, err := ParseDatasetSpec("orders=postgres://u@127.0.0.1/db|SELECT a || b AS ab, id FROM t|id")
	require.NoError(t, err)
	require.Equal(t, DatasetSpec{Name: "orders", Driver: "pgx", DSN: "postgres://u@127.0.0.1/db", Query: "SELECT a || b AS ab, id FROM t", OrderBy: "id"}, spec)
	spec, err = ParseDatasetSpec("local=data/x.db|SELECT * FROM x|")
	require.NoError(t, err)
	require.Equal(t, "sqlite", spec.Driver)
	require.Empty(t, spec.OrderBy)
	for _, bad := range []string{"x", "x=a.db|SELECT 1", "=a.db|q|", "x=|q|id", "x=a.db||id", "a/b=a.db|q|"} {
		_, err := ParseDatasetSpec(bad)
		require.ErrorIs(t, err, ErrInvalidConfig, bad)
	}
	specs, err := LoadDatasetSpecs(strings.NewReader(`{"datasets": [{"name": "f", "file": "a.csv"}, {"name": "q", "dsn": "x.db", "query": "SELECT 1", "countRows": true}]}`))
	require.NoError(t, err)
	require.Equal(t, []DatasetSpec{{Name: "f", File: "a.csv"}, {Name: "q", DSN: "x.db", Query: "SELECT 1", CountRows: true}}, specs)
	_, err = LoadDatasetSpecs(strings.NewReader(`{"datasets": [{"name": "f", "flie": "a.csv"}]}`))
	require.ErrorIs(t, err, ErrInvalidConfig, "a misspelt member is an error")

	dir := t.TempDir()
	cat, err := NewCatalog(CatalogConfig{Logger: quietLog})
	require.NoError(t, err)
	defer cat.Close()
	path := filepath.Join(dir, "t.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"a\":1}\n"), 0o644))
	require.NoError(t, cat.Add(DatasetSpec{Name: "t", File: path}))
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "t", File: path}), ErrInvalidConfig, "duplicate")
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "u", File: filepath.Join(dir, "u.txt")}), ErrUnknownFormat)
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "v", File: path, Query: "SELECT 1"}), ErrInvalidConfig)
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "w", Driver: "nosuchdriver", DSN: "x", Query: "SELECT 1"}), ErrInvalidConfig)
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "db", DSN: filepath.Join(dir, "q.db"), Query: "SELECT 1 AS one"}), nil)
	src, err := cat.Open(t.Context(), "db", OpenRequest{})
	require.NoError(t, err)
	require.Len(t, drain(t, src), 1)
	require.NoError(t, src.Close())
	_, err = cat.Open(t.Context(), "nope", OpenRequest{})
	require.ErrorIs(t, err, ErrUnknownDataset)
	require.Equal(t, []DatasetInfo{{Name: "db", Kind: KindSQL}, {Name: "t", Kind: KindFile, Format: FormatJSONL, Resumable: true}}, cat.List())
	require.NoError(t, cat.Close())
	require.ErrorIs(t, cat.Add(DatasetSpec{Name: "late", File: path}), ErrClosed)
}

// TestCatalogDemoSeedsOnce seeds the demo table on first use and finds it
// on the next start; exports opened while it seeds wait for it.
func TestCatalogDemoSeedsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	for round := range 2 {
		env := newExportEnv(t, CatalogConfig{}, nil)
		require.NoError(t, env.catalog.AddDemo("demo", path, 1234))
		res, err := Export(t.Context(), env.dial(), "demo", ExportOptions{})
		require.NoError(t, err, "round %d", round)
		require.Equal(t, int64(1234), res.Rows)
		require.Equal(t, int64(1234), res.Header.TotalRows)
	}
	// Closing the catalog while it seeds stops the seeding.
	cat, err := NewCatalog(CatalogConfig{Logger: quietLog})
	require.NoError(t, err)
	require.NoError(t, cat.AddDemo("demo", filepath.Join(t.TempDir(), "big.db"), 50_000_000))
	before := runtime.NumGoroutine()
	require.NoError(t, cat.Close())
	require.LessOrEqual(t, runtime.NumGoroutine(), before)
}

// TestExportLeavesNoGoroutines runs exports that finish, fail and are
// abandoned halfway, then stops everything: no goroutine may remain.
func TestExportLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("exports", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{\"a\":1}\nnot json\n"), 0o644))
		env := newExportEnv(t, CatalogConfig{Dir: dir}, nil)
		env.addDemo(3000)
		sess := env.dial()
		ctx := t.Context()
		_, err := Export(ctx, sess, "demo", ExportOptions{Layouts: []Layout{LayoutArrow}})
		require.NoError(t, err)
		_, err = Export(ctx, sess, "bad.jsonl", ExportOptions{})
		require.ErrorIs(t, err, ErrMalformed)
		r, err := OpenExport(ctx, sess, "demo", ExportOptions{BatchRows: 100})
		require.NoError(t, err)
		rec, err := r.Next(ctx)
		require.NoError(t, err)
		rec.Release()
		// Left open: closing the session and the server must end it.
	})
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines remain, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestExportPostgres exports a PostgreSQL query configured the way
// streamd serve --dataset does, through a session, in full and resumed. It
// runs against the server named by STREAMD_TEST_POSTGRES_DSN (CI starts one).
func TestExportPostgres(t *testing.T) {
	dsn := os.Getenv("STREAMD_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("STREAMD_REQUIRE_POSTGRES") == "1" {
			t.Fatal("STREAMD_REQUIRE_POSTGRES=1 but STREAMD_TEST_POSTGRES_DSN is not set")
		}
		t.Skip("PostgreSQL export test skipped: set STREAMD_TEST_POSTGRES_DSN (e.g. postgres://user@127.0.0.1:5432/db?sslmode=disable)")
	}
	ctx := t.Context()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	table := fmt.Sprintf("streamd_export_%d_%d", os.Getpid(), time.Now().UnixNano())
	_, err = db.ExecContext(ctx, `CREATE TABLE `+table+` AS SELECT g AS id, 'row ' || g AS label,
		CASE WHEN g % 7 = 0 THEN NULL ELSE g * 0.5 END AS half FROM generate_series(0, 9999) AS g`)
	require.NoError(t, err)
	defer db.ExecContext(context.Background(), `DROP TABLE `+table) //nolint:errcheck // best effort

	spec, err := ParseDatasetSpec("pg=" + dsn + "|SELECT id::bigint, label, half::float8 FROM " + table + " WHERE label || '' <> ''|id")
	require.NoError(t, err)
	require.Equal(t, "pgx", spec.Driver)
	spec.CountRows = true
	env := newExportEnv(t, CatalogConfig{}, nil)
	require.NoError(t, env.catalog.Add(spec))
	sess := env.dial()
	for _, start := range []int64{0, 6000} {
		var next int64 = start
		res, err := Export(ctx, sess, "pg", ExportOptions{Layouts: []Layout{LayoutArrow}, BatchRows: 1000, StartRow: start,
			OnBatch: func(rec arrow.RecordBatch, first int64) error {
				require.Equal(t, next, first)
				rows, err := RecordRows(mustSchema(t, rec), rec)
				require.NoError(t, err)
				for _, r := range rows {
					require.Equal(t, next, r[0])
					require.Equal(t, fmt.Sprintf("row %d", next), r[1])
					if next%7 == 0 {
						require.Nil(t, r[2])
					} else {
						require.Equal(t, float64(next)/2, r[2])
					}
					next++
				}
				return nil
			}})
		require.NoError(t, err)
		require.Equal(t, int64(10000), res.Header.TotalRows)
		require.Equal(t, 10000-start, res.Rows)
		require.Equal(t, int64(10000), next)
	}
}
