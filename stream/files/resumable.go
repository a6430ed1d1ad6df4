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

// ResumableUploadOptions tune UploadResumable.
type ResumableUploadOptions struct {
	UploadOptions
	// ID continues the server's partial upload with this id (from OnStart in
	// an earlier run); "" starts a new upload.
	ID string
	// OnStart is called each time the server accepts a stream of the upload,
	// with the upload id and the file offset it continues from (0 for a new
	// upload). Persist the id to resume after a crash.
	OnStart func(id string, offset int64)
}

// UploadResumable uploads the file at path through rc and returns once the
// server stored it. The file survives everything short of a changed file:
// transport cuts (the session resumes), lost sessions and server restarts (it
// reopens the upload by id and continues from the server's durable offset).
// With opts.ID it continues an upload of an earlier run; a server that no
// longer knows the id gives an error matching ErrUploadNotFound. The SHA-256
// of the whole file is computed first (unless opts.SHA256 is set) and checked
// by the server before it stores the file.
//
// Result.Bytes counts the bytes sent by this call, ResumedAt the offset the
// first stream continued from.
func UploadResumable(ctx context.Context, rc *stream.ReconnectingClient, path string, opts ResumableUploadOptions) (Result, error) {
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
	res := Result{Name: opts.Name, ResumedAt: -1}
	if err := ValidateName(opts.Name); err != nil {
		return res, err
	}
	if opts.SHA256 == "" {
		if opts.SHA256, err = HashFile(path); err != nil {
			return res, err
		}
	}
	size, id, start := fi.Size(), opts.ID, time.Now()
	for {
		sess, err := rc.Ready(ctx)
		if err != nil {
			return res, fmt.Errorf("upload %q: %w", opts.Name, err)
		}
		meta := uploadMeta{ID: id}
		if id == "" {
			meta = uploadMeta{Name: opts.Name, Size: &size, SHA256: opts.SHA256}
		}
		before := sess.Stats().BytesOut
		n, acc, err := uploadOnce(ctx, sess, f, meta, &opts)
		res.Bytes += n
		res.WireBytes += sess.Stats().BytesOut - before
		if acc != nil {
			id = acc.ID
			if res.ResumedAt < 0 {
				res.ResumedAt = acc.Offset
			}
		}
		if err == nil {
			res.Duration, res.SHA256 = time.Since(start), opts.SHA256
			return res, nil
		}
		if !retryable(ctx, err) {
			return res, fmt.Errorf("upload %q: %w", opts.Name, err)
		}
		waitSessionEnd(ctx, sess)
	}
}

// uploadOnce sends the file from the offset the server asks for on one stream.
func uploadOnce(ctx context.Context, sess *stream.Session, f *os.File, meta uploadMeta, opts *ResumableUploadOptions) (int64, *uploadAccept, error) {
	st, err := sess.Open(ctx, stream.OpenOptions{Route: RouteUpload, Kind: stream.Upload, Metadata: meta, Priority: opts.Priority, Checksum: true})
	if err != nil {
		if meta.ID != "" && errors.Is(err, stream.ErrNotFound) {
			err = fmt.Errorf("%w %s: %w", ErrUploadNotFound, meta.ID, err)
		}
		return 0, nil, err
	}
	defer st.Cancel(stream.CodeCancelled, "upload abandoned") // no-op once completed
	var acc uploadAccept
	if err := json.Unmarshal(st.AcceptMetadata(), &acc); err != nil || !validUploadID(acc.ID) {
		return 0, nil, fmt.Errorf("%w: accept metadata %q", stream.ErrProtocol, st.AcceptMetadata())
	}
	if opts.OnStart != nil {
		opts.OnStart(acc.ID, acc.Offset)
	}
	if acc.Committed {
		return 0, &acc, st.CloseContext(ctx)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, &acc, err
	}
	if acc.Size != fi.Size() || acc.Offset > acc.Size {
		return 0, &acc, fmt.Errorf("%w: the server's upload %s is %d bytes (at %d), the file %d", stream.ErrOffsetMismatch, acc.ID, acc.Size, acc.Offset, fi.Size())
	}
	st.SetTotal(acc.Size - acc.Offset)
	stop := reportProgress(st, shiftProgress(opts.Progress, acc.Offset), opts.ProgressInterval)
	defer stop()
	n, err := copyToStream(ctx, st, io.NewSectionReader(f, acc.Offset, acc.Size-acc.Offset))
	if err != nil {
		return n, &acc, err
	}
	return n, &acc, st.CloseContext(ctx) // returns once the server stored the file
}

// shiftProgress reports a stream's progress as progress through the file.
func shiftProgress(fn func(stream.Progress), offset int64) func(stream.Progress) {
	if fn == nil {
		return nil
	}
	return func(p stream.Progress) {
		p.Sent += offset
		if p.Received > 0 {
			p.Received += offset
		}
		if p.Total >= 0 {
			p.Total += offset
		}
		fn(p)
	}
}

