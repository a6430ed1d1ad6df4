package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Algorithm is a compression algorithm. Its values are those of the
// compression bits in DATA, EVENT, REQUEST and REPLY flags.
type Algorithm uint8

// Algorithms of protocol version 1; 3 is reserved.
const (
	None Algorithm = 0
	Gzip Algorithm = 1
	Zstd Algorithm = 2
)

// ParseAlgorithm returns the algorithm named s ("none", "gzip", "zstd", as in
// the handshake's "compression" lists; case-insensitive). Other names give
// ErrUnsupported.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "none":
		return None, nil
	case "gzip":
		return Gzip, nil
	case "zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnsupported, s)
}

// String returns "none", "gzip", "zstd", or "algorithm(3)".
func (a Algorithm) String() string {
	switch a {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("algorithm(%d)", uint8(a))
}

// Valid reports whether a is None, Gzip or Zstd.
func (a Algorithm) Valid() bool { return a <= Zstd }

// Errors returned by Codec; details are wrapped around them.
var (
	// ErrTooLarge: the decompressed data would exceed the limit (the wire
	// code is COMPRESSION_ERROR).
	ErrTooLarge = errors.New("compress: decompressed size exceeds the limit")
	// ErrCorrupt: the input is not a valid gzip member or zstd frame.
	ErrCorrupt = errors.New("compress: corrupt input")
	// ErrUnsupported: the algorithm (or its name) is not known.
	ErrUnsupported = errors.New("compress: unsupported algorithm")
)

// Options configure a Codec. The zero value means the defaults.
type Options struct {
	// ZstdLevel is the zstd encoder level; 0 means zstd.SpeedFastest.
	ZstdLevel zstd.EncoderLevel
	// GzipLevel is the gzip level (gzip.StatelessCompression -3 …
	// gzip.BestCompression 9); 0 means gzip.BestSpeed (1). gzip's
	// NoCompression cannot be chosen: use None instead.
	GzipLevel int
	// MinSize is the smallest input Encode compresses; 0 means 512 bytes
	// (docs/PROTOCOL.md §5). Decompress ignores it.
	MinSize int
}

// Defaults.
const (
	DefaultZstdLevel = zstd.SpeedFastest
	DefaultGzipLevel = gzip.BestSpeed
	DefaultMinSize   = 512
)

// Validate checks the levels.
func (o Options) Validate() error {
	if o.ZstdLevel < 0 || o.ZstdLevel > zstd.SpeedBestCompression {
		return fmt.Errorf("compress: zstd level %d out of range 1–%d", o.ZstdLevel, zstd.SpeedBestCompression)
	}
	if o.GzipLevel < gzip.StatelessCompression || o.GzipLevel > gzip.BestCompression {
		return fmt.Errorf("compress: gzip level %d out of range %d–%d", o.GzipLevel, gzip.StatelessCompression, gzip.BestCompression)
	}
	if o.MinSize < 0 {
		return fmt.Errorf("compress: negative MinSize %d", o.MinSize)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.ZstdLevel == 0 {
		o.ZstdLevel = DefaultZstdLevel
	}
	if o.GzipLevel == 0 {
		o.GzipLevel = DefaultGzipLevel
	}
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	return o
}

// Codec compresses and decompresses frame data. It is safe for concurrent
// use; create one per process (or per server) and share it.
type Codec struct {
	opts    Options
	zenc    *zstd.Encoder
	zdec    *zstd.Decoder
	gzWrite sync.Pool // *gzipWriter
	gzRead  sync.Pool // *gzipReader
}

// NewCodec returns a Codec. It panics if opts.Validate fails: options are
// program constants or validated configuration, never peer input.
func NewCodec(opts Options) *Codec {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	opts = opts.withDefaults()
	n := runtime.GOMAXPROCS(0)
	zenc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(opts.ZstdLevel),
		zstd.WithEncoderConcurrency(n),
		zstd.WithZeroFrames(true), // an empty input still makes a valid frame
	)
	if err != nil {
		panic(fmt.Sprintf("compress: zstd encoder: %v", err))
	}
	zdec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(n),
		zstd.WithDecodeAllCapLimit(true), // never grow dst: that bounds a bomb
	)
	if err != nil {
		panic(fmt.Sprintf("compress: zstd decoder: %v", err))
	}
	return &Codec{opts: opts, zenc: zenc, zdec: zdec}
}

