package wire

import (
	"encoding/binary"
	"fmt"
)

// Open is an OPEN frame: it creates stream StreamID (docs/PROTOCOL.md §3.1).
type Open struct {
	// StreamID is the new stream's id (odd from clients, even from servers).
	StreamID uint32
	// Flags: FlagChecksum asks for SHA-256 checksums in CLOSE; other bits
	// are dropped.
	Flags uint8
	// Kind is the stream kind (1–4).
	Kind Kind
	// Priority is 0–7, higher first.
	Priority uint8
	// Window is the opener's initial credit limit for data towards it.
	Window uint64
	// Route is the acceptor's registered name, 1–255 bytes.
	Route string
	// Metadata is a JSON object, at most 65,536 bytes (empty means {}).
	Metadata []byte
}

// Type returns TypeOpen.
func (Open) Type() FrameType { return TypeOpen }

// Length returns the encoded length, header included.
func (f Open) Length() int {
	return HeaderLen + openFixed + len(clampString(f.Route, MaxRouteLen)) + len(clampBytes(f.Metadata, MaxMetadataLen))
}

// Append appends the encoded frame to b. Route and Metadata are clamped to
// their caps.
func (f Open) Append(b []byte) []byte {
	route := clampString(f.Route, MaxRouteLen)
	meta := clampBytes(f.Metadata, MaxMetadataLen)
	b = AppendHeader(b, Header{
		Type: TypeOpen, Flags: f.Flags & FlagChecksum, StreamID: f.StreamID,
		Length: uint32(openFixed + len(route) + len(meta)),
	})
	b = append(b, byte(f.Kind), f.Priority)
	b = binary.BigEndian.AppendUint16(b, uint16(len(route)))
	b = binary.BigEndian.AppendUint64(b, f.Window)
	b = append(b, route...)
	return append(b, meta...)
}

// Validate reports what a receiver would reject: stream id 0, a bad kind or
// priority, an empty or oversize route, oversize metadata.
func (f Open) Validate() error {
	if err := checkID(TypeOpen, f.StreamID, idNonZero); err != nil {
		return err
	}
	if err := openFields(f.Kind, f.Priority, len(f.Route)); err != nil {
		return fmt.Errorf("%w: OPEN frame (stream %d): %s", ErrProtocol, f.StreamID, err)
	}
	return validateLen(TypeOpen, "metadata", len(f.Metadata), MaxMetadataLen)
}

// openFields checks the value fields of OPEN; the error text has no prefix.
func openFields(k Kind, prio uint8, routeLen int) error {
	switch {
	case !k.Valid():
		return fmt.Errorf("kind %d is not 1–4", uint8(k))
	case prio > MaxPriority:
		return fmt.Errorf("priority %d above %d", prio, MaxPriority)
	case routeLen == 0:
		return fmt.Errorf("empty route")
	case routeLen > MaxRouteLen:
		return fmt.Errorf("route length %d above %d", routeLen, MaxRouteLen)
	}
	return nil
}

// ParseOpen parses the payload of an OPEN frame. Metadata aliases payload.
func ParseOpen(h Header, p []byte) (Open, error) {
	if err := checkHeader(TypeOpen, h, idNonZero); err != nil {
		return Open{}, err
	}
	if len(p) < openFixed {
		return Open{}, errShort(h, len(p), openFixed)
	}
	kind, prio := Kind(p[0]), p[1]
	routeLen := int(binary.BigEndian.Uint16(p[2:4]))
	if err := openFields(kind, prio, routeLen); err != nil {
		return Open{}, fmt.Errorf("%w: OPEN frame (stream %d): %s", ErrProtocol, h.StreamID, err)
	}
	if openFixed+routeLen > len(p) {
		return Open{}, fmt.Errorf("%w: OPEN frame (stream %d): route length %d runs past the payload (%d bytes)",
			ErrProtocol, h.StreamID, routeLen, len(p))
	}
	meta := p[openFixed+routeLen:]
	if len(meta) > MaxMetadataLen {
		return Open{}, errField(h, "metadata", len(meta), MaxMetadataLen)
	}
	return Open{
		StreamID: h.StreamID,
		Flags:    h.Flags & FlagChecksum,
		Kind:     kind,
		Priority: prio,
		Window:   binary.BigEndian.Uint64(p[4:12]),
		Route:    string(p[openFixed : openFixed+routeLen]),
		Metadata: meta,
	}, nil
}

