package websocket_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/websocket"
)

const deadlockGuard = 15 * time.Second

// checkGoroutines fails the test if goroutines outlive its cleanups.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(deadlockGuard)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// upgraded is what the test server's handler got from Upgrade.
type upgraded struct {
	conn transport.Conn
	err  error
}

// server is an httptest server whose handler upgrades with cfg and reports each result.
type server struct {
	*httptest.Server
	results chan upgraded
}

func newServer(t *testing.T, cfg *websocket.Config) *server {
	t.Helper()
	up := websocket.NewUpgrader(cfg)
	s := &server{results: make(chan upgraded, 4)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		s.results <- upgraded{c, err}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/" }

func (s *server) next(t *testing.T) upgraded {
	t.Helper()
	select {
	case u := <-s.results:
		if u.conn != nil {
			t.Cleanup(func() { u.conn.Close() })
		}
		return u
	case <-time.After(deadlockGuard):
		t.Fatal("no request reached the server")
		return upgraded{}
	}
}

func dial(t *testing.T, url string, header http.Header, cfg *websocket.Config) (transport.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadlockGuard)
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
	cases := []struct {
		name    string
		allowed []string
		origin  string // "" = no Origin header; "SAME" = the server's own origin
		ok      bool
	}{
		{"NoOriginHeader", nil, "", true},
		{"SameOrigin", nil, "SAME", true},
		{"ForeignOrigin", nil, "http://evil.example", false},
		{"OpaqueOrigin", nil, "null", false},
		{"ListedOrigin", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"ListedOriginAnyCase", []string{"https://app.example.com"}, "https://APP.Example.com", true},
		{"ListedHostOtherScheme", []string{"https://app.example.com"}, "http://app.example.com", false},
		{"ListIsExclusive", []string{"https://app.example.com"}, "SAME", false},
		{"HostEntryWithPort", []string{"app.example.com:8443"}, "https://app.example.com:8443", true},
		{"HostEntryOtherPort", []string{"app.example.com:8443"}, "https://app.example.com", false},
		{"Wildcard", []string{"*"}, "http://anything.example", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			srv := newServer(t, &websocket.Config{AllowedOrigins: tc.allowed})
			header := http.Header{}
			switch tc.origin {
			case "":
			case "SAME":
				header.Set("Origin", srv.URL)
			default:
				header.Set("Origin", tc.origin)
			}
			c, resp, err := dial(t, srv.wsURL(), header, nil)
			got := srv.next(t)
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, got.err)
				require.NotNil(t, c)
				return
			}
			require.ErrorIs(t, err, websocket.ErrHandshake)
			require.NotNil(t, resp)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
			require.ErrorIs(t, got.err, websocket.ErrOriginNotAllowed)
		})
	}
}

func TestSubprotocol(t *testing.T) {
	t.Run("Negotiated", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := dial(t, srv.wsURL(), nil, nil)
		require.NoError(t, err)
		require.Equal(t, websocket.DefaultSubprotocol, resp.Header.Get("Sec-WebSocket-Protocol"))
		require.NoError(t, srv.next(t).err)
	})
	t.Run("ClientOffersAnother", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := dial(t, srv.wsURL(), nil, &websocket.Config{Subprotocol: "other.v2"})
		require.ErrorIs(t, err, websocket.ErrHandshake)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.next(t).err, websocket.ErrSubprotocol)
	})
	t.Run("ClientOffersNone", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		_, resp, err := gws.DefaultDialer.Dial(srv.wsURL(), nil)
		require.Error(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.next(t).err, websocket.ErrSubprotocol)
	})
	t.Run("ServerIgnoresIt", func(t *testing.T) {
		checkGoroutines(t)
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
	checkGoroutines(t)
	const limit = 1 << 20
	srv := newServer(t, &websocket.Config{MaxMessageSize: limit})
	client, _, err := dial(t, srv.wsURL(), nil, &websocket.Config{MaxMessageSize: 2 * limit})
	require.NoError(t, err)
	server := srv.next(t).conn
	require.Equal(t, limit, transport.MaxMessageSize(server))

	require.NoError(t, client.WriteMessage(make([]byte, limit))) // exactly the limit: fine
	msg, err := server.ReadMessage()
	require.NoError(t, err)
	require.Len(t, msg, limit)

	require.NoError(t, client.WriteMessage(make([]byte, limit/2), make([]byte, limit/2+1)))
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	// The sender learns why: the peer closed with 1009 (message too big).
	_, err = client.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
}

func TestProtocolErrors(t *testing.T) {
	t.Run("TextMessage", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		raw, resp, err := (&gws.Dialer{Subprotocols: []string{websocket.DefaultSubprotocol}}).Dial(srv.wsURL(), nil)
		require.NoError(t, err)
		resp.Body.Close()
		defer raw.Close()
		server := srv.next(t).conn
		require.NoError(t, raw.WriteMessage(gws.TextMessage, []byte("hello")))
		_, err = server.ReadMessage()
		require.ErrorIs(t, err, transport.ErrProtocol)
		_, _, err = raw.ReadMessage()
		var closeErr *gws.CloseError
		require.True(t, errors.As(err, &closeErr), "client got %v", err)
		require.Equal(t, gws.CloseUnsupportedData, closeErr.Code)
	})
	t.Run("UnmaskedClientFrame", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		raw, resp, err := (&gws.Dialer{Subprotocols: []string{websocket.DefaultSubprotocol}}).Dial(srv.wsURL(), nil)
		require.NoError(t, err)
		resp.Body.Close()
		defer raw.Close()
		server := srv.next(t).conn
		_, err = raw.NetConn().Write([]byte{0x82, 0x01, 'A'}) // binary frame without the client mask
		require.NoError(t, err)
		_, err = server.ReadMessage()
		require.ErrorIs(t, err, transport.ErrProtocol)
		require.ErrorIs(t, server.WriteMessage([]byte("x")), transport.ErrClosed)
	})
}

func TestWriteTimeoutClosesConn(t *testing.T) {
	checkGoroutines(t)
	srv := newServer(t, &websocket.Config{WriteTimeout: 100 * time.Millisecond, CloseTimeout: 100 * time.Millisecond})
	client, _, err := dial(t, srv.wsURL(), nil, nil)
	require.NoError(t, err)
	server := srv.next(t).conn

	// The client reads nothing, so the socket buffers fill and a write times out.
	msg := make([]byte, 1<<20)
	for err == nil {
		err = server.WriteMessage(msg)
	}
	require.ErrorIs(t, err, transport.ErrWriteTimeout)
	var netErr net.Error
	require.True(t, errors.As(err, &netErr) && netErr.Timeout())
	require.ErrorIs(t, server.WriteMessage([]byte("x")), transport.ErrClosed) // not half-alive
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	// The client drains what arrived and then sees the connection end.
	for err = nil; err == nil; {
		_, err = client.ReadMessage()
	}
	require.ErrorIs(t, err, transport.ErrPeerClosed)
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
		checkGoroutines(t)
		srv := newServer(t, &websocket.Config{MaxMessageSize: -1})
		_, resp, err := dial(t, srv.wsURL(), nil, nil)
		require.ErrorIs(t, err, websocket.ErrHandshake)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.ErrorIs(t, srv.next(t).err, transport.ErrInvalidConfig)
	})
	t.Run("NotWebSocket", func(t *testing.T) {
		checkGoroutines(t)
		srv := newServer(t, nil)
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.ErrorIs(t, srv.next(t).err, websocket.ErrHandshake)
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
	server := srv.next(t).conn
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
