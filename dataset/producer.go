package dataset

import (
	"context"
	"errors"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batch size defaults and limits.
const (
	// DefaultBatchRows is the default most rows per batch. 8192 rows of the
	// 6-column demo table encode to about 400 KiB in the batched layout.
	DefaultBatchRows = 8192
	// DefaultBatchBytes is the default target upper bound of a batch message.
	DefaultBatchBytes = 1 << 20
	// MaxBatchRows is the most rows a batch may carry; decoders refuse more.
	MaxBatchRows = 1 << 20
	// MinBatchBytes is the smallest BatchBytes accepted.
	MinBatchBytes = 1024
)

// ProducerConfig configures a Producer. The zero value means defaults.
type ProducerConfig struct {
	// Layout is the negotiated layout (see Negotiate). Default DefaultLayout.
	Layout Layout
	// BatchRows is the most rows per batch message, 1..MaxBatchRows.
	// Default DefaultBatchRows.
	BatchRows int
	// BatchBytes is the target upper bound of a batch, measured in the
	// batched encoding; a batch is cut at whichever of BatchRows and
	// BatchBytes comes first, but always holds at least one row. At least
	// MinBatchBytes. Default DefaultBatchBytes.
	BatchBytes int
	// Allocator allocates Arrow buffers. Default memory.DefaultAllocator.
	Allocator memory.Allocator
}

func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.Layout == "" {
		c.Layout = DefaultLayout
	}
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.Allocator == nil {
		c.Allocator = memory.DefaultAllocator
	}
	return c
}

// Validate checks the configuration (after filling defaults).
func (c ProducerConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !c.Layout.valid():
		return configErrorf("%v: %q", ErrUnknownLayout, c.Layout)
	case c.BatchRows < 1 || c.BatchRows > MaxBatchRows:
		return configErrorf("BatchRows %d not in 1..%d", c.BatchRows, MaxBatchRows)
	case c.BatchBytes < MinBatchBytes:
		return configErrorf("BatchBytes %d below %d", c.BatchBytes, MinBatchBytes)
	}
	return nil
}

// Message is one encoded message of a dataset stream, after the header.
type Message struct {
	// Payload is the message bytes; the caller owns them.
	Payload []byte
	// FirstRow is the dataset row index of the first row carried.
	FirstRow int64
	// Rows is the number of rows carried: 0 for the Arrow schema message,
	// 1 in the rows layout. After this message is durable on the client,
	// FirstRow+Rows is a valid resume point.
	Rows int
}

// Producer is the server side of a dataset stream: it reads a Source,
// cuts its rows into batches bounded by rows and bytes, and encodes each
// in the negotiated layout. Send its Header first, then every Message from
// Next until io.EOF. A Producer is used by one goroutine.
type Producer struct {
	src    Source
	schema *Schema
	cfg    ProducerConfig
	header Header

	pending    arrow.RecordBatch // current source record
	pendingOff int64             // rows of pending already batched
	rowBatch   arrow.RecordBatch // rows layout: batch being sent row by row
	rowIdx     int
	nextRow    int64
	preamble   bool // arrow schema message sent
	err        error
	closed     bool
}

