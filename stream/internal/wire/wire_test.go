package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var testLimits = Limits{MaxFrame: vectorMaxFrame}

// parseOne parses b as exactly one frame and decodes it.
func parseOne(t *testing.T, b []byte) Frame {
	t.Helper()
	h, payload, n, err := ParseFrame(b, testLimits)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
	f, err := Decode(h, payload)
	require.NoError(t, err)
	return f
}

func TestRoundTripSamples(t *testing.T) {
	for _, s := range sampleFrames() {
		t.Run(s.name, func(t *testing.T) {
			require.NoError(t, s.frame.Validate())
			prefix := []byte{0xAA}
			b := s.frame.Append(prefix)
			require.Equal(t, prefix, b[:1], "Append appends")
			b = b[1:]
			require.Len(t, b, s.frame.Length())
			require.Equal(t, s.frame.Type(), FrameType(b[0]))
			require.Equal(t, s.frame, parseOne(t, b))
		})
	}
}

func TestStrings(t *testing.T) {
	require.Equal(t, "DATA", TypeData.String())
	require.Equal(t, "CHECKPOINT", TypeCheckpoint.String())
	require.Equal(t, "UNKNOWN_0x7f", FrameType(0x7f).String())
	require.Equal(t, "UNKNOWN_0x00", FrameType(0).String())
	for ty := FrameType(1); ty <= TypeAck; ty++ {
		got, ok := ParseFrameType(ty.String())
		require.True(t, ok)
		require.Equal(t, ty, got)
	}
	_, ok := ParseFrameType("UNKNOWN_0x7f")
	require.False(t, ok)

	require.Equal(t, "FLOW_CONTROL_ERROR", CodeFlowControl.String())
	require.Equal(t, "OFFSET_MISMATCH", CodeOffsetMismatch.String())
	require.Equal(t, "NO_ERROR", CodeNoError.String())
	require.Equal(t, "APPLICATION_0x1234", Code(0x1234).String())
	require.Equal(t, "APPLICATION_0xffffffff", Code(0xffffffff).String())
	require.Equal(t, "CODE_99", Code(99).String())
	require.True(t, Code(0x1000).IsApplication())
	require.False(t, Code(0xfff).IsApplication())

	require.Equal(t, "upload", KindUpload.String())
	require.Equal(t, "broadcast", KindBroadcast.String())
	require.Equal(t, "KIND_9", Kind(9).String())
	require.True(t, KindBidi.Valid())
	require.False(t, Kind(0).Valid())
	require.False(t, Kind(5).Valid())
}

