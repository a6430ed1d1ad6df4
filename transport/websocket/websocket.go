package websocket

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	gws "github.com/gorilla/websocket"

	"github.com/streamd/streamd/transport"
)

// Dial opens a WebSocket connection to url (ws:// or wss://), offering cfg.Subprotocol and
// sending header with the request. A nil cfg means defaults. The handshake is bounded by ctx
// and cfg.HandshakeTimeout. The *http.Response is the server's handshake response, also on
// a failed handshake when there was one (its body holds at most the first 1 KiB).
func Dial(ctx context.Context, url string, header http.Header, cfg *Config) (transport.Conn, *http.Response, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	c := cfg.withDefaults()
	d := gws.Dialer{
		Proxy:             http.ProxyFromEnvironment,
		TLSClientConfig:   c.TLSConfig,
		NetDialContext:    c.NetDialContext,
		HandshakeTimeout:  c.HandshakeTimeout,
		ReadBufferSize:    c.ReadBufferSize,
		WriteBufferSize:   c.WriteBufferSize,
		WriteBufferPool:   writeBufferPool(c.WriteBufferSize),
		Subprotocols:      []string{c.Subprotocol},
		EnableCompression: false,
	}
	ws, resp, err := d.DialContext(ctx, url, header)
	if err != nil {
		if resp != nil {
			return nil, resp, fmt.Errorf("%w: %s: HTTP %d: %w", ErrHandshake, url, resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrHandshake, url, err)
	}
	if ws.Subprotocol() != c.Subprotocol {
		ws.Close()
		return nil, resp, fmt.Errorf("%w: server chose %q, want %q", ErrSubprotocol, ws.Subprotocol(), c.Subprotocol)
	}
	return newConn(ws, c), resp, nil
}

// Upgrader turns HTTP requests into server-side Conns. It is safe for concurrent use.
type Upgrader struct {
	cfg     Config
	invalid error // cfg.Validate's error: every Upgrade fails with it
	origins transport.OriginPolicy
	up      gws.Upgrader
}

// NewUpgrader returns an Upgrader for cfg (nil means defaults). Check cfg.Validate first: an
// Upgrader built from an invalid Config answers every request with HTTP 500 and returns the
// validation error (matching transport.ErrInvalidConfig) from Upgrade.
func NewUpgrader(cfg *Config) *Upgrader {
	if err := cfg.Validate(); err != nil {
		return &Upgrader{invalid: err}
	}
	c := cfg.withDefaults()
	origins, _ := transport.NewOriginPolicy(c.AllowedOrigins, false) // checked by Validate
	u := &Upgrader{cfg: c, origins: origins}
	u.up = gws.Upgrader{
		HandshakeTimeout:  c.HandshakeTimeout,
		ReadBufferSize:    c.ReadBufferSize,
		WriteBufferSize:   c.WriteBufferSize,
		WriteBufferPool:   writeBufferPool(c.WriteBufferSize),
		Subprotocols:      []string{c.Subprotocol},
		CheckOrigin:       func(*http.Request) bool { return true }, // Upgrade checked it
		EnableCompression: false,
	}
	return u
}

// Upgrade upgrades the request to a WebSocket Conn. A request from a foreign Origin gets
// HTTP 403 and ErrOriginNotAllowed; a WebSocket request that does not offer the subprotocol
// gets HTTP 400 and ErrSubprotocol; any other handshake failure gets gorilla's HTTP error and
// ErrHandshake. On error the response has been written; the caller only returns.
// responseHeader (may be nil) is added to the 101 response, for cookies for example.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, responseHeader http.Header) (transport.Conn, error) {
	if u.invalid != nil {
		http.Error(w, "websocket endpoint misconfigured", http.StatusInternalServerError)
		return nil, u.invalid
	}
	if !u.origins.Allows(r.Header.Values("Origin"), r.Host) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return nil, fmt.Errorf("%w: %q for host %q", ErrOriginNotAllowed, r.Header.Get("Origin"), r.Host)
	}
	if gws.IsWebSocketUpgrade(r) && !slices.Contains(gws.Subprotocols(r), u.cfg.Subprotocol) {
		http.Error(w, "subprotocol "+u.cfg.Subprotocol+" required", http.StatusBadRequest)
		return nil, fmt.Errorf("%w: client offered %q, want %q", ErrSubprotocol, gws.Subprotocols(r), u.cfg.Subprotocol)
	}
	ws, err := u.up.Upgrade(w, r, responseHeader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return newConn(ws, u.cfg), nil
}

// writePools holds one write buffer pool per buffer size (gorilla requires that the
// conns sharing a pool use one WriteBufferSize).
var writePools sync.Map // int → *sync.Pool

func writeBufferPool(size int) gws.BufferPool {
	if p, ok := writePools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writePools.LoadOrStore(size, &sync.Pool{})
	return p.(*sync.Pool)
}
