package contenders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamd/streamd/bench/internal/harness"
)

// discardLog silences net/http's error log (accept errors at teardown).
var discardLog = log.New(io.Discard, "", 0)

// wsURL is the URL the client dials; the host is never resolved because the
// dialer's NetDialContext goes to the Env's Dial.
const wsURL = "ws://bench.invalid/ws"

// maxWSBuffer caps the per-connection buffers sized to the message.
const maxWSBuffer = 1<<20 + 64

// handshakeTimeout bounds a WebSocket opening handshake.
const handshakeTimeout = 30 * time.Second

// WebSocket returns the raw gorilla/websocket contender: every stream is its
// own WebSocket connection, each Write one binary message, with read and
// write buffers sized to the scenario's message size.
func WebSocket() harness.Contender { return wsContender{} }

type wsContender struct{}

func (wsContender) Name() string { return "websocket" }
func (wsContender) Description() string {
	return "raw gorilla/websocket v1.5.3, one connection per stream, one binary message per write, buffers sized to the message"
}

func (wsContender) Connect(_ context.Context, env harness.Env) (harness.Link, error) {
	buf := min(max(env.MessageSize, 4096), maxWSBuffer)
	l := &wsLink{
		upgraded: make(chan *websocket.Conn),
		done:     make(chan struct{}),
		dialer: &websocket.Dialer{
			NetDialContext:   func(ctx context.Context, _, _ string) (net.Conn, error) { return env.Dial(ctx) },
			ReadBufferSize:   buf,
			WriteBufferSize:  buf,
			HandshakeTimeout: handshakeTimeout,
		},
	}
	up := &websocket.Upgrader{
		ReadBufferSize:  buf,
		WriteBufferSize: buf,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	l.srv = &http.Server{
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          discardLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.handlers.Add(1)
			defer l.handlers.Done()
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return // Upgrade has answered the client
			}
			l.track(c)
			select {
			case l.upgraded <- c:
			case <-l.done:
			}
		}),
	}
	l.serveDone = make(chan struct{})
	go func() {
		defer close(l.serveDone)
		_ = l.srv.Serve(env.Listener)
	}()
	return l, nil
}

type wsLink struct {
	srv       *http.Server
	dialer    *websocket.Dialer
	upgraded  chan *websocket.Conn
	done      chan struct{}
	serveDone chan struct{}

	openMu   sync.Mutex     // serialises OpenPair so dials and upgrades pair up
	broken   error          // set when a dial succeeded but its upgrade did not arrive; guarded by openMu
	handlers sync.WaitGroup // upgrade handlers in flight

	mu     sync.Mutex
	conns  []*websocket.Conn
	closed bool
}

func (l *wsLink) track(c *websocket.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return
	}
	l.conns = append(l.conns, c)
}

func (l *wsLink) OpenPair(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, error) {
	l.openMu.Lock()
	defer l.openMu.Unlock()
	if l.broken != nil {
		return nil, nil, l.broken
	}
	c, resp, err := l.dialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket dial: %w", err)
	}
	_ = resp.Body.Close()
	l.track(c)
	select {
	case s := <-l.upgraded:
		return &wsStream{c: c}, &wsStream{c: s}, nil
	case <-l.done:
		return nil, nil, ErrLinkClosed
	case <-ctx.Done():
		_ = c.Close()
		l.broken = fmt.Errorf("%w: %w", harness.ErrLinkBroken, ctx.Err())
		return nil, nil, fmt.Errorf("websocket upgrade: %w", ctx.Err())
	}
}

func (l *wsLink) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := l.conns
	l.mu.Unlock()
	err := l.srv.Close() // closes the listener; hijacked conns are ours
	<-l.serveDone
	l.handlers.Wait() // each returns once done is closed
	for _, c := range conns {
		_ = c.Close()
	}
	return err
}

// wsStream makes a WebSocket connection an io.ReadWriteCloser: each Write
// sends one binary message, Read reads messages back to back.
type wsStream struct {
	c *websocket.Conn
	r io.Reader // the message being read, nil between messages
}

func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.c.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					return 0, io.EOF
				}
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (s *wsStream) Close() error { return s.c.Close() }

// WebSocketSessions returns the raw gorilla/websocket session contender:
// an idle session is an upgraded connection (default 4 KiB buffers, reusing
// net/http's) with its handler goroutine blocked in NextReader.
func WebSocketSessions() harness.SessionContender { return wsSessions{} }

type wsSessions struct{}

func (wsSessions) Name() string { return "websocket" }
func (wsSessions) Description() string {
	return "raw gorilla/websocket connection, default buffers, one goroutine blocked in NextReader"
}

func (wsSessions) ServeSessions(ln net.Listener) (harness.SessionServer, error) {
	s := &wsSessionServer{tracker: newSessionTracker(), serveDone: make(chan struct{})}
	up := &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s.srv = &http.Server{
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          discardLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.tracker.begin() {
				return
			}
			defer s.tracker.end()
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			if !s.tracker.add(c) {
				return
			}
			defer s.tracker.remove(c)
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}),
	}
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (wsSessions) DialSession(ctx context.Context, dial func(context.Context) (net.Conn, error)) (io.Closer, error) {
	d := &websocket.Dialer{
		NetDialContext:   func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		HandshakeTimeout: handshakeTimeout,
	}
	c, resp, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	return c, nil
}

type wsSessionServer struct {
	srv       *http.Server
	tracker   *sessionTracker
	serveDone chan struct{}
}

func (s *wsSessionServer) Established() int { return s.tracker.Established() }

func (s *wsSessionServer) Close() error {
	err := s.srv.Close()
	<-s.serveDone
	s.tracker.closeAll()
	return err
}