// Accept is an ACCEPT frame: the acceptor's answer to OPEN.
type Accept struct {
	// StreamID is the stream being accepted.
	StreamID uint32
	// Window is the acceptor's initial credit limit for data towards it.
	Window uint64
	// Metadata is the acceptor's JSON reply, at most 65,536 bytes.
	Metadata []byte
}

// Type returns TypeAccept.
func (Accept) Type() FrameType { return TypeAccept }

// Length returns the encoded length, header included.
func (f Accept) Length() int {
	return HeaderLen + acceptFixed + len(clampBytes(f.Metadata, MaxMetadataLen))
}

// Append appends the encoded frame to b. Metadata is clamped to its cap.
func (f Accept) Append(b []byte) []byte {
	meta := clampBytes(f.Metadata, MaxMetadataLen)
	b = AppendHeader(b, Header{Type: TypeAccept, StreamID: f.StreamID, Length: uint32(acceptFixed + len(meta))})
	b = binary.BigEndian.AppendUint64(b, f.Window)
	return append(b, meta...)
}

// Validate reports stream id 0 or oversize metadata.
func (f Accept) Validate() error {
	if err := checkID(TypeAccept, f.StreamID, idNonZero); err != nil {
		return err
	}
	return validateLen(TypeAccept, "metadata", len(f.Metadata), MaxMetadataLen)
}

// ParseAccept parses the payload of an ACCEPT frame. Metadata aliases payload.
func ParseAccept(h Header, p []byte) (Accept, error) {
	if err := checkHeader(TypeAccept, h, idNonZero); err != nil {
		return Accept{}, err
	}
	if len(p) < acceptFixed {
		return Accept{}, errShort(h, len(p), acceptFixed)
	}
	if len(p)-acceptFixed > MaxMetadataLen {
		return Accept{}, errField(h, "metadata", len(p)-acceptFixed, MaxMetadataLen)
	}
	return Accept{StreamID: h.StreamID, Window: binary.BigEndian.Uint64(p), Metadata: p[acceptFixed:]}, nil
}

// Credit is a CREDIT frame: the peer may send up to Limit (an absolute offset).
type Credit struct {
	// StreamID is the stream.
	StreamID uint32
	// Limit is the new credit limit; lower or equal limits are ignored.
	Limit uint64
}

// Type returns TypeCredit.
func (Credit) Type() FrameType { return TypeCredit }

// Length returns the encoded length, header included.
func (Credit) Length() int { return HeaderLen + creditLen }

// Append appends the encoded frame to b.
func (f Credit) Append(b []byte) []byte {
	b = AppendHeader(b, Header{Type: TypeCredit, StreamID: f.StreamID, Length: creditLen})
	return binary.BigEndian.AppendUint64(b, f.Limit)
}

// Validate reports stream id 0.
func (f Credit) Validate() error { return checkID(TypeCredit, f.StreamID, idNonZero) }

// ParseCredit parses the payload of a CREDIT frame (exactly 8 bytes).
func ParseCredit(h Header, p []byte) (Credit, error) {
	if err := checkHeader(TypeCredit, h, idNonZero); err != nil {
		return Credit{}, err
	}
	if len(p) != creditLen {
		return Credit{}, errExact(h, len(p), creditLen)
	}
	return Credit{StreamID: h.StreamID, Limit: binary.BigEndian.Uint64(p)}, nil
}

// Pause is a PAUSE frame: stop sending DATA on the stream until RESUME.
type Pause struct {
	// StreamID is the stream.
	StreamID uint32
}

// Type returns TypePause.
func (Pause) Type() FrameType { return TypePause }

// Length returns the encoded length (header only).
func (Pause) Length() int { return HeaderLen }

// Append appends the encoded frame to b.
func (f Pause) Append(b []byte) []byte {
	return AppendHeader(b, Header{Type: TypePause, StreamID: f.StreamID})
}

// Validate reports stream id 0.
func (f Pause) Validate() error { return checkID(TypePause, f.StreamID, idNonZero) }

// ParsePause parses a PAUSE frame (empty payload).
func ParsePause(h Header, p []byte) (Pause, error) {
	if err := checkHeader(TypePause, h, idNonZero); err != nil {
		return Pause{}, err
	}
	if len(p) != 0 {
		return Pause{}, errExact(h, len(p), 0)
	}
	return Pause{StreamID: h.StreamID}, nil
}

// Resume is a RESUME frame: DATA may flow again after PAUSE.
type Resume struct {
	// StreamID is the stream.
	StreamID uint32
}

