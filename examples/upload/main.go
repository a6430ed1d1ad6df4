// Upload runs a streamd file server in-process, generates a file and uploads
// it over loopback WebSocket with a progress callback, then prints the
// transfer summary and checks the server's copy.
package main

import (
	"bufio"
	"context"
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
		fmt.Fprintln(os.Stderr, "upload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "streamd-upload-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "measurements.csv")
	if err := writeCSV(src, 400_000); err != nil {
		return err
	}

	// The server: a files.Store on a data directory, registered on a Mux.
	store, err := files.NewStore(filepath.Join(dir, "data"), nil)
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

	// The client: dial, then upload with a progress callback.
	sess, err := stream.Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	lastTenth := -1
	res, err := files.Upload(ctx, sess, src, files.UploadOptions{
		ProgressInterval: 5 * time.Millisecond,
		Progress: func(p stream.Progress) {
			if tenth := int(p.Fraction() * 10); tenth > lastTenth {
				lastTenth = tenth
				fmt.Fprintf(out, "progress %3d%%  %d of %d bytes\n", tenth*10, p.Sent, p.Total)
			}
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res.Summary("uploaded"))

	// The server stored it under the same name; its SHA-256 is ours.
	stored, err := files.HashFile(filepath.Join(store.Dir(), res.Name))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server copy sha256 %s, matches: %t\n", stored, stored == res.SHA256)
	return nil
}

// writeCSV writes a sample file of n rows (compressible, as real data often is).
func writeCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "id,sensor,value")
	for i := range n {
		fmt.Fprintf(w, "%d,sensor-%d,%d.%d\n", i, i%17, (i*7919)%1000, i%10)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
