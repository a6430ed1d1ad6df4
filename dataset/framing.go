package dataset

import (
	"context"
	"encoding/binary"
	"errors"
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
	size, err := readPrefix(r, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if err := readBody(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// SendFramed writes p's header and messages to w, length-prefixed. It
// returns the number of rows sent. Each Write to w carries whole messages:
// one large message, or several small ones that the producer made without
// waiting for its source (rows of a batch already read, in the rows layout).
func SendFramed(ctx context.Context, w io.Writer, p *Producer) (int64, error) {
	return sendFramed(ctx, p, func(b []byte) error {
		_, err := w.Write(b)
		return err
	})
}

// coalesceBytes is the most bytes of small framed messages sendFramed
// gathers into one write.
const coalesceBytes = 64 << 10

// sendFramed writes p's header and messages, each with its u32 length
// prefix, through write, and returns the number of rows written. Messages
// are encoded straight into one reused buffer (write must not keep it).
// Messages that the producer makes without reading its source are gathered
// until coalesceBytes; none is held back while the producer waits for its
// source, so gathering adds no latency. When the producer fails, the
// messages made before the failure are written first.
func sendFramed(ctx context.Context, p *Producer, write func([]byte) error) (int64, error) {
	hb, err := p.HeaderMessage()
	if err != nil {
		return 0, err
	}
	buf := appendFramed(make([]byte, 0, coalesceBytes), hb)
	var made, sent int64 // rows encoded into buf, rows written
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := write(buf)
		buf = buf[:0]
		if err == nil {
			sent = made
		}
		return err
	}
	for {
		if len(buf) >= coalesceBytes || !p.ready() {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		start := len(buf)
		var m Message
		buf, m, err = p.appendNext(ctx, append(buf, 0, 0, 0, 0))
		if err != nil {
			buf = buf[:start]
			if errors.Is(err, io.EOF) {
				err := flush()
				return sent, err
			}
			if ferr := flush(); ferr != nil {
				return sent, errors.Join(err, ferr)
			}
			return sent, err
		}
		size := len(buf) - start - 4
		if int64(size) > math.MaxUint32 {
			return sent, &MessageSizeError{Size: int64(size), Limit: math.MaxUint32}
		}
		binary.LittleEndian.PutUint32(buf[start:], uint32(size))
		made += int64(m.Rows)
	}
}

// ReceiveFramed reads a length-prefixed dataset stream from r (messages of
// at most maxMessage bytes; 0 means DefaultMaxMessageBytes) into the sink
// that open returns; see Receive. Each batch message is read into a pooled
// buffer that the records decoded from it view instead of copying: a
// record's memory goes back to the pool when the record is released, so a
// sink that keeps a record must Retain it.
func ReceiveFramed(ctx context.Context, r io.Reader, maxMessage int, open func(Header) (Sink, error), cfg ConsumerConfig) (Header, int64, error) {
	f := &framedReader{r: r, max: maxMessage}
	return receive(ctx, f.header, f.next, open, cfg)
}
