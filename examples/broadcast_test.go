package examples_test

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPublishFollow runs examples/publish with lines on its standard input and
// examples/follow against it, and checks that the follower prints every line
// with its position, then the end of the topic.
func TestPublishFollow(t *testing.T) {
	gobin, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := t.TempDir()
	out, err := exec.Command(gobin, "build", "-o", bin+string(filepath.Separator), "./publish", "./follow").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	pub := exec.CommandContext(ctx, filepath.Join(bin, "publish"), "-addr", "127.0.0.1:0", "-topic", "app")
	stdin, err := pub.StdinPipe()
	require.NoError(t, err)
	pubOut := startLines(t, pub)
	addr := strings.TrimPrefix(pubOut.next(t), "listening on ")
	require.Equal(t, `publishing standard input as topic "app"`, pubOut.next(t))

	fol := exec.CommandContext(ctx, filepath.Join(bin, "follow"), "-server", "ws://"+addr+"/", "-topic", "app")
	folOut := startLines(t, fol)
	require.Equal(t, `following "app" (policy drop-oldest)`, folOut.next(t))

	// Subscribed: every line from now on reaches the follower.
	_, err = io.WriteString(stdin, "first line\nsecond line\nno newline at the end")
	require.NoError(t, err)
	require.Regexp(t, `^\d+:1 first line$`, folOut.next(t))
	require.Regexp(t, `^\d+:2 second line$`, folOut.next(t))
	require.NoError(t, stdin.Close())
	require.Regexp(t, `^\d+:3 no newline at the end$`, folOut.next(t))
	require.Regexp(t, `^topic closed; resume position \d+:4$`, folOut.next(t))
	require.Equal(t, "published 3 lines", pubOut.next(t))
	require.NoError(t, fol.Wait())
	require.NoError(t, pub.Wait())

	// No server: a clear error, exit status 1.
	out, err = exec.CommandContext(ctx, filepath.Join(bin, "follow"), "-server", "ws://127.0.0.1:1/", "-topic", "x").CombinedOutput()
	require.Error(t, err)
	require.Regexp(t, regexp.MustCompile(`follow: .*127\.0\.0\.1:1`), string(out))
}

// lineReader hands out a process's stdout line by line.
type lineReader struct{ lines chan string }

func startLines(t *testing.T, cmd *exec.Cmd) *lineReader {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := &lineReader{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	return r
}

func (r *lineReader) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-r.lines:
		require.True(t, ok, "the program ended early")
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no output for 30 s")
		return ""
	}
}
