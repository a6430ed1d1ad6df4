package contenders

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/transport/websocket"
)

func init() {
	RegisterStream(Streamd())
	RegisterSession(StreamdSessions())
}

// streamdURL is the URL the client dials; the host is never resolved because
// the WebSocket config's NetDialContext goes to the Env's Dial.
const streamdURL = "ws://bench.invalid/streamd"

// streamdConfig is the session configuration the benchmarks use: defaults
// (auto-tuned windows, 64 KiB frames, 256 KiB batches) without compression,
// because the payloads are random bytes and the scenario measures transfer.
func streamdConfig() *stream.Config { return &stream.Config{Compression: []string{"none"}} }

// Streamd returns the streamd contender: one session over one WebSocket
// connection; every stream is a bidirectional streamd stream.
func Streamd() harness.Contender {
	return harness.NewMuxContender("streamd",
		"streamd session over one gorilla WebSocket, default config, no compression",
		connectStreamd)
}

func connectStreamd(ctx context.Context, env harness.Env) (harness.Mux, harness.Mux, error) {
	server, err := newStreamdServerMux(streamdConfig())
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: server.srv, ErrorLog: discardLog, ReadHeaderTimeout: handshakeTimeout}
	server.stop = hs.Close
	go func() {
		defer close(server.serveDone)
		_ = hs.Serve(env.Listener)
	}()
	sess, err := stream.Dial(ctx, streamdURL, &stream.DialOptions{
		Config:    streamdConfig(),
		WebSocket: &websocket.Config{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return env.Dial(ctx) }},
	})
	if err != nil {
		_ = server.Close()
		return nil, nil, err
	}
	return streamdClientMux{sess}, server, nil
}

type streamdClientMux struct{ s *stream.Session }

func (m streamdClientMux) Open(ctx context.Context) (io.ReadWriteCloser, error) {
	return m.s.Open(ctx, stream.OpenOptions{Route: "bench", Kind: stream.Bidi})
}

func (m streamdClientMux) Accept(context.Context) (io.ReadWriteCloser, error) {
	return nil, errors.New("streamd contender: the client end does not accept streams")
}

func (m streamdClientMux) Close() error { return m.s.Close() }

// streamdServerMux is the server end of a streamd contender, over any transport:
// its "bench" route accepts every stream the client opens and hands it to Accept.
type streamdServerMux struct {
	srv       *stream.Server
	stop      func() error // stops the transport's listener (set by the contender)
	accepted  chan *stream.Stream
	done      chan struct{}
	serveDone chan struct{} // closed by the contender when its serving goroutine returns
	once      sync.Once
}

// newStreamdServerMux returns a server end with its stream.Server for cfg; the
// caller serves srv on its transport and sets stop.
func newStreamdServerMux(cfg *stream.Config) (*streamdServerMux, error) {
	m := &streamdServerMux{accepted: make(chan *stream.Stream), done: make(chan struct{}), serveDone: make(chan struct{})}
	mux := stream.NewMux()
	mux.Handle("bench", stream.Bidi, func(ctx context.Context, st *stream.Stream) error {
		if err := st.Accept(nil); err != nil {
			return err
		}
		select {
		case m.accepted <- st:
		case <-m.done:
			return nil
		case <-ctx.Done():
			return nil
		}
		<-st.Done() // the benchmark closes it
		return nil
	})
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Session: cfg})
	if err != nil {
		return nil, err
	}
	m.srv = srv
	return m, nil
}

func (m *streamdServerMux) Open(context.Context) (io.ReadWriteCloser, error) {
	return nil, errors.New("streamd contender: the server end does not open streams")
}

func (m *streamdServerMux) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	select {
	case st := <-m.accepted:
		return st, nil
	case <-m.done:
		return nil, ErrLinkClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the sessions (after their streams, at most a second), then the
// listener, and waits for the serving goroutine.
func (m *streamdServerMux) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = m.srv.Shutdown(ctx) // closes every session once its streams ended or the second passed
		if m.stop != nil {
			err = m.stop()
			<-m.serveDone
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	})
	return err
}

// StreamdSessions returns the streamd idle-session contender: a session over
// a WebSocket connection that completed the streamd handshake and waits.
func StreamdSessions() harness.SessionContender { return streamdSessions{} }

type streamdSessions struct{}

func (streamdSessions) Name() string { return "streamd" }
func (streamdSessions) Description() string {
	return "streamd session (handshake done, reader and writer goroutines) over a gorilla WebSocket"
}

func (streamdSessions) ServeSessions(ln net.Listener) (harness.SessionServer, error) {
	srv, err := stream.NewServer(stream.NewMux(), &stream.ServerConfig{Session: streamdConfig()})
	if err != nil {
		return nil, err
	}
	s := &streamdSessionServer{srv: srv, http: &http.Server{Handler: srv, ErrorLog: discardLog, ReadHeaderTimeout: handshakeTimeout}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

func (streamdSessions) DialSession(ctx context.Context, dial func(ctx context.Context) (net.Conn, error)) (io.Closer, error) {
	return stream.Dial(ctx, streamdURL, &stream.DialOptions{
		Config:    streamdConfig(),
		WebSocket: &websocket.Config{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }},
	})
}

type streamdSessionServer struct {
	srv  *stream.Server
	http *http.Server
	done chan struct{}
}

func (s *streamdSessionServer) Established() int { return s.srv.NumSessions() }

func (s *streamdSessionServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Close()
	<-s.done
	_ = s.srv.Shutdown(ctx)
	return err
}
