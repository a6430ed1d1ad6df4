package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
)

// env is a files.Store served over loopback WebSocket and a client session.
type env struct {
	base  string // parent of the data directory: nothing may appear here
	dir   string // data directory
	store *files.Store
	sess  *stream.Session
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, cfg *files.StoreConfig, compression ...string) *env {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	if cfg == nil {
		cfg = &files.StoreConfig{}
	}
	cfg.Logger = quietLogger()
	store, err := files.NewStore(dir, cfg)
	require.NoError(t, err)
	mux := stream.NewMux()
	store.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger()})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	var ccfg *stream.Config
	if len(compression) > 0 {
		ccfg = &stream.Config{Compression: compression, Logger: quietLogger()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := stream.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/", &stream.DialOptions{Config: ccfg})
	require.NoError(t, err)
	t.Cleanup(func() {
		sess.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test teardown
		hs.Close()
		store.Close()
	})
	return &env{base: base, dir: dir, store: store, sess: sess}
}

// requireClean checks that the data directory holds exactly names (plus the
// store's private directory, with no partial uploads left: only the records
// of committed ones) and that nothing appeared next to it.
func (e *env) requireClean(t *testing.T, names ...string) {
	t.Helper()
	parent, err := os.ReadDir(e.base)
	require.NoError(t, err)
	require.Len(t, parent, 1, "entries next to the data directory")
	require.Equal(t, "data", parent[0].Name())
	entries, err := os.ReadDir(e.dir)
	require.NoError(t, err)
	var got []string
	for _, en := range entries {
		if en.Name() != ".streamd" {
			got = append(got, en.Name())
		}
	}
	require.ElementsMatch(t, names, got)
	require.Empty(t, e.partials(t), "partial uploads left behind")
}

// partials returns the ids of the uncommitted partial uploads.
func (e *env) partials(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, ".streamd", "uploads"))
	require.NoError(t, err)
	var ids []string
	for _, en := range entries {
		id, ok := strings.CutSuffix(en.Name(), ".json")
		if !ok {
			require.True(t, strings.HasSuffix(en.Name(), ".part"), "unexpected %s", en.Name())
			require.FileExists(t, filepath.Join(e.dir, ".streamd", "uploads", strings.TrimSuffix(en.Name(), ".part")+".json"))
			continue
		}
		raw, err := os.ReadFile(filepath.Join(e.dir, ".streamd", "uploads", en.Name()))
		require.NoError(t, err)
		var rec struct{ Committed bool }
		require.NoError(t, json.Unmarshal(raw, &rec))
		if !rec.Committed {
			ids = append(ids, id)
		}
	}
	return ids
}

// abortPartials deletes the uncommitted partial uploads through files/abort
// and returns how many there were.
func (e *env) abortPartials(t *testing.T) int {
	t.Helper()
	ids := e.partials(t)
	for _, id := range ids {
		require.NoError(t, files.AbortUpload(t.Context(), e.sess, id))
	}
	require.Empty(t, e.partials(t))
	return len(ids)
}

