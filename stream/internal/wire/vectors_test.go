package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"testing"

	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/wire/vectors.json from the samples in this package")

const vectorsPath = "../../../testdata/wire/vectors.json"

type vectorFile struct {
	Description string          `json:"description"`
	Version     int             `json:"protocolVersion"`
	MaxFrame    uint32          `json:"maxFrame"`
	Frames      []frameVector   `json:"frames"`
	Messages    []messageVector `json:"messages"`
	Invalid     []invalidVector `json:"invalid"`
}

type frameVector struct {
	Name       string          `json:"name"`
	Note       string          `json:"note,omitempty"`
	Hex        string          `json:"hex"`
	Frame      json.RawMessage `json:"frame"`
	DecodeOnly bool            `json:"decodeOnly,omitempty"`
	Plain      string          `json:"plain,omitempty"`
}

type messageVector struct {
	Name   string            `json:"name"`
	Note   string            `json:"note,omitempty"`
	Hex    string            `json:"hex"`
	Frames []json.RawMessage `json:"frames"`
}

type invalidVector struct {
	Name  string `json:"name"`
	Note  string `json:"note,omitempty"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
}

// Error classes of invalid vectors.
const (
	classEOF       = "EOF"
	classFrameSize = "FRAME_SIZE_ERROR"
	classProtocol  = "PROTOCOL_ERROR"
)

func errorClass(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return classEOF
	case errors.Is(err, ErrFrameSize):
		return classFrameSize
	case errors.Is(err, ErrProtocol):
		return classProtocol
	}
	return "unexpected error: " + err.Error()
}

// decodeAll parses every frame in msg, skipping unknown types, and returns
// the frames up to the first error.
func decodeAll(msg []byte, lim Limits) ([]Frame, error) {
	if len(msg) == 0 {
		return nil, io.EOF
	}
	var frames []Frame
	for len(msg) > 0 {
		h, payload, n, err := ParseFrame(msg, lim)
		if err != nil {
			return frames, err
		}
		msg = msg[n:]
		if !h.Type.Known() {
			continue
		}
		f, err := Decode(h, payload)
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
	}
	return frames, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// hdr encodes a raw header (for hand-made vectors).
func hdr(ty FrameType, flags uint8, id, length uint32) []byte {
	return AppendHeader(nil, Header{Type: ty, Flags: flags, StreamID: id, Length: length})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// buildVectors generates the vector file from the samples and the
// hand-made cases below.
func buildVectors() vectorFile {
	vf := vectorFile{
		Description: "streamd wire protocol v1 test vectors; schema in testdata/wire/README.md, spec in docs/PROTOCOL.md",
		Version:     1,
		MaxFrame:    vectorMaxFrame,
	}
	for _, s := range sampleFrames() {
		v := frameVector{Name: s.name, Note: s.note, Hex: hexs(s.frame.Append(nil)), Frame: mustJSON(frameJSON(s.frame))}
		if s.plain != nil {
			v.Plain = hexs(s.plain)
		}
		vf.Frames = append(vf.Frames, v)
	}
	// Decode-only: undefined flag bits are ignored (and dropped).
	decodeOnly := []struct {
		name, note string
		raw        []byte
	}{
		{"ping/undefined-flags", "flags 0xff on PING: all undefined, ignored", cat(hdr(TypePing, 0xff, 0, 8), []byte{1, 2, 3, 4, 5, 6, 7, 8})},
		{"data/undefined-flags", "flags 0xfe on DATA: only bits 0–1 (here 2, zstd) are defined", cat(hdr(TypeData, 0xfe, 1, 8), make([]byte, 8))},
		{"close/undefined-flags", "flags 0xfe on CLOSE: bit 0 clear, so no checksum", cat(hdr(TypeClose, 0xfe, 1, 8), []byte{0, 0, 0, 0, 0, 0, 0, 5})},
		{"open/undefined-flags", "flags 0x81 on OPEN: only CHECKSUM (0x01) is defined", cat(hdr(TypeOpen, 0x81, 1, 13), []byte{1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'r'})},
	}
	for _, d := range decodeOnly {
		f, err := decodeAll(d.raw, Limits{MaxFrame: vectorMaxFrame})
		if err != nil || len(f) != 1 {
			panic(d.name + ": " + err.Error())
		}
		vf.Frames = append(vf.Frames, frameVector{Name: d.name, Note: d.note, Hex: hexs(d.raw), Frame: mustJSON(frameJSON(f[0])), DecodeOnly: true})
	}

	// Messages: several frames back to back; unknown types are skipped.
	unknown := cat(hdr(0x7f, 0xff, 3, 6), []byte("future"))
	bigUnknown := cat(hdr(0x20, 0, 0, 2000), bytes.Repeat([]byte{0xab}, 2000))
	messages := []struct {
		name, note string
		parts      []Frame
		raw        []byte
	}{
		{name: "message/upload", note: "OPEN, DATA and CLOSE packed in one message",
			parts: []Frame{Open{StreamID: 1, Kind: KindUpload, Route: "files/upload", Metadata: []byte(`{"name":"a.txt"}`)},
				Data{StreamID: 1, Data: []byte("hello")}, Close{StreamID: 1, Total: 5}}},
		{name: "message/skip-unknown", note: "the frame of unknown type 0x7f between CREDIT and PING is skipped",
			raw: cat(Credit{StreamID: 1, Limit: 65536}.Append(nil), unknown, Ping{}.Append(nil))},
		{name: "message/unknown-above-max-frame", note: "unknown types have no length bound of their own: this one (2000 bytes) exceeds maxFrame and is skipped",
			raw: cat(bigUnknown, Pause{StreamID: 2}.Append(nil))},
	}
	for _, m := range messages {
		raw := m.raw
		for _, f := range m.parts {
			raw = f.Append(raw)
		}
		frames, err := decodeAll(raw, Limits{MaxFrame: vectorMaxFrame})
		if err != nil {
			panic(m.name + ": " + err.Error())
		}
		mv := messageVector{Name: m.name, Note: m.note, Hex: hexs(raw)}
		for _, f := range frames {
			mv.Frames = append(mv.Frames, mustJSON(frameJSON(f)))
		}
		vf.Messages = append(vf.Messages, mv)
	}

	openP := func(kind, prio byte, routeLen uint16, rest string) []byte {
		return cat([]byte{kind, prio, byte(routeLen >> 8), byte(routeLen)}, make([]byte, 8), []byte(rest))
	}
	withHdr := func(ty FrameType, flags uint8, id uint32, p []byte) []byte {
		return cat(hdr(ty, flags, id, uint32(len(p))), p)
	}
	invalid := []invalidVector{
		{Name: "eof/empty", Note: "no bytes at all", Error: classEOF},
		{Name: "eof/short-header", Note: "5 of the 10 header bytes", Hex: hexs(hdr(TypeData, 0, 1, 13)[:5]), Error: classEOF},
		{Name: "eof/short-payload", Note: "DATA of length 13 with 9 payload bytes", Hex: hexs(Data{StreamID: 1, Data: []byte("hello")}.Append(nil)[:19]), Error: classEOF},
		{Name: "eof/after-frame", Note: "a whole PING, then 3 bytes of a header", Hex: hexs(cat(Ping{}.Append(nil), []byte{5, 0, 0})), Error: classEOF},
		{Name: "size/data-above-max-frame", Note: "DATA length 8 + maxFrame + 1; rejected from the header alone, before the payload arrives", Hex: hexs(hdr(TypeData, 0, 1, 8+vectorMaxFrame+1)), Error: classFrameSize},
		{Name: "size/event-above-max-frame", Note: "EVENT length 1 + 255 + maxFrame + 1", Hex: hexs(hdr(TypeEvent, 0, 0, 1+255+vectorMaxFrame+1)), Error: classFrameSize},
		{Name: "size/request-above-max-frame", Note: "REQUEST length 5 + 255 + maxFrame + 1", Hex: hexs(hdr(TypeRequest, 0, 1, 5+255+vectorMaxFrame+1)), Error: classFrameSize},
		{Name: "size/reply-above-max-frame", Note: "REPLY length 4 + maxFrame + 1", Hex: hexs(hdr(TypeReply, 0, 1, 4+vectorMaxFrame+1)), Error: classFrameSize},
		{Name: "size/hello-too-long", Note: "HELLO length 65537", Hex: hexs(hdr(TypeHello, 0, 0, 65537)), Error: classFrameSize},
		{Name: "size/cancel-reason-too-long", Note: "CANCEL length 4 + 1025", Hex: hexs(hdr(TypeCancel, 0, 1, 4+1025)), Error: classFrameSize},
		{Name: "size/goaway-reason-too-long", Note: "GOAWAY length 8 + 1025", Hex: hexs(hdr(TypeGoAway, 0, 0, 8+1025)), Error: classFrameSize},
		{Name: "size/checkpoint-token-too-long", Note: "CHECKPOINT length 8 + 1025", Hex: hexs(hdr(TypeCheckpoint, 0, 1, 8+1025)), Error: classFrameSize},
		{Name: "size/open-too-long", Note: "OPEN length 12 + 255 + 65536 + 1", Hex: hexs(hdr(TypeOpen, 0, 1, 12+255+65536+1)), Error: classFrameSize},
		{Name: "size/credit-long", Note: "CREDIT is exactly 8 bytes", Hex: hexs(withHdr(TypeCredit, 0, 1, make([]byte, 9))), Error: classFrameSize},
		{Name: "size/credit-short", Hex: hexs(withHdr(TypeCredit, 0, 1, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/pause-with-payload", Note: "PAUSE is exactly 0 bytes", Hex: hexs(withHdr(TypePause, 0, 1, []byte{0})), Error: classFrameSize},
		{Name: "size/ping-short", Note: "PING is exactly 8 bytes", Hex: hexs(withHdr(TypePing, 0, 0, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/close-checksum-missing", Note: "CLOSE with flag 0x01 is exactly 40 bytes", Hex: hexs(withHdr(TypeClose, FlagChecksum, 1, make([]byte, 8))), Error: classFrameSize},
		{Name: "size/close-40-without-flag", Note: "CLOSE without flag 0x01 is exactly 8 bytes", Hex: hexs(withHdr(TypeClose, 0, 1, make([]byte, 40))), Error: classFrameSize},
		{Name: "size/data-short", Note: "DATA needs its 8-byte offset", Hex: hexs(withHdr(TypeData, 0, 1, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/open-short", Note: "OPEN needs 12 fixed bytes", Hex: hexs(withHdr(TypeOpen, 0, 1, make([]byte, 11))), Error: classFrameSize},
		{Name: "size/accept-short", Hex: hexs(withHdr(TypeAccept, 0, 1, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/cancel-short", Hex: hexs(withHdr(TypeCancel, 0, 1, make([]byte, 3))), Error: classFrameSize},
		{Name: "size/goaway-short", Hex: hexs(withHdr(TypeGoAway, 0, 0, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/event-empty", Note: "EVENT needs its name length byte", Hex: hexs(withHdr(TypeEvent, 0, 0, nil)), Error: classFrameSize},
		{Name: "size/request-short", Note: "REQUEST needs 5 fixed bytes", Hex: hexs(withHdr(TypeRequest, 0, 1, make([]byte, 4))), Error: classFrameSize},
		{Name: "size/reply-short", Hex: hexs(withHdr(TypeReply, 0, 1, make([]byte, 3))), Error: classFrameSize},
		{Name: "size/checkpoint-short", Hex: hexs(withHdr(TypeCheckpoint, 0, 1, make([]byte, 7))), Error: classFrameSize},
		{Name: "size/ack-long", Note: "ACK is exactly 8 bytes", Hex: hexs(withHdr(TypeAck, 0, 1, make([]byte, 16))), Error: classFrameSize},
		{Name: "protocol/open-kind-0", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(0, 0, 1, "r"))), Error: classProtocol},
		{Name: "protocol/open-kind-5", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(5, 0, 1, "r"))), Error: classProtocol},
		{Name: "protocol/open-priority-8", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(1, 8, 1, "r"))), Error: classProtocol},
		{Name: "protocol/open-empty-route", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(1, 0, 0, "{}"))), Error: classProtocol},
		{Name: "protocol/open-route-256", Note: "route length 256 (the payload holds 256 bytes)", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(1, 0, 256, string(bytes.Repeat([]byte("r"), 256))))), Error: classProtocol},
		{Name: "protocol/open-route-past-end", Note: "route length 5, 4 bytes left", Hex: hexs(withHdr(TypeOpen, 0, 1, openP(1, 0, 5, "abcd"))), Error: classProtocol},
		{Name: "protocol/open-stream-0", Hex: hexs(withHdr(TypeOpen, 0, 0, openP(1, 0, 1, "r"))), Error: classProtocol},
		{Name: "protocol/data-stream-0", Hex: hexs(withHdr(TypeData, 0, 0, make([]byte, 8))), Error: classProtocol},
		{Name: "protocol/credit-stream-0", Hex: hexs(withHdr(TypeCredit, 0, 0, make([]byte, 8))), Error: classProtocol},
		{Name: "protocol/ack-stream-0", Hex: hexs(withHdr(TypeAck, 0, 0, make([]byte, 8))), Error: classProtocol},
		{Name: "protocol/ping-on-stream", Note: "session-level frames carry stream id 0", Hex: hexs(withHdr(TypePing, 0, 1, make([]byte, 8))), Error: classProtocol},
		{Name: "protocol/hello-on-stream", Hex: hexs(withHdr(TypeHello, 0, 1, []byte("{}"))), Error: classProtocol},
		{Name: "protocol/goaway-on-stream", Hex: hexs(withHdr(TypeGoAway, 0, 3, make([]byte, 8))), Error: classProtocol},
		{Name: "protocol/event-on-stream", Hex: hexs(withHdr(TypeEvent, 0, 1, []byte{1, 'e'})), Error: classProtocol},
		{Name: "protocol/event-empty-name", Hex: hexs(withHdr(TypeEvent, 0, 0, []byte{0, 'x'})), Error: classProtocol},
		{Name: "protocol/event-name-past-end", Note: "name length 3, 2 bytes left", Hex: hexs(withHdr(TypeEvent, 0, 0, []byte{3, 'a', 'b'})), Error: classProtocol},
		{Name: "protocol/request-id-0", Hex: hexs(withHdr(TypeRequest, 0, 0, []byte{0, 0, 0, 0, 1, 'q'})), Error: classProtocol},
		{Name: "protocol/request-empty-name", Hex: hexs(withHdr(TypeRequest, 0, 1, []byte{0, 0, 0, 0, 0})), Error: classProtocol},
		{Name: "protocol/reply-id-0", Hex: hexs(withHdr(TypeReply, 0, 0, make([]byte, 4))), Error: classProtocol},
		{Name: "protocol/in-message", Note: "a valid PING, then DATA on stream 0: the second frame fails", Hex: hexs(cat(Ping{}.Append(nil), withHdr(TypeData, 0, 0, make([]byte, 8)))), Error: classProtocol},
	}
	vf.Invalid = invalid
	return vf
}

func encodeVectors(vf vectorFile) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vf); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestVectors(t *testing.T) {
	if *update {
		require.NoError(t, os.MkdirAll("../../../testdata/wire", 0o755))
		require.NoError(t, os.WriteFile(vectorsPath, encodeVectors(buildVectors()), 0o644))
	}
	raw, err := os.ReadFile(vectorsPath)
	require.NoError(t, err, "run go test -run TestVectors -update to create it")
	var vf vectorFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&vf))
	require.Equal(t, 1, vf.Version)
	lim := Limits{MaxFrame: vf.MaxFrame}
	codec := compress.NewCodec(compress.Options{})

	seen := map[FrameType]bool{}
	for _, v := range vf.Frames {
		t.Run(v.Name, func(t *testing.T) {
			b, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			want, err := frameFromJSON(v.Frame)
			require.NoError(t, err)
			frames, err := decodeAll(b, lim)
			require.NoError(t, err)
			require.Len(t, frames, 1)
			require.Equal(t, want, frames[0], "hex decodes to frame")
			require.JSONEq(t, string(v.Frame), string(mustJSON(frameJSON(frames[0]))))
			if !v.DecodeOnly {
				require.Equal(t, v.Hex, hexs(want.Append(nil)), "frame encodes to hex")
				require.Equal(t, len(b), want.Length())
			}
			if v.Plain != "" {
				plain, err := hex.DecodeString(v.Plain)
				require.NoError(t, err)
				var data []byte
				var flags uint8
				switch f := frames[0].(type) {
				case Data:
					data, flags = f.Data, f.Flags
				case Event:
					data, flags = f.Data, f.Flags
				case Request:
					data, flags = f.Data, f.Flags
				case Reply:
					data, flags = f.Data, f.Flags
				}
				out, err := codec.Decompress(compress.Algorithm(flags&FlagCompressMask), nil, data, int(vf.MaxFrame))
				require.NoError(t, err)
				require.Equal(t, plain, out)
			}
			seen[frames[0].Type()] = true
		})
	}
	for ty := TypeHello; ty <= TypeAck; ty++ {
		require.True(t, seen[ty], "no vector for %s", ty)
	}
	for _, v := range vf.Messages {
		t.Run(v.Name, func(t *testing.T) {
			b, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			frames, err := decodeAll(b, lim)
			require.NoError(t, err)
			require.Len(t, frames, len(v.Frames))
			for i, f := range frames {
				want, err := frameFromJSON(v.Frames[i])
				require.NoError(t, err)
				require.Equal(t, want, f)
			}
		})
	}
	for _, v := range vf.Invalid {
		t.Run(v.Name, func(t *testing.T) {
			b, err := hex.DecodeString(v.Hex)
			require.NoError(t, err)
			_, err = decodeAll(b, lim)
			require.Error(t, err)
			require.Equal(t, v.Error, errorClass(err), "%v", err)
		})
	}
}
