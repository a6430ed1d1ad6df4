package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/streamd/streamd/stream"
)

// DefaultProgressInterval is how often a Progress callback is called by default.
const DefaultProgressInterval = 100 * time.Millisecond

// UploadOptions tune Upload and UploadReader.
type UploadOptions struct {
	// Name stores the file under this name. Upload defaults to the file's base
	// name; UploadReader requires it.
	Name string
	// SHA256, if set, is the hex SHA-256 of the whole file: the server refuses to
	// store it if what arrived differs (see HashFile). The session's per-stream
	// checksum is always on regardless.
	SHA256 string
	// Priority is the stream priority 0–7 (default 0).
	Priority uint8
	// Progress, if set, is called every ProgressInterval and once at the end,
	// from one goroutine at a time; it must not block for long.
	Progress func(stream.Progress)
	// ProgressInterval defaults to DefaultProgressInterval.
	ProgressInterval time.Duration
}

// DownloadOptions tune Download and DownloadFile.
type DownloadOptions struct {
	// Priority is the stream priority 0–7 (default 0).
	Priority uint8
	// Resume makes DownloadFile continue an earlier .part file and keep it on
	// error (DownloadFileResumable always does).
	Resume bool
	// OnStart, if set, is called when the server accepted, with the file
	// offset the transfer continues from (0: from the start).
	OnStart func(offset int64)
	// Progress, if set, is called every ProgressInterval and once at the end,
	// from one goroutine at a time; it must not block for long.
	Progress func(stream.Progress)
	// ProgressInterval defaults to DefaultProgressInterval.
	ProgressInterval time.Duration
}

// Result describes a finished transfer.
type Result struct {
	// Name is the stored file's name.
	Name string
	// Bytes is the number of file bytes transferred.
	Bytes int64
	// Duration runs from opening the stream to its completion.
	Duration time.Duration
	// WireBytes is the number of transport bytes the session moved in the
	// transfer's direction meanwhile (frame headers included; other traffic on
	// the same session at the same time is counted too).
	WireBytes int64
	// SHA256 is the hex SHA-256 of the bytes transferred, computed on this
	// side (of the whole file for resumable transfers).
	SHA256 string
	// ResumedAt is the file offset a resumable transfer continued from (0:
	// from the start).
	ResumedAt int64
}

// Ratio returns Bytes / WireBytes: above 1 when compression paid off, 0 when
// nothing went over the wire.
func (r Result) Ratio() float64 {
	if r.WireBytes <= 0 {
		return 0
	}
	return float64(r.Bytes) / float64(r.WireBytes)
}

// Throughput returns file bytes per second.
func (r Result) Throughput() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Duration.Seconds()
}

// Summary formats r as one line, e.g. "uploaded a.bin: 1048576 bytes in 0.012 s
// (87.4 MB/s), wire 30344 bytes (ratio 34.56)". verb is "uploaded" or "downloaded".
func (r Result) Summary(verb string) string {
	return fmt.Sprintf("%s %s: %d bytes in %.3f s (%.1f MB/s), wire %d bytes (ratio %.2f)",
		verb, r.Name, r.Bytes, r.Duration.Seconds(), r.Throughput()/1e6, r.WireBytes, r.Ratio())
}

// HashFile returns the hex SHA-256 of the file at path (for UploadOptions.SHA256).
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, copyBuffer)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Upload sends the file at path to the server's files/upload route and returns
// once the server has stored it durably.
func Upload(ctx context.Context, sess *stream.Session, path string, opts UploadOptions) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	if !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("%w: %s is not a regular file", stream.ErrInvalidArgument, path)
	}
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	return UploadReader(ctx, sess, f, fi.Size(), opts)
}

// UploadReader sends size bytes from r (size -1: until io.EOF) as opts.Name and
// returns once the server has stored them durably. If r yields a different
// number of bytes than size, the upload is cancelled and nothing is stored.
func UploadReader(ctx context.Context, sess *stream.Session, r io.Reader, size int64, opts UploadOptions) (Result, error) {
	res := Result{Name: opts.Name}
	if err := ValidateName(opts.Name); err != nil {
		return res, err
	}
	meta := uploadMeta{Name: opts.Name, SHA256: opts.SHA256}
	if size >= 0 {
		meta.Size = &size
		r = io.LimitReader(r, size+1)
	}
	before, start := sess.Stats(), time.Now()
	st, err := sess.Open(ctx, stream.OpenOptions{Route: RouteUpload, Kind: stream.Upload, Metadata: meta, Priority: opts.Priority, Checksum: true})
	if err != nil {
		return res, fmt.Errorf("upload %q: %w", opts.Name, err)
	}
	defer st.Cancel(stream.CodeCancelled, "upload abandoned") // no-op once completed
	var acc uploadAccept
	if err := json.Unmarshal(st.AcceptMetadata(), &acc); err != nil {
		return res, fmt.Errorf("upload %q: %w: accept metadata: %v", opts.Name, stream.ErrProtocol, err)
	}
	if acc.Offset != 0 {
		return res, fmt.Errorf("upload %q: %w: server asked to continue at byte %d; this client starts at 0", opts.Name, stream.ErrOffsetMismatch, acc.Offset)
	}
	stop := reportProgress(st, opts.Progress, opts.ProgressInterval)
	h := sha256.New()
	res.Bytes, err = copyToStream(ctx, st, io.TeeReader(r, h))
	if err == nil && size >= 0 && res.Bytes != size {
		err = fmt.Errorf("%w: source gave %d bytes or more, %d announced (file changed while read?)", stream.ErrInvalidArgument, res.Bytes, size)
	}
	if err == nil {
		err = st.CloseContext(ctx) // returns once the server stored the file
	}
	stop()
	if err != nil {
		return res, fmt.Errorf("upload %q: %w", opts.Name, err)
	}
	finish(&res, h, start, sess.Stats().BytesOut-before.BytesOut)
	return res, nil
}

