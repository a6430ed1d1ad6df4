// Resumable-upload uploads a file to a streamd server so that nothing stops
// it for good: a lost connection is resumed (or the upload reopened on a new
// session after a server restart), and when the program itself is killed and
// run again it continues where the server's durable copy ends. It remembers
// the upload id in a small state file next to the file (FILE.upload).
//
//	resumable-upload -server ws://127.0.0.1:8080/streamd -file big.iso
//
// Try it against "streamd serve": kill it (even with kill -9) halfway, run
// it again, and it prints "resuming upload <id> at N bytes".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
)

func main() {
	server := flag.String("server", "ws://127.0.0.1:8080/streamd", "streamd server URL")
	file := flag.String("file", "", "file to upload (required)")
	token := flag.String("token", "", "bearer token, if the server wants one")
	flag.Parse()
	if *file == "" {
		fmt.Fprintln(os.Stderr, "resumable-upload: -file is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *server, *file, *token); err != nil {
		fmt.Fprintln(os.Stderr, "resumable-upload:", err)
		os.Exit(1)
	}
}

// state is what the program remembers between runs: the server's upload id
// for this exact file (a changed file starts over).
type state struct {
	ID      string `json:"id"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"modTime"`
	SHA256  string `json:"sha256"`
}

func run(ctx context.Context, out io.Writer, server, path, token string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	statePath := path + ".upload"
	var st state
	if raw, err := os.ReadFile(statePath); err == nil {
		json.Unmarshal(raw, &st) //nolint:errcheck // a bad state file means: start over
	}
	opts := files.ResumableUploadOptions{}
	if st.ID != "" && st.Size == fi.Size() && st.ModTime == fi.ModTime().UnixNano() {
		opts.ID, opts.SHA256 = st.ID, st.SHA256
	} else if opts.SHA256, err = files.HashFile(path); err != nil {
		return err
	}
	// OnStart runs when the server accepts the upload: save the id first thing.
	opts.OnStart = func(id string, offset int64) {
		if offset > 0 {
			fmt.Fprintf(out, "resuming upload %s at %d bytes\n", id, offset)
		} else {
			fmt.Fprintf(out, "uploading %s (%d bytes) as upload %s\n", fi.Name(), fi.Size(), id)
		}
		raw, _ := json.Marshal(state{ID: id, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: opts.SHA256})
		if err := os.WriteFile(statePath, raw, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "cannot save the upload id:", err)
		}
	}
	lastTenth := -1
	opts.ProgressInterval = 50 * time.Millisecond
	opts.Progress = func(p stream.Progress) {
		if tenth := int(p.Fraction() * 10); tenth > lastTenth {
			lastTenth = tenth
			fmt.Fprintf(out, "progress %3d%%\n", tenth*10)
		}
	}

	// The reconnecting client keeps a resumable session: cuts are invisible
	// to the upload, and a server restart costs one reopen by id.
	rc, err := stream.NewReconnectingClient(stream.ReconnectConfig{
		URL:     server,
		Options: &stream.DialOptions{Token: token},
		Backoff: stream.Backoff{Initial: 100 * time.Millisecond, Max: 3 * time.Second, MaxAttempts: 20},
		OnDisconnect: func(err error) {
			if err != nil {
				fmt.Fprintln(out, "connection lost, reconnecting")
			}
		},
		OnReconnect: func(*stream.Session) { fmt.Fprintln(out, "reconnected") },
	})
	if err != nil {
		return err
	}
	if err := rc.Connect(ctx); err != nil {
		return err
	}
	defer rc.Close()
	res, err := files.UploadResumable(ctx, rc, path, opts)
	if errors.Is(err, files.ErrUploadNotFound) && opts.ID != "" {
		fmt.Fprintln(out, "the server forgot the upload; starting over")
		opts.ID = ""
		res, err = files.UploadResumable(ctx, rc, path, opts)
	}
	if err != nil {
		return err
	}
	os.Remove(statePath)
	fmt.Fprintf(out, "uploaded %s: %d bytes sent in this run, sha256 %s\n", res.Name, res.Bytes, res.SHA256)
	return nil
}
