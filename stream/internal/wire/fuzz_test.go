package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The fuzz targets assert, for any input: no panic; when a frame parses, it
// validates, re-encodes to exactly Length() bytes (equal to what was
// consumed), and the re-encoding parses to the same value.

// fuzzLimits is small so that the fuzzer reaches the size bounds.
var fuzzLimits = Limits{MaxFrame: 64}

// checkFrame checks the round-trip properties of one parsed frame.
func checkFrame(t *testing.T, h Header, payload []byte, consumed int) {
	f, err := Decode(h, payload)
	if err != nil {
		if f != nil {
			t.Fatalf("%s: error %v with a frame %#v", h.Type, err, f)
		}
		if _, ok := ErrorCode(err); !ok {
			t.Fatalf("%s: untyped error %v", h.Type, err)
		}
		return
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("%s parsed but does not validate: %v (%#v)", h.Type, err, f)
	}
	if f.Length() != consumed {
		t.Fatalf("%s: Length() %d, consumed %d", h.Type, f.Length(), consumed)
	}
	enc := f.Append(nil)
	if len(enc) != consumed {
		t.Fatalf("%s: re-encoded %d bytes, consumed %d", h.Type, len(enc), consumed)
	}
	h2, p2, n2, err := ParseFrame(enc, fuzzLimits)
	if err != nil {
		t.Fatalf("%s: re-encoded frame does not parse: %v", h.Type, err)
	}
	if n2 != len(enc) {
		t.Fatalf("%s: re-parse consumed %d of %d", h.Type, n2, len(enc))
	}
	f2, err := Decode(h2, p2)
	if err != nil {
		t.Fatalf("%s: re-encoded frame does not decode: %v", h.Type, err)
	}
	if !equalFrames(f, f2) {
		t.Fatalf("%s: round trip changed the frame:\n%#v\n%#v", h.Type, f, f2)
	}
}

// equalFrames compares frames by their canonical encoding and JSON form.
func equalFrames(a, b Frame) bool {
	return bytes.Equal(a.Append(nil), b.Append(nil)) &&
		bytes.Equal(mustJSON(frameJSON(a)), mustJSON(frameJSON(b)))
}

func seedFrames(f *testing.F) {
	for _, s := range sampleFrames() {
		f.Add(s.frame.Append(nil))
	}
	f.Add([]byte{})
	f.Add(hdr(TypeData, 0, 1, 1<<31))
}

// FuzzParseFrame parses one frame of any type.
func FuzzParseFrame(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, n, err := ParseFrame(b, fuzzLimits)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with %d bytes consumed", err, n)
			}
			return
		}
		if n != HeaderLen+int(h.Length) || n > len(b) || len(payload) != int(h.Length) {
			t.Fatalf("consumed %d, header length %d, payload %d, input %d", n, h.Length, len(payload), len(b))
		}
		if h.Type.Known() {
			checkFrame(t, h, payload, n)
		}
	})
}

// FuzzMessage parses a whole transport message: frames back to back,
// unknown types skipped. Re-encoding every frame (unknown ones verbatim)
// must reproduce a message that decodes to the same frames.
func FuzzMessage(f *testing.F) {
	samples := sampleFrames()
	var all []byte
	for i, s := range samples {
		all = s.frame.Append(all)
		if i%5 == 4 {
			f.Add(all)
			all = nil
		}
	}
	f.Add(all)
	f.Add(cat(Credit{StreamID: 1, Limit: 9}.Append(nil), hdr(0x7f, 0, 0, 2), []byte{1, 2}, Ping{}.Append(nil)))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var re []byte
		var frames []Frame
		rest := msg
		for len(rest) > 0 {
			h, payload, n, err := ParseFrame(rest, fuzzLimits)
			if err != nil {
				break
			}
			if !h.Type.Known() {
				re = append(re, rest[:n]...)
			} else {
				fr, err := Decode(h, payload)
				if err != nil {
					break
				}
				frames = append(frames, fr)
				re = fr.Append(re)
			}
			rest = rest[n:]
		}
		if len(re) > len(msg) {
			t.Fatalf("re-encoded %d bytes from %d", len(re), len(msg))
		}
		got, err := decodeAll(re, fuzzLimits)
		if len(re) > 0 && err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if len(got) != len(frames) {
			t.Fatalf("%d frames, re-decoded %d", len(frames), len(got))
		}
		for i := range got {
			if !equalFrames(frames[i], got[i]) {
				t.Fatalf("frame %d changed:\n%#v\n%#v", i, frames[i], got[i])
			}
		}
	})
}

