package wire

import (
	"crypto/sha256"
	"math"
	"strings"

	"github.com/streamd/streamd/stream/internal/compress"
)

// sample is a named frame for the round-trip tests, the fuzz seeds and the
// shared test vectors.
type sample struct {
	name  string
	note  string
	frame Frame
	// plain is the decompressed data of a compressed frame (vectors only).
	plain []byte
}

// vectorMaxFrame is the maxFrame the vectors (and the samples) are parsed
// with: small, so that max-length frames stay readable.
const vectorMaxFrame = 1024

func repeat(s string, n int) string { return strings.Repeat(s, n) }

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// sampleFrames returns frames of every type with their interesting field
// values: empty and maximal fields, flags, compression bits, id extremes.
func sampleFrames() []sample {
	sum := sha256.Sum256([]byte("hello"))
	samples := []sample{
		{name: "hello/basic", frame: Hello{JSON: []byte(`{"versions":[1],"compression":["zstd","gzip"],"maxFrame":65536,"maxMessage":1048576,"window":262144,"client":"streamd-go/0.1"}`)}},
		{name: "hello/resume", frame: Hello{JSON: []byte(`{"versions":[1],"resume":{"token":"q83vEjRWeJq83vEjRWeJqw","streams":[{"id":3,"received":1048576}]}}`)}},
		{name: "welcome/basic", frame: Welcome{JSON: []byte(`{"version":1,"session":"9f1c2a","compression":["gzip"],"maxFrame":65536,"maxMessage":1048576,"window":262144,"maxStreams":1000,"resumeToken":"q83vEjRWeJq83vEjRWeJqw","resumeTTL":120,"pingInterval":15000}`)}},
		{name: "open/upload", frame: Open{StreamID: 1, Kind: KindUpload, Route: "files/upload", Metadata: []byte(`{"name":"a.txt"}`)}},
		{name: "open/download-checksum", note: "flag 0x01 CHECKSUM, priority 7", frame: Open{StreamID: 3, Flags: FlagChecksum, Kind: KindDownload, Priority: 7, Window: 262144, Route: "files/download", Metadata: []byte(`{"name":"big.iso"}`)}},
		{name: "open/bidi-empty-metadata", note: "metadata length 0 means {}", frame: Open{StreamID: 5, Kind: KindBidi, Priority: 3, Window: 65536, Route: "echo", Metadata: []byte{}}},
		{name: "open/broadcast-max-route", note: "route of 255 bytes, the maximum", frame: Open{StreamID: 2, Kind: KindBroadcast, Window: math.MaxUint64, Route: "topic/" + repeat("r", 249), Metadata: []byte(`{}`)}},
		{name: "open/max-stream-id", frame: Open{StreamID: math.MaxUint32, Kind: KindUpload, Route: "x", Metadata: []byte{}}},
		{name: "accept/basic", frame: Accept{StreamID: 1, Window: 262144, Metadata: []byte(`{"id":"u-42","offset":0}`)}},
		{name: "accept/empty-metadata", frame: Accept{StreamID: 4, Metadata: []byte{}}},
		{name: "data/hello", frame: Data{StreamID: 1, Data: []byte("hello")}},
		{name: "data/empty", frame: Data{StreamID: 1, Offset: 5, Data: []byte{}}},
		{name: "data/max-offset", frame: Data{StreamID: 7, Offset: math.MaxUint64, Data: []byte{0xff}}},
		{name: "data/max-length", note: "data of maxFrame (1024) bytes", frame: Data{StreamID: 9, Offset: 1 << 40, Data: seq(vectorMaxFrame)}},
		{name: "data/gzip", note: "flags 0x01: data is a gzip member; plain is its decompressed content",
			frame: Data{StreamID: 1, Flags: 1}, plain: []byte(repeat(`{"level":"info","msg":"request served"}`+"\n", 16))},
		{name: "data/zstd", note: "flags 0x02: data is a zstd frame; plain is its decompressed content",
			frame: Data{StreamID: 1, Flags: 2, Offset: 624}, plain: []byte(repeat(`{"level":"info","msg":"request served"}`+"\n", 16))},
		{name: "data/compression-reserved", note: "compression bits 3 parse; decompressing them is COMPRESSION_ERROR (§5)", frame: Data{StreamID: 1, Flags: 3, Data: []byte{1, 2, 3}}},
		{name: "credit/basic", frame: Credit{StreamID: 1, Limit: 524288}},
		{name: "credit/max", frame: Credit{StreamID: 2, Limit: math.MaxUint64}},
		{name: "pause/basic", frame: Pause{StreamID: 3}},
		{name: "resume/basic", frame: Resume{StreamID: 3}},
		{name: "close/basic", frame: Close{StreamID: 1, Total: 5}},
		{name: "close/zero", note: "the receiver's CLOSE(0): done", frame: Close{StreamID: 1}},
		{name: "close/checksum", note: "flag 0x01: SHA-256 of \"hello\" follows the total", frame: Close{StreamID: 1, Total: 5, HasChecksum: true, SHA256: sum}},
		{name: "cancel/basic", frame: Cancel{StreamID: 5, Code: CodeCancelled, Reason: "user abort"}},
		{name: "cancel/application-code", note: "application code, empty reason", frame: Cancel{StreamID: 5, Code: 0x1234, Reason: ""}},
		{name: "cancel/max-reason", note: "reason of 1024 bytes (512 × é), the maximum", frame: Cancel{StreamID: 5, Code: CodeCancelled, Reason: repeat("é", 512)}},
		{name: "error/stream", frame: Error{StreamID: 7, Code: CodeFlowControl, Reason: "stream 7: 70000 bytes beyond credit 65536"}},
		{name: "error/connection", note: "stream 0: a connection error", frame: Error{StreamID: 0, Code: CodeFrameSize, Reason: "DATA frame length 70000 exceeds 65544"}},
		{name: "ping/basic", frame: Ping{Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{name: "pong/basic", frame: Pong{Data: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{name: "goaway/basic", frame: GoAway{LastStreamID: 9, Code: CodeGoingAway, Reason: "server shutting down"}},
		{name: "goaway/empty-reason", frame: GoAway{LastStreamID: 0, Code: CodeNoError}},
		{name: "event/basic", frame: Event{Name: "log", Data: []byte(`{"line":"started"}`)}},
		{name: "event/empty-data", frame: Event{Name: "tick", Data: []byte{}}},
		{name: "event/max-name", note: "name of 255 bytes, the maximum", frame: Event{Name: repeat("n", 255), Data: []byte{0}}},
		{name: "event/gzip", note: "flags 0x01: data is a gzip member", frame: Event{Flags: 1, Name: "rows"}, plain: []byte(repeat(`{"id":1,"name":"alpha"},`, 30))},
		{name: "request/basic", frame: Request{ID: 1, TimeoutMS: 5000, Name: "files.list", Data: []byte(`{"dir":"/"}`)}},
		{name: "request/default-timeout", note: "timeout 0: the receiver's default", frame: Request{ID: math.MaxUint32, Name: "ping", Data: []byte{}}},
		{name: "request/max-data", note: "data of maxFrame (1024) bytes", frame: Request{ID: 2, TimeoutMS: 1, Name: "upload.chunk", Data: seq(vectorMaxFrame)}},
		{name: "reply/ok", frame: Reply{ID: 1, Code: CodeNoError, Data: []byte(`["a.txt","b.txt"]`)}},
		{name: "reply/error", note: "non-zero code: data is the UTF-8 reason", frame: Reply{ID: 1, Code: CodeNotFound, Data: []byte("no such directory")}},
		{name: "reply/empty", frame: Reply{ID: 3, Code: CodeBusy, Data: []byte{}}},
		{name: "checkpoint/basic", frame: Checkpoint{StreamID: 2, Offset: 1048576, Token: []byte(`{"row":12345}`)}},
		{name: "checkpoint/empty-token", frame: Checkpoint{StreamID: 2, Offset: 0, Token: []byte{}}},
		{name: "checkpoint/max-token", note: "token of 1024 bytes, the maximum", frame: Checkpoint{StreamID: 2, Offset: 7, Token: seq(MaxTokenLen)}},
		{name: "ack/basic", note: "resumable sessions: 917504 bytes of stream 3 arrived", frame: Ack{StreamID: 3, Received: 917504}},
		{name: "ack/fin", note: "flag 0x01 FIN: the peer's CLOSE arrived too", frame: Ack{StreamID: 1, Fin: true, Received: 5}},
	}
	// Compressed samples get their data from the compress package.
	codec := compress.NewCodec(compress.Options{})
	for i, s := range samples {
		if s.plain == nil {
			continue
		}
		switch f := s.frame.(type) {
		case Data:
			f.Data = mustCompress(codec, f.Flags, s.plain)
			samples[i].frame = f
		case Event:
			f.Data = mustCompress(codec, f.Flags, s.plain)
			samples[i].frame = f
		default:
			panic("sample " + s.name + ": plain on an unexpected type")
		}
	}
	return samples
}

func mustCompress(c *compress.Codec, flags uint8, plain []byte) []byte {
	b, err := c.Compress(compress.Algorithm(flags&FlagCompressMask), nil, plain)
	if err != nil {
		panic(err)
	}
	return b
}
