package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}

// proc is a client process running in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	err            error
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() //nolint:errcheck // may have exited
		<-p.exited
	})
	return p
}

// kill9 kills the process with SIGKILL and waits for it.
func kill9(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}) {
	t.Helper()
	require.NoError(t, cmd.Process.Kill())
	<-exited
}

// maxDurable returns the largest durable offset among the data directory's
// partial upload records.
func maxDurable(dataDir string) int64 {
	recs, _ := filepath.Glob(filepath.Join(dataDir, ".streamd", "uploads", "*.json"))
	var best int64
	for _, p := range recs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var rec struct{ Durable int64 }
		if json.Unmarshal(raw, &rec) == nil && rec.Durable > best {
			best = rec.Durable
		}
	}
	return best
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var resumingRE = regexp.MustCompile(`resuming upload ([0-9a-f]{32}) at (\d+) bytes`)

// TestResumableCLI runs the resume scenarios against the real binaries, built
// once.
func TestResumableCLI(t *testing.T) {
	bin := buildBinary(t)
	t.Run("kill-9", func(t *testing.T) { testUploadSurvivesKill9(t, bin) })
	t.Run("sigterm", func(t *testing.T) { testSIGTERMLeavesUploadResumable(t, bin) })
	t.Run("tokens-file", func(t *testing.T) { testTokensFile(t, bin) })
}

// testUploadSurvivesKill9 runs the real binaries: "streamd upload" through a
// bandwidth-capped TCP proxy; the server is killed with SIGKILL mid-upload
// and restarted, the upload goes on from the server's last checkpoint; then
// the client is killed with SIGKILL, and run again it continues from the
// server's durable offset and says so. The stored file's SHA-256 matches.
// A download killed the same way resumes its .part file.
func testUploadSurvivesKill9(t *testing.T, bin string) {
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	port := freePort(t)
	serverArgs := []string{"--data-dir", dataDir, "--addr", "127.0.0.1:" + port, "--log-level", "debug"}
	srv := startServer(t, bin, nil, serverArgs...)
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", "127.0.0.1:"+port, transport.LinkConfig{
		Upstream:   transport.LinkShape{BytesPerSecond: 16 << 20},
		Downstream: transport.LinkShape{BytesPerSecond: 16 << 20},
	})
	require.NoError(t, err)
	defer proxy.Close()
	url := "ws://" + proxy.Addr().String() + "/streamd"

	data := make([]byte, 48<<20)
	r := rand.New(rand.NewPCG(7, 9))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	want := sha256.Sum256(data)
	src := filepath.Join(work, "big.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	state := filepath.Join(work, "state.json")
	upload := []string{"upload", src, "--server", url, "--state-file", state, "--compress", "none", "--retries", "0"}

	// 1. kill -9 the server mid-upload, restart it: the client carries on.
	client := startProc(t, bin, upload...)
	waitUntil(t, "8 MiB durable", func() bool { return maxDurable(dataDir) >= 8<<20 })
	kill9(t, srv.cmd, srv.exited)
	atKill := maxDurable(dataDir)
	srv = startServer(t, bin, nil, serverArgs...)
	waitUntil(t, "the client to resume", func() bool { return resumingRE.MatchString(client.stderr.String()) })
	m := resumingRE.FindStringSubmatch(client.stderr.String())
	at, _ := strconv.ParseInt(m[2], 10, 64)
	require.Equal(t, atKill, at, "continued from the checkpoint the killed server had synced\n%s", client.stderr)
	id := m[1]

	// 2. kill -9 the client mid-upload; run it again: it resumes from the state file.
	waitUntil(t, "more progress", func() bool { return maxDurable(dataDir) >= atKill+8<<20 })
	kill9(t, client.cmd, client.exited)
	stdout, stderr, code := run(t, bin, nil, upload...)
	require.Equal(t, 0, code, "rerun: %s", stderr)
	m = resumingRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, "the rerun says where it resumes: %s", stderr)
	require.Equal(t, id, m[1], "the same upload")
	at2, _ := strconv.ParseInt(m[2], 10, 64)
	require.GreaterOrEqual(t, at2, atKill+8<<20)
	require.Contains(t, stdout, "uploaded big.bin: ")
	t.Logf("server killed with %d bytes durable, client resumed at %d; client killed, rerun resumed at %d of %d", atKill, at, at2, len(data))
	stored, err := os.ReadFile(filepath.Join(dataDir, "big.bin"))
	require.NoError(t, err)
	require.Equal(t, want, sha256.Sum256(stored), "stored copy differs")
	raw, err := os.ReadFile(state)
	require.NoError(t, err)
	require.NotContains(t, string(raw), id, "a finished upload is forgotten")

	// 3. A download killed with SIGKILL resumes its .part file.
	out := filepath.Join(work, "copy.bin")
	download := []string{"download", "big.bin", "-o", out, "--server", url, "--compress", "none"}
	dl := startProc(t, bin, download...)
	waitUntil(t, "8 MiB downloaded", func() bool {
		fi, err := os.Stat(out + ".part")
		return err == nil && fi.Size() >= 8<<20
	})
	kill9(t, dl.cmd, dl.exited)
	_, stderr, code = run(t, bin, nil, download...)
	require.Equal(t, 0, code, "download rerun: %s", stderr)
	require.Regexp(t, `resuming download at \d+ bytes`, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, want, sha256.Sum256(got), "downloaded copy differs")

	require.NoError(t, srv.stop(t), "SIGTERM: exit 0\n%s", srv.stderr)
}

