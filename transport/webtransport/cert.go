package webtransport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxClockSkew is the most a development certificate is backdated, for clients whose clock
// is a little behind.
const maxClockSkew = time.Hour

// devCert is one generated development certificate.
type devCert struct {
	cert  tls.Certificate
	hash  [32]byte  // SHA-256 of the DER certificate
	start time.Time // when it becomes the one in use
	until time.Time // NotAfter
}

// devCertificates generates development certificates and rotates them. Each is valid for
// validity in total and is in use for the first half of it (from its start), so it never
// serves close to its expiry; the next one is generated when the current one goes into use,
// so that its hash can be published a whole period ahead. Rotation happens lazily, on the
// first TLS handshake or CertInfo call after it is due: no timer, no goroutine. Safe for
// concurrent use.
type devCertificates struct {
	validity time.Duration
	period   time.Duration // validity / 2
	skew     time.Duration // backdating of NotBefore
	hosts    []string
	now      func() time.Time

	mu        sync.Mutex
	cur, next *devCert
}

func newDevCertificates(validity time.Duration, hosts []string) *devCertificates {
	all := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range hosts {
		if !slices.Contains(all, h) {
			all = append(all, h)
		}
	}
	return &devCertificates{
		validity: validity,
		period:   validity / 2,
		skew:     min(maxClockSkew, validity/8),
		hosts:    all,
		now:      time.Now,
	}
}

// current returns the certificate in use and the next one, rotating first if due.
func (d *devCertificates) current() (cur, next *devCert, err error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur != nil && now.Before(d.cur.start.Add(d.period)) && !now.Before(d.cur.start) {
		return d.cur, d.next, nil
	}
	switch {
	case d.next != nil && !now.Before(d.next.start) && now.Before(d.next.start.Add(d.period)):
		d.cur, d.next = d.next, nil // the regular rotation: the announced one takes over
	default:
		// First use, or idle for more than a period (or the clock jumped): start afresh.
		if d.cur, err = d.generate(now); err != nil {
			return nil, nil, err
		}
		d.next = nil
	}
	if d.next, err = d.generate(d.cur.start.Add(d.period)); err != nil {
		d.next = nil
		return nil, nil, err
	}
	return d.cur, d.next, nil
}

// getCertificate is the server's tls.Config.GetCertificate.
func (d *devCertificates) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur, _, err := d.current()
	if err != nil {
		return nil, err
	}
	return &cur.cert, nil
}

// generate makes a self-signed ECDSA P-256 certificate in use from start.
func (d *devCertificates) generate(start time.Time) (*devCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webtransport: development certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("webtransport: development certificate serial: %w", err)
	}
	notBefore := start.Add(-d.skew).Truncate(time.Second)
	notAfter := notBefore.Add(d.validity) // browsers: NotAfter - NotBefore ≤ 14 days
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "streamd development certificate"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range d.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("webtransport: development certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("webtransport: development certificate: %w", err)
	}
	return &devCert{
		cert:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		hash:  sha256.Sum256(der),
		start: start,
		until: notAfter,
	}, nil
}

// CertInfo describes a server's WebTransport certificate, as CertHashHandler serves it
// (JSON) for browsers to pass as serverCertificateHashes.
type CertInfo struct {
	// Algorithm is always "sha-256".
	Algorithm string `json:"algorithm"`
	// Value is the SHA-256 of the DER certificate in use, base64 (standard alphabet, padded).
	// Empty when the server uses production certificates: verify those the usual way.
	Value string `json:"value,omitempty"`
	// Next is the hash, in the same form, of the certificate that replaces it at the next
	// rotation. Passing both keeps a page's reconnects working across one rotation.
	Next string `json:"next,omitempty"`
	// NotAfter is when the certificate in use expires (development certificates only).
	NotAfter time.Time `json:"notAfter,omitzero"`
	// URL is the WebTransport endpoint, set by CertHashHandler from the request's host.
	URL string `json:"url,omitempty"`
}

// Hashes decodes Value and Next (those that are set), for Config.CertHashes. Each may be
// base64 (standard or URL alphabet, padded or not) or hex.
func (ci CertInfo) Hashes() ([][32]byte, error) {
	if ci.Algorithm != "sha-256" && ci.Algorithm != "" {
		return nil, fmt.Errorf("%w: certificate hash algorithm %q, want sha-256", ErrCertificate, ci.Algorithm)
	}
	var out [][32]byte
	for _, v := range []string{ci.Value, ci.Next} {
		if v == "" {
			continue
		}
		h, err := ParseCertHash(v)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ParseCertHash decodes a SHA-256 certificate hash written in hex (64 digits, colons
// allowed, as openssl prints it) or base64 (standard or URL alphabet, padded or not).
func ParseCertHash(s string) ([32]byte, error) {
	var h [32]byte
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(strings.ReplaceAll(s, ":", "")); err == nil && len(b) == 32 {
		copy(h[:], b)
		return h, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			copy(h[:], b)
			return h, nil
		}
	}
	return h, fmt.Errorf("%w: %q is not a SHA-256 hash in hex or base64", ErrCertificate, s)
}

// encodeHash is the form of CertInfo.Value.
func encodeHash(h [32]byte) string { return base64.StdEncoding.EncodeToString(h[:]) }
