package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ConsumerConfig configures a Consumer. The zero value means defaults.
type ConsumerConfig struct {
	// Allocator allocates Arrow buffers. Default memory.DefaultAllocator.
	Allocator memory.Allocator
	// CoalesceRows applies to the rows layout only: Decode gathers this many
	// rows into one record before returning it (Flush returns the rest).
	// Default 1: every row is returned as soon as it arrives. Receive uses
	// the header's BatchRows. At most MaxBatchRows.
	CoalesceRows int
}

// Validate checks the configuration.
func (c ConsumerConfig) Validate() error {
	if c.CoalesceRows < 0 || c.CoalesceRows > MaxBatchRows {
		return configErrorf("CoalesceRows %d not in 0..%d", c.CoalesceRows, MaxBatchRows)
	}
	return nil
}

// Consumer is the client side of a dataset stream: it decodes the messages
// that follow the header into Arrow record batches of the header's schema.
// A Consumer is used by one goroutine. Any decode error is sticky: a stream
// that sent one malformed message cannot be trusted further.
type Consumer struct {
	header  Header
	mem     memory.Allocator
	coalesc int
	arrow   *arrowDecoder
	rows    *recordBuilder
	decoded int64 // rows returned in records so far
	msgs    int64
	err     error
	closed  bool
}

// NewConsumer returns a consumer for the stream that h (see ParseHeader)
// describes.
func NewConsumer(h Header, cfg ConsumerConfig) (*Consumer, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Consumer{header: h, mem: cfg.Allocator, coalesc: max(cfg.CoalesceRows, 1)}
	if c.mem == nil {
		c.mem = memory.DefaultAllocator
	}
	switch h.Layout {
	case LayoutArrow:
		c.arrow = newArrowDecoder(c.mem, h.Schema)
	case LayoutRows:
		c.rows = newRecordBuilder(c.mem, h.Schema)
	}
	return c, nil
}

// Header returns the stream header.
func (c *Consumer) Header() Header { return c.header }

// Schema returns the dataset schema.
func (c *Consumer) Schema() *Schema { return c.header.Schema }

// Decode decodes one message. It returns a nil record for messages that
// complete no batch: the Arrow schema message, and rows-layout rows being
// coalesced. The caller owns and releases a returned record, which shares
// no memory with payload. Malformed messages fail with an *InputError.
func (c *Consumer) Decode(payload []byte) (arrow.RecordBatch, error) {
	return c.decodeMessage(payload, nil)
}

// decodeMessage is Decode. owner, if not nil, is the buffer holding payload
// (payload is owner.Bytes()), handed over with its reference: the record
// returned may keep views of it instead of copies, and decodeMessage
// releases the reference it was given.
func (c *Consumer) decodeMessage(payload []byte, owner *memory.Buffer) (arrow.RecordBatch, error) {
	if owner != nil {
		defer owner.Release()
	}
	if c.closed {
		return nil, ErrClosed
	}
	if c.err != nil {
		return nil, c.err
	}
	rec, err := c.decode(payload, owner)
	if err != nil {
		if ie, ok := err.(*InputError); ok && ie.Row == 0 {
			ie.Row = c.header.StartRow + c.decoded + int64(c.pendingRows()) + 1
		}
		c.err = err
		return nil, err
	}
	c.msgs++
	if rec != nil {
		c.decoded += rec.NumRows()
	}
	return rec, nil
}

func (c *Consumer) pendingRows() int {
	if c.rows == nil {
		return 0
	}
	return c.rows.rows
}

func (c *Consumer) decode(payload []byte, owner *memory.Buffer) (arrow.RecordBatch, error) {
	var rec arrow.RecordBatch
	var err error
	switch c.header.Layout {
	case LayoutRows:
		if c.rows.rows == 0 && c.coalesc > 1 {
			c.rows.reserve(min(c.coalesc, DefaultBatchRows)) // no regrowing while the batch fills
		}
		col, err := appendJSONArrayValues(c.rows, payload)
		if err != nil {
			return nil, &InputError{Format: "rows", Offset: -1, Column: col, Err: err}
		}
		c.rows.endRow()
		if c.rows.rows < c.coalesc {
			return nil, nil
		}
		return c.rows.newRecord(), nil
	case LayoutArrow:
		rec, err = c.arrow.decode(payload, owner)
	default:
		rec, err = decodeBatchedMessage(c.mem, c.header.Schema, payload, owner)
	}
	if err != nil || rec == nil {
		return nil, err
	}
	if rec.NumRows() > int64(c.header.BatchRows) {
		n := rec.NumRows()
		rec.Release()
		return nil, &InputError{Format: string(c.header.Layout), Offset: -1,
			Err: fmt.Errorf("batch of %d rows exceeds the header's batch_rows %d", n, c.header.BatchRows)}
	}
	return rec, nil
}

