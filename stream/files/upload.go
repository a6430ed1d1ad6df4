package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/streamd/streamd/stream"
)

// uploadMeta is the OPEN metadata of files/upload. A new upload names the
// file; a resumed one gives the id the server assigned.
type uploadMeta struct {
	Name string `json:"name,omitempty"`
	// Size is the byte count of the whole file (nil: unknown).
	Size *int64 `json:"size,omitempty"`
	// SHA256 is the hex SHA-256 of the whole file ("": unchecked).
	SHA256 string `json:"sha256,omitempty"`
	// ID resumes the partial upload with this id; name, size and sha256 come
	// from when it was created.
	ID string `json:"id,omitempty"`
	// Offset, with ID, is where the client will continue. It must not pass
	// the server's durable offset (OFFSET_MISMATCH, nothing is written); a
	// smaller one discards what follows it. Absent: the durable offset.
	Offset *int64 `json:"offset,omitempty"`
}

// uploadAccept is the ACCEPT metadata of files/upload.
type uploadAccept struct {
	Name string `json:"name"`
	// ID resumes the upload later (new session, restarted client or server).
	ID string `json:"id"`
	// Offset is the file offset the stream's first byte stands for: the
	// client sends the file from here.
	Offset int64 `json:"offset"`
	// Size is the whole file's size, -1 when unknown.
	Size int64 `json:"size"`
	// Committed says the upload was already stored: send nothing and close.
	Committed bool `json:"committed,omitempty"`
}

// checkpointToken is the token of the CHECKPOINT frames of an upload: the
// file offset synced to disk.
type checkpointToken struct {
	Durable int64 `json:"durable"`
}

// invalid and integrity build errors that match a stream sentinel, hence are
// reported to the peer with its code (INVALID_ARGUMENT, INTEGRITY_ERROR).
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{stream.ErrInvalidArgument}, args...)...)
}

func integrity(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{stream.ErrIntegrity}, args...)...)
}

// checkUploadMeta validates the OPEN metadata of a new upload.
func (s *Store) checkUploadMeta(m *uploadMeta) (size int64, err error) {
	if err := ValidateName(m.Name); err != nil {
		return 0, err
	}
	if m.Offset != nil {
		return 0, invalid("offset without an upload id")
	}
	size = -1
	if m.Size != nil {
		size = *m.Size
		if size < 0 {
			return 0, invalid("size %d is negative", size)
		}
		if s.cfg.MaxUploadSize > 0 && size > s.cfg.MaxUploadSize {
			return 0, invalid("size %d exceeds the limit of %d bytes", size, s.cfg.MaxUploadSize)
		}
	}
	if fi, err := s.root.Lstat(m.Name); err == nil && fi.IsDir() {
		return 0, invalid("%q is a directory", m.Name)
	}
	if m.SHA256 != "" {
		m.SHA256 = strings.ToLower(m.SHA256)
		if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != sha256.Size {
			return 0, invalid("sha256 %q is not 64 hex digits", m.SHA256)
		}
	}
	return size, nil
}

// serveUpload receives a file, or the rest of one, into a partial upload,
// syncs and checkpoints it as it goes and commits it once every byte arrived
// and the size and SHA-256 agree. A failure at any point leaves the partial
// upload resumable from its last checkpoint.
func (s *Store) serveUpload(ctx context.Context, st *stream.Stream) error {
	var m uploadMeta
	if err := st.DecodeMetadata(&m); err != nil {
		return err
	}
	var u *partialUpload
	var release func()
	var err error
	if m.ID != "" {
		u, release, err = s.resumePartial(ctx, st, &m)
	} else {
		u, release, err = s.newPartial(ctx, st, &m)
	}
	if err != nil {
		return err
	}
	defer release()
	if u == nil {
		return nil // already committed
	}
	defer u.close()
	if err := st.Accept(uploadAccept{Name: u.rec.Name, ID: u.rec.ID, Offset: u.n, Size: u.rec.Size}); err != nil {
		return err
	}
	if u.rec.Size >= 0 {
		st.SetTotal(u.rec.Size - u.n)
	}
	start := u.n
	err = s.receive(st, u)
	if cerr := u.checkpoint(); err == nil && cerr != nil {
		err = fmt.Errorf("upload %s: sync: %w", u.rec.ID, cerr)
	}
	if err != nil {
		s.log.Debug("upload interrupted", "name", u.rec.Name, "id", u.rec.ID, "durable", u.rec.Durable, "err", err)
		return err
	}
	if err := s.finishUpload(u); err != nil {
		return err
	}
	s.log.Info("upload stored", "name", u.rec.Name, "id", u.rec.ID, "bytes", u.n, "resumedAt", start, "session", st.Session().ID())
	return nil
}

// newPartial creates the partial upload of a new file.
func (s *Store) newPartial(ctx context.Context, st *stream.Stream, m *uploadMeta) (*partialUpload, func(), error) {
	size, err := s.checkUploadMeta(m)
	if err != nil {
		return nil, nil, err
	}
	s.maybeSweep()
	rec := uploadRecord{ID: newUploadID(), Name: m.Name, Size: size, SHA256: m.SHA256, Principal: st.Session().Principal()}
	release, err := s.leases.acquire(ctx, rec.ID, st)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.createPartial(rec)
	if err != nil {
		release()
		return nil, nil, err
	}
	return u, release, nil
}

