// Package dataset moves tabular data: schemas, the three message layouts of
// a dataset stream (rows, row-batched, Arrow IPC), streamed sources (CSV,
// JSON Lines, Arrow IPC file and stream, Parquet, SQL through database/sql)
// and sinks (CSV, JSON Lines, Arrow IPC, Parquet). The wire format is
// specified in docs/DATASET.md; testdata/dataset holds vectors for other
// implementations.
//
// The package is transport-independent. A server turns a Source into
// messages with a Producer (Header first, then Next until io.EOF); a client
// turns messages back into Arrow record batches with a Consumer and writes
// them to a Sink. Send and Receive drive both ends over any "emit one
// message" / "next message" functions; SendFramed and ReceiveFramed add a
// u32 length prefix for byte streams. Internally every batch is an Arrow
// record batch (github.com/apache/arrow-go/v18), so the Arrow layout and the
// Arrow and Parquet formats need no conversion; Row and RowsToRecord /
// RecordRows convert between rows of Go values and columns.
//
// On a streamd session (package stream), a Catalog on the server maps
// dataset names to sources (files, SQL queries, the demo table, Go
// functions) and serves them on the dataset/export route; on the client,
// OpenExport returns an ExportReader (a Source of the batches as they
// arrive), Export drives callbacks and a sink, and ExportFile writes a file,
// resumable for CSV and JSON Lines (docs/DATASET.md §13).
//
// Memory: sources hold about one batch (Arrow and Parquet files: one of the
// file's own batches or pages); batches are cut at ProducerConfig.BatchRows
// rows or BatchBytes bytes, whichever comes first; decoders check every
// length against the message before allocating.
//
// # Concurrency contract
//
// Schema values are immutable and safe for concurrent use. Everything else
// — sources, sinks, Producer, Consumer — is owned by one goroutine at a
// time: calls on one value must not overlap, and Close must not run
// concurrently with Next, Write or Decode (cancel the context passed to Next
// to stop a read in progress, then Close). Different values are
// independent and may be used from different goroutines. Blocking calls
// take a context.Context and return its error once it is done; sources
// check it at least every few hundred rows, and SQLSource also cancels the
// query through the context given to NewSQLSource. The package starts no
// goroutines of its own (the Parquet reader's parallel column decoding is
// left off), so nothing outlives a Close — with one exception: a Catalog
// seeds its demo table (AddDemo) in a goroutine that Catalog.Close cancels
// and waits for. A Catalog is safe for concurrent use; its export handlers
// run on the stream's handler goroutines and end with their streams. An
// ExportReader, like every Source, is used by one goroutine.
//
// Arrow record batches returned by Source.Next and Consumer.Decode belong
// to the caller, who must Release them; Sink.Write does not take ownership
// (a sink that keeps a batch Retains it). Payloads returned by Producer.Next
// are freshly allocated and owned by the caller, so they may be queued or
// retained freely. The batches that ReceiveFramed and ExportReader decode
// from the batched and Arrow layouts are views of the message buffer they
// were read into, which comes from an internal pool and returns to it when
// the last array using it is released (the pool is goroutine-safe): use no
// array after releasing it. Consumer.Decode copies instead. On the sending
// side, SendFramed and the export route encode into one reused buffer.
//
// # Errors
//
// Malformed input — CSV, JSON Lines, Arrow, Parquet, SQL values that do not
// fit their column, batch messages — fails with an *InputError naming the
// format, the 1-based row and, where known, line, byte offset and column; it
// matches ErrMalformed. Other conditions have sentinels (ErrNotResumable,
// ErrNoCommonLayout, ErrInvalidSchema, ErrMessageTooLarge, …) matched with
// errors.Is. Source, Producer and Consumer errors are sticky.
package dataset
