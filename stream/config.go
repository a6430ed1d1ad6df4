package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamd/streamd/stream/internal/compress"
)

// Config tunes a session. The zero value of every field means "use the default",
// which each field's comment states. A nil *Config means all defaults.
type Config struct {
	// MaxFrame is the largest application payload of one frame this side accepts
	// (and sends). Default 64 KiB. The negotiated value is the minimum of both sides.
	MaxFrame int
	// MaxMessage is the largest transport message this side accepts; the writer
	// packs frames up to it. Default 1 MiB.
	MaxMessage int
	// StreamWindow is the initial per-stream receive window. Default 256 KiB.
	StreamWindow int
	// MaxStreamWindow is the ceiling for window auto-tuning. Default 16 MiB.
	MaxStreamWindow int
	// FixedWindow turns window auto-tuning off.
	FixedWindow bool
	// ConnWindow caps the credit outstanding over all streams of the session (the
	// memory the peer can make this side buffer). Default 64 MiB.
	ConnWindow int
	// SendBuffer is how many bytes a Write may queue per stream before it blocks.
	// Default 256 KiB.
	SendBuffer int
	// ReplayBuffer caps the bytes a stream of a resumable session keeps after
	// sending them, until the peer acknowledges them (docs/RESUME.md). An
	// honest peer acknowledges within one receive window, so the cap only
	// matters against a peer that grants credit but never acknowledges; bytes
	// dropped for it become a gap error if the peer resumes from before them.
	// Stream.SetReplayBuffer overrides it per stream. Default 16 MiB.
	ReplayBuffer int
	// DisableNativeStreams turns native streams mode off. By default a session
	// offers (client) and accepts (server) it on transports that have lanes
	// (WebTransport): each stream's frames travel on its own QUIC stream, so a
	// packet lost on one stream stalls only that stream; with it off, the session
	// runs on one QUIC stream (version 1 framing), which on a clean loopback path
	// moves ~1.2x more per CPU. On WebSocket it changes nothing. The numbers
	// behind the default: docs/WEBTRANSPORT.md §7.
	DisableNativeStreams bool
	// MaxStreams is the most concurrent streams the peer may open. Default 1000.
	MaxStreams int
	// MaxQueuedControl caps queued control frames (PONG, ERROR, ...). A peer that
	// makes this side queue more ends the session with CONTROL_QUEUE_FULL. Default 1024.
	MaxQueuedControl int
	// MaxQueuedEvents caps received events waiting for delivery. Default 1024.
	MaxQueuedEvents int
	// MaxConcurrentRequests caps request handlers running at once; more get BUSY.
	// Default 256.
	MaxConcurrentRequests int
	// RequestTimeout is the default timeout of Request. Default 30 s.
	RequestTimeout time.Duration
	// HandshakeTimeout bounds the HELLO/WELCOME exchange. Default 10 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often a PING is sent. Default 15 s.
	PingInterval time.Duration
	// IdleTimeout ends a session that received nothing for this long. Default 45 s.
	IdleTimeout time.Duration
	// Compression lists the algorithms this side decodes and prefers to send, in
	// order: "zstd", "gzip". Default ["zstd", "gzip"]. Use []string{"none"} to disable.
	Compression []string
	// CompressThreshold is the smallest payload worth compressing. Default 512 B.
	CompressThreshold int
	// ZstdLevel and GzipLevel choose compression levels; 0 means the codec default
	// (zstd SpeedFastest, gzip BestSpeed).
	ZstdLevel int
	GzipLevel int
	// Mux holds the handlers for streams, requests and events the peer opens.
	// Servers take it from Server; clients may set it.
	Mux *Mux
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxFrame          = 64 << 10
	DefaultMaxMessage        = 1 << 20
	DefaultStreamWindow      = 256 << 10
	DefaultMaxStreamWindow   = 16 << 20
	DefaultConnWindow        = 64 << 20
	DefaultSendBuffer        = 256 << 10
	DefaultReplayBuffer      = 16 << 20
	DefaultMaxStreams        = 1000
	DefaultMaxQueuedControl  = 1024
	DefaultMaxQueuedEvents   = 1024
	DefaultMaxRequests       = 256
	DefaultRequestTimeout    = 30 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultPingInterval      = 15 * time.Second
	DefaultIdleTimeout       = 45 * time.Second
	DefaultCompressThreshold = 512
)