// Flush returns the rows-layout rows gathered but not yet returned, or nil.
func (c *Consumer) Flush() arrow.RecordBatch {
	if c.rows == nil || c.rows.rows == 0 || c.err != nil || c.closed {
		return nil
	}
	rec := c.rows.newRecord()
	c.decoded += rec.NumRows()
	return rec
}

// NextRow returns the dataset index of the row after the last one returned
// in a record: the resume point once those rows are durable.
func (c *Consumer) NextRow() int64 { return c.header.StartRow + c.decoded }

// Close releases the consumer's buffers.
func (c *Consumer) Close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.arrow != nil {
		c.arrow.close()
	}
	if c.rows != nil {
		c.rows.release()
	}
}

// ReceiveHeader reads the header message through next and parses it.
func ReceiveHeader(next func() ([]byte, error)) (Header, error) {
	hb, err := next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: stream ended before the header", ErrInvalidHeader)
		}
		return Header{}, err
	}
	return ParseHeader(hb)
}

// ReceiveBatches decodes the messages that follow header h, read through
// next until it returns io.EOF, and writes every batch to sink (which it
// does not close). In the rows layout, unless cfg.CoalesceRows says
// otherwise, rows are gathered into batches of the header's BatchRows
// before they reach the sink. It returns the number of rows written; a
// stream that ends before the header's TotalRows fails with
// io.ErrUnexpectedEOF.
func ReceiveBatches(ctx context.Context, h Header, next func() ([]byte, error), sink Sink, cfg ConsumerConfig) (int64, error) {
	return receiveBatches(ctx, h, copied(next), sink, cfg)
}

// msgSource yields the messages of a dataset stream: the bytes and, if it
// hands them over (see decodeMessage), the buffer holding them.
type msgSource func() ([]byte, *memory.Buffer, error)

// copied is the msgSource of messages that stay the caller's.
func copied(next func() ([]byte, error)) msgSource {
	return func() ([]byte, *memory.Buffer, error) {
		b, err := next()
		return b, nil, err
	}
}

func receiveBatches(ctx context.Context, h Header, next msgSource, sink Sink, cfg ConsumerConfig) (int64, error) {
	if h.Layout == LayoutRows && cfg.CoalesceRows == 0 {
		cfg.CoalesceRows = h.BatchRows
	}
	c, err := NewConsumer(h, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var rows int64
	write := func(rec arrow.RecordBatch) error {
		if rec == nil {
			return nil
		}
		defer rec.Release()
		rows += rec.NumRows()
		return sink.Write(rec)
	}
	for {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		msg, owner, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, err
		}
		rec, err := c.decodeMessage(msg, owner)
		if err != nil {
			return rows, err
		}
		if err := write(rec); err != nil {
			return rows, err
		}
	}
	if err := write(c.Flush()); err != nil {
		return rows, err
	}
	if h.TotalRows >= 0 && h.StartRow+rows != h.TotalRows {
		return rows, fmt.Errorf("%w: stream ended after row %d of %d", io.ErrUnexpectedEOF, h.StartRow+rows, h.TotalRows)
	}
	return rows, nil
}

// Receive reads a whole dataset stream through next: the header, then
// open(header) to get the sink (the schema is known only now), then every
// batch (see ReceiveBatches). Receive owns the sink: it closes it before
// returning, also on error (a text file then holds the rows received, a
// resume point). It returns the header and the number of rows written.
func Receive(ctx context.Context, next func() ([]byte, error), open func(Header) (Sink, error), cfg ConsumerConfig) (Header, int64, error) {
	return receive(ctx, func() (Header, error) { return ReceiveHeader(next) }, copied(next), open, cfg)
}

// receive is Receive reading the header through header and the messages
// after it through next.
func receive(ctx context.Context, header func() (Header, error), next msgSource, open func(Header) (Sink, error), cfg ConsumerConfig) (Header, int64, error) {
	h, err := header()
	if err != nil {
		return Header{}, 0, err
	}
	sink, err := open(h)
	if err != nil {
		return h, 0, err
	}
	rows, err := receiveBatches(ctx, h, next, sink, cfg)
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	return h, rows, err
}
