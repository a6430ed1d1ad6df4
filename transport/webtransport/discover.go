package webtransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxCertInfoSize bounds the CertInfo document Discover reads.
const maxCertInfoSize = 64 << 10

// CertHashPath is where streamd serves CertHashHandler on its HTTP listener, and where
// clients that know only the WebSocket URL look for the WebTransport endpoint.
const CertHashPath = "/cert-hash"

// ErrDiscovery is returned by Discover when the server publishes no usable CertInfo.
var ErrDiscovery = errors.New("webtransport: endpoint discovery failed")

// Discover fetches the CertInfo a server publishes at infoURL (for example
// http://127.0.0.1:8080/cert-hash, see Server.CertHashHandler): the WebTransport URL and the
// hashes to pin with Config.CertHashes. A hash fetched over plain http:// is as trustworthy
// as the plain ws:// connection it stands in for, no more; fetch it over https:// when the
// WebSocket endpoint is wss://. client nil means http.DefaultClient.
func Discover(ctx context.Context, client *http.Client, infoURL string) (CertInfo, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, infoURL, nil)
	if err != nil {
		return CertInfo{}, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return CertInfo{}, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return CertInfo{}, fmt.Errorf("%w: GET %s: HTTP %d", ErrDiscovery, infoURL, resp.StatusCode)
	}
	var info CertInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCertInfoSize)).Decode(&info); err != nil {
		return CertInfo{}, fmt.Errorf("%w: GET %s: %w", ErrDiscovery, infoURL, err)
	}
	if info.URL == "" {
		return CertInfo{}, fmt.Errorf("%w: GET %s: no WebTransport URL (is WebTransport enabled?)", ErrDiscovery, infoURL)
	}
	if _, err := info.Hashes(); err != nil {
		return CertInfo{}, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	return info, nil
}
