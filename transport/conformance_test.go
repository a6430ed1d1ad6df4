package transport_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
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
	ctx, cancel := context.WithTimeout(context.Background(), deadlockGuard)
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
	for name, newPair := range transports() {
		t.Run(name, func(t *testing.T) { runConformance(t, newPair) })
	}
}

// runConformance checks the transport.Conn contract on the Conns newPair makes.
func runConformance(t *testing.T, newPair pairFunc) {
	const maxMessage = 1 << 20
	t.Run("MessagesKeepBoundariesAndOrder", func(t *testing.T) {
		checkGoroutines(t)
		a, b := newPair(t, maxMessage)
		sizes := []int{0, 1, 2, 7, 8, 125, 126, 127, 65535, 65536, 65537, 66560, 66574, 0, 4096, maxMessage - 1, maxMessage}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 6 {
			sizes = append(sizes, rng.IntN(maxMessage+1), rng.IntN(4096), rng.IntN(70000))
		}
		// Both directions at once: each side's writer runs while its reader drains the other.
		ab := goAsync(func() error { return sendAll(a, sizes) })
		ba := goAsync(func() error { return sendAll(b, sizes) })
		receiveAll(t, b, sizes)
		receiveAll(t, a, sizes)
		require.NoError(t, ab.wait(t, "a writer"))
		require.NoError(t, ba.wait(t, "b writer"))
	})

	t.Run("VectoredWriteIsOneMessageAndCopied", func(t *testing.T) {
		checkGoroutines(t)
		a, b := newPair(t, maxMessage)
		head, body, tail := []byte("head:"), payload(7, 70000), []byte(":tail")
		want := string(head) + string(body) + string(tail)
		require.NoError(t, a.WriteMessage(head, nil, body, []byte{}, tail))
		require.NoError(t, a.WriteMessage())                     // no parts: empty message
		require.NoError(t, a.WriteMessage(body, body[:0], body)) // parts may alias
		for i := range body {                                    // the caller may reuse parts
			body[i] = 0xEE
		}
		got, err := b.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, string(got))
		got, err = b.ReadMessage()
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = b.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, 2*70000, len(got))
		require.Equal(t, string(payload(7, 70000)), string(got[70000:]))
	})

	t.Run("CloseUnblocksRead", func(t *testing.T) {
		checkGoroutines(t)
		a, b := newPair(t, maxMessage)
		read := goAsync(func() error { _, err := b.ReadMessage(); return err })
		time.Sleep(20 * time.Millisecond) // let it block (the test holds either way)
		require.NoError(t, b.Close())
		require.ErrorIs(t, read.wait(t, "ReadMessage after Close"), transport.ErrClosed)
		_, err := b.ReadMessage()
		require.ErrorIs(t, err, transport.ErrClosed)
		require.ErrorIs(t, b.WriteMessage([]byte("x")), transport.ErrClosed)
		require.NoError(t, b.Close()) // idempotent

		// The peer sees the close on read, and its writes fail soon after.
		_, err = a.ReadMessage()
		require.ErrorIs(t, err, transport.ErrPeerClosed)
		require.ErrorIs(t, err, transport.ErrClosed)
		write := goAsync(func() error {
			for {
				if err := a.WriteMessage(make([]byte, 64<<10)); err != nil {
					return err
				}
			}
		})
		require.ErrorIs(t, write.wait(t, "writes to a closed peer"), transport.ErrClosed)
	})

	for _, who := range []string{"local", "peer"} {
		t.Run("CloseUnblocksWrite/"+who, func(t *testing.T) {
			checkGoroutines(t)
			a, b := newPair(t, maxMessage)
			var p progress
			msg := make([]byte, 256<<10)
			write := goAsync(func() error {
				for {
					if err := a.WriteMessage(msg); err != nil {
						return err
					}
					p.add()
				}
			})
			p.waitStalled(t, write.done) // b reads nothing: a's writes must block
			closer := a
			if who == "peer" {
				closer = b
			}
			require.NoError(t, closer.Close())
			err := write.wait(t, "blocked WriteMessage after Close")
			require.ErrorIs(t, err, transport.ErrClosed)
			if who == "peer" {
				require.ErrorIs(t, err, transport.ErrPeerClosed)
			}
		})
	}

	t.Run("CloseDeliversWrittenMessages", func(t *testing.T) {
		checkGoroutines(t)
		a, b := newPair(t, maxMessage)
		for i := range 3 {
			require.NoError(t, a.WriteMessage(payload(i, 1000*i)))
		}
		require.NoError(t, a.Close())
		for i := range 3 {
			got, err := b.ReadMessage()
			require.NoError(t, err)
			requirePayload(t, got, i, 1000*i)
		}
		_, err := b.ReadMessage()
		require.ErrorIs(t, err, transport.ErrPeerClosed)
	})

	t.Run("WriteTooLargeClosesConn", func(t *testing.T) {
		checkGoroutines(t)
		a, b := newPair(t, maxMessage)
		err := a.WriteMessage(make([]byte, maxMessage), []byte{1})
		require.ErrorIs(t, err, transport.ErrMessageTooLarge)
		require.ErrorIs(t, a.WriteMessage([]byte("small")), transport.ErrClosed)
		_, err = a.ReadMessage()
		require.ErrorIs(t, err, transport.ErrClosed)
		_, err = b.ReadMessage()
		require.ErrorIs(t, err, transport.ErrPeerClosed)
	})

	t.Run("Addrs", func(t *testing.T) {
		a, b := newPair(t, maxMessage)
		require.NotEmpty(t, a.LocalAddr().String())
		require.Equal(t, a.LocalAddr().String(), b.RemoteAddr().String())
		require.Equal(t, b.LocalAddr().String(), a.RemoteAddr().String())
	})
}

func sendAll(c transport.Conn, sizes []int) error {
	for i, size := range sizes {
		if err := c.WriteMessage(payload(i, size)); err != nil {
			return err
		}
	}
	return nil
}

func receiveAll(t *testing.T, c transport.Conn, sizes []int) {
	t.Helper()
	for i, size := range sizes {
		got, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		requirePayload(t, got, i, size)
	}
}

// TestWebSocketThroughLinkProxy runs a WebSocket conversation over an emulated link with
// latency and a bandwidth cap in both directions.
func TestWebSocketThroughLinkProxy(t *testing.T) {
	checkGoroutines(t)

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

	ctx, cancel := context.WithTimeout(context.Background(), deadlockGuard)
	defer cancel()
	client, resp, err := websocket.Dial(ctx, "ws://"+proxy.Addr().String()+"/", nil, nil)
	require.NoError(t, err)
	resp.Body.Close()
	server := <-accepted
	defer server.Close()
	defer client.Close()

	sizes := []int{0, 1, 1 << 20, 65536, 300000, 17}
	ab := goAsync(func() error { return sendAll(client, sizes) })
	ba := goAsync(func() error { return sendAll(server, sizes) })
	receiveAll(t, server, sizes)
	receiveAll(t, client, sizes)
	require.NoError(t, ab.wait(t, "client writer"))
	require.NoError(t, ba.wait(t, "server writer"))

	// Cutting the link ends both sides with a peer-closed error.
	proxy.CutAll()
	_, err = client.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	_, err = server.ReadMessage()
	require.True(t, errors.Is(err, transport.ErrPeerClosed), "server read after cut: %v", err)
}
