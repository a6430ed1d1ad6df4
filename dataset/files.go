package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is a file format for sources and sinks.
type Format string

// The file formats.
const (
	FormatCSV         Format = "csv"     // RFC 4180 CSV with a header row
	FormatJSONL       Format = "jsonl"   // JSON Lines, one object per row
	FormatArrow       Format = "arrow"   // Arrow IPC file (random-access format, ".arrow")
	FormatArrowStream Format = "arrows"  // Arrow IPC stream format (".arrows")
	FormatParquet     Format = "parquet" // Apache Parquet
)

// Formats returns every supported format.
func Formats() []Format {
	return []Format{FormatCSV, FormatJSONL, FormatArrow, FormatArrowStream, FormatParquet}
}

// ParseFormat returns the format with the given name or common alias
// (ndjson, jsonlines, ipc, feather, arrow-stream, pq).
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "csv":
		return FormatCSV, nil
	case "jsonl", "ndjson", "jsonlines":
		return FormatJSONL, nil
	case "arrow", "ipc", "feather":
		return FormatArrow, nil
	case "arrows", "arrow-stream":
		return FormatArrowStream, nil
	case "parquet", "pq":
		return FormatParquet, nil
	}
	return "", fmt.Errorf("%w: %q (want csv, jsonl, arrow, arrows or parquet)", ErrUnknownFormat, name)
}

// FormatOf returns the format a file name's extension implies.
func FormatOf(path string) (Format, error) {
	return ParseFormat(strings.TrimPrefix(filepath.Ext(path), "."))
}

// FileReader is what file sources read from; *os.File and *bytes.Reader
// implement it.
type FileReader interface {
	io.Reader
	io.ReaderAt
	io.Seeker
}

// FileOptions configures NewFileSource and OpenFile.
type FileOptions struct {
	ReadConfig
	// Schema declares the columns of a CSV or JSON Lines file; nil infers
	// them. Ignored for Arrow and Parquet, which carry their schema.
	Schema *Schema
}

// NewFileSource returns a source reading r in format f. The caller closes r
// after the source.
func NewFileSource(r FileReader, f Format, opt FileOptions) (Source, error) {
	switch f {
	case FormatCSV:
		return NewCSVSource(r, CSVConfig{ReadConfig: opt.ReadConfig, Schema: opt.Schema})
	case FormatJSONL:
		return NewJSONLSource(r, JSONLConfig{ReadConfig: opt.ReadConfig, Schema: opt.Schema})
	case FormatArrow:
		return NewArrowFileSource(r, ArrowConfig{ReadConfig: opt.ReadConfig})
	case FormatArrowStream:
		return NewArrowStreamSource(r, ArrowConfig{ReadConfig: opt.ReadConfig})
	case FormatParquet:
		return NewParquetSource(r, ParquetConfig{ReadConfig: opt.ReadConfig})
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
}

// fileSource closes the file it opened after the source.
type fileSource struct {
	Source
	f *os.File
}

// Close closes the source, then the file.
func (s *fileSource) Close() error {
	err := s.Source.Close()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// OpenFile opens the file at path as a source in format f ("" guesses from
// the extension). The source's Close closes the file.
func OpenFile(path string, f Format, opt FileOptions) (Source, error) {
	if f == "" {
		var err error
		if f, err = FormatOf(path); err != nil {
			return nil, err
		}
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	src, err := NewFileSource(file, f, opt)
	if err != nil {
		file.Close()
		return nil, err
	}
	return &fileSource{Source: src, f: file}, nil
}

// NewSink returns a sink writing format f of schema s to w with default
// settings (see the format's own constructor for options). The sink's Close
// does not close w.
func NewSink(w io.Writer, f Format, s *Schema) (Sink, error) {
	switch f {
	case FormatCSV:
		return NewCSVSink(w, s, CSVConfig{})
	case FormatJSONL:
		return NewJSONLSink(w, s), nil
	case FormatArrow:
		return NewArrowFileSink(w, s, ArrowConfig{})
	case FormatArrowStream:
		return NewArrowStreamSink(w, s, ArrowConfig{}), nil
	case FormatParquet:
		return NewParquetSink(w, s, ParquetConfig{})
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
}
