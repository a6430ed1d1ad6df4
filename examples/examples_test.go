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

// TestExamples builds every example program and runs it, checking its output.
func TestExamples(t *testing.T) {
	gobin, err := exec.LookPath("go")
	require.NoError(t, err)
	// One build of all examples shares the compilation work.
	bin := t.TempDir()
	out, err := exec.Command(gobin, "build", "-o", bin+string(filepath.Separator), "./echo", "./upload", "./download").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	for _, tc := range []struct {
		name string
		want []string // regular expressions the output must match, in order
	}{
		{"echo", []string{
			`sent "hello", echoed "hello"\n`,
			`sent "multiplexed", echoed "multiplexed"\n`,
			`sent "world", echoed "world"\n`,
			`stream completed\n`,
		}},
		{"upload", []string{
			`progress +0%`,
			`progress 100%  (\d+) of (\d+) bytes\n`,
			`uploaded measurements\.csv: \d+ bytes in [0-9.]+ s \([0-9.]+ MB/s\), wire \d+ bytes \(ratio [0-9.]+\)\n`,
			`server copy sha256 [0-9a-f]{64}, matches: true\n`,
		}},
		{"download", []string{
			`server has blob\.bin \(4194304 bytes\)\n`,
			`progress 4194304 of 4194304 bytes\n`,
			`downloaded blob\.bin: 4194304 bytes in [0-9.]+ s \([0-9.]+ MB/s\), wire \d+ bytes \(ratio [0-9.]+\)\n`,
			`local copy sha256 [0-9a-f]{64}, matches: true\n`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
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
