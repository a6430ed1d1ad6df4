package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/files"
	"github.com/streamd/streamd/stream/metrics"
	"github.com/streamd/streamd/web"
)

// Defaults of streamd serve.
const (
	defaultAddr            = "127.0.0.1:8080"
	defaultDataDir         = "streamd-data"
	defaultServerCompress  = "zstd,gzip"
	defaultShutdownTimeout = 30 * time.Second
	// endpointPath is where the WebSocket endpoint is served.
	endpointPath = "/streamd"
)

type serveOptions struct {
	addr            string
	dataDir         string
	compress        string
	token           string
	tokensFile      string        // --tokens-file: "TOKEN PRINCIPAL" lines (auth.go)
	resumeTTL       time.Duration // --resume-ttl
	shutdownTimeout time.Duration
	maxUploadSize   int64
	tail            tailFlags    // --tail, --tail-cmd: log sources as broadcast topics (tail.go)
	datasets        datasetFlags // --demo-rows, --dataset, --datasets-config: the dataset catalog (export.go)

	wt wtServeFlags // --wt-addr, --tls-cert, --tls-key: WebTransport (webtransport.go)
}

func newServeCommand(g *globals) *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the data directory over WebSocket (zero configuration needed)",
		Long: `Serve the files of the data directory: uploads land in it, its files can be
downloaded and listed. The WebSocket endpoint is ws://ADDR/streamd; GET /healthz
answers "ok". The bound address is printed as "listening on HOST:PORT" (use
--addr 127.0.0.1:0 for a free port). SIGINT or SIGTERM shuts down gracefully:
sessions get GOAWAY and open streams may finish within --shutdown-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, g.stdout, g.log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", defaultAddr, "TCP address to listen on")
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir, "data directory (created if missing)")
	f.StringVar(&o.compress, "compress", defaultServerCompress, "compression algorithms to accept, by preference: zstd, gzip, none or a list")
	f.StringVar(&o.token, "token", "", "require clients to present this bearer token (default: no authentication)")
	f.StringVar(&o.tokensFile, "tokens-file", "", `require clients to present one of the tokens in this file, one "TOKEN PRINCIPAL" per line`)
	f.DurationVar(&o.resumeTTL, "resume-ttl", stream.DefaultResumeTTL, "how long a session whose connection was lost is kept for its client to resume (0: no resuming)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long open streams may take to finish on shutdown")
	f.Int64Var(&o.maxUploadSize, "max-upload-size", 0, "largest upload accepted in bytes (0: no limit)")
	o.tail.addFlags(f)
	o.datasets.addFlags(f)
	o.wt.addFlags(f)
	return cmd
}

// runServe serves until ctx is cancelled, then shuts down gracefully.
func runServe(ctx context.Context, o serveOptions, stdout io.Writer, log *slog.Logger) error {
	algs, err := parseCompression(o.compress)
	if err != nil {
		return err
	}
	store, err := files.NewStore(o.dataDir, &files.StoreConfig{MaxUploadSize: o.maxUploadSize, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	mux := stream.NewMux()
	store.Register(mux)
	catalog, err := o.datasets.start(o.dataDir, mux, log)
	if err != nil {
		return err
	}
	defer catalog.Close()
	sources, err := o.tail.start(ctx, mux, log)
	if err != nil {
		return err
	}
	defer sources.stop()
	cfg := &stream.ServerConfig{Session: &stream.Config{Compression: algs, Logger: log}, Logger: log}
	cfg.ResumeTTL = o.resumeTTL
	if o.resumeTTL <= 0 {
		cfg.ResumeTTL = -1
	}
	if o.tokensFile != "" {
		tokens, err := loadTokens(o.tokensFile)
		if err != nil {
			return err
		}
		if o.token != "" {
			tokens[o.token] = "token"
		}
		cfg.Authenticate = tokensAuthenticator(tokens)
	} else if o.token != "" {
		cfg.Authenticate = tokenAuthenticator(o.token)
	}
	srv, err := stream.NewServer(mux, cfg)
	if err != nil {
		return err
	}
	handler := http.NewServeMux()
	handler.Handle(endpointPath, srv)
	handler.Handle("/", web.Handler()) // the demo page and the browser client
	handler.Handle("GET /metrics", metrics.Handler(srv, metrics.NewBroadcastCollector(sources.broker)))
	handler.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok") //nolint:errcheck // the client went away
	})
	stopWT, err := o.wt.start(srv, handler, stdout, log)
	if err != nil {
		return err
	}
	defer stopWT() // after srv.Shutdown below has drained the WebTransport sessions too

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	dir, _ := filepath.Abs(o.dataDir)
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	log.Info("streamd serving", "endpoint", "ws://"+ln.Addr().String()+endpointPath, "dataDir", dir, "compression", algs)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// Stop accepting connections first, then drain the sessions (GOAWAY, wait
	// for their streams, close). WebSocket connections are hijacked, so
	// hs.Shutdown does not wait for them; srv.Shutdown does.
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("streams still open at the shutdown timeout were closed", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// tokenAuthenticator accepts exactly token (compared in constant time).
func tokenAuthenticator(token string) stream.Authenticator {
	return func(_ context.Context, got string) (string, error) {
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "", stream.ErrUnauthorized
		}
		return "token", nil
	}
}
