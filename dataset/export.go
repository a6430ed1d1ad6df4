package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/streamd/streamd/stream"
)

// Routes of the export service (docs/DATASET.md §13).
const (
	// RouteExport is the route of export streams (kind stream.Download).
	RouteExport = "dataset/export"
	// RequestList is the request that lists a server's datasets.
	RequestList = "dataset/list"
)

// Application error codes of the export route (docs/DATASET.md §13). Other
// failures use the stream codes: NOT_FOUND for an unknown dataset,
// INVALID_ARGUMENT for bad metadata, UNAUTHORIZED for a query the dataset
// does not allow, INTERNAL_ERROR for I/O and database errors.
const (
	// CodeMalformed: the server's source data is malformed; the reason names
	// the row, line or byte offset (an *InputError on the server). Matches
	// ErrMalformed on the client.
	CodeMalformed stream.Code = 0x1D00
	// CodeNotResumable: the dataset cannot start at the requested row; the
	// export must restart from row 0. Matches ErrNotResumable.
	CodeNotResumable stream.Code = 0x1D01
	// CodeNoCommonLayout: the server supports none of the offered layouts.
	// Matches ErrNoCommonLayout.
	CodeNoCommonLayout stream.Code = 0x1D02
)

// maxAcceptMeta is the largest header sent as ACCEPT metadata; OPEN and
// ACCEPT metadata are capped at 64 KiB on the wire. A larger header (a
// schema of thousands of columns) travels only as the stream's first
// message.
const maxAcceptMeta = 60 << 10

// ExportRequest is the OPEN metadata of an export stream.
type ExportRequest struct {
	// Dataset is the dataset name (required).
	Dataset string `json:"dataset"`
	// Layouts are the layouts the client accepts, by preference; names the
	// server does not know are skipped. Empty: the server's default.
	Layouts []Layout `json:"layouts,omitempty"`
	// BatchRows is the most rows per batch (0: DefaultBatchRows).
	BatchRows int `json:"batchRows,omitempty"`
	// BatchBytes is the target batch size (0: DefaultBatchBytes).
	BatchBytes int `json:"batchBytes,omitempty"`
	// StartRow is the first row to send, to resume an export.
	StartRow int64 `json:"startRow,omitempty"`
	// Query and OrderBy replace a SQL dataset's query, if it allows that.
	Query   string `json:"query,omitempty"`
	OrderBy string `json:"orderBy,omitempty"`
}

// exportAccept is the ACCEPT metadata: the dataset header (the same as the
// stream's first message) plus what the client may want to know up front.
type exportAccept struct {
	Header
	Dataset   string `json:"dataset"`
	Resumable bool   `json:"resumable"`
}

// Register adds the export route (RouteExport, kind stream.Download) and the
// list request (RequestList) to mux.
func (c *Catalog) Register(mux *stream.Mux) {
	mux.Handle(RouteExport, stream.Download, c.serveExport)
	mux.HandleRequest(RequestList, c.serveList)
}

// exportCode maps an export error to the code the client receives.
func exportCode(err error) stream.Code {
	switch {
	case errors.Is(err, ErrUnknownDataset):
		return stream.CodeNotFound
	case errors.Is(err, ErrQueryNotAllowed):
		return stream.CodeUnauthorized
	case errors.Is(err, ErrNotResumable):
		return CodeNotResumable
	case errors.Is(err, ErrNoCommonLayout):
		return CodeNoCommonLayout
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnsupportedType), errors.Is(err, ErrSchemaMismatch):
		return CodeMalformed
	case errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrUnknownLayout), errors.Is(err, ErrUnknownFormat):
		return stream.CodeInvalidArgument
	case errors.Is(err, context.Canceled), errors.Is(err, stream.ErrCancelled):
		return stream.CodeCancelled
	}
	return stream.CodeInternal
}

// streamError is err as the stream error the client receives: the code of
// exportCode and err's text as the reason.
func streamError(st *stream.Stream, err error) error {
	var se *stream.StreamError
	if errors.As(err, &se) {
		return err // the stream itself failed (cancelled, session closed)
	}
	return &stream.StreamError{StreamID: st.ID(), Code: exportCode(err), Reason: err.Error()}
}

// CodeName returns the name of an export error code: DATASET_MALFORMED,
// DATASET_NOT_RESUMABLE, DATASET_NO_COMMON_LAYOUT, or the stream code's name.
func CodeName(c stream.Code) string {
	switch c {
	case CodeMalformed:
		return "DATASET_MALFORMED"
	case CodeNotResumable:
		return "DATASET_NOT_RESUMABLE"
	case CodeNoCommonLayout:
		return "DATASET_NO_COMMON_LAYOUT"
	}
	return c.String()
}