// testSIGTERMLeavesUploadResumable: SIGTERM in the middle of an upload
// sends GOAWAY, the upload is checkpointed, the server exits 0, and a new
// server continues the upload.
func testSIGTERMLeavesUploadResumable(t *testing.T, bin string) {
	work := t.TempDir()
	dataDir := filepath.Join(work, "data")
	port := freePort(t)
	serverArgs := []string{"--data-dir", dataDir, "--addr", "127.0.0.1:" + port, "--shutdown-timeout", "100ms"}
	srv := startServer(t, bin, nil, serverArgs...)
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", "127.0.0.1:"+port, transport.LinkConfig{
		Upstream: transport.LinkShape{BytesPerSecond: 8 << 20},
	})
	require.NoError(t, err)
	defer proxy.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 24<<20/16)
	src := filepath.Join(work, "f.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	client := startProc(t, bin, "upload", src, "--server", "ws://"+proxy.Addr().String()+"/streamd",
		"--state-file", filepath.Join(work, "state.json"), "--compress", "none", "--retries", "0")
	waitUntil(t, "upload started", func() bool {
		recs, _ := filepath.Glob(filepath.Join(dataDir, ".streamd", "uploads", "*.part"))
		for _, p := range recs {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 2<<20 {
				return true
			}
		}
		return false
	})
	require.NoError(t, srv.stop(t), "SIGTERM: exit 0\n%s", srv.stderr)
	require.Positive(t, maxDurable(dataDir), "the interrupted upload was checkpointed")
	srv = startServer(t, bin, nil, serverArgs...)
	select {
	case <-client.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("upload did not finish\n%s", client.stderr)
	}
	require.NoError(t, client.err, "%s", client.stderr)
	require.Regexp(t, `resuming upload [0-9a-f]{32} at \d+ bytes`, client.stderr.String())
	stored, err := os.ReadFile(filepath.Join(dataDir, "f.bin"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, stored))
	require.NoError(t, srv.stop(t))
}

func testTokensFile(t *testing.T, bin string) {
	work := t.TempDir()
	tokens := filepath.Join(work, "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("# token principal\nalpha-secret alice\n\nbeta-secret bob\n"), 0o600))
	srv := startServer(t, bin, nil, "--data-dir", filepath.Join(work, "d"), "--tokens-file", tokens)
	url := "ws://" + srv.addr + "/streamd"
	_, stderr, code := run(t, bin, nil, "ls", "--server", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "UNAUTHORIZED")
	_, stderr, code = run(t, bin, nil, "ls", "--server", url, "--token", "gamma")
	require.Equal(t, 1, code, stderr)
	for _, tok := range []string{"alpha-secret", "beta-secret"} {
		_, stderr, code = run(t, bin, nil, "ls", "--server", url, "--token", tok)
		require.Equal(t, 0, code, stderr)
	}
	require.NoError(t, srv.stop(t))

	// A bad file is refused at startup.
	require.NoError(t, os.WriteFile(tokens, []byte("only-one-field\n"), 0o600))
	_, stderr, code = run(t, bin, nil, "serve", "--data-dir", filepath.Join(work, "d"), "--tokens-file", tokens, "--addr", "127.0.0.1:0")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "TOKEN PRINCIPAL")
}

func TestLoadTokens(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t")
	require.NoError(t, os.WriteFile(p, []byte("a x\n# c\n b  y \n"), 0o600))
	tokens, err := loadTokens(p)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "x", "b": "y"}, tokens)
	auth := tokensAuthenticator(tokens)
	who, err := auth(t.Context(), "b")
	require.NoError(t, err)
	require.Equal(t, "y", who)
	_, err = auth(t.Context(), "")
	require.Error(t, err)
	for _, bad := range []string{"a x\na y\n", "", "a b c\n"} {
		require.NoError(t, os.WriteFile(p, []byte(bad), 0o600))
		_, err := loadTokens(p)
		require.Error(t, err, "%q", bad)
	}
}
