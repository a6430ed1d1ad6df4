package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
)

// buildBinary compiles the real streamd binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "streamd")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// server is a running "streamd serve" process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	exited chan struct{} // closed once the process was waited for
	err    error         // its exit error, valid after exited
}

// startServer runs "streamd serve" on a free loopback port and waits until
// /healthz answers.
func startServer(t *testing.T, bin string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s := &server{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill() //nolint:errcheck // the test failed before SIGTERM
			<-s.exited
		}
	})
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addrs <- a
			}
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck // drain until exit
		s.err = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-addrs:
	case <-s.exited:
		t.Fatalf("streamd serve exited early: %v\n%s", s.err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("streamd serve printed no address\n%s", s.stderr)
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && string(body) == "ok"
	}, 10*time.Second, 10*time.Millisecond)
	return s
}

// syncBuffer is a bytes.Buffer safe to read while the process writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stop sends SIGTERM and returns the exit error (nil: status 0).
func (s *server) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.exited:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatalf("streamd serve did not exit after SIGTERM\n%s", s.stderr)
		return nil
	}
}

// run runs the binary with args and returns stdout, stderr and the exit code.
func run(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// fileData returns n bytes alternating random and text blocks.
func fileData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(2) == 0 {
			chunk := make([]byte, 8192)
			for i := range chunk {
				chunk[i] = byte(r.Uint32())
			}
			b.Write(chunk)
		} else {
			for range 200 {
				fmt.Fprintf(&b, "row %d,%d,value\n", b.Len(), r.IntN(1000))
			}
		}
	}
	return b.Bytes()[:n]
}

func TestServeUploadDownload(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	// The data directory comes from the environment, the address from a flag.
	srv := startServer(t, bin, []string{"STREAMD_DATA_DIR=" + dataDir, "STREAMD_LOG_LEVEL=debug"})
	url := "ws://" + srv.addr + "/streamd"

	data := fileData(3<<20 + 17)
	src := filepath.Join(work, "src.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	summary := regexp.MustCompile(`^(up|down)loaded (\S+): (\d+) bytes in [0-9.]+ s \([0-9.]+ MB/s\), wire (\d+) bytes \(ratio [0-9.]+\)\n$`)

	for _, alg := range []string{"zstd", "gzip", "none"} {
		name := "file-" + alg
		stdout, stderr, code := run(t, bin, nil, "upload", src, "--name", name, "--server", url, "--compress", alg)
		require.Equal(t, 0, code, "upload: %s", stderr)
		m := summary.FindStringSubmatch(stdout)
		require.NotNil(t, m, "summary line: %q", stdout)
		require.Equal(t, name, m[2])
		require.Equal(t, fmt.Sprint(len(data)), m[3])

		stored, err := os.ReadFile(filepath.Join(dataDir, name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, stored), "stored copy differs")

		// The server URL from the environment this time.
		dst := filepath.Join(work, "out-"+alg)
		stdout, stderr, code = run(t, bin, []string{"STREAMD_SERVER=" + url, "STREAMD_COMPRESS=" + alg}, "download", name, "-o", dst)
		require.Equal(t, 0, code, "download: %s", stderr)
		m = summary.FindStringSubmatch(stdout)
		require.NotNil(t, m, "summary line: %q", stdout)
		require.Equal(t, "down", m[1])
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "downloaded copy differs (%s)", alg)
	}

	stdout, stderr, code := run(t, bin, nil, "ls", "--server", url)
	require.Equal(t, 0, code, stderr)
	for _, alg := range []string{"zstd", "gzip", "none"} {
		require.Regexp(t, fmt.Sprintf(`(?m)^file-%s\s+%d\s`, alg, len(data)), stdout)
	}

	// Typed errors: exit 1 and the code in the message.
	_, stderr, code = run(t, bin, nil, "download", "missing", "-o", filepath.Join(work, "missing"), "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NOT_FOUND")
	_, err := os.Stat(filepath.Join(work, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, stderr, code = run(t, bin, nil, "upload", src, "--name", "../escape", "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "invalid file name")
	_, stderr, code = run(t, bin, nil, "upload", src, "--compress", "lz4", "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--compress")

	require.NoError(t, srv.stop(t), "exit status after SIGTERM; stderr:\n%s", srv.stderr)
	require.Contains(t, srv.stderr.String(), "shutting down")
	_, err = os.Stat(filepath.Join(work, "escape"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestServeToken(t *testing.T) {
	bin := buildBinary(t)
	srv := startServer(t, bin, nil, "--data-dir", filepath.Join(t.TempDir(), "d"), "--token", "s3cret")
	url := "ws://" + srv.addr + "/streamd"
	_, stderr, code := run(t, bin, nil, "ls", "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "UNAUTHORIZED")
	_, stderr, code = run(t, bin, nil, "ls", "--server", url, "--token", "wrong")
	require.Equal(t, 1, code, stderr)
	stdout, stderr, code := run(t, bin, []string{"STREAMD_TOKEN=s3cret"}, "ls", "--server", url)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "NAME")
	require.NoError(t, srv.stop(t))
}

func TestBadArgumentsFail(t *testing.T) {
	// In-process: the command tree without a binary (main exits 1 on these).
	for _, args := range [][]string{
		{"serve", "--compress", "brotli"},
		{"serve", "--log-level", "loud"},
		{"upload"},
		{"download", "a", "b"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := newRootCommand(&stdout, &stderr)
		cmd.SetArgs(args)
		require.Error(t, cmd.ExecuteContext(t.Context()), "%v", args)
	}
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string][]string{
		"zstd": {"zstd"}, "gzip": {"gzip"}, "none": {"none"}, "zstd,gzip": {"zstd", "gzip"}, " GZIP ": {"gzip"},
	} {
		got, err := parseCompression(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "lz4", "none,zstd", "zstd,"} {
		_, err := parseCompression(in)
		require.Error(t, err, in)
	}
}

func TestEnvOverridesDefaultsNotFlags(t *testing.T) {
	t.Setenv("STREAMD_LOG_LEVEL", "loud")
	var stdout, stderr bytes.Buffer
	cmd := newRootCommand(&stdout, &stderr)
	cmd.SetArgs([]string{"ls", "--server", "ws://127.0.0.1:1/x"})
	err := cmd.ExecuteContext(t.Context())
	require.ErrorContains(t, err, "--log-level") // the bad env value was applied

	cmd = newRootCommand(&stdout, &stderr)
	cmd.SetArgs([]string{"serve", "--log-level", "debug", "--compress", "bogus"})
	err = cmd.ExecuteContext(t.Context())
	require.ErrorContains(t, err, "--compress") // the flag won over the env
}

func TestProgressUI(t *testing.T) {
	var buf bytes.Buffer
	require.False(t, newProgressUI(&buf, "uploading").enabled, "a buffer is not a terminal")
	u := &progressUI{w: &buf, verb: "uploading", enabled: true}
	u.update(stream.Progress{Sent: 512 << 10, Total: 1 << 20})
	u.update(stream.Progress{Sent: 1 << 20, Total: 1 << 20})
	u.done(true)
	require.Contains(t, buf.String(), "uploading")
	require.Contains(t, buf.String(), "100%")
}
