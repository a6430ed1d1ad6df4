package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Layout is how a dataset's rows are laid out in messages.
type Layout string

// The layouts, specified in docs/DATASET.md.
const (
	// LayoutRows sends one row per message, as a JSON array.
	LayoutRows Layout = "rows"
	// LayoutBatched sends one batch of rows per message in the row-batched
	// binary encoding. It is the default.
	LayoutBatched Layout = "batched"
	// LayoutArrow sends the Arrow IPC schema message once, then one Arrow IPC
	// record batch message per batch.
	LayoutArrow Layout = "arrow"
)

// DefaultLayout is the layout used when none is configured or offered.
const DefaultLayout = LayoutBatched

// Layouts returns every layout this package supports, in the server's
// default order of preference.
func Layouts() []Layout { return []Layout{LayoutBatched, LayoutArrow, LayoutRows} }

// ParseLayout returns the layout with the given name. "columnar" is accepted
// as a synonym of "arrow" and "row" of "rows".
func ParseLayout(name string) (Layout, error) {
	switch name {
	case "rows", "row":
		return LayoutRows, nil
	case "batched", "":
		return LayoutBatched, nil
	case "arrow", "columnar":
		return LayoutArrow, nil
	}
	return "", fmt.Errorf("%w: %q (want rows, batched or arrow)", ErrUnknownLayout, name)
}

func (l Layout) valid() bool { return l == LayoutRows || l == LayoutBatched || l == LayoutArrow }

// Negotiate picks the layout for a dataset stream. offered is the client's
// list in its order of preference; supported is what the server allows
// (nil means Layouts()). The first offered layout that the server supports
// wins; names this package does not know are skipped, not fatal. An empty
// offer means "no preference" and yields DefaultLayout when supported (else
// the server's first). No match fails with an error matching
// ErrNoCommonLayout.
func Negotiate(offered []Layout, supported []Layout) (Layout, error) {
	if supported == nil {
		supported = Layouts()
	}
	if len(offered) == 0 {
		if slices.Contains(supported, DefaultLayout) {
			return DefaultLayout, nil
		}
		for _, l := range supported {
			if l.valid() {
				return l, nil
			}
		}
		return "", fmt.Errorf("%w: the server supports no known layout", ErrNoCommonLayout)
	}
	for _, l := range offered {
		if l.valid() && slices.Contains(supported, l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("%w: client offered %v, server supports %v", ErrNoCommonLayout, offered, supported)
}

// HeaderVersion is the version of the dataset header and message encodings
// written by this package.
const HeaderVersion = 1

// Header is the first message of a dataset stream (JSON). It declares
// everything a client needs before the first batch.
type Header struct {
	// Version is HeaderVersion.
	Version int `json:"version"`
	// Schema is the dataset schema.
	Schema *Schema `json:"schema"`
	// Layout is the negotiated layout of the messages that follow.
	Layout Layout `json:"layout"`
	// BatchRows is the most rows a batch message carries.
	BatchRows int `json:"batch_rows"`
	// BatchBytes is the target upper bound on a batch message's size, measured
	// in the batched encoding (a single row larger than this travels alone).
	BatchBytes int `json:"batch_bytes"`
	// TotalRows is the number of rows in the whole dataset, or -1 if unknown.
	TotalRows int64 `json:"total_rows"`
	// StartRow is the 0-based index of the first row this stream carries
	// (non-zero when resuming).
	StartRow int64 `json:"start_row"`
}

// MarshalHeader encodes h as the header message.
func (h Header) MarshalHeader() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(h)
}

// ParseHeader decodes and validates a header message. Unknown fields are
// ignored so that later versions can add some.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&h); err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrInvalidHeader, err)
	}
	if err := h.validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

func (h Header) validate() error {
	switch {
	case h.Version != HeaderVersion:
		return fmt.Errorf("%w: version %d, this package speaks %d", ErrInvalidHeader, h.Version, HeaderVersion)
	case h.Schema == nil:
		return fmt.Errorf("%w: no schema", ErrInvalidHeader)
	case !h.Layout.valid():
		return fmt.Errorf("%w: %w %q", ErrInvalidHeader, ErrUnknownLayout, h.Layout)
	case h.BatchRows < 1 || h.BatchRows > MaxBatchRows:
		return fmt.Errorf("%w: batch_rows %d not in 1..%d", ErrInvalidHeader, h.BatchRows, MaxBatchRows)
	case h.BatchBytes < 1:
		return fmt.Errorf("%w: batch_bytes %d", ErrInvalidHeader, h.BatchBytes)
	case h.TotalRows < -1:
		return fmt.Errorf("%w: total_rows %d", ErrInvalidHeader, h.TotalRows)
	case h.StartRow < 0 || (h.TotalRows >= 0 && h.StartRow > h.TotalRows):
		return fmt.Errorf("%w: start_row %d (total_rows %d)", ErrInvalidHeader, h.StartRow, h.TotalRows)
	}
	return nil
}
