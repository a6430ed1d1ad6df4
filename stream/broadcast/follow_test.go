package broadcast_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream/broadcast"
)

// lineCollector follows a topic's feed and hands out DATA lines.
type lineCollector struct {
	t     *testing.T
	feed  broadcast.Feed
	queue []broadcast.Record
}

func collect(t *testing.T, topic *broadcast.Topic, start broadcast.Start) *lineCollector {
	f, err := topic.Subscribe(t.Context(), start)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return &lineCollector{t: t, feed: f}
}

// expect reads the next DATA records and checks them against want, skipping
// EPOCH records (and failing on a GAP).
func (c *lineCollector) expect(want ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 20*time.Second)
	defer cancel()
	for _, w := range want {
		for {
			if len(c.queue) == 0 {
				recs, err := c.feed.Next(ctx, nil)
				require.NoError(c.t, err, "waiting for %q", w)
				c.queue = recs
			}
			r := c.queue[0]
			c.queue = c.queue[1:]
			require.NotEqual(c.t, broadcast.TypeGap, r.Type)
			if r.Type == broadcast.TypeData {
				require.Equal(c.t, w, string(r.Data))
				break
			}
		}
	}
}

// follow runs FollowFile on path into topic until the test ends. The
// returned channel is closed once the follower has opened the file.
func follow(t *testing.T, path string, topic *broadcast.Topic, cfg broadcast.FollowConfig) <-chan struct{} {
	ctx, cancel := context.WithCancel(t.Context())
	opened := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	cfg.Interval = time.Millisecond
	cfg.Logger = slog.New(&openWatcher{opened: opened})
	wg.Go(func() {
		if err := broadcast.FollowFile(ctx, path, topic, &cfg); err != nil {
			t.Error(err)
		}
	})
	return opened
}

// openWatcher is a slog.Handler that closes opened at the follower's first
// "following file" record.
type openWatcher struct {
	once   sync.Once
	opened chan struct{}
}