// testData returns n bytes that are half random, half repetitive text, so that
// compression has something to do but cannot make it trivial.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		chunk := b[i:min(i+4096, n)]
		if (i/4096)%2 == 0 {
			for j := range chunk {
				chunk[j] = byte(r.Uint32())
			}
		} else {
			copy(chunk, bytes.Repeat([]byte(fmt.Sprintf("line %d of the test data\n", i)), 200))
		}
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	for _, alg := range []string{"zstd", "gzip", "none"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, nil, alg)
			ctx := t.Context()
			data := testData(1<<20+123, 7)
			src := filepath.Join(t.TempDir(), "src.bin")
			require.NoError(t, os.WriteFile(src, data, 0o644))

			var mu sync.Mutex
			var last stream.Progress
			calls := 0
			res, err := files.Upload(ctx, e.sess, src, files.UploadOptions{
				Name:             "stored.bin",
				ProgressInterval: time.Millisecond,
				Progress: func(p stream.Progress) {
					mu.Lock()
					defer mu.Unlock()
					last = p
					calls++
				},
			})
			require.NoError(t, err)
			require.Equal(t, "stored.bin", res.Name)
			require.Equal(t, int64(len(data)), res.Bytes)
			require.Equal(t, sum(data), res.SHA256)
			require.Positive(t, res.WireBytes)
			mu.Lock()
			require.Positive(t, calls)
			require.Equal(t, int64(len(data)), last.Sent)
			require.Equal(t, int64(len(data)), last.Total)
			mu.Unlock()
			if alg == "none" {
				require.Greater(t, res.WireBytes, res.Bytes, "uncompressed wire carries headers")
			} else {
				require.Greater(t, res.Ratio(), 1.5, "half the data compresses well")
			}
			require.Contains(t, res.Summary("uploaded"), fmt.Sprintf("uploaded stored.bin: %d bytes in ", len(data)))

			stored, err := os.ReadFile(filepath.Join(e.dir, "stored.bin"))
			require.NoError(t, err)
			require.Equal(t, sum(data), sum(stored))
			e.requireClean(t, "stored.bin")

			var buf bytes.Buffer
			dres, err := files.Download(ctx, e.sess, "stored.bin", &buf, files.DownloadOptions{})
			require.NoError(t, err)
			require.Equal(t, sum(data), sum(buf.Bytes()))
			require.Equal(t, sum(data), dres.SHA256)
			require.Equal(t, int64(len(data)), dres.Bytes)

			dst := filepath.Join(t.TempDir(), "out.bin")
			var dlast stream.Progress
			_, err = files.DownloadFile(ctx, e.sess, "stored.bin", dst, files.DownloadOptions{
				Progress: func(p stream.Progress) { dlast = p },
			})
			require.NoError(t, err)
			got, err := os.ReadFile(dst)
			require.NoError(t, err)
			require.Equal(t, sum(data), sum(got))
			require.Equal(t, int64(len(data)), dlast.Received)
			_, err = os.Stat(dst + ".part")
			require.ErrorIs(t, err, os.ErrNotExist)

			list, err := files.List(ctx, e.sess)
			require.NoError(t, err)
			require.Len(t, list, 1)
			require.Equal(t, "stored.bin", list[0].Name)
			require.Equal(t, int64(len(data)), list[0].Size)
		})
	}
}

func TestUploadEmptyAndOverwrite(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	res, err := files.UploadReader(ctx, e.sess, bytes.NewReader(nil), 0, files.UploadOptions{Name: "f"})
	require.NoError(t, err)
	require.Zero(t, res.Bytes)
	got, err := os.ReadFile(filepath.Join(e.dir, "f"))
	require.NoError(t, err)
	require.Empty(t, got)

	// Unknown size, then replacing the file atomically.
	_, err = files.UploadReader(ctx, e.sess, strings.NewReader("second version"), -1, files.UploadOptions{Name: "f"})
	require.NoError(t, err)
	got, err = os.ReadFile(filepath.Join(e.dir, "f"))
	require.NoError(t, err)
	require.Equal(t, "second version", string(got))
	e.requireClean(t, "f")
}

func TestDownloadNotFound(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	require.NoError(t, os.Mkdir(filepath.Join(e.dir, "subdir"), 0o755))
	outside := filepath.Join(e.base, "secret")
	require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o600))
	require.NoError(t, os.Symlink("../secret", filepath.Join(e.dir, "link")))
	for _, name := range []string{"missing", "subdir", "link"} {
		var buf bytes.Buffer
		_, err := files.Download(ctx, e.sess, name, &buf, files.DownloadOptions{})
		require.ErrorIs(t, err, stream.ErrNotFound, name)
		var se *stream.StreamError
		require.ErrorAs(t, err, &se)
		require.Equal(t, stream.CodeNotFound, se.Code)
		require.True(t, se.Remote)
		require.Zero(t, buf.Len())
	}
	dst := filepath.Join(t.TempDir(), "out")
	_, err := files.DownloadFile(ctx, e.sess, "missing", dst, files.DownloadOptions{})
	require.ErrorIs(t, err, stream.ErrNotFound)
	_, err = os.Stat(dst + ".part")
	require.ErrorIs(t, err, os.ErrNotExist)
	list, err := files.List(ctx, e.sess)
	require.NoError(t, err)
	require.Empty(t, list, "directories and symlinks are not listed")
}

var badNames = []string{
	"", ".", "..", "../evil", "../../evil", "/abs", "a/b", `a\b`, "x\x00y", "tab\there",
	".streamd", strings.Repeat("a", files.MaxNameLen+1), "\xff\xfe",
}

