package wire

import (
	"errors"
	"strconv"
)

// FrameType is the first byte of a frame header (docs/PROTOCOL.md §3).
type FrameType uint8

// Frame types of protocol version 1.
const (
	TypeHello      FrameType = 0x01
	TypeWelcome    FrameType = 0x02
	TypeOpen       FrameType = 0x03
	TypeAccept     FrameType = 0x04
	TypeData       FrameType = 0x05
	TypeCredit     FrameType = 0x06
	TypePause      FrameType = 0x07
	TypeResume     FrameType = 0x08
	TypeClose      FrameType = 0x09
	TypeCancel     FrameType = 0x0A
	TypeError      FrameType = 0x0B
	TypePing       FrameType = 0x0C
	TypePong       FrameType = 0x0D
	TypeGoAway     FrameType = 0x0E
	TypeEvent      FrameType = 0x0F
	TypeRequest    FrameType = 0x10
	TypeReply      FrameType = 0x11
	TypeCheckpoint FrameType = 0x12
	TypeAck        FrameType = 0x13
)

var typeNames = [...]string{
	TypeHello:      "HELLO",
	TypeWelcome:    "WELCOME",
	TypeOpen:       "OPEN",
	TypeAccept:     "ACCEPT",
	TypeData:       "DATA",
	TypeCredit:     "CREDIT",
	TypePause:      "PAUSE",
	TypeResume:     "RESUME",
	TypeClose:      "CLOSE",
	TypeCancel:     "CANCEL",
	TypeError:      "ERROR",
	TypePing:       "PING",
	TypePong:       "PONG",
	TypeGoAway:     "GOAWAY",
	TypeEvent:      "EVENT",
	TypeRequest:    "REQUEST",
	TypeReply:      "REPLY",
	TypeCheckpoint: "CHECKPOINT",
	TypeAck:        "ACK",
}

// Known reports whether t is a frame type of protocol version 1. Receivers
// skip frames of unknown types (docs/PROTOCOL.md §2.3).
func (t FrameType) Known() bool {
	return int(t) < len(typeNames) && typeNames[t] != ""
}

// String returns the spec name of t ("DATA"), or "UNKNOWN_0x13" for a type
// this version does not know.
func (t FrameType) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return "UNKNOWN_0x" + hex2(uint8(t))
}

// ParseFrameType returns the frame type whose spec name is s ("DATA").
func ParseFrameType(s string) (FrameType, bool) {
	for i, n := range typeNames {
		if n != "" && n == s {
			return FrameType(i), true
		}
	}
	return 0, false
}

func hex2(b uint8) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&0x0f]})
}

// Flag bits (docs/PROTOCOL.md §2.3, §3.1, §5). Bits not defined for a frame
// type are sent as 0 and dropped by the parsers.
const (
	// FlagCompressMask selects the compression bits of DATA, EVENT, REQUEST
	// and REPLY: 0 none, 1 gzip, 2 zstd, 3 reserved.
	FlagCompressMask = 0x03
	// FlagChecksum on OPEN asks for SHA-256 checksums in both CLOSEs; on
	// CLOSE it says the SHA-256 follows the total.
	FlagChecksum = 0x01
	// FlagFin on ACK says the peer's CLOSE was received too (§3.8).
	FlagFin = 0x01
)

// Caps on variable fields (docs/PROTOCOL.md §3).
const (
	// MaxRouteLen is the longest OPEN route in bytes (routes are 1–255 bytes).
	MaxRouteLen = 255
	// MaxNameLen is the longest EVENT or REQUEST name in bytes (1–255).
	MaxNameLen = 255
	// MaxReasonLen is the longest CANCEL, ERROR or GOAWAY reason in bytes.
	MaxReasonLen = 1024
	// MaxMetadataLen is the longest OPEN or ACCEPT metadata in bytes.
	MaxMetadataLen = 65536
	// MaxTokenLen is the longest CHECKPOINT token in bytes.
	MaxTokenLen = 1024
	// MaxHandshakeLen is the longest HELLO or WELCOME JSON in bytes.
	MaxHandshakeLen = 65536
	// MaxPriority is the highest OPEN priority.
	MaxPriority = 7
	// DefaultMaxFrame is the maxFrame used when Limits.MaxFrame is 0.
	DefaultMaxFrame = 65536
)

// Sentinel errors. Parse and Validate errors wrap one of them with details
// (frame type, stream id, lengths); match them with errors.Is.
var (
	// ErrFrameSize: a frame's length is out of bounds or the frame is
	// truncated (wire code FRAME_SIZE_ERROR). Truncation errors also match
	// io.ErrUnexpectedEOF.
	ErrFrameSize = errors.New("FRAME_SIZE_ERROR")
	// ErrProtocol: a field has a value the spec forbids (wire code
	// PROTOCOL_ERROR).
	ErrProtocol = errors.New("PROTOCOL_ERROR")
)

// ErrorCode returns the wire code for an error from this package:
// CodeFrameSize for ErrFrameSize, CodeProtocol for ErrProtocol, and false for
// any other error.
func ErrorCode(err error) (Code, bool) {
	switch {
	case errors.Is(err, ErrFrameSize):
		return CodeFrameSize, true
	case errors.Is(err, ErrProtocol):
		return CodeProtocol, true
	}
	return 0, false
}

// Kind is the kind of a stream, sent in OPEN (docs/PROTOCOL.md §3.1).
type Kind uint8

// Stream kinds.
const (
	// KindUpload: data flows from the opener to the acceptor.
	KindUpload Kind = 1
	// KindDownload: data flows from the acceptor to the opener.
	KindDownload Kind = 2
	// KindBidi: data flows both ways.
	KindBidi Kind = 3
	// KindBroadcast: a subscription to a topic; data flows acceptor → opener.
	KindBroadcast Kind = 4
)

// Valid reports whether k is one of the four kinds.
func (k Kind) Valid() bool { return k >= KindUpload && k <= KindBroadcast }

// String returns "upload", "download", "bidi", "broadcast" or "KIND_9".
func (k Kind) String() string {
	switch k {
	case KindUpload:
		return "upload"
	case KindDownload:
		return "download"
	case KindBidi:
		return "bidi"
	case KindBroadcast:
		return "broadcast"
	}
	return "KIND_" + strconv.Itoa(int(k))
}
