package dataset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Framing for carrying dataset messages over a byte stream: each message is
// a u32 little-endian length followed by that many bytes. A message-oriented
// transport does not need it.

// DefaultMaxMessageBytes is the message size limit ReadMessage applies when
// given max <= 0.
const DefaultMaxMessageBytes = 64 << 20

// WriteMessage writes b as one length-prefixed message. Messages of 4 GiB
// or more fail with a *MessageSizeError.
func WriteMessage(w io.Writer, b []byte) error {
	if int64(len(b)) > math.MaxUint32 {
		return &MessageSizeError{Size: int64(len(b)), Limit: math.MaxUint32}
	}
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// ReadMessage reads one length-prefixed message of at most max bytes
// (DefaultMaxMessageBytes if max <= 0). It returns io.EOF when the stream
// ends cleanly before a message, a *MessageSizeError (matching
// ErrMessageTooLarge) before allocating for an oversized message, and an
// *InputError wrapping io.ErrUnexpectedEOF when the stream ends inside one.
func ReadMessage(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) && n == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &InputError{Format: "framing", Offset: -1, Err: fmt.Errorf("length prefix: %w", err)}
		}
		return nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if int64(size) > int64(max) {
		return nil, &MessageSizeError{Size: int64(size), Limit: int64(max)}
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &InputError{Format: "framing", Offset: -1, Err: fmt.Errorf("message of %d bytes: %w", size, io.ErrUnexpectedEOF)}
		}
		return nil, err
	}
	return b, nil
}

// SendFramed writes p's header and messages to w, length-prefixed. It
// returns the number of rows sent.
func SendFramed(ctx context.Context, w io.Writer, p *Producer) (int64, error) {
	return Send(ctx, p, func(b []byte) error { return WriteMessage(w, b) })
}

// ReceiveFramed reads a length-prefixed dataset stream from r (messages of
// at most maxMessage bytes; 0 means DefaultMaxMessageBytes) into the sink
// that open returns; see Receive.
func ReceiveFramed(ctx context.Context, r io.Reader, maxMessage int, open func(Header) (Sink, error), cfg ConsumerConfig) (Header, int64, error) {
	return Receive(ctx, func() ([]byte, error) { return ReadMessage(r, maxMessage) }, open, cfg)
}
