package dataset

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Benchmarks of whole exports through a session over loopback WebSocket,
// server and client in this process (so both share the 2 cores). Run:
//
//	go test ./dataset -run '^$' -bench 'Export' -benchtime 3x
//
// One op is one export of the whole dataset. rows/s counts rows received,
// wire-B/row the transport bytes the client received per row, first-ms the
// time from opening the stream to the first decoded batch.

// benchEnv serves the benchmark datasets: "demo" (the SQLite demo table),
// "parquet" (a Parquet file of the same rows) and "memory" (DemoRow(0 …
// 8191) repeated, read at no cost).
func benchEnv(b *testing.B, rows int64) *exportEnv {
	b.Helper()
	env := newExportEnv(b, CatalogConfig{}, nil)
	dir := b.TempDir()
	env.addDemo(rows)
	env.addRepeat("memory", rows)
	sess := env.dial()
	pq := filepath.Join(dir, "demo.parquet")
	if _, err := ExportFile(context.Background(), sess, "demo", pq, FormatParquet, ExportFileOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := env.catalog.Add(DatasetSpec{Name: "parquet", File: pq}); err != nil {
		b.Fatal(err)
	}
	return env
}

// benchRows is the dataset size: STREAMD_BENCH_ROWS, default 1,000,000.
func benchRows(b *testing.B) int64 {
	if v := os.Getenv("STREAMD_BENCH_ROWS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// benchSink returns an OnHeader writing format f to io.Discard ("" for none).
func benchSink(f Format) func(Header) (Sink, error) {
	if f == "" {
		return nil
	}
	return func(h Header) (Sink, error) { return NewSink(io.Discard, f, h.Schema) }
}

// benchCompression is the client's compression: STREAMD_BENCH_COMPRESS,
// default zstd (what streamd export offers by default).
func benchCompression() string {
	if v := os.Getenv("STREAMD_BENCH_COMPRESS"); v != "" {
		return v
	}
	return "zstd"
}

// BenchmarkExport exports each source in each layout into no sink (the
// batches are only counted) and into each file format (written to
// io.Discard), with the compression of STREAMD_BENCH_COMPRESS.
func BenchmarkExport(b *testing.B) {
	noPoison(b)
	rows := benchRows(b)
	env := benchEnv(b, rows)
	sess := env.dial(benchCompression())
	for _, src := range []string{"memory", "demo", "parquet"} {
		for _, layout := range Layouts() {
			for _, f := range []Format{"", FormatCSV, FormatJSONL, FormatArrow, FormatParquet} {
				name := src + "/" + string(layout) + "/"
				if f == "" {
					name += "none"
				} else {
					name += string(f)
				}
				if layout == LayoutRows && (src != "memory" || f != "") {
					continue // 0.3 M rows/s: one figure is enough
				}
				b.Run(name, func(b *testing.B) {
					var res ExportResult
					var first time.Duration
					var wire int64
					for range b.N {
						var err error
						res, err = Export(context.Background(), sess, src, ExportOptions{Layouts: []Layout{layout}, OnHeader: benchSink(f)})
						if err != nil {
							b.Fatal(err)
						}
						first += res.FirstBatch
						wire += res.WireBytes
					}
					b.ReportMetric(float64(b.N)*float64(res.Rows)/b.Elapsed().Seconds(), "rows/s")
					b.ReportMetric(float64(wire)/float64(b.N)/float64(res.Rows), "wire-B/row")
					b.ReportMetric(float64(first)/float64(b.N)/float64(time.Millisecond), "first-ms")
				})
			}
		}
	}
}

// BenchmarkExportCompression compares the bytes on the wire per row with
// each session compression, for the demo rows read from Parquet in the batched and Arrow
// layouts.
func BenchmarkExportCompression(b *testing.B) {
	noPoison(b)
	rows := benchRows(b)
	env := benchEnv(b, rows)
	for _, alg := range []string{"none", "gzip", "zstd"} {
		sess := env.dial(alg)
		for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
			b.Run(alg+"/"+string(layout), func(b *testing.B) {
				var res ExportResult
				var wire, data int64
				for range b.N {
					var err error
					res, err = Export(context.Background(), sess, "parquet", ExportOptions{Layouts: []Layout{layout}})
					if err != nil {
						b.Fatal(err)
					}
					wire += res.WireBytes
					data += res.DataBytes
				}
				b.ReportMetric(float64(b.N)*float64(res.Rows)/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(wire)/float64(b.N)/float64(res.Rows), "wire-B/row")
				b.ReportMetric(float64(data)/float64(wire), "ratio")
			})
		}
	}
}

// BenchmarkExportFirstBatch measures the time from opening an export of
// the demo table to its first batch, then abandons the export. The table
// has STREAMD_BENCH_ROWS rows; STREAMD_BENCH_DB names a SQLite file to keep
// it in between runs (seeding 10 M rows takes about 30 s).
func BenchmarkExportFirstBatch(b *testing.B) {
	noPoison(b)
	rows := benchRows(b)
	path := os.Getenv("STREAMD_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "demo.db")
	}
	env := newExportEnv(b, CatalogConfig{}, nil)
	if err := env.catalog.AddDemo("demo", path, rows); err != nil {
		b.Fatal(err)
	}
	sess := env.dial()
	ctx := context.Background()
	if r, err := OpenExport(ctx, sess, "demo", ExportOptions{}); err != nil { // waits for seeding
		b.Fatal(err)
	} else {
		r.Close()
	}
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		b.Run(string(layout), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				start := time.Now()
				r, err := OpenExport(ctx, sess, "demo", ExportOptions{Layouts: []Layout{layout}})
				if err != nil {
					b.Fatal(err)
				}
				rec, err := r.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				if r.Header().TotalRows != rows {
					b.Fatalf("table has %d rows, want %d", r.Header().TotalRows, rows)
				}
				rec.Release()
				r.Close()
			}
			b.ReportMetric(float64(total)/float64(b.N)/float64(time.Millisecond), "first-ms")
		})
	}
}
