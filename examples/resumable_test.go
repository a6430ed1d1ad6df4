package examples_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
	"github.com/streamd/streamd/transport"
)

// resumeOutput collects a process's output while it runs.
type resumeOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *resumeOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *resumeOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestResumableUpload runs examples/resumable-upload against a files server
// behind a bandwidth-capped TCP proxy, kills it with SIGKILL halfway, cuts
// the link under the second run, and checks that the second run resumes the
// same upload and the server stores the file intact.
func TestResumableUpload(t *testing.T) {
	gobin, err := exec.LookPath("go")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "resumable-upload")
	out, err := exec.Command(gobin, "build", "-o", bin, "./resumable-upload").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dataDir := filepath.Join(t.TempDir(), "data")
	store, err := files.NewStore(dataDir, &files.StoreConfig{Logger: quiet, CheckpointBytes: 1 << 20})
	require.NoError(t, err)
	mux := stream.NewMux()
	store.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quiet})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", strings.TrimPrefix(hs.URL, "http://"),
		transport.LinkConfig{Upstream: transport.LinkShape{BytesPerSecond: 8 << 20}})
	require.NoError(t, err)
	defer func() {
		proxy.Close()
		srv.Shutdown(context.Background()) //nolint:errcheck // teardown
		hs.Close()
		store.Close()
	}()

	data := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(3, 5))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	file := filepath.Join(t.TempDir(), "video.bin")
	require.NoError(t, os.WriteFile(file, data, 0o644))
	args := []string{"-server", "ws://" + proxy.Addr().String() + "/", "-file", file}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	first := exec.CommandContext(ctx, bin, args...)
	var firstOut resumeOutput
	first.Stdout, first.Stderr = &firstOut, &firstOut
	require.NoError(t, first.Start())
	waitForResume(t, func() bool { return strings.Contains(firstOut.String(), "progress  40%") })
	require.NoError(t, first.Process.Kill()) // kill -9
	first.Wait()                             //nolint:errcheck // killed
	id := regexp.MustCompile(`as upload ([0-9a-f]{32})`).FindStringSubmatch(firstOut.String())
	require.NotNil(t, id, "first run:\n%s", firstOut.String())

	second := exec.CommandContext(ctx, bin, args...)
	var secondOut resumeOutput
	second.Stdout, second.Stderr = &secondOut, &secondOut
	require.NoError(t, second.Start())
	waitForResume(t, func() bool { return strings.Contains(secondOut.String(), "resuming upload") })
	time.Sleep(100 * time.Millisecond) // let some bytes flow, then pull the cable
	proxy.CutAll()
	require.NoError(t, second.Wait(), "second run:\n%s", secondOut.String())
	got := secondOut.String()
	m := regexp.MustCompile(`resuming upload ([0-9a-f]{32}) at (\d+) bytes`).FindStringSubmatch(got)
	require.NotNil(t, m, "second run:\n%s", got)
	require.Equal(t, id[1], m[1], "the same upload")
	require.NotEqual(t, "0", m[2])
	require.Regexp(t, `uploaded video\.bin: \d+ bytes sent in this run, sha256 [0-9a-f]{64}\n`, got)
	require.Contains(t, got, "connection lost, reconnecting")

	stored, err := os.ReadFile(filepath.Join(dataDir, "video.bin"))
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(stored))
	require.NoFileExists(t, file+".upload", "the state is removed once done")
}

func waitForResume(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
