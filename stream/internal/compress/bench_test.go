package compress

import (
	"fmt"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// benchSetups are the algorithm/level pairs the benchmarks sweep.
var benchSetups = []struct {
	name string
	alg  Algorithm
	opts Options
}{
	{"gzip-1", Gzip, Options{GzipLevel: gzip.BestSpeed}},
	{"gzip-stateless", Gzip, Options{GzipLevel: gzip.StatelessCompression}},
	{"gzip-6", Gzip, Options{GzipLevel: gzip.DefaultCompression}},
	{"zstd-fastest", Zstd, Options{ZstdLevel: zstd.SpeedFastest}},
	{"zstd-default", Zstd, Options{ZstdLevel: zstd.SpeedDefault}},
	{"zstd-better", Zstd, Options{ZstdLevel: zstd.SpeedBetterCompression}},
}

func benchInputs(size int) map[string][]byte {
	return map[string][]byte{"json": jsonLines(size), "random": randomBytes(size, 42)}
}

// BenchmarkCompress measures Compress throughput (MB/s of input) and the
// ratio (input/output) per algorithm and level, on JSON lines and on random
// data (how fast each algorithm gives up).
func BenchmarkCompress(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		for _, data := range []string{"json", "random"} {
			src := benchInputs(size)[data]
			for _, s := range benchSetups {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", s.name, data, size>>10), func(b *testing.B) {
					c := NewCodec(s.opts)
					dst := make([]byte, 0, 2*size)
					var out []byte
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for b.Loop() {
						out, _ = c.Compress(s.alg, dst[:0], src)
					}
					b.ReportMetric(float64(size)/float64(len(out)), "ratio")
				})
			}
		}
	}
}

// BenchmarkEncode measures Encode, which skips data Compressible rejects, on
// random data: the cost of the incompressible path with the heuristic.
func BenchmarkEncode(b *testing.B) {
	const size = 64 << 10
	for _, data := range []string{"json", "random"} {
		src := benchInputs(size)[data]
		for _, s := range benchSetups[:1:1] {
			for _, alg := range []Algorithm{Gzip, Zstd} {
				b.Run(fmt.Sprintf("%s/%s", alg, data), func(b *testing.B) {
					c := NewCodec(s.opts)
					dst := make([]byte, 0, 2*size)
					b.SetBytes(size)
					b.ReportAllocs()
					for b.Loop() {
						_, _, _ = c.Encode(alg, dst[:0], src)
					}
				})
			}
		}
	}
}

// BenchmarkDecompress measures Decompress throughput (MB/s of output).
func BenchmarkDecompress(b *testing.B) {
	const size = 64 << 10
	src := jsonLines(size)
	for _, s := range benchSetups {
		b.Run(s.name, func(b *testing.B) {
			c := NewCodec(s.opts)
			comp, err := c.Compress(s.alg, nil, src)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decompress(s.alg, dst[:0], comp, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompressible measures the entropy guess on a 64 KiB buffer.
func BenchmarkCompressible(b *testing.B) {
	src := randomBytes(64<<10, 1)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		Compressible(src)
	}
}

// BenchmarkZstdSharing compares the Codec's design (one shared encoder,
// EncodeAll, GOMAXPROCS internal states) with a sync.Pool of single-state
// encoders, under parallel load on 64 KiB JSON blocks.
func BenchmarkZstdSharing(b *testing.B) {
	src := jsonLines(64 << 10)
	b.Run("shared-EncodeAll", func(b *testing.B) {
		c := NewCodec(Options{})
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]byte, 0, len(src))
			for pb.Next() {
				dst, _ = c.Compress(Zstd, dst[:0], src)
			}
		})
	})
	b.Run("sync.Pool", func(b *testing.B) {
		pool := sync.Pool{New: func() any {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
			if err != nil {
				panic(err)
			}
			return e
		}}
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]byte, 0, len(src))
			for pb.Next() {
				e := pool.Get().(*zstd.Encoder)
				dst = e.EncodeAll(src, dst[:0])
				pool.Put(e)
			}
		})
	})
}
