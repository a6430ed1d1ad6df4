// Package wire encodes and decodes the frames of the streamd wire protocol,
// version 1 (docs/PROTOCOL.md, which is normative; testdata/wire/vectors.json
// holds the shared test vectors).
//
// A transport message carries one or more frames back to back. ParseFrame reads
// the 10-byte header of the frame at the start of a buffer, checks its length
// against Limits and returns the payload; ParseX (ParseData, ParseOpen, …) or
// Decode turns a payload into a frame value. Each frame type is a small struct
// with Append (encode onto a byte slice), Length (encoded size including the
// header), Type and Validate.
//
// Memory: parsers never copy byte fields (Data, Metadata, Token, JSON …): the
// returned values alias the input buffer and are valid only as long as it is.
// String fields (Route, Name, Reason) are copied, and they are at most 1024
// bytes. A parser checks every length against its bound before it slices, so
// hostile input costs no allocation proportional to a claimed length. Append
// only grows the slice it is given (0 allocations when it has capacity).
//
// Encoding never fails: Append clamps variable fields to their caps (reasons,
// routes and names are cut at a UTF-8 boundary; metadata, tokens and JSON are
// cut at the byte cap) so that the frame is always structurally valid. Callers
// that must not send a clamped or otherwise invalid frame call Validate first;
// it reports exactly what the peer's parser would reject.
//
// Concurrency: the package has no state. Frame values are plain data; distinct
// goroutines may encode or decode concurrently as long as they do not share a
// destination buffer.
package wire
