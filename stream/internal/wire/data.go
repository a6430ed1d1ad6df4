package wire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Data is a DATA frame: bytes [Offset, Offset+n) of the sender's direction of
// a stream, n being the length after decompression (docs/PROTOCOL.md §3.2).
type Data struct {
	// StreamID is the stream (non-zero).
	StreamID uint32
	// Flags holds the compression bits (FlagCompressMask); other bits are
	// dropped when encoding and parsing.
	Flags uint8
	// Offset is the stream offset of the first (decompressed) byte.
	Offset uint64
	// Data is the payload as on the wire (compressed if Flags say so).
	Data []byte
}

// Type returns TypeData.
func (Data) Type() FrameType { return TypeData }

// Length returns the encoded length, header included.
func (f Data) Length() int { return HeaderLen + dataFixed + len(f.Data) }

// Append appends the encoded frame to b.
func (f Data) Append(b []byte) []byte {
	b = AppendDataHeader(b, f.StreamID, f.Flags, f.Offset, len(f.Data))
	return append(b, f.Data...)
}

// Validate checks the stream id. The data length against maxFrame is the
// session's business.
func (f Data) Validate() error { return checkID(TypeData, f.StreamID, idNonZero) }

// DataHeaderLen is the length AppendDataHeader appends: header plus offset.
const DataHeaderLen = HeaderLen + dataFixed

// AppendDataHeader appends the header and offset of a DATA frame whose data
// (dataLen bytes) the caller sends right after, e.g. as the next part of a
// vectored write, so the data is never copied.
func AppendDataHeader(b []byte, streamID uint32, flags uint8, offset uint64, dataLen int) []byte {
	b = AppendHeader(b, Header{
		Type:     TypeData,
		Flags:    flags & FlagCompressMask,
		StreamID: streamID,
		Length:   uint32(dataFixed + dataLen),
	})
	return binary.BigEndian.AppendUint64(b, offset)
}

// ParseData parses the payload of a DATA frame. Data aliases payload.
func ParseData(h Header, payload []byte) (Data, error) {
	if err := checkHeader(TypeData, h, idNonZero); err != nil {
		return Data{}, err
	}
	if len(payload) < dataFixed {
		return Data{}, errShort(h, len(payload), dataFixed)
	}
	return Data{
		StreamID: h.StreamID,
		Flags:    h.Flags & FlagCompressMask,
		Offset:   binary.BigEndian.Uint64(payload),
		Data:     payload[dataFixed:],
	}, nil
}

// clampString cuts s to at most max bytes, at a UTF-8 boundary when s is
// valid UTF-8 there.
func clampString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut > max-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if !utf8.RuneStart(s[cut]) {
		cut = max // not UTF-8 around the cut: cut at the byte cap
	}
	return s[:cut]
}

// clampBytes cuts b to at most max bytes.
func clampBytes(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	return b[:max]
}

// validateLen reports a field longer than max as ErrFrameSize, as the
// receiver's length check would.
func validateLen(t FrameType, field string, n, max int) error {
	if n > max {
		return fmt.Errorf("%w: %s frame: %s is %d bytes, at most %d", ErrFrameSize, t, field, n, max)
	}
	return nil
}
