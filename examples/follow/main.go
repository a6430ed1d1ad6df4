// Follow prints a topic's lines as they are published, with their positions,
// and what it missed: run examples/publish first, then
//
//	go run ./examples/follow -server ws://127.0.0.1:8090/ -topic app -last 5
//
// It ends when the topic closes. A position (epoch:seq) names a line: the
// epoch changes when the source restarts, so a follower that resumes from a
// position (SubscribeOptions.From) is told about a restart instead of being
// confused by sequence numbers that started again at 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

func main() {
	server := flag.String("server", "ws://127.0.0.1:8090/", "streamd server URL")
	topic := flag.String("topic", "stdin", "topic to follow")
	last := flag.Int("last", 0, "print the last N lines the server retains first")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *server, *topic, *last, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "follow:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, server, topic string, last int, out io.Writer) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sess, err := stream.Dial(dctx, server, nil)
	if err != nil {
		return err
	}
	defer sess.Close()

	// Subscribe: an unknown topic fails with stream.ErrNotFound.
	sub, err := broadcast.Subscribe(ctx, sess, topic, &broadcast.SubscribeOptions{Last: last})
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintf(out, "following %q (policy %s)\n", topic, sub.Info().Policy)

	for {
		rec, err := sub.Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			fmt.Fprintf(out, "topic closed; resume position %v\n", sub.Position())
			return nil
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err // e.g. stream.ErrSlowConsumer under the disconnect policy
		}
		switch rec.Type {
		case broadcast.TypeData:
			fmt.Fprintf(out, "%v %s\n", rec.Position(), rec.Data)
		case broadcast.TypeGap:
			fmt.Fprintf(out, "(missed %d lines, %d bytes)\n", rec.Records, rec.Bytes)
		case broadcast.TypeEpoch:
			if rec.Changed {
				fmt.Fprintf(out, "(the source restarted: epoch %d)\n", rec.Epoch)
			}
		}
	}
}
