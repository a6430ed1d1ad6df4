package wire

import "encoding/binary"

// Error is an ERROR frame: a stream error (StreamID != 0; the stream fails)
// or a connection error (StreamID == 0; the sender closes the transport).
type Error struct {
	// StreamID is the failed stream, or 0 for the connection.
	StreamID uint32
	// Code says what went wrong.
	Code Code
	// Reason is a UTF-8 diagnostic, at most 1024 bytes.
	Reason string
}

// Type returns TypeError.
func (Error) Type() FrameType { return TypeError }

// Length returns the encoded length, header included.
func (f Error) Length() int { return HeaderLen + codeFixed + len(clampString(f.Reason, MaxReasonLen)) }

// Append appends the encoded frame to b. Reason is cut to 1024 bytes.
func (f Error) Append(b []byte) []byte {
	return appendCodeReason(b, TypeError, f.StreamID, f.Code, f.Reason)
}

// Validate reports an oversize reason.
func (f Error) Validate() error {
	return validateLen(TypeError, "reason", len(f.Reason), MaxReasonLen)
}

// ParseError parses the payload of an ERROR frame.
func ParseError(h Header, p []byte) (Error, error) {
	if err := checkHeader(TypeError, h, idAny); err != nil {
		return Error{}, err
	}
	code, reason, err := parseCodeReason(h, p)
	if err != nil {
		return Error{}, err
	}
	return Error{StreamID: h.StreamID, Code: code, Reason: reason}, nil
}

// Ping is a PING frame; the peer answers PONG with the same bytes.
type Ping struct {
	// Data is opaque to the peer (e.g. a send timestamp).
	Data [8]byte
}

// Type returns TypePing.
func (Ping) Type() FrameType { return TypePing }

// Length returns the encoded length, header included.
func (Ping) Length() int { return HeaderLen + pingLen }

// Append appends the encoded frame to b.
func (f Ping) Append(b []byte) []byte {
	b = AppendHeader(b, Header{Type: TypePing, Length: pingLen})
	return append(b, f.Data[:]...)
}

// Validate always succeeds.
func (Ping) Validate() error { return nil }

// ParsePing parses the payload of a PING frame (exactly 8 bytes).
func ParsePing(h Header, p []byte) (Ping, error) {
	if err := checkHeader(TypePing, h, idZero); err != nil {
		return Ping{}, err
	}
	if len(p) != pingLen {
		return Ping{}, errExact(h, len(p), pingLen)
	}
	return Ping{Data: [8]byte(p)}, nil
}

// Pong is a PONG frame: the answer to a PING, carrying its bytes.
type Pong struct {
	// Data is the PING's data.
	Data [8]byte
}

// Type returns TypePong.
func (Pong) Type() FrameType { return TypePong }

// Length returns the encoded length, header included.
func (Pong) Length() int { return HeaderLen + pingLen }

// Append appends the encoded frame to b.
func (f Pong) Append(b []byte) []byte {
	b = AppendHeader(b, Header{Type: TypePong, Length: pingLen})
	return append(b, f.Data[:]...)
}

// Validate always succeeds.
func (Pong) Validate() error { return nil }

// ParsePong parses the payload of a PONG frame (exactly 8 bytes).
func ParsePong(h Header, p []byte) (Pong, error) {
	if err := checkHeader(TypePong, h, idZero); err != nil {
		return Pong{}, err
	}
	if len(p) != pingLen {
		return Pong{}, errExact(h, len(p), pingLen)
	}
	return Pong{Data: [8]byte(p)}, nil
}

// GoAway is a GOAWAY frame: graceful shutdown; no new streams above
// LastStreamID are accepted.
type GoAway struct {
	// LastStreamID is the highest peer-opened stream id still served.
	LastStreamID uint32
	// Code is usually CodeGoingAway or CodeNoError.
	Code Code
	// Reason is a UTF-8 diagnostic, at most 1024 bytes.
	Reason string
}

// Type returns TypeGoAway.
func (GoAway) Type() FrameType { return TypeGoAway }

// Length returns the encoded length, header included.
func (f GoAway) Length() int {
	return HeaderLen + goAwayFixed + len(clampString(f.Reason, MaxReasonLen))
}

// Append appends the encoded frame to b. Reason is cut to 1024 bytes.
func (f GoAway) Append(b []byte) []byte {
	reason := clampString(f.Reason, MaxReasonLen)
	b = AppendHeader(b, Header{Type: TypeGoAway, Length: uint32(goAwayFixed + len(reason))})
	b = binary.BigEndian.AppendUint32(b, f.LastStreamID)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Code))
	return append(b, reason...)
}

// Validate reports an oversize reason.
func (f GoAway) Validate() error {
	return validateLen(TypeGoAway, "reason", len(f.Reason), MaxReasonLen)
}

// ParseGoAway parses the payload of a GOAWAY frame.
func ParseGoAway(h Header, p []byte) (GoAway, error) {
	if err := checkHeader(TypeGoAway, h, idZero); err != nil {
		return GoAway{}, err
	}
	if len(p) < goAwayFixed {
		return GoAway{}, errShort(h, len(p), goAwayFixed)
	}
	if len(p)-goAwayFixed > MaxReasonLen {
		return GoAway{}, errField(h, "reason", len(p)-goAwayFixed, MaxReasonLen)
	}
	return GoAway{
		LastStreamID: binary.BigEndian.Uint32(p),
		Code:         Code(binary.BigEndian.Uint32(p[4:])),
		Reason:       string(p[goAwayFixed:]),
	}, nil
}
