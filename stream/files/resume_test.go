package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
	"github.com/streamd/streamd/transport"
)

// restartable is a files server that can be "restarted" on the same data
// directory, and a reconnecting client whose connections (in-memory pipes)
// always reach the current server.
type restartable struct {
	t      *testing.T
	dir    string
	cfg    files.StoreConfig
	mu     sync.Mutex
	store  *files.Store
	srv    *stream.Server
	conns  []transport.Conn // server ends of the current server's connections
	client *stream.ReconnectingClient
}

func newRestartable(t *testing.T, cfg files.StoreConfig) *restartable {
	r := &restartable{t: t, dir: filepath.Join(t.TempDir(), "data"), cfg: cfg}
	r.cfg.Logger = quietLogger()
	r.start()
	var err error
	r.client, err = stream.NewReconnectingClient(stream.ReconnectConfig{
		Dial:    r.dial,
		Options: &stream.DialOptions{Config: &stream.Config{Logger: quietLogger()}},
		Backoff: stream.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	require.NoError(t, r.client.Connect(t.Context()))
	t.Cleanup(func() {
		r.client.Close()
		r.stop(false)
	})
	return r
}

func (r *restartable) start() {
	store, err := files.NewStore(r.dir, &r.cfg)
	require.NoError(r.t, err)
	mux := stream.NewMux()
	store.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger(), Session: &stream.Config{Logger: quietLogger()}})
	require.NoError(r.t, err)
	r.mu.Lock()
	r.store, r.srv, r.conns = store, srv, nil
	r.mu.Unlock()
}

// stop ends the server: crash drops its connections without a word first;
// otherwise it shuts down gracefully, giving streams 20 ms to drain.
func (r *restartable) stop(crash bool) {
	r.mu.Lock()
	srv, store, conns := r.srv, r.store, r.conns
	r.mu.Unlock()
	if crash {
		for _, c := range conns {
			c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	srv.Shutdown(ctx) //nolint:errcheck // teardown
	store.Close()
}

func (r *restartable) restart(crash bool) {
	r.stop(crash)
	r.start()
}

func (r *restartable) dial(ctx context.Context) (transport.Conn, error) {
	c, s := transport.Pipe(0)
	r.mu.Lock()
	srv := r.srv
	r.conns = append(r.conns, s)
	r.mu.Unlock()
	go srv.ServeConn(s, "") //nolint:errcheck // observed through the client
	// 32 MB/s, so that a test can restart the server in the middle of an upload.
	return transport.WithFaults(c, transport.FaultConfig{BytesPerSecond: 32 << 20}), nil
}

func (r *restartable) record(t *testing.T, id string) map[string]any {
	raw, err := os.ReadFile(filepath.Join(r.dir, ".streamd", "uploads", id+".json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// writeFile writes data to a temporary file and returns its path.
func writeFile(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "src.bin")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// TestUploadResumesAfterServerRestart: a server that shuts down mid-upload
// checkpoints it; after the restart the same UploadResumable call reopens
// the upload by id and continues from the durable offset, and a second
// restart with garbage past the durable offset (a crash) changes nothing.
func TestUploadResumesAfterServerRestart(t *testing.T) {
	r := newRestartable(t, files.StoreConfig{CheckpointBytes: 256 << 10})
	data := testData(8<<20, 51)
	src := writeFile(t, data)
	var starts []int64
	var ids []string
	var mu sync.Mutex
	restarted := make(chan struct{})
	var once sync.Once
	res, err := files.UploadResumable(t.Context(), r.client, src, files.ResumableUploadOptions{
		UploadOptions: files.UploadOptions{Name: "big.bin", ProgressInterval: time.Millisecond, Progress: func(p stream.Progress) {
			if p.Sent > 3<<20 {
				once.Do(func() {
					go func() {
						r.restart(false) // graceful: drains or checkpoints
						close(restarted)
					}()
				})
			}
		}},
		OnStart: func(id string, offset int64) {
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, id)
			starts = append(starts, offset)
		},
	})
	require.NoError(t, err)
	<-restarted
	stored, err := os.ReadFile(filepath.Join(r.dir, "big.bin"))
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(stored))
	require.Equal(t, sum(data), res.SHA256)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("streams started at %v, %d bytes sent for %d", starts, res.Bytes, len(data))
	require.Len(t, starts, 2, "one stream before the restart, one after")
	require.Equal(t, ids[0], ids[1], "the same upload id")
	require.Zero(t, starts[0])
	require.Positive(t, starts[1], "continued from the durable offset")
	require.Less(t, res.Bytes, int64(len(data))+int64(len(data))/2, "not sent again from the start")
}

func TestUploadResumeAfterCrashIgnoresBytesPastDurable(t *testing.T) {
	r := newRestartable(t, files.StoreConfig{CheckpointBytes: 64 << 10})
	data := testData(1<<20, 52)
	sess := r.client.Session()
	// Send 600 KiB of a 1 MiB upload, then cut the client off.
	size := int64(len(data))
	st, err := sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
		Metadata: map[string]any{"name": "c.bin", "size": size, "sha256": sum(data)}})
	require.NoError(t, err)
	var acc struct{ ID string }
	require.NoError(t, json.Unmarshal(st.AcceptMetadata(), &acc))
	_, err = st.Write(data[:600<<10])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		durable, _ := r.record(t, acc.ID)["durable"].(float64)
		return durable >= 512<<10
	}, 5*time.Second, 5*time.Millisecond)
	r.restart(true)
	<-st.Done()

	// A crash can leave anything after the durable offset: scribble there.
	durable := int64(r.record(t, acc.ID)["durable"].(float64))
	part := filepath.Join(r.dir, ".streamd", "uploads", acc.ID+".part")
	f, err := os.OpenFile(part, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0xEE}, 300<<10), durable)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var resumedAt int64 = -1
	res, err := files.UploadResumable(t.Context(), r.client, writeFile(t, data), files.ResumableUploadOptions{
		UploadOptions: files.UploadOptions{Name: "c.bin"}, ID: acc.ID,
		OnStart: func(id string, offset int64) { resumedAt = offset },
	})
	require.NoError(t, err)
	require.Equal(t, durable, resumedAt)
	require.Equal(t, durable, res.ResumedAt)
	require.Equal(t, size-durable, res.Bytes, "only the rest was sent")
	stored, err := os.ReadFile(filepath.Join(r.dir, "c.bin"))
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(stored))

	// The id of a stored upload tells a late client it is done.
	res, err = files.UploadResumable(t.Context(), r.client, writeFile(t, data), files.ResumableUploadOptions{ID: acc.ID})
	require.NoError(t, err)
	require.Zero(t, res.Bytes)
}

