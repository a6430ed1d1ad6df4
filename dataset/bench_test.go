package dataset

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Benchmarks on the 6-column demo table (int64, string, float64, bool,
// timestamp, date; some nulls). Run:
//
//	go test ./dataset -run '^$' -bench . -benchtime 2s
//
// rows/s counts rows encoded and decoded; B/row is the message bytes per row.

const benchBatchRows = DefaultBatchRows

func benchRecord(b *testing.B, rows int) arrow.RecordBatch {
	b.Helper()
	data := make([]Row, rows)
	for i := range data {
		data[i] = DemoRow(int64(i))
	}
	rec, err := RowsToRecord(memory.DefaultAllocator, DemoSchema(), data)
	if err != nil {
		b.Fatal(err)
	}
	return rec
}

func report(b *testing.B, rows int, bytes int) {
	b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if bytes > 0 {
		b.ReportMetric(float64(bytes)/float64(rows), "B/row")
	}
}

// BenchmarkLayoutRoundTrip encodes one batch of 8192 rows and decodes it back.
func BenchmarkLayoutRoundTrip(b *testing.B) {
	s := DemoSchema()
	rec := benchRecord(b, benchBatchRows)
	defer rec.Release()
	mem := memory.DefaultAllocator
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		b.Run(string(layout), func(b *testing.B) {
			h := Header{Version: HeaderVersion, Schema: s, Layout: layout, BatchRows: benchBatchRows, BatchBytes: DefaultBatchBytes, TotalRows: -1}
			c, err := NewConsumer(h, ConsumerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if layout == LayoutArrow {
				sm, _ := arrowSchemaMessage(mem, s)
				if _, err := c.Decode(sm); err != nil {
					b.Fatal(err)
				}
			}
			encode := func() []byte {
				if layout == LayoutArrow {
					m, err := encodeArrowBatch(mem, s, rec)
					if err != nil {
						b.Fatal(err)
					}
					return m
				}
				m, err := encodeBatched(s, rec)
				if err != nil {
					b.Fatal(err)
				}
				return m
			}
			size := len(encode())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := c.Decode(encode())
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			report(b, benchBatchRows, size)
		})
	}
}

// BenchmarkLayoutEncode and BenchmarkLayoutDecode split the round trip.
func BenchmarkLayoutEncode(b *testing.B) {
	s := DemoSchema()
	rec := benchRecord(b, benchBatchRows)
	defer rec.Release()
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		b.Run(string(layout), func(b *testing.B) {
			size := 0
			for i := 0; i < b.N; i++ {
				var m []byte
				var err error
				if layout == LayoutArrow {
					m, err = encodeArrowBatch(memory.DefaultAllocator, s, rec)
				} else {
					m, err = encodeBatched(s, rec)
				}
				if err != nil {
					b.Fatal(err)
				}
				size = len(m)
			}
			report(b, benchBatchRows, size)
		})
	}
}

func BenchmarkLayoutDecode(b *testing.B) {
	s := DemoSchema()
	rec := benchRecord(b, benchBatchRows)
	defer rec.Release()
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		b.Run(string(layout), func(b *testing.B) {
			h := Header{Version: HeaderVersion, Schema: s, Layout: layout, BatchRows: benchBatchRows, BatchBytes: DefaultBatchBytes, TotalRows: -1}
			c, _ := NewConsumer(h, ConsumerConfig{})
			defer c.Close()
			var m []byte
			if layout == LayoutArrow {
				sm, _ := arrowSchemaMessage(memory.DefaultAllocator, s)
				c.Decode(sm)
				m, _ = encodeArrowBatch(memory.DefaultAllocator, s, rec)
			} else {
				m, _ = encodeBatched(s, rec)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := c.Decode(m)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			report(b, benchBatchRows, len(m))
		})
	}
}

