package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHotPathsDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 128)
	data := make([]byte, 1000)
	frame := Data{StreamID: 7, Flags: 2, Offset: 1 << 30, Data: data}.Append(nil)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendDataHeader(buf[:0], 7, 2, 1<<30, len(data))
	})
	require.Zero(t, allocs, "AppendDataHeader")
	full := make([]byte, 0, 2048)
	allocs = testing.AllocsPerRun(100, func() {
		full = Data{StreamID: 7, Offset: 1, Data: data}.Append(full[:0])
		full = Credit{StreamID: 7, Limit: 1}.Append(full)
		full = Ping{}.Append(full)
		full = AppendEventHeader(full, 0, "name", 3)
		full = AppendRequestHeader(full, 1, 0, 0, "name", 3)
		full = AppendReplyHeader(full, 1, 0, 0, 3)
	})
	require.Zero(t, allocs, "Append with capacity")
	allocs = testing.AllocsPerRun(100, func() {
		h, payload, _, err := ParseFrame(frame, Limits{})
		if err != nil {
			panic(err)
		}
		if _, err := ParseData(h, payload); err != nil {
			panic(err)
		}
	})
	require.Zero(t, allocs, "ParseFrame + ParseData")
}

func BenchmarkAppendDataHeader(b *testing.B) {
	buf := make([]byte, 0, DataHeaderLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendDataHeader(buf[:0], 7, 2, 1<<30, 65536)
	}
}

func BenchmarkParseData(b *testing.B) {
	frame := Data{StreamID: 7, Offset: 1 << 30, Data: make([]byte, 65536)}.Append(nil)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		h, payload, _, err := ParseFrame(frame, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseData(h, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMessage parses a message of mixed small frames.
func BenchmarkParseMessage(b *testing.B) {
	var msg []byte
	for _, s := range sampleFrames() {
		msg = s.frame.Append(msg)
	}
	lim := Limits{MaxFrame: vectorMaxFrame}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := msg; len(rest) > 0; {
			h, payload, n, err := ParseFrame(rest, lim)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Decode(h, payload); err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
}
