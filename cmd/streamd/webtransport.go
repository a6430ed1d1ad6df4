package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/transport/webtransport"
)

// wtServeFlags are the flags of streamd serve for WebTransport: --wt-addr enables it, on
// UDP; --tls-cert/--tls-key give a production certificate, without which a development
// certificate is generated and its hash published at /cert-hash.
type wtServeFlags struct {
	addr, certFile, keyFile string
}

func (w *wtServeFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&w.addr, "wt-addr", "", "UDP address to serve WebTransport (HTTP/3) on, e.g. 127.0.0.1:8443 (default: WebTransport off)")
	f.StringVar(&w.certFile, "tls-cert", "", "TLS certificate chain (PEM) for WebTransport; without it a development certificate valid for 13 days is generated, rotated, and its SHA-256 served at "+webtransport.CertHashPath)
	f.StringVar(&w.keyFile, "tls-key", "", "TLS private key (PEM) of --tls-cert")
}

// start serves srv's sessions over WebTransport when --wt-addr is set, and mounts the
// CertInfo document on the HTTP handler. stop closes the WebTransport server; call it after
// srv.Shutdown (which drains WebTransport sessions like WebSocket ones).
func (w *wtServeFlags) start(srv *stream.Server, handler *http.ServeMux, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	if w.addr == "" {
		if w.certFile != "" || w.keyFile != "" {
			return nil, errors.New("--tls-cert and --tls-key need --wt-addr")
		}
		return func() {}, nil
	}
	cfg := &webtransport.Config{}
	if w.certFile != "" || w.keyFile != "" {
		if w.certFile == "" || w.keyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(w.certFile, w.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	wts, err := srv.NewWebTransportServer(endpointPath, cfg)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp", w.addr)
	if err != nil {
		return nil, fmt.Errorf("--wt-addr: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- wts.Serve(pc) }()
	handler.Handle("GET "+webtransport.CertHashPath, wts.CertHashHandler(endpointPath))
	fmt.Fprintf(stdout, "webtransport on %s (udp)\n", pc.LocalAddr())
	info, _ := wts.CertInfo()
	certificate := "production"
	if info.Value != "" {
		certificate = "development, sha-256 " + info.Value
	}
	log.Info("streamd serving WebTransport", "endpoint", "https://"+pc.LocalAddr().String()+endpointPath,
		"certificate", certificate, "certHash", webtransport.CertHashPath)
	return func() {
		wts.Close() //nolint:errcheck // always nil
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("webtransport server", "err", err)
		}
		pc.Close()
	}, nil
}

// transportFlags are the client flags choosing the transport.
type transportFlags struct {
	transport, certHash string
}

func (t *transportFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&t.transport, "transport", "",
		"ws (WebSocket), wt (WebTransport: to an https:// --server, or to the endpoint a ws:// --server publishes at "+
			webtransport.CertHashPath+") or auto (WebTransport, falling back to WebSocket); default: by the scheme of --server")
	f.StringVar(&t.certHash, "cert-hash", "", "SHA-256 (hex or base64) of the server's WebTransport certificate to accept instead of CA verification (default: the one the server publishes, when discovered)")
}

// apply sets the transport choice on opts.
func (t *transportFlags) apply(opts *stream.DialOptions) error {
	kind, err := stream.ParseTransportKind(t.transport)
	if err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	opts.Transport = kind
	if t.certHash != "" {
		h, err := webtransport.ParseCertHash(t.certHash)
		if err != nil {
			return fmt.Errorf("--cert-hash: %w", err)
		}
		opts.WebTransport = &webtransport.Config{CertHashes: [][32]byte{h}}
	}
	return nil
}
