package stream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/websocket"
)

// Authenticator maps a bearer token to a principal. An error rejects the session
// (UNAUTHORIZED). The token is "" when the client sent none.
type Authenticator func(ctx context.Context, token string) (principal string, err error)

// ServerConfig configures a Server. A nil *ServerConfig means defaults.
type ServerConfig struct {
	// Session tunes every session (nil: defaults). Its Mux is ignored.
	Session *Config
	// WebSocket tunes the WebSocket transport (origin allow-list, buffers).
	WebSocket *websocket.Config
	// Authenticate, if set, must accept every session's token. nil: anonymous.
	Authenticate Authenticator
	// ResumeTTL is how long a resumable session whose transport was lost is
	// kept (parked) for its client to resume it (docs/RESUME.md). Clients ask
	// for resumable sessions in HELLO. Default 2 minutes; negative disables
	// resumption.
	ResumeTTL time.Duration
	// MaxParkedSessions caps the parked sessions; parking one more ends the
	// one parked longest. Default 1024.
	MaxParkedSessions int
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
}

// Server accepts sessions over WebSocket (as an http.Handler) or any transport
// (ServeConn) and routes their streams through its Mux.
type Server struct {
	mux      *Mux
	cfg      ServerConfig
	upgrader *websocket.Upgrader
	log      *slog.Logger

	mu            sync.Mutex
	sessions      map[*Session]struct{}
	draining      bool
	shutDown      bool // Shutdown has closed every session
	sessionsTotal int64
	ended         Stats                 // counters of sessions that have ended
	resumable     map[[32]byte]*Session // by SHA-256 of the resume token
	closedTokens  closedSessions        // resumable sessions closed on purpose
}

// NewServer returns a server routing through mux.
func NewServer(mux *Mux, cfg *ServerConfig) (*Server, error) {
	var c ServerConfig
	if cfg != nil {
		c = *cfg
	}
	if err := c.Session.Validate(); err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	ws := wsConfigFor(c.WebSocket, c.Session)
	if err := ws.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		mux:       mux,
		cfg:       c,
		upgrader:  websocket.NewUpgrader(ws),
		log:       c.Logger,
		sessions:  make(map[*Session]struct{}),
		resumable: make(map[[32]byte]*Session),
	}, nil
}

// Mux returns the server's handler registry.
func (srv *Server) Mux() *Mux { return srv.mux }

// ServeHTTP upgrades the request to a WebSocket and serves a session on it until
// it ends. A bearer token may come in the Authorization header (or the "token"
// query parameter, for browsers, which cannot set headers on a WebSocket).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv.mu.Lock()
	draining := srv.draining
	srv.mu.Unlock()
	if draining {
		http.Error(w, "streamd: shutting down", http.StatusServiceUnavailable)
		return
	}
	token := bearerToken(r)
	principal := ""
	if srv.cfg.Authenticate != nil && token != "" {
		p, err := srv.cfg.Authenticate(r.Context(), token)
		if err != nil {
			http.Error(w, "streamd: unauthorized", http.StatusUnauthorized)
			return
		}
		principal = p
	}
	conn, err := srv.upgrader.Upgrade(w, r, nil)
	if err != nil {
		srv.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader answered (403 for a foreign origin)
	}
	srv.serve(conn, principal, token != "")
}

func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("token")
}

// ServeConn serves a session over an established transport (for example a
// WebTransport stream or an in-memory pipe) until it ends. principal is what the
// transport already authenticated ("" if nothing: HELLO's auth is then checked).
func (srv *Server) ServeConn(conn transport.Conn, principal string) error {
	return srv.serve(conn, principal, principal != "")
}

func (srv *Server) serve(conn transport.Conn, principal string, authenticated bool) error {
	s, a, resumed, err := srv.accept(conn, principal, authenticated)
	if err != nil {
		srv.log.Debug("handshake failed", "remote", conn.RemoteAddr(), "err", err)
		return err
	}
	if !resumed {
		srv.mu.Lock()
		srv.sessions[s] = struct{}{}
		srv.sessionsTotal++
		draining, shutDown := srv.draining, srv.shutDown
		srv.mu.Unlock()
		switch {
		case shutDown: // Shutdown has already closed the sessions it saw
			s.shutdown(&ConnError{Code: CodeGoingAway, Reason: "server shut down"}, true)
		case draining: // finished its handshake while Shutdown ran
			s.GoAway(CodeGoingAway, "server shutting down") //nolint:errcheck // a dead session needs no GOAWAY
		}
	}
	select {
	case <-s.Done():
	case <-a.ended:
		if !s.isClosing() {
			return nil // parked, or resumed on another transport: the session lives on
		}
	}
	srv.finish(s)
	if err := s.Err(); err != nil && !isNormalClose(err) {
		return err
	}
	return nil
}

