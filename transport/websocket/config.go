package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/streamd/streamd/transport"
)

// Defaults of Config.
const (
	// DefaultMaxMessageSize is the default Config.MaxMessageSize: 1 MiB of frames plus 4 KiB
	// for their headers.
	DefaultMaxMessageSize = transport.DefaultMaxMessageSize + 4<<10
	// DefaultBufferSize is the default Config.ReadBufferSize: frame headers and small
	// frames; message bodies larger than it are read straight into the message buffer
	// (bufio's bypass), so a small buffer costs nothing on bulk data and saves 60 KiB per
	// idle connection.
	DefaultBufferSize = 4 << 10
	// DefaultWriteBufferSize is the default Config.WriteBufferSize: a 64 KiB frame and its
	// header per write(2). 256 KiB buffers (a whole session batch per write) measured
	// 0.6-0.9x as fast in bench's throughput scenario: smaller writes let the reader
	// start sooner. Write buffers come from a pool and are held only while a message is
	// written, so idle conns hold none.
	DefaultWriteBufferSize = 64<<10 + 1<<10
	// DefaultHandshakeTimeout is the default Config.HandshakeTimeout.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout is the default Config.WriteTimeout.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultCloseTimeout is the default Config.CloseTimeout.
	DefaultCloseTimeout = time.Second
	// DefaultSubprotocol is the default Config.Subprotocol.
	DefaultSubprotocol = "streamd.v1"

	// maxMessageSizeCeiling is the largest MaxMessageSize accepted: 1 GiB.
	maxMessageSizeCeiling = 1 << 30
)

var (
	// ErrOriginNotAllowed is returned by Upgrade when the request's Origin is not allowed;
	// the client got HTTP 403.
	ErrOriginNotAllowed = errors.New("websocket: origin not allowed")
	// ErrSubprotocol is returned when the peer does not speak Config.Subprotocol: by Upgrade
	// (the client got HTTP 400) and by Dial.
	ErrSubprotocol = errors.New("websocket: subprotocol not negotiated")
	// ErrHandshake wraps any other failure of the opening handshake, from Dial or Upgrade.
	ErrHandshake = errors.New("websocket: handshake failed")
)

// Config configures Dial and NewUpgrader. The zero value (and a nil *Config) means defaults.
type Config struct {
	// MaxMessageSize is the largest message read (gorilla's read limit) or written, in bytes;
	// a larger one fails with transport.ErrMessageTooLarge and closes the Conn. Default 1 MiB +
	// 4 KiB.
	MaxMessageSize int64
	// ReadBufferSize and WriteBufferSize size gorilla's I/O buffers; WriteBufferSize is the
	// largest message written in one piece (one write(2)). Write buffers are pooled per size
	// and held only during a write. Defaults 4 KiB (read), 64 KiB + 1 KiB (write).
	ReadBufferSize, WriteBufferSize int
	// AllowedOrigins is the server's Origin allow-list. Empty: same origin only (the Origin
	// host must equal the request Host) or no Origin header (non-browser clients). An entry
	// is "*" (any origin), a full origin ("https://app.example.com") or a host with optional
	// port ("app.example.com:8443"); matching ignores case.
	AllowedOrigins []string
	// HandshakeTimeout bounds the opening handshake: all of it for Dial, writing the 101
	// response for Upgrade (the http.Server's ReadHeaderTimeout bounds reading the request).
	// Default 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each WriteMessage; a write that times out fails with
	// transport.ErrWriteTimeout and closes the Conn. Default 30 s.
	WriteTimeout time.Duration
	// CloseTimeout bounds how long Close waits to send its close frame (it waits behind a
	// frame being written) before it closes the socket anyway. Default 1 s.
	CloseTimeout time.Duration
	// Subprotocol is offered by Dial and required by Upgrade. Default "streamd.v1".
	Subprotocol string
	// TLSConfig is used by Dial for wss:// URLs; nil means Go's defaults.
	TLSConfig *tls.Config
	// NetDialContext, if set, makes Dial's TCP (or other) connection instead of
	// net.Dialer: through a link emulator, a proxy, or a test harness's network.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Validate checks the fields; errors match transport.ErrInvalidConfig. A nil Config is valid.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	switch {
	case c.MaxMessageSize < 0 || c.MaxMessageSize > maxMessageSizeCeiling:
		return invalid(fmt.Sprintf("MaxMessageSize %d is outside [0, %d]", c.MaxMessageSize, maxMessageSizeCeiling))
	case c.ReadBufferSize < 0 || c.WriteBufferSize < 0:
		return invalid("buffer sizes must not be negative")
	case c.HandshakeTimeout < 0 || c.WriteTimeout < 0 || c.CloseTimeout < 0:
		return invalid("timeouts must not be negative")
	case c.Subprotocol != "" && !isToken(c.Subprotocol):
		return invalid(fmt.Sprintf("Subprotocol %q is not an HTTP token", c.Subprotocol))
	}
	if _, err := transport.NewOriginPolicy(c.AllowedOrigins, false); err != nil {
		return err
	}
	return nil
}

func invalid(msg string) error {
	return fmt.Errorf("%w: websocket.Config: %s", transport.ErrInvalidConfig, msg)
}

// withDefaults returns a copy of c (nil allowed) with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.MaxMessageSize == 0 {
		d.MaxMessageSize = DefaultMaxMessageSize
	}
	if d.ReadBufferSize == 0 {
		d.ReadBufferSize = DefaultBufferSize
	}
	if d.WriteBufferSize == 0 {
		d.WriteBufferSize = DefaultWriteBufferSize
	}
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if d.WriteTimeout == 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.CloseTimeout == 0 {
		d.CloseTimeout = DefaultCloseTimeout
	}
	if d.Subprotocol == "" {
		d.Subprotocol = DefaultSubprotocol
	}
	return d
}

// isToken reports whether s is an HTTP token (RFC 7230), as a subprotocol must be.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