// Type returns TypeResume.
func (Resume) Type() FrameType { return TypeResume }

// Length returns the encoded length (header only).
func (Resume) Length() int { return HeaderLen }

// Append appends the encoded frame to b.
func (f Resume) Append(b []byte) []byte {
	return AppendHeader(b, Header{Type: TypeResume, StreamID: f.StreamID})
}

// Validate reports stream id 0.
func (f Resume) Validate() error { return checkID(TypeResume, f.StreamID, idNonZero) }

// ParseResume parses a RESUME frame (empty payload).
func ParseResume(h Header, p []byte) (Resume, error) {
	if err := checkHeader(TypeResume, h, idNonZero); err != nil {
		return Resume{}, err
	}
	if len(p) != 0 {
		return Resume{}, errExact(h, len(p), 0)
	}
	return Resume{StreamID: h.StreamID}, nil
}

// Close is a CLOSE frame: the sender finished its direction of the stream.
type Close struct {
	// StreamID is the stream.
	StreamID uint32
	// Total is the number of bytes the sender sent (its end offset).
	Total uint64
	// HasChecksum says SHA256 is present (flag FlagChecksum).
	HasChecksum bool
	// SHA256 is the digest of bytes [0, Total) when HasChecksum.
	SHA256 [32]byte
}

// Type returns TypeClose.
func (Close) Type() FrameType { return TypeClose }

// Length returns the encoded length, header included.
func (f Close) Length() int {
	if f.HasChecksum {
		return HeaderLen + closeSumLen
	}
	return HeaderLen + closeLen
}

// Append appends the encoded frame to b; the digest only when HasChecksum.
func (f Close) Append(b []byte) []byte {
	h := Header{Type: TypeClose, StreamID: f.StreamID, Length: closeLen}
	if f.HasChecksum {
		h.Flags, h.Length = FlagChecksum, closeSumLen
	}
	b = AppendHeader(b, h)
	b = binary.BigEndian.AppendUint64(b, f.Total)
	if f.HasChecksum {
		b = append(b, f.SHA256[:]...)
	}
	return b
}

// Validate reports stream id 0.
func (f Close) Validate() error { return checkID(TypeClose, f.StreamID, idNonZero) }

// ParseClose parses the payload of a CLOSE frame: exactly 8 bytes, or 40 with
// FlagChecksum.
func ParseClose(h Header, p []byte) (Close, error) {
	if err := checkHeader(TypeClose, h, idNonZero); err != nil {
		return Close{}, err
	}
	f := Close{StreamID: h.StreamID, HasChecksum: h.Flags&FlagChecksum != 0}
	want := closeLen
	if f.HasChecksum {
		want = closeSumLen
	}
	if len(p) != want {
		return Close{}, errExact(h, len(p), want)
	}
	f.Total = binary.BigEndian.Uint64(p)
	if f.HasChecksum {
		copy(f.SHA256[:], p[closeLen:])
	}
	return f, nil
}

// Cancel is a CANCEL frame: the application abandoned the stream.
type Cancel struct {
	// StreamID is the stream.
	StreamID uint32
	// Code is CodeCancelled or an application code.
	Code Code
	// Reason is a UTF-8 diagnostic, at most 1024 bytes.
	Reason string
}

// Type returns TypeCancel.
func (Cancel) Type() FrameType { return TypeCancel }

// Length returns the encoded length, header included.
func (f Cancel) Length() int { return HeaderLen + codeFixed + len(clampString(f.Reason, MaxReasonLen)) }

// Append appends the encoded frame to b. Reason is cut to 1024 bytes.
func (f Cancel) Append(b []byte) []byte {
	return appendCodeReason(b, TypeCancel, f.StreamID, f.Code, f.Reason)
}

// Validate reports stream id 0 or an oversize reason.
func (f Cancel) Validate() error {
	if err := checkID(TypeCancel, f.StreamID, idNonZero); err != nil {
		return err
	}
	return validateLen(TypeCancel, "reason", len(f.Reason), MaxReasonLen)
}

// ParseCancel parses the payload of a CANCEL frame.
func ParseCancel(h Header, p []byte) (Cancel, error) {
	if err := checkHeader(TypeCancel, h, idNonZero); err != nil {
		return Cancel{}, err
	}
	code, reason, err := parseCodeReason(h, p)
	if err != nil {
		return Cancel{}, err
	}
	return Cancel{StreamID: h.StreamID, Code: code, Reason: reason}, nil
}

