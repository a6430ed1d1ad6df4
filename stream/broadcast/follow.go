package broadcast

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// Defaults of FollowConfig.
const (
	DefaultFollowInterval = 250 * time.Millisecond
	DefaultBacklog        = 64 << 10
)

// FollowConfig tunes FollowFile. The zero value means defaults.
type FollowConfig struct {
	// Interval is how often the file is polled for new data, truncation and
	// rotation. Default 250 ms.
	Interval time.Duration
	// Backlog is how much of the content already in the file is published
	// when following starts: the lines within its last Backlog bytes. 0 means
	// the default 64 KiB, a negative value none (new lines only).
	Backlog int64
	// MaxLine bounds a record; longer lines are split. Default: the topic's
	// MaxRecord (DefaultMaxRecord for other publishers).
	MaxLine int
	// Logger notes truncation and rotation. Default slog.Default().
	Logger *slog.Logger
}

func (c *FollowConfig) withDefaults() FollowConfig {
	var out FollowConfig
	if c != nil {
		out = *c
	}
	if out.Interval <= 0 {
		out.Interval = DefaultFollowInterval
	}
	if out.Backlog == 0 {
		out.Backlog = DefaultBacklog
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

// FollowFile publishes the lines appended to the file at path, like tail -F,
// until ctx ends (it then returns nil). It polls every Interval (no inotify):
// it reads what was appended, notices a truncation (the file got shorter than
// what was read: it starts again from the beginning) and a rotation (path now
// names another file, or none: it drains the old file, then follows the new one
// from its beginning, waiting for it to appear if need be). A missing file is
// waited for. A partial last line is published once its newline arrives, or
// when the file is rotated or truncated. Only a failing Publish (the topic
// closed) ends it early, with that error.
func FollowFile(ctx context.Context, path string, pub Publisher, cfg *FollowConfig) error {
	c := cfg.withDefaults()
	fw := &fileFollower{path: path, cfg: c, out: NewLineWriter(pub, c.MaxLine), buf: make([]byte, 32<<10), log: c.Logger.With("path", path)}
	defer fw.close()
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	first := true
	for {
		if err := fw.poll(first); err != nil {
			return err
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

type fileFollower struct {
	path     string
	cfg      FollowConfig
	out      *LineWriter
	buf      []byte
	log      *slog.Logger
	f        *os.File
	off      int64 // bytes of f read
	skipLine bool  // discard up to the first newline (backlog began mid-line)
	openErr  error // last error opening path, logged once
}

// poll does one round: open the file if needed, read what is new, and check
// for truncation and rotation. An error means Publish failed.
func (fw *fileFollower) poll(first bool) error {
	if fw.f == nil && !fw.open(first) {
		return nil
	}
	for range 2 { // a rotation or truncation re-reads at once
		if err := fw.drain(); err != nil {
			return err
		}
		again, err := fw.checkMoved()
		if err != nil || !again {
			return err
		}
	}
	return nil
}

// open opens path; on the first poll it seeks to the backlog, later (the file
// appeared or replaced a rotated one) it reads from the start.
func (fw *fileFollower) open(first bool) bool {
	f, err := os.Open(fw.path)
	if err != nil {
		if fw.openErr == nil || err.Error() != fw.openErr.Error() {
			fw.log.Warn("cannot open followed file; retrying", "err", err)
		}
		fw.openErr = err
		return false
	}
	if fw.openErr != nil {
		fw.log.Info("followed file appeared")
	}
	fw.openErr = nil
	fw.f, fw.off, fw.skipLine = f, 0, false
	if first {
		fi, err := f.Stat()
		if err == nil && fi.Size() > 0 {
			start := fi.Size()
			if fw.cfg.Backlog > 0 && fw.cfg.Backlog < start {
				start -= fw.cfg.Backlog
			} else if fw.cfg.Backlog > 0 {
				start = 0
			}
			if start > 0 {
				// Start one byte early: if that byte is a newline, the backlog
				// begins on a line boundary and no line is cut.
				start--
				fw.skipLine = true
			}
			if _, err := f.Seek(start, io.SeekStart); err == nil {
				fw.off = start
			}
		}
	}
	fw.log.Debug("following file", "offset", fw.off)
	return true
}

// drain reads the file to its current end and publishes the lines.
func (fw *fileFollower) drain() error {
	for {
		n, err := fw.f.Read(fw.buf)
		fw.off += int64(n)
		data := fw.buf[:n]
		if fw.skipLine && n > 0 {
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				data, fw.skipLine = data[i+1:], false
			} else {
				data = nil
			}
		}
		if len(data) > 0 {
			if _, werr := fw.out.Write(data); werr != nil {
				return werr
			}
		}
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				fw.log.Warn("reading followed file", "err", err)
			}
			return nil
		}
	}
}

// checkMoved handles truncation and rotation; again means read once more now.
func (fw *fileFollower) checkMoved() (again bool, err error) {
	cur, err := fw.f.Stat()
	if err != nil {
		fw.log.Warn("stat of followed file", "err", err)
		return false, nil
	}
	if cur.Size() < fw.off {
		fw.log.Info("followed file truncated; reading from the start", "size", cur.Size(), "read", fw.off)
		if err := fw.out.Flush(); err != nil {
			return false, err
		}
		if _, serr := fw.f.Seek(0, io.SeekStart); serr != nil {
			fw.close()
			return false, nil
		}
		fw.off, fw.skipLine = 0, false
		return true, nil
	}
	now, serr := os.Stat(fw.path)
	if serr == nil && os.SameFile(cur, now) {
		return false, nil
	}
	// Rotated (renamed away, replaced or removed): finish the old file first.
	if err := fw.drain(); err != nil {
		return false, err
	}
	if err := fw.out.Flush(); err != nil {
		return false, err
	}
	fw.close()
	if errors.Is(serr, fs.ErrNotExist) {
		fw.log.Info("followed file moved away; waiting for a new one")
		return false, nil
	}
	fw.log.Info("followed file rotated; following the new one")
	return fw.open(false), nil
}

func (fw *fileFollower) close() {
	if fw.f != nil {
		fw.f.Close()
		fw.f = nil
	}
}
