package wire

import (
	"encoding/json"
	"fmt"
)

// Hello is a HELLO frame: the client's first frame, a JSON object (§4).
// Use MarshalHello/UnmarshalHello for the typed form.
type Hello struct {
	// JSON is the raw JSON object, at most 65,536 bytes.
	JSON []byte
}

// Type returns TypeHello.
func (Hello) Type() FrameType { return TypeHello }

// Length returns the encoded length, header included.
func (f Hello) Length() int { return HeaderLen + len(clampBytes(f.JSON, MaxHandshakeLen)) }

// Append appends the encoded frame to b. JSON is cut to 65,536 bytes.
func (f Hello) Append(b []byte) []byte { return appendJSONFrame(b, TypeHello, f.JSON) }

// Validate reports oversize JSON. It does not parse the JSON.
func (f Hello) Validate() error {
	return validateLen(TypeHello, "JSON", len(f.JSON), MaxHandshakeLen)
}

// ParseHello parses a HELLO frame. JSON aliases p and is not validated here:
// UnmarshalHello does that.
func ParseHello(h Header, p []byte) (Hello, error) {
	b, err := parseJSONFrame(TypeHello, h, p)
	if err != nil {
		return Hello{}, err
	}
	return Hello{JSON: b}, nil
}

// Welcome is a WELCOME frame: the server's answer to HELLO, a JSON object.
// Use MarshalWelcome/UnmarshalWelcome for the typed form.
type Welcome struct {
	// JSON is the raw JSON object, at most 65,536 bytes.
	JSON []byte
}

// Type returns TypeWelcome.
func (Welcome) Type() FrameType { return TypeWelcome }

// Length returns the encoded length, header included.
func (f Welcome) Length() int { return HeaderLen + len(clampBytes(f.JSON, MaxHandshakeLen)) }

// Append appends the encoded frame to b. JSON is cut to 65,536 bytes.
func (f Welcome) Append(b []byte) []byte { return appendJSONFrame(b, TypeWelcome, f.JSON) }

// Validate reports oversize JSON. It does not parse the JSON.
func (f Welcome) Validate() error {
	return validateLen(TypeWelcome, "JSON", len(f.JSON), MaxHandshakeLen)
}

// ParseWelcome parses a WELCOME frame. JSON aliases p and is not validated
// here: UnmarshalWelcome does that.
func ParseWelcome(h Header, p []byte) (Welcome, error) {
	b, err := parseJSONFrame(TypeWelcome, h, p)
	if err != nil {
		return Welcome{}, err
	}
	return Welcome{JSON: b}, nil
}

func appendJSONFrame(b []byte, t FrameType, js []byte) []byte {
	js = clampBytes(js, MaxHandshakeLen)
	b = AppendHeader(b, Header{Type: t, Length: uint32(len(js))})
	return append(b, js...)
}

func parseJSONFrame(t FrameType, h Header, p []byte) ([]byte, error) {
	if err := checkHeader(t, h, idZero); err != nil {
		return nil, err
	}
	if len(p) > MaxHandshakeLen {
		return nil, errField(h, "JSON", len(p), MaxHandshakeLen)
	}
	return p, nil
}

// StreamPosition is one stream's state in a resume exchange (§7), as seen by
// the sender of the message.
type StreamPosition struct {
	// ID is the stream id.
	ID uint32 `json:"id"`
	// Received is the number of bytes of the peer's direction received.
	Received uint64 `json:"received"`
	// From is the lowest offset of the sender's own direction it can still
	// send (its replay buffer's start).
	From uint64 `json:"from,omitempty"`
	// Credit is the limit the sender grants for the peer's direction.
	Credit uint64 `json:"credit,omitempty"`
	// Flags: PositionClosed, PositionAccepted, PositionPaused.
	Flags uint8 `json:"flags,omitempty"`
}

// StreamPosition flags (§7).
const (
	// PositionClosed: the sender has the peer's CLOSE.
	PositionClosed = 1 << iota
	// PositionAccepted: ACCEPT was exchanged (the opener received it, or the
	// acceptor sent it).
	PositionAccepted
	// PositionPaused: the sender asked the peer to pause.
	PositionPaused
)

// ResumeRequest is HELLO's "resume" member.
type ResumeRequest struct {
	// Token is the resumeToken from the previous WELCOME.
	Token string `json:"token"`
	// LastStream is the highest stream id the client has seen the server open.
	LastStream uint32 `json:"lastStream"`
	// Streams are the client's live streams.
	Streams []StreamPosition `json:"streams"`
}

// ResumeResult is WELCOME's "resumed" member.
type ResumeResult struct {
	// LastStream is the highest stream id the server has seen the client open.
	LastStream uint32 `json:"lastStream"`
	// Streams are the server's live streams.
	Streams []StreamPosition `json:"streams"`
}

