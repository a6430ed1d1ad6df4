package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/streamd/streamd/stream"
)

// DefaultProgressInterval is how often Export calls a Progress callback by
// default.
const DefaultProgressInterval = 100 * time.Millisecond

// ExportOptions tune OpenExport and Export. The zero value means defaults.
type ExportOptions struct {
	// Layouts are the layouts accepted, by preference (nil: the server's
	// default, batched).
	Layouts []Layout
	// BatchRows is the most rows per batch (0: the server's default, 8192).
	BatchRows int
	// BatchBytes is the target batch size (0: the server's default, 1 MiB).
	BatchBytes int
	// StartRow resumes an export at this row (a batch boundary the client
	// made durable). A dataset that cannot resume fails with an error
	// matching ErrNotResumable.
	StartRow int64
	// Query and OrderBy replace a SQL dataset's query, for datasets whose
	// server configuration allows client queries (else ErrQueryNotAllowed).
	Query   string
	OrderBy string
	// Priority is the stream priority 0–7.
	Priority uint8
	// MaxMessageBytes bounds one dataset message (0: DefaultMaxMessageBytes).
	MaxMessageBytes int
	// Consumer configures decoding (allocator; rows coalesced per record in
	// the rows layout, default the header's batch_rows).
	Consumer ConsumerConfig

	// Export only: OnHeader, if set, is called once the header is known and
	// returns the sink every batch is written to (nil: none). Export closes
	// the sink before it returns, also on error.
	OnHeader func(Header) (Sink, error)
	// Export only: OnBatch, if set, is called with every batch as it
	// arrives, before the sink gets it. rec is valid during the call
	// (Retain it to keep it); firstRow is the dataset index of its first row.
	OnBatch func(rec arrow.RecordBatch, firstRow int64) error
	// Export only: Progress, if set, is called at most every
	// ProgressInterval as batches arrive, and once at the end.
	Progress func(ExportProgress)
	// ProgressInterval defaults to DefaultProgressInterval.
	ProgressInterval time.Duration
}

// ExportProgress is a snapshot of a running export.
type ExportProgress struct {
	// Rows is the number of rows received so far (from StartRow on).
	Rows int64
	// StartRow and TotalRows are the header's (TotalRows -1: unknown).
	StartRow, TotalRows int64
	// Elapsed is the time since the export was opened.
	Elapsed time.Duration
	// DataBytes counts the stream's bytes as decompressed, WireBytes the
	// session's transport bytes received meanwhile (other traffic on the
	// session at the same time included).
	DataBytes, WireBytes int64
}

// RowsPerSecond returns the average rate so far.
func (p ExportProgress) RowsPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Rows) / p.Elapsed.Seconds()
}

// ExportResult describes a finished (or failed) export.
type ExportResult struct {
	// Dataset is the dataset name.
	Dataset string
	// Header is the dataset header (zero if the export failed before it).
	Header Header
	// Rows is the number of rows received (by Export: delivered to OnBatch
	// and the sink without error); NextRow the dataset index after the last
	// of them (the resume point once they are durable).
	Rows, NextRow int64
	// Batches is the number of record batches received.
	Batches int64
	// Duration runs from opening the stream to the end of the data.
	Duration time.Duration
	// FirstBatch is the time from opening the stream to the first batch
	// decoded (0 if none came).
	FirstBatch time.Duration
	// DataBytes counts the stream's bytes (framing included) as the
	// application saw them; WireBytes the transport bytes the session
	// received meanwhile, so DataBytes/WireBytes is the compression ratio.
	DataBytes, WireBytes int64
}

// RowsPerSecond returns the average export rate.
func (r ExportResult) RowsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Duration.Seconds()
}

// Ratio returns DataBytes / WireBytes: above 1 when compression paid off.
func (r ExportResult) Ratio() float64 {
	if r.WireBytes <= 0 {
		return 0
	}
	return float64(r.DataBytes) / float64(r.WireBytes)
}

