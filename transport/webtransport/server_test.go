package webtransport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/webtransport"
)

func TestOriginPolicy(t *testing.T) {
	transporttest.RunOriginPolicy(t, transporttest.OriginPolicy{
		Cases: append(transporttest.OriginCases(),
			transporttest.OriginCase{Name: "SameHostOtherPortAndScheme", Origin: "http://127.0.0.1:8080", OK: true},
			transporttest.OriginCase{Name: "OtherHostSamePort", Origin: "SAMEPORT", OK: false},
		),
		Dial: func(t *testing.T, allowed []string, origin string) transporttest.OriginAttempt {
			srv := newServer(t, &webtransport.Config{AllowedOrigins: allowed})
			header := http.Header{}
			switch origin {
			case "":
			case "SAME":
				header.Set("Origin", strings.TrimSuffix(srv.url, "/wt"))
			case "SAMEPORT": // the server's port on another host
				header.Set("Origin", strings.Replace(strings.TrimSuffix(srv.url, "/wt"), "127.0.0.1", "localhost", 1))
			default:
				header.Set("Origin", origin)
			}
			c, resp, err := dial(t, srv.url, header, srv.pinned(nil))
			return transporttest.OriginAttempt{Conn: c, Resp: resp, Err: err, Server: srv.results.Next(t)}
		},
		ErrHandshake:        webtransport.ErrHandshake,
		ErrOriginNotAllowed: webtransport.ErrOriginNotAllowed,
	})
}

func TestCertificatePinning(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, nil)
	t.Run("WrongHash", func(t *testing.T) {
		_, _, err := dial(t, srv.url, nil, &webtransport.Config{CertHashes: [][32]byte{{1, 2, 3}}})
		require.ErrorIs(t, err, webtransport.ErrHandshake)
		require.ErrorIs(t, err, webtransport.ErrCertificate)
	})
	t.Run("NoPinNoCA", func(t *testing.T) {
		_, _, err := dial(t, srv.url, nil, nil) // the system roots do not know it
		require.ErrorIs(t, err, webtransport.ErrHandshake)
	})
	t.Run("CARootsWork", func(t *testing.T) {
		// The development certificate verifies like any other against a pool holding it.
		info, err := srv.CertInfo()
		require.NoError(t, err)
		require.NotEmpty(t, info.Value)
		pool := certPool(t, srv)
		_, _, err = dial(t, srv.url, nil, &webtransport.Config{TLSConfig: &tls.Config{RootCAs: pool}})
		require.NoError(t, err)
		require.NoError(t, srv.results.Next(t).Err)
	})
}

func TestHandshakeTimeout(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, &webtransport.Config{HandshakeTimeout: 200 * time.Millisecond})
	// A client that completes the CONNECT request but never opens the session stream.
	d := &wt.Transport{TLSClientConfig: webtransport.PinnedTLSConfig(srv.CertHashes())}
	_, sess, err := d.Dial(context.Background(), srv.url, nil)
	require.NoError(t, err)
	defer sess.CloseWithError(0, "")
	require.ErrorIs(t, srv.results.Next(t).Err, webtransport.ErrHandshake)
	select {
	case <-sess.Context().Done(): // the server ended the session
	case <-time.After(transporttest.DeadlockGuard):
		t.Fatal("session still open")
	}
}

func TestNotWebTransport(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, nil)
	tr := &http3.Transport{TLSClientConfig: webtransport.PinnedTLSConfig(srv.CertHashes())}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(srv.url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.ErrorIs(t, srv.results.Next(t).Err, webtransport.ErrHandshake)
}

