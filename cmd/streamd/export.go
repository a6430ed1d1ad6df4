package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" SQL driver for PostgreSQL datasets
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	_ "modernc.org/sqlite" // the "sqlite" SQL driver: the demo table and SQLite datasets

	"github.com/streamd/streamd/dataset"
	"github.com/streamd/streamd/stream"
)

// Dataset defaults of streamd serve.
const (
	// datasetsDir is the data directory's folder whose files are datasets.
	datasetsDir = "datasets"
	// demoDB is the SQLite file of the demo dataset in the data directory.
	demoDB = "demo.db"
	// demoDataset is the name the demo table is exported by.
	demoDataset = "demo"
)

// datasetFlags are the flags of streamd serve for the dataset catalog
// (dataset.Catalog, served on the dataset/export route).
type datasetFlags struct {
	demoRows int64
	specs    []string
	config   string
}

func (d *datasetFlags) addFlags(f *pflag.FlagSet) {
	f.Int64Var(&d.demoRows, "demo-rows", dataset.DefaultDemoRows, "rows of the demo dataset seeded into DATA-DIR/"+demoDB+" on first start (0: no demo dataset)")
	f.StringArrayVar(&d.specs, "dataset", nil, `a SQL dataset: NAME=DSN|QUERY|ORDERBY, the DSN a SQLite file or a postgres:// URL, ORDERBY a stable order such as "id" (empty: exports cannot resume) (repeatable)`)
	f.StringVar(&d.config, "datasets-config", "", `JSON file of datasets: {"datasets": [{"name", "file" | "driver", "dsn", "query", "orderBy", "countRows", "allowQuery"}]}`)
}

// start builds the catalog: the demo table, the files of DATA-DIR/datasets,
// the --dataset and --datasets-config datasets; and registers it on mux.
// The caller closes it after the server has shut down.
func (d *datasetFlags) start(dataDir string, mux *stream.Mux, log *slog.Logger) (*dataset.Catalog, error) {
	var specs []dataset.DatasetSpec
	for _, s := range d.specs {
		spec, err := dataset.ParseDatasetSpec(s)
		if err != nil {
			return nil, fmt.Errorf("--dataset: %w", err)
		}
		specs = append(specs, spec)
	}
	if d.config != "" {
		f, err := os.Open(d.config)
		if err != nil {
			return nil, fmt.Errorf("--datasets-config: %w", err)
		}
		more, err := dataset.LoadDatasetSpecs(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--datasets-config %s: %w", d.config, err)
		}
		specs = append(specs, more...)
	}
	cat, err := dataset.NewCatalog(dataset.CatalogConfig{Dir: filepath.Join(dataDir, datasetsDir), Logger: log})
	if err != nil {
		return nil, err
	}
	if d.demoRows > 0 {
		err = cat.AddDemo(demoDataset, filepath.Join(dataDir, demoDB), d.demoRows)
	}
	for _, spec := range specs {
		if err != nil {
			break
		}
		err = cat.Add(spec)
	}
	if err != nil {
		cat.Close()
		return nil, err
	}
	cat.Register(mux)
	return cat, nil
}

// exportOptions are the flags of streamd export.
type exportOptions struct {
	client    clientOptions
	format    string
	layout    string
	batchRows int
	startRow  int64
	resume    bool
	output    string
	query     string
	orderBy   string
	list      bool
}