// Summary formats r as one line, e.g. "exported demo: 1000000 rows in 1.234 s
// (810372 rows/s, layout batched), first batch after 12.3 ms, 43.8 MB data,
// 19.9 MB on the wire (ratio 2.20)".
func (r ExportResult) Summary() string {
	return fmt.Sprintf("exported %s: %d rows in %.3f s (%.0f rows/s, layout %s), first batch after %.1f ms, %.1f MB data, %.1f MB on the wire (ratio %.2f)",
		r.Dataset, r.Rows, r.Duration.Seconds(), r.RowsPerSecond(), r.Header.Layout,
		float64(r.FirstBatch)/float64(time.Millisecond), float64(r.DataBytes)/1e6, float64(r.WireBytes)/1e6, r.Ratio())
}

// ExportError is an export the server refused or failed. It matches the
// dataset sentinel of its code (ErrUnknownDataset for NOT_FOUND,
// ErrMalformed, ErrNotResumable, ErrNoCommonLayout, ErrQueryNotAllowed for
// UNAUTHORIZED, ErrInvalidConfig for INVALID_ARGUMENT) and unwraps to the
// *stream.StreamError, which matches the stream sentinel of the code.
type ExportError struct {
	// Dataset is the dataset name.
	Dataset string
	// Code is the stream error code; Reason the server's message (for
	// CodeMalformed it names the row, line or byte offset).
	Code   stream.Code
	Reason string
	// Err is the stream error.
	Err error
}

// Error implements error.
func (e *ExportError) Error() string {
	return fmt.Sprintf("export %q: %s: %s", e.Dataset, CodeName(e.Code), e.Reason)
}

// Unwrap returns the stream error.
func (e *ExportError) Unwrap() error { return e.Err }

// Is reports whether target is the dataset sentinel of e's code.
func (e *ExportError) Is(target error) bool {
	switch e.Code {
	case stream.CodeNotFound:
		return target == ErrUnknownDataset
	case stream.CodeUnauthorized:
		return target == ErrQueryNotAllowed
	case stream.CodeInvalidArgument:
		return target == ErrInvalidConfig
	case CodeMalformed:
		return target == ErrMalformed
	case CodeNotResumable:
		return target == ErrNotResumable
	case CodeNoCommonLayout:
		return target == ErrNoCommonLayout
	}
	return false
}

// exportErr wraps a remote stream error in an *ExportError; other errors
// get the dataset name.
func exportErr(name string, err error) error {
	var se *stream.StreamError
	if errors.As(err, &se) && se.Remote {
		return &ExportError{Dataset: name, Code: se.Code, Reason: se.Reason, Err: se}
	}
	return fmt.Errorf("export %q: %w", name, err)
}

// ExportReader reads one export stream. It is a Source: Next returns the
// dataset's record batches as they arrive. Create it with OpenExport; use it
// from one goroutine; Close it.
type ExportReader struct {
	name    string
	sess    *stream.Session
	st      *stream.Stream
	ctx     context.Context // bounds reads (OpenExport's context)
	header  Header
	info    SourceInfo
	cons    *Consumer
	sr      streamReader // the stream under the context of the current read
	msgs    framedReader // messages from a 64 KiB buffer over sr
	start   time.Time
	first   time.Duration
	wire0   int64
	rows    int64
	batches int64
	done    bool
	err     error
	closed  bool
}

// OpenExport opens an export of dataset name on sess and reads its header.
// ctx bounds the whole export: cancelling it abandons the stream. Errors
// the server reports are *ExportError values.
func OpenExport(ctx context.Context, sess *stream.Session, name string, opts ExportOptions) (*ExportReader, error) {
	if err := opts.Consumer.Validate(); err != nil {
		return nil, err
	}
	if opts.StartRow < 0 {
		return nil, configErrorf("StartRow %d is negative", opts.StartRow)
	}
	req := ExportRequest{Dataset: name, Layouts: opts.Layouts, BatchRows: opts.BatchRows, BatchBytes: opts.BatchBytes,
		StartRow: opts.StartRow, Query: opts.Query, OrderBy: opts.OrderBy}
	r := &ExportReader{name: name, sess: sess, ctx: ctx, start: time.Now(), wire0: sess.Stats().BytesIn}
	st, err := sess.Open(ctx, stream.OpenOptions{Route: RouteExport, Kind: stream.Download, Metadata: req, Priority: opts.Priority})
	if err != nil {
		return nil, exportErr(name, err)
	}
	r.st = st
	r.sr = streamReader{ctx: ctx, st: st}
	r.msgs = framedReader{r: bufio.NewReaderSize(&r.sr, readBufferSize), max: opts.MaxMessageBytes}
	if err := r.readHeader(opts); err != nil {
		st.Cancel(stream.CodeCancelled, "export abandoned")
		return nil, err
	}
	return r, nil
}

