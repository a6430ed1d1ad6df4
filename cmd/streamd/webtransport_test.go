package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport/webtransport"
)

// serveInProcess runs "streamd serve" with args in this process until the test ends and
// returns the HTTP address and the WebTransport address it printed.
func serveInProcess(t *testing.T, args ...string) (httpAddr, wtAddr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCommand(pw, io.Discard)
	cmd.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn"}, args...))
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for httpAddr == "" || wtAddr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve ended early: %v", <-done)
			}
			if a, ok := strings.CutPrefix(l, "listening on "); ok {
				httpAddr = a
			}
			if a, ok := strings.CutPrefix(l, "webtransport on "); ok {
				wtAddr = strings.TrimSuffix(a, " (udp)")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve printed no addresses")
		}
	}
	go func() { // keep the pipe drained
		for range lines {
		}
	}()
	return httpAddr, wtAddr
}

// runCLI runs a client command in this process and returns its stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	cmd := newRootCommand(&stdout, io.Discard)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), err
}

func TestWebTransportCLI(t *testing.T) {
	httpAddr, wtAddr := serveInProcess(t, "--wt-addr", "127.0.0.1:0")
	server := "ws://" + httpAddr + "/streamd"

	// The page-facing document: the endpoint and the hashes to pin.
	resp, err := http.Get("http://" + httpAddr + webtransport.CertHashPath)
	require.NoError(t, err)
	var info webtransport.CertInfo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	resp.Body.Close()
	require.Equal(t, "https://"+wtAddr+"/streamd", info.URL)
	require.Equal(t, "sha-256", info.Algorithm)
	require.NotEmpty(t, info.Value)

	dir := t.TempDir()
	src := filepath.Join(dir, "data.bin")
	data := bytes.Repeat([]byte("webtransport "), 300_000) // ~3.9 MB
	require.NoError(t, os.WriteFile(src, data, 0o600))

	// Upload over WebTransport, discovered from the WebSocket URL.
	_, err = runCLI(t, "upload", src, "--server", server, "--transport", "wt", "--sha256")
	require.NoError(t, err)
	// List with auto (WebTransport first), download over https:// with the pinned hash.
	out, err := runCLI(t, "ls", "--server", server, "--transport", "auto")
	require.NoError(t, err)
	require.Contains(t, out, "data.bin")
	dst := filepath.Join(dir, "copy.bin")
	_, err = runCLI(t, "download", "data.bin", "-o", dst, "--server", info.URL, "--cert-hash", info.Value)
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, data, got)

	// Bad flags fail clearly.
	_, err = runCLI(t, "ls", "--server", server, "--transport", "quic")
	require.ErrorContains(t, err, "--transport")
	_, err = runCLI(t, "ls", "--server", info.URL, "--cert-hash", "nope")
	require.ErrorContains(t, err, "--cert-hash")
	_, err = runCLI(t, "ls", "--server", info.URL, "--cert-hash", strings.Repeat("ab", 32))
	require.ErrorIs(t, err, webtransport.ErrCertificate)
}

func TestWebTransportServeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--wt-addr", "127.0.0.1:0", "--tls-key", "k.pem"},
		{"--wt-addr", "127.0.0.1:0", "--tls-cert", "missing.pem", "--tls-key", "missing.pem"},
	} {
		cmd := newRootCommand(io.Discard, io.Discard)
		cmd.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...))
		require.ErrorContains(t, cmd.Execute(), "--tls-", "%v", args)
	}
}
