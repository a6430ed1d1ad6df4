package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/websocket"
	"github.com/streamd/streamd/transport/webtransport"
)

// TransportKind selects the transport Dial and DialTransport use.
type TransportKind string

// Transport kinds.
const (
	// TransportDefault picks by URL scheme: ws:// and wss:// → WebSocket, https:// →
	// WebTransport.
	TransportDefault TransportKind = ""
	// TransportWebSocket insists on WebSocket (a ws:// or wss:// URL).
	TransportWebSocket TransportKind = "ws"
	// TransportWebTransport insists on WebTransport: to an https:// URL, or to the endpoint
	// a ws:// or wss:// server publishes at webtransport.CertHashPath (discovery), whose
	// certificate hashes are then pinned unless DialOptions.WebTransport.CertHashes is set.
	TransportWebTransport TransportKind = "wt"
	// TransportAuto tries WebTransport (as TransportWebTransport, for at most 3 s) and falls
	// back to WebSocket when that fails and the URL is ws:// or wss://. An authentication
	// failure does not fall back.
	TransportAuto TransportKind = "auto"
)

// autoWebTransportTimeout bounds the WebTransport attempt of TransportAuto: where UDP is
// blocked, QUIC notices only by timing out.
const autoWebTransportTimeout = 3 * time.Second

// ParseTransportKind parses "ws", "wt", "auto" or "" (the default), for flags.
func ParseTransportKind(s string) (TransportKind, error) {
	k := TransportKind(strings.ToLower(strings.TrimSpace(s)))
	if !k.valid() {
		return "", fmt.Errorf("%w: transport %q (want ws, wt or auto)", ErrInvalidArgument, s)
	}
	return k, nil
}

func (k TransportKind) valid() bool {
	switch k {
	case TransportDefault, TransportWebSocket, TransportWebTransport, TransportAuto:
		return true
	}
	return false
}

// DialTransport opens the transport Dial would use for url and opts (opts.Transport, the
// URL scheme, the token and headers), without the session handshake. A
// ReconnectingClient reconnects over WebTransport with
// ReconnectConfig.Dial = func(ctx context.Context) (transport.Conn, error) { return DialTransport(ctx, url, opts) }.
func DialTransport(ctx context.Context, rawURL string, opts *DialOptions) (transport.Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	kind := opts.Transport
	if !kind.valid() {
		return nil, fmt.Errorf("%w: DialOptions.Transport %q (want ws, wt or auto)", ErrInvalidArgument, kind)
	}
	ws := strings.HasPrefix(rawURL, "ws://") || strings.HasPrefix(rawURL, "wss://")
	wt := strings.HasPrefix(rawURL, "https://")
	if !ws && (!wt || kind == TransportWebSocket) {
		want := "ws://, wss:// or https://"
		if kind == TransportWebSocket {
			want = "ws:// or wss://"
		}
		return nil, fmt.Errorf("%w: unsupported url scheme in %q (want %s)", ErrInvalidArgument, rawURL, want)
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if opts.Token != "" {
		header.Set("Authorization", "Bearer "+opts.Token)
	}
	switch {
	case kind == TransportWebSocket, kind == TransportDefault && ws:
		return dialWebSocket(ctx, rawURL, header, opts)
	case kind != TransportAuto:
		return dialWebTransport(ctx, rawURL, header, opts)
	}
	actx, cancel := context.WithTimeout(ctx, autoWebTransportTimeout)
	conn, err := dialWebTransport(actx, rawURL, header, opts)
	cancel()
	var ce *ConnError
	if err == nil || !ws || ctx.Err() != nil || (errors.As(err, &ce) && ce.Code == CodeUnauthorized) {
		return conn, err
	}
	opts.Config.withDefaults().Logger.Debug("WebTransport failed, falling back to WebSocket", "url", rawURL, "err", err)
	return dialWebSocket(ctx, rawURL, header, opts)
}

// dialWebSocket opens a WebSocket to a ws:// or wss:// URL.
func dialWebSocket(ctx context.Context, rawURL string, header http.Header, opts *DialOptions) (transport.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, rawURL, header, wsConfigFor(opts.WebSocket, opts.Config))
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, &ConnError{Code: CodeUnauthorized, Reason: resp.Status, Err: err}
		}
		return nil, err
	}
	return conn, nil
}

// dialWebTransport opens a WebTransport session to an https:// URL, or to the endpoint a
// ws:// or wss:// server publishes.
func dialWebTransport(ctx context.Context, rawURL string, header http.Header, opts *DialOptions) (transport.Conn, error) {
	cfg := wtConfigFor(opts.WebTransport, opts.Config)
	if !strings.HasPrefix(rawURL, "https://") {
		infoURL, err := certInfoURL(rawURL)
		if err != nil {
			return nil, err
		}
		info, err := webtransport.Discover(ctx, nil, infoURL)
		if err != nil {
			return nil, err
		}
		rawURL = info.URL
		if len(cfg.CertHashes) == 0 {
			cfg.CertHashes, _ = info.Hashes() // Discover checked them
		}
	}
	conn, resp, err := webtransport.Dial(ctx, rawURL, header, cfg)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, &ConnError{Code: CodeUnauthorized, Reason: resp.Status, Err: err}
		}
		return nil, err
	}
	return conn, nil
}

// certInfoURL maps a WebSocket URL to the server's CertInfo document: same host, http(s).
func certInfoURL(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: u.Host, Path: webtransport.CertHashPath}).String(), nil
}

// wtConfigFor sizes the WebTransport message limit to the session's message size unless
// the caller set it.
func wtConfigFor(wt *webtransport.Config, cfg *Config) *webtransport.Config {
	var out webtransport.Config
	if wt != nil {
		out = *wt
	}
	if out.MaxMessageSize == 0 {
		out.MaxMessageSize = int64(cfg.withDefaults().MaxMessage) + 4096
	}
	return &out
}
