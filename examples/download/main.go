// Download runs a streamd file server in-process over a data directory holding
// one file, lists the server's files and downloads that file over loopback
// WebSocket, then prints the summary and checks the copy.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "streamd-download-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The server's data directory holds one file (4 MiB of random bytes).
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		return err
	}
	blob := make([]byte, 4<<20)
	rand.Read(blob)
	if err := os.WriteFile(filepath.Join(dataDir, "blob.bin"), blob, 0o644); err != nil {
		return err
	}
	store, err := files.NewStore(dataDir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	mux := stream.NewMux()
	store.Register(mux)
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

	// The client: list the files, then download each to a local directory.
	sess, err := stream.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	list, err := files.List(ctx, sess)
	if err != nil {
		return err
	}
	for _, f := range list {
		fmt.Fprintf(out, "server has %s (%d bytes)\n", f.Name, f.Size)
		dst := filepath.Join(dir, "copy-of-"+f.Name)
		res, err := files.DownloadFile(ctx, sess, f.Name, dst, files.DownloadOptions{
			Progress: func(p stream.Progress) {
				fmt.Fprintf(out, "progress %d of %d bytes\n", p.Received, p.Total)
			},
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, res.Summary("downloaded"))
		// Compare with the server's original (same machine in this example).
		original, err := files.HashFile(filepath.Join(dataDir, f.Name))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "local copy sha256 %s, matches: %t\n", res.SHA256, res.SHA256 == original)
	}
	return nil
}