// NewProducer returns a producer reading src. It takes ownership of src:
// Close closes it.
func NewProducer(src Source, cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	info := src.Info()
	p := &Producer{src: src, schema: src.Schema(), cfg: cfg, nextRow: info.StartRow}
	p.header = Header{
		Version:    HeaderVersion,
		Schema:     p.schema,
		Layout:     cfg.Layout,
		BatchRows:  cfg.BatchRows,
		BatchBytes: cfg.BatchBytes,
		TotalRows:  info.TotalRows,
		StartRow:   info.StartRow,
	}
	if err := p.header.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Header returns the stream header.
func (p *Producer) Header() Header { return p.header }

// HeaderMessage returns the JSON header message.
func (p *Producer) HeaderMessage() ([]byte, error) { return p.header.MarshalHeader() }

// Next returns the next message, or io.EOF after the last. Errors other
// than io.EOF are sticky.
func (p *Producer) Next(ctx context.Context) (Message, error) {
	b, m, err := p.appendNext(ctx, nil)
	m.Payload = b
	return m, err
}

// appendNext is Next appending the message to dst: it returns dst extended
// by the message, whose Payload is left nil. Errors other than io.EOF are
// sticky; on any error dst comes back unchanged.
func (p *Producer) appendNext(ctx context.Context, dst []byte) ([]byte, Message, error) {
	if p.closed {
		return dst, Message{}, ErrClosed
	}
	if p.err != nil {
		return dst, Message{}, p.err
	}
	out, m, err := p.next(ctx, dst)
	if err != nil {
		p.err = err
		p.releaseBatches()
		return dst, Message{}, err
	}
	return out, m, nil
}

// ready reports whether the next message can be made without reading the
// source: it would not wait for the source.
func (p *Producer) ready() bool {
	switch {
	case p.closed || p.err != nil:
		return false
	case p.cfg.Layout == LayoutArrow && !p.preamble:
		return true
	case p.rowBatch != nil && p.rowIdx < int(p.rowBatch.NumRows()):
		return true
	}
	return p.pending != nil && p.pendingOff < p.pending.NumRows()
}

func (p *Producer) next(ctx context.Context, dst []byte) ([]byte, Message, error) {
	if err := ctx.Err(); err != nil {
		return dst, Message{}, err
	}
	switch p.cfg.Layout {
	case LayoutArrow:
		if !p.preamble {
			b, err := arrowSchemaMessage(p.cfg.Allocator, p.schema)
			if err != nil {
				return dst, Message{}, err
			}
			p.preamble = true
			return append(dst, b...), Message{FirstRow: p.nextRow}, nil
		}
		return p.nextBatchMessage(ctx, dst, func(dst []byte, rec arrow.RecordBatch) ([]byte, error) {
			return appendArrowBatch(dst, p.cfg.Allocator, p.schema, rec)
		})
	case LayoutRows:
		if p.rowBatch == nil || p.rowIdx >= int(p.rowBatch.NumRows()) {
			if p.rowBatch != nil {
				p.rowBatch.Release()
				p.rowBatch = nil
			}
			rec, err := p.nextBatch(ctx)
			if err != nil {
				return dst, Message{}, err
			}
			p.rowBatch, p.rowIdx = rec, 0
		}
		if dst == nil {
			dst = make([]byte, 0, 64)
		}
		dst = appendJSONArrayRow(dst, p.schema, p.rowBatch, p.rowIdx)
		p.rowIdx++
		m := Message{FirstRow: p.nextRow, Rows: 1}
		p.nextRow++
		return dst, m, nil
	default:
		return p.nextBatchMessage(ctx, dst, func(dst []byte, rec arrow.RecordBatch) ([]byte, error) {
			return appendBatched(dst, p.schema, rec)
		})
	}
}

func (p *Producer) nextBatchMessage(ctx context.Context, dst []byte, encode func([]byte, arrow.RecordBatch) ([]byte, error)) ([]byte, Message, error) {
	rec, err := p.nextBatch(ctx)
	if err != nil {
		return dst, Message{}, err
	}
	defer rec.Release()
	out, err := encode(dst, rec)
	if err != nil {
		return dst, Message{}, err
	}
	m := Message{FirstRow: p.nextRow, Rows: int(rec.NumRows())}
	p.nextRow += rec.NumRows()
	return out, m, nil
}

// nextBatch returns the next slice of at most BatchRows rows and about
// BatchBytes bytes, pulling source records as needed.
func (p *Producer) nextBatch(ctx context.Context) (arrow.RecordBatch, error) {
	for p.pending == nil || p.pendingOff >= p.pending.NumRows() {
		if p.pending != nil {
			p.pending.Release()
			p.pending = nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := p.src.Next(ctx)
		if err != nil {
			return nil, err
		}
		if err := checkRecord(p.schema, rec); err != nil {
			rec.Release()
			return nil, err
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		p.pending, p.pendingOff = rec, 0
	}
	k := fitRows(p.schema, p.pending, p.pendingOff, p.cfg.BatchRows, p.cfg.BatchBytes)
	out := p.pending.NewSlice(p.pendingOff, p.pendingOff+int64(k))
	p.pendingOff += int64(k)
	return out, nil
}

// fitRows returns how many rows of rec from off on fit in one batch: at
// most maxRows, at least 1, and as many as keep the batched encoding within
// maxBytes.
func fitRows(s *Schema, rec arrow.RecordBatch, off int64, maxRows, maxBytes int) int {
	n := int(min(int64(maxRows), rec.NumRows()-off))
	overhead := batchedHeaderLen
	perRow := 0
	var varCols []arrow.Array
	for c := 0; c < s.NumColumns(); c++ {
		col := s.Column(c)
		overhead += blockHeaderLen + 2*7 + 4 // header, worst-case paddings, the extra offset
		perRow += fixedWidth(col.Type)
		if col.Nullable {
			perRow++ // validity: one bit, counted as a byte to stay an upper bound
		}
		switch col.Type {
		case TypeString, TypeBinary:
			varCols = append(varCols, rec.Column(c))
		case TypeDecimal:
			perRow += col.Precision + 2
		}
	}
	size := func(k int) int {
		total := overhead + k*perRow
		for _, a := range varCols {
			offs := a.(offsetsArray).ValueOffsets()
			total += int(offs[int(off)+k] - offs[int(off)])
		}
		return total
	}
	if size(n) <= maxBytes {
		return n
	}
	// size is monotonic in k: find the largest k in [1, n] with size(k) <= maxBytes.
	k := sort.Search(n, func(k int) bool { return size(k+1) > maxBytes })
	return max(k, 1)
}

func (p *Producer) releaseBatches() {
	if p.pending != nil {
		p.pending.Release()
		p.pending = nil
	}
	if p.rowBatch != nil {
		p.rowBatch.Release()
		p.rowBatch = nil
	}
}

// NextRow returns the row index that the next batch will start at.
func (p *Producer) NextRow() int64 { return p.nextRow }

// Close releases buffered batches and closes the source.
func (p *Producer) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.releaseBatches()
	return p.src.Close()
}

// Send writes the header and every message of p through emit, in order,
// until the source is exhausted. It returns the number of rows sent.
func Send(ctx context.Context, p *Producer, emit func([]byte) error) (int64, error) {
	h, err := p.HeaderMessage()
	if err != nil {
		return 0, err
	}
	if err := emit(h); err != nil {
		return 0, err
	}
	var rows int64
	for {
		m, err := p.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		if err := emit(m.Payload); err != nil {
			return rows, err
		}
		rows += int64(m.Rows)
	}
}