// fuzzType fuzzes the parser of one frame type with arbitrary flags, stream
// id and payload.
func fuzzType(f *testing.F, ty FrameType) {
	for _, s := range sampleFrames() {
		if s.frame.Type() == ty {
			b := s.frame.Append(nil)
			f.Add(b[1], binary.BigEndian.Uint32(b[2:6]), b[HeaderLen:])
		}
	}
	f.Add(uint8(0), uint32(0), []byte{})
	f.Add(uint8(0xff), uint32(1), make([]byte, 300))
	f.Fuzz(func(t *testing.T, flags uint8, id uint32, payload []byte) {
		b := cat(hdr(ty, flags, id, uint32(len(payload))), payload)
		h, p, n, err := ParseFrame(b, fuzzLimits)
		if err != nil {
			return // over the length bound for this type
		}
		checkFrame(t, h, p, n)
	})
}

func FuzzHello(f *testing.F)      { fuzzType(f, TypeHello) }
func FuzzWelcome(f *testing.F)    { fuzzType(f, TypeWelcome) }
func FuzzOpen(f *testing.F)       { fuzzType(f, TypeOpen) }
func FuzzAccept(f *testing.F)     { fuzzType(f, TypeAccept) }
func FuzzData(f *testing.F)       { fuzzType(f, TypeData) }
func FuzzCredit(f *testing.F)     { fuzzType(f, TypeCredit) }
func FuzzPause(f *testing.F)      { fuzzType(f, TypePause) }
func FuzzResume(f *testing.F)     { fuzzType(f, TypeResume) }
func FuzzClose(f *testing.F)      { fuzzType(f, TypeClose) }
func FuzzCancel(f *testing.F)     { fuzzType(f, TypeCancel) }
func FuzzError(f *testing.F)      { fuzzType(f, TypeError) }
func FuzzPing(f *testing.F)       { fuzzType(f, TypePing) }
func FuzzPong(f *testing.F)       { fuzzType(f, TypePong) }
func FuzzGoAway(f *testing.F)     { fuzzType(f, TypeGoAway) }
func FuzzEvent(f *testing.F)      { fuzzType(f, TypeEvent) }
func FuzzRequest(f *testing.F)    { fuzzType(f, TypeRequest) }
func FuzzReply(f *testing.F)      { fuzzType(f, TypeReply) }
func FuzzCheckpoint(f *testing.F) { fuzzType(f, TypeCheckpoint) }
func FuzzAck(f *testing.F)        { fuzzType(f, TypeAck) }

// FuzzHandshakeJSON decodes HELLO and WELCOME JSON: no panic, typed errors,
// and encoding is stable after one round.
func FuzzHandshakeJSON(f *testing.F) {
	for _, s := range sampleFrames() {
		switch fr := s.frame.(type) {
		case Hello:
			f.Add(fr.JSON)
		case Welcome:
			f.Add(fr.JSON)
		}
	}
	f.Add([]byte(`{"versions":[1],"x":{"y":[null,true]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := UnmarshalHello(b); err == nil {
			b2, err := MarshalHello(h)
			if err != nil {
				return // grew past the cap when re-escaped
			}
			h2, err := UnmarshalHello(b2)
			if err != nil {
				t.Fatalf("re-encoded HELLO does not decode: %v\n%s", err, b2)
			}
			if b3, _ := MarshalHello(h2); !bytes.Equal(b2, b3) {
				t.Fatalf("HELLO encoding unstable:\n%s\n%s", b2, b3)
			}
		} else if _, ok := ErrorCode(err); !ok {
			t.Fatalf("untyped error %v", err)
		}
		if w, err := UnmarshalWelcome(b); err == nil {
			b2, err := MarshalWelcome(w)
			if err != nil {
				return
			}
			w2, err := UnmarshalWelcome(b2)
			if err != nil {
				t.Fatalf("re-encoded WELCOME does not decode: %v\n%s", err, b2)
			}
			if b3, _ := MarshalWelcome(w2); !bytes.Equal(b2, b3) {
				t.Fatalf("WELCOME encoding unstable:\n%s\n%s", b2, b3)
			}
		} else if _, ok := ErrorCode(err); !ok {
			t.Fatalf("untyped error %v", err)
		}
	})
}
