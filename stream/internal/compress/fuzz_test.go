package compress

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecompress feeds arbitrary input to both decoders: no panic, output
// never above max, every error typed, and the destination prefix kept.
func FuzzDecompress(f *testing.F) {
	c := NewCodec(Options{})
	for _, src := range [][]byte{nil, []byte("a"), jsonLines(700), randomBytes(600, 1), make([]byte, 5000)} {
		for _, alg := range []Algorithm{Gzip, Zstd} {
			comp, err := c.Compress(alg, nil, src)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(alg), comp, uint16(len(src)))
			f.Add(uint8(alg), comp, uint16(len(src)/2))
		}
	}
	f.Add(uint8(Zstd), zstdBomb(4), uint16(1000))
	f.Fuzz(func(t *testing.T, alg uint8, src []byte, max uint16) {
		prefix := []byte("pre")
		out, err := c.Decompress(Algorithm(alg%4), bytes.Clone(prefix), src, int(max))
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("destination prefix lost")
		}
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
			if len(out) != len(prefix) {
				t.Fatalf("error %v with %d output bytes", err, len(out)-len(prefix))
			}
			return
		}
		if len(out)-len(prefix) > int(max) {
			t.Fatalf("%d bytes out, max %d", len(out)-len(prefix), max)
		}
	})
}

// FuzzRoundTrip compresses arbitrary data with each algorithm and checks
// that it decompresses to the same bytes, with max exactly its length.
func FuzzRoundTrip(f *testing.F) {
	c := NewCodec(Options{})
	f.Add([]byte{})
	f.Add(jsonLines(2000))
	f.Add(randomBytes(700, 3))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, alg := range algorithms {
			comp, _, err := c.Encode(alg, nil, src)
			if err != nil {
				t.Fatal(err)
			}
			if len(comp) > len(src) && len(src) > 0 {
				t.Fatalf("%s: Encode grew %d bytes to %d", alg, len(src), len(comp))
			}
			comp, err = c.Compress(alg, nil, src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Decompress(alg, nil, comp, len(src))
			if err != nil || !bytes.Equal(out, src) {
				t.Fatalf("%s: round trip failed: %v", alg, err)
			}
		}
	})
}