// HelloMsg is the typed content of HELLO (docs/PROTOCOL.md §4). Unknown
// members are ignored when decoding.
type HelloMsg struct {
	// Versions the client speaks.
	Versions []int `json:"versions"`
	// Compression lists algorithms the client decodes, preferred first.
	Compression []string `json:"compression,omitempty"`
	// MaxFrame is the largest frame data the client accepts.
	MaxFrame uint32 `json:"maxFrame,omitempty"`
	// MaxMessage is the largest transport message the client accepts.
	MaxMessage uint32 `json:"maxMessage,omitempty"`
	// Window is the client's default initial stream window (informational).
	Window uint64 `json:"window,omitempty"`
	// Resume is present when resuming a session.
	Resume *ResumeRequest `json:"resume,omitempty"`
	// Resumable asks for a resumable session (a resumeToken in WELCOME).
	Resumable bool `json:"resumable,omitempty"`
	// Auth is an optional credential for transports without HTTP headers.
	Auth string `json:"auth,omitempty"`
	// Layouts are the dataset layouts the client accepts.
	Layouts []string `json:"layouts,omitempty"`
	// Client names the client implementation ("streamd-go/0.1").
	Client string `json:"client,omitempty"`
}

// WelcomeMsg is the typed content of WELCOME (docs/PROTOCOL.md §4). Unknown
// members are ignored when decoding.
type WelcomeMsg struct {
	// Version is the chosen protocol version.
	Version int `json:"version"`
	// Session is the server's session id.
	Session string `json:"session,omitempty"`
	// Compression lists the algorithms both sides decode.
	Compression []string `json:"compression,omitempty"`
	// MaxFrame binds both directions (minimum of both sides).
	MaxFrame uint32 `json:"maxFrame,omitempty"`
	// MaxMessage binds both directions (minimum of both sides).
	MaxMessage uint32 `json:"maxMessage,omitempty"`
	// Window is the server's default initial stream window.
	Window uint64 `json:"window,omitempty"`
	// MaxStreams is the most concurrent streams the server accepts.
	MaxStreams uint32 `json:"maxStreams,omitempty"`
	// ResumeToken resumes this session; empty if resume is unsupported.
	ResumeToken string `json:"resumeToken,omitempty"`
	// ResumeTTL is how long, in seconds, the token stays valid.
	ResumeTTL uint32 `json:"resumeTTL,omitempty"`
	// Resumed is present when the session was resumed.
	Resumed *ResumeResult `json:"resumed,omitempty"`
	// PingInterval is the server's PING interval in milliseconds.
	PingInterval uint32 `json:"pingInterval,omitempty"`
}

// MarshalHello encodes m as HELLO JSON. It fails with ErrFrameSize when the
// result exceeds 65,536 bytes.
func MarshalHello(m *HelloMsg) ([]byte, error) { return marshalHandshake(TypeHello, m) }

// UnmarshalHello decodes HELLO JSON. Unknown members are ignored; anything
// but a JSON object, or a member of the wrong type, is ErrProtocol.
func UnmarshalHello(b []byte) (*HelloMsg, error) {
	var m HelloMsg
	if err := unmarshalHandshake(TypeHello, b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// MarshalWelcome encodes m as WELCOME JSON. It fails with ErrFrameSize when
// the result exceeds 65,536 bytes.
func MarshalWelcome(m *WelcomeMsg) ([]byte, error) { return marshalHandshake(TypeWelcome, m) }

// UnmarshalWelcome decodes WELCOME JSON. Unknown members are ignored; anything
// but a JSON object, or a member of the wrong type, is ErrProtocol.
func UnmarshalWelcome(b []byte) (*WelcomeMsg, error) {
	var m WelcomeMsg
	if err := unmarshalHandshake(TypeWelcome, b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func marshalHandshake(t FrameType, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: encode %s: %w", t, err)
	}
	if len(b) > MaxHandshakeLen {
		return nil, fmt.Errorf("%w: %s JSON is %d bytes, at most %d", ErrFrameSize, t, len(b), MaxHandshakeLen)
	}
	return b, nil
}

func unmarshalHandshake(t FrameType, b []byte, v any) error {
	if len(b) > MaxHandshakeLen {
		return fmt.Errorf("%w: %s JSON is %d bytes, at most %d", ErrFrameSize, t, len(b), MaxHandshakeLen)
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	if i == len(b) || b[i] != '{' {
		return fmt.Errorf("%w: %s payload is not a JSON object", ErrProtocol, t)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s JSON: %v", ErrProtocol, t, err)
	}
	return nil
}
