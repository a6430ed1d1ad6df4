// Publish serves its standard input as a live topic: every line it reads is
// published to the topic, and any number of followers (examples/follow,
// "streamd tail", the browser client) get the lines as they come. A follower
// that falls behind loses its oldest lines and is told how many; it never
// slows the publisher or the other followers.
//
//	some-program | go run ./examples/publish -addr 127.0.0.1:8090 -topic app
//	go run ./examples/follow -server ws://127.0.0.1:8090/ -topic app
//
// At the end of its input it closes the topic: each follower gets the lines
// it has not read yet, then the end of the topic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to serve on")
	topic := flag.String("topic", "stdin", "topic name")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *topic, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, name string, in io.Reader, out io.Writer) error {
	// The broker holds the topic: the newest 10,000 lines for followers that
	// ask for the last lines or resume, and 1 MiB of queue per follower.
	broker, err := broadcast.NewMemory(nil)
	if err != nil {
		return err
	}
	topic, err := broker.CreateTopic(name, nil)
	if err != nil {
		return err
	}

	// Serve it: the routes "topic" and "topic/NAME" on a streamd server.
	mux := stream.NewMux()
	broker.Register(mux)
	srv, err := stream.NewServer(mux, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with hs.Close
	defer hs.Close()
	fmt.Fprintf(out, "listening on %s\n", ln.Addr())
	fmt.Fprintf(out, "publishing standard input as topic %q\n", name)

	// Publish: a LineWriter is an io.Writer that publishes one record per
	// line. It never waits for followers.
	lines := broadcast.NewLineWriter(topic, 0)
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(lines, in)
		if err == nil {
			err = lines.Flush() // a last line without a newline
		}
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-ctx.Done():
	}
	if err != nil && !errors.Is(err, broadcast.ErrTopicClosed) {
		return err
	}
	fmt.Fprintf(out, "published %d lines\n", topic.Stats().Published)

	// Close the topic: followers get what they have not read yet, then the
	// end of the topic; Shutdown waits (up to 10 s) for them to finish.
	broker.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