// serveExport serves one export stream: it negotiates the layout, opens
// the dataset, accepts with the header, then sends the header and every
// batch as length-prefixed messages (WriteMessage).
func (c *Catalog) serveExport(ctx context.Context, st *stream.Stream) error {
	var req ExportRequest
	if err := st.DecodeMetadata(&req); err != nil {
		return err
	}
	start := time.Now()
	p, info, err := c.openExport(ctx, req)
	if err != nil {
		c.log.Debug("export refused", "dataset", req.Dataset, "err", err)
		return streamError(st, err)
	}
	defer p.Close()
	h := p.Header()
	acc := exportAccept{Header: h, Dataset: req.Dataset, Resumable: info.Resumable}
	meta, err := json.Marshal(acc)
	if err != nil {
		return stream.WithCode(stream.CodeInternal, err)
	}
	if len(meta) > maxAcceptMeta {
		meta, _ = json.Marshal(struct {
			Dataset   string `json:"dataset"`
			Resumable bool   `json:"resumable"`
		}{req.Dataset, info.Resumable})
	}
	if err := st.Accept(json.RawMessage(meta)); err != nil {
		return err
	}
	rows, err := sendStream(ctx, st, p)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug("export failed", "dataset", req.Dataset, "rows", rows, "err", err)
		}
		return streamError(st, err)
	}
	c.log.Debug("export sent", "dataset", req.Dataset, "layout", h.Layout, "startRow", h.StartRow, "rows", rows,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// openExport validates req, negotiates the layout and opens the dataset.
func (c *Catalog) openExport(ctx context.Context, req ExportRequest) (*Producer, DatasetInfo, error) {
	switch {
	case req.Dataset == "":
		return nil, DatasetInfo{}, configErrorf("metadata names no dataset")
	case req.BatchRows < 0 || req.BatchRows > c.cfg.MaxBatchRows:
		return nil, DatasetInfo{}, configErrorf("batchRows %d not in 1..%d", req.BatchRows, c.cfg.MaxBatchRows)
	case req.BatchBytes != 0 && req.BatchBytes < MinBatchBytes:
		return nil, DatasetInfo{}, configErrorf("batchBytes %d below %d", req.BatchBytes, MinBatchBytes)
	case req.StartRow < 0:
		return nil, DatasetInfo{}, configErrorf("startRow %d is negative", req.StartRow)
	}
	offered := make([]Layout, len(req.Layouts))
	for i, l := range req.Layouts {
		if parsed, err := ParseLayout(string(l)); err == nil {
			l = parsed
		}
		offered[i] = l
	}
	layout, err := Negotiate(offered, c.cfg.Layouts)
	if err != nil {
		return nil, DatasetInfo{}, err
	}
	info, err := c.Info(req.Dataset)
	if err != nil {
		return nil, DatasetInfo{}, err
	}
	if req.StartRow > 0 && !info.Resumable && req.Query == "" {
		return nil, info, fmt.Errorf("%w: dataset %q cannot start at row %d; export it from row 0", ErrNotResumable, req.Dataset, req.StartRow)
	}
	rc := ReadConfig{StartRow: req.StartRow, BatchRows: req.BatchRows, BatchBytes: req.BatchBytes}
	src, err := c.Open(ctx, req.Dataset, OpenRequest{ReadConfig: rc, Query: req.Query, OrderBy: req.OrderBy})
	if err != nil {
		return nil, info, err
	}
	if req.Query != "" {
		info.Resumable = src.Info().Resumable
	}
	p, err := NewProducer(src, ProducerConfig{Layout: layout, BatchRows: req.BatchRows, BatchBytes: req.BatchBytes})
	if err != nil {
		src.Close()
		return nil, info, err
	}
	return p, info, nil
}

// sendStream writes p's header and messages to st, length-prefixed (see
// sendFramed): a batch reaches the stream in one Write, small rows-layout
// messages a few dozen kilobytes at a time.
func sendStream(ctx context.Context, st *stream.Stream, p *Producer) (int64, error) {
	return sendFramed(ctx, p, func(b []byte) error {
		_, err := st.WriteContext(ctx, b)
		return err
	})
}

// appendFramed appends msg with its u32 little-endian length prefix (the
// framing of WriteMessage).
func appendFramed(b, msg []byte) []byte {
	n := len(msg)
	b = append(b, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	return append(b, msg...)
}

// listRequest and listReply are the JSON of RequestList, paged to fit a
// reply frame.
type listRequest struct {
	After string `json:"after,omitempty"`
}

type listReply struct {
	Datasets []DatasetInfo `json:"datasets"`
	More     bool          `json:"more,omitempty"`
}

func (c *Catalog) serveList(_ context.Context, sess *stream.Session, data []byte) ([]byte, error) {
	var req listRequest
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, stream.WithCode(stream.CodeInvalidArgument, fmt.Errorf("dataset list request: %w", err))
		}
	}
	budget := sess.MaxFrame() - 256
	rep := listReply{Datasets: []DatasetInfo{}}
	size := 32
	for _, d := range c.List() {
		if d.Name <= req.After {
			continue
		}
		b, _ := json.Marshal(d)
		if size+len(b)+1 > budget {
			rep.More = true
			break
		}
		size += len(b) + 1
		rep.Datasets = append(rep.Datasets, d)
	}
	return json.Marshal(rep)
}
