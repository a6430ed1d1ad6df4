package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

// Defaults of the serve flags for log sources.
const (
	defaultTailInterval = broadcast.DefaultFollowInterval
	defaultTailPolicy   = "drop-oldest"
)

// tailFlags are the flags of streamd serve for log sources: --tail NAME=PATH
// follows a file, --tail-cmd NAME=COMMAND publishes a command's output, each
// as a topic of a broadcast.Memory broker served on the session mux (routes
// "topic" and "topic/NAME", docs/PROTOCOL.md §9).
type tailFlags struct {
	files, commands []string
	interval        time.Duration
	policy          string
	queueBytes      int
	replayLines     int
}

// tailSources are the running log sources.
type tailSources struct {
	broker   *broadcast.Memory
	cancel   context.CancelFunc
	stopWait func() bool
	wg       sync.WaitGroup
}

func (t *tailFlags) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&t.files, "tail", nil, "follow a file like tail -F and publish its lines as a topic: NAME=PATH (repeatable)")
	f.StringArrayVar(&t.commands, "tail-cmd", nil, "run a shell command and publish its stdout and stderr lines as a topic, restarting it (in a new epoch) when it exits: NAME='COMMAND ARGS' (repeatable)")
	f.DurationVar(&t.interval, "tail-interval", defaultTailInterval, "how often --tail files are polled for new lines, truncation and rotation")
	f.StringVar(&t.policy, "tail-policy", defaultTailPolicy, "what happens to a subscriber that falls behind: drop-oldest (it is told how many lines it lost) or disconnect (SLOW_CONSUMER)")
	f.IntVar(&t.queueBytes, "tail-queue-bytes", broadcast.DefaultQueueBytes, "how far a subscriber may fall behind a topic, in bytes, before the policy applies")
	f.IntVar(&t.replayLines, "tail-replay-lines", broadcast.DefaultReplayRecords, "lines each topic keeps for subscribers asking for the last lines or resuming")
}

// tailSource is one parsed --tail or --tail-cmd.
type tailSource struct {
	name, path, command string
}

func parseTailSpecs(flag string, specs []string, seen map[string]bool) ([]tailSource, error) {
	var out []tailSource
	for _, spec := range specs {
		name, value, ok := strings.Cut(spec, "=")
		if !ok || value == "" {
			return nil, fmt.Errorf("--%s %q: want NAME=VALUE", flag, spec)
		}
		if err := broadcast.ValidateTopicName(name); err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flag, spec, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("--%s %q: topic %q is given twice", flag, spec, name)
		}
		seen[name] = true
		src := tailSource{name: name}
		if flag == "tail" {
			src.path = value
		} else {
			src.command = value
		}
		out = append(out, src)
	}
	return out, nil
}

