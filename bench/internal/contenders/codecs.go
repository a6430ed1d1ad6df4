package contenders

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/streamd/streamd/bench/internal/harness"
)

// Codecs returns the compression contenders: no compression (the
// baseline), gzip at levels 1 and 6 and zstd at its fastest, default and
// better-compression levels, all from klauspost/compress, each used the way
// a session compresses a message: one independent frame per message, with
// the encoder and decoder reused.
func Codecs() []harness.Codec {
	return []harness.Codec{
		noneCodec{},
		newGzipCodec(gzip.BestSpeed),
		newGzipCodec(gzip.DefaultCompression),
		newZstdCodec("zstd-fastest", zstd.SpeedFastest),
		newZstdCodec("zstd-default", zstd.SpeedDefault),
		newZstdCodec("zstd-better", zstd.SpeedBetterCompression),
	}
}

// noneCodec copies: the cost of touching every byte once.
type noneCodec struct{}

func (noneCodec) Name() string                               { return "none" }
func (noneCodec) Compress(dst, src []byte) ([]byte, error)   { return append(dst, src...), nil }
func (noneCodec) Decompress(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

type gzipCodec struct {
	level int
	w     *gzip.Writer
	r     *gzip.Reader
	out   bytes.Buffer
	in    bytes.Reader
}

func newGzipCodec(level int) *gzipCodec { return &gzipCodec{level: level} }

func (g *gzipCodec) Name() string {
	if g.level == gzip.DefaultCompression {
		return "gzip-6"
	}
	return fmt.Sprintf("gzip-%d", g.level)
}

func (g *gzipCodec) Compress(dst, src []byte) ([]byte, error) {
	g.out.Reset()
	if g.w == nil {
		w, err := gzip.NewWriterLevel(&g.out, g.level)
		if err != nil {
			return nil, err
		}
		g.w = w
	} else {
		g.w.Reset(&g.out)
	}
	if _, err := g.w.Write(src); err != nil {
		return nil, err
	}
	if err := g.w.Close(); err != nil {
		return nil, err
	}
	return append(dst, g.out.Bytes()...), nil
}

func (g *gzipCodec) Decompress(dst, src []byte) ([]byte, error) {
	g.in.Reset(src)
	if g.r == nil {
		r, err := gzip.NewReader(&g.in)
		if err != nil {
			return nil, err
		}
		g.r = r
	} else if err := g.r.Reset(&g.in); err != nil {
		return nil, err
	}
	g.r.Multistream(false)
	buf := bytes.NewBuffer(dst)
	if _, err := io.Copy(buf, g.r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type zstdCodec struct {
	name  string
	level zstd.EncoderLevel
	enc   *zstd.Encoder
	dec   *zstd.Decoder
}

func newZstdCodec(name string, level zstd.EncoderLevel) *zstdCodec {
	return &zstdCodec{name: name, level: level}
}

func (z *zstdCodec) Name() string { return z.name }

func (z *zstdCodec) Compress(dst, src []byte) ([]byte, error) {
	if z.enc == nil {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(z.level), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		z.enc = enc
	}
	return z.enc.EncodeAll(src, dst), nil
}

func (z *zstdCodec) Decompress(dst, src []byte) ([]byte, error) {
	if z.dec == nil {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		z.dec = dec
	}
	return z.dec.DecodeAll(src, dst)
}