func TestParseFrameErrors(t *testing.T) {
	_, _, _, err := ParseFrame(nil, Limits{})
	require.Equal(t, io.EOF, err)

	_, _, _, err = ParseFrame([]byte{5, 0, 0}, Limits{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, err, ErrFrameSize)

	data := Data{StreamID: 1, Data: []byte("hello")}.Append(nil)
	_, _, _, err = ParseFrame(data[:len(data)-1], Limits{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, err, ErrFrameSize)
	require.Contains(t, err.Error(), "DATA")

	// The length is checked before truncation, so a reader can refuse a
	// frame from its header alone.
	hdr := AppendHeader(nil, Header{Type: TypeData, StreamID: 7, Length: 8 + 1024 + 1})
	_, _, _, err = ParseFrame(hdr, Limits{MaxFrame: 1024})
	require.ErrorIs(t, err, ErrFrameSize)
	require.NotErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Contains(t, err.Error(), "stream 7")
	code, ok := ErrorCode(err)
	require.True(t, ok)
	require.Equal(t, CodeFrameSize, code)

	// Limits zero value: maxFrame 65536.
	hdr = AppendHeader(nil, Header{Type: TypeData, StreamID: 7, Length: 8 + 65536})
	_, _, _, err = ParseFrame(hdr, Limits{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "within the default limit, only truncated")
	hdr = AppendHeader(nil, Header{Type: TypeData, StreamID: 7, Length: 8 + 65537})
	_, _, _, err = ParseFrame(hdr, Limits{})
	require.NotErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, err, ErrFrameSize)

	// A maximal length cannot make the parser allocate or overflow.
	hdr = AppendHeader(nil, Header{Type: 0x7f, Length: 0xffffffff})
	_, _, _, err = ParseFrame(hdr, Limits{MaxFrame: 0xffffffff})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	hdr = AppendHeader(nil, Header{Type: TypeData, StreamID: 1, Length: 0xffffffff})
	_, _, _, err = ParseFrame(hdr, Limits{MaxFrame: 0xffffffff})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	_, ok = ErrorCode(io.EOF)
	require.False(t, ok)
}

func TestParseFramePayloadIsClipped(t *testing.T) {
	msg := Data{StreamID: 1, Data: []byte("ab")}.Append(nil)
	msg = Ping{}.Append(msg)
	h, payload, n, err := ParseFrame(msg, Limits{})
	require.NoError(t, err)
	require.Equal(t, TypeData, h.Type)
	require.Equal(t, cap(payload), len(payload), "an append to the payload must not overwrite the next frame")
	_ = append(payload, 0xEE)
	require.Equal(t, byte(TypePing), msg[n])
}

func TestUnknownTypeIsReturned(t *testing.T) {
	msg := AppendHeader(nil, Header{Type: 0x40, Flags: 0xff, StreamID: 9, Length: 3})
	msg = append(msg, 1, 2, 3)
	msg = Pause{StreamID: 1}.Append(msg)
	h, payload, n, err := ParseFrame(msg, Limits{})
	require.NoError(t, err)
	require.False(t, h.Type.Known())
	require.Equal(t, []byte{1, 2, 3}, payload)
	_, err = Decode(h, payload)
	require.ErrorIs(t, err, ErrProtocol)
	require.Equal(t, Pause{StreamID: 1}, parseOne(t, msg[n:]))
}

// frameBytes builds a frame from a raw header and payload.
func frameBytes(ty FrameType, flags uint8, id uint32, payload []byte) []byte {
	b := AppendHeader(nil, Header{Type: ty, Flags: flags, StreamID: id, Length: uint32(len(payload))})
	return append(b, payload...)
}

func TestDecodeErrors(t *testing.T) {
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	open := func(kind, prio byte, routeLen uint16, rest []byte) []byte {
		p := append([]byte{kind, prio}, u16(routeLen)...)
		p = append(p, make([]byte, 8)...)
		return append(p, rest...)
	}
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"open short", frameBytes(TypeOpen, 0, 1, make([]byte, 11)), ErrFrameSize},
		{"open kind 0", frameBytes(TypeOpen, 0, 1, open(0, 0, 1, []byte("r"))), ErrProtocol},
		{"open kind 5", frameBytes(TypeOpen, 0, 1, open(5, 0, 1, []byte("r"))), ErrProtocol},
		{"open priority 8", frameBytes(TypeOpen, 0, 1, open(1, 8, 1, []byte("r"))), ErrProtocol},
		{"open empty route", frameBytes(TypeOpen, 0, 1, open(1, 0, 0, nil)), ErrProtocol},
		{"open route 256", frameBytes(TypeOpen, 0, 1, open(1, 0, 256, make([]byte, 256))), ErrProtocol},
		{"open route past end", frameBytes(TypeOpen, 0, 1, open(1, 0, 5, []byte("abcd"))), ErrProtocol},
		{"open metadata too long", frameBytes(TypeOpen, 0, 1, open(1, 0, 1, make([]byte, 1+MaxMetadataLen+1))), ErrFrameSize},
		{"open stream 0", frameBytes(TypeOpen, 0, 0, open(1, 0, 1, []byte("r"))), ErrProtocol},
		{"accept short", frameBytes(TypeAccept, 0, 1, make([]byte, 7)), ErrFrameSize},
		{"accept metadata too long", frameBytes(TypeAccept, 0, 1, make([]byte, 8+MaxMetadataLen+1)), ErrFrameSize},
		{"data short", frameBytes(TypeData, 0, 1, make([]byte, 7)), ErrFrameSize},
		{"data stream 0", frameBytes(TypeData, 0, 0, make([]byte, 8)), ErrProtocol},
		{"credit short", frameBytes(TypeCredit, 0, 1, make([]byte, 7)), ErrFrameSize},
		{"pause payload", frameBytes(TypePause, 0, 1, []byte{0}), ErrFrameSize},
		{"resume payload", frameBytes(TypeResume, 0, 1, []byte{0}), ErrFrameSize},
		{"resume stream 0", frameBytes(TypeResume, 0, 0, nil), ErrProtocol},
		{"close checksum missing", frameBytes(TypeClose, FlagChecksum, 1, make([]byte, 8)), ErrFrameSize},
		{"close 40 without flag", frameBytes(TypeClose, 0, 1, make([]byte, 40)), ErrFrameSize},
		{"close short", frameBytes(TypeClose, 0, 1, make([]byte, 7)), ErrFrameSize},
		{"cancel short", frameBytes(TypeCancel, 0, 1, make([]byte, 3)), ErrFrameSize},
		{"cancel stream 0", frameBytes(TypeCancel, 0, 0, make([]byte, 4)), ErrProtocol},
		{"error short", frameBytes(TypeError, 0, 0, make([]byte, 3)), ErrFrameSize},
		{"ping short", frameBytes(TypePing, 0, 0, make([]byte, 7)), ErrFrameSize},
		{"ping on a stream", frameBytes(TypePing, 0, 1, make([]byte, 8)), ErrProtocol},
		{"pong short", frameBytes(TypePong, 0, 0, make([]byte, 7)), ErrFrameSize},
		{"goaway short", frameBytes(TypeGoAway, 0, 0, make([]byte, 7)), ErrFrameSize},
		{"goaway on a stream", frameBytes(TypeGoAway, 0, 3, make([]byte, 8)), ErrProtocol},
		{"event empty", frameBytes(TypeEvent, 0, 0, nil), ErrFrameSize},
		{"event empty name", frameBytes(TypeEvent, 0, 0, []byte{0, 'x'}), ErrProtocol},
		{"event name past end", frameBytes(TypeEvent, 0, 0, []byte{3, 'a', 'b'}), ErrProtocol},
		{"event on a stream", frameBytes(TypeEvent, 0, 1, []byte{1, 'a'}), ErrProtocol},
		{"request short", frameBytes(TypeRequest, 0, 1, make([]byte, 4)), ErrFrameSize},
		{"request id 0", frameBytes(TypeRequest, 0, 0, []byte{0, 0, 0, 0, 1, 'a'}), ErrProtocol},
		{"request empty name", frameBytes(TypeRequest, 0, 1, []byte{0, 0, 0, 0, 0}), ErrProtocol},
		{"reply short", frameBytes(TypeReply, 0, 1, make([]byte, 3)), ErrFrameSize},
		{"reply id 0", frameBytes(TypeReply, 0, 0, make([]byte, 4)), ErrProtocol},
		{"checkpoint short", frameBytes(TypeCheckpoint, 0, 1, make([]byte, 7)), ErrFrameSize},
		{"hello on a stream", frameBytes(TypeHello, 0, 1, []byte("{}")), ErrProtocol},
		{"welcome on a stream", frameBytes(TypeWelcome, 0, 2, []byte("{}")), ErrProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Decode directly: some cases exceed the ParseFrame bounds on
			// purpose so that the per-type check is exercised.
			h, payload := Header{Type: FrameType(c.frame[0]), Flags: c.frame[1],
				StreamID: binary.BigEndian.Uint32(c.frame[2:6]), Length: binary.BigEndian.Uint32(c.frame[6:10])}, c.frame[HeaderLen:]
			f, err := Decode(h, payload)
			require.ErrorIs(t, err, c.want, "got %v", err)
			require.Nil(t, f)
			other := ErrProtocol
			if c.want == ErrProtocol {
				other = ErrFrameSize
			}
			require.NotErrorIs(t, err, other)
		})
	}
}

