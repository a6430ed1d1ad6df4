// Package compress compresses and decompresses the data of single frames
// (docs/PROTOCOL.md §5) with gzip (RFC 1952, one member) or zstd (RFC 8878
// frames), using github.com/klauspost/compress.
//
// Decompression is bounded: Decompress never returns more than the max bytes
// it is given and fails with ErrTooLarge as soon as the output would exceed
// them, so a decompression bomb costs about max bytes of memory: gzip output
// buffers stay within max (plus one copy while growing), zstd ones within
// max + 128 KiB (one block; a raw or RLE block can make the decoder copy that
// once more). Measured: a 1 GiB zstd or gzip bomb with max 64 KiB allocates
// under 0.6 MiB (TestZstdBomb, TestGzipBomb). Undecodable
// input fails with ErrCorrupt, an algorithm this package does not know with
// ErrUnsupported; all three are matched with errors.Is.
//
// Concurrency: a Codec is safe for concurrent use by any number of goroutines.
// zstd uses one shared encoder and one shared decoder in their stateless
// EncodeAll/DecodeAll modes (each holds GOMAXPROCS internal states, so calls
// beyond that wait for a free state); gzip writers and readers come from
// sync.Pools. A Codec starts no goroutines and needs no Close.
package compress
