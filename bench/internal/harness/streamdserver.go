package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/streamd/streamd/stream"
)

// The dataset and fanout scenarios measure streamd's own services (dataset
// export, broadcast topics) rather than byte streams, so they run a streamd
// server themselves instead of going through a Contender.

// discardLogger drops the sessions' logs (disconnects at teardown are
// expected).
var discardLogger = slog.New(slog.DiscardHandler)

// streamdSessionConfig is the session configuration of both ends: defaults,
// without compression, so that streamd moves the same bytes as its
// baselines (the compression scenario measures codecs).
func streamdSessionConfig() *stream.Config {
	return &stream.Config{Compression: []string{"none"}, Logger: discardLogger}
}

// streamdServer is a streamd server on a loopback port.
type streamdServer struct {
	srv       *stream.Server
	http      *http.Server
	url       string
	serveDone chan struct{}
}

// startStreamdServer serves mux on a new loopback listener.
func startStreamdServer(mux *stream.Mux) (*streamdServer, error) {
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Session: streamdSessionConfig(), Logger: discardLogger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &streamdServer{
		srv:       srv,
		http:      &http.Server{Handler: srv, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: setupTimeout},
		url:       "ws://" + ln.Addr().String() + "/streamd",
		serveDone: make(chan struct{}),
	}
	go func() {
		defer close(s.serveDone)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// dial opens a client session to the server.
func (s *streamdServer) dial(ctx context.Context) (*stream.Session, error) {
	return stream.Dial(ctx, s.url, &stream.DialOptions{Config: streamdSessionConfig()})
}

// closeTimeout bounds the graceful part of a server's shutdown.
const closeTimeout = 2 * time.Second

// close shuts the server down and waits for it; close the client sessions
// first so that nothing is left to drain.
func (s *streamdServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // the sessions were closed regardless
	}
	err = errors.Join(err, s.http.Close())
	<-s.serveDone
	return err
}