func TestUploadResumeOffsetMismatchWritesNothing(t *testing.T) {
	e := newEnv(t, &files.StoreConfig{CheckpointBytes: 64 << 10})
	data := testData(512<<10, 53)
	id := interruptedUpload(t, e, data, 256<<10)
	part := filepath.Join(e.dir, ".streamd", "uploads", id+".part")
	before, err := os.ReadFile(part)
	require.NoError(t, err)
	rec, err := os.ReadFile(filepath.Join(e.dir, ".streamd", "uploads", id+".json"))
	require.NoError(t, err)

	_, err = e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload,
		Metadata: map[string]any{"id": id, "offset": len(before) + 1}})
	require.ErrorIs(t, err, stream.ErrOffsetMismatch)
	var se *stream.StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, stream.CodeOffsetMismatch, se.Code)
	after, err := os.ReadFile(part)
	require.NoError(t, err)
	require.Equal(t, before, after, "nothing written")
	rec2, err := os.ReadFile(filepath.Join(e.dir, ".streamd", "uploads", id+".json"))
	require.NoError(t, err)
	require.JSONEq(t, string(rec), string(rec2), "record unchanged")

	// An offset below the durable one restarts from there.
	st, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
		Metadata: map[string]any{"id": id, "offset": 1000}})
	require.NoError(t, err)
	_, err = st.Write(data[1000:])
	require.NoError(t, err)
	require.NoError(t, st.Close())
	stored, err := os.ReadFile(filepath.Join(e.dir, "x.bin"))
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(stored))
}

