package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// jsonLines returns n bytes of JSON-lines-like log records (deterministic).
func jsonLines(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"debug", "info", "info", "info", "warn", "error"}
	paths := []string{"/api/v1/items", "/api/v1/users", "/healthz", "/api/v1/orders", "/static/app.js"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"ts":"2025-03-%02dT%02d:%02d:%02d.%03dZ","level":%q,"user":%d,"path":"%s/%d","status":%d,"latency_ms":%.2f,"msg":"request served"}`+"\n",
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), levels[r.IntN(len(levels))],
			r.IntN(100000), paths[r.IntN(len(paths))], r.IntN(10000), []int{200, 200, 200, 404, 500}[r.IntN(5)],
			r.Float64()*250)
	}
	return b.Bytes()[:n]
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var algorithms = []Algorithm{None, Gzip, Zstd}

func TestParseAlgorithm(t *testing.T) {
	for _, a := range algorithms {
		got, err := ParseAlgorithm(a.String())
		require.NoError(t, err)
		require.Equal(t, a, got)
	}
	got, err := ParseAlgorithm("ZSTD")
	require.NoError(t, err)
	require.Equal(t, Zstd, got)
	_, err = ParseAlgorithm("brotli")
	require.ErrorIs(t, err, ErrUnsupported)
	require.Equal(t, "algorithm(3)", Algorithm(3).String())
	require.False(t, Algorithm(3).Valid())
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, Options{}.Validate())
	require.NoError(t, Options{ZstdLevel: zstd.SpeedBestCompression, GzipLevel: gzip.BestCompression}.Validate())
	require.Error(t, Options{ZstdLevel: 9}.Validate())
	require.Error(t, Options{GzipLevel: 10}.Validate())
	require.Error(t, Options{MinSize: -1}.Validate())
	require.Panics(t, func() { NewCodec(Options{GzipLevel: 42}) })
	o := NewCodec(Options{}).Options()
	require.Equal(t, DefaultZstdLevel, o.ZstdLevel)
	require.Equal(t, DefaultGzipLevel, o.GzipLevel)
	require.Equal(t, DefaultMinSize, o.MinSize)
}

func TestRoundTrip(t *testing.T) {
	c := NewCodec(Options{})
	for _, size := range []int{0, 1, 511, 512, 64 << 10} {
		for name, src := range map[string][]byte{"random": randomBytes(size, uint64(size)), "json": jsonLines(size)} {
			for _, alg := range algorithms {
				t.Run(fmt.Sprintf("%s/%s/%d", alg, name, size), func(t *testing.T) {
					prefix := []byte("prefix")
					comp, err := c.Compress(alg, append([]byte(nil), prefix...), src)
					require.NoError(t, err)
					require.Equal(t, prefix, comp[:len(prefix)], "Compress appends")
					comp = comp[len(prefix):]
					if alg != None {
						require.NotEmpty(t, comp, "even empty input gives a complete frame")
					}

					out, err := c.Decompress(alg, append([]byte(nil), prefix...), comp, size)
					require.NoError(t, err)
					require.Equal(t, prefix, out[:len(prefix)], "Decompress appends")
					require.True(t, bytes.Equal(src, out[len(prefix):]))

					if size > 0 {
						out, err = c.Decompress(alg, prefix, comp, size-1)
						require.ErrorIs(t, err, ErrTooLarge)
						require.Equal(t, prefix, out, "dst is returned unchanged on error")
					}
					if alg == Zstd && name == "json" && size >= 512 {
						require.Less(t, len(comp), size/2, "JSON compresses")
					}
				})
			}
		}
	}
}

func TestAllLevelsRoundTrip(t *testing.T) {
	src := jsonLines(20000)
	var opts []Options
	for _, zl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		opts = append(opts, Options{ZstdLevel: zl})
	}
	for _, gl := range []int{gzip.StatelessCompression, gzip.HuffmanOnly, gzip.DefaultCompression, 5, 9} {
		opts = append(opts, Options{GzipLevel: gl})
	}
	for _, o := range opts {
		c := NewCodec(o)
		for _, alg := range []Algorithm{Gzip, Zstd} {
			comp, err := c.Compress(alg, nil, src)
			require.NoError(t, err)
			out, err := c.Decompress(alg, nil, comp, len(src))
			require.NoError(t, err, "%s %+v", alg, o)
			require.Equal(t, src, out)
		}
	}
}

func TestDecompressForeignStreams(t *testing.T) {
	c := NewCodec(Options{})
	src := jsonLines(300 << 10) // several zstd blocks

	t.Run("zstd without content size", func(t *testing.T) {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		require.NoError(t, err)
		_, err = zw.Write(src)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		var hdr zstd.Header
		require.NoError(t, hdr.Decode(buf.Bytes()))
		require.False(t, hdr.HasFCS, "streaming frame has no content size")

		out, err := c.Decompress(Zstd, nil, buf.Bytes(), len(src))
		require.NoError(t, err)
		require.Equal(t, src, out)
		_, err = c.Decompress(Zstd, nil, buf.Bytes(), len(src)-1)
		require.ErrorIs(t, err, ErrTooLarge)
	})

	t.Run("zstd concatenated frames", func(t *testing.T) {
		a, b := src[:1000], src[1000:3000]
		comp, err := c.Compress(Zstd, nil, a)
		require.NoError(t, err)
		comp, err = c.Compress(Zstd, comp, b)
		require.NoError(t, err)
		out, err := c.Decompress(Zstd, nil, comp, 3000)
		require.NoError(t, err)
		require.Equal(t, src[:3000], out)
		_, err = c.Decompress(Zstd, nil, comp, 2999)
		require.ErrorIs(t, err, ErrTooLarge)
	})

	t.Run("gzip from the standard writer with a name", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Name = "rows.json"
		_, err := zw.Write(src)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		out, err := c.Decompress(Gzip, nil, buf.Bytes(), len(src))
		require.NoError(t, err)
		require.Equal(t, src, out)
	})
}

func TestCorrupt(t *testing.T) {
	c := NewCodec(Options{})
	src := jsonLines(8000)
	for _, alg := range []Algorithm{Gzip, Zstd} {
		comp, err := c.Compress(alg, nil, src)
		require.NoError(t, err)
		flipped := bytes.Clone(comp)
		flipped[len(flipped)/2] ^= 0x55
		cases := map[string][]byte{
			"empty":     {},
			"garbage":   randomBytes(300, 9),
			"truncated": comp[:len(comp)-5],
			"flipped":   flipped,
			"trailing":  append(bytes.Clone(comp), 0x00, 0x01, 0x02, 0x03),
		}
		if alg == Gzip {
			// Two members: the spec allows exactly one.
			cases["two members"] = append(bytes.Clone(comp), comp...)
		}
		for name, in := range cases {
			t.Run(fmt.Sprintf("%s/%s", alg, name), func(t *testing.T) {
				out, err := c.Decompress(alg, []byte("x"), in, 1<<20)
				require.ErrorIs(t, err, ErrCorrupt, "got %v", err)
				require.NotErrorIs(t, err, ErrTooLarge)
				require.Equal(t, []byte("x"), out)
			})
		}
	}
	_, err := c.Decompress(Algorithm(3), nil, []byte{1, 2, 3}, 10)
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = c.Compress(Algorithm(3), nil, []byte{1, 2, 3})
	require.ErrorIs(t, err, ErrUnsupported)
}

func TestEncodeRules(t *testing.T) {
	c := NewCodec(Options{})
	small := jsonLines(DefaultMinSize - 1)
	out, alg, err := c.Encode(Zstd, nil, small)
	require.NoError(t, err)
	require.Equal(t, None, alg, "below MinSize stays raw")
	require.Equal(t, small, out)

	random := randomBytes(64<<10, 3)
	out, alg, err = c.Encode(Gzip, []byte("p"), random)
	require.NoError(t, err)
	require.Equal(t, None, alg, "incompressible stays raw")
	require.Equal(t, append([]byte("p"), random...), out)

	js := jsonLines(64 << 10)
	for _, a := range []Algorithm{Gzip, Zstd} {
		out, alg, err = c.Encode(a, []byte("p"), js)
		require.NoError(t, err)
		require.Equal(t, a, alg)
		require.Less(t, len(out), len(js)/2)
		dec, err := c.Decompress(alg, nil, out[1:], len(js))
		require.NoError(t, err)
		require.Equal(t, js, dec)
	}
	out, alg, err = c.Encode(None, nil, js)
	require.NoError(t, err)
	require.Equal(t, None, alg)
	require.Equal(t, js, out)

	// Data that passes the entropy guess but does not shrink is sent raw.
	c2 := NewCodec(Options{MinSize: 1})
	tiny := []byte("abc")
	out, alg, err = c2.Encode(Zstd, nil, tiny)
	require.NoError(t, err)
	require.Equal(t, None, alg, "a zstd frame of 3 bytes is larger than 3 bytes")
	require.Equal(t, tiny, out)
}

func TestCompressible(t *testing.T) {
	require.False(t, Compressible(randomBytes(64<<10, 4)))
	require.False(t, Compressible(randomBytes(4096, 5)))
	require.False(t, Compressible(randomBytes(DefaultMinSize, 6)))
	require.True(t, Compressible(jsonLines(64<<10)))
	require.True(t, Compressible(make([]byte, 64<<10)))
	require.True(t, Compressible([]byte("short")))
	c := NewCodec(Options{})
	gz, err := c.Compress(Gzip, nil, jsonLines(64<<10))
	require.NoError(t, err)
	require.False(t, Compressible(gz), "already-compressed data")
	sample := jsonLines(8192)
	require.Zero(t, testing.AllocsPerRun(10, func() { Compressible(sample) }))
}

func TestConcurrent(t *testing.T) {
	c := NewCodec(Options{})
	inputs := [][]byte{jsonLines(70000), jsonLines(600), randomBytes(5000, 11)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				src := inputs[(g+i)%len(inputs)]
				alg := algorithms[(g+i)%len(algorithms)]
				comp, err := c.Compress(alg, nil, src)
				if err == nil {
					var out []byte
					out, err = c.Decompress(alg, nil, comp, len(src))
					if err == nil && !bytes.Equal(out, src) {
						err = errors.New("round trip mismatch")
					}
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d, %s: %w", g, alg, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// allocDuring returns the bytes allocated while f runs.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestZstdBomb(t *testing.T) {
	c := NewCodec(Options{})
	const max = 64 << 10

	// The construction is right: a small one decodes to its zeros.
	out, err := c.Decompress(Zstd, nil, zstdBomb(3), 3*zstdRLEBlock)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 3*zstdRLEBlock), out)

	bomb := zstdBomb(1 << 30 / zstdRLEBlock)
	t.Logf("zstd bomb: 1 GiB of zeros in %d bytes", len(bomb))
	_, err = c.Decompress(Zstd, nil, bomb, max) // warm the decoder
	require.ErrorIs(t, err, ErrTooLarge)
	alloc := allocDuring(func() { _, err = c.Decompress(Zstd, nil, bomb, max) })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Less(t, alloc, uint64(4<<20), "a bomb must cost about max bytes")
	t.Logf("zstd bomb allocated %d bytes", alloc)

	// A bomb that declares its size is refused before decoding.
	declared := c.zenc.EncodeAll(make([]byte, 4<<20), nil)
	alloc = allocDuring(func() { _, err = c.Decompress(Zstd, nil, declared, max) })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Less(t, alloc, uint64(64<<10))
}

// zstdRLEBlock is the largest zstd block: 128 KiB.
const zstdRLEBlock = 128 << 10

// zstdBomb builds, as an attacker would, one zstd frame without a content
// size made of n RLE blocks of 128 KiB zeros (4 bytes each).
func zstdBomb(n int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, // magic
		0x00, // descriptor: no content size, not single segment, no checksum
		0x58, // window descriptor: 2^(10+11) = 2 MiB
	}
	for i := range n {
		hdr := uint32(1<<1) | uint32(zstdRLEBlock)<<3 // block type 1 (RLE), size
		if i == n-1 {
			hdr |= 1 // last block
		}
		b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0x00)
	}
	return b
}

func TestGzipBomb(t *testing.T) {
	c := NewCodec(Options{})
	const max = 64 << 10

	// The construction is right: a small one decodes to its zeros.
	small := gzipBomb(t, 3, false)
	out, err := c.Decompress(Gzip, nil, small, 3<<20)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 3<<20), out)

	bomb := gzipBomb(t, 1024, false)
	t.Logf("gzip bomb: 1 GiB of zeros in %d bytes", len(bomb))
	_, err = c.Decompress(Gzip, nil, bomb, max) // warm the pool
	require.ErrorIs(t, err, ErrTooLarge)
	alloc := allocDuring(func() { _, err = c.Decompress(Gzip, nil, bomb, max) })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Less(t, alloc, uint64(4<<20), "a bomb must cost about max bytes")
	t.Logf("gzip bomb allocated %d bytes", alloc)

	// A trailer that lies (ISIZE 0) changes nothing: the read limit stops it.
	liar := gzipBomb(t, 1024, true)
	alloc = allocDuring(func() { _, err = c.Decompress(Gzip, nil, liar, max) })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Less(t, alloc, uint64(4<<20), "a bomb must cost about max bytes")
}

// gzipBomb builds a gzip member of mib MiB of zeros without compressing them
// all: a raw deflate encoding of 1 MiB of zeros that ends with a sync flush
// is byte-aligned, non-final and refers to nothing before it, so copies of
// it can be concatenated. An empty final stored block and the trailer end
// the member; lie writes ISIZE 0.
func gzipBomb(t *testing.T, mib int, lie bool) []byte {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var chunk bytes.Buffer
	fw, err := flate.NewWriter(&chunk, flate.BestCompression)
	require.NoError(t, err)
	_, err = fw.Write(zeros)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())

	b := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff} // header: deflate, no flags
	crc := uint32(0)
	for range mib {
		b = append(b, chunk.Bytes()...)
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	b = append(b, 0x01, 0x00, 0x00, 0xff, 0xff) // final empty stored block
	b = binary.LittleEndian.AppendUint32(b, crc)
	size := uint32(uint64(mib) << 20) // ISIZE is the size mod 2^32
	if lie {
		size = 0
	}
	return binary.LittleEndian.AppendUint32(b, size)
}
