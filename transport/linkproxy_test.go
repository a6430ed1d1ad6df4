package transport_test

import (
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
)

// tcpServer accepts connections on loopback and runs handle for each until closed.
type tcpServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newTCPServer(t *testing.T, handle func(net.Conn)) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &tcpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *tcpServer) addr() string { return s.ln.Addr().String() }

// echo copies everything back, then half-closes.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

func newProxy(t *testing.T, target string, cfg transport.LinkConfig) *transport.LinkProxy {
	t.Helper()
	p, err := transport.NewLinkProxy("127.0.0.1:0", target, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func TestLinkProxyForwardsBytesIntact(t *testing.T) {
	cases := map[string]transport.LinkConfig{
		"Unshaped": {},
		"Shaped": {
			Upstream:   transport.LinkShape{Latency: 3 * time.Millisecond, BytesPerSecond: 40 << 20},
			Downstream: transport.LinkShape{Latency: 2 * time.Millisecond, BytesPerSecond: 60 << 20},
		},
		"LatencyOnlySmallBuffer": {
			Upstream:    transport.LinkShape{Latency: time.Millisecond},
			Downstream:  transport.LinkShape{Latency: time.Millisecond},
			BufferBytes: 64 << 10,
		},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			transporttest.CheckGoroutines(t)
			target := newTCPServer(t, echo)
			proxy := newProxy(t, target.addr(), cfg)

			c, err := net.Dial("tcp", proxy.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			data := make([]byte, 3<<20)
			rand.Read(data)
			writer := transporttest.GoAsync(func() error {
				// Uneven writes so runs of every size cross the ring buffer's end.
				for off, step := 0, 1; off < len(data); step = step*7%100_003 + 1 {
					end := min(off+step, len(data))
					if _, err := c.Write(data[off:end]); err != nil {
						return err
					}
					off = end
				}
				return c.(*net.TCPConn).CloseWrite()
			})
			got, err := io.ReadAll(c) // until the echo's half-close comes through
			require.NoError(t, err)
			require.NoError(t, writer.Wait(t, "writer"))
			require.Equal(t, len(data), len(got))
			require.True(t, string(data) == string(got), "bytes differ")
			stats := proxy.Stats()
			require.Equal(t, transport.LinkStats{Accepted: 1, Upstream: int64(len(data)), Downstream: int64(len(data))}, stats)
		})
	}
}

func TestLinkProxyCutAfterBytesIsExact(t *testing.T) {
	transporttest.CheckGoroutines(t)
	received := make(chan int64, 1)
	target := newTCPServer(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c) // until the cut closes the socket
		received <- n
	})
	proxy := newProxy(t, target.addr(), transport.LinkConfig{
		CutAfterBytes: 100_000,
		Upstream:      transport.LinkShape{Latency: time.Millisecond},
	})
	c, err := net.Dial("tcp", proxy.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	writer := transporttest.GoAsync(func() error {
		chunk := make([]byte, 30_000)
		for {
			if _, err := c.Write(chunk); err != nil {
				return err
			}
		}
	})
	select {
	case n := <-received:
		require.Equal(t, int64(100_000), n)
	case <-time.After(transporttest.DeadlockGuard):
		t.Fatal("the target never saw the cut")
	}
	require.Error(t, writer.Wait(t, "writer after the cut")) // the client's socket was closed too
}

func TestLinkProxyCutAllThenReconnect(t *testing.T) {
	transporttest.CheckGoroutines(t)
	target := newTCPServer(t, echo)
	proxy := newProxy(t, target.addr(), transport.LinkConfig{Downstream: transport.LinkShape{Latency: time.Millisecond}})

	roundTrip := func(c net.Conn) error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	c1, err := net.Dial("tcp", proxy.Addr().String())
	require.NoError(t, err)
	defer c1.Close()
	require.NoError(t, roundTrip(c1))

	proxy.CutAll()
	_, err = c1.Read(make([]byte, 1))
	require.Error(t, err) // EOF or reset

	c2, err := net.Dial("tcp", proxy.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, roundTrip(c2))
	require.Equal(t, int64(2), proxy.Stats().Accepted)

	// Close cuts live connections too and is idempotent.
	require.NoError(t, proxy.Close())
	_, err = c2.Read(make([]byte, 1))
	require.Error(t, err)
	require.NoError(t, proxy.Close())
}

func TestLinkProxyRejectsBadConfig(t *testing.T) {
	for _, cfg := range []transport.LinkConfig{
		{Upstream: transport.LinkShape{Latency: -1}},
		{Downstream: transport.LinkShape{BytesPerSecond: -1}},
		{CutAfterBytes: -1},
		{BufferBytes: 100},
		{DialTimeout: -1},
		// 1 Gbit/s × 50 ms = 6.25 MB in flight: a 1 MiB buffer cannot hold it.
		{Upstream: transport.LinkShape{Latency: 50 * time.Millisecond, BytesPerSecond: 125_000_000}, BufferBytes: 1 << 20},
	} {
		_, err := transport.NewLinkProxy("127.0.0.1:0", "127.0.0.1:1", cfg)
		require.ErrorIs(t, err, transport.ErrInvalidConfig)
	}
}

func TestLinkProxyUnreachableTarget(t *testing.T) {
	transporttest.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	proxy := newProxy(t, dead, transport.LinkConfig{})
	c, err := net.Dial("tcp", proxy.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Read(make([]byte, 1)) // the proxy hangs up: EOF or reset
	require.Error(t, err)
}