// retryable reports whether a transfer failed because its session went away
// (server restart: resume rejected; shutdown: going away; the transport or
// the parked session timed out): it can go on on a new session. Protocol
// errors and refusals are not retried: they would fail again.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, stream.ErrReconnectFailed) {
		return false
	}
	if errors.Is(err, stream.ErrGoAway) || errors.Is(err, stream.ErrResumeRejected) {
		return true
	}
	var ce *stream.ConnError
	return errors.As(err, &ce) && (ce.Code == stream.CodeInternal || ce.Code == stream.CodeTimeout)
}

// waitSessionEnd waits until sess ended (the ReconnectingClient then has a
// new one), so a retry does not spin on a session that is going away.
func waitSessionEnd(ctx context.Context, sess *stream.Session) {
	select {
	case <-sess.Done():
	case <-ctx.Done():
	}
}

// AbortUpload deletes the server's partial upload id.
func AbortUpload(ctx context.Context, sess *stream.Session, id string) error {
	data, err := json.Marshal(abortRequest{ID: id})
	if err != nil {
		return err
	}
	if _, err := sess.Request(ctx, RequestAbort, data); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// DownloadFileResumable downloads the stored file name to path through rc,
// like DownloadFile with Resume: it continues an earlier path+".part" (after
// checking the file's content version with the server), survives transport
// cuts and lost sessions, and keeps the .part file if it fails.
func DownloadFileResumable(ctx context.Context, rc *stream.ReconnectingClient, name, path string, opts DownloadOptions) (Result, error) {
	if err := ValidateName(name); err != nil {
		return Result{Name: name}, err
	}
	p := &partFile{path: path, name: name, resume: true}
	res := Result{Name: name, ResumedAt: -1}
	start := time.Now()
	for {
		sess, err := rc.Ready(ctx)
		if err != nil {
			return res, fmt.Errorf("download %q: %w", name, err)
		}
		r, err := p.download(ctx, sess, opts)
		res.Bytes += r.Bytes
		res.WireBytes += r.WireBytes
		if res.ResumedAt < 0 {
			res.ResumedAt = r.ResumedAt
		}
		if err == nil {
			res.Duration, res.SHA256 = time.Since(start), r.SHA256
			return res, nil
		}
		if !retryable(ctx, err) {
			return res, err
		}
		waitSessionEnd(ctx, sess)
	}
}

// partRecord is path+".part.json": which server file and content version the
// .part file holds the beginning of.
type partRecord struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// partFile is a download in progress into path+".part".
type partFile struct {
	path, name string
	resume     bool
}

func (p *partFile) tmp() string    { return p.path + ".part" }
func (p *partFile) record() string { return p.path + ".part.json" }

func (p *partFile) remove() {
	os.Remove(p.tmp())    //nolint:errcheck // best effort
	os.Remove(p.record()) //nolint:errcheck // best effort
}

// download runs one stream into the .part file and, when the file is
// complete and verified, renames it into place.
func (p *partFile) download(ctx context.Context, sess *stream.Session, opts DownloadOptions) (Result, error) {
	meta := downloadMeta{Name: p.name}
	if p.resume {
		if raw, err := os.ReadFile(p.record()); err == nil {
			var rec partRecord
			if json.Unmarshal(raw, &rec) == nil && rec.Name == p.name {
				if fi, err := os.Stat(p.tmp()); err == nil && fi.Mode().IsRegular() {
					meta.Offset, meta.Version = fi.Size(), rec.Version
				}
			}
		}
	}
	f, err := os.OpenFile(p.tmp(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Result{Name: p.name}, err
	}
	defer f.Close()
	var h hash.Hash // the whole file's hash, when resuming
	var acc downloadAccept
	res, acc, err := download(ctx, sess, meta, func(a downloadAccept) (io.Writer, error) {
		if err := f.Truncate(a.Offset); err != nil {
			return nil, err
		}
		if _, err := f.Seek(a.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		if a.Offset == 0 {
			rec, _ := json.Marshal(partRecord{Name: p.name, Version: a.Version})
			if err := writeFileSynced(p.record(), rec); err != nil {
				return nil, err
			}
		} else {
			h = sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, a.Offset)); err != nil {
				return nil, err
			}
		}
		if opts.OnStart != nil {
			opts.OnStart(a.Offset)
		}
		if h != nil {
			return io.MultiWriter(f, h), nil
		}
		return f, nil
	}, DownloadOptions{Priority: opts.Priority, Progress: shiftProgress(opts.Progress, meta.Offset), ProgressInterval: opts.ProgressInterval})
	res.ResumedAt = acc.Offset
	if err == nil && h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != acc.SHA256 {
			p.remove() // the old part does not belong to this file: start over next time
			return res, fmt.Errorf("download %q: %w: sha-256 of the resumed file is %s, server has %s", p.name, stream.ErrIntegrity, got, acc.SHA256)
		}
		res.SHA256 = acc.SHA256
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	if err := os.Rename(p.tmp(), p.path); err != nil {
		return res, err
	}
	os.Remove(p.record())                        //nolint:errcheck // stale records are ignored
	os.Chtimes(p.path, time.Time{}, acc.ModTime) //nolint:errcheck // cosmetic
	return res, nil
}

// writeFileSynced writes data to name and syncs it.
func writeFileSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
