package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"time"
)

// Defaults of CommandConfig.
const (
	DefaultRestartDelay = time.Second
	// DefaultStopGrace is how long a command may take to exit after SIGTERM.
	DefaultStopGrace = 5 * time.Second
)

// CommandConfig tunes RunCommand. The zero value means defaults.
type CommandConfig struct {
	// Restart runs the command again whenever it exits, until ctx ends; each
	// run after the first begins a new epoch on the topic.
	Restart bool
	// RestartDelay is the pause before a restart. Default 1 s.
	RestartDelay time.Duration
	// StopGrace is how long the command may take to exit after SIGTERM when
	// ctx ends, before it is killed. Default 5 s.
	StopGrace time.Duration
	// Dir is the working directory ("": the current one). Env, if not nil, is
	// the environment (see exec.Cmd.Env).
	Dir string
	Env []string
	// MaxLine bounds a record; longer lines are split. Default: the topic's MaxRecord.
	MaxLine int
	// Logger notes starts and exits. Default slog.Default().
	Logger *slog.Logger
}

// RunCommand runs argv and publishes the lines of its stdout and stderr to
// sink (each stream is split into lines on its own, so lines never mix). The
// command gets no stdin. When ctx ends, the command (its whole process group,
// on Unix) gets SIGTERM and, after StopGrace, SIGKILL; RunCommand then returns
// nil. Without Restart it returns when the command exits: nil for exit status
// 0, else the *exec.ExitError. With Restart it runs the command again after
// RestartDelay, in a new epoch, until ctx ends.
func RunCommand(ctx context.Context, argv []string, sink Sink, cfg *CommandConfig) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("broadcast: empty command")
	}
	var c CommandConfig
	if cfg != nil {
		c = *cfg
	}
	if c.RestartDelay <= 0 {
		c.RestartDelay = DefaultRestartDelay
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	log := c.Logger.With("command", argv[0])
	for run := 0; ; run++ {
		if run > 0 {
			if _, err := sink.Restart(); err != nil {
				return err
			}
		}
		err := runOnce(ctx, argv, sink, &c, log)
		if ctx.Err() != nil {
			return nil
		}
		var pubErr *publishError
		if errors.As(err, &pubErr) {
			return pubErr.err
		}
		if !c.Restart {
			return err
		}
		log.Info("command exited; restarting", "err", err, "delay", c.RestartDelay)
		t := time.NewTimer(c.RestartDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// publishError marks a failure to publish (the topic closed), which ends
// RunCommand even with Restart.
type publishError struct{ err error }

func (e *publishError) Error() string { return e.err.Error() }

// failingWriter remembers the first Publish error of a LineWriter.
type failingWriter struct {
	w   *LineWriter
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

func runOnce(ctx context.Context, argv []string, sink Sink, c *CommandConfig, log *slog.Logger) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = c.Dir, c.Env
	stdout := &failingWriter{w: NewLineWriter(sink, c.MaxLine)}
	stderr := &failingWriter{w: NewLineWriter(sink, c.MaxLine)}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = c.StopGrace
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("broadcast: start %q: %w", argv[0], err)
	}
	log.Debug("command started", "pid", cmd.Process.Pid)
	err := cmd.Wait()
	for _, w := range []*failingWriter{stdout, stderr} {
		if ferr := w.w.Flush(); ferr != nil && w.err == nil {
			w.err = ferr
		}
		if w.err != nil {
			return &publishError{w.err}
		}
	}
	return err
}
