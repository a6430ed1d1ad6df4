package webtransport

import (
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
	// for their headers, as for WebSocket.
	DefaultMaxMessageSize = transport.DefaultMaxMessageSize + 4<<10
	// DefaultHandshakeTimeout is the default Config.HandshakeTimeout.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout is the default Config.WriteTimeout.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultCloseTimeout is the default Config.CloseTimeout.
	DefaultCloseTimeout = 2 * time.Second
	// DefaultIdleTimeout is the default Config.IdleTimeout.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultDevCertValidity is the default Config.DevCertValidity: 13 days.
	DefaultDevCertValidity = 13 * 24 * time.Hour
	// MaxDevCertValidity bounds Config.DevCertValidity: browsers accept a certificate
	// through serverCertificateHashes only if it is valid for at most 14 days.
	MaxDevCertValidity = 14 * 24 * time.Hour

	// maxMessageSizeCeiling is the largest MaxMessageSize accepted: 1 GiB (the u32 length
	// prefix could say 4 GiB).
	maxMessageSizeCeiling = 1 << 30
	// minDevCertValidity is the smallest DevCertValidity accepted.
	minDevCertValidity = time.Minute
)

var (
	// ErrOriginNotAllowed is returned by Server.Upgrade when the request's Origin is not
	// allowed; the client got HTTP 403.
	ErrOriginNotAllowed = errors.New("webtransport: origin not allowed")
	// ErrHandshake wraps any other failure to establish a session, from Dial or
	// Server.Upgrade: the QUIC or TLS handshake, the CONNECT request, or the session stream
	// not arriving within Config.HandshakeTimeout.
	ErrHandshake = errors.New("webtransport: handshake failed")
	// ErrCertificate is returned by Dial (wrapped in ErrHandshake) when the server's
	// certificate matches none of Config.CertHashes, or is not acceptable for pinning.
	ErrCertificate = errors.New("webtransport: server certificate rejected")
)

// Config configures Dial and NewServer. The zero value (and a nil *Config) means defaults.
// Fields marked "server" or "client" are ignored by the other side.
type Config struct {
	// MaxMessageSize is the largest message read or written, in bytes; a larger one fails
	// with transport.ErrMessageTooLarge and ends the session. Default 1 MiB + 4 KiB.
	MaxMessageSize int64
	// AllowedOrigins (server) is the Origin allow-list, with the entry syntax of
	// websocket.Config.AllowedOrigins: "*", scheme://host[:port] or host[:port]. Empty:
	// origins on the same host name as the request, on any port and scheme (the page comes
	// from the HTTP listener, on another port than this UDP one), or no Origin header.
	AllowedOrigins []string
	// HandshakeTimeout bounds establishing a session: all of it for Dial (QUIC, TLS, CONNECT
	// and opening the session stream); for the server, the wait between accepting the
	// CONNECT request and the arrival of the client's session stream. Default 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each WriteMessage; a write that times out fails with
	// transport.ErrWriteTimeout and ends the session. Default 30 s.
	WriteTimeout time.Duration
	// CloseTimeout bounds how long a closed Conn lingers waiting for the peer's FIN before
	// it ends the session. Default 2 s.
	CloseTimeout time.Duration
	// IdleTimeout is QUIC's idle timeout: a connection that receives nothing for this long
	// is dead. QUIC keep-alives go out every IdleTimeout/2. Default 30 s.
	IdleTimeout time.Duration
	// TLSConfig, for Dial (client): root CAs, ServerName (nil: the system roots). For the
	// server: Certificates or GetCertificate for production; nil, or a config without
	// certificates, makes the server generate development certificates.
	TLSConfig *tls.Config
	// CertHashes (client) pins the server certificate: one whose SHA-256 (over its DER
	// bytes) is listed is accepted without CA verification, as browsers do for
	// serverCertificateHashes, provided it is currently valid for at most 14 days.
	CertHashes [][32]byte
	// DevCertValidity (server) is the lifetime of each generated development certificate.
	// Default 13 days; at most 14 days. A certificate is replaced once half of it has passed.
	DevCertValidity time.Duration
	// DevCertHosts (server) are the DNS names and IP addresses of development certificates,
	// in addition to "localhost", 127.0.0.1 and ::1.
	DevCertHosts []string
}

// Validate checks the fields; errors match transport.ErrInvalidConfig. A nil Config is valid.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	switch {
	case c.MaxMessageSize < 0 || c.MaxMessageSize > maxMessageSizeCeiling:
		return invalid(fmt.Sprintf("MaxMessageSize %d is outside [0, %d]", c.MaxMessageSize, maxMessageSizeCeiling))
	case c.HandshakeTimeout < 0 || c.WriteTimeout < 0 || c.CloseTimeout < 0 || c.IdleTimeout < 0:
		return invalid("timeouts must not be negative")
	case c.IdleTimeout != 0 && c.IdleTimeout < time.Second:
		return invalid(fmt.Sprintf("IdleTimeout %v is below 1s", c.IdleTimeout))
	case c.DevCertValidity != 0 && (c.DevCertValidity < minDevCertValidity || c.DevCertValidity > MaxDevCertValidity):
		return invalid(fmt.Sprintf("DevCertValidity %v is outside [%v, %v]", c.DevCertValidity, minDevCertValidity, MaxDevCertValidity))
	}
	for _, h := range c.DevCertHosts {
		if h == "" || (net.ParseIP(h) == nil && strings.ContainsAny(h, "/:@ ?#")) {
			return invalid(fmt.Sprintf("DevCertHosts entry %q is not a host name or IP address", h))
		}
	}
	if _, err := transport.NewOriginPolicy(c.AllowedOrigins, true); err != nil {
		return err
	}
	return nil
}

func invalid(msg string) error {
	return fmt.Errorf("%w: webtransport.Config: %s", transport.ErrInvalidConfig, msg)
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
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if d.WriteTimeout == 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.CloseTimeout == 0 {
		d.CloseTimeout = DefaultCloseTimeout
	}
	if d.IdleTimeout == 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	if d.DevCertValidity == 0 {
		d.DevCertValidity = DefaultDevCertValidity
	}
	return d
}