// readHeader reads the header message and checks it against the ACCEPT
// metadata.
func (r *ExportReader) readHeader(opts ExportOptions) error {
	h, err := r.msgs.header()
	if err != nil {
		return exportErr(r.name, err)
	}
	var acc struct {
		Resumable bool             `json:"resumable"`
		Schema    *json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(r.st.AcceptMetadata(), &acc); err != nil {
		return exportErr(r.name, fmt.Errorf("%w: accept metadata: %v", ErrInvalidHeader, err))
	}
	if acc.Schema != nil {
		ah, err := ParseHeader(r.st.AcceptMetadata())
		if err != nil {
			return exportErr(r.name, err)
		}
		if !ah.Schema.Equal(h.Schema) || ah.Layout != h.Layout || ah.StartRow != h.StartRow || ah.TotalRows != h.TotalRows || ah.BatchRows != h.BatchRows {
			return exportErr(r.name, fmt.Errorf("%w: the stream's header differs from the ACCEPT metadata", ErrInvalidHeader))
		}
	}
	if h.StartRow != opts.StartRow {
		return exportErr(r.name, fmt.Errorf("%w: asked for row %d, the server starts at %d", ErrInvalidHeader, opts.StartRow, h.StartRow))
	}
	cc := opts.Consumer
	if h.Layout == LayoutRows && cc.CoalesceRows == 0 {
		cc.CoalesceRows = h.BatchRows
	}
	cons, err := NewConsumer(h, cc)
	if err != nil {
		return exportErr(r.name, err)
	}
	r.header, r.cons = h, cons
	r.info = SourceInfo{StartRow: h.StartRow, TotalRows: h.TotalRows, Resumable: acc.Resumable}
	return nil
}

// readBufferSize is the client's read buffer: small messages (rows) come
// out of it many at a time; a larger message is read straight into its
// own buffer.
const readBufferSize = 64 << 10

// streamReader reads a stream under a context.
type streamReader struct {
	ctx context.Context
	st  *stream.Stream
}

func (s *streamReader) Read(p []byte) (int, error) { return s.st.ReadContext(s.ctx, p) }

// Header returns the dataset header.
func (r *ExportReader) Header() Header { return r.header }

// Schema implements Source.
func (r *ExportReader) Schema() *Schema { return r.header.Schema }

// Info implements Source: the header's start and total rows, and whether
// the server can resume the dataset.
func (r *ExportReader) Info() SourceInfo { return r.info }

// Next implements Source: it returns the next record batch as it arrives
// (the caller releases it), or io.EOF after the last. The record's buffers
// are views of the pooled buffer its message was read into, which is
// reused once the record (and every array taken from it) is released: use
// no array after releasing it. A stream that ends
// before the header's total_rows fails with io.ErrUnexpectedEOF. Errors
// are sticky. ctx, like OpenExport's context, abandons the wait.
func (r *ExportReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	rec, err := r.next(ctx)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
		return nil, err
	}
	if err != nil {
		r.done = true
		return nil, err
	}
	if r.batches == 0 {
		r.first = time.Since(r.start)
	}
	r.batches++
	r.rows += rec.NumRows()
	return rec, nil
}

func (r *ExportReader) next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.sr.ctx = ctx
		msg, owner, err := r.msgs.next()
		if errors.Is(err, io.EOF) {
			if rec := r.cons.Flush(); rec != nil {
				return rec, nil
			}
			if h := r.header; h.TotalRows >= 0 && r.cons.NextRow() != h.TotalRows {
				return nil, exportErr(r.name, fmt.Errorf("%w: stream ended after row %d of %d", io.ErrUnexpectedEOF, r.cons.NextRow(), h.TotalRows))
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, exportErr(r.name, err)
		}
		rec, err := r.cons.decodeMessage(msg, owner)
		if err != nil {
			return nil, exportErr(r.name, err)
		}
		if rec != nil {
			return rec, nil
		}
	}
}

// NextRow returns the dataset index after the last row returned: the
// resume point once those rows are durable.
func (r *ExportReader) NextRow() int64 { return r.cons.NextRow() }

