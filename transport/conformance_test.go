package transport_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/websocket"
)

// pairFunc returns two connected Conns whose writes are limited to maxMessage bytes. It
// registers their Close (and any server's) with t.Cleanup.
type pairFunc func(t *testing.T, maxMessage int) (a, b transport.Conn)

// transports lists every Conn implementation the conformance suite runs against.
func transports() map[string]pairFunc {
	return map[string]pairFunc{
		"Pipe":      pipePair,
		"WebSocket": webSocketPair,
		"FaultsLatency": faultPair(transport.FaultConfig{
			Latency: time.Millisecond, CutAfterBytes: 1 << 40,
		}),
		"FaultsBandwidth": faultPair(transport.FaultConfig{
			BytesPerSecond: 2 << 30, CutAfterMessages: 1 << 40,
		}),
		"FaultsOverWebSocket": func(t *testing.T, maxMessage int) (transport.Conn, transport.Conn) {
			a, b := webSocketPair(t, maxMessage)
			fa := transport.WithFaults(a, transport.FaultConfig{Latency: time.Millisecond})
			t.Cleanup(func() { fa.Close() })
			return fa, b
		},
	}
}

func pipePair(t *testing.T, maxMessage int) (transport.Conn, transport.Conn) {
	a, b := transport.Pipe(maxMessage)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func faultPair(cfg transport.FaultConfig) pairFunc {
	return func(t *testing.T, maxMessage int) (transport.Conn, transport.Conn) {
		a, b := transport.Pipe(maxMessage)
		fa, fb := transport.WithFaults(a, cfg), transport.WithFaults(b, cfg)
		t.Cleanup(func() { fa.Close(); fb.Close() })
		return fa, fb
	}
}

// webSocketPair connects a client and a server Conn over loopback through httptest.
func webSocketPair(t *testing.T, maxMessage int) (transport.Conn, transport.Conn) {
	cfg := &websocket.Config{MaxMessageSize: int64(maxMessage), CloseTimeout: 200 * time.Millisecond}
	return webSocketPairConfig(t, cfg, cfg, "")
}

// webSocketPairConfig connects through proxyAddr (host:port) when it is not empty.
func webSocketPairConfig(t *testing.T, clientCfg, serverCfg *websocket.Config, proxyAddr string) (transport.Conn, transport.Conn) {
	t.Helper()
	up := websocket.NewUpgrader(serverCfg)
	accepted := make(chan transport.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			close(accepted)
			return
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	if proxyAddr != "" {
		addr = proxyAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), transporttest.DeadlockGuard)
	defer cancel()
	client, resp, err := websocket.Dial(ctx, "ws://"+addr+"/", nil, clientCfg)
	require.NoError(t, err)
	resp.Body.Close()
	server, ok := <-accepted
	require.True(t, ok)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestConformance(t *testing.T) {
	const maxMessage = 1 << 20
	for name, newPair := range transports() {
		t.Run(name, func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) (transport.Conn, transport.Conn) {
				return newPair(t, maxMessage)
			}, transporttest.Options{
				MaxMessageSize: maxMessage,
				// A second empty message, and sizes just past WebSocket's 64 KiB buffers.
				Sizes: []int{0, 66560, 66574},
			})
		})
	}
}

// TestWebSocketThroughLinkProxy runs a WebSocket conversation over an emulated link with
// latency and a bandwidth cap in both directions.
func TestWebSocketThroughLinkProxy(t *testing.T) {
	transporttest.CheckGoroutines(t)

	up := websocket.NewUpgrader(nil)
	accepted := make(chan transport.Conn, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			accepted <- c
		}
	}))
	defer target.Close()
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", strings.TrimPrefix(target.URL, "http://"), transport.LinkConfig{
		Upstream:   transport.LinkShape{Latency: 3 * time.Millisecond, BytesPerSecond: 100 << 20},
		Downstream: transport.LinkShape{Latency: 2 * time.Millisecond, BytesPerSecond: 200 << 20},
	})
	require.NoError(t, err)
	defer proxy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), transporttest.DeadlockGuard)
	defer cancel()
	client, resp, err := websocket.Dial(ctx, "ws://"+proxy.Addr().String()+"/", nil, nil)
	require.NoError(t, err)
	resp.Body.Close()
	server := <-accepted
	defer server.Close()
	defer client.Close()

	sizes := []int{0, 1, 1 << 20, 65536, 300000, 17}
	ab := transporttest.GoAsync(func() error { return transporttest.SendAll(client, sizes) })
	ba := transporttest.GoAsync(func() error { return transporttest.SendAll(server, sizes) })
	transporttest.ReceiveAll(t, server, sizes)
	transporttest.ReceiveAll(t, client, sizes)
	require.NoError(t, ab.Wait(t, "client writer"))
	require.NoError(t, ba.Wait(t, "server writer"))

	// Cutting the link ends both sides with a peer-closed error.
	proxy.CutAll()
	_, err = client.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	_, err = server.ReadMessage()
	require.True(t, errors.Is(err, transport.ErrPeerClosed), "server read after cut: %v", err)
}
