package websocket_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/websocket"
)

// benchMessage is the message size of the throughput benchmarks.
const benchMessage = 64 << 10

// Run with: go test -run x -bench . -benchtime 2s ./transport/websocket/
//
// Each benchmark moves b.N messages of 64 KiB over loopback in one direction, the writer and
// the reader in their own goroutines, and reports MB/s. TCP is the ceiling, Gorilla is
// gorilla/websocket used directly with the same buffer sizes as Conn, Conn is this package.

func BenchmarkTCP(b *testing.B) {
	transporttest.BenchDirections(b, tcpPair, func(b *testing.B, w, r net.Conn) {
		transporttest.BenchStream(b, w, r, benchMessage)
	})
}

// BenchmarkGorilla uses gorilla directly; the deadline variants set a write deadline before
// each message, as Conn does for Config.WriteTimeout, which costs a runtime timer update per
// frame.
func BenchmarkGorilla(b *testing.B) {
	for _, name := range []string{"c2s", "s2c", "c2s/deadline", "s2c/deadline"} {
		b.Run(name, func(b *testing.B) {
			client, server := gorillaPair(b)
			w, r := client, server
			if strings.HasPrefix(name, "s2c") {
				w, r = server, client
			}
			deadline := strings.HasSuffix(name, "deadline")
			msg, buf := make([]byte, benchMessage), make([]byte, benchMessage+1)
			transporttest.BenchRun(b, benchMessage, func() error {
				for range b.N {
					if deadline {
						w.SetWriteDeadline(time.Now().Add(websocket.DefaultWriteTimeout))
					}
					if err := w.WriteMessage(gws.BinaryMessage, msg); err != nil {
						return err
					}
				}
				return nil
			}, func() error {
				for range b.N {
					if err := readGorilla(r, buf); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

func BenchmarkConn(b *testing.B) {
	transporttest.BenchConns(b, benchMessage, func(b *testing.B) (transport.Conn, transport.Conn) {
		return connPair(b, "")
	})
}

// BenchmarkConnOverLink runs Conn through a LinkProxy emulating 50 ms RTT at 1 Gbit/s each
// way: the transport should fill the link (~119 MB/s).
func BenchmarkConnOverLink(b *testing.B) {
	target := newBenchServer(b)
	shape := transport.LinkShape{Latency: 25 * time.Millisecond, BytesPerSecond: 125_000_000}
	proxy, err := transport.NewLinkProxy("127.0.0.1:0", target.addr, transport.LinkConfig{Upstream: shape, Downstream: shape})
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	client, server := target.connect(b, proxy.Addr().String())
	transporttest.Bench(b, client, server, [][]byte{make([]byte, benchMessage)})
}

func tcpPair(b *testing.B) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func gorillaPair(b *testing.B) (*gws.Conn, *gws.Conn) {
	accepted := make(chan *gws.Conn, 1)
	up := gws.Upgrader{ReadBufferSize: rawBufferSize, WriteBufferSize: rawBufferSize}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			b.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}))
	b.Cleanup(srv.Close)
	d := gws.Dialer{ReadBufferSize: rawBufferSize, WriteBufferSize: rawBufferSize}
	client, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	server := <-accepted
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readGorilla reads one message into buf the way Conn does, without allocating.
func readGorilla(ws *gws.Conn, buf []byte) error {
	_, r, err := ws.NextReader()
	if err != nil {
		return err
	}
	for n := 0; ; {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// benchServer upgrades requests to Conns with the default Config.
type benchServer struct {
	addr     string
	accepted chan transport.Conn
}

func newBenchServer(b *testing.B) *benchServer {
	s := &benchServer{accepted: make(chan transport.Conn, 1)}
	up := websocket.NewUpgrader(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			b.Error(err)
			close(s.accepted)
			return
		}
		s.accepted <- c
	}))
	b.Cleanup(srv.Close)
	s.addr = strings.TrimPrefix(srv.URL, "http://")
	return s
}

// connect dials addr (the server itself or a proxy in front of it).
func (s *benchServer) connect(b *testing.B, addr string) (transport.Conn, transport.Conn) {
	client, resp, err := websocket.Dial(context.Background(), "ws://"+addr+"/", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	server := <-s.accepted
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func connPair(b *testing.B, via string) (transport.Conn, transport.Conn) {
	s := newBenchServer(b)
	if via == "" {
		via = s.addr
	}
	return s.connect(b, via)
}

// rawBufferSize sizes the raw gorilla baseline's buffers to the 64 KiB messages it sends.
const rawBufferSize = 64<<10 + 1<<10