func TestBadNamesRejected(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	abs := filepath.Join(e.base, "escaped")
	for _, name := range append(badNames, abs) {
		// The client helpers refuse locally...
		_, err := files.UploadReader(ctx, e.sess, strings.NewReader("x"), 1, files.UploadOptions{Name: name})
		require.ErrorIs(t, err, files.ErrInvalidName, "%q", name)
		require.ErrorIs(t, err, stream.ErrInvalidArgument, "%q", name)
		_, err = files.Download(ctx, e.sess, name, io.Discard, files.DownloadOptions{})
		require.ErrorIs(t, err, files.ErrInvalidName, "%q", name)

		// ...and the server refuses a client that does not. (Invalid UTF-8
		// cannot travel in JSON metadata: it arrives as U+FFFD.)
		if !utf8.ValidString(name) {
			continue
		}
		for _, kind := range []stream.Kind{stream.Upload, stream.Download} {
			route := files.RouteUpload
			if kind == stream.Download {
				route = files.RouteDownload
			}
			st, err := e.sess.Open(ctx, stream.OpenOptions{Route: route, Kind: kind, Metadata: map[string]any{"name": name, "size": 1}})
			require.True(t, st == nil) // not require.Nil: printing a live stream races
			require.ErrorIs(t, err, stream.ErrInvalidArgument, "%v %q", kind, name)
			var se *stream.StreamError
			require.ErrorAs(t, err, &se)
			require.Equal(t, stream.CodeInvalidArgument, se.Code)
			require.True(t, se.Remote)
		}
	}
	e.requireClean(t)
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"a", "file.tar.gz", ".hidden", "with space", "ünïcödé.txt", "..x", strings.Repeat("b", files.MaxNameLen)} {
		require.NoError(t, files.ValidateName(name), "%q", name)
	}
	for _, name := range badNames {
		err := files.ValidateName(name)
		require.ErrorIs(t, err, files.ErrInvalidName, "%q", name)
		require.ErrorIs(t, err, stream.ErrInvalidArgument, "%q", name)
	}
}

func TestUploadIntegrityFailures(t *testing.T) {
	e := newEnv(t, &files.StoreConfig{MaxUploadSize: 1 << 20})
	ctx := t.Context()
	data := testData(256<<10, 3)

	// A SHA-256 that does not match what arrived: nothing is stored.
	wrong := sum(append([]byte("x"), data...))
	_, err := files.UploadReader(ctx, e.sess, bytes.NewReader(data), int64(len(data)), files.UploadOptions{Name: "a", SHA256: wrong})
	require.ErrorIs(t, err, stream.ErrIntegrity)
	var se *stream.StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, stream.CodeIntegrity, se.Code)
	require.Contains(t, se.Reason, wrong)
	require.Equal(t, 1, e.abortPartials(t), "the partial upload stays, resumable")
	e.requireClean(t)

	// The right one (upper case hex is fine) is accepted.
	_, err = files.UploadReader(ctx, e.sess, bytes.NewReader(data), int64(len(data)), files.UploadOptions{Name: "a", SHA256: strings.ToUpper(sum(data))})
	require.NoError(t, err)
	e.requireClean(t, "a")

	// Fewer and more bytes than the metadata announced, sent on a raw stream.
	for _, tc := range []struct {
		announced int
		sent      int
	}{{100, 50}, {100, 150}, {0, 1}} {
		st, err := e.sess.Open(ctx, stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
			Metadata: map[string]any{"name": "short", "size": tc.announced}})
		require.NoError(t, err)
		_, werr := st.Write(data[:tc.sent])
		err = st.Close()
		if werr != nil {
			err = werr
		}
		require.ErrorIs(t, err, stream.ErrIntegrity, "announced %d sent %d", tc.announced, tc.sent)
		require.Eventually(t, func() bool { return len(e.partials(t)) == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Eventually(t, func() bool { return e.sess.NumStreams() == 0 }, 5*time.Second, 5*time.Millisecond)
		e.abortPartials(t)
		e.requireClean(t, "a")
	}

	// Size limits: declared, and undeclared.
	_, err = files.UploadReader(ctx, e.sess, bytes.NewReader(nil), 2<<20, files.UploadOptions{Name: "big"})
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
	big := testData(1<<20+1, 4)
	_, err = files.UploadReader(ctx, e.sess, bytes.NewReader(big), -1, files.UploadOptions{Name: "big"})
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
	require.ErrorContains(t, err, "exceeds the limit")
	e.abortPartials(t)
	e.requireClean(t, "a")

	// Malformed metadata.
	for _, meta := range []any{
		map[string]any{"name": "m", "sha256": "xyz"},
		map[string]any{"name": "m", "size": -5},
		map[string]any{"name": 5},
	} {
		_, err := e.sess.Open(ctx, stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Metadata: meta})
		require.ErrorIs(t, err, stream.ErrInvalidArgument, "%v", meta)
	}
	// A directory cannot be overwritten.
	require.NoError(t, os.Mkdir(filepath.Join(e.dir, "d"), 0o755))
	_, err = files.UploadReader(ctx, e.sess, strings.NewReader("x"), 1, files.UploadOptions{Name: "d"})
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
	require.NoError(t, os.Remove(filepath.Join(e.dir, "d")))
	e.requireClean(t, "a")
}

