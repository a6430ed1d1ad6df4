package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/streamd/streamd/stream"
)

// Routes and request names registered by Store.Register.
const (
	RouteUpload   = "files/upload"
	RouteDownload = "files/download"
	RequestList   = "files/list"
	RequestAbort  = "files/abort"
)

// Defaults of StoreConfig.
const (
	// DefaultListBytes is the default StoreConfig.ListBytes.
	DefaultListBytes = 16 << 10
	// copyBuffer is the buffer size of uploads and downloads: one default frame.
	copyBuffer = 64 << 10
)

// StoreConfig tunes a Store. The zero value (and a nil *StoreConfig) means defaults.
type StoreConfig struct {
	// MaxUploadSize refuses uploads larger than this many bytes, whether declared
	// in the metadata or actually sent. Default 0: no limit.
	MaxUploadSize int64
	// ListBytes caps the JSON size of one files/list reply; a client asking for
	// more gets this much and "more": true. It must stay below the session's
	// negotiated max frame. Default 16 KiB.
	ListBytes int
	// CheckpointBytes and CheckpointInterval say how often an upload is
	// synced to disk and acknowledged with a CHECKPOINT: after this many
	// bytes or this much time, whichever comes first. A resume continues from
	// the last checkpoint. Defaults 8 MiB and 1 s.
	CheckpointBytes    int
	CheckpointInterval time.Duration
	// PartialTTL is how long a partial upload that nobody writes to is kept
	// for resuming (and a finished upload's record for a client that missed
	// the confirmation). Default 7 days.
	PartialTTL time.Duration
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of StoreConfig's checkpoint and expiry fields.
const (
	DefaultCheckpointBytes    = 8 << 20
	DefaultCheckpointInterval = time.Second
	DefaultPartialTTL         = 7 * 24 * time.Hour
	// sweepInterval spaces the scans for expired partial uploads.
	sweepInterval = time.Hour
)

// Validate checks the fields. Zero fields are valid (defaults).
func (c *StoreConfig) Validate() error {
	if c == nil {
		return nil
	}
	if c.MaxUploadSize < 0 {
		return fmt.Errorf("%w: MaxUploadSize %d is negative", stream.ErrInvalidArgument, c.MaxUploadSize)
	}
	if c.ListBytes != 0 && (c.ListBytes < 1024 || c.ListBytes > 1<<20) {
		return fmt.Errorf("%w: ListBytes %d outside [1 KiB, 1 MiB]", stream.ErrInvalidArgument, c.ListBytes)
	}
	if c.CheckpointBytes < 0 || c.CheckpointInterval < 0 || c.PartialTTL < 0 {
		return fmt.Errorf("%w: negative CheckpointBytes, CheckpointInterval or PartialTTL", stream.ErrInvalidArgument)
	}
	return nil
}

// FileInfo describes a stored file.
type FileInfo struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// Version identifies the content of a stored file for resumed downloads: its
// size and modification time (a rewritten file gets a new one).
func (f FileInfo) Version() string { return fmt.Sprintf("%d-%d", f.Size, f.ModTime.UnixNano()) }

// Store serves the files of one data directory. Create it with NewStore.
type Store struct {
	dir    string
	root   *os.Root
	cfg    StoreConfig
	log    *slog.Logger
	leases leaseTable

	sweepMu   sync.Mutex
	lastSweep time.Time
}

// NewStore opens (creating it if missing) the data directory dir.
func NewStore(dir string, cfg *StoreConfig) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var c StoreConfig
	if cfg != nil {
		c = *cfg
	}
	if c.ListBytes == 0 {
		c.ListBytes = DefaultListBytes
	}
	if c.CheckpointBytes == 0 {
		c.CheckpointBytes = DefaultCheckpointBytes
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.PartialTTL == 0 {
		c.PartialTTL = DefaultPartialTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: empty data directory", stream.ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("files: data directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("files: data directory: %w", err)
	}
	if err := root.MkdirAll(uploadsDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("files: data directory: %w", err)
	}
	s := &Store{dir: dir, root: root, cfg: c, log: c.Logger}
	s.maybeSweep()
	return s, nil
}

// maybeSweep removes expired partial uploads, at most once per sweepInterval.
func (s *Store) maybeSweep() {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	now := time.Now()
	if now.Sub(s.lastSweep) < sweepInterval {
		return
	}
	s.lastSweep = now
	s.sweepPartials(now)
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the data directory. Call it after the server has shut down.
func (s *Store) Close() error { return s.root.Close() }

// Register adds the files/upload, files/download, files/list and files/abort
// handlers to mux.
func (s *Store) Register(mux *stream.Mux) {
	mux.Handle(RouteUpload, stream.Upload, s.serveUpload)
	mux.Handle(RouteDownload, stream.Download, s.serveDownload)
	mux.HandleRequest(RequestList, s.serveList)
	mux.HandleRequest(RequestAbort, s.serveAbort)
}

// Stat describes the stored file name; a missing file (or anything that is not
// a regular file, symlinks included) is an error matching stream.ErrNotFound.
func (s *Store) Stat(name string) (FileInfo, error) {
	if err := ValidateName(name); err != nil {
		return FileInfo{}, err
	}
	fi, err := s.root.Lstat(name)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return FileInfo{}, notFound(name, err)
	}
	return FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

func notFound(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: file %q", stream.ErrNotFound, name)
	}
	return err
}

// List returns the stored files sorted by name, skipping directories, symlinks
// and the store's own ".streamd" directory.
func (s *Store) List() ([]FileInfo, error) {
	d, err := s.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || ValidateName(e.Name()) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		out = append(out, FileInfo{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime().UTC()})
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// downloadMeta is the OPEN metadata of files/download.
type downloadMeta struct {
	Name string `json:"name"`
	// Offset and Version resume a download: the client has the first Offset
	// bytes of the file as it was at Version. If the file changed, the
	// server sends it from the start (ACCEPT says offset 0).
	Offset  int64  `json:"offset,omitempty"`
	Version string `json:"version,omitempty"`
}

// downloadAccept is the ACCEPT metadata of files/download.
type downloadAccept struct {
	FileInfo
	// Version is the content version to resume with.
	Version string `json:"version"`
	// Offset is the file offset of the stream's first byte.
	Offset int64 `json:"offset"`
	// SHA256 is the whole file's hex SHA-256, sent when Offset > 0 (the
	// stream's own checksum covers only the bytes it carries).
	SHA256 string `json:"sha256,omitempty"`
}

// serveDownload streams a stored file to the opener.
func (s *Store) serveDownload(ctx context.Context, st *stream.Stream) error {
	var m downloadMeta
	if err := st.DecodeMetadata(&m); err != nil {
		return err
	}
	if err := ValidateName(m.Name); err != nil {
		return err
	}
	// Only regular files are served: not directories, not symlinks (the Root
	// would refuse one leading outside anyway), not devices.
	if _, err := s.Stat(m.Name); err != nil {
		return err
	}
	f, err := s.root.Open(m.Name)
	if err != nil {
		return notFound(m.Name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notFound(m.Name, fs.ErrNotExist)
	}
	info := FileInfo{Name: m.Name, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	acc := downloadAccept{FileInfo: info, Version: info.Version()}
	if m.Offset < 0 {
		return invalid("offset %d is negative", m.Offset)
	}
	if m.Offset > 0 && m.Version == acc.Version && m.Offset <= info.Size {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, io.LimitReader(f, info.Size), make([]byte, copyBuffer)); err != nil {
			return err
		}
		if _, err := f.Seek(m.Offset, io.SeekStart); err != nil {
			return err
		}
		acc.Offset, acc.SHA256 = m.Offset, hex.EncodeToString(h.Sum(nil))
	}
	if err := st.Accept(acc); err != nil {
		return err
	}
	want := info.Size - acc.Offset
	st.SetTotal(want)
	// Send exactly the size announced: a file growing meanwhile is cut at it, a
	// file shrinking fails the stream instead of ending it short.
	n, err := io.CopyBuffer(st, io.LimitReader(f, want), make([]byte, copyBuffer))
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%w: file %q shrank to %d bytes while sent (announced %d)", stream.ErrIntegrity, m.Name, acc.Offset+n, info.Size)
	}
	s.log.Debug("download done", "name", m.Name, "bytes", n, "session", st.Session().ID())
	return nil
}

// listRequest is the files/list request.
type listRequest struct {
	// After lists names sorting after it (paging); "" starts at the beginning.
	After string `json:"after,omitempty"`
	// MaxBytes caps the reply size; 0 or more than the store's ListBytes means ListBytes.
	MaxBytes int `json:"maxBytes,omitempty"`
}

// listReply is the files/list reply.
type listReply struct {
	Files []FileInfo `json:"files"`
	// More says names after the last one remain.
	More bool `json:"more"`
}

func (s *Store) serveList(ctx context.Context, _ *stream.Session, data []byte) ([]byte, error) {
	var req listRequest
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, fmt.Errorf("%w: list request: %v", stream.ErrInvalidArgument, err)
		}
	}
	limit := s.cfg.ListBytes
	if req.MaxBytes > 0 {
		limit = min(max(req.MaxBytes, 1024), limit)
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(all, req.After, func(f FileInfo, name string) int { return strings.Compare(f.Name, name) })
	for i < len(all) && all[i].Name <= req.After && req.After != "" {
		i++
	}
	rep := listReply{Files: []FileInfo{}}
	size := len(`{"files":[],"more":false}`)
	for ; i < len(all); i++ {
		entry, err := json.Marshal(all[i])
		if err != nil {
			return nil, err
		}
		// The first entry is always taken (at most ~1.6 KiB: a 255-byte name
		// of HTML-escaped characters), so paging always progresses.
		if size+len(entry)+1 > limit && len(rep.Files) > 0 {
			rep.More = true
			break
		}
		size += len(entry) + 1
		rep.Files = append(rep.Files, all[i])
	}
	return json.Marshal(rep)
}
