package examples_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDatasetExamples builds and runs examples/export-parquet and
// examples/consume-batches and checks what they print.
func TestDatasetExamples(t *testing.T) {
	gobin, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := t.TempDir()
	out, err := exec.Command(gobin, "build", "-o", bin+string(filepath.Separator), "./export-parquet", "./consume-batches").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	for _, tc := range []struct {
		name string
		want []string // regular expressions the output must match, in order
	}{
		{"export-parquet", []string{
			`table orders has 100000 rows\n`,
			`progress \d+ of 100000 rows\n`,
			`progress 100000 of 100000 rows\n`,
			`exported orders: 100000 rows in [0-9.]+ s \(\d+ rows/s, layout arrow\), first batch after [0-9.]+ ms, [0-9.]+ MB data, [0-9.]+ MB on the wire \(ratio [0-9.]+\)\n`,
			`wrote orders\.parquet: \d+ bytes\n`,
			`verified 100000 rows: the Parquet file equals the table\n`,
		}},
		{"consume-batches", []string{
			`schema: id int64, name string\?, score float64\?, active bool, created_at timestamp\(us,UTC\)\?, day date\?\n`,
			`layout arrow, up to 20000 rows per batch, 200000 rows in all\n`,
			`batch 1: rows 0-19999, running mean score [0-9.]+\n`,
			`batch 10: rows 180000-199999, running mean score 499\.488\n`,
			`200000 rows in 10 batches; first batch after [0-9.]+ ms; \d+ rows/s\n`,
			`score: 181818 values, 18182 nulls, mean 499\.488; active: 66667 of 200000\n`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, tc.name))
			stdout, err := cmd.Output()
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			rest := string(stdout)
			for _, want := range tc.want {
				loc := regexp.MustCompile(want).FindStringIndex(rest)
				require.NotNil(t, loc, "want %q in the rest of the output:\n%s\nfull output:\n%s", want, rest, stdout)
				rest = rest[loc[1]:]
			}
		})
	}
}
