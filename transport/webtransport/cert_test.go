package webtransport_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport/webtransport"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func TestDevCertificateRotation(t *testing.T) {
	const validity = 13 * 24 * time.Hour
	const period = validity / 2
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	certs := webtransport.NewDevCerts(validity, clock.Now)

	cur, next, h1, h2, err := certs.Current()
	require.NoError(t, err)
	require.NotEqual(t, h1, h2)
	require.Equal(t, sha256.Sum256(cur.Certificate[0]), h1)
	leaf := cur.Leaf
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok, "ECDSA key")
	require.Equal(t, elliptic.P256(), key.Curve)
	require.LessOrEqual(t, leaf.NotAfter.Sub(leaf.NotBefore), validity)
	require.Less(t, leaf.NotAfter.Sub(leaf.NotBefore), webtransport.MaxDevCertValidity)
	require.True(t, !t0.Before(leaf.NotBefore) && t0.Before(leaf.NotAfter))
	require.Contains(t, leaf.DNSNames, "localhost")
	require.NoError(t, leaf.VerifyHostname("127.0.0.1"))
	require.NoError(t, leaf.VerifyHostname("::1"))
	// The next one is valid by the time it goes into use.
	require.False(t, next.Leaf.NotBefore.After(t0.Add(period)))

	// Just before the rotation: unchanged.
	clock.Set(t0.Add(period - time.Second))
	_, _, g1, g2, err := certs.Current()
	require.NoError(t, err)
	require.Equal(t, [2][32]byte{h1, h2}, [2][32]byte{g1, g2})

	// At the rotation the announced certificate takes over and a new one is announced; the
	// old one was never served within a day of its expiry.
	clock.Set(t0.Add(period))
	cur2, _, g1, g3, err := certs.Current()
	require.NoError(t, err)
	require.Equal(t, h2, g1)
	require.NotEqual(t, h1, g3)
	require.NotEqual(t, h2, g3)
	require.Greater(t, leaf.NotAfter.Sub(t0.Add(period)), 24*time.Hour)
	require.True(t, !t0.Add(period).Before(cur2.Leaf.NotBefore) && t0.Add(period).Before(cur2.Leaf.NotAfter))

	// After a long idle time the certificates start afresh, valid now.
	later := t0.Add(10 * validity)
	clock.Set(later)
	cur3, _, g4, _, err := certs.Current()
	require.NoError(t, err)
	require.NotContains(t, [][32]byte{h1, h2, g3}, g4)
	require.True(t, !later.Before(cur3.Leaf.NotBefore) && later.Before(cur3.Leaf.NotAfter))
}

func TestVerifyPinnedRules(t *testing.T) {
	now := time.Now()
	ok := selfSigned(t, now.Add(-time.Hour), now.Add(13*24*time.Hour))
	okHash := sha256.Sum256(ok.Raw)
	require.NoError(t, webtransport.VerifyPinned([]*x509.Certificate{ok}, [][32]byte{{9}, okHash}, now))

	for name, tc := range map[string]struct {
		cert *x509.Certificate
		now  time.Time
	}{
		"NotPinned":    {selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour)), now},
		"Expired":      {ok, now.Add(14 * 24 * time.Hour)},
		"NotYetValid":  {ok, now.Add(-2 * time.Hour)},
		"LongValidity": {selfSigned(t, now.Add(-time.Hour), now.Add(20*24*time.Hour)), now},
	} {
		t.Run(name, func(t *testing.T) {
			hashes := [][32]byte{okHash}
			if name == "LongValidity" {
				hashes = append(hashes, sha256.Sum256(tc.cert.Raw))
			}
			require.ErrorIs(t, webtransport.VerifyPinned([]*x509.Certificate{tc.cert}, hashes, tc.now), webtransport.ErrCertificate)
		})
	}
	require.ErrorIs(t, webtransport.VerifyPinned(nil, [][32]byte{okHash}, now), webtransport.ErrCertificate)
}

func TestParseCertHash(t *testing.T) {
	want := sha256.Sum256([]byte("x"))
	info := webtransport.CertInfo{Algorithm: "sha-256"}
	for _, s := range []string{
		"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
		"2D:71:16:42:B7:26:B0:44:01:62:7C:A9:FB:AC:32:F5:C8:53:0F:B1:90:3C:C4:DB:02:25:87:17:92:1A:48:81",
		"LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=",
		"LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE",
	} {
		got, err := webtransport.ParseCertHash(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
		info.Value = s
		hashes, err := info.Hashes()
		require.NoError(t, err)
		require.Equal(t, [][32]byte{want}, hashes)
	}
	for _, s := range []string{"", "abcd", "not base64 at all!", "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSI=="} {
		_, err := webtransport.ParseCertHash(s)
		require.ErrorIs(t, err, webtransport.ErrCertificate, s)
	}
	_, err := webtransport.CertInfo{Algorithm: "sha-1", Value: "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="}.Hashes()
	require.ErrorIs(t, err, webtransport.ErrCertificate)
}

func selfSigned(t *testing.T, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}