func TestServerCloseEndsSessions(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, nil)
	client, _, err := dial(t, srv.url, nil, srv.pinned(nil))
	require.NoError(t, err)
	server := srv.results.Next(t).Conn
	read := transporttest.GoAsync(func() error { _, err := client.ReadMessage(); return err })
	require.NoError(t, srv.Close())
	require.ErrorIs(t, read.Wait(t, "client read after server Close"), transport.ErrPeerClosed)
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	_, _, err := webtransport.Dial(ctx, "http://127.0.0.1:1/", nil, nil)
	require.ErrorIs(t, err, webtransport.ErrHandshake)
	_, _, err = webtransport.Dial(ctx, "https://127.0.0.1:1/", nil, &webtransport.Config{WriteTimeout: -1})
	require.ErrorIs(t, err, transport.ErrInvalidConfig)
	// Nothing listens there: the handshake times out.
	_, _, err = webtransport.Dial(ctx, "https://127.0.0.1:9/", nil, &webtransport.Config{HandshakeTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, webtransport.ErrHandshake)
}

func TestConfigValidate(t *testing.T) {
	var nilCfg *webtransport.Config
	require.NoError(t, nilCfg.Validate())
	require.NoError(t, (&webtransport.Config{}).Validate())
	require.NoError(t, (&webtransport.Config{
		AllowedOrigins: []string{"*", "https://a.example", "b.example:81"},
		DevCertHosts:   []string{"dev.example", "10.0.0.1", "fe80::1"},
	}).Validate())
	for _, cfg := range []webtransport.Config{
		{MaxMessageSize: -1},
		{MaxMessageSize: 1 << 31},
		{HandshakeTimeout: -1},
		{WriteTimeout: -1},
		{CloseTimeout: -1},
		{IdleTimeout: -1},
		{IdleTimeout: time.Millisecond},
		{DevCertValidity: 15 * 24 * time.Hour},
		{DevCertValidity: time.Second},
		{DevCertHosts: []string{"a/b"}},
		{DevCertHosts: []string{""}},
		{AllowedOrigins: []string{"ftp://a.example"}},
	} {
		require.ErrorIs(t, cfg.Validate(), transport.ErrInvalidConfig, "%+v", cfg)
	}
	_, err := webtransport.NewServer(&webtransport.Config{CloseTimeout: -1})
	require.ErrorIs(t, err, transport.ErrInvalidConfig)
}

func TestCertHashHandlerAndDiscover(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, nil)
	info := httptest.NewServer(srv.CertHashHandler("/wt"))
	defer info.Close()

	got, err := webtransport.Discover(context.Background(), nil, info.URL)
	require.NoError(t, err)
	require.Equal(t, "sha-256", got.Algorithm)
	require.Equal(t, srv.url, got.URL)
	hashes, err := got.Hashes()
	require.NoError(t, err)
	require.Equal(t, srv.CertHashes(), hashes)
	require.Len(t, hashes, 2) // in use and next
	require.WithinDuration(t, time.Now().Add(webtransport.DefaultDevCertValidity), got.NotAfter, 2*time.Hour)

	c, _, err := dial(t, got.URL, nil, &webtransport.Config{CertHashes: hashes})
	require.NoError(t, err)
	require.NoError(t, srv.results.Next(t).Err)
	require.NotNil(t, c)

	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	_, err = webtransport.Discover(context.Background(), nil, notFound.URL)
	require.ErrorIs(t, err, webtransport.ErrDiscovery)
}

func TestProductionCertificates(t *testing.T) {
	transporttest.CheckGoroutines(t)
	// A server given certificates uses them and publishes no hash.
	dev := newServer(t, nil)
	cert, err := webtransport.DevCertificateSource(dev.Server)(nil)
	require.NoError(t, err)
	srv := newServer(t, &webtransport.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}})
	info, err := srv.CertInfo()
	require.NoError(t, err)
	require.Empty(t, info.Value)
	require.Nil(t, srv.CertHashes())
	_, _, err = dial(t, srv.url, nil, &webtransport.Config{TLSConfig: &tls.Config{RootCAs: certPool(t, dev)}})
	require.NoError(t, err)
	require.NoError(t, srv.results.Next(t).Err)
}

// certPool trusts the development certificate srv uses now.
func certPool(t *testing.T, srv *server) *x509.CertPool {
	t.Helper()
	cert, err := webtransport.DevCertificateSource(srv.Server)(nil)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return pool
}