// interruptedUpload starts an upload of data as x.bin, sends n bytes, waits
// for them to be durable and cancels it; it returns the upload id.
func interruptedUpload(t *testing.T, e *env, data []byte, n int) string {
	t.Helper()
	st, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
		Metadata: map[string]any{"name": "x.bin", "size": len(data), "sha256": sum(data)}})
	require.NoError(t, err)
	var acc struct{ ID string }
	require.NoError(t, json.Unmarshal(st.AcceptMetadata(), &acc))
	_, err = st.Write(data[:n])
	require.NoError(t, err)
	part := filepath.Join(e.dir, ".streamd", "uploads", acc.ID+".part")
	require.Eventually(t, func() bool {
		fi, err := os.Stat(part)
		return err == nil && fi.Size() == int64(n)
	}, 5*time.Second, 5*time.Millisecond)
	st.Cancel(stream.CodeCancelled, "test interrupts")
	rec := filepath.Join(e.dir, ".streamd", "uploads", acc.ID+".json")
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(rec)
		var m struct{ Durable int }
		return err == nil && json.Unmarshal(raw, &m) == nil && m.Durable == n
	}, 5*time.Second, 5*time.Millisecond)
	return acc.ID
}

func TestUploadBadIDsRejected(t *testing.T) {
	e := newEnv(t, nil)
	outside := filepath.Join(e.base, "secret.json")
	require.NoError(t, os.WriteFile(outside, []byte(`{"id":"x","name":"y"}`), 0o600))
	for _, id := range []string{"../secret", "/etc/passwd", outside, "..", "x\x00y", strings.Repeat("a", 31),
		strings.Repeat("A", 32), strings.Repeat("g", 32), "../../" + strings.Repeat("a", 26), strings.Repeat("0", 32)} {
		_, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload,
			Metadata: map[string]any{"id": id}})
		require.ErrorIs(t, err, stream.ErrNotFound, "%q", id)
		require.ErrorIs(t, files.AbortUpload(t.Context(), e.sess, id), stream.ErrNotFound, "%q", id)
	}
	_, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload,
		Metadata: map[string]any{"name": "a", "offset": 5}})
	require.ErrorIs(t, err, stream.ErrInvalidArgument, "an offset needs an id")
	raw, err := os.ReadFile(outside)
	require.NoError(t, err)
	require.Equal(t, `{"id":"x","name":"y"}`, string(raw))
	require.NoError(t, os.Remove(outside))
	e.requireClean(t)
}

// TestUploadSingleWriter: a second stream resuming an upload that another
// stream is writing takes it over; the first is cancelled before the second
// writes, so the bytes never interleave.
func TestUploadSingleWriter(t *testing.T) {
	e := newEnv(t, &files.StoreConfig{CheckpointBytes: 64 << 10})
	data := testData(1<<20, 54)
	first, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
		Metadata: map[string]any{"name": "w.bin", "size": len(data), "sha256": sum(data)}})
	require.NoError(t, err)
	var acc struct{ ID string }
	require.NoError(t, json.Unmarshal(first.AcceptMetadata(), &acc))
	_, err = first.Write(bytes.Repeat([]byte{'A'}, 256<<10)) // wrong bytes: must be cut back
	require.NoError(t, err)

	second, err := e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Checksum: true,
		Metadata: map[string]any{"id": acc.ID, "offset": 0}})
	require.NoError(t, err)
	<-first.Done()
	require.ErrorIs(t, first.Err(), stream.ErrCancelled, "the first writer was taken over")
	_, err = first.Write([]byte("late"))
	require.Error(t, err)
	_, err = second.Write(data)
	require.NoError(t, err)
	require.NoError(t, second.Close())
	stored, err := os.ReadFile(filepath.Join(e.dir, "w.bin"))
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(stored))
}

// TestUploadResumableThroughLinkCuts runs UploadResumable over real
// WebSockets through a TCP proxy that cuts every connection after 1 MiB.
func TestUploadResumableThroughLinkCuts(t *testing.T) {
	base := t.TempDir()
	store, err := files.NewStore(filepath.Join(base, "data"), &files.StoreConfig{Logger: quietLogger()})
	require.NoError(t, err)
	mux := stream.NewMux()
	store.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger()})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", strings.TrimPrefix(hs.URL, "http://"), transport.LinkConfig{CutAfterBytes: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() {
		proxy.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // teardown
		hs.Close()
		store.Close()
	})
	var reconnects atomic.Int32
	client, err := stream.NewReconnectingClient(stream.ReconnectConfig{
		URL:         "ws://" + proxy.Addr().String() + "/",
		Options:     &stream.DialOptions{Config: &stream.Config{Logger: quietLogger(), Compression: []string{"none"}}},
		Backoff:     stream.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		OnReconnect: func(*stream.Session) { reconnects.Add(1) },
	})
	require.NoError(t, err)
	require.NoError(t, client.Connect(t.Context()))
	defer client.Close()

	data := testData(6<<20, 55)
	res, err := files.UploadResumable(t.Context(), client, writeFile(t, data), files.ResumableUploadOptions{UploadOptions: files.UploadOptions{Name: "cut.bin"}})
	require.NoError(t, err)
	require.Equal(t, sum(data), res.SHA256)
	stored, err := os.ReadFile(filepath.Join(base, "data", "cut.bin"))
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(stored))
	require.GreaterOrEqual(t, reconnects.Load(), int32(5), "the link was cut every MiB")
	t.Logf("%d reconnects, %d bytes sent for %d", reconnects.Load(), res.Bytes, len(data))

	// And a download the same way.
	dst := filepath.Join(t.TempDir(), "out.bin")
	_, err = files.DownloadFileResumable(t.Context(), client, "cut.bin", dst, files.DownloadOptions{})
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(got))
}

