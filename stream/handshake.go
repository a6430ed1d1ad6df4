package stream

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// ProtocolVersion is the wire protocol version this package speaks.
const ProtocolVersion = 1

// streamPosition is one stream's state in a resume exchange
// (docs/PROTOCOL.md §7): what the sender of the message has received of the
// peer's direction and can still send of its own.
type streamPosition struct {
	ID       uint32 `json:"id"`
	Received uint64 `json:"received"`
	// From is the lowest offset of the sender's direction it can still send.
	From uint64 `json:"from,omitempty"`
	// Credit is the limit the sender grants for the peer's direction.
	Credit uint64 `json:"credit,omitempty"`
	// Flags: posClosed, posAccepted, posPaused.
	Flags uint8 `json:"flags,omitempty"`
}

type resumeInfo struct {
	Token string `json:"token,omitempty"`
	// LastStream is the highest stream id the sender has seen the peer open.
	LastStream uint32 `json:"lastStream"`
	// Missing lists ids below LastStream whose OPEN has not arrived (with
	// lanes OPENs may overtake each other): the peer sends them again.
	Missing []uint32         `json:"missing,omitempty"`
	Streams []streamPosition `json:"streams"`
}

// helloMsg is the HELLO JSON (docs/PROTOCOL.md §4). Unknown members are ignored.
type helloMsg struct {
	Versions    []int       `json:"versions"`
	Compression []string    `json:"compression"`
	MaxFrame    int         `json:"maxFrame"`
	MaxMessage  int         `json:"maxMessage"`
	Window      int         `json:"window"`
	Resume      *resumeInfo `json:"resume,omitempty"`
	Resumable   bool        `json:"resumable,omitempty"`
	Auth        string      `json:"auth,omitempty"`
	Layouts     []string    `json:"layouts,omitempty"`
	Client      string      `json:"client,omitempty"`
	// Lanes offers native streams mode (docs/WEBTRANSPORT.md §7).
	Lanes bool `json:"lanes,omitempty"`
}

// welcomeMsg is the WELCOME JSON.
type welcomeMsg struct {
	Version      int         `json:"version"`
	Session      string      `json:"session"`
	Compression  []string    `json:"compression"`
	MaxFrame     int         `json:"maxFrame"`
	MaxMessage   int         `json:"maxMessage"`
	Window       int         `json:"window"`
	MaxStreams   int         `json:"maxStreams"`
	ResumeToken  string      `json:"resumeToken,omitempty"`
	ResumeTTL    int         `json:"resumeTTL,omitempty"`
	Resumed      *resumeInfo `json:"resumed,omitempty"`
	PingInterval int         `json:"pingInterval"`
	// Lanes accepts native streams mode for this transport.
	Lanes bool `json:"lanes,omitempty"`
}

// offersLanes reports whether this side may use lanes on conn.
func (c *Config) offersLanes(conn transport.Conn) bool {
	return !c.DisableNativeStreams && transport.Lanes(conn) != nil
}

// handshakeLimits bound frames before negotiation.
var handshakeLimits = wire.Limits{MaxFrame: 64 << 10}

// readHandshakeFrame reads one message holding exactly one frame of type want,
// or a connection ERROR, within the handshake timeout.
func readHandshakeFrame(conn transport.Conn, want wire.FrameType, timeout time.Duration) ([]byte, error) {
	timer := time.AfterFunc(timeout, func() { conn.Close() })
	msg, err := conn.ReadMessage()
	if !timer.Stop() {
		return nil, &ConnError{Code: CodeTimeout, Reason: fmt.Sprintf("no %v within %v", want, timeout)}
	}
	if err != nil {
		return nil, &ConnError{Code: CodeProtocol, Reason: "handshake: transport", Err: err}
	}
	h, payload, n, err := wire.ParseFrame(msg, handshakeLimits)
	if err != nil {
		return nil, frameErr(err)
	}
	if h.Type == wire.TypeError && h.StreamID == 0 {
		f, err := wire.ParseError(h, payload)
		if err != nil {
			return nil, frameErr(err)
		}
		return nil, &ConnError{Code: f.Code, Reason: f.Reason, Remote: true}
	}
	if h.Type != want || n != len(msg) {
		return nil, protoErr("handshake: expected a lone %v, got %v", want, h.Type)
	}
	return append([]byte(nil), payload...), nil
}

// negotiate applies the peer's limits and compression list to s.
func (s *Session) negotiate(peerFrame, peerMessage int, common []string) error {
	if peerFrame < minMaxFrame || peerMessage < peerFrame+wire.HeaderLen+8 {
		return protoErr("handshake: maxFrame %d / maxMessage %d too small", peerFrame, peerMessage)
	}
	s.maxFrame = min(s.maxFrame, peerFrame)
	s.maxMessage = min(s.maxMessage, peerMessage)
	s.sendAlg = compress.None
	for _, name := range common {
		alg, err := compress.ParseAlgorithm(name)
		if err != nil {
			continue // unknown names are ignored
		}
		s.recvAlgs[alg] = true
	}
	for _, name := range s.cfg.decodeAlgorithms() {
		if alg, err := compress.ParseAlgorithm(name); err == nil && s.recvAlgs[alg] {
			s.sendAlg = alg
			break
		}
	}
	return nil
}

// commonAlgorithms returns the names in ours (order kept) that theirs has too.
func commonAlgorithms(ours, theirs []string) []string {
	var out []string
	for _, name := range ours {
		if slices.Contains(theirs, name) {
			out = append(out, name)
		}
	}
	return out
}

func marshalFrame(t wire.FrameType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	switch t {
	case wire.TypeHello:
		return wire.Hello{JSON: b}.Append(nil), nil
	default:
		return wire.Welcome{JSON: b}.Append(nil), nil
	}
}

var codecs sync.Map // [2]int{zstd, gzip level} → *compress.Codec

// codecFor returns the shared, pooled codec for the given levels.
func codecFor(zstdLevel, gzipLevel int) *compress.Codec {
	key := [2]int{zstdLevel, gzipLevel}
	if c, ok := codecs.Load(key); ok {
		return c.(*compress.Codec)
	}
	c, _ := codecs.LoadOrStore(key, compress.NewCodec(compress.Options{
		ZstdLevel: zstd.EncoderLevel(zstdLevel),
		GzipLevel: gzipLevel,
	}))
	return c.(*compress.Codec)
}