func finish(res *Result, h hash.Hash, start time.Time, wire int64) {
	res.Duration = time.Since(start)
	res.WireBytes = wire
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
}

// copyToStream writes everything r yields to st.
func copyToStream(ctx context.Context, st *stream.Stream, r io.Reader) (int64, error) {
	buf := make([]byte, copyBuffer)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			w, err := st.WriteContext(ctx, buf[:n])
			total += int64(w)
			if err != nil {
				return total, err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// streamReader reads a stream under a context.
type streamReader struct {
	ctx context.Context
	st  *stream.Stream
}

func (r streamReader) Read(p []byte) (int, error) { return r.st.ReadContext(r.ctx, p) }

// Download writes the stored file name to dst and returns once all of it was
// received and its SHA-256 verified. On error dst may hold part of the file.
func Download(ctx context.Context, sess *stream.Session, name string, dst io.Writer, opts DownloadOptions) (Result, error) {
	res, _, err := download(ctx, sess, downloadMeta{Name: name}, func(downloadAccept) (io.Writer, error) { return dst, nil }, opts)
	return res, err
}

// download opens a download stream with meta and copies it into the writer
// that open returns for the server's answer. With a resumed offset, the
// result covers the bytes of this stream only.
func download(ctx context.Context, sess *stream.Session, meta downloadMeta, open func(downloadAccept) (io.Writer, error), opts DownloadOptions) (Result, downloadAccept, error) {
	res := Result{Name: meta.Name}
	var acc downloadAccept
	if err := ValidateName(meta.Name); err != nil {
		return res, acc, err
	}
	before, start := sess.Stats(), time.Now()
	st, err := sess.Open(ctx, stream.OpenOptions{Route: RouteDownload, Kind: stream.Download, Metadata: meta, Priority: opts.Priority, Checksum: true})
	if err != nil {
		return res, acc, fmt.Errorf("download %q: %w", meta.Name, err)
	}
	defer st.Cancel(stream.CodeCancelled, "download abandoned") // no-op once completed
	if err := json.Unmarshal(st.AcceptMetadata(), &acc); err != nil {
		return res, acc, fmt.Errorf("download %q: %w: accept metadata: %v", meta.Name, stream.ErrProtocol, err)
	}
	if acc.Offset < 0 || acc.Offset > acc.Size || acc.Offset > meta.Offset {
		return res, acc, fmt.Errorf("download %q: %w: server continues at %d of %d bytes, asked %d", meta.Name, stream.ErrProtocol, acc.Offset, acc.Size, meta.Offset)
	}
	dst, err := open(acc)
	if err != nil {
		return res, acc, err
	}
	want := acc.Size - acc.Offset
	st.SetTotal(want)
	stop := reportProgress(st, opts.Progress, opts.ProgressInterval)
	h := sha256.New()
	// io.EOF from the stream means every byte arrived and the session verified
	// the SHA-256 the server sent.
	res.Bytes, err = io.CopyBuffer(io.MultiWriter(dst, h), streamReader{ctx, st}, make([]byte, copyBuffer))
	if err == nil && res.Bytes != want {
		err = fmt.Errorf("%w: received %d bytes, server announced %d", stream.ErrIntegrity, res.Bytes, want)
	}
	if err == nil {
		err = st.CloseContext(ctx)
	}
	stop()
	if err != nil {
		return res, acc, fmt.Errorf("download %q: %w", meta.Name, err)
	}
	finish(&res, h, start, sess.Stats().BytesIn-before.BytesIn)
	return res, acc, nil
}

// DownloadFile downloads the stored file name to path: it writes path+".part",
// syncs it and renames it into place (with the server's modification time)
// only once the download completed and its SHA-256 checked out. With
// opts.Resume an existing .part file (and its .part.json record of the
// content version) is continued if the file did not change on the server,
// and is kept on error; otherwise it is replaced, and removed on error.
func DownloadFile(ctx context.Context, sess *stream.Session, name, path string, opts DownloadOptions) (Result, error) {
	if err := ValidateName(name); err != nil {
		return Result{Name: name}, err
	}
	p := &partFile{path: path, name: name, resume: opts.Resume}
	res, err := p.download(ctx, sess, opts)
	if err != nil && !opts.Resume {
		p.remove()
	}
	return res, err
}

// List returns the server's stored files, sorted by name (it pages through
// files/list requests).
func List(ctx context.Context, sess *stream.Session) ([]FileInfo, error) {
	var out []FileInfo
	req := listRequest{}
	for {
		data, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		raw, err := sess.Request(ctx, RequestList, data)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		var rep listReply
		if err := json.Unmarshal(raw, &rep); err != nil {
			return nil, fmt.Errorf("list: %w: reply: %v", stream.ErrProtocol, err)
		}
		out = append(out, rep.Files...)
		if !rep.More {
			return out, nil
		}
		if len(rep.Files) == 0 {
			return nil, fmt.Errorf("list: %w: empty page with more to come", stream.ErrProtocol)
		}
		req.After = rep.Files[len(rep.Files)-1].Name
	}
}

// reportProgress calls fn with st's progress every interval until the returned
// stop function is called; stop waits for the reporter and makes a final call.
func reportProgress(st *stream.Stream, fn func(stream.Progress), every time.Duration) (stop func()) {
	if fn == nil {
		return func() {}
	}
	if every <= 0 {
		every = DefaultProgressInterval
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(st.Progress())
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		fn(st.Progress())
	}
}
