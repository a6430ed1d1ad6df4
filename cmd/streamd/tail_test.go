package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tailProcess is a running "streamd tail".
type tailProcess struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr *syncBuffer
	exited chan struct{}
	err    error
}

func startTail(t *testing.T, bin string, args ...string) *tailProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"tail"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &tailProcess{cmd: cmd, lines: make(chan string, 1000), stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck // drain until exit
		p.err = cmd.Wait()
		close(p.lines)
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill() //nolint:errcheck // the test failed first
			<-p.exited
		}
	})
	return p
}

// expect reads the next lines of stdout and checks them.
func (p *tailProcess) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got, ok := <-p.lines:
			if !ok {
				<-p.exited
				t.Fatalf("streamd tail exited before %q: %v\n%s", w, p.err, p.stderr)
			}
			require.Equal(t, w, got)
		case <-time.After(30 * time.Second):
			t.Fatalf("streamd tail printed no %q\nstderr:\n%s", w, p.stderr)
		}
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestServeTailFile(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	appendTo(t, logFile, "before 1\nbefore 2\nbefore 3\n")
	srv := startServer(t, bin, nil, "--data-dir", filepath.Join(dir, "data"),
		"--tail", "logs="+logFile, "--tail-interval", "10ms", "--tail-cmd", "hello=echo hello from a command")
	url := "ws://" + srv.addr + "/streamd"

	// The last 2 lines first, then every line appended, live.
	tail := startTail(t, bin, "logs", "--server", url, "--last", "2")
	tail.expect(t, "before 2", "before 3")
	appendTo(t, logFile, "after 1\nafter 2\n")
	tail.expect(t, "after 1", "after 2")
	// Rotation: the new file is followed from its start.
	require.NoError(t, os.Rename(logFile, logFile+".1"))
	appendTo(t, logFile, "rotated 1\n")
	tail.expect(t, "rotated 1")

	// A second follower from the start of what the server retains.
	all := startTail(t, bin, "logs", "--server", url, "--from-start")
	all.expect(t, "before 1", "before 2", "before 3", "after 1", "after 2", "rotated 1")

	// The command's output: each run is a new epoch, reported on stderr.
	cmdTail := startTail(t, bin, "hello", "--server", url, "--from-start")
	cmdTail.expect(t, "hello from a command", "hello from a command")
	// stderr is a separate pipe: the notice may land after the lines on stdout.
	require.Eventually(t, func() bool {
		return strings.Contains(cmdTail.stderr.String(), `the source of "hello" restarted`)
	}, 30*time.Second, 10*time.Millisecond, "stderr:\n%s", cmdTail.stderr)

	// Unknown topic: a typed error, exit status 1.
	_, stderr, code := run(t, bin, nil, "tail", "missing", "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "NOT_FOUND")

	// SIGTERM: the topics close, every tail ends normally after its last line.
	require.NoError(t, srv.stop(t), "stderr:\n%s", srv.stderr)
	for _, p := range []*tailProcess{tail, all, cmdTail} {
		<-p.exited
		require.NoError(t, p.err, "stderr:\n%s", p.stderr)
		require.Contains(t, p.stderr.String(), "closed")
	}
}

func TestTailArguments(t *testing.T) {
	for _, args := range [][]string{
		{"tail"},
		{"tail", "a", "b"},
		{"tail", "bad name"},
		{"tail", "logs", "--last", "-1"},
		{"tail", "logs", "--last", "3", "--from-start"},
		{"serve", "--tail", "nopath"},
		{"serve", "--tail", "bad name=/x"},
		{"serve", "--tail", "a=/x", "--tail-cmd", "a=echo"},
		{"serve", "--tail-policy", "sometimes", "--addr", "127.0.0.1:0"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := newRootCommand(&stdout, &stderr)
		if args[0] == "serve" {
			args = append(args, "--data-dir", t.TempDir())
		} else {
			args = append(args, "--server", "ws://127.0.0.1:1/streamd", "--reconnect=false")
		}
		cmd.SetArgs(args)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := cmd.ExecuteContext(ctx)
		cancel()
		require.Error(t, err, "%v", args)
		require.NotContains(t, err.Error(), "127.0.0.1:1", "%v: rejected before connecting", args)
		require.False(t, strings.Contains(stdout.String(), "listening"), "%v started serving", args)
	}
}
