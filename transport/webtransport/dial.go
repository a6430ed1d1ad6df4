package webtransport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
)

// quicCloseGrace is how long the client keeps its QUIC connection after its session ended,
// so that the WT_CLOSE_SESSION capsule (and its error code) leaves before CONNECTION_CLOSE,
// which would discard it.
const quicCloseGrace = 50 * time.Millisecond

// Dial opens a WebTransport session to url (https://host[:port]/path), sending header with
// the CONNECT request, and opens the session stream. A nil cfg means defaults. The whole
// handshake is bounded by ctx and cfg.HandshakeTimeout. The *http.Response is the server's
// answer to the CONNECT request, also on a refused one (status 403 for a foreign origin, for
// example); its Body may be closed (it is empty). Errors match ErrHandshake (and ErrCertificate when
// cfg.CertHashes rejected the server's certificate), or transport.ErrInvalidConfig.
func Dial(ctx context.Context, url string, header http.Header, cfg *Config) (transport.Conn, *http.Response, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	c := cfg.withDefaults()
	host, port, err := splitURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.HandshakeTimeout)
	defer cancel()

	var pinFailure atomic.Pointer[error]
	tlsConf := clientTLSConfig(c, host, &pinFailure)
	q, err := dialQUIC(ctx, host, port, tlsConf, quicConfig(c))
	if err != nil {
		if p := pinFailure.Load(); p != nil {
			err = *p
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrHandshake, url, err)
	}
	tr := &wt.Transport{}
	cc, err := tr.NewClientConn(q.conn)
	if err != nil {
		q.close()
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	// webtransport-go ties the session to the context of its CONNECT request, so that one
	// must outlive Dial; the handshake bound comes from closing the connection instead.
	stop := context.AfterFunc(ctx, q.close)
	resp, sess, err := cc.Dial(context.WithoutCancel(ctx), url, header)
	if err != nil {
		stop()
		q.close()
		if resp != nil {
			return nil, resp, fmt.Errorf("%w: %s: HTTP %d: %w", ErrHandshake, url, resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrHandshake, url, err)
	}
	// From here the QUIC connection lives as long as the session (plus a grace).
	context.AfterFunc(sess.Context(), func() { time.AfterFunc(quicCloseGrace, q.close) })
	str, err := sess.OpenStreamSync(ctx)
	if err == nil {
		// An empty write sends the WebTransport stream header, so the server learns of the
		// stream (and its Upgrade returns) before the first message.
		_, err = str.Write(nil)
	}
	if !stop() && err == nil {
		err = context.Cause(ctx) // the handshake ran out of time just now
	}
	if err != nil {
		sess.CloseWithError(codeHandshake, "opening the session stream failed") //nolint:errcheck // always nil
		return nil, resp, fmt.Errorf("%w: %s: open the session stream: %w", ErrHandshake, url, err)
	}
	// The response body is the CONNECT stream, which carries the session: closing it would
	// end the session, so the caller gets an empty one.
	resp.Body = http.NoBody
	return newConn(sess, str, c), resp, nil
}

// splitURL returns the host (without brackets) and port of an https:// URL.
func splitURL(raw string) (string, uint16, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, err
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", 0, fmt.Errorf("webtransport needs an https:// URL, got %q", raw)
	}
	port := uint64(443)
	if p := u.Port(); p != "" {
		if port, err = strconv.ParseUint(p, 10, 16); err != nil || port == 0 {
			return "", 0, fmt.Errorf("bad port in %q", raw)
		}
	}
	return u.Hostname(), uint16(port), nil
}

// clientQUIC is a dialed QUIC connection with the UDP socket it owns.
type clientQUIC struct {
	conn *quic.Conn
	tr   *quic.Transport
	udp  *net.UDPConn
}

// close closes the connection (H3_NO_ERROR), the QUIC transport and the socket.
func (q *clientQUIC) close() {
	q.conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "") //nolint:errcheck // closing
	q.tr.Close()                                                               //nolint:errcheck // closing
	q.udp.Close()                                                              //nolint:errcheck // closing
}

// dialQUIC resolves host and dials it from a UDP socket bound to the local address the
// kernel routes from, so that LocalAddr names it (not 0.0.0.0).
func dialQUIC(ctx context.Context, host string, port uint16, tlsConf *tls.Config, qconf *quic.Config) (*clientQUIC, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	raddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), port))
	probe, err := net.DialUDP("udp", nil, raddr) // connect(2) only picks the source address
	if err != nil {
		return nil, err
	}
	laddr := probe.LocalAddr().(*net.UDPAddr)
	probe.Close()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: laddr.IP, Zone: laddr.Zone})
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: udp}
	qc, err := tr.DialEarly(ctx, raddr, tlsConf, qconf)
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, err
	}
	return &clientQUIC{conn: qc, tr: tr, udp: udp}, nil
}

// quicConfig is the QUIC configuration of both sides. webtransport-go requires datagrams
// and partial-delivery resets to be enabled even though version 1 uses neither.
func quicConfig(c Config) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: c.HandshakeTimeout,
		MaxIdleTimeout:       c.IdleTimeout,
		KeepAlivePeriod:      c.IdleTimeout / 2,
		EnableDatagrams:      true,
		// Native streams mode opens a unidirectional stream per logical stream (lanes.go).
		MaxIncomingUniStreams:            4096,
		EnableStreamResetPartialDelivery: true,
	}
}

// clientTLSConfig returns the TLS configuration of Dial: cfg.TLSConfig (or defaults) with the
// h3 ALPN and, with cfg.CertHashes, certificate pinning instead of CA verification. A pinning
// failure is stored in failure, because the TLS stack reports it only as an alert.
func clientTLSConfig(c Config, host string, failure *atomic.Pointer[error]) *tls.Config {
	var conf *tls.Config
	if c.TLSConfig != nil {
		conf = c.TLSConfig.Clone()
	} else {
		conf = &tls.Config{}
	}
	conf.NextProtos = []string{http3.NextProtoH3}
	if conf.ServerName == "" {
		conf.ServerName = host
	}
	if len(c.CertHashes) > 0 {
		hashes := slices.Clone(c.CertHashes)
		conf.InsecureSkipVerify = true // replaced by the pin check below
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			err := verifyPinned(cs.PeerCertificates, hashes, time.Now())
			if err != nil {
				failure.Store(&err)
			}
			return err
		}
	}
	return conf
}

// verifyPinned applies the rules browsers apply to serverCertificateHashes: the leaf
// certificate's SHA-256 is listed, it is valid now, and valid for at most 14 days.
func verifyPinned(certs []*x509.Certificate, hashes [][32]byte, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: no certificate", ErrCertificate)
	}
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	switch {
	case !slices.Contains(hashes, sum):
		return fmt.Errorf("%w: SHA-256 %x is not pinned", ErrCertificate, sum)
	case now.Before(leaf.NotBefore) || now.After(leaf.NotAfter):
		return fmt.Errorf("%w: not valid now (valid %v to %v)", ErrCertificate, leaf.NotBefore, leaf.NotAfter)
	case leaf.NotAfter.Sub(leaf.NotBefore) > MaxDevCertValidity:
		return fmt.Errorf("%w: a pinned certificate must be valid for at most 14 days, this one for %v",
			ErrCertificate, leaf.NotAfter.Sub(leaf.NotBefore))
	}
	return nil
}
