package files

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/streamd/streamd/stream"
)

// uploadsDir holds partial uploads: <id>.part (data) and <id>.json (record).
var uploadsDir = path.Join(internalDir, "uploads")

// uploadIDLen is the length of an upload id: 128 random bits in hex.
const uploadIDLen = 32

// ErrUploadNotFound matches the error for an upload id the server does not
// know (never created, aborted, expired, or another principal's). It wraps
// stream.ErrNotFound.
var ErrUploadNotFound = fmt.Errorf("%w: upload", stream.ErrNotFound)

// uploadRecord is the sidecar <id>.json of a partial upload: what the .part
// file is meant to become and how much of it is durable.
type uploadRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"` // -1: unknown
	SHA256    string    `json:"sha256,omitempty"`
	Principal string    `json:"principal,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	// Durable is the number of bytes synced to disk; bytes of the .part file
	// beyond it are not trusted (a crash may have left anything there).
	Durable int64 `json:"durable"`
	// HashState is the SHA-256 state after Durable bytes, so a resume does
	// not re-read them (rehashed from the file if absent or invalid).
	HashState []byte `json:"hashState,omitempty"`
	// Committed is set once the file was stored under Name; the record stays
	// (without a .part) so that a client that missed the confirmation learns it.
	Committed bool `json:"committed,omitempty"`
}

// partialUpload is an upload being received into <uploadsDir>/<id>.part. Its
// owner holds the upload's lease: it is the only writer.
type partialUpload struct {
	store *Store
	rec   uploadRecord
	file  *os.File
	hash  hash.Hash
	n     int64 // bytes in the file (≥ rec.Durable)
}

func newUploadID() string {
	var b [uploadIDLen / 2]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// validUploadID reports whether id has the form of a server-made id (so it
// can name files: no separators, no dots).
func validUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func dataPath(id string) string   { return path.Join(uploadsDir, id+".part") }
func recordPath(id string) string { return path.Join(uploadsDir, id+".json") }

// createPartial creates the partial file and its record for a new upload.
func (s *Store) createPartial(rec uploadRecord) (*partialUpload, error) {
	rec.Created = time.Now().UTC()
	rec.Updated = rec.Created
	u := &partialUpload{store: s, rec: rec, hash: sha256.New()}
	if err := s.writeRecord(&u.rec); err != nil {
		return nil, fmt.Errorf("upload record: %w", err)
	}
	var err error
	u.file, err = s.root.OpenFile(dataPath(rec.ID), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		s.root.Remove(recordPath(rec.ID)) //nolint:errcheck // best effort
		return nil, fmt.Errorf("upload file: %w", err)
	}
	return u, nil
}

// readRecord loads the record of upload id.
func (s *Store) readRecord(id string) (uploadRecord, error) {
	var rec uploadRecord
	if !validUploadID(id) {
		return rec, fmt.Errorf("%w %q", ErrUploadNotFound, id)
	}
	raw, err := s.root.ReadFile(recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, fmt.Errorf("%w %s", ErrUploadNotFound, id)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil || rec.ID != id || ValidateName(rec.Name) != nil {
		return rec, fmt.Errorf("upload %s: corrupt record", id)
	}
	return rec, nil
}

// openPartial reopens upload id for writing at offset (-1: its durable
// offset). The file is cut back to that offset: bytes past the durable point
// are not trusted, bytes past offset will be sent again.
func (s *Store) openPartial(rec uploadRecord, offset int64) (*partialUpload, error) {
	if offset < 0 {
		offset = rec.Durable
	}
	if offset > rec.Durable {
		return nil, fmt.Errorf("%w: upload %s has %d durable bytes, the client asked to continue at %d",
			stream.ErrOffsetMismatch, rec.ID, rec.Durable, offset)
	}
	f, err := s.root.OpenFile(dataPath(rec.ID), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", rec.ID, err)
	}
	u := &partialUpload{store: s, rec: rec, file: f, hash: sha256.New(), n: offset}
	fail := func(err error) (*partialUpload, error) {
		f.Close()
		return nil, fmt.Errorf("upload %s: %w", rec.ID, err)
	}
	if fi, err := f.Stat(); err != nil {
		return fail(err)
	} else if fi.Size() < offset {
		return fail(fmt.Errorf("data file has %d bytes, record says %d are durable", fi.Size(), offset))
	}
	if err := f.Truncate(offset); err != nil {
		return fail(err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fail(err)
	}
	if err := u.restoreHash(offset); err != nil {
		return fail(err)
	}
	if offset < rec.Durable {
		u.rec.Durable, u.rec.HashState = offset, nil
		if err := u.checkpoint(); err != nil {
			return fail(err)
		}
	}
	return u, nil
}

// restoreHash sets u.hash to the SHA-256 state after offset bytes: from the
// record when it holds that state, else by reading the file.
func (u *partialUpload) restoreHash(offset int64) error {
	if offset == u.rec.Durable && len(u.rec.HashState) > 0 {
		if err := u.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.rec.HashState); err == nil {
			return nil
		}
		u.hash.Reset()
	}
	r, err := u.store.root.Open(dataPath(u.rec.ID))
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.CopyBuffer(u.hash, io.LimitReader(r, offset), make([]byte, copyBuffer))
	if err == nil && n != offset {
		err = fmt.Errorf("data file shorter than %d bytes", offset)
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

// checkpoint syncs the data written so far and records it as durable (the
// record is replaced atomically and synced too).
func (u *partialUpload) checkpoint() error {
	if u.n == u.rec.Durable && len(u.rec.HashState) > 0 {
		return nil // nothing new
	}
	if err := u.file.Sync(); err != nil {
		return err
	}
	state, err := u.hash.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	u.rec.Durable, u.rec.HashState, u.rec.Updated = u.n, state, time.Now().UTC()
	return u.store.writeRecord(&u.rec)
}

// close releases the file (after a checkpoint the data stays resumable).
func (u *partialUpload) close() {
	if u.file != nil {
		u.file.Close()
		u.file = nil
	}
}

// sum returns the hex SHA-256 of the bytes written.
func (u *partialUpload) sum() string { return hex.EncodeToString(u.hash.Sum(nil)) }

// commit syncs the data and renames it atomically to its name; the directory
// is synced so that the rename survives a crash. The record stays, marked
// committed, until the partial TTL removes it.
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
	if err := root.Rename(dataPath(u.rec.ID), u.rec.Name); err != nil {
		return err
	}
	u.rec.Durable, u.rec.HashState, u.rec.Committed, u.rec.Updated = u.n, nil, true, time.Now().UTC()
	if err := u.store.writeRecord(&u.rec); err != nil {
		u.store.log.Warn("upload committed, record not updated", "id", u.rec.ID, "err", err)
	}
	return syncDir(root, ".")
}

// removePartial deletes upload id's data and record.
func (s *Store) removePartial(id string) {
	s.root.Remove(dataPath(id))   //nolint:errcheck // best effort
	s.root.Remove(recordPath(id)) //nolint:errcheck // best effort
}

// writeRecord replaces the record of rec.ID atomically: a synced temporary
// file renamed over the old one, then the directory synced.
func (s *Store) writeRecord(rec *uploadRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := recordPath(rec.ID) + ".tmp"
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, recordPath(rec.ID))
	}
	if err != nil {
		s.root.Remove(tmp) //nolint:errcheck // best effort
		return err
	}
	return syncDir(s.root, uploadsDir)
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// sweepPartials removes partial uploads and committed records not updated
// within the store's PartialTTL, and stray temporary files.
func (s *Store) sweepPartials(now time.Time) {
	d, err := s.root.Open(uploadsDir)
	if err != nil {
		return
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			orphan := false
			if pid, isPart := strings.CutSuffix(name, ".part"); isPart {
				_, err := s.root.Lstat(recordPath(pid))
				orphan = errors.Is(err, fs.ErrNotExist) // a crash between the two creates
			}
			info, err := e.Info()
			if (strings.HasSuffix(name, ".tmp") || orphan) && err == nil && now.Sub(info.ModTime()) >= s.cfg.PartialTTL {
				s.root.Remove(path.Join(uploadsDir, name)) //nolint:errcheck // best effort
			}
			continue
		}
		rec, err := s.readRecord(id)
		if err != nil || now.Sub(rec.Updated) < s.cfg.PartialTTL {
			continue
		}
		if s.leases.held(id) {
			continue
		}
		s.log.Info("partial upload expired", "id", id, "name", rec.Name, "durable", rec.Durable)
		s.removePartial(id)
	}
}
