package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is, whatever its concrete type.
var (
	// ErrMalformed marks input that does not follow its format: a bad CSV
	// record, a JSON line that is not an object, a corrupt Arrow or Parquet
	// file, a batch message that does not decode. The concrete type is
	// *InputError, which names the row or byte offset.
	ErrMalformed = errors.New("dataset: malformed input")

	// ErrInvalidSchema marks a schema that cannot be used: duplicate or empty
	// column names, an unknown type, a timestamp without a unit, a decimal
	// precision out of range, an unknown time zone.
	ErrInvalidSchema = errors.New("dataset: invalid schema")

	// ErrUnsupportedType marks a source column whose type has no lossless
	// mapping to the dataset types (for example an Arrow uint64 or a nested
	// list column).
	ErrUnsupportedType = errors.New("dataset: unsupported column type")

	// ErrSchemaMismatch marks a record batch whose columns differ from the
	// schema it is written or encoded under.
	ErrSchemaMismatch = errors.New("dataset: record does not match schema")

	// ErrNotResumable marks a request to start a source at a row offset when
	// the source cannot guarantee the same rows in the same order (for
	// example a SQL query without a declared stable ORDER BY). The export
	// must restart from row 0.
	ErrNotResumable = errors.New("dataset: source is not resumable at a row offset")

	// ErrNoCommonLayout marks a layout negotiation in which the server
	// supports none of the layouts the client offered.
	ErrNoCommonLayout = errors.New("dataset: no common layout")

	// ErrUnknownLayout marks a layout name that this package does not know.
	ErrUnknownLayout = errors.New("dataset: unknown layout")

	// ErrUnknownFormat marks a file format name that this package does not know.
	ErrUnknownFormat = errors.New("dataset: unknown file format")

	// ErrMessageTooLarge marks a framed message whose declared length exceeds
	// the reader's limit, or a message too large to frame. The concrete type
	// is *MessageSizeError.
	ErrMessageTooLarge = errors.New("dataset: message too large")

	// ErrInvalidHeader marks a dataset header message that does not parse or
	// that carries inconsistent fields.
	ErrInvalidHeader = errors.New("dataset: invalid dataset header")

	// ErrInvalidConfig marks a Config whose fields are out of range or
	// inconsistent with each other.
	ErrInvalidConfig = errors.New("dataset: invalid config")

	// ErrClosed marks a call on a source, sink, producer or consumer after
	// its Close.
	ErrClosed = errors.New("dataset: use after close")
)

// InputError reports malformed input: which format, where, and why.
// It matches ErrMalformed with errors.Is and unwraps to its cause.
//
// Row is the 1-based number of the data row (a CSV header line is not a
// row), Line the 1-based physical line for text formats, Offset the byte
// offset of the start of the offending record or message. Zero Row or Line
// and negative Offset mean "unknown".
type InputError struct {
	Format string // "csv", "jsonl", "arrow", "parquet", "batched", "rows", "sql", "framing"
	Row    int64
	Line   int64
	Offset int64
	Column string // column name, when the error concerns one value
	Err    error  // the cause
}

// Error implements error.
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString("dataset: malformed ")
	b.WriteString(e.Format)
	b.WriteString(" input")
	sep := " at "
	add := func(k string, v int64) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(v, 10))
		sep = ", "
	}
	if e.Row > 0 {
		add("row", e.Row)
	}
	if e.Line > 0 {
		add("line", e.Line)
	}
	if e.Offset >= 0 {
		add("byte offset", e.Offset)
	}
	if e.Column != "" {
		b.WriteString(sep)
		b.WriteString("column ")
		b.WriteString(strconv.Quote(e.Column))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed.
func (e *InputError) Is(target error) bool { return target == ErrMalformed }

// MessageSizeError reports a message whose size exceeds a limit. It matches
// ErrMessageTooLarge with errors.Is.
type MessageSizeError struct {
	Size  int64 // declared or actual size in bytes
	Limit int64 // the limit in bytes
}

// Error implements error.
func (e *MessageSizeError) Error() string {
	return fmt.Sprintf("dataset: message of %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

// Is reports whether target is ErrMessageTooLarge.
func (e *MessageSizeError) Is(target error) bool { return target == ErrMessageTooLarge }

// schemaErrorf returns an error matching ErrInvalidSchema.
func schemaErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSchema, fmt.Sprintf(format, args...))
}

// configErrorf returns an error matching ErrInvalidConfig.
func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// mismatchErrorf returns an error matching ErrSchemaMismatch.
func mismatchErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSchemaMismatch, fmt.Sprintf(format, args...))
}
