package webtransport_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/webtransport"
)

// benchMessage is the write size of the throughput benchmarks.
const benchMessage = 64 << 10

// Run with: go test -run x -bench . -benchtime 3s ./transport/webtransport/
//
// Each benchmark moves b.N writes of 64 KiB over loopback in one direction, the writer and
// the reader in their own goroutines, and reports MB/s. Raw is webtransport-go used directly
// (one bidirectional stream, io.ReadFull on the other end): the ceiling. Conn is this
// package (a length prefix per message, one message per write).

func BenchmarkRaw(b *testing.B) {
	newPair := func(b *testing.B) (io.ReadWriter, io.ReadWriter) { return rawPair(b) }
	transporttest.BenchDirections(b, newPair, func(b *testing.B, w, r io.ReadWriter) {
		transporttest.BenchStream(b, w, r, benchMessage)
	})
}

func BenchmarkConn(b *testing.B) {
	transporttest.BenchConns(b, benchMessage, func(b *testing.B) (transport.Conn, transport.Conn) {
		return benchPair(b)
	})
}

// BenchmarkRoundTrip is the latency of a small message there and back over one Conn.
func BenchmarkRoundTrip(b *testing.B) {
	client, server := benchPair(b)
	go func() {
		for {
			msg, err := server.ReadMessage()
			if err != nil {
				return
			}
			if server.WriteMessage(msg) != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if err := client.WriteMessage(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := client.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPair connects two Conns with the default Config over loopback.
func benchPair(b testing.TB) (transport.Conn, transport.Conn) {
	srv, err := webtransport.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan transport.Conn, 1)
	srv.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := srv.Upgrade(w, r)
		if err != nil {
			b.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}))
	pc := listen(b)
	go srv.Serve(pc) //nolint:errcheck // ends with Close
	b.Cleanup(func() { srv.Close(); pc.Close() })
	url := fmt.Sprintf("https://%s/", pc.LocalAddr())
	client, _, err := webtransport.Dial(context.Background(), url, nil, &webtransport.Config{CertHashes: srv.CertHashes()})
	if err != nil {
		b.Fatal(err)
	}
	server := <-accepted
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// rawPair is one webtransport-go bidirectional stream on loopback, both ends, with the
// same certificates and QUIC settings webtransport-go uses by default.
func rawPair(b testing.TB) (io.ReadWriter, io.ReadWriter) {
	srv, err := webtransport.NewServer(nil) // for its development certificate only
	if err != nil {
		b.Fatal(err)
	}
	tlsConf := &tls.Config{GetCertificate: webtransport.DevCertificateSource(srv)}
	wts := &wt.Server{
		H3: &http3.Server{
			TLSConfig:  http3.ConfigureTLSConfig(tlsConf),
			QUICConfig: &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
		},
	}
	accepted := make(chan *wt.Stream, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		sess, err := wts.Upgrade(w, r)
		if err != nil {
			b.Error(err)
			close(accepted)
			return
		}
		str, err := sess.AcceptStream(context.Background())
		if err != nil {
			b.Error(err)
			close(accepted)
			return
		}
		accepted <- str
	})
	wts.H3.Handler = mux
	pc := listen(b)
	go wts.Serve(pc) //nolint:errcheck // ends with Close
	b.Cleanup(func() { wts.Close(); pc.Close() })

	d := &wt.Transport{TLSClientConfig: webtransport.PinnedTLSConfig(srv.CertHashes())}
	_, sess, err := d.Dial(context.Background(), fmt.Sprintf("https://%s/", pc.LocalAddr()), nil)
	if err != nil {
		b.Fatal(err)
	}
	str, err := sess.OpenStreamSync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := str.Write(nil); err != nil { // sends the stream header
		b.Fatal(err)
	}
	server := <-accepted
	b.Cleanup(func() { sess.CloseWithError(0, "") })
	return str, server
}

func listen(b testing.TB) net.PacketConn {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return pc
}
