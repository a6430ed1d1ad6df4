package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/streamd/streamd/stream"
)

// CheckpointSuffix is appended to an output file's name for the checkpoint
// ExportFile keeps while it writes CSV or JSON Lines.
const CheckpointSuffix = ".streamd-export"

// ExportFileOptions tune ExportFile.
type ExportFileOptions struct {
	// ExportOptions tune the export; OnHeader must be nil (ExportFile
	// writes the file). StartRow > 0 writes the rows from there on into a
	// new file.
	ExportOptions
	// Resume continues an interrupted CSV or JSON Lines export into the same
	// file from its checkpoint (the rows it holds are kept and the rest is
	// appended). Without a checkpoint and without the file, it starts afresh.
	// Arrow and Parquet files cannot be appended (their footer comes last):
	// resuming them fails with ErrNotResumable.
	Resume bool
}

// exportCheckpoint is the JSON checkpoint of a CSV or JSON Lines export: the
// file's first Bytes bytes hold exactly the rows before NextRow.
type exportCheckpoint struct {
	Dataset string  `json:"dataset"`
	Format  Format  `json:"format"`
	NextRow int64   `json:"nextRow"`
	Bytes   int64   `json:"bytes"`
	Schema  *Schema `json:"schema"`
}

// ExportFile exports dataset name on sess into the file at path, in format f.
//
// CSV and JSON Lines are written batch by batch; after each batch the file
// holds whole rows only, and a checkpoint next to it (path +
// CheckpointSuffix) records how many, so an interrupted export continues
// with Resume. The checkpoint is removed when the export completes. Arrow
// and Parquet are written to path + ".partial" and renamed into place at the
// end, so path never holds a truncated file.
func ExportFile(ctx context.Context, sess *stream.Session, name, path string, f Format, opts ExportFileOptions) (ExportResult, error) {
	if opts.OnHeader != nil {
		return ExportResult{Dataset: name}, configErrorf("ExportFile writes the file itself: OnHeader must be nil")
	}
	switch f {
	case FormatCSV, FormatJSONL:
		return exportText(ctx, sess, name, path, f, opts)
	case FormatArrow, FormatArrowStream, FormatParquet:
		if opts.Resume {
			return ExportResult{Dataset: name}, fmt.Errorf("%w: %s files cannot be appended (the footer is written at the end); export again without resuming", ErrNotResumable, f)
		}
		return exportBinary(ctx, sess, name, path, f, opts.ExportOptions)
	}
	return ExportResult{Dataset: name}, fmt.Errorf("%w: %q", ErrUnknownFormat, f)
}

// exportBinary writes an Arrow or Parquet file through a .partial file.
func exportBinary(ctx context.Context, sess *stream.Session, name, path string, f Format, opts ExportOptions) (ExportResult, error) {
	partial := path + ".partial"
	file, err := os.Create(partial)
	if err != nil {
		return ExportResult{Dataset: name}, err
	}
	opts.OnHeader = func(h Header) (Sink, error) { return NewSink(file, f, h.Schema) }
	res, err := Export(ctx, sess, name, opts)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, path)
	}
	if err != nil {
		os.Remove(partial)
	}
	return res, err
}

// exportText writes CSV or JSON Lines with a checkpoint per batch.
func exportText(ctx context.Context, sess *stream.Session, name, path string, f Format, opts ExportFileOptions) (ExportResult, error) {
	ckptPath := path + CheckpointSuffix
	var ckpt *exportCheckpoint
	if opts.Resume {
		var err error
		if ckpt, err = readCheckpoint(ckptPath, path, name, f); err != nil {
			return ExportResult{Dataset: name}, err
		}
		if ckpt != nil {
			if opts.StartRow != 0 && opts.StartRow != ckpt.NextRow {
				return ExportResult{Dataset: name}, configErrorf("resume: the checkpoint says row %d, StartRow is %d", ckpt.NextRow, opts.StartRow)
			}
			opts.StartRow = ckpt.NextRow
		}
	}
	r, err := OpenExport(ctx, sess, name, opts.ExportOptions)
	if err != nil {
		if ckpt != nil && errors.Is(err, ErrNotResumable) {
			err = fmt.Errorf("%w; the export must restart: run it again without resuming", err)
		}
		return ExportResult{Dataset: name, NextRow: opts.StartRow}, err
	}
	w := &textFile{format: f, schema: r.Header().Schema, ckptPath: ckptPath,
		ckpt: exportCheckpoint{Dataset: name, Format: f, NextRow: opts.StartRow, Schema: r.Header().Schema}}
	if ckpt != nil && !ckpt.Schema.Equal(w.schema) {
		r.Close()
		return ExportResult{Dataset: name, NextRow: opts.StartRow}, fmt.Errorf("%w: dataset %q changed since the interrupted export (schema %v, now %v); export it again without resuming",
			ErrSchemaMismatch, name, ckpt.Schema, w.schema)
	}
	if err := w.open(path, ckpt); err != nil {
		r.Close()
		return ExportResult{Dataset: name, NextRow: opts.StartRow}, err
	}
	opts.OnHeader = func(Header) (Sink, error) { return w, nil }
	res, err := drainExport(ctx, r, opts.ExportOptions)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Remove(ckptPath)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	return res, err
}

