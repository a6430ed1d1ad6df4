package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/websocket"
	"github.com/streamd/streamd/transport/webtransport"
)

// DialOptions configure Dial. A nil *DialOptions means defaults.
type DialOptions struct {
	// Config tunes the session (nil: defaults).
	Config *Config
	// WebSocket tunes the WebSocket transport (nil: defaults sized to the frame).
	WebSocket *websocket.Config
	// Header is sent with the WebSocket upgrade request.
	Header http.Header
	// Token is a bearer credential, sent as "Authorization: Bearer …" and in HELLO.
	Token string
	// Transport picks WebSocket or WebTransport (default: by URL scheme; see
	// TransportKind).
	Transport TransportKind
	// WebTransport tunes the WebTransport transport (nil: defaults sized to the
	// message; certificate hashes discovered when dialing a ws:// URL).
	WebTransport *webtransport.Config
}

// Dial connects to a streamd server at url (ws:// or wss:// for WebSocket,
// https:// for WebTransport; see DialOptions.Transport) and performs the
// handshake.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Session, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	conn, err := DialTransport(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	return Client(ctx, conn, opts.Config, opts.Token)
}

// wsConfigFor sizes the WebSocket buffers and read limit to the session's frame
// and message sizes unless the caller set them.
func wsConfigFor(ws *websocket.Config, cfg *Config) *websocket.Config {
	var out websocket.Config
	if ws != nil {
		out = *ws
	}
	c := cfg.withDefaults()
	if out.MaxMessageSize == 0 {
		out.MaxMessageSize = int64(c.MaxMessage) + 4096
	}
	return &out
}

// Client runs the client side of the handshake over an established transport
// and starts the session. token, if set, is sent in HELLO.
func Client(ctx context.Context, conn transport.Conn, cfg *Config, token string) (*Session, error) {
	return clientHandshake(ctx, conn, cfg, token, false)
}

// clientHandshake is Client; resumable asks the server for a resumable session
// (ReconnectingClient does).
func clientHandshake(ctx context.Context, conn transport.Conn, cfg *Config, token string, resumable bool) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		conn.Close()
		return nil, err
	}
	s := newSession(conn, cfg, true)
	hello := helloMsg{
		Versions:    []int{ProtocolVersion},
		Compression: s.cfg.decodeAlgorithms(),
		MaxFrame:    s.cfg.MaxFrame,
		MaxMessage:  s.cfg.MaxMessage,
		Window:      s.cfg.StreamWindow,
		Auth:        token,
		Client:      "streamd-go/1",
		Resumable:   resumable,
		Lanes:       s.cfg.offersLanes(conn),
	}
	if hello.Compression == nil {
		hello.Compression = []string{}
	}
	frame, err := marshalFrame(wire.TypeHello, hello)
	if err != nil {
		conn.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.WriteMessage(frame); err != nil {
		conn.Close()
		return nil, &ConnError{Code: CodeInternal, Reason: "handshake: send HELLO", Err: err}
	}
	payload, err := readHandshakeFrame(conn, wire.TypeWelcome, s.cfg.HandshakeTimeout)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	var w welcomeMsg
	if err := json.Unmarshal(payload, &w); err != nil {
		conn.Close()
		return nil, protoErr("handshake: WELCOME: %v", err)
	}
	if w.Version != ProtocolVersion {
		conn.Close()
		return nil, &ConnError{Code: CodeUnsupportedVersion, Reason: fmt.Sprintf("server chose version %d", w.Version)}
	}
	if err := s.negotiate(w.MaxFrame, w.MaxMessage, w.Compression); err != nil {
		conn.Close()
		return nil, err
	}
	s.id = w.Session
	s.peerMaxStreams = w.MaxStreams
	s.resumeToken = w.ResumeToken
	if resumable && w.ResumeToken != "" {
		s.rs = newSessionResume(w.ResumeToken, time.Duration(w.ResumeTTL)*time.Second)
		hello.Resumable = false
		s.rs.hello = hello
	}
	s.start(hello.Lanes && w.Lanes)
	return s, nil
}