func TestParserTypeMismatch(t *testing.T) {
	_, err := ParseData(Header{Type: TypePing, StreamID: 1}, make([]byte, 8))
	require.ErrorIs(t, err, ErrProtocol)
}

func TestUndefinedFlagsAreDropped(t *testing.T) {
	require.Equal(t, Ping{}, parseOne(t, frameBytes(TypePing, 0xff, 0, make([]byte, 8))))
	require.Equal(t, Data{StreamID: 1, Flags: 2, Data: []byte{}}, parseOne(t, frameBytes(TypeData, 0xfe, 1, make([]byte, 8))))
	require.Equal(t, Close{StreamID: 1, Total: 0}, parseOne(t, frameBytes(TypeClose, 0xfe, 1, make([]byte, 8))))
	b := Data{StreamID: 1, Flags: 0xff, Data: []byte{1}}.Append(nil)
	require.Equal(t, byte(FlagCompressMask), b[1], "encoders send undefined bits as 0")
	b = Open{StreamID: 1, Flags: 0xff, Kind: KindUpload, Route: "r"}.Append(nil)
	require.Equal(t, byte(FlagChecksum), b[1])
}

func TestAppendClampsAndValidateReports(t *testing.T) {
	longReason := "x" + strings.Repeat("é", 512) // 1025 bytes
	c := Cancel{StreamID: 1, Code: CodeCancelled, Reason: longReason}
	require.ErrorIs(t, c.Validate(), ErrFrameSize)
	got := parseOne(t, c.Append(nil)).(Cancel)
	require.Equal(t, "x"+strings.Repeat("é", 511), got.Reason, "cut at a UTF-8 boundary")
	require.Len(t, c.Append(nil), c.Length())

	e := Error{Reason: strings.Repeat("a", 2000)}
	require.ErrorIs(t, e.Validate(), ErrFrameSize)
	require.Len(t, parseOne(t, e.Append(nil)).(Error).Reason, MaxReasonLen)
	g := GoAway{Reason: strings.Repeat("a", 2000)}
	require.ErrorIs(t, g.Validate(), ErrFrameSize)
	require.Len(t, parseOne(t, g.Append(nil)).(GoAway).Reason, MaxReasonLen)
	require.Len(t, g.Append(nil), g.Length())

	o := Open{StreamID: 1, Kind: KindUpload, Route: strings.Repeat("r", 300)}
	require.ErrorIs(t, o.Validate(), ErrProtocol)
	require.Len(t, parseOne(t, o.Append(nil)).(Open).Route, MaxRouteLen)
	require.Len(t, o.Append(nil), o.Length())

	ev := Event{Name: strings.Repeat("n", 256)}
	require.ErrorIs(t, ev.Validate(), ErrProtocol)
	require.Len(t, parseOne(t, ev.Append(nil)).(Event).Name, MaxNameLen)
	require.Len(t, ev.Append(nil), ev.Length())

	rq := Request{ID: 1, Name: strings.Repeat("n", 256)}
	require.ErrorIs(t, rq.Validate(), ErrProtocol)
	require.Len(t, rq.Append(nil), rq.Length())

	ck := Checkpoint{StreamID: 1, Token: make([]byte, 2000)}
	require.ErrorIs(t, ck.Validate(), ErrFrameSize)
	require.Len(t, parseOne(t, ck.Append(nil)).(Checkpoint).Token, MaxTokenLen)
	require.Len(t, ck.Append(nil), ck.Length())

	big := make([]byte, MaxMetadataLen+1)
	require.ErrorIs(t, Accept{StreamID: 1, Metadata: big}.Validate(), ErrFrameSize)
	require.ErrorIs(t, Open{StreamID: 1, Kind: 1, Route: "r", Metadata: big}.Validate(), ErrFrameSize)
	require.ErrorIs(t, Hello{JSON: make([]byte, MaxHandshakeLen+1)}.Validate(), ErrFrameSize)
	require.ErrorIs(t, Welcome{JSON: make([]byte, MaxHandshakeLen+1)}.Validate(), ErrFrameSize)
	require.Len(t, Accept{StreamID: 1, Metadata: big}.Append(nil), Accept{StreamID: 1, Metadata: big}.Length())
	require.Equal(t, HeaderLen+MaxHandshakeLen, Hello{JSON: make([]byte, MaxHandshakeLen+1)}.Length())

	// Validate catches what the peer's parser would reject.
	invalid := []Frame{
		Open{Kind: KindUpload, Route: "r"}, Open{StreamID: 1, Route: "r"},
		Open{StreamID: 1, Kind: 1, Priority: 8, Route: "r"}, Open{StreamID: 1, Kind: 1},
		Accept{}, Data{}, Credit{}, Pause{}, Resume{}, Close{}, Cancel{}, Checkpoint{},
		Event{}, Request{Name: "x"}, Request{ID: 1}, Reply{},
	}
	for _, f := range invalid {
		err := f.Validate()
		require.ErrorIs(t, err, ErrProtocol, "%#v", f)
		// And the parser agrees.
		h, payload, _, perr := ParseFrame(f.Append(nil), Limits{})
		require.NoError(t, perr)
		_, derr := Decode(h, payload)
		require.True(t, errors.Is(derr, ErrProtocol) || errors.Is(derr, ErrFrameSize), "%#v: %v", f, derr)
	}
}

func TestMaxPayload(t *testing.T) {
	n, ok := MaxPayload(TypeData, 0)
	require.True(t, ok)
	require.Equal(t, uint64(8+65536), n)
	n, _ = MaxPayload(TypeRequest, 100)
	require.Equal(t, uint64(5+255+100), n)
	_, ok = MaxPayload(0x55, 100)
	require.False(t, ok)
	// Every sample fits its bound, and every known type has one.
	for _, s := range sampleFrames() {
		max, ok := MaxPayload(s.frame.Type(), vectorMaxFrame)
		require.True(t, ok)
		require.LessOrEqual(t, uint64(s.frame.Length()-HeaderLen), max, s.name)
	}
}