// BenchmarkProducerConsumer runs 1M rows (held in memory) through
// Producer → framing → Consumer for each layout, single goroutine.
func BenchmarkProducerConsumer(b *testing.B) {
	s := DemoSchema()
	const total = 1 << 20
	rec := benchRecord(b, total)
	defer rec.Release()
	for _, layout := range Layouts() {
		b.Run(string(layout), func(b *testing.B) {
			var wire int
			for i := 0; i < b.N; i++ {
				src, _ := NewRecordSource(s, []arrow.RecordBatch{rec}, 0)
				p, err := NewProducer(src, ProducerConfig{Layout: layout})
				if err != nil {
					b.Fatal(err)
				}
				var c *Consumer
				wire = 0
				_, err = Send(context.Background(), p, func(m []byte) error {
					wire += len(m) + 4
					if c == nil {
						h, err := ParseHeader(m)
						if err != nil {
							return err
						}
						c, err = NewConsumer(h, ConsumerConfig{CoalesceRows: DefaultBatchRows})
						return err
					}
					r, err := c.Decode(m)
					if r != nil {
						r.Release()
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if r := c.Flush(); r != nil {
					r.Release()
				}
				c.Close()
				p.Close()
			}
			report(b, total, wire)
		})
	}
}

// BenchmarkSQLiteSource reads the demo table (100k rows) through SQLSource.
func BenchmarkSQLiteSource(b *testing.B) {
	db := openSQLite(b)
	const n = 100_000
	if err := SeedDemo(context.Background(), db, DemoTable, n); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src, err := NewSQLSource(context.Background(), db, DemoSQLConfig(DemoTable))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Copy(context.Background(), discardSink{}, src); err != nil {
			b.Fatal(err)
		}
		src.Close()
	}
	report(b, n, 0)
}

// BenchmarkFormats writes 1M demo rows with each sink and reads them back.
func BenchmarkFormats(b *testing.B) {
	s := DemoSchema()
	const total = 1 << 20
	rec := benchRecord(b, total)
	defer rec.Release()
	for _, f := range Formats() {
		b.Run(fmt.Sprintf("%s/write", f), func(b *testing.B) {
			var size int
			for i := 0; i < b.N; i++ {
				var buf bytes.Buffer
				sink, _ := NewSink(&buf, f, s)
				for off := int64(0); off < total; off += benchBatchRows {
					part := rec.NewSlice(off, off+benchBatchRows)
					if err := sink.Write(part); err != nil {
						b.Fatal(err)
					}
					part.Release()
				}
				if err := sink.Close(); err != nil {
					b.Fatal(err)
				}
				size = buf.Len()
			}
			report(b, total, size)
		})
		var buf bytes.Buffer
		sink, _ := NewSink(&buf, f, s)
		sink.Write(rec)
		sink.Close()
		b.Run(fmt.Sprintf("%s/read", f), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				src, err := NewFileSource(bytes.NewReader(buf.Bytes()), f, FileOptions{Schema: s})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Copy(context.Background(), discardSink{}, src); err != nil {
					b.Fatal(err)
				}
				src.Close()
			}
			report(b, total, buf.Len())
		})
	}
}

type discardSink struct{}

func (discardSink) Write(arrow.RecordBatch) error { return nil }
func (discardSink) Close() error                  { return nil }

// BenchmarkTimeToFirstBatch measures opening the demo table (200k rows,
// read in id order) and producing the header and the first batch message.
func BenchmarkTimeToFirstBatch(b *testing.B) {
	db := openSQLite(b)
	if err := SeedDemo(context.Background(), db, DemoTable, 200_000); err != nil {
		b.Fatal(err)
	}
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		b.Run(string(layout), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				src, err := NewSQLSource(context.Background(), db, DemoSQLConfig(DemoTable))
				if err != nil {
					b.Fatal(err)
				}
				p, err := NewProducer(src, ProducerConfig{Layout: layout})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.HeaderMessage(); err != nil {
					b.Fatal(err)
				}
				for rows := 0; rows == 0; {
					m, err := p.Next(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					rows = m.Rows
				}
				p.Close()
			}
		})
	}
}