// A source that yields fewer bytes than announced cancels the upload.
func TestUploadSourceShorterThanAnnounced(t *testing.T) {
	e := newEnv(t, nil)
	_, err := files.UploadReader(t.Context(), e.sess, strings.NewReader("abc"), 10, files.UploadOptions{Name: "x"})
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
	require.Eventually(t, func() bool { return e.sess.NumStreams() == 0 }, 5*time.Second, 5*time.Millisecond)
	requireResumableThenAbort(t, e)
}

// requireResumableThenAbort checks that an interrupted upload left one
// partial upload, then aborts it.
func requireResumableThenAbort(t *testing.T, e *env) {
	t.Helper()
	// The server's handler ends asynchronously once the cancel arrives.
	require.Eventually(t, func() bool { return len(e.partials(t)) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, e.abortPartials(t))
	e.requireClean(t)
}

func TestUploadCancelledLeavesResumablePartial(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := files.UploadReader(ctx, e.sess, pr, 10<<20, files.UploadOptions{Name: "partial"})
		done <- err
	}()
	_, err := pw.Write(testData(1<<20, 5))
	require.NoError(t, err)
	// Wait until the server has written something, so the partial file exists.
	require.Eventually(t, func() bool {
		entries, _ := os.ReadDir(filepath.Join(e.dir, ".streamd", "uploads"))
		for _, en := range entries {
			if fi, err := en.Info(); err == nil && strings.HasSuffix(en.Name(), ".part") && fi.Size() > 0 {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	pw.CloseWithError(errors.New("source gone")) // unblock the reader
	err = <-done
	require.Error(t, err)
	requireResumableThenAbort(t, e)
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, &files.StoreConfig{ListBytes: 1024})
	var want []string
	for i := range 60 {
		name := fmt.Sprintf("file-%03d-%s", i, strings.Repeat("n", 40))
		want = append(want, name)
		require.NoError(t, os.WriteFile(filepath.Join(e.dir, name), []byte(name), 0o644))
	}
	list, err := files.List(t.Context(), e.sess)
	require.NoError(t, err)
	var got []string
	for _, f := range list {
		got = append(got, f.Name)
		require.Equal(t, int64(len(f.Name)), f.Size)
		require.False(t, f.ModTime.IsZero())
	}
	require.Equal(t, want, got)

	// One page is capped by the reply budget.
	raw, err := e.sess.Request(t.Context(), files.RequestList, []byte(`{"after":"file-010"}`))
	require.NoError(t, err)
	require.LessOrEqual(t, len(raw), 1024)
	require.Contains(t, string(raw), `"more":true`)
	require.Contains(t, string(raw), `"name":"file-010-`)

	_, err = e.sess.Request(t.Context(), files.RequestList, []byte(`not json`))
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
}

func TestConcurrentTransfers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := testData(512<<10+i, uint64(i))
			name := fmt.Sprintf("c%d", i)
			if _, err := files.UploadReader(ctx, e.sess, bytes.NewReader(data), int64(len(data)), files.UploadOptions{Name: name}); err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			if _, err := files.Download(ctx, e.sess, name, &buf, files.DownloadOptions{}); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(data, buf.Bytes()) {
				errs <- fmt.Errorf("%s: content differs", name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestStoreConfigValidate(t *testing.T) {
	require.NoError(t, (*files.StoreConfig)(nil).Validate())
	require.Error(t, (&files.StoreConfig{MaxUploadSize: -1}).Validate())
	require.Error(t, (&files.StoreConfig{ListBytes: 10}).Validate())
	_, err := files.NewStore("", nil)
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
}
