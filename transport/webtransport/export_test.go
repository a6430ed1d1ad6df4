package webtransport

import (
	"crypto/tls"
	"sync/atomic"
	"time"
)

// DevCertificateSource exposes a Server's development certificates (for the raw
// webtransport-go benchmarks, which use the same certificate).
func DevCertificateSource(s *Server) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.certs.getCertificate
}

// PinnedTLSConfig is the client TLS configuration Dial uses with Config.CertHashes.
func PinnedTLSConfig(hashes [][32]byte) *tls.Config {
	c := (&Config{CertHashes: hashes}).withDefaults()
	return clientTLSConfig(c, "127.0.0.1", new(atomic.Pointer[error]))
}

// DevCerts wraps devCertificates for tests of rotation with a fake clock.
type DevCerts struct{ d *devCertificates }

// NewDevCerts returns development certificates of the given validity whose clock is now.
func NewDevCerts(validity time.Duration, now func() time.Time) DevCerts {
	d := newDevCertificates(validity, nil)
	d.now = now
	return DevCerts{d}
}

// Current returns the certificate in use and the next one, with their hashes.
func (c DevCerts) Current() (cur, next *tls.Certificate, curHash, nextHash [32]byte, err error) {
	a, b, err := c.d.current()
	if err != nil {
		return nil, nil, curHash, nextHash, err
	}
	return &a.cert, &b.cert, a.hash, b.hash, nil
}

// VerifyPinned is the certificate check of Config.CertHashes.
var VerifyPinned = verifyPinned
