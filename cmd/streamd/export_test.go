package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/dataset"
)

// readRows reads a file exported by streamd export and returns its rows.
func readRows(t *testing.T, path string, f dataset.Format) []dataset.Row {
	t.Helper()
	src, err := dataset.OpenFile(path, f, dataset.FileOptions{Schema: dataset.DemoSchema()})
	require.NoError(t, err)
	defer src.Close()
	require.True(t, src.Schema().Equal(dataset.DemoSchema()), "schema %s", src.Schema())
	var rows []dataset.Row
	for {
		rec, err := src.Next(context.Background())
		if err != nil {
			break
		}
		rr, err := dataset.RecordRows(src.Schema(), rec)
		rec.Release()
		require.NoError(t, err)
		rows = append(rows, rr...)
	}
	return rows
}

// requireDemoRows checks rows against DemoRow(from … from+n-1).
func requireDemoRows(t *testing.T, rows []dataset.Row, from, n int64) {
	t.Helper()
	require.Len(t, rows, int(n))
	src := make([]dataset.Row, n)
	for i := range src {
		src[i] = dataset.DemoRow(from + int64(i))
	}
	rec, err := dataset.RowsToRecord(memory.DefaultAllocator, dataset.DemoSchema(), src)
	require.NoError(t, err)
	defer rec.Release()
	want, err := dataset.RecordRows(dataset.DemoSchema(), rec) // values normalised as a reader returns them
	require.NoError(t, err)
	for i := range want {
		require.Equal(t, fmt.Sprint(want[i]), fmt.Sprint(rows[i]), "row %d", from+int64(i))
	}
}