// minMaxFrame is the smallest MaxFrame a peer may announce.
const minMaxFrame = 1024

// withDefaults returns a copy of c with every zero field set to its default.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&out.MaxFrame, DefaultMaxFrame)
	setInt(&out.MaxMessage, DefaultMaxMessage)
	setInt(&out.StreamWindow, DefaultStreamWindow)
	setInt(&out.MaxStreamWindow, DefaultMaxStreamWindow)
	setInt(&out.ConnWindow, DefaultConnWindow)
	setInt(&out.SendBuffer, DefaultSendBuffer)
	setInt(&out.ReplayBuffer, DefaultReplayBuffer)
	setInt(&out.MaxStreams, DefaultMaxStreams)
	setInt(&out.MaxQueuedControl, DefaultMaxQueuedControl)
	setInt(&out.MaxQueuedEvents, DefaultMaxQueuedEvents)
	setInt(&out.MaxConcurrentRequests, DefaultMaxRequests)
	setInt(&out.CompressThreshold, DefaultCompressThreshold)
	setDur(&out.RequestTimeout, DefaultRequestTimeout)
	setDur(&out.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&out.PingInterval, DefaultPingInterval)
	setDur(&out.IdleTimeout, DefaultIdleTimeout)
	if out.Compression == nil {
		out.Compression = []string{"zstd", "gzip"}
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.MaxStreamWindow < out.StreamWindow {
		out.MaxStreamWindow = out.StreamWindow
	}
	return out
}

// Validate checks the fields against each other. Zero fields are valid (defaults).
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	d := c.withDefaults()
	var errs []error
	if d.MaxFrame < minMaxFrame || d.MaxFrame > 16<<20 {
		errs = append(errs, fmt.Errorf("MaxFrame %d outside [%d, 16 MiB]", d.MaxFrame, minMaxFrame))
	}
	if d.MaxMessage < d.MaxFrame+1024 {
		errs = append(errs, fmt.Errorf("MaxMessage %d must exceed MaxFrame %d by at least 1 KiB", d.MaxMessage, d.MaxFrame))
	}
	if d.StreamWindow < d.MaxFrame {
		errs = append(errs, fmt.Errorf("StreamWindow %d smaller than MaxFrame %d", d.StreamWindow, d.MaxFrame))
	}
	if d.ConnWindow < d.StreamWindow {
		errs = append(errs, fmt.Errorf("ConnWindow %d smaller than StreamWindow %d", d.ConnWindow, d.StreamWindow))
	}
	if d.ReplayBuffer < d.MaxFrame {
		errs = append(errs, fmt.Errorf("ReplayBuffer %d smaller than MaxFrame %d", d.ReplayBuffer, d.MaxFrame))
	}
	if d.SendBuffer < 1 || d.MaxStreams < 1 || d.MaxQueuedControl < 16 || d.MaxQueuedEvents < 1 || d.MaxConcurrentRequests < 1 {
		errs = append(errs, errors.New("SendBuffer, MaxStreams, MaxQueuedEvents and MaxConcurrentRequests must be positive, MaxQueuedControl at least 16"))
	}
	if d.IdleTimeout <= d.PingInterval {
		errs = append(errs, fmt.Errorf("IdleTimeout %v must exceed PingInterval %v", d.IdleTimeout, d.PingInterval))
	}
	for _, name := range d.Compression {
		if name == "none" {
			continue
		}
		if _, err := compress.ParseAlgorithm(name); err != nil {
			errs = append(errs, fmt.Errorf("Compression: %w", err))
		}
	}
	if d.CompressThreshold < 0 || d.RequestTimeout < 0 || d.HandshakeTimeout < 0 {
		errs = append(errs, errors.New("negative CompressThreshold or timeout"))
	}
	return errors.Join(errs...)
}

// decodeAlgorithms returns the algorithm names this side decodes, in order.
func (c *Config) decodeAlgorithms() []string {
	var out []string
	for _, name := range c.Compression {
		if name != "none" {
			out = append(out, name)
		}
	}
	return out
}
