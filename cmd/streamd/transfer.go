package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
)

// Defaults of the resumable transfer commands.
const (
	defaultRetries = 20
	retryInitial   = 200 * time.Millisecond
	retryMax       = 5 * time.Second
)

// retryFlags are the reconnect flags of upload and download.
type retryFlags struct {
	retries int
}

func (r *retryFlags) addFlags(f *pflag.FlagSet) {
	f.IntVar(&r.retries, "retries", defaultRetries, "connection attempts in a row that may fail before giving up (0: never give up)")
}

// connect returns a reconnecting client (connected) for the transfer commands:
// cuts are resumed, a lost session is replaced, with exponential backoff.
func (o *clientOptions) connect(ctx context.Context, r retryFlags, log *slog.Logger) (*stream.ReconnectingClient, error) {
	algs, err := parseCompression(o.compress)
	if err != nil {
		return nil, err
	}
	if r.retries < 0 {
		return nil, fmt.Errorf("--retries %d is negative", r.retries)
	}
	opts := &stream.DialOptions{Config: &stream.Config{Compression: algs, Logger: log}, Token: o.token}
	if err := o.transportFlags.apply(opts); err != nil {
		return nil, err
	}
	rc, err := stream.NewReconnectingClient(stream.ReconnectConfig{
		URL: o.server, Options: opts, Logger: log,
		Backoff: stream.Backoff{Initial: retryInitial, Max: retryMax, MaxAttempts: r.retries},
		OnDisconnect: func(err error) {
			if err != nil {
				log.Warn("connection lost, reconnecting", "err", err)
			}
		},
		OnReconnect: func(s *stream.Session) { log.Info("reconnected, session resumed", "session", s.ID()) },
	})
	if err != nil {
		return nil, err
	}
	if err := rc.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.server, err)
	}
	return rc, nil
}

func newUploadCommand(g *globals) *cobra.Command {
	var o clientOptions
	var r retryFlags
	var name, stateFile string
	var restart bool
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a file to the server's data directory, resumably",
		Long: `Upload a file to the server's data directory. The upload survives a lost
connection (the session is resumed, or the upload reopened on a new session,
with exponential backoff) and a server restart. Killed and run again, it
continues from the server's durable offset: it remembers its unfinished uploads
in a state file, keyed by server, path, size and modification time, so a file
that changed meanwhile is uploaded from the start. The server checks the
SHA-256 of the whole file before it stores it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpload(cmd.Context(), g, o, r, args[0], name, stateFile, restart)
		},
	}
	o.addFlags(cmd)
	r.addFlags(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name to store the file under (default: the file's base name)")
	f.Bool("sha256", true, "always on: the server checks the file's SHA-256 before storing it")
	f.StringVar(&stateFile, "state-file", defaultStateFile(), "where unfinished uploads are remembered")
	f.BoolVar(&restart, "restart", false, "forget an unfinished upload of this file and start over")
	return cmd
}

func runUpload(ctx context.Context, g *globals, o clientOptions, r retryFlags, path, name, stateFile string, restart bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return err
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	if err := files.ValidateName(name); err != nil {
		return err
	}
	state, err := loadState(stateFile)
	if err != nil {
		return err
	}
	key := stateKey(o.server, abs, fi)
	entry, known := state.Uploads[key]
	if restart || (known && entry.Name != name) {
		known = false
	}
	opts := files.ResumableUploadOptions{UploadOptions: files.UploadOptions{Name: name}}
	if known {
		opts.ID, opts.SHA256 = entry.ID, entry.SHA256
	} else if opts.SHA256, err = files.HashFile(abs); err != nil {
		return err
	}
	rc, err := o.connect(ctx, r, g.log)
	if err != nil {
		return err
	}
	defer rc.Close()
	bar := newProgressUI(g.stderr, "uploading")
	opts.Progress = bar.update
	opts.OnStart = func(id string, offset int64) {
		if offset > 0 {
			fmt.Fprintf(g.stderr, "resuming upload %s at %d bytes\n", id, offset)
		}
		state.Uploads[key] = uploadEntry{ID: id, Name: name, SHA256: opts.SHA256, Updated: time.Now().UTC()}
		if err := state.save(); err != nil {
			g.log.Warn("cannot remember the upload for a rerun", "err", err)
		}
	}
	res, err := files.UploadResumable(ctx, rc, abs, opts)
	if err != nil && opts.ID != "" && errors.Is(err, files.ErrUploadNotFound) {
		fmt.Fprintf(g.stderr, "the server no longer has upload %s; starting over\n", opts.ID)
		opts.ID = ""
		res, err = files.UploadResumable(ctx, rc, abs, opts)
	}
	bar.done(err == nil)
	if err != nil {
		return err
	}
	delete(state.Uploads, key)
	if err := state.save(); err != nil {
		g.log.Warn("cannot update the state file", "err", err)
	}
	fmt.Fprintln(g.stdout, res.Summary("uploaded"))
	return nil
}

func newDownloadCommand(g *globals) *cobra.Command {
	var o clientOptions
	var r retryFlags
	var output string
	cmd := &cobra.Command{
		Use:   "download NAME",
		Short: "Download a file from the server's data directory, resumably",
		Long: `Download a file from the server's data directory into OUTPUT.part, renamed to
OUTPUT once complete and verified (SHA-256). Lost connections are resumed; an
interrupted download run again continues the .part file if the server's copy
did not change (OUTPUT.part.json records its content version).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if err := files.ValidateName(name); err != nil {
				return err
			}
			if output == "" {
				output = name
			}
			bar := newProgressUI(g.stderr, "downloading")
			opts := files.DownloadOptions{Progress: bar.update, OnStart: func(offset int64) {
				if offset > 0 {
					fmt.Fprintf(g.stderr, "resuming download at %d bytes\n", offset)
				}
			}}
			summary := g.stdout
			var res files.Result
			if output == "-" {
				summary = g.stderr // stdout carries the data: no resuming
				sess, err := o.dial(ctx, g.log)
				if err != nil {
					return err
				}
				defer sess.Close()
				res, err = files.Download(ctx, sess, name, g.stdout, opts)
				bar.done(err == nil)
				if err != nil {
					return err
				}
			} else {
				rc, err := o.connect(ctx, r, g.log)
				if err != nil {
					return err
				}
				defer rc.Close()
				res, err = files.DownloadFileResumable(ctx, rc, name, output, opts)
				bar.done(err == nil)
				if err != nil {
					return err
				}
			}
			fmt.Fprintln(summary, res.Summary("downloaded"))
			return nil
		},
	}
	o.addFlags(cmd)
	r.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "", `file to write ("-": stdout; default: NAME in the current directory)`)
	return cmd
}