func (w *openWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (w *openWatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "following file" {
		w.once.Do(func() { close(w.opened) })
	}
	return nil
}
func (w *openWatcher) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *openWatcher) WithGroup(string) slog.Handler      { return w }

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestFollowFileRotationAndTruncation(t *testing.T) {
	_, topic := newTopic(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	// Existing content: with a 12-byte backlog only the last whole line in
	// the last 12 bytes is published ("old 3\n" is 6 bytes: lines 2 and 3).
	appendFile(t, path, "old 1\nold 2\nold 3\n")
	lines := collect(t, topic, broadcast.Start{})
	follow(t, path, topic, broadcast.FollowConfig{Backlog: 12})
	lines.expect("old 2", "old 3")

	appendFile(t, path, "a1\na2\r\npart")
	lines.expect("a1", "a2")
	appendFile(t, path, "ial\n")
	lines.expect("partial")

	// Rotation by rename: what was still written to the old file is read,
	// then the new file from its start.
	require.NoError(t, os.Rename(path, path+".1"))
	appendFile(t, path+".1", "last of old\nunterminated")
	appendFile(t, path, "new 1\n")
	lines.expect("last of old", "unterminated", "new 1")

	// Truncation (copytruncate): the file starts over; the new content is
	// shorter than what was read, so it is detected.
	appendFile(t, path, strings.Repeat("filler line\n", 20))
	for range 20 {
		lines.expect("filler line")
	}
	require.NoError(t, os.Truncate(path, 0))
	appendFile(t, path, "after truncate\n")
	lines.expect("after truncate")

	// Removed, then created again: waited for, read from the start.
	require.NoError(t, os.Remove(path))
	appendFile(t, path, "recreated\n")
	lines.expect("recreated")
	require.Zero(t, topic.Stats().Gaps)
}

func TestFollowFileWaitsForMissingFile(t *testing.T) {
	_, topic := newTopic(t, nil)
	path := filepath.Join(t.TempDir(), "later.log")
	lines := collect(t, topic, broadcast.Start{})
	follow(t, path, topic, broadcast.FollowConfig{}) // the file is read from its start, whenever it appears
	appendFile(t, path, "hello\n")
	lines.expect("hello")
}

func TestFollowFileNoBacklogAndLongLines(t *testing.T) {
	_, topic := newTopic(t, &broadcast.TopicConfig{MaxRecord: 10, QueueBytes: 1 << 20})
	path := filepath.Join(t.TempDir(), "x.log")
	appendFile(t, path, "skipped\nskipped too, and no newline")
	lines := collect(t, topic, broadcast.Start{})
	<-follow(t, path, topic, broadcast.FollowConfig{Backlog: -1})
	// The line in progress at start is skipped up to its newline; lines over
	// MaxRecord are split.
	appendFile(t, path, " yet\n0123456789abcdefghijKLM\nok\n")
	lines.expect("0123456789", "abcdefghij", "KLM", "ok")
}

func TestLineWriterSplitsAndFlushes(t *testing.T) {
	_, topic := newTopic(t, &broadcast.TopicConfig{MaxRecord: 4})
	lines := collect(t, topic, broadcast.Start{})
	w := broadcast.NewLineWriter(topic, 100) // capped at the topic's MaxRecord
	for _, s := range []string{"ab", "cdefg", "h\n", "\n", "x\r\ny", "z"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.NoError(t, w.Flush())
	lines.expect("abcd", "efgh", "", "x", "yz")
	require.NoError(t, topic.Close())
	_, err := w.Write([]byte("closed\n"))
	require.ErrorIs(t, err, broadcast.ErrTopicClosed)
}

func TestRunCommand(t *testing.T) {
	_, topic := newTopic(t, nil)
	lines := collect(t, topic, broadcast.Start{})
	epoch := topic.Next().Epoch
	err := broadcast.RunCommand(t.Context(), []string{"/bin/sh", "-c", "echo out 1; echo err 1 >&2; printf 'no newline'"}, topic,
		&broadcast.CommandConfig{Logger: quietLogger()})
	require.NoError(t, err)
	// stdout and stderr are split into lines separately; their relative order
	// depends on the pipes, so compare as a set.
	got := map[string]bool{}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for len(got) < 3 {
		recs, err := lines.feed.Next(ctx, nil)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Type == broadcast.TypeData {
				got[string(r.Data)] = true
			}
		}
	}
	require.Equal(t, map[string]bool{"out 1": true, "err 1": true, "no newline": true}, got)
	require.Equal(t, epoch, topic.Next().Epoch, "one run: no new epoch")

	err = broadcast.RunCommand(t.Context(), []string{"/bin/sh", "-c", "exit 3"}, topic, &broadcast.CommandConfig{Logger: quietLogger()})
	require.Error(t, err)
	require.Error(t, broadcast.RunCommand(t.Context(), nil, topic, nil))
}

func TestRunCommandRestartsInNewEpoch(t *testing.T) {
	_, topic := newTopic(t, nil)
	lines := collect(t, topic, broadcast.Start{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- broadcast.RunCommand(ctx, []string{"/bin/sh", "-c", "echo run"}, topic,
			&broadcast.CommandConfig{Restart: true, RestartDelay: time.Millisecond, Logger: quietLogger()})
	}()
	// Three runs: each prints "run" as seq 1 of its own epoch.
	fctx, fcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer fcancel()
	var epochs []uint64
	for len(epochs) < 3 {
		recs, err := lines.feed.Next(fctx, nil)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Type == broadcast.TypeData {
				require.Equal(t, "run", string(r.Data))
				require.Equal(t, uint64(1), r.Seq, fmt.Sprint(r.Position()))
				epochs = append(epochs, r.Epoch)
			}
		}
	}
	require.Less(t, epochs[0], epochs[1])
	require.Less(t, epochs[1], epochs[2])
	cancel()
	require.NoError(t, <-done)
}

func TestRunCommandStopsOnCancel(t *testing.T) {
	_, topic := newTopic(t, nil)
	lines := collect(t, topic, broadcast.Start{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// A shell whose child keeps the pipes open: the whole group must stop.
		done <- broadcast.RunCommand(ctx, []string{"/bin/sh", "-c", "echo started; sleep 60 & wait"}, topic,
			&broadcast.CommandConfig{Logger: quietLogger()})
	}()
	lines.expect("started")
	cancel()
	require.NoError(t, <-done)
}
