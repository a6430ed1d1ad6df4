package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderLen is the size of a frame header: type u8, flags u8, stream id u32,
// length u32.
const HeaderLen = 10

// Header is the fixed 10-byte prefix of every frame.
type Header struct {
	// Type is the frame type; unknown types are skipped by receivers.
	Type FrameType
	// Flags are the per-type flag bits.
	Flags uint8
	// StreamID is the stream (or, for REQUEST/REPLY, the request id); 0 for
	// session-level frames.
	StreamID uint32
	// Length is the number of payload bytes after the header.
	Length uint32
}

// AppendHeader appends the encoding of h to b.
func AppendHeader(b []byte, h Header) []byte {
	b = append(b, byte(h.Type), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.StreamID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// Limits bound what a parser accepts.
type Limits struct {
	// MaxFrame is the negotiated maximum of application bytes per frame
	// (decompressed data of DATA, EVENT, REQUEST, REPLY). 0 means
	// DefaultMaxFrame (65,536).
	MaxFrame uint32
}

func (l Limits) maxFrame() uint64 {
	if l.MaxFrame == 0 {
		return DefaultMaxFrame
	}
	return uint64(l.MaxFrame)
}

// Fixed payload sizes.
const (
	openFixed    = 12 // kind u8, priority u8, route length u16, window u64
	acceptFixed  = 8  // window u64
	dataFixed    = 8  // offset u64
	creditLen    = 8  // limit u64
	closeLen     = 8  // total u64
	closeSumLen  = 40 // total u64, SHA-256
	codeFixed    = 4  // code u32 (CANCEL, ERROR, REPLY)
	pingLen      = 8
	goAwayFixed  = 8 // last stream id u32, code u32
	eventFixed   = 1 // name length u8
	requestFixed = 5 // timeout u32, name length u8
	ckptFixed    = 8 // offset u64
	ackLen       = 8 // received u64
)

// MaxPayload returns the largest payload length a receiver accepts for a
// frame of type t when the negotiated maxFrame is maxFrame (docs/PROTOCOL.md
// §3, "Maximum payload length"). ok is false for unknown types, which have no
// bound of their own (they only have to fit in the message).
func MaxPayload(t FrameType, maxFrame uint32) (n uint64, ok bool) {
	mf := Limits{MaxFrame: maxFrame}.maxFrame()
	switch t {
	case TypeHello, TypeWelcome:
		return MaxHandshakeLen, true
	case TypeOpen:
		return openFixed + MaxRouteLen + MaxMetadataLen, true
	case TypeAccept:
		return acceptFixed + MaxMetadataLen, true
	case TypeData:
		return dataFixed + mf, true
	case TypeCredit:
		return creditLen, true
	case TypePause, TypeResume:
		return 0, true
	case TypeClose:
		return closeSumLen, true
	case TypeCancel, TypeError:
		return codeFixed + MaxReasonLen, true
	case TypePing, TypePong:
		return pingLen, true
	case TypeGoAway:
		return goAwayFixed + MaxReasonLen, true
	case TypeEvent:
		return eventFixed + MaxNameLen + mf, true
	case TypeRequest:
		return requestFixed + MaxNameLen + mf, true
	case TypeReply:
		return codeFixed + mf, true
	case TypeCheckpoint:
		return ckptFixed + MaxTokenLen, true
	case TypeAck:
		return ackLen, true
	}
	return 0, false
}

// ParseFrame parses the frame at the start of b. It returns the header, the
// payload (aliasing b, valid as long as b is; its capacity is clipped so an
// append cannot overwrite the next frame) and the number of bytes consumed
// (HeaderLen + Length).
//
// Errors: len(b) == 0 gives io.EOF. A header or payload that runs past the end
// of b gives an error matching both io.ErrUnexpectedEOF and ErrFrameSize. A
// length above MaxPayload(type, lim.MaxFrame) gives ErrFrameSize; it is checked
// before the truncation so a reader can reject a frame before buffering it.
// Frames of unknown types are returned without error; the caller skips them.
// The payload itself is not validated: pass it to Decode or a ParseX function.
func ParseFrame(b []byte, lim Limits) (Header, []byte, int, error) {
	if len(b) == 0 {
		return Header{}, nil, 0, io.EOF
	}
	if len(b) < HeaderLen {
		return Header{}, nil, 0, fmt.Errorf("%w: %w: %d bytes, a frame header has %d",
			ErrFrameSize, io.ErrUnexpectedEOF, len(b), HeaderLen)
	}
	h := Header{
		Type:     FrameType(b[0]),
		Flags:    b[1],
		StreamID: binary.BigEndian.Uint32(b[2:6]),
		Length:   binary.BigEndian.Uint32(b[6:10]),
	}
	if max, ok := MaxPayload(h.Type, lim.MaxFrame); ok && uint64(h.Length) > max {
		return h, nil, 0, fmt.Errorf("%w: %s frame (stream %d): length %d exceeds the maximum %d",
			ErrFrameSize, h.Type, h.StreamID, h.Length, max)
	}
	end := HeaderLen + uint64(h.Length)
	if end > uint64(len(b)) {
		return h, nil, 0, fmt.Errorf("%w: %w: %s frame (stream %d): length %d but only %d payload bytes follow",
			ErrFrameSize, io.ErrUnexpectedEOF, h.Type, h.StreamID, h.Length, len(b)-HeaderLen)
	}
	return h, b[HeaderLen:end:end], int(end), nil
}

// Frame is implemented by every frame type of this package.
type Frame interface {
	// Type returns the frame type.
	Type() FrameType
	// Append appends the encoded frame (header and payload) to b.
	Append(b []byte) []byte
	// Length returns the encoded length, header included.
	Length() int
	// Validate reports whether a receiver would accept the frame as it is,
	// with an error wrapping ErrProtocol or ErrFrameSize.
	Validate() error
}

// Decode parses the payload of a frame of a known type into its frame value
// (a Data, an Open, …, never a pointer). Byte fields alias payload. For an
// unknown type it returns an error wrapping ErrProtocol; callers that follow
// the spec skip unknown types before calling Decode. On error the Frame is
// nil. Decode boxes the value (one allocation); hot paths call ParseData etc.
// directly.
func Decode(h Header, payload []byte) (Frame, error) {
	switch h.Type {
	case TypeHello:
		return box(ParseHello(h, payload))
	case TypeWelcome:
		return box(ParseWelcome(h, payload))
	case TypeOpen:
		return box(ParseOpen(h, payload))
	case TypeAccept:
		return box(ParseAccept(h, payload))
	case TypeData:
		return box(ParseData(h, payload))
	case TypeCredit:
		return box(ParseCredit(h, payload))
	case TypePause:
		return box(ParsePause(h, payload))
	case TypeResume:
		return box(ParseResume(h, payload))
	case TypeClose:
		return box(ParseClose(h, payload))
	case TypeCancel:
		return box(ParseCancel(h, payload))
	case TypeError:
		return box(ParseError(h, payload))
	case TypePing:
		return box(ParsePing(h, payload))
	case TypePong:
		return box(ParsePong(h, payload))
	case TypeGoAway:
		return box(ParseGoAway(h, payload))
	case TypeEvent:
		return box(ParseEvent(h, payload))
	case TypeRequest:
		return box(ParseRequest(h, payload))
	case TypeReply:
		return box(ParseReply(h, payload))
	case TypeCheckpoint:
		return box(ParseCheckpoint(h, payload))
	case TypeAck:
		return box(ParseAck(h, payload))
	}
	return nil, fmt.Errorf("%w: unknown frame type 0x%02x", ErrProtocol, uint8(h.Type))
}

// box converts a parser's result to Decode's, with a nil Frame on error.
func box[F Frame](f F, err error) (Frame, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stream id rules: session-level frames carry 0, stream frames and
// requests a non-zero id, ERROR either.
type idRule uint8

const (
	idZero idRule = iota
	idNonZero
	idAny
)

func checkHeader(t FrameType, h Header, rule idRule) error {
	if h.Type != t {
		return fmt.Errorf("%w: %s parser given a %s frame", ErrProtocol, t, h.Type)
	}
	return checkID(t, h.StreamID, rule)
}

func checkID(t FrameType, id uint32, rule idRule) error {
	switch {
	case rule == idZero && id != 0:
		return fmt.Errorf("%w: %s frame on stream %d, must be on stream 0", ErrProtocol, t, id)
	case rule == idNonZero && id == 0:
		if t == TypeRequest || t == TypeReply {
			return fmt.Errorf("%w: %s frame with request id 0", ErrProtocol, t)
		}
		return fmt.Errorf("%w: %s frame on stream 0, needs a stream id", ErrProtocol, t)
	}
	return nil
}

// errShort reports a payload shorter than its fixed fields.
func errShort(h Header, n, need int) error {
	return fmt.Errorf("%w: %s frame (stream %d): payload %d bytes, fixed fields need %d",
		ErrFrameSize, h.Type, h.StreamID, n, need)
}

// errExact reports a fixed-size frame of the wrong length.
func errExact(h Header, n, want int) error {
	return fmt.Errorf("%w: %s frame (stream %d): payload %d bytes, must be %d",
		ErrFrameSize, h.Type, h.StreamID, n, want)
}

// errField reports a field longer than its cap.
func errField(h Header, field string, n, max int) error {
	return fmt.Errorf("%w: %s frame (stream %d): %s is %d bytes, at most %d",
		ErrFrameSize, h.Type, h.StreamID, field, n, max)
}

func errValidate(t FrameType, format string, args ...any) error {
	return fmt.Errorf("%w: %s frame: "+format, append([]any{ErrProtocol, t}, args...)...)
}
