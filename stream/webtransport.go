package stream

import (
	"net/http"
	"slices"

	"github.com/streamd/streamd/transport/webtransport"
)

// NewWebTransportServer returns a webtransport.Server (HTTP/3 on UDP) that serves this
// Server's sessions at path, as ServeHTTP does over WebSocket: same authentication (bearer
// token in the Authorization header or the "token" query parameter), same draining on
// Shutdown. cfg may be nil; its MaxMessageSize defaults to the session's MaxMessage + 4 KiB
// and its AllowedOrigins to the WebSocket allow-list. The caller runs Serve on a UDP socket
// and calls Close after Shutdown. Mount CertHashHandler at webtransport.CertHashPath on the
// HTTP listener so that browsers and DialTransport can find the endpoint and its certificate.
func (srv *Server) NewWebTransportServer(path string, cfg *webtransport.Config) (*webtransport.Server, error) {
	c := wtConfigFor(cfg, srv.cfg.Session)
	if len(c.AllowedOrigins) == 0 && srv.cfg.WebSocket != nil {
		c.AllowedOrigins = slices.Clone(srv.cfg.WebSocket.AllowedOrigins)
	}
	wts, err := webtransport.NewServer(c)
	if err != nil {
		return nil, err
	}
	wts.Handle(path, srv.webTransportHandler(wts))
	return wts, nil
}

// webTransportHandler upgrades WebTransport CONNECT requests and serves a session on each
// until it ends.
func (srv *Server) webTransportHandler(wts *webtransport.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		conn, err := wts.Upgrade(w, r)
		if err != nil {
			srv.log.Debug("webtransport upgrade failed", "remote", r.RemoteAddr, "err", err)
			return // Upgrade answered (403 for a foreign origin)
		}
		srv.serve(conn, principal, token != "") //nolint:errcheck // logged by the session
	})
}
