package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/webtransport"
)

// webTransportServer is a Server reachable over WebTransport on loopback, with its
// CertInfo on an httptest (TCP) server, as streamd serve mounts it.
type webTransportServer struct {
	srv     *Server
	wts     *webtransport.Server
	url     string // https://127.0.0.1:PORT/streamd
	httpURL string // the TCP listener: WebSocket at /streamd, CertInfo at /cert-hash
}

func newWebTransportServer(t *testing.T, srv *Server, cfg *webtransport.Config) *webTransportServer {
	t.Helper()
	if cfg == nil {
		// Short lingers keep the suite fast; sessions say goodbye with ERROR frames anyway.
		cfg = &webtransport.Config{CloseTimeout: 500 * time.Millisecond}
	}
	wts, err := srv.NewWebTransportServer("/streamd", cfg)
	require.NoError(t, err)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- wts.Serve(pc) }()
	mux := http.NewServeMux()
	mux.Handle("/streamd", srv)
	mux.Handle(webtransport.CertHashPath, wts.CertHashHandler("/streamd"))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		wts.Close()
		<-served
		pc.Close()
	})
	return &webTransportServer{
		srv: srv, wts: wts,
		url:     fmt.Sprintf("https://%s/streamd", pc.LocalAddr()),
		httpURL: hs.URL,
	}
}

// options pins the server's certificate.
func (w *webTransportServer) options(cfg *Config) *DialOptions {
	return &DialOptions{Config: cfg, WebTransport: &webtransport.Config{CertHashes: w.wts.CertHashes()}}
}

// webtransportEnv runs sessions over WebTransport version 1 (the session on one
// QUIC stream): both sides set DisableNativeStreams.
func webtransportEnv(t *testing.T, mux *Mux, scfg *ServerConfig) *testEnv {
	return wtEnv(t, mux, scfg, false)
}

// webtransportNativeEnv runs sessions over WebTransport in native streams mode
// (the default), and checks that every session it dials runs on lanes.
func webtransportNativeEnv(t *testing.T, mux *Mux, scfg *ServerConfig) *testEnv {
	return wtEnv(t, mux, scfg, true)
}

func wtEnv(t *testing.T, mux *Mux, scfg *ServerConfig, native bool) *testEnv {
	var sc ServerConfig
	if scfg != nil {
		sc = *scfg
	}
	var sess Config
	if sc.Session != nil {
		sess = *sc.Session
	}
	sess.DisableNativeStreams = !native
	sc.Session = &sess
	srv, err := NewServer(mux, &sc)
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	name := "webtransport"
	if native {
		name = "webtransport-native"
	}
	env := &testEnv{t: t, name: name, mux: mux, server: srv}
	env.dial = func(cfg *Config) (*Session, error) {
		var c Config
		if cfg != nil {
			c = *cfg
		}
		c.DisableNativeStreams = !native
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := Dial(ctx, w.url, w.options(&c))
		if err == nil && s.lanesOn.Load() != native {
			s.Close()
			t.Fatalf("lanes on: %v, want %v", s.lanesOn.Load(), native)
		}
		return s, err
	}
	return env
}

func echoMux() *Mux {
	m := NewMux()
	m.HandleRequest("echo", func(_ context.Context, _ *Session, data []byte) ([]byte, error) { return data, nil })
	return m
}

func TestWebTransportDialKinds(t *testing.T) {
	base := numGoroutines()
	t.Cleanup(func() { waitGoroutines(t, base) }) // runs after the servers' cleanups
	srv, err := NewServer(echoMux(), nil)
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	wsURL := "ws" + strings.TrimPrefix(w.httpURL, "http") + "/streamd"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name, url string
		kind      TransportKind
		pin       bool
		want      string // "udp" or "tcp": the transport the session ran on
	}{
		{"HTTPSIsWebTransport", w.url, TransportDefault, true, "udp"},
		{"WSIsWebSocket", wsURL, TransportDefault, false, "tcp"},
		{"WTDiscoversFromWS", wsURL, TransportWebTransport, false, "udp"},
		{"AutoPrefersWebTransport", wsURL, TransportAuto, false, "udp"},
		{"ForcedWebSocket", wsURL, TransportWebSocket, false, "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := &DialOptions{Transport: tc.kind}
			if tc.pin {
				opts = w.options(nil)
			}
			sess, err := Dial(ctx, tc.url, opts)
			require.NoError(t, err)
			defer sess.Close()
			reply, err := sess.Request(ctx, "echo", []byte("hi"))
			require.NoError(t, err)
			require.Equal(t, "hi", string(reply))
			require.Equal(t, tc.want, sess.conn.RemoteAddr().Network())
		})
	}

	_, err = Dial(ctx, w.url, &DialOptions{Transport: TransportWebSocket})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Dial(ctx, "ftp://x", &DialOptions{Transport: TransportAuto})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Dial(ctx, wsURL, &DialOptions{Transport: "quic"})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = ParseTransportKind("udp")
	require.ErrorIs(t, err, ErrInvalidArgument)
	k, err := ParseTransportKind(" WT ")
	require.NoError(t, err)
	require.Equal(t, TransportWebTransport, k)
}