// resumePartial reopens the partial upload m.ID for st, taking it over from
// a stream that still holds it. It returns a nil upload (and has answered the
// stream) when the upload was committed already.
func (s *Store) resumePartial(ctx context.Context, st *stream.Stream, m *uploadMeta) (*partialUpload, func(), error) {
	if m.Offset != nil && *m.Offset < 0 {
		return nil, nil, invalid("offset %d is negative", *m.Offset)
	}
	rec, err := s.readRecord(m.ID)
	if err == nil && rec.Principal != st.Session().Principal() {
		err = fmt.Errorf("%w %s", ErrUploadNotFound, m.ID) // not saying it exists
	}
	if err != nil {
		return nil, nil, err
	}
	if m.Name != "" && m.Name != rec.Name {
		return nil, nil, invalid("upload %s is %q, not %q", m.ID, rec.Name, m.Name)
	}
	release, err := s.leases.acquire(ctx, m.ID, st)
	if err != nil {
		return nil, nil, err
	}
	// Read again: the previous writer checkpointed before it let go.
	if rec, err = s.readRecord(m.ID); err != nil {
		release()
		return nil, nil, err
	}
	if rec.Committed {
		err := st.Accept(uploadAccept{Name: rec.Name, ID: rec.ID, Offset: rec.Durable, Size: rec.Durable, Committed: true})
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(st, 1))
		}
		release()
		return nil, func() {}, err
	}
	offset := int64(-1)
	if m.Offset != nil {
		offset = *m.Offset
	}
	u, err := s.openPartial(rec, offset)
	if err != nil {
		release()
		return nil, nil, err
	}
	return u, release, nil
}

// receive copies the stream into u, at most up to the announced size (or the
// size limit), checkpointing every CheckpointBytes or CheckpointInterval.
func (s *Store) receive(st *stream.Stream, u *partialUpload) error {
	limit := int64(-1) // file offset the upload must not pass
	switch {
	case u.rec.Size >= 0:
		limit = u.rec.Size
	case s.cfg.MaxUploadSize > 0:
		limit = s.cfg.MaxUploadSize
	}
	start := u.n
	lastSync, lastTime := u.n, time.Now()
	buf := make([]byte, copyBuffer)
	for {
		want := len(buf)
		if limit >= 0 {
			want = int(min(int64(want), limit-u.n))
		}
		if want == 0 {
			// At the limit: the stream must end here.
			n, err := st.Read(buf[:1])
			if n > 0 {
				if u.rec.Size >= 0 {
					return integrity("received more than the %d bytes the metadata announced", u.rec.Size)
				}
				return invalid("upload exceeds the limit of %d bytes", limit)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n, err := st.Read(buf[:want])
		if n > 0 {
			if _, werr := u.Write(buf[:n]); werr != nil {
				return fmt.Errorf("upload %s: write: %w", u.rec.ID, werr)
			}
			if u.n-lastSync >= int64(s.cfg.CheckpointBytes) || time.Since(lastTime) >= s.cfg.CheckpointInterval {
				if err := u.checkpoint(); err != nil {
					return fmt.Errorf("upload %s: sync: %w", u.rec.ID, err)
				}
				lastSync, lastTime = u.n, time.Now()
				token, _ := json.Marshal(checkpointToken{Durable: u.n})
				st.Checkpoint(uint64(u.n-start), token) //nolint:errcheck // the session may be ending; the record is what counts
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// finishUpload checks size and SHA-256 and commits. On a mismatch the
// partial upload stays (durable) so the client can resume or restart it.
func (s *Store) finishUpload(u *partialUpload) error {
	if u.rec.Size >= 0 && u.n < u.rec.Size {
		return integrity("received %d bytes, metadata announced %d", u.n, u.rec.Size)
	}
	if u.rec.SHA256 != "" {
		if got := u.sum(); got != u.rec.SHA256 {
			return integrity("upload %s: sha-256 of the %d bytes received is %s, metadata announced %s", u.rec.ID, u.n, got, u.rec.SHA256)
		}
	}
	if err := u.commit(); err != nil {
		return fmt.Errorf("upload %q: %w", u.rec.Name, err)
	}
	return nil
}

// abortRequest is the files/abort request.
type abortRequest struct {
	ID string `json:"id"`
}

// serveAbort deletes a partial upload (taking it from a writer that holds it).
func (s *Store) serveAbort(ctx context.Context, sess *stream.Session, data []byte) ([]byte, error) {
	var req abortRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, invalid("abort request: %v", err)
	}
	rec, err := s.readRecord(req.ID)
	if err == nil && rec.Principal != sess.Principal() {
		err = fmt.Errorf("%w %s", ErrUploadNotFound, req.ID)
	}
	if err != nil {
		return nil, err
	}
	release, err := s.leases.acquire(ctx, req.ID, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	s.removePartial(req.ID)
	return []byte(`{}`), nil
}