func newExportCommand(g *globals) *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export DATASET",
		Short: "Export a dataset of the server into a CSV, JSON Lines, Arrow or Parquet file",
		Long: `Export a dataset of the server (the demo table "demo", a file of the server's
DATA-DIR/datasets, or a configured SQL query) into a local file, showing rows and
rows/s as they arrive, then a summary with the time to the first batch.

The format comes from --format, else from the extension of -o (default csv); -o
defaults to DATASET.FORMAT. An interrupted CSV or JSON Lines export continues with
--resume (the file keeps a checkpoint next to it until the export completes);
Arrow and Parquet files are written whole and must be exported again.
--start-row N exports the rows from N on into a new file. "streamd export --list"
lists the datasets.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.list {
				return runListDatasets(cmd.Context(), g, &o.client)
			}
			return runExport(cmd.Context(), g, args[0], o)
		},
	}
	o.client.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "output format: csv, jsonl, arrow (IPC file), arrows (IPC stream) or parquet (default: from -o, else csv)")
	f.StringVar(&o.layout, "layout", string(dataset.DefaultLayout), "layout on the wire: rows, batched or columnar (Arrow)")
	f.IntVar(&o.batchRows, "batch-rows", 0, "most rows per batch (0: the server's default, 8192)")
	f.Int64Var(&o.startRow, "start-row", 0, "first row to export (into a new file)")
	f.BoolVar(&o.resume, "resume", false, "continue an interrupted CSV or JSON Lines export into the same file")
	f.StringVarP(&o.output, "output", "o", "", "file to write (default: DATASET.FORMAT in the current directory)")
	f.StringVar(&o.query, "query", "", "SQL to run instead of the dataset's query (only where the server allows it)")
	f.StringVar(&o.orderBy, "order-by", "", "stable order of --query, e.g. id (makes the export resumable)")
	f.BoolVar(&o.list, "list", false, "list the server's datasets instead")
	return cmd
}

// outputFormat resolves --format and -o.
func (o *exportOptions) outputFormat(name string) (dataset.Format, string, error) {
	var f dataset.Format
	var err error
	switch {
	case o.format != "":
		f, err = dataset.ParseFormat(o.format)
	case o.output != "":
		if f, err = dataset.FormatOf(o.output); err != nil {
			return "", "", fmt.Errorf("-o %s: name the format with --format: %w", o.output, err)
		}
	default:
		f = dataset.FormatCSV
	}
	if err != nil {
		return "", "", fmt.Errorf("--format: %w", err)
	}
	out := o.output
	if out == "" {
		stem := name
		if _, err := dataset.FormatOf(name); err == nil {
			stem = strings.TrimSuffix(name, filepath.Ext(name))
		}
		out = filepath.Base(stem) + "." + string(f)
	}
	return f, out, nil
}

func runExport(ctx context.Context, g *globals, name string, o exportOptions) error {
	f, out, err := o.outputFormat(name)
	if err != nil {
		return err
	}
	layout, err := dataset.ParseLayout(o.layout)
	if err != nil {
		return fmt.Errorf("--layout: %w", err)
	}
	if o.startRow < 0 || o.batchRows < 0 {
		return errors.New("--start-row and --batch-rows must not be negative")
	}
	if o.resume && o.startRow > 0 {
		return errors.New("--resume and --start-row exclude each other: --resume continues from the file's checkpoint")
	}
	sess, err := o.client.dial(ctx, g.log)
	if err != nil {
		return err
	}
	defer sess.Close()
	bar := newRowsProgress(g.stderr)
	res, err := dataset.ExportFile(ctx, sess, name, out, f, dataset.ExportFileOptions{
		ExportOptions: dataset.ExportOptions{
			Layouts: []dataset.Layout{layout}, BatchRows: o.batchRows, StartRow: o.startRow,
			Query: o.query, OrderBy: o.orderBy, Progress: bar.update,
		},
		Resume: o.resume,
	})
	bar.done(err == nil)
	if err != nil {
		// Interrupted (signal, lost connection) rather than refused by the
		// server: the checkpoint lets the same command continue.
		var refused *dataset.ExportError
		if _, serr := os.Stat(out + dataset.CheckpointSuffix); serr == nil && !errors.As(err, &refused) {
			fmt.Fprintf(g.stderr, "streamd: %s holds rows up to %d; run the same command with --resume to continue\n", out, res.NextRow)
		}
		return err
	}
	fmt.Fprintf(g.stdout, "%s → %s\n", res.Summary(), out)
	return nil
}

func runListDatasets(ctx context.Context, g *globals, o *clientOptions) error {
	sess, err := o.dial(ctx, g.log)
	if err != nil {
		return err
	}
	defer sess.Close()
	list, err := dataset.ListDatasets(ctx, sess)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tFORMAT\tRESUMABLE")
	for _, d := range list {
		format := string(d.Format)
		if format == "" {
			format = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", d.Name, d.Kind, format, d.Resumable)
	}
	return tw.Flush()
}

// rowsProgress draws a progress bar in rows and rows/s on w when w is a
// terminal (see progressUI); its update method is an ExportOptions.Progress.
type rowsProgress struct {
	w       io.Writer
	enabled bool
	bar     *progressbar.ProgressBar
}

func newRowsProgress(w io.Writer) *rowsProgress {
	return &rowsProgress{w: w, enabled: isTerminal(w)}
}

func (u *rowsProgress) update(p dataset.ExportProgress) {
	if !u.enabled {
		return
	}
	if u.bar == nil {
		total := int64(-1)
		if p.TotalRows >= 0 {
			total = p.TotalRows - p.StartRow
		}
		u.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(u.w),
			progressbar.OptionSetDescription("exporting"),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
		)
	}
	u.bar.Set64(p.Rows) //nolint:errcheck // drawing only
}

// done finishes the bar (ok) or leaves it where the export stopped.
func (u *rowsProgress) done(ok bool) {
	if u.bar == nil {
		return
	}
	if ok {
		u.bar.Finish() //nolint:errcheck // drawing only
	} else {
		u.bar.Exit() //nolint:errcheck // drawing only
	}
	fmt.Fprintln(u.w)
}