// Options returns the options in effect, defaults filled in.
func (c *Codec) Options() Options { return c.opts }

// Compress appends the compressed form of src to dst. None appends src as is.
// The output is always a complete gzip member or zstd frame, also for an
// empty src.
func (c *Codec) Compress(alg Algorithm, dst, src []byte) ([]byte, error) {
	switch alg {
	case None:
		return append(dst, src...), nil
	case Zstd:
		return c.zenc.EncodeAll(src, dst), nil
	case Gzip:
		return c.compressGzip(dst, src)
	}
	return dst, fmt.Errorf("%w: %s", ErrUnsupported, alg)
}

// Encode applies the sender rules of docs/PROTOCOL.md §5: it compresses src
// with alg only when src is at least MinSize bytes, looks compressible
// (Compressible) and the result is smaller than src. It appends the bytes to
// send to dst and returns the algorithm they are in (None when it sent src
// raw).
func (c *Codec) Encode(alg Algorithm, dst, src []byte) ([]byte, Algorithm, error) {
	if alg == None || len(src) < c.opts.MinSize || !Compressible(src) {
		return append(dst, src...), None, nil
	}
	start := len(dst)
	out, err := c.Compress(alg, dst, src)
	if err != nil {
		return dst, None, err
	}
	if len(out)-start >= len(src) {
		return append(out[:start], src...), None, nil
	}
	return out, alg, nil
}

// Decompress appends the decompressed form of src to dst. It never produces
// more than max bytes: as soon as the output would exceed max it stops with
// ErrTooLarge, so hostile input costs at most about max bytes of memory.
// Input that is not exactly one gzip member (gzip) or a sequence of complete
// zstd frames (zstd) fails with ErrCorrupt. On error the returned slice is dst
// with its original length.
func (c *Codec) Decompress(alg Algorithm, dst, src []byte, max int) ([]byte, error) {
	if max < 0 {
		max = 0
	}
	switch alg {
	case None:
		if len(src) > max {
			return dst, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(src), max)
		}
		return append(dst, src...), nil
	case Zstd:
		return c.decompressZstd(dst, src, max)
	case Gzip:
		return c.decompressGzip(dst, src, max)
	}
	return dst, fmt.Errorf("%w: %s", ErrUnsupported, alg)
}

// zstdBlockSlack is room beyond max for one more zstd block (128 KiB) plus
// the decoder's over-allocation, so that running out of room can only mean
// that the output passed max.
const zstdBlockSlack = 128<<10 + 64