// readCheckpoint reads and checks the checkpoint of an interrupted export
// into path; nil when there is nothing to resume.
func readCheckpoint(ckptPath, path, name string, f Format) (*exportCheckpoint, error) {
	b, err := os.ReadFile(ckptPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, nil // nothing written yet: start afresh
		}
		return nil, configErrorf("resume: %s has no checkpoint %s (the export finished, or another program wrote the file); export again without resuming", path, ckptPath)
	}
	if err != nil {
		return nil, err
	}
	var c exportCheckpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Schema == nil || c.NextRow < 0 || c.Bytes < 0 {
		return nil, configErrorf("resume: checkpoint %s is unreadable (%v); export again without resuming", ckptPath, err)
	}
	if c.Dataset != name || c.Format != f {
		return nil, configErrorf("resume: %s holds dataset %q as %s, not %q as %s", path, c.Dataset, c.Format, name, f)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if fi.Size() < c.Bytes {
		return nil, configErrorf("resume: %s is shorter (%d bytes) than its checkpoint says (%d); export again without resuming", path, fi.Size(), c.Bytes)
	}
	return &c, nil
}

// textFile is the Sink of exportText: each batch is written whole (through
// its own CSV or JSON Lines sink, flushed) and then checkpointed.
type textFile struct {
	format   Format
	schema   *Schema
	file     *os.File
	header   bool // a CSV header is still due
	ckptPath string
	ckpt     exportCheckpoint
}

// open creates the file, or truncates it to the checkpoint to append.
func (w *textFile) open(path string, ckpt *exportCheckpoint) error {
	var err error
	if ckpt == nil {
		w.file, err = os.Create(path)
		w.header = w.format == FormatCSV
		if err == nil {
			err = w.saveCheckpoint()
		}
		return err
	}
	if w.file, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
		return err
	}
	w.ckpt.Bytes = ckpt.Bytes
	w.header = w.format == FormatCSV && ckpt.Bytes == 0 // interrupted before the first batch
	if err = w.file.Truncate(ckpt.Bytes); err == nil {
		_, err = w.file.Seek(ckpt.Bytes, io.SeekStart)
	}
	return err
}

func (w *textFile) sink(out io.Writer) (Sink, error) {
	if w.format == FormatCSV {
		return NewCSVSink(out, w.schema, CSVConfig{NoHeader: !w.header})
	}
	return NewJSONLSink(out, w.schema), nil
}

// Write implements Sink.
func (w *textFile) Write(rec arrow.RecordBatch) error {
	cw := &countingWriter{w: w.file}
	k, err := w.sink(cw)
	if err != nil {
		return err
	}
	err = k.Write(rec)
	if cerr := k.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	w.header = false
	w.ckpt.Bytes += cw.n
	w.ckpt.NextRow += rec.NumRows()
	return w.saveCheckpoint()
}

// Close implements Sink: it writes the CSV header of an empty dataset and
// closes the file.
func (w *textFile) Close() error {
	var err error
	if w.header {
		var k Sink
		if k, err = w.sink(w.file); err == nil {
			err = k.Close()
		}
	}
	if serr := w.file.Sync(); err == nil {
		err = serr
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// saveCheckpoint replaces the checkpoint file atomically.
func (w *textFile) saveCheckpoint() error {
	b, err := json.Marshal(w.ckpt)
	if err != nil {
		return err
	}
	tmp := w.ckptPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, w.ckptPath)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
