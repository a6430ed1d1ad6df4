package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
)

// Defaults of the client commands.
const (
	defaultServer         = "ws://127.0.0.1:8080" + endpointPath
	defaultClientCompress = "zstd"
)

// clientOptions are the flags shared by the client commands.
type clientOptions struct {
	server   string
	compress string
	token    string
}

func (o *clientOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.server, "server", defaultServer, "server WebSocket URL")
	f.StringVar(&o.compress, "compress", defaultClientCompress, "compression: zstd, gzip or none")
	f.StringVar(&o.token, "token", "", "bearer token for the server")
}

// dial connects to the server; the caller closes the session.
func (o *clientOptions) dial(ctx context.Context, log *slog.Logger) (*stream.Session, error) {
	algs, err := parseCompression(o.compress)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sess, err := stream.Dial(dctx, o.server, &stream.DialOptions{
		Config: &stream.Config{Compression: algs, Logger: log},
		Token:  o.token,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.server, err)
	}
	log.Debug("connected", "server", o.server, "session", sess.ID())
	return sess, nil
}

func newUploadCommand(g *globals) *cobra.Command {
	var o clientOptions
	var name string
	var verify bool
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a file to the server's data directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := files.UploadOptions{Name: name}
			if verify {
				sum, err := files.HashFile(args[0])
				if err != nil {
					return err
				}
				opts.SHA256 = sum
			}
			sess, err := o.dial(ctx, g.log)
			if err != nil {
				return err
			}
			defer sess.Close()
			bar := newProgressUI(g.stderr, "uploading")
			opts.Progress = bar.update
			res, err := files.Upload(ctx, sess, args[0], opts)
			bar.done(err == nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, res.Summary("uploaded"))
			return nil
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&name, "name", "", "name to store the file under (default: the file's base name)")
	cmd.Flags().BoolVar(&verify, "sha256", false, "hash the file first; the server refuses to store it if the SHA-256 differs")
	return cmd
}

func newDownloadCommand(g *globals) *cobra.Command {
	var o clientOptions
	var output string
	cmd := &cobra.Command{
		Use:   "download NAME",
		Short: "Download a file from the server's data directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if err := files.ValidateName(name); err != nil {
				return err
			}
			if output == "" {
				output = name
			}
			sess, err := o.dial(ctx, g.log)
			if err != nil {
				return err
			}
			defer sess.Close()
			bar := newProgressUI(g.stderr, "downloading")
			opts := files.DownloadOptions{Progress: bar.update}
			summary := g.stdout
			var res files.Result
			if output == "-" {
				summary = g.stderr // stdout carries the data
				res, err = files.Download(ctx, sess, name, g.stdout, opts)
			} else {
				res, err = files.DownloadFile(ctx, sess, name, output, opts)
			}
			bar.done(err == nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(summary, res.Summary("downloaded"))
			return nil
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", `file to write ("-": stdout; default: NAME in the current directory)`)
	return cmd
}

func newListCommand(g *globals) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the files in the server's data directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			sess, err := o.dial(ctx, g.log)
			if err != nil {
				return err
			}
			defer sess.Close()
			list, err := files.List(ctx, sess)
			if err != nil {
				return err
			}
			return printList(g.stdout, list)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func printList(w io.Writer, list []files.FileInfo) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tMODIFIED")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Name, f.Size, f.ModTime.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && termIsTerminal(int(f.Fd()))
}
