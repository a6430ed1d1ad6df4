// Echo runs a streamd server and a client in one program over loopback
// WebSocket: the client opens a bidirectional stream, sends a few lines and
// prints each line the server echoes back.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/streamd/streamd/stream"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// The server: bidirectional streams opened on route "echo" get every byte
	// they send copied back. Returning nil closes the server's side.
	mux := stream.NewMux()
	mux.Handle("echo", stream.Bidi, func(ctx context.Context, st *stream.Stream) error {
		_, err := io.Copy(st, st)
		return err
	})
	srv, err := stream.NewServer(mux, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln) //nolint:errcheck // ends with hs.Close
	defer func() {
		srv.Shutdown(context.Background()) //nolint:errcheck // nothing left open
		hs.Close()
	}()

	// The client: one session, one stream.
	sess, err := stream.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	st, err := sess.Open(ctx, stream.OpenOptions{Route: "echo", Kind: stream.Bidi})
	if err != nil {
		return err
	}
	echoes := bufio.NewReader(st)
	for _, line := range []string{"hello", "multiplexed", "world"} {
		if _, err := st.Write([]byte(line + "\n")); err != nil {
			return err
		}
		echo, err := echoes.ReadString('\n')
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "sent %q, echoed %q\n", line, strings.TrimSuffix(echo, "\n"))
	}
	// Finish our direction; the server's io.Copy sees EOF and closes its side.
	// Reading to io.EOF after that completes the stream (both sides closed,
	// and nothing left unread). st.Close would do both in one call, but it
	// cancels the stream if echoes were left unread.
	if err := st.CloseWrite(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, echoes); err != nil {
		return err
	}
	<-st.Done()
	if err := st.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "stream %s\n", st.State())
	return nil
}
