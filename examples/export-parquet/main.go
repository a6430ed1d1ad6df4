// Export-parquet serves a SQLite table as a named dataset and exports it
// over loopback WebSocket into a Parquet file, then reads the file back and
// checks every row against the table.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/streamd/streamd/dataset"
	"github.com/streamd/streamd/stream"
)

const rows = 100_000

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "export-parquet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "streamd-export-parquet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// A SQLite database with a table of rows (the demo table: id, name,
	// score, active, created_at, day; some nulls).
	db, err := sql.Open("sqlite", filepath.Join(dir, "shop.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := dataset.SeedDemo(ctx, db, "orders", rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "table orders has %d rows\n", rows)

	// The server: a catalog with one SQL dataset, read in id order (so an
	// export can resume), its row count announced up front, its columns
	// declared (SQLite's declared types do not say which are NOT NULL).
	catalog, err := dataset.NewCatalog(dataset.CatalogConfig{})
	if err != nil {
		return err
	}
	defer catalog.Close()
	err = catalog.Add(dataset.DatasetSpec{
		Name: "orders", DB: db, CountRows: true, OrderBy: "id", Schema: dataset.DemoSchema(),
		Query: "SELECT id, name, score, active, created_at, day FROM orders",
	})
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

	// The client: export the dataset in Arrow columnar batches into Parquet.
	sess, err := stream.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	path := filepath.Join(dir, "orders.parquet")
	res, err := dataset.ExportFile(ctx, sess, "orders", path, dataset.FormatParquet, dataset.ExportFileOptions{
		ExportOptions: dataset.ExportOptions{
			Layouts: []dataset.Layout{dataset.LayoutArrow},
			Progress: func(p dataset.ExportProgress) {
				fmt.Fprintf(out, "progress %d of %d rows\n", p.Rows, p.TotalRows)
			},
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res.Summary())
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d bytes\n", filepath.Base(path), fi.Size())

	// Read the Parquet file back and compare every row with the table.
	return verify(ctx, out, db, path)
}

// verify compares the rows of the Parquet file with the table, row by row.
func verify(ctx context.Context, out io.Writer, db *sql.DB, path string) error {
	file, err := dataset.OpenFile(path, dataset.FormatParquet, dataset.FileOptions{})
	if err != nil {
		return err
	}
	defer file.Close()
	table, err := dataset.NewSQLSource(ctx, db, dataset.SQLConfig{
		Query: "SELECT id, name, score, active, created_at, day FROM orders", OrderBy: "id", Schema: dataset.DemoSchema(),
	})
	if err != nil {
		return err
	}
	defer table.Close()
	if !file.Schema().Equal(table.Schema()) {
		return fmt.Errorf("schema %v, table %v", file.Schema(), table.Schema())
	}
	want, got := rowReader{src: table}, rowReader{src: file}
	var n int64
	for {
		w, werr := want.next(ctx)
		g, gerr := got.next(ctx)
		if werr == io.EOF && gerr == io.EOF {
			break
		}
		if werr != nil || gerr != nil {
			return fmt.Errorf("row %d: table %v, file %v", n, werr, gerr)
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			return fmt.Errorf("row %d differs: table %v, file %v", n, w, g)
		}
		n++
	}
	fmt.Fprintf(out, "verified %d rows: the Parquet file equals the table\n", n)
	return nil
}

// rowReader hands out a source's rows one at a time.
type rowReader struct {
	src  dataset.Source
	rows []dataset.Row
}

func (r *rowReader) next(ctx context.Context) (dataset.Row, error) {
	for len(r.rows) == 0 {
		rec, err := r.src.Next(ctx)
		if err != nil {
			return nil, err
		}
		r.rows, err = dataset.RecordRows(r.src.Schema(), rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
	}
	row := r.rows[0]
	r.rows = r.rows[1:]
	return row, nil
}
