package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// benchPluginName is the program "streamd bench" runs. The benchmark lives
// in its own Go module (bench/), so that its baseline peers (yamux, smux) and
// its charting library stay out of the engine's go.mod and out of this
// binary; like git and kubectl plugins, "streamd bench ARGS" runs
// streamd-bench ARGS.
const benchPluginName = "streamd-bench"

// benchBuildHint says how to get the plugin.
const benchBuildHint = "build both programs with `make build` in the streamd source tree (bin/streamd and " +
	"bin/streamd-bench), or build the plugin alone with `cd bench && go build -o ../bin/streamd-bench .` " +
	"(bench/ is its own Go module), then put it next to streamd or on PATH"

// ErrBenchNotFound matches the error of "streamd bench" when the
// streamd-bench program is neither next to streamd nor on PATH.
var ErrBenchNotFound = errors.New("streamd-bench not found")

// BenchNotFoundError is the error of "streamd bench" when the streamd-bench
// program is missing; it lists where it was looked for and says how to build
// it. It matches ErrBenchNotFound.
type BenchNotFoundError struct {
	// Searched lists the places looked in: a path next to the streamd binary
	// (if it could be found) and "PATH".
	Searched []string
}

// Error implements error.
func (e *BenchNotFoundError) Error() string {
	return fmt.Sprintf("streamd bench runs the separate program %s, which was not found (looked in: %s); %s",
		benchPluginFile(), strings.Join(e.Searched, ", "), benchBuildHint)
}

// Is reports whether target is ErrBenchNotFound.
func (e *BenchNotFoundError) Is(target error) bool { return target == ErrBenchNotFound }

// benchPluginFile is the plugin's file name on this OS.
func benchPluginFile() string {
	if runtime.GOOS == "windows" {
		return benchPluginName + ".exe"
	}
	return benchPluginName
}

// findBenchPlugin returns the path of streamd-bench: first next to self (the
// running streamd binary, symlinks resolved), then on PATH. self may be ""
// when the running binary cannot be located.
func findBenchPlugin(self string) (string, error) {
	var searched []string
	if self != "" {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		candidate := filepath.Join(filepath.Dir(self), benchPluginFile())
		searched = append(searched, candidate)
		if isExecutableFile(candidate) {
			return candidate, nil
		}
	}
	searched = append(searched, "PATH")
	// exec.LookPath refuses a match in a relative PATH entry (exec.ErrDot);
	// such a match is treated as not found, as the go command does.
	if p, err := exec.LookPath(benchPluginName); err == nil {
		return p, nil
	}
	return "", &BenchNotFoundError{Searched: searched}
}

// isExecutableFile reports whether path is a regular file that can be run.
func isExecutableFile(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0
}

// pluginIO is what the plugin inherits: its standard streams, and the
// signals forwarded to it while it runs.
type pluginIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	signals        <-chan os.Signal
}

// runPlugin runs path with args and returns its exit status: its exit code,
// or 128+N when signal N killed it (as shells report it). Every signal
// received on pio.signals is forwarded to it. A non-nil error means it could
// not be started (or waited for) at all.
func runPlugin(ctx context.Context, path string, args []string, pio pluginIO) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pio.stdin, pio.stdout, pio.stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	for done := false; !done; {
		select {
		case sig := <-pio.signals:
			// The plugin decides what a signal means (bench prints what it
			// measured so far); a failure means it already exited.
			_ = cmd.Process.Signal(sig)
		case err = <-waited:
			done = true
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", path, err)
	}
	return 0, nil
}

// benchCommand is "streamd bench": it runs the streamd-bench plugin.
type benchCommand struct {
	g *globals
	// self returns the running binary's path (os.Executable).
	self func() (string, error)
	// stdin is the plugin's standard input.
	stdin io.Reader
	// notify subscribes c to the signals forwarded to the plugin, and stop
	// ends that (signal.Notify and signal.Stop).
	notify func(c chan<- os.Signal)
	stop   func(c chan<- os.Signal)
	// exit ends the process with the plugin's non-zero exit status.
	exit func(code int)
}

func newBenchCommand(g *globals) *cobra.Command {
	b := &benchCommand{
		g:      g,
		self:   os.Executable,
		stdin:  os.Stdin,
		notify: func(c chan<- os.Signal) { signal.Notify(c, os.Interrupt, syscall.SIGTERM) },
		stop:   func(c chan<- os.Signal) { signal.Stop(c) },
		exit:   os.Exit,
	}
	return b.command()
}

func (b *benchCommand) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Benchmark streamd against raw TCP, raw WebSocket and other alternatives (runs streamd-bench)",
		Long: `bench runs the benchmark suite: streamd side by side with raw TCP, raw WebSocket,
other multiplexers and hand-written alternatives on loopback (throughput,
latency under load, fairness, memory, dataset export, broadcast fan-out), with
medians, ranges and ratios to a baseline as a table, --json FILE or --html FILE. "streamd bench --help" lists its flags;
"streamd bench --quick" is a smoke run of under two minutes.

The suite is a separate program, streamd-bench (bench/ is its own Go module,
so its dependencies stay out of streamd). "streamd bench ARGS" runs
streamd-bench ARGS, found next to the streamd binary or on PATH, with the same
standard streams, forwards SIGINT and SIGTERM to it and exits with its exit
status. To get it, ` + benchBuildHint + `.`,
		DisableFlagParsing: true, // every argument, --help included, is the plugin's
		RunE: func(cmd *cobra.Command, args []string) error {
			return b.run(cmd, args)
		},
	}
	// Its flags are the plugin's: the help of this command lists none.
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		fmt.Fprintf(c.OutOrStdout(), "%s\n\nUsage:\n  %s [streamd-bench flags]\n", c.Long, c.CommandPath())
	})
	return cmd
}

func (b *benchCommand) run(cmd *cobra.Command, args []string) error {
	self, err := b.self()
	if err != nil {
		self = "" // look on PATH only
	}
	path, err := findBenchPlugin(self)
	if err != nil {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			// Without the plugin, help is this command's own (which says
			// how to get it); asking for it is not an error.
			return cmd.Help()
		}
		return err
	}
	sigs := make(chan os.Signal, 4)
	b.notify(sigs)
	defer b.stop(sigs)
	code, err := runPlugin(cmd.Context(), path, args, pluginIO{stdin: b.stdin, stdout: b.g.stdout, stderr: b.g.stderr, signals: sigs})
	if err != nil {
		return err
	}
	if code != 0 {
		// The plugin has said what went wrong; pass its status on as is.
		b.exit(code)
	}
	return nil
}