func TestWebTransportAutoFallsBack(t *testing.T) {
	// A server without WebTransport: no CertInfo, so auto falls back to WebSocket at once.
	srv, err := NewServer(echoMux(), nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	sess, err := Dial(ctx, url, &DialOptions{Transport: TransportAuto})
	require.NoError(t, err)
	defer sess.Close()
	require.Equal(t, "tcp", sess.conn.RemoteAddr().Network())

	_, err = Dial(ctx, url, &DialOptions{Transport: TransportWebTransport})
	require.ErrorIs(t, err, webtransport.ErrDiscovery)
}

func TestWebTransportAuthentication(t *testing.T) {
	srv, err := NewServer(echoMux(), &ServerConfig{Authenticate: func(_ context.Context, token string) (string, error) {
		if token != "s3cret" {
			return "", ErrUnauthorized
		}
		return "alice", nil
	}})
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	opts := w.options(nil)
	opts.Token = "wrong"
	_, err = Dial(ctx, w.url, opts)
	var ce *ConnError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, CodeUnauthorized, ce.Code)
	// auto does not fall back to WebSocket after a refusal.
	opts.Transport = TransportAuto
	_, err = Dial(ctx, "ws"+strings.TrimPrefix(w.httpURL, "http")+"/streamd", opts)
	require.True(t, errors.As(err, &ce) && ce.Code == CodeUnauthorized, "got %v", err)

	opts = w.options(nil)
	opts.Token = "s3cret"
	sess, err := Dial(ctx, w.url, opts)
	require.NoError(t, err)
	defer sess.Close()
	_, err = sess.Request(ctx, "echo", nil)
	require.NoError(t, err)
}

func TestWebTransportDrainingRefuses(t *testing.T) {
	srv, err := NewServer(echoMux(), nil)
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	_, err = Dial(ctx, w.url, w.options(nil))
	require.ErrorIs(t, err, webtransport.ErrHandshake)
	require.Contains(t, err.Error(), "503")
}

