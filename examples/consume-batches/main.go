// Consume-batches serves the demo dataset and processes an export of it
// batch by batch as the batches arrive: Arrow record batches, aggregated
// column by column without converting them to rows. Nothing is stored, so
// memory stays at about one batch however many rows flow.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/streamd/streamd/dataset"
	"github.com/streamd/streamd/stream"
)

const rows = 200_000

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consume-batches:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "streamd-consume-batches-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The server: the demo table in SQLite as dataset "demo".
	db, err := sql.Open("sqlite", filepath.Join(dir, "demo.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := dataset.SeedDemo(ctx, db, dataset.DemoTable, rows); err != nil {
		return err
	}
	catalog, err := dataset.NewCatalog(dataset.CatalogConfig{})
	if err != nil {
		return err
	}
	defer catalog.Close()
	demo := dataset.DemoSQLConfig(dataset.DemoTable)
	err = catalog.Add(dataset.DatasetSpec{Name: "demo", DB: db, Query: demo.Query, OrderBy: demo.OrderBy, Schema: demo.Schema, CountRows: true})
	if err != nil {
		return err
	}
	mux := stream.NewMux()
	catalog.Register(mux)
	srv, err := stream.NewServer(mux, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln) //nolint:errcheck // ends with hs.Close
	defer func() {
		srv.Shutdown(context.Background()) //nolint:errcheck // nothing left open
		hs.Close()
	}()

	// The client: open the export, then take batches as they come.
	sess, err := stream.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	r, err := dataset.OpenExport(ctx, sess, "demo", dataset.ExportOptions{
		Layouts:   []dataset.Layout{dataset.LayoutArrow, dataset.LayoutBatched},
		BatchRows: 20_000,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	h := r.Header()
	fmt.Fprintf(out, "schema: %v\n", h.Schema)
	fmt.Fprintf(out, "layout %s, up to %d rows per batch, %d rows in all\n", h.Layout, h.BatchRows, h.TotalRows)

	var agg aggregate
	for n := 1; ; n++ {
		first := r.NextRow()
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		agg.add(rec.Column(2).(*array.Float64), rec.Column(3).(*array.Boolean))
		fmt.Fprintf(out, "batch %d: rows %d-%d, running mean score %.3f\n", n, first, first+rec.NumRows()-1, agg.mean())
		rec.Release()
	}
	res := r.Result()
	fmt.Fprintf(out, "%d rows in %d batches; first batch after %.1f ms; %.0f rows/s\n",
		res.Rows, res.Batches, float64(res.FirstBatch)/float64(time.Millisecond), res.RowsPerSecond())
	fmt.Fprintf(out, "score: %d values, %d nulls, mean %.3f; active: %d of %d\n", agg.scores, agg.nulls, agg.mean(), agg.active, res.Rows)
	return nil
}

// aggregate keeps running statistics of the score and active columns.
type aggregate struct {
	sum                   float64
	scores, nulls, active int64
}

func (a *aggregate) add(score *array.Float64, active *array.Boolean) {
	for i := 0; i < score.Len(); i++ {
		if score.IsNull(i) {
			a.nulls++
			continue
		}
		a.scores++
		a.sum += score.Value(i)
	}
	for i := 0; i < active.Len(); i++ {
		if active.Value(i) {
			a.active++
		}
	}
}

func (a *aggregate) mean() float64 {
	if a.scores == 0 {
		return 0
	}
	return a.sum / float64(a.scores)
}