// start creates the broker and its topics, registers them on mux and starts
// the sources. When ctx ends (SIGTERM) the topics close at once, so the
// subscriptions end normally after their last line instead of holding up the
// server's drain; stop then waits for the sources.
func (t *tailFlags) start(ctx context.Context, mux *stream.Mux, log *slog.Logger) (*tailSources, error) {
	policy, err := broadcast.ParsePolicy(t.policy)
	if err != nil {
		return nil, fmt.Errorf("--tail-policy: %w", err)
	}
	seen := map[string]bool{}
	files, err := parseTailSpecs("tail", t.files, seen)
	if err != nil {
		return nil, err
	}
	commands, err := parseTailSpecs("tail-cmd", t.commands, seen)
	if err != nil {
		return nil, err
	}
	b, err := broadcast.NewMemory(&broadcast.TopicConfig{Policy: policy, QueueBytes: t.queueBytes, ReplayRecords: t.replayLines})
	if err != nil {
		return nil, fmt.Errorf("--tail-queue-bytes, --tail-replay-lines: %w", err)
	}
	sources := append(files, commands...)
	topics := make([]*broadcast.Topic, len(sources))
	for i, src := range sources {
		if topics[i], err = b.CreateTopic(src.name, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	b.Register(mux)
	sctx, cancel := context.WithCancel(ctx)
	run := &tailSources{broker: b, cancel: cancel}
	run.stopWait = context.AfterFunc(ctx, func() { b.Close() })
	for i, src := range sources {
		lg := log.With("topic", src.name)
		run.wg.Go(func() {
			var err error
			if src.path != "" {
				lg.Info("following file", "path", src.path)
				err = broadcast.FollowFile(sctx, src.path, topics[i], &broadcast.FollowConfig{Interval: t.interval, Logger: lg})
			} else {
				lg.Info("publishing command output", "command", src.command)
				err = broadcast.RunCommand(sctx, []string{"/bin/sh", "-c", src.command}, topics[i],
					&broadcast.CommandConfig{Restart: true, Logger: lg})
			}
			if err != nil && sctx.Err() == nil {
				lg.Error("log source stopped", "err", err)
			}
		})
	}
	return run, nil
}

// stop ends the sources and closes the topics.
func (t *tailSources) stop() {
	t.cancel()
	t.stopWait()
	t.broker.Close()
	t.wg.Wait()
}

func newTailCommand(g *globals) *cobra.Command {
	var o clientOptions
	var opts tailOptions
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print a topic's lines as they are published, like tail -f",
		Long: `Print the lines of a topic (for example one published by "streamd serve --tail
NAME=PATH") to stdout as they are published, until interrupted or the topic
closes. By default the last 10 lines come first; --last N and --from-start
choose otherwise. Lines a slow terminal missed, and restarts of the source, are
reported on stderr. A lost connection is re-established and the topic resumed
from the last line printed (--reconnect=false exits instead).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("last") && opts.fromStart {
				return errors.New("--last and --from-start exclude each other")
			}
			if opts.last < 0 {
				return fmt.Errorf("--last %d: must not be negative", opts.last)
			}
			return runTail(cmd.Context(), g, &o, args[0], opts)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&opts.last, "last", 10, "print the last N lines the server retains first (0: only new lines)")
	f.BoolVar(&opts.fromStart, "from-start", false, "print every line the server retains first")
	f.BoolVar(&opts.reconnect, "reconnect", true, "after a lost connection, reconnect and resume where it left off")
	return cmd
}

type tailOptions struct {
	last      int
	fromStart bool
	reconnect bool
}

// runTail subscribes to topic and prints it; see newTailCommand.
func runTail(ctx context.Context, g *globals, o *clientOptions, topic string, opts tailOptions) error {
	if err := broadcast.ValidateTopicName(topic); err != nil {
		return err
	}
	sub := broadcast.SubscribeOptions{Last: opts.last, Oldest: opts.fromStart}
	if opts.fromStart {
		sub.Last = 0
	}
	out := bufio.NewWriter(g.stdout)
	defer out.Flush()
	var sess *stream.Session
	defer func() {
		if sess != nil {
			sess.Close()
		}
	}()
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleepBackoff(ctx, attempt) {
			return nil
		}
		if sess == nil {
			var err error
			if sess, err = o.dial(ctx, g.log); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if attempt == 0 || !opts.reconnect {
					return err
				}
				fmt.Fprintf(g.stderr, "streamd: reconnecting: %v\n", err)
				continue
			}
		}
		s, err := broadcast.Subscribe(ctx, sess, topic, &sub)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !sessionEnded(sess) || !opts.reconnect || attempt == 0 {
				return err
			}
			sess.Close()
			sess = nil
			continue
		}
		attempt = 0
		err = printTopic(ctx, s, topic, out, g.stderr)
		if pos := s.Position(); pos.Epoch != 0 {
			sub = broadcast.SubscribeOptions{From: &pos}
		}
		s.Close()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			fmt.Fprintf(g.stderr, "streamd: topic %q closed\n", topic)
			return nil
		case !opts.reconnect:
			return err
		case errors.Is(err, stream.ErrSlowConsumer):
			fmt.Fprintf(g.stderr, "streamd: the server cut this terminal off as too slow; resuming\n")
		case sessionEnded(sess):
			fmt.Fprintf(g.stderr, "streamd: connection lost (%v); reconnecting\n", err)
			sess.Close()
			sess = nil
		default:
			return err
		}
	}
}

func sessionEnded(sess *stream.Session) bool {
	select {
	case <-sess.Done():
		return true
	default:
		return false
	}
}

// sleepBackoff waits before reconnect attempt n (1, 2, …): exponential from
// 100 ms up to 5 s, with full jitter. It returns false if ctx ended.
func sleepBackoff(ctx context.Context, n int) bool {
	ceiling := min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// printTopic prints the subscription's lines to out and its notices to
// notices until it ends; nil means the topic closed.
func printTopic(ctx context.Context, s *broadcast.Subscription, topic string, out *bufio.Writer, notices io.Writer) error {
	for {
		rec, err := s.Next(ctx)
		if err != nil {
			out.Flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch rec.Type {
		case broadcast.TypeData:
			out.Write(rec.Data)
			out.WriteByte('\n')
		case broadcast.TypeGap:
			out.Flush()
			size := "size unknown"
			if rec.Bytes != broadcast.UnknownBytes {
				size = fmt.Sprintf("%d bytes", rec.Bytes)
			}
			fmt.Fprintf(notices, "streamd: gap: %d lines of %q lost (%s)\n", rec.Records, topic, size)
		case broadcast.TypeEpoch:
			if rec.Changed {
				out.Flush()
				fmt.Fprintf(notices, "streamd: the source of %q restarted\n", topic)
			}
		}
		if !s.Buffered() {
			if err := out.Flush(); err != nil {
				return err // stdout closed: nothing more to do
			}
		}
	}
}
