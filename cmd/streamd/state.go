package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// uploadState is the client's record of its unfinished uploads, so that
// "streamd upload FILE" run again (after a crash, kill -9, a reboot)
// continues the same server upload. An entry is keyed by the server URL and
// the file's absolute path, size and modification time, so a changed file is
// never resumed by mistake; it is removed once the upload is stored.
type uploadState struct {
	path    string
	Uploads map[string]uploadEntry `json:"uploads"`
}

// uploadEntry is one unfinished upload.
type uploadEntry struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	SHA256  string    `json:"sha256"`
	Updated time.Time `json:"updated"`
}

// defaultStateFile is $XDG_STATE_HOME/streamd/uploads.json, or
// ~/.local/state/streamd/uploads.json.
func defaultStateFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "streamd-uploads.json")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "streamd", "uploads.json")
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (*uploadState, error) {
	s := &uploadState{path: path, Uploads: map[string]uploadEntry{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("state file %s: %w (delete it to start over)", path, err)
	}
	if s.Uploads == nil {
		s.Uploads = map[string]uploadEntry{}
	}
	return s, nil
}

// stateKey identifies a file's content for resuming its upload to server.
func stateKey(server, absPath string, fi os.FileInfo) string {
	return fmt.Sprintf("%s|%s|%d|%d", server, absPath, fi.Size(), fi.ModTime().UnixNano())
}

// save writes the state atomically (temporary file, sync, rename).
func (s *uploadState) save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
