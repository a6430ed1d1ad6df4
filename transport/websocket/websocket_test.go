package websocket_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/websocket"
)

// server is an httptest server whose handler upgrades with cfg and reports each result.
type server struct {
	*httptest.Server
	results transporttest.Upgrades
}

func newServer(t *testing.T, cfg *websocket.Config) *server {
	t.Helper()
	up := websocket.NewUpgrader(cfg)
	s := &server{results: make(transporttest.Upgrades, 4)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		s.results <- transporttest.Upgraded{Conn: c, Err: err}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/" }

func dial(t *testing.T, url string, header http.Header, cfg *websocket.Config) (transport.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), transporttest.DeadlockGuard)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, header, cfg)
	if resp != nil {
		resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func TestOriginPolicy(t *testing.T) {
	transporttest.RunOriginPolicy(t, transporttest.OriginPolicy{
		Cases: append(transporttest.OriginCases(),
			transporttest.OriginCase{Name: "ListedOriginAnyCase", Allowed: []string{"https://app.example.com"}, Origin: "https://APP.Example.com", OK: true},
			transporttest.OriginCase{Name: "HostEntryOtherPort", Allowed: []string{"app.example.com:8443"}, Origin: "https://app.example.com", OK: false},
		),
		Dial: func(t *testing.T, allowed []string, origin string) transporttest.OriginAttempt {
			srv := newServer(t, &websocket.Config{AllowedOrigins: allowed})
			header := http.Header{}
			switch origin {
			case "":
			case "SAME":
				header.Set("Origin", srv.URL)
			default:
				header.Set("Origin", origin)
			}
			c, resp, err := dial(t, srv.wsURL(), header, nil)
			return transporttest.OriginAttempt{Conn: c, Resp: resp, Err: err, Server: srv.results.Next(t)}
		},
		ErrHandshake:        websocket.ErrHandshake,
		ErrOriginNotAllowed: websocket.ErrOriginNotAllowed,
	})
}

func TestSubprotocol(t *testing.T) {
	t.Run("Negotiated", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := dial(t, srv.wsURL(), nil, nil)
		require.NoError(t, err)
		require.Equal(t, websocket.DefaultSubprotocol, resp.Header.Get("Sec-WebSocket-Protocol"))
		require.NoError(t, srv.results.Next(t).Err)
	})
	t.Run("ClientOffersAnother", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := dial(t, srv.wsURL(), nil, &websocket.Config{Subprotocol: "other.v2"})
		require.ErrorIs(t, err, websocket.ErrHandshake)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.results.Next(t).Err, websocket.ErrSubprotocol)
	})
	t.Run("ClientOffersNone", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := gws.DefaultDialer.Dial(srv.wsURL(), nil)
		require.Error(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.results.Next(t).Err, websocket.ErrSubprotocol)
	})
	t.Run("ServerIgnoresIt", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		raw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := (&gws.Upgrader{}).Upgrade(w, r, nil); err == nil {
				c.Close()
			}
		}))
		defer raw.Close()
		_, _, err := dial(t, "ws"+strings.TrimPrefix(raw.URL, "http"), nil, nil)
		require.ErrorIs(t, err, websocket.ErrSubprotocol)
	})
}

func TestReadLimit(t *testing.T) {
	transporttest.CheckGoroutines(t)
	const limit = 1 << 20
	srv := newServer(t, &websocket.Config{MaxMessageSize: limit})
	client, _, err := dial(t, srv.wsURL(), nil, &websocket.Config{MaxMessageSize: 2 * limit})
	require.NoError(t, err)
	server := srv.results.Next(t).Conn
	// The sender learns why: the peer closed with 1009 (message too big).
	transporttest.RequireReadLimit(t, client, server, limit, false)
}

func TestProtocolErrors(t *testing.T) {
	t.Run("TextMessage", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		raw, server := rawClient(t, newServer(t, nil))
		require.NoError(t, raw.WriteMessage(gws.TextMessage, []byte("hello")))
		_, err := server.ReadMessage()
		require.ErrorIs(t, err, transport.ErrProtocol)
		_, _, err = raw.ReadMessage()
		var closeErr *gws.CloseError
		require.True(t, errors.As(err, &closeErr), "client got %v", err)
		require.Equal(t, gws.CloseUnsupportedData, closeErr.Code)
	})
	t.Run("UnmaskedClientFrame", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		raw, server := rawClient(t, newServer(t, nil))
		_, err := raw.NetConn().Write([]byte{0x82, 0x01, 'A'}) // binary frame without the client mask
		require.NoError(t, err)
		_, err = server.ReadMessage()
		require.ErrorIs(t, err, transport.ErrProtocol)
		require.ErrorIs(t, server.WriteMessage([]byte("x")), transport.ErrClosed)
	})
}

