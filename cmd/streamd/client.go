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

	transportFlags // --transport, --cert-hash (webtransport.go)
}

func (o *clientOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.server, "server", defaultServer, "server WebSocket URL")
	f.StringVar(&o.compress, "compress", defaultClientCompress, "compression: zstd, gzip or none")
	f.StringVar(&o.token, "token", "", "bearer token for the server")
	o.transportFlags.addFlags(f)
}

// dial connects to the server; the caller closes the session.
func (o *clientOptions) dial(ctx context.Context, log *slog.Logger) (*stream.Session, error) {
	algs, err := parseCompression(o.compress)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := &stream.DialOptions{
		Config: &stream.Config{Compression: algs, Logger: log},
		Token:  o.token,
	}
	if err := o.transportFlags.apply(opts); err != nil {
		return nil, err
	}
	sess, err := stream.Dial(dctx, o.server, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.server, err)
	}
	log.Debug("connected", "server", o.server, "session", sess.ID())
	return sess, nil
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
