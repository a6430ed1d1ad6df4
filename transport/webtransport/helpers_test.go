package webtransport_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/webtransport"
)

// server is a webtransport.Server on loopback whose handler at /wt upgrades and reports each
// result, then holds the request until the Conn fails (as a real handler does).
type server struct {
	*webtransport.Server
	url     string
	results transporttest.Upgrades
}

func newServer(t *testing.T, cfg *webtransport.Config) *server {
	t.Helper()
	ws, err := webtransport.NewServer(cfg)
	require.NoError(t, err)
	s := &server{Server: ws, results: make(transporttest.Upgrades, 4)}
	ws.Handle("/wt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Upgrade(w, r)
		s.results <- transporttest.Upgraded{Conn: c, Err: err}
	}))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- ws.Serve(pc) }()
	t.Cleanup(func() {
		require.NoError(t, ws.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		pc.Close()
	})
	s.url = fmt.Sprintf("https://127.0.0.1:%d/wt", pc.LocalAddr().(*net.UDPAddr).Port)
	return s
}

// pinned returns cfg (nil allowed) with the server's certificate hashes pinned.
func (s *server) pinned(cfg *webtransport.Config) *webtransport.Config {
	var c webtransport.Config
	if cfg != nil {
		c = *cfg
	}
	c.CertHashes = s.CertHashes()
	return &c
}

func dial(t *testing.T, url string, header http.Header, cfg *webtransport.Config) (transport.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), transporttest.DeadlockGuard)
	defer cancel()
	c, resp, err := webtransport.Dial(ctx, url, header, cfg)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// pair connects a client and a server Conn with the same cfg on both sides.
func pair(t *testing.T, cfg *webtransport.Config) (client, server transport.Conn) {
	t.Helper()
	srv := newServer(t, cfg)
	client, _, err := dial(t, srv.url, nil, srv.pinned(cfg))
	require.NoError(t, err)
	u := srv.results.Next(t)
	require.NoError(t, u.Err)
	return client, u.Conn
}