// finish waits for an ended session's goroutines and forgets it.
func (srv *Server) finish(s *Session) {
	s.Close()
	srv.mu.Lock()
	if _, ok := srv.sessions[s]; ok {
		delete(srv.sessions, s)
		addStats(&srv.ended, s.Stats())
	}
	srv.mu.Unlock()
}

func isNormalClose(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce) && (ce.Code == CodeNoError || ce.Code == CodeGoingAway)
}

// accept runs the server side of the handshake. It returns the session, the
// attachment serving conn, and whether an existing session was resumed.
func (srv *Server) accept(conn transport.Conn, principal string, authenticated bool) (*Session, *attachment, bool, error) {
	cfg := srv.cfg.Session.withDefaults()
	cfg.Mux = srv.mux
	cfg.Logger = srv.log
	s := newSession(conn, &cfg, false)
	fail := func(err error) (*Session, *attachment, bool, error) {
		var ce *ConnError
		if errors.As(err, &ce) && !ce.Remote {
			conn.WriteMessage(wire.Error{Code: ce.Code, Reason: truncate(ce.Reason, 1024)}.Append(nil)) //nolint:errcheck // best effort
		}
		conn.Close()
		s.cancel()
		return nil, nil, false, err
	}
	payload, err := readHandshakeFrame(conn, wire.TypeHello, cfg.HandshakeTimeout)
	if err != nil {
		return fail(err)
	}
	var h helloMsg
	if err := json.Unmarshal(payload, &h); err != nil {
		return fail(protoErr("handshake: HELLO: %v", err))
	}
	if !slices.Contains(h.Versions, ProtocolVersion) {
		return fail(&ConnError{Code: CodeUnsupportedVersion, Reason: fmt.Sprintf("client speaks %v, server %d", h.Versions, ProtocolVersion)})
	}
	if srv.cfg.Authenticate != nil && !authenticated {
		p, err := srv.cfg.Authenticate(context.Background(), h.Auth)
		if err != nil {
			return fail(&ConnError{Code: CodeUnauthorized, Reason: "authentication failed"})
		}
		principal = p
	}
	s.principal = principal
	if h.Resume != nil {
		s.cancel() // not used: an existing session is resumed
		old, a, err := srv.resume(conn, principal, &h)
		if err != nil {
			return fail(err)
		}
		return old, a, true, nil
	}
	common := commonAlgorithms(cfg.decodeAlgorithms(), h.Compression)
	if err := s.negotiate(h.MaxFrame, h.MaxMessage, common); err != nil {
		return fail(err)
	}
	s.id = randomID(16)
	w := welcomeMsg{
		Version:      ProtocolVersion,
		Session:      s.id,
		Compression:  common,
		MaxFrame:     s.maxFrame,
		MaxMessage:   s.maxMessage,
		Window:       cfg.StreamWindow,
		MaxStreams:   cfg.MaxStreams,
		PingInterval: int(cfg.PingInterval / time.Millisecond),
		Lanes:        h.Lanes && cfg.offersLanes(conn),
	}
	if w.Compression == nil {
		w.Compression = []string{}
	}
	if h.Resumable && srv.resumeTTL() > 0 {
		srv.makeResumable(s, &w)
	}
	frame, err := marshalFrame(wire.TypeWelcome, w)
	if err == nil {
		if err = conn.WriteMessage(frame); err != nil {
			err = &ConnError{Code: CodeInternal, Reason: "handshake: send WELCOME", Err: err}
		}
	}
	if err != nil {
		if s.rs != nil {
			srv.forgetResumable(s)
		}
		return fail(err)
	}
	a := s.start(w.Lanes)
	return s, a, false, nil
}

// randomID returns n random bytes, base64url-encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// NumSessions returns the number of live sessions.
func (srv *Server) NumSessions() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// Shutdown stops accepting sessions, sends GOAWAY on every session, waits until
// their streams have finished or ctx is done, then closes them all.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.draining = true
	srv.mu.Unlock()
	for _, s := range srv.snapshot() {
		if s.rs != nil && s.current() == nil {
			// Parked: nothing can drain without a transport.
			s.shutdown(&ConnError{Code: CodeGoingAway, Reason: "server shut down"}, false)
			continue
		}
		s.GoAway(CodeGoingAway, "server shutting down") //nolint:errcheck // a dead session needs no GOAWAY
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		busy := 0
		for _, s := range srv.snapshot() { // sessions finishing a handshake now get GOAWAY in serve
			if s.current() != nil {
				busy += s.NumStreams()
			}
		}
		if busy == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		}
	}
	srv.mu.Lock()
	srv.shutDown = true
	srv.mu.Unlock()
	for _, s := range srv.snapshot() {
		s.shutdown(&ConnError{Code: CodeGoingAway, Reason: "server shut down"}, true)
		srv.finish(s)
	}
	return err
}

func (srv *Server) snapshot() []*Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		out = append(out, s)
	}
	return out
}
