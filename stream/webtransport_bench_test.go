package stream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport/webtransport"
)

// BenchmarkWebTransport compares, on loopback and in one run: raw webtransport-go (one
// bidirectional stream, 64 KiB writes), a streamd session over WebTransport and one over
// WebSocket (one upload stream, 64 KiB writes, no compression), and the round trip of a
// small request over each. Run:
//
//	go test -run X -bench WebTransport -benchtime 3s ./stream/
func BenchmarkWebTransport(b *testing.B) {
	b.Run("throughput/raw-webtransport", benchRawWebTransport)
	b.Run("throughput/session-webtransport", func(b *testing.B) { benchSessionOver(b, "wt") })
	b.Run("throughput/session-webtransport-native", func(b *testing.B) { benchSessionOver(b, "wt-native") })
	b.Run("throughput/session-websocket", func(b *testing.B) { benchSessionOver(b, "ws") })
	b.Run("request-reply/webtransport", func(b *testing.B) { benchRequestOver(b, "wt") })
	b.Run("request-reply/webtransport-native", func(b *testing.B) { benchRequestOver(b, "wt-native") })
	b.Run("request-reply/websocket", func(b *testing.B) { benchRequestOver(b, "ws") })
}

// benchDial serves mux over both transports and dials the one named kind.
func benchDial(b *testing.B, mux *Mux, cfg *Config, kind string) *Session {
	switch kind {
	case "wt-native":
		kind = "wt" // the default
	case "wt":
		c := Config{}
		if cfg != nil {
			c = *cfg
		}
		c.DisableNativeStreams = true // version 1: the session on one QUIC stream
		cfg = &c
	}
	srv, err := NewServer(mux, &ServerConfig{Session: cfg})
	if err != nil {
		b.Fatal(err)
	}
	wts, err := srv.NewWebTransportServer("/streamd", nil)
	if err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go wts.Serve(pc) //nolint:errcheck // ends with Close
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); wts.Close(); pc.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	opts := &DialOptions{Config: cfg}
	if kind == "wt" {
		url = fmt.Sprintf("https://%s/streamd", pc.LocalAddr())
		opts.WebTransport = &webtransport.Config{CertHashes: wts.CertHashes()}
	}
	sess, err := Dial(context.Background(), url, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sess.Close() })
	return sess
}

func benchSessionOver(b *testing.B, kind string) {
	benchSessionOverCfg(b, kind, &Config{Compression: []string{"none"}})
}

func benchSessionOverCfg(b *testing.B, kind string, cfg *Config) {
	mux := NewMux()
	done := make(chan int64, 1)
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		n, err := io.CopyBuffer(io.Discard, st, make([]byte, benchMsg))
		done <- n
		return err
	})
	sess := benchDial(b, mux, cfg, kind)
	b.SetBytes(benchMsg)
	defer reportCPU(b)()
	b.ResetTimer()
	st, err := sess.Open(context.Background(), OpenOptions{Route: "up", Kind: Upload})
	if err != nil {
		b.Fatal(err)
	}
	if err := writeN(st, int64(b.N)*benchMsg); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if n := <-done; n != int64(b.N)*benchMsg {
		b.Fatalf("received %d bytes, sent %d", n, int64(b.N)*benchMsg)
	}
	b.StopTimer()
	if s := sess.Stats(); s.MessagesOut > 0 {
		b.ReportMetric(float64(s.BytesOut)/float64(s.MessagesOut), "B/msg")
	}
}

func benchRequestOver(b *testing.B, kind string) {
	mux := NewMux()
	mux.HandleRequest("echo", func(_ context.Context, _ *Session, data []byte) ([]byte, error) { return data, nil })
	sess := benchDial(b, mux, nil, kind)
	msg := make([]byte, 64)
	ctx := context.Background()
	defer reportCPU(b)()
	b.ResetTimer()
	for range b.N {
		if _, err := sess.Request(ctx, "echo", msg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRawWebTransport writes b.N × 64 KiB on one webtransport-go stream and reads them
// on the other side with io.ReadFull: the ceiling of a session over WebTransport.
func benchRawWebTransport(b *testing.B) {
	cert, hash := benchCertificate(b)
	wts := &wt.Server{H3: &http3.Server{TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}})}}
	accepted := make(chan *wt.Stream, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		sess, err := wts.Upgrade(w, r)
		if err != nil {
			close(accepted)
			return
		}
		str, err := sess.AcceptStream(context.Background())
		if err != nil {
			close(accepted)
			return
		}
		accepted <- str
	})
	wts.H3.Handler = mux
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go wts.Serve(pc) //nolint:errcheck // ends with Close
	defer func() { wts.Close(); pc.Close() }()

	pinned := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		if sha256.Sum256(cs.PeerCertificates[0].Raw) != hash {
			return fmt.Errorf("unexpected certificate")
		}
		return nil
	}}
	_, sess, err := (&wt.Transport{TLSClientConfig: pinned}).Dial(context.Background(), fmt.Sprintf("https://%s/", pc.LocalAddr()), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.CloseWithError(0, "") //nolint:errcheck // always nil
	str, err := sess.OpenStreamSync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := str.Write(nil); err != nil { // the stream header: the server accepts it
		b.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		b.Fatal("upgrade failed")
	}
	read := make(chan error, 1)
	b.SetBytes(benchMsg)
	defer reportCPU(b)()
	b.ResetTimer()
	go func() {
		buf := make([]byte, benchMsg)
		for range b.N {
			if _, err := io.ReadFull(server, buf); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	msg := make([]byte, benchMsg)
	for range b.N {
		if _, err := str.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// reportCPU returns a func, to defer, that reports the process CPU time (user + system) per
// op: on this shared 2-core machine wall time swings with other load, CPU time much less.
func reportCPU(b *testing.B) func() {
	before := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCertificate is a self-signed ECDSA certificate for 127.0.0.1 and its SHA-256.
func benchCertificate(b *testing.B) (tls.Certificate, [32]byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, sha256.Sum256(der)
}
