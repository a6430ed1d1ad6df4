// Package nodetest runs the browser client's Node test suites from Go tests:
// it finds node, builds the streamd binary the suites start, and runs Node's
// test runner, failing the Go test with the report if a Node test fails.
//
// Concurrency: Streamd builds the binary once per process (sync.Once); the
// other functions may be called from parallel tests.
package nodetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Node returns the node executable, or skips the test when there is none
// (fails it when STREAMD_REQUIRE_BROWSER is set, as CI does).
func Node(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("STREAMD_REQUIRE_BROWSER") != "" {
			t.Fatal("node not found in PATH and STREAMD_REQUIRE_BROWSER is set (install nodejs)")
		}
		t.Skip("node not found in PATH: skipping the browser client's tests (install nodejs)")
	}
	return node
}

// moduleRoot returns the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Streamd builds cmd/streamd once per test process and returns its path. The
// binary is built without the race detector even under -race: the server's
// own packages are race-tested by their tests, and a race-enabled server is
// several times slower, which the browser tests would measure instead of the
// client. Call Cleanup from TestMain to remove it.
func Streamd(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "streamd-nodetest-"); binErr != nil {
			return
		}
		bin := filepath.Join(binDir, "streamd")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/streamd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOFLAGS="+os.Getenv("GOFLAGS")+" -mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/streamd: %w: %s", err, out)
			return
		}
		binPath = bin
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// Cleanup removes the binary Streamd built.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// flags returns the node flags that give it a global WebSocket (built in from
// Node 22, behind a flag on Node 20).
func flags(t testing.TB, node string) []string {
	out, err := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if strings.TrimSpace(string(out)) == "function" {
		return nil
	}
	return []string{"--experimental-websocket"}
}

// Run runs Node's test runner in dir on files (relative to dir), with env
// added to the environment and concurrency test files at a time, and fails t
// with the report if a Node test fails. Skipped Node tests are logged.
func Run(t testing.TB, dir string, env []string, concurrency int, timeout time.Duration, files ...string) {
	t.Helper()
	node := Node(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append(flags(t, node), "--test", "--test-reporter=spec", fmt.Sprintf("--test-concurrency=%d", concurrency))
	cmd := exec.CommandContext(ctx, node, append(args, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("node --test %s:\n%s", strings.Join(files, " "), out)
	}
	if err != nil {
		t.Fatalf("node tests failed (report above): %v", err)
	}
	if s := skipped(string(out)); s != "" {
		t.Logf("skipped node tests:\n%s", s)
	}
}

// skipped returns the report lines of skipped tests.
func skipped(report string) string {
	var b strings.Builder
	for _, l := range strings.Split(report, "\n") {
		if strings.Contains(l, "# SKIP") || strings.HasPrefix(strings.TrimSpace(l), "﹣ ") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