func appendCodeReason(b []byte, t FrameType, id uint32, code Code, reason string) []byte {
	reason = clampString(reason, MaxReasonLen)
	b = AppendHeader(b, Header{Type: t, StreamID: id, Length: uint32(codeFixed + len(reason))})
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	return append(b, reason...)
}

func parseCodeReason(h Header, p []byte) (Code, string, error) {
	if len(p) < codeFixed {
		return 0, "", errShort(h, len(p), codeFixed)
	}
	if len(p)-codeFixed > MaxReasonLen {
		return 0, "", errField(h, "reason", len(p)-codeFixed, MaxReasonLen)
	}
	return Code(binary.BigEndian.Uint32(p)), string(p[codeFixed:]), nil
}

// Checkpoint is a CHECKPOINT frame: bytes [0, Offset) of the peer's direction
// are durable at the receiver.
type Checkpoint struct {
	// StreamID is the stream.
	StreamID uint32
	// Offset is the durable end offset.
	Offset uint64
	// Token is opaque application data, at most 1024 bytes.
	Token []byte
}

// Type returns TypeCheckpoint.
func (Checkpoint) Type() FrameType { return TypeCheckpoint }

// Length returns the encoded length, header included.
func (f Checkpoint) Length() int {
	return HeaderLen + ckptFixed + len(clampBytes(f.Token, MaxTokenLen))
}

// Append appends the encoded frame to b. Token is cut to 1024 bytes.
func (f Checkpoint) Append(b []byte) []byte {
	tok := clampBytes(f.Token, MaxTokenLen)
	b = AppendHeader(b, Header{Type: TypeCheckpoint, StreamID: f.StreamID, Length: uint32(ckptFixed + len(tok))})
	b = binary.BigEndian.AppendUint64(b, f.Offset)
	return append(b, tok...)
}

// Validate reports stream id 0 or an oversize token.
func (f Checkpoint) Validate() error {
	if err := checkID(TypeCheckpoint, f.StreamID, idNonZero); err != nil {
		return err
	}
	return validateLen(TypeCheckpoint, "token", len(f.Token), MaxTokenLen)
}

// ParseCheckpoint parses the payload of a CHECKPOINT frame. Token aliases p.
func ParseCheckpoint(h Header, p []byte) (Checkpoint, error) {
	if err := checkHeader(TypeCheckpoint, h, idNonZero); err != nil {
		return Checkpoint{}, err
	}
	if len(p) < ckptFixed {
		return Checkpoint{}, errShort(h, len(p), ckptFixed)
	}
	if len(p)-ckptFixed > MaxTokenLen {
		return Checkpoint{}, errField(h, "token", len(p)-ckptFixed, MaxTokenLen)
	}
	return Checkpoint{StreamID: h.StreamID, Offset: binary.BigEndian.Uint64(p), Token: p[ckptFixed:]}, nil
}

// Ack is an ACK frame (docs/PROTOCOL.md §3.8): on a resumable session the
// receiver of a stream direction tells the sender how many bytes of it have
// arrived, so the sender can drop them from its replay buffer; with Fin the
// sender's CLOSE has arrived too.
type Ack struct {
	// StreamID is the stream.
	StreamID uint32
	// Fin says the peer's CLOSE was received (flag FlagFin).
	Fin bool
	// Received is the number of bytes of the peer's direction received.
	Received uint64
}

// Type returns TypeAck.
func (Ack) Type() FrameType { return TypeAck }

// Length returns the encoded length, header included.
func (Ack) Length() int { return HeaderLen + ackLen }

// Append appends the encoded frame to b.
func (f Ack) Append(b []byte) []byte {
	h := Header{Type: TypeAck, StreamID: f.StreamID, Length: ackLen}
	if f.Fin {
		h.Flags = FlagFin
	}
	b = AppendHeader(b, h)
	return binary.BigEndian.AppendUint64(b, f.Received)
}

// Validate reports stream id 0.
func (f Ack) Validate() error { return checkID(TypeAck, f.StreamID, idNonZero) }

// ParseAck parses the payload of an ACK frame (exactly 8 bytes).
func ParseAck(h Header, p []byte) (Ack, error) {
	if err := checkHeader(TypeAck, h, idNonZero); err != nil {
		return Ack{}, err
	}
	if len(p) != ackLen {
		return Ack{}, errExact(h, len(p), ackLen)
	}
	return Ack{StreamID: h.StreamID, Fin: h.Flags&FlagFin != 0, Received: binary.BigEndian.Uint64(p)}, nil
}