func TestDownloadResumesPartFile(t *testing.T) {
	e := newEnv(t, nil)
	data := testData(2<<20, 56)
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "d.bin"), data, 0o644))
	dst := filepath.Join(t.TempDir(), "d.bin")

	// A first attempt that stops after 1 MiB leaves d.bin.part (+ .part.json).
	ctx, cancel := context.WithCancel(t.Context())
	var once sync.Once
	_, err := files.DownloadFile(ctx, e.sess, "d.bin", dst, files.DownloadOptions{Resume: true, ProgressInterval: time.Millisecond,
		Progress: func(p stream.Progress) {
			if p.Received >= 1<<20 {
				once.Do(cancel)
			}
		}})
	require.Error(t, err)
	fi, err := os.Stat(dst + ".part")
	require.NoError(t, err)
	require.Positive(t, fi.Size())
	require.Less(t, fi.Size(), int64(len(data)))

	var offset int64 = -1
	res, err := files.DownloadFile(t.Context(), e.sess, "d.bin", dst, files.DownloadOptions{Resume: true, OnStart: func(o int64) { offset = o }})
	require.NoError(t, err)
	require.Equal(t, fi.Size(), offset)
	require.Equal(t, int64(len(data))-fi.Size(), res.Bytes)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(got))
	require.NoFileExists(t, dst+".part")
	require.NoFileExists(t, dst+".part.json")

	// A .part of an older version of the file is not continued.
	require.NoError(t, os.WriteFile(dst+".part", data[:4096], 0o644))
	require.NoError(t, os.WriteFile(dst+".part.json", []byte(`{"name":"d.bin","version":"1-2"}`), 0o644))
	res, err = files.DownloadFile(t.Context(), e.sess, "d.bin", dst, files.DownloadOptions{Resume: true, OnStart: func(o int64) { offset = o }})
	require.NoError(t, err)
	require.Zero(t, offset, "content version differs: from the start")
	require.Equal(t, int64(len(data)), res.Bytes)
	got, err = os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, sum(data), sum(got))
}

func TestPartialUploadsExpire(t *testing.T) {
	e := newEnv(t, &files.StoreConfig{CheckpointBytes: 64 << 10})
	data := testData(256<<10, 57)
	id := interruptedUpload(t, e, data, 128<<10)
	require.Eventually(t, func() bool { return e.sess.NumStreams() == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{id}, e.partials(t))
	// A store opened later with a short TTL sweeps the stale upload away.
	time.Sleep(5 * time.Millisecond)
	s2, err := files.NewStore(e.dir, &files.StoreConfig{PartialTTL: time.Millisecond, Logger: quietLogger()})
	require.NoError(t, err)
	defer s2.Close()
	require.Empty(t, e.partials(t))
	_, err = e.sess.Open(t.Context(), stream.OpenOptions{Route: files.RouteUpload, Kind: stream.Upload, Metadata: map[string]any{"id": id}})
	require.ErrorIs(t, err, stream.ErrNotFound)

	// Through the resumable client: the typed error a caller starts over on.
	r := newRestartable(t, files.StoreConfig{})
	_, err = files.UploadResumable(t.Context(), r.client, writeFile(t, data), files.ResumableUploadOptions{ID: id})
	require.ErrorIs(t, err, files.ErrUploadNotFound)
	require.ErrorIs(t, err, stream.ErrNotFound)
}
