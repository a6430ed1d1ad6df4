package contenders

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/transport/webtransport"
)

func init() {
	// The raw baseline first, then streamd over it (in the same init, so
	// the order does not depend on file names). A variant of streamd over
	// WebTransport is one more StreamdWebTransport line here.
	RegisterStream(WebTransport())
	single := streamdConfig()
	single.DisableNativeStreams = true
	RegisterStream(StreamdWebTransport("streamd-wt",
		"streamd session over WebTransport, version 1 (DisableNativeStreams: the session on one QUIC stream), no compression",
		single, nil))
	RegisterStream(StreamdWebTransport("streamd-wt-native",
		"streamd session over WebTransport in native streams mode (the default: one QUIC stream per logical stream), no compression",
		streamdConfig(), nil))
}

// ErrNoPacketPath is returned by the Connect of a contender over UDP when the
// scenario's Env carries no UDP.
var ErrNoPacketPath = errors.New("contenders: the network path carries no UDP")

// udpContender marks a contender built with harness.NewMuxContender as one
// that runs over UDP.
type udpContender struct{ harness.Contender }

func (udpContender) OverUDP() bool { return true }

// WebTransport returns the raw webtransport-go contender: one WebTransport
// session over one QUIC connection, every stream its own bidirectional QUIC
// stream; the ceiling of anything built on WebTransport.
func WebTransport() harness.Contender {
	return udpContender{harness.NewMuxContender("webtransport",
		"raw quic-go/webtransport-go v0.13.0 (quic-go v0.62.0): one session, one bidirectional QUIC stream per stream, "+
			"streamd's QUIC settings, certificate pinned by hash",
		connectWebTransport)}
}

// wtQUICConfig is the QUIC configuration transport/webtransport uses (its
// quicConfig with the default timeouts), repeated here because the engine
// does not export it.
func wtQUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:             webtransport.DefaultHandshakeTimeout,
		MaxIdleTimeout:                   webtransport.DefaultIdleTimeout,
		KeepAlivePeriod:                  webtransport.DefaultIdleTimeout / 2,
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
	}
}

func connectWebTransport(ctx context.Context, env harness.Env) (harness.Mux, harness.Mux, error) {
	if !env.HasPackets() {
		return nil, nil, ErrNoPacketPath
	}
	cert, hash, err := selfSignedCertificate()
	if err != nil {
		return nil, nil, err
	}
	pc, err := env.ListenPacket()
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp: %w", err)
	}
	server := &wtServerMux{pc: pc, sessions: make(chan *wt.Session, 1), done: make(chan struct{}), serveDone: make(chan struct{})}
	handler := http.NewServeMux()
	server.wts = &wt.Server{
		H3: &http3.Server{
			TLSConfig:  http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}),
			QUICConfig: wtQUICConfig(),
			Handler:    handler,
		},
		CheckOrigin: func(*http.Request) bool { return true },
	}
	handler.HandleFunc("/bench", func(w http.ResponseWriter, r *http.Request) {
		sess, err := server.wts.Upgrade(w, r)
		if err != nil {
			return // the client's Dial fails
		}
		select {
		case server.sessions <- sess: // the session outlives this handler
		case <-server.done:
			_ = sess.CloseWithError(0, "")
		}
	})
	go func() {
		defer close(server.serveDone)
		_ = server.wts.Serve(pc)
	}()

	client, err := dialWebTransport(ctx, env, pc.LocalAddr(), hash)
	if err != nil {
		_ = server.Close()
		return nil, nil, err
	}
	select {
	case server.sess = <-server.sessions:
	case <-ctx.Done():
		_ = client.Close()
		_ = server.Close()
		return nil, nil, fmt.Errorf("webtransport upgrade: %w", ctx.Err())
	}
	return client, server, nil
}

// dialWebTransport opens a QUIC connection from a client packet socket and a
// WebTransport session on it.
func dialWebTransport(ctx context.Context, env harness.Env, addr net.Addr, hash [32]byte) (*wtClientMux, error) {
	cpc, err := env.ClientPacket()
	if err != nil {
		return nil, fmt.Errorf("client udp socket: %w", err)
	}
	c := &wtClientMux{pc: cpc, tr: &quic.Transport{Conn: cpc}}
	tlsConf := &tls.Config{
		NextProtos:         []string{http3.NextProtoH3},
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || sha256.Sum256(cs.PeerCertificates[0].Raw) != hash {
				return errors.New("webtransport contender: unexpected server certificate")
			}
			return nil
		},
	}
	if c.qc, err = c.tr.DialEarly(ctx, addr, tlsConf, wtQUICConfig()); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("quic dial: %w", err)
	}
	cc, err := (&wt.Transport{}).NewClientConn(c.qc)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	// The session lives in the context of its CONNECT request, which must
	// outlive the handshake; ctx bounds the handshake by closing the
	// connection instead.
	stop := context.AfterFunc(ctx, func() { _ = c.qc.CloseWithError(0, "") })
	_, sess, err := cc.Dial(context.WithoutCancel(ctx), fmt.Sprintf("https://%s/bench", addr), nil)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("webtransport dial: %w", err)
	}
	c.sess = sess
	return c, nil
}

type wtClientMux struct {
	pc   net.PacketConn
	tr   *quic.Transport
	qc   *quic.Conn
	sess *wt.Session
	once sync.Once
}

func (m *wtClientMux) Open(ctx context.Context) (io.ReadWriteCloser, error) {
	str, err := m.sess.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	// An empty write sends the stream header, so the server accepts the
	// stream before the first byte of data.
	if _, err := str.Write(nil); err != nil {
		str.CancelWrite(0)
		str.CancelRead(0)
		return nil, err
	}
	return str, nil
}

func (m *wtClientMux) Accept(context.Context) (io.ReadWriteCloser, error) {
	return nil, errors.New("webtransport contender: the client end does not accept streams")
}

func (m *wtClientMux) Close() error {
	m.once.Do(func() {
		if m.sess != nil {
			_ = m.sess.CloseWithError(0, "")
		}
		if m.qc != nil {
			_ = m.qc.CloseWithError(0, "")
		}
		_ = m.tr.Close()
		_ = m.pc.Close()
	})
	return nil
}

type wtServerMux struct {
	wts       *wt.Server
	pc        net.PacketConn
	sessions  chan *wt.Session
	sess      *wt.Session
	done      chan struct{}
	serveDone chan struct{}
	once      sync.Once
}

func (m *wtServerMux) Open(context.Context) (io.ReadWriteCloser, error) {
	return nil, errors.New("webtransport contender: the server end does not open streams")
}

func (m *wtServerMux) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	return m.sess.AcceptStream(ctx)
}

func (m *wtServerMux) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		if m.sess != nil {
			_ = m.sess.CloseWithError(0, "")
		}
		err = m.wts.Close()
		<-m.serveDone
		_ = m.pc.Close()
	})
	return err
}

// selfSignedCertificate is an ECDSA P-256 certificate valid for a day and
// its SHA-256, which the client pins.
func selfSignedCertificate() (tls.Certificate, [32]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, [32]byte{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, [32]byte{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, sha256.Sum256(der), nil
}