func (c *Codec) decompressZstd(dst, src []byte, max int) ([]byte, error) {
	if len(src) == 0 {
		return dst, fmt.Errorf("%w: zstd: empty input", ErrCorrupt)
	}
	start := len(dst)
	// Fast path: our encoder always declares the content size, so the output
	// buffer can be sized exactly.
	var hdr zstd.Header
	if hdr.Decode(src) == nil && hdr.HasFCS {
		if hdr.FrameContentSize > uint64(max) {
			return dst, fmt.Errorf("%w: zstd frame declares %d bytes, limit %d", ErrTooLarge, hdr.FrameContentSize, max)
		}
		if out, err := c.decodeZstdCapped(dst, src, int(hdr.FrameContentSize)); err == nil {
			return out, nil
		}
		// More frames follow, or the input is bad: decide below.
	}
	// With WithDecodeAllCapLimit the decoder fails instead of growing past
	// the room it is given, but it does not always say that this was the
	// reason. Give it room for max plus one whole block: a valid block that
	// starts at or below max then always fits, so an error with the output
	// still at or below max is corruption, and output beyond max is a bomb.
	out, err := c.decodeZstdCapped(dst, src, max+zstdBlockSlack)
	if len(out)-start > max {
		return dst, fmt.Errorf("%w: zstd output over %d bytes", ErrTooLarge, max)
	}
	if err != nil {
		return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	return out, nil
}

// decodeZstdCapped decodes src after dst with room for at most room more
// bytes; on error it returns the partial output.
func (c *Codec) decodeZstdCapped(dst, src []byte, room int) ([]byte, error) {
	start := len(dst)
	buf := dst
	if cap(buf)-start < room {
		buf = make([]byte, start, start+room)
		copy(buf, dst)
	}
	capped := buf[: start : start+room]
	out, err := c.zdec.DecodeAll(src, capped)
	// Compressed blocks stop at the cap, but raw and RLE blocks are appended
	// first and checked after, so out may be a grown copy holding up to one
	// block (128 KiB) more than room. When it still shares buf's array, give
	// the caller back buf's full capacity.
	if len(out) <= cap(capped) && cap(out) > 0 && cap(capped) > 0 && &out[:1][0] == &capped[:1][0] {
		return buf[:len(out)], err
	}
	return out, err
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type gzipWriter struct {
	zw  *gzip.Writer
	out appendWriter
}

func (c *Codec) compressGzip(dst, src []byte) ([]byte, error) {
	w, _ := c.gzWrite.Get().(*gzipWriter)
	if w == nil {
		w = &gzipWriter{}
		zw, err := gzip.NewWriterLevel(&w.out, c.opts.GzipLevel)
		if err != nil {
			return dst, fmt.Errorf("compress: gzip writer: %w", err)
		}
		w.zw = zw
	} else {
		w.zw.Reset(&w.out)
	}
	w.out.b = dst
	_, err := w.zw.Write(src)
	if err == nil {
		err = w.zw.Close()
	}
	out := w.out.b
	w.out.b = nil
	c.gzWrite.Put(w)
	if err != nil {
		return dst, fmt.Errorf("compress: gzip: %w", err)
	}
	return out, nil
}

type gzipReader struct {
	zr  gzip.Reader
	src bytes.Reader
}

// gzipMinLen is the smallest gzip member: 10-byte header, an empty deflate
// block (2 bytes), 8-byte trailer.
const gzipMinLen = 20

func (c *Codec) decompressGzip(dst, src []byte, max int) ([]byte, error) {
	if len(src) < gzipMinLen {
		return dst, fmt.Errorf("%w: gzip: %d bytes is shorter than any member", ErrCorrupt, len(src))
	}
	// ISIZE, the trailer's size mod 2^32, sizes the first buffer. It is only
	// a hint: truncated or trailing bytes make it garbage, so it never decides
	// an error by itself, and the read limit below bounds a lie.
	hint := min(uint64(binary.LittleEndian.Uint32(src[len(src)-4:])), uint64(max))
	r, _ := c.gzRead.Get().(*gzipReader)
	if r == nil {
		r = &gzipReader{}
	}
	defer c.gzRead.Put(r)
	r.src.Reset(src)
	if err := r.zr.Reset(&r.src); err != nil {
		return dst, fmt.Errorf("%w: gzip header: %v", ErrCorrupt, err)
	}
	r.zr.Multistream(false)

	start := len(dst)
	buf := dst
	if want := start + int(hint); cap(buf) < want {
		buf = make([]byte, start, want)
		copy(buf, dst)
	}
	var probe [1]byte
	for {
		end := min(cap(buf), start+max)
		if len(buf) == end {
			// Full: is there more? Probing with one byte avoids growing a
			// buffer that was sized exactly (the usual case).
			n, err := r.zr.Read(probe[:])
			if n == 0 {
				if err == io.EOF {
					break
				}
				return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
			}
			if len(buf)-start+n > max {
				return dst, fmt.Errorf("%w: gzip output over %d bytes", ErrTooLarge, max)
			}
			if len(buf) == cap(buf) {
				grown := make([]byte, len(buf), min(start+max, 2*cap(buf)+512))
				copy(grown, buf)
				buf = grown
			}
			buf = append(buf, probe[0])
			if err == io.EOF {
				break
			}
			if err != nil {
				return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
			}
			continue
		}
		n, err := r.zr.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
	}
	if r.src.Len() != 0 {
		return dst, fmt.Errorf("%w: gzip: %d bytes after the member", ErrCorrupt, r.src.Len())
	}
	return buf, nil
}
