package webtransport_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
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
	for _, dir := range []string{"c2s", "s2c"} {
		b.Run(dir, func(b *testing.B) {
			client, server := rawPair(b)
			w, r := client, server
			if dir == "s2c" {
				w, r = server, client
			}
			msg, buf := make([]byte, benchMessage), make([]byte, benchMessage)
			run(b, func() error {
				for range b.N {
					if _, err := w.Write(msg); err != nil {
						return err
					}
				}
				return nil
			}, func() error {
				for range b.N {
					if _, err := io.ReadFull(r, buf); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

func BenchmarkConn(b *testing.B) {
	for _, dir := range []string{"c2s", "s2c"} {
		for _, vectored := range []bool{false, true} {
			name := dir
			if vectored {
				name += "/vectored"
			}
			b.Run(name, func(b *testing.B) {
				client, server := benchPair(b)
				w, r := client, server
				if dir == "s2c" {
					w, r = server, client
				}
				msg := make([]byte, benchMessage)
				parts := [][]byte{msg}
				if vectored {
					parts = [][]byte{msg[:16], msg[16:]} // a frame header and its payload
				}
				run(b, func() error {
					for range b.N {
						if err := w.WriteMessage(parts...); err != nil {
							return err
						}
					}
					return nil
				}, func() error {
					for range b.N {
						if _, err := r.ReadMessage(); err != nil {
							return err
						}
					}
					return nil
				})
			})
		}
	}
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

// run times write and read running concurrently, b.N messages each. Besides MB/s it reports
// cpu-ns/op, the process CPU time (user + system) per message.
func run(b *testing.B, write, read func() error) {
	b.SetBytes(benchMessage)
	b.ReportAllocs()
	cpuBefore := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() { defer wg.Done(); werr = write() }()
	rerr := read()
	wg.Wait()
	b.StopTimer()
	if werr != nil || rerr != nil {
		b.Fatalf("write: %v, read: %v", werr, rerr)
	}
	b.ReportMetric(float64(cpuTime()-cpuBefore)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time used by the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