func TestWebTransportIdleTimeout(t *testing.T) {
	srv, err := NewServer(echoMux(), &ServerConfig{Session: &Config{PingInterval: 20 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := webtransport.Dial(ctx, w.url, nil, &webtransport.Config{CertHashes: w.wts.CertHashes()})
	require.NoError(t, err)
	defer conn.Close()
	p := &rawPeer{t: t, conn: conn, lim: wire.Limits{MaxFrame: 64 << 10}}
	p.send(wire.Hello{JSON: []byte(`{"versions":[1],"maxFrame":65536,"maxMessage":1048576}`)}.Append(nil))
	h, _ := p.next()
	require.Equal(t, wire.TypeWelcome, h.Type)
	// The raw peer never answers PINGs: the server gives up with TIMEOUT, then the
	// WebTransport session ends.
	_, payload := p.expect(wire.TypeError)
	ef, err := wire.ParseError(wire.Header{Type: wire.TypeError, Length: uint32(len(payload))}, payload)
	require.NoError(t, err)
	require.Equal(t, CodeTimeout, ef.Code)
	for err == nil {
		_, err = conn.ReadMessage()
	}
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestWebTransportIdleTimeoutClientSide(t *testing.T) {
	// A server that completes the handshake, then goes silent (reads, never answers).
	wts, err := webtransport.NewServer(nil)
	require.NoError(t, err)
	wts.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wts.Upgrade(w, r)
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := c.ReadMessage(); err != nil {
			return
		}
		welcome := `{"version":1,"session":"x","compression":[],"maxFrame":65536,"maxMessage":1048576}`
		c.WriteMessage(wire.Welcome{JSON: []byte(welcome)}.Append(nil)) //nolint:errcheck // test peer
		for {
			if _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go wts.Serve(pc) //nolint:errcheck // ends with Close
	defer func() { wts.Close(); pc.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := webtransport.Dial(ctx, fmt.Sprintf("https://%s/", pc.LocalAddr()), nil, &webtransport.Config{CertHashes: wts.CertHashes()})
	require.NoError(t, err)
	sess, err := Client(ctx, conn, &Config{PingInterval: 20 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}, "")
	require.NoError(t, err)
	<-sess.Done()
	require.ErrorIs(t, sess.Err(), ErrTimeout)
	sess.Close()
}

// TestWebTransportResumeAcrossTransports cuts an upload's WebTransport session twice: the
// session resumes once over WebSocket (a client falling back) and once over WebTransport
// again, and the server receives every byte once.
func TestWebTransportResumeAcrossTransports(t *testing.T) {
	noLeaks(t)
	const size = 8 << 20
	data := randomData(size, 5)
	want := sha256.Sum256(data)
	sums := make(chan [32]byte, 1)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)
	wsURL := "ws" + strings.TrimPrefix(w.httpURL, "http") + "/streamd"

	var dials atomic.Int64
	var mu sync.Mutex
	var networks []string
	dial := func(ctx context.Context) (transport.Conn, error) {
		n := dials.Add(1)
		url := w.url // 1st and 3rd connection: WebTransport; the 2nd: WebSocket
		if n == 2 {
			url = wsURL
		}
		conn, err := DialTransport(ctx, url, w.options(resumeConfig()))
		if err != nil {
			return nil, err
		}
		mu.Lock()
		networks = append(networks, conn.RemoteAddr().Network())
		mu.Unlock()
		if n <= 2 { // cut the first two connections a third of the way through
			return transport.WithFaults(conn, transport.FaultConfig{CutAfterBytes: size / 3}), nil
		}
		return conn, nil
	}
	client, err := NewReconnectingClient(ReconnectConfig{
		Dial: dial, Options: &DialOptions{Config: resumeConfig()},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})
	require.NoError(t, err)
	require.NoError(t, client.Connect(t.Context()))
	t.Cleanup(func() {
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test teardown
	})
	sess := client.Session()
	st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
	require.NoError(t, err)
	_, err = io.Copy(st, bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, want, <-sums)
	require.Same(t, sess, client.Session(), "resumed, not replaced")
	require.EqualValues(t, 2, sess.Stats().Resumes)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"udp", "tcp", "udp"}, networks)
}

// TestWebTransportNativeResume: in native streams mode, four uploads at once
// survive two cuts of their WebTransport connection; every stream's OPEN and
// data travel on its own QUIC stream, and the resumed session runs on lanes
// again.
func TestWebTransportNativeResume(t *testing.T) {
	noLeaks(t)
	const size, streams = 4 << 20, 4
	cfg := resumeConfig() // native streams mode is the default
	sums := make(chan [32]byte, streams)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	srv, err := NewServer(mux, &ServerConfig{Session: cfg, Logger: quietLog()})
	require.NoError(t, err)
	w := newWebTransportServer(t, srv, nil)

	var dials atomic.Int64
	dial := func(ctx context.Context) (transport.Conn, error) {
		conn, err := DialTransport(ctx, w.url, w.options(cfg))
		if err != nil {
			return nil, err
		}
		if dials.Add(1) <= 2 { // cut the first two connections a third of the way through
			return transport.WithFaults(conn, transport.FaultConfig{CutAfterBytes: streams * size / 3}), nil
		}
		return conn, nil
	}
	client, err := NewReconnectingClient(ReconnectConfig{
		Dial: dial, Options: &DialOptions{Config: cfg},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})
	require.NoError(t, err)
	require.NoError(t, client.Connect(t.Context()))
	t.Cleanup(func() {
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test teardown
	})
	sess := client.Session()
	require.True(t, sess.lanesOn.Load(), "native streams mode negotiated")
	want := make(map[[32]byte]bool)
	errs := make(chan error, streams)
	for i := range streams {
		data := randomData(size, uint64(10+i))
		want[sha256.Sum256(data)] = true
		go func() {
			st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
			if err == nil {
				_, err = io.Copy(st, bytes.NewReader(data))
			}
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	for range streams {
		require.NoError(t, <-errs)
	}
	for range streams {
		sum := <-sums
		require.True(t, want[sum], "an upload arrived altered")
		delete(want, sum)
	}
	require.Same(t, sess, client.Session(), "resumed, not replaced")
	require.EqualValues(t, 2, sess.Stats().Resumes)
	require.True(t, sess.lanesOn.Load(), "still on lanes after the resumes")
}