// TestServeExport runs the real binary: streamd serve seeds a small demo
// table, streamd export writes it as Parquet (and CSV, resumed), and the
// files hold the demo rows.
func TestServeExport(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	require.NoError(t, os.MkdirAll(filepath.Join(dataDir, "datasets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "datasets", "bad.csv"), []byte("a,b\n1,2\n3\n"), 0o644))
	const n = 20000
	srv := startServer(t, bin, []string{"STREAMD_DEMO_ROWS=" + strconv.Itoa(n)}, "--data-dir", dataDir)
	url := "ws://" + srv.addr + "/streamd"
	summary := regexp.MustCompile(`^exported demo: (\d+) rows in [0-9.]+ s \(\d+ rows/s, layout (\w+)\), first batch after [0-9.]+ ms, [0-9.]+ MB data, [0-9.]+ MB on the wire \(ratio [0-9.]+\) → (\S+)\n$`)

	out := filepath.Join(work, "demo.parquet")
	stdout, stderr, code := run(t, bin, nil, "export", "demo", "--format", "parquet", "--layout", "columnar", "--batch-rows", "3000", "-o", out, "--server", url)
	require.Equal(t, 0, code, "export: %s", stderr)
	m := summary.FindStringSubmatch(stdout)
	require.NotNil(t, m, "summary line: %q", stdout)
	require.Equal(t, strconv.Itoa(n), m[1])
	require.Equal(t, "arrow", m[2])
	require.Equal(t, out, m[3])
	requireDemoRows(t, readRows(t, out, dataset.FormatParquet), 0, n)
	require.Contains(t, srv.stderr.String(), "seeded demo dataset", "the log says how long seeding took")
	require.Regexp(t, `took=\S+`, srv.stderr.String())

	// The format from -o, rows from 5000 on.
	out = filepath.Join(work, "tail.jsonl")
	stdout, stderr, code = run(t, bin, []string{"STREAMD_SERVER=" + url}, "export", "demo", "--start-row", "5000", "-o", out)
	require.Equal(t, 0, code, "export: %s", stderr)
	require.Regexp(t, `^exported demo: 15000 rows`, stdout)
	requireDemoRows(t, readRows(t, out, dataset.FormatJSONL), 5000, n-5000)

	// --resume on a CSV export without a checkpoint and without the file starts afresh.
	out = filepath.Join(work, "demo.csv")
	_, stderr, code = run(t, bin, nil, "export", "demo", "--resume", "--batch-rows", "1000", "-o", out, "--server", url)
	require.Equal(t, 0, code, "export: %s", stderr)
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	requireDemoRows(t, readRows(t, out, dataset.FormatCSV), 0, n)
	// An interrupted export (simulated: the file cut back to its checkpoint
	// after 7 batches, plus half a row) continues with --resume.
	cut := bytes.Index(first, []byte("\n7000,")) + 1
	ckpt := `{"dataset":"demo","format":"csv","nextRow":7000,"bytes":` + strconv.Itoa(cut) + `,"schema":` + schemaJSON(t) + `}`
	require.NoError(t, os.WriteFile(out, append(first[:cut:cut], "7000,half"...), 0o644))
	require.NoError(t, os.WriteFile(out+dataset.CheckpointSuffix, []byte(ckpt), 0o644))
	stdout, stderr, code = run(t, bin, nil, "export", "demo", "--resume", "--batch-rows", "1000", "-o", out, "--server", url)
	require.Equal(t, 0, code, "export --resume: %s", stderr)
	require.Regexp(t, `^exported demo: 13000 rows`, stdout)
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, bytes.Equal(first, again), "the resumed CSV differs from the uninterrupted one")

	// Typed errors: exit status 1 and the code in the message.
	_, stderr, code = run(t, bin, nil, "export", "missing", "-o", filepath.Join(work, "x.csv"), "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NOT_FOUND")
	_, stderr, code = run(t, bin, nil, "export", "bad.csv", "-o", filepath.Join(work, "bad.csv"), "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "DATASET_MALFORMED")
	require.Contains(t, stderr, "row 2")
	require.NotContains(t, stderr, "--resume", "resuming cannot help with malformed data")
	_, stderr, code = run(t, bin, nil, "export", "demo", "--resume", "-o", filepath.Join(work, "d.parquet"), "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cannot be appended")

	stdout, stderr, code = run(t, bin, nil, "export", "--list", "--server", url)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^bad\.csv\s+file\s+csv\s+true$`, stdout)
	require.Regexp(t, `(?m)^demo\s+sql\s+-\s+true$`, stdout)

	require.NoError(t, srv.stop(t), "exit status after SIGTERM; stderr:\n%s", srv.stderr)

	// A second start finds the table and does not seed again.
	srv = startServer(t, bin, []string{"STREAMD_DEMO_ROWS=" + strconv.Itoa(n)}, "--data-dir", dataDir)
	_, stderr, code = run(t, bin, nil, "export", "demo", "-o", filepath.Join(work, "again.arrow"), "--server", "ws://"+srv.addr+"/streamd")
	require.Equal(t, 0, code, "export: %s", stderr)
	require.NoError(t, srv.stop(t))
	require.NotContains(t, srv.stderr.String(), "seeded demo dataset")
	require.Contains(t, srv.stderr.String(), "demo dataset ready")
}

func schemaJSON(t *testing.T) string {
	b, err := dataset.DemoSchema().MarshalJSON()
	require.NoError(t, err)
	return string(b)
}

func TestExportOutputFormat(t *testing.T) {
	for _, tc := range []struct {
		format, output, dataset string
		want                    dataset.Format
		path                    string
	}{
		{"", "", "demo", dataset.FormatCSV, "demo.csv"},
		{"parquet", "", "demo", dataset.FormatParquet, "demo.parquet"},
		{"", "out.jsonl", "demo", dataset.FormatJSONL, "out.jsonl"},
		{"arrow", "out.bin", "demo", dataset.FormatArrow, "out.bin"},
		{"pq", "", "sales.csv", dataset.FormatParquet, "sales.parquet"},
		{"", "", "notes.v2", dataset.FormatCSV, "notes.v2.csv"},
	} {
		o := exportOptions{format: tc.format, output: tc.output}
		f, path, err := o.outputFormat(tc.dataset)
		require.NoError(t, err, "%+v", tc)
		require.Equal(t, tc.want, f, "%+v", tc)
		require.Equal(t, tc.path, path, "%+v", tc)
	}
	for _, o := range []exportOptions{{format: "xlsx"}, {output: "out.txt"}} {
		_, _, err := o.outputFormat("demo")
		require.ErrorIs(t, err, dataset.ErrUnknownFormat, "%+v", o)
	}
	for _, args := range [][]string{
		{"export"},
		{"export", "a", "b"},
		{"export", "--list", "demo"},
		{"export", "demo", "--layout", "diagonal"},
		{"export", "demo", "--resume", "--start-row", "5"},
		{"export", "demo", "--start-row", "-1"},
		{"serve", "--dataset", "nodsn"},
		{"serve", "--datasets-config", "/nonexistent/datasets.json"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := newRootCommand(&stdout, &stderr)
		cmd.SetArgs(append(args, "--server", "ws://127.0.0.1:1/x"))
		if args[0] == "serve" {
			cmd.SetArgs(append(args, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--demo-rows", "0"))
		}
		require.Error(t, cmd.ExecuteContext(t.Context()), "%v", args)
	}
}