// rawClient dials srv with gorilla itself (offering the subprotocol), to send what Conn
// never sends, and returns that client and the server's Conn.
func rawClient(t *testing.T, srv *server) (*gws.Conn, transport.Conn) {
	t.Helper()
	raw, resp, err := (&gws.Dialer{Subprotocols: []string{websocket.DefaultSubprotocol}}).Dial(srv.wsURL(), nil)
	require.NoError(t, err)
	resp.Body.Close()
	server := srv.results.Next(t).Conn
	t.Cleanup(func() { raw.Close() }) // registered last so it runs first, as a defer did
	return raw, server
}

func TestWriteTimeoutClosesConn(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, &websocket.Config{WriteTimeout: 100 * time.Millisecond, CloseTimeout: 100 * time.Millisecond})
	client, _, err := dial(t, srv.wsURL(), nil, nil)
	require.NoError(t, err)
	server := srv.results.Next(t).Conn

	// The client reads nothing, so the socket buffers fill and a write times out; the client
	// drains what arrived and then sees the connection end.
	transporttest.RequireWriteTimeoutCloses(t, client, server)
}

func TestConfigValidate(t *testing.T) {
	var nilCfg *websocket.Config
	require.NoError(t, nilCfg.Validate())
	require.NoError(t, (&websocket.Config{}).Validate())
	require.NoError(t, (&websocket.Config{AllowedOrigins: []string{"*", "https://a.example", "b.example:81"}}).Validate())
	for _, cfg := range []websocket.Config{
		{MaxMessageSize: -1},
		{MaxMessageSize: 1 << 31},
		{ReadBufferSize: -1},
		{WriteBufferSize: -1},
		{HandshakeTimeout: -1},
		{WriteTimeout: -1},
		{CloseTimeout: -1},
		{Subprotocol: "two words"},
		{AllowedOrigins: []string{""}},
		{AllowedOrigins: []string{"ftp://a.example"}},
		{AllowedOrigins: []string{"https://a.example/path"}},
		{AllowedOrigins: []string{"a.example/path"}},
	} {
		require.ErrorIs(t, cfg.Validate(), transport.ErrInvalidConfig, "%+v", cfg)
	}
}

func TestBadRequests(t *testing.T) {
	t.Run("InvalidConfig", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		srv := newServer(t, &websocket.Config{MaxMessageSize: -1})
		_, resp, err := dial(t, srv.wsURL(), nil, nil)
		require.ErrorIs(t, err, websocket.ErrHandshake)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.ErrorIs(t, srv.results.Next(t).Err, transport.ErrInvalidConfig)
	})
	t.Run("NotWebSocket", func(t *testing.T) {
		transporttest.CheckGoroutines(t)
		srv := newServer(t, nil)
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.results.Next(t).Err, websocket.ErrHandshake)
		srv.CloseClientConnections()
	})
	t.Run("DialBadURL", func(t *testing.T) {
		_, _, err := websocket.Dial(context.Background(), "http://127.0.0.1:1/", nil, nil)
		require.ErrorIs(t, err, websocket.ErrHandshake)
		_, _, err = websocket.Dial(context.Background(), "ws://127.0.0.1:1/", nil, &websocket.Config{WriteTimeout: -1})
		require.ErrorIs(t, err, transport.ErrInvalidConfig)
	})
}

func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random: allocations are counted without -race")
	}
	srv := newServer(t, nil)
	client, _, err := dial(t, srv.wsURL(), nil, nil)
	require.NoError(t, err)
	server := srv.results.Next(t).Conn
	parts := [][]byte{make([]byte, 16), make([]byte, 64<<10)}
	roundTrip := func() {
		if err := client.WriteMessage(parts...); err != nil {
			t.Fatal(err)
		}
		if _, err := server.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // grows the read buffer once
	// The remaining allocations are gorilla's own (v1.5.3): the messageWriter of
	// NextWriter, the messageReader of NextReader, and boxing its writePoolData into
	// the write buffer pool on Put (the price of idle conns holding no write buffer).
	// The Conn adds none: its read buffer comes from bufpool and goes back to it.
	allocs := testing.AllocsPerRun(100, roundTrip)
	t.Logf("allocs per message: %v", allocs)
	require.LessOrEqual(t, allocs, 3.0)
}
