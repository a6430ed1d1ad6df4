package files

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/streamd/streamd/stream"
)

// uploadsDir holds partial uploads: <id>.part (data) and <id>.json (record).
var uploadsDir = path.Join(internalDir, "uploads")

// uploadMeta is the OPEN metadata of files/upload.
type uploadMeta struct {
	Name string `json:"name"`
	// Size is the byte count the client will send (nil: unknown).
	Size *int64 `json:"size,omitempty"`
	// SHA256 is the hex SHA-256 of the whole file the client will send ("": unchecked).
	SHA256 string `json:"sha256,omitempty"`
}

// uploadAccept is the ACCEPT metadata of files/upload.
type uploadAccept struct {
	Name string `json:"name"`
	// Offset is where the client must start sending; always 0 until uploads resume.
	Offset int64 `json:"offset"`
}

// uploadRecord is the sidecar <id>.json describing a partial upload, so that a
// later resume can find what the .part file is meant to become.
type uploadRecord struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"` // -1: unknown
	SHA256  string    `json:"sha256,omitempty"`
	Created time.Time `json:"created"`
}

// partialUpload is an upload being received into <uploadsDir>/<id>.part.
type partialUpload struct {
	store *Store
	rec   uploadRecord
	file  *os.File
	hash  hash.Hash
	n     int64
}

func newUploadID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func (u *partialUpload) dataPath() string   { return path.Join(uploadsDir, u.rec.ID+".part") }
func (u *partialUpload) recordPath() string { return path.Join(uploadsDir, u.rec.ID+".json") }

// createPartial creates the partial file and its record.
func (s *Store) createPartial(rec uploadRecord) (*partialUpload, error) {
	u := &partialUpload{store: s, rec: rec, hash: sha256.New()}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if err := writeSynced(s.root, u.recordPath(), raw); err != nil {
		return nil, fmt.Errorf("upload record: %w", err)
	}
	u.file, err = s.root.OpenFile(u.dataPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		s.root.Remove(u.recordPath()) //nolint:errcheck // best effort
		return nil, fmt.Errorf("upload file: %w", err)
	}
	return u, nil
}

func writeSynced(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
	if err != nil {
		root.Remove(name) //nolint:errcheck // best effort
	}
	return err
}

// Write appends to the partial file and the running SHA-256.
func (u *partialUpload) Write(p []byte) (int, error) {
	n, err := u.file.Write(p)
	u.hash.Write(p[:n])
	u.n += int64(n)
	return n, err
}

// commit syncs the data and renames it atomically to its name; the directory is
// synced so that the rename survives a crash.
func (u *partialUpload) commit() error {
	err := u.file.Sync()
	if cerr := u.file.Close(); err == nil {
		err = cerr
	}
	u.file = nil
	if err != nil {
		return err
	}
	root := u.store.root
	if err := root.Rename(u.dataPath(), u.rec.Name); err != nil {
		return err
	}
	root.Remove(u.recordPath()) //nolint:errcheck // a stale record without data is ignored
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort removes the partial file and its record.
func (u *partialUpload) abort() {
	if u.file != nil {
		u.file.Close()
		u.file = nil
	}
	u.store.root.Remove(u.dataPath())   //nolint:errcheck // best effort
	u.store.root.Remove(u.recordPath()) //nolint:errcheck // best effort
}

// invalid and integrity build errors that match a stream sentinel, hence are
// reported to the peer with its code (INVALID_ARGUMENT, INTEGRITY_ERROR).
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{stream.ErrInvalidArgument}, args...)...)
}

func integrity(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{stream.ErrIntegrity}, args...)...)
}

// checkUploadMeta validates the OPEN metadata of an upload.
func (s *Store) checkUploadMeta(m *uploadMeta) (size int64, err error) {
	if err := ValidateName(m.Name); err != nil {
		return 0, err
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

// serveUpload receives a file into a partial upload and commits it once the
// stream completed and sizes and checksums agree.
func (s *Store) serveUpload(ctx context.Context, st *stream.Stream) (err error) {
	var m uploadMeta
	if err := st.DecodeMetadata(&m); err != nil {
		return err
	}
	size, err := s.checkUploadMeta(&m)
	if err != nil {
		return err
	}
	u, err := s.createPartial(uploadRecord{ID: newUploadID(), Name: m.Name, Size: size, SHA256: m.SHA256, Created: time.Now().UTC()})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			u.abort()
			s.log.Debug("upload failed", "name", m.Name, "id", u.rec.ID, "bytes", u.n, "err", err)
		}
	}()
	if err := st.Accept(uploadAccept{Name: m.Name, Offset: 0}); err != nil {
		return err
	}
	// Read one byte past the limit, so that an oversized upload is detected
	// without writing more than the limit; a shorter read ended with io.EOF.
	limit := int64(-1)
	if size >= 0 {
		limit = size
	} else if s.cfg.MaxUploadSize > 0 {
		limit = s.cfg.MaxUploadSize
	}
	var src io.Reader = st
	if limit >= 0 {
		src = io.LimitReader(st, limit+1)
	}
	// Read returns io.EOF only after the session verified the stream's SHA-256
	// (when the client opened it with Checksum); a mismatch is an INTEGRITY error.
	if _, err := io.CopyBuffer(u, src, make([]byte, copyBuffer)); err != nil {
		return err
	}
	switch {
	case size >= 0 && u.n > size:
		return integrity("received more than the %d bytes the metadata announced", size)
	case size >= 0 && u.n < size:
		return integrity("received %d bytes, metadata announced %d", u.n, size)
	case limit >= 0 && u.n > limit:
		return invalid("upload exceeds the limit of %d bytes", limit)
	}
	if m.SHA256 != "" {
		if got := hex.EncodeToString(u.hash.Sum(nil)); got != m.SHA256 {
			return integrity("sha-256 of the %d bytes received is %s, metadata announced %s", u.n, got, m.SHA256)
		}
	}
	if err := u.commit(); err != nil {
		return fmt.Errorf("upload %q: %w", m.Name, err)
	}
	s.log.Info("upload stored", "name", m.Name, "bytes", u.n, "session", st.Session().ID())
	return nil
}
