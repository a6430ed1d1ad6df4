package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakePlugin writes a shell script named streamd-bench into dir: it prints
// its arguments one per line, copies its stdin to stdout, writes "to stderr"
// to stderr and exits with the status given as its argument "exit=N".
const fakePlugin = `#!/bin/sh
code=0
for a in "$@"; do
  echo "arg:$a"
  case "$a" in exit=*) code=${a#exit=} ;; esac
done
while IFS= read -r line; do echo "$line"; done
echo "to stderr" >&2
exit $code
`

// trappingPlugin says "ready" and then waits until SIGTERM, which it
// reports before exiting with 42.
const trappingPlugin = `#!/bin/sh
trap 'echo got-term; exit 42' TERM
echo ready
while :; do sleep 0.02; done
`

func writePlugin(t *testing.T, dir, script string) string {
	t.Helper()
	p := filepath.Join(dir, benchPluginName)
	require.NoError(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

func skipWithoutShell(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake plugins are shell scripts")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
}

// testBench builds the bench command with self as the running binary and
// records the exit status it would end the process with.
func testBench(self, stdin string) (*benchCommand, *bytes.Buffer, *bytes.Buffer, *int) {
	var stdout, stderr bytes.Buffer
	exited := -1
	b := &benchCommand{
		g:      &globals{stdout: &stdout, stderr: &stderr},
		self:   func() (string, error) { return self, nil },
		stdin:  strings.NewReader(stdin),
		notify: func(chan<- os.Signal) {},
		stop:   func(chan<- os.Signal) {},
		exit:   func(code int) { exited = code },
	}
	return b, &stdout, &stderr, &exited
}

func runBench(t *testing.T, b *benchCommand, args ...string) error {
	t.Helper()
	cmd := b.command()
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as the root command does
	cmd.SetOut(b.g.stdout)
	cmd.SetErr(b.g.stderr)
	return cmd.ExecuteContext(context.Background())
}

func TestBenchRunsThePluginNextToTheBinary(t *testing.T) {
	skipWithoutShell(t)
	t.Setenv("PATH", t.TempDir()) // nothing there
	real := t.TempDir()
	self := filepath.Join(real, "streamd")
	require.NoError(t, os.WriteFile(self, []byte("not run"), 0o755))
	writePlugin(t, real, fakePlugin)
	// streamd reached through a symlink: the plugin is looked for next to
	// the file the link points to.
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "streamd")
	require.NoError(t, os.Symlink(self, link))

	b, stdout, stderr, exited := testBench(link, "from stdin\n")
	err := runBench(t, b, "--quick", "--help", "two words", "exit=0")
	require.NoError(t, err)
	require.Equal(t, "arg:--quick\narg:--help\narg:two words\narg:exit=0\nfrom stdin\n", stdout.String(),
		"flags, --help included, reach the plugin unparsed, and stdin is passed on")
	require.Equal(t, "to stderr\n", stderr.String())
	require.Equal(t, -1, *exited, "status 0 returns normally")

	b, _, _, exited = testBench(link, "")
	require.NoError(t, runBench(t, b, "exit=3"))
	require.Equal(t, 3, *exited, "the plugin's exit status is passed on")
}

func TestBenchFindsThePluginOnPATH(t *testing.T) {
	skipWithoutShell(t)
	pathDir := t.TempDir()
	writePlugin(t, pathDir, fakePlugin)
	t.Setenv("PATH", pathDir)

	got, err := findBenchPlugin(filepath.Join(t.TempDir(), "streamd"))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(pathDir, benchPluginName), got)

	b, stdout, _, exited := testBench("", "")
	require.NoError(t, runBench(t, b, "exit=7"))
	require.Contains(t, stdout.String(), "arg:exit=7")
	require.Equal(t, 7, *exited)
}

func TestBenchNotFoundIsTypedAndSaysHowToBuildIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	selfDir := t.TempDir()
	// A non-executable file of the right name does not count.
	require.NoError(t, os.WriteFile(filepath.Join(selfDir, benchPluginFile()), []byte("data"), 0o644))
	b, stdout, _, exited := testBench(filepath.Join(selfDir, "streamd"), "")
	err := runBench(t, b, "--quick")
	require.ErrorIs(t, err, ErrBenchNotFound)
	var nf *BenchNotFoundError
	require.True(t, errors.As(err, &nf))
	require.Equal(t, []string{filepath.Join(selfDir, benchPluginFile()), "PATH"}, nf.Searched)
	for _, want := range []string{"make build", "cd bench && go build -o ../bin/streamd-bench .", "PATH", selfDir} {
		require.Contains(t, err.Error(), want)
	}
	require.Equal(t, -1, *exited)
	require.Empty(t, stdout.String())

	// Help without the plugin is this command's own, and no error.
	b, stdout, _, _ = testBench(filepath.Join(selfDir, "streamd"), "")
	require.NoError(t, runBench(t, b, "--help"))
	require.Contains(t, stdout.String(), "make build")
	require.Contains(t, stdout.String(), "[streamd-bench flags]")
}

func TestBenchForwardsSignals(t *testing.T) {
	skipWithoutShell(t)
	plugin := writePlugin(t, t.TempDir(), trappingPlugin)
	pr, pw := io.Pipe()
	sigs := make(chan os.Signal, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := runPlugin(context.Background(), plugin, nil, pluginIO{stdin: strings.NewReader(""), stdout: pw, stderr: io.Discard, signals: sigs})
		pw.Close()
		done <- result{code, err}
	}()
	sc := bufio.NewScanner(pr)
	require.True(t, sc.Scan())
	require.Equal(t, "ready", sc.Text())
	sigs <- syscall.SIGTERM
	require.True(t, sc.Scan())
	require.Equal(t, "got-term", sc.Text())
	for sc.Scan() { // drain until the plugin exits
	}
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, 42, r.code)
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin did not exit after SIGTERM")
	}
}

func TestBenchReportsAKillingSignalAsAShellWould(t *testing.T) {
	skipWithoutShell(t)
	plugin := writePlugin(t, t.TempDir(), "#!/bin/sh\nkill -KILL $$\n")
	code, err := runPlugin(context.Background(), plugin, nil, pluginIO{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	require.NoError(t, err)
	require.Equal(t, 128+int(syscall.SIGKILL), code)
}
