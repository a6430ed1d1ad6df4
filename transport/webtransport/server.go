package webtransport

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
)

// Server is an HTTP/3 server on one UDP socket that accepts WebTransport sessions. Register
// handlers with Handle; a handler calls Upgrade to turn its CONNECT request into a
// transport.Conn. It is safe for concurrent use.
type Server struct {
	cfg     Config
	origins transport.OriginPolicy
	certs   *devCertificates // nil with production certificates
	mux     *http.ServeMux
	wts     *wt.Server

	mu   sync.Mutex
	addr net.Addr // set by Serve
}

// NewServer returns a Server for cfg (nil means defaults). Without certificates in
// cfg.TLSConfig it uses development certificates (see CertInfo).
func NewServer(cfg *Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	origins, _ := transport.NewOriginPolicy(c.AllowedOrigins, true) // checked by Validate
	s := &Server{cfg: c, origins: origins, mux: http.NewServeMux()}
	var tlsConf *tls.Config
	if c.TLSConfig != nil && (len(c.TLSConfig.Certificates) > 0 || c.TLSConfig.GetCertificate != nil ||
		c.TLSConfig.GetConfigForClient != nil) {
		tlsConf = c.TLSConfig.Clone()
	} else {
		s.certs = newDevCertificates(c.DevCertValidity, c.DevCertHosts)
		if _, _, err := s.certs.current(); err != nil { // fail now rather than at the first handshake
			return nil, err
		}
		tlsConf = &tls.Config{GetCertificate: s.certs.getCertificate}
	}
	tlsConf.MinVersion = tls.VersionTLS13 // QUIC requires it
	s.wts = &wt.Server{
		H3: &http3.Server{
			TLSConfig:  http3.ConfigureTLSConfig(tlsConf),
			QUICConfig: quicConfig(c),
			Handler:    s.mux,
		},
		// Upgrade checks the origin itself, to answer 403 with a typed error.
		CheckOrigin:       func(*http.Request) bool { return true },
		ReorderingTimeout: c.HandshakeTimeout,
	}
	return s, nil
}

// Handle registers h for requests matching pattern (an http.ServeMux pattern). Call it
// before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Serve accepts QUIC connections on pc until Close, then returns http.ErrServerClosed (or
// the error that stopped it). The caller closes pc after Serve returns.
func (s *Server) Serve(pc net.PacketConn) error {
	s.mu.Lock()
	s.addr = pc.LocalAddr()
	s.mu.Unlock()
	err := s.wts.Serve(pc)
	if errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) {
		return http.ErrServerClosed
	}
	return err
}

// ListenAndServe listens on the UDP address addr and serves until Close.
func (s *Server) ListenAndServe(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer pc.Close()
	return s.Serve(pc)
}

// Addr returns the address Serve listens on, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close closes every QUIC connection (ending their sessions) and stops Serve. It returns
// once every handler has returned, so handlers must return when their Conn fails.
func (s *Server) Close() error {
	return s.wts.Close()
}

// Upgrade accepts the WebTransport CONNECT request r and waits (at most
// Config.HandshakeTimeout) for the client to open the session stream. A foreign Origin gets
// HTTP 403 and ErrOriginNotAllowed; a request that is not a WebTransport CONNECT gets 400 and
// ErrHandshake. On error the response has been written; the caller only returns.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request) (transport.Conn, error) {
	if !s.origins.Allows(r.Header.Values("Origin"), r.Host) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return nil, fmt.Errorf("%w: %q for host %q", ErrOriginNotAllowed, r.Header.Get("Origin"), r.Host)
	}
	sess, err := s.wts.Upgrade(w, r)
	if err != nil {
		http.Error(w, "webtransport upgrade failed", http.StatusBadRequest)
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	ctx, cancel := context.WithTimeout(sess.Context(), s.cfg.HandshakeTimeout)
	defer cancel()
	str, err := sess.AcceptStream(ctx)
	if err != nil {
		sess.CloseWithError(codeHandshake, "no session stream") //nolint:errcheck // always nil
		return nil, fmt.Errorf("%w: waiting for the session stream: %w", ErrHandshake, err)
	}
	return newConn(sess, str, s.cfg), nil
}

// CertInfo describes the certificate in use (rotating it first if due). With production
// certificates only Algorithm is set.
func (s *Server) CertInfo() (CertInfo, error) {
	info := CertInfo{Algorithm: "sha-256"}
	if s.certs == nil {
		return info, nil
	}
	cur, next, err := s.certs.current()
	if err != nil {
		return info, err
	}
	info.Value, info.Next, info.NotAfter = encodeHash(cur.hash), encodeHash(next.hash), cur.until
	return info, nil
}

// CertHashes returns the hashes of the development certificate in use and of the next one,
// for Config.CertHashes of a Go client in the same process (nil with production certificates).
func (s *Server) CertHashes() [][32]byte {
	info, err := s.CertInfo()
	if err != nil {
		return nil
	}
	h, _ := info.Hashes()
	return h
}

// CertHashHandler serves CertInfo as JSON, with URL set to https://HOST:PORT+path where HOST
// is the request's host name and PORT the port Serve listens on. Mount it on the HTTP (TCP)
// listener, for example at /cert-hash, so pages can pass serverCertificateHashes. The hash
// is public; any origin may read it.
func (s *Server) CertHashHandler(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := s.CertInfo()
		if err != nil {
			http.Error(w, "certificate unavailable", http.StatusInternalServerError)
			return
		}
		if addr, ok := s.Addr().(*net.UDPAddr); ok {
			host := r.Host
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				host = h
			}
			info.URL = "https://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + path
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		json.NewEncoder(w).Encode(info) //nolint:errcheck // the client went away
	})
}