// Progress returns a snapshot of the export.
func (r *ExportReader) Progress() ExportProgress {
	return ExportProgress{
		Rows: r.rows, StartRow: r.header.StartRow, TotalRows: r.header.TotalRows,
		Elapsed: time.Since(r.start), DataBytes: r.st.Progress().Received,
		WireBytes: r.sess.Stats().BytesIn - r.wire0,
	}
}

// Result describes the export so far.
func (r *ExportReader) Result() ExportResult {
	p := r.Progress()
	return ExportResult{
		Dataset: r.name, Header: r.header, Rows: r.rows, NextRow: r.NextRow(), Batches: r.batches,
		Duration: p.Elapsed, FirstBatch: r.first, DataBytes: p.DataBytes, WireBytes: p.WireBytes,
	}
}

// Close implements Source. After the last batch it finishes the stream;
// before, it cancels it (the server stops reading the dataset).
func (r *ExportReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.cons.Close()
	if !r.done || r.err != nil {
		r.st.Cancel(stream.CodeCancelled, "export abandoned")
		return nil
	}
	if err := r.st.CloseContext(r.ctx); err != nil && !errors.Is(err, stream.ErrCancelled) {
		return exportErr(r.name, err)
	}
	return nil
}

// Export exports dataset name on sess to the end: every batch goes to
// opts.OnBatch and to the sink opts.OnHeader returns, as it arrives. It
// returns what was received, also on error (Rows, NextRow: where a resume
// would start).
func Export(ctx context.Context, sess *stream.Session, name string, opts ExportOptions) (ExportResult, error) {
	r, err := OpenExport(ctx, sess, name, opts)
	if err != nil {
		return ExportResult{Dataset: name, NextRow: opts.StartRow}, err
	}
	res, err := drainExport(ctx, r, opts)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// drainExport reads r to the end into opts' callbacks and sink.
func drainExport(ctx context.Context, r *ExportReader, opts ExportOptions) (res ExportResult, err error) {
	var sink Sink
	if opts.OnHeader != nil {
		if sink, err = opts.OnHeader(r.Header()); err != nil {
			return r.Result(), err
		}
	}
	if sink != nil {
		defer func() {
			if cerr := sink.Close(); err == nil {
				err = cerr
			}
		}()
	}
	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = DefaultProgressInterval
	}
	var last time.Time
	report := func(force bool) {
		if opts.Progress != nil && (force || time.Since(last) >= interval) {
			last = time.Now()
			opts.Progress(r.Progress())
		}
	}
	delivered := int64(0) // rows handed to OnBatch and the sink without error
	defer func() {
		report(true)
		res = r.Result()
		res.Rows, res.NextRow = delivered, r.Header().StartRow+delivered
	}()
	for {
		first := r.NextRow()
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		err = deliver(rec, first, opts.OnBatch, sink)
		n := rec.NumRows()
		rec.Release()
		if err != nil {
			return res, err
		}
		delivered += n
		report(false)
	}
}

func deliver(rec arrow.RecordBatch, first int64, onBatch func(arrow.RecordBatch, int64) error, sink Sink) error {
	if onBatch != nil {
		if err := onBatch(rec, first); err != nil {
			return err
		}
	}
	if sink != nil {
		return sink.Write(rec)
	}
	return nil
}

// ListDatasets returns the datasets the server's catalog offers.
func ListDatasets(ctx context.Context, sess *stream.Session) ([]DatasetInfo, error) {
	var out []DatasetInfo
	req := listRequest{}
	for {
		data, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		raw, err := sess.Request(ctx, RequestList, data)
		if err != nil {
			return nil, fmt.Errorf("list datasets: %w", err)
		}
		var rep listReply
		if err := json.Unmarshal(raw, &rep); err != nil {
			return nil, fmt.Errorf("list datasets: %w: reply: %v", stream.ErrProtocol, err)
		}
		out = append(out, rep.Datasets...)
		if !rep.More {
			return out, nil
		}
		if len(rep.Datasets) == 0 {
			return nil, fmt.Errorf("list datasets: %w: empty page with more to come", stream.ErrProtocol)
		}
		req.After = rep.Datasets[len(rep.Datasets)-1].Name
	}
}
