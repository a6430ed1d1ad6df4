package dataset

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Benchmarks of the encode → decode path of each layout on the workload of
// bench's dataset scenario (bench/internal/harness/datasetgen.go): 8
// columns, one of each type, about 1 in 15 values null, 4 distinct batches
// of 8192 rows repeated. Run:
//
//	go test ./dataset -run '^$' -bench 'Synth' -benchtime 5x
//
// One op moves synthRows rows (STREAMD_BENCH_ROWS for the TCP and session
// cases, default 1,000,000). Encode runs a Producer into a discarding
// writer (sendFramed), Decode a Consumer over the messages encoded once
// (each copied into a pooled buffer and handed over, as ReceiveFramed
// does), FramedTCP is the
// scenario's "tcp" contender (SendFramed → loopback TCP, 64 KiB buffers →
// ReceiveFramed) and Session its "streamd" one (OpenExport over loopback
// WebSocket, no compression).

// synthCodecRows is the rows per op of the encode and decode benchmarks.
const synthCodecRows = 4 * DefaultBatchRows * 8

func synthSchema() *Schema {
	return MustSchema(
		Column{Name: "id", Type: TypeInt64},
		Column{Name: "user", Type: TypeString, Nullable: true},
		Column{Name: "score", Type: TypeFloat64, Nullable: true},
		Column{Name: "active", Type: TypeBool},
		Column{Name: "created_at", Type: TypeTimestamp, Unit: UnitMicro, Zone: "UTC", Nullable: true},
		Column{Name: "day", Type: TypeDate, Nullable: true},
		Column{Name: "amount", Type: TypeDecimal, Precision: 12, Scale: 2},
		Column{Name: "digest", Type: TypeBinary, Nullable: true},
	)
}

var synthUsers = []string{"ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "radia", "josé", "zoë", "björn", "中村"}

// synthRow is row i of bench's synthetic table.
func synthRow(i int64) Row {
	h := splitmix64(uint64(i))
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var user, score, created, day, digest any
	if i%17 != 0 {
		user = fmt.Sprintf("%s-%04d", synthUsers[h%uint64(len(synthUsers))], (h>>8)%10_000)
	}
	if i%11 != 0 {
		score = float64(h>>11) / float64(1<<53) * 100
	}
	if i%13 != 0 {
		created = epoch.Add(time.Duration(i) * 1700 * time.Millisecond).Add(time.Duration(h%1_000_000) * time.Microsecond)
	}
	if i%19 != 0 {
		day = epoch.AddDate(0, 0, int(h%3650))
	}
	if i%23 != 0 {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, h)
		binary.LittleEndian.PutUint64(b[8:], splitmix64(h))
		digest = b
	}
	cents := int64(h>>20) % 10_000_000_000
	if h&1 == 1 {
		cents = -cents
	}
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return Row{i, user, score, h&2 == 2, created, day, fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100), digest}
}

// synthRecords returns the 4 template batches (release them).
func synthRecords(b *testing.B) []arrow.RecordBatch {
	b.Helper()
	s := synthSchema()
	var recs []arrow.RecordBatch
	rows := make([]Row, DefaultBatchRows)
	for k := 0; k < 4; k++ {
		for i := range rows {
			rows[i] = synthRow(int64(k*DefaultBatchRows + i))
		}
		rec, err := RowsToRecord(memory.DefaultAllocator, s, rows)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	b.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return recs
}

// cycleSource yields recs in turn until it has yielded total rows.
type cycleSource struct {
	schema *Schema
	recs   []arrow.RecordBatch
	next   int64
	total  int64
	k      int
}

func (s *cycleSource) Schema() *Schema  { return s.schema }
func (s *cycleSource) Info() SourceInfo { return SourceInfo{TotalRows: s.total} }
func (s *cycleSource) Close() error     { return nil }

func (s *cycleSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.next >= s.total {
		return nil, io.EOF
	}
	rec := s.recs[s.k]
	s.k = (s.k + 1) % len(s.recs)
	n := min(rec.NumRows(), s.total-s.next)
	s.next += n
	return rec.NewSlice(0, n), nil
}

var synthLayouts = []Layout{LayoutRows, LayoutBatched, LayoutArrow}

func reportRows(b *testing.B, rows int64, bytes int64) {
	b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if bytes > 0 {
		b.ReportMetric(float64(bytes)/float64(rows), "B/row")
	}
}

func BenchmarkSynthEncode(b *testing.B) {
	noPoison(b)
	recs := synthRecords(b)
	for _, layout := range synthLayouts {
		b.Run(string(layout), func(b *testing.B) {
			b.ReportAllocs()
			var size int64
			for range b.N {
				p, err := NewProducer(&cycleSource{schema: synthSchema(), recs: recs, total: synthCodecRows}, ProducerConfig{Layout: layout})
				if err != nil {
					b.Fatal(err)
				}
				size = 0
				if _, err := sendFramed(context.Background(), p, func(m []byte) error { size += int64(len(m)); return nil }); err != nil {
					b.Fatal(err)
				}
				p.Close()
			}
			reportRows(b, synthCodecRows, size)
		})
	}
}

func BenchmarkSynthDecode(b *testing.B) {
	noPoison(b)
	recs := synthRecords(b)
	for _, layout := range synthLayouts {
		b.Run(string(layout), func(b *testing.B) {
			p, err := NewProducer(&cycleSource{schema: synthSchema(), recs: recs, total: synthCodecRows}, ProducerConfig{Layout: layout})
			if err != nil {
				b.Fatal(err)
			}
			var msgs [][]byte
			var size int64
			if _, err := Send(context.Background(), p, func(m []byte) error {
				msgs = append(msgs, append([]byte(nil), m...))
				size += int64(len(m)) + 4
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			p.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h, err := ParseHeader(msgs[0])
				if err != nil {
					b.Fatal(err)
				}
				i := 1
				next := func() ([]byte, *memory.Buffer, error) { // as framedReader.next, from memory
					if i == len(msgs) {
						return nil, nil, io.EOF
					}
					i++
					if layout == LayoutRows {
						return msgs[i-1], nil, nil
					}
					owned := ownedCopy(msgs[i-1])
					return owned.Bytes(), owned, nil
				}
				rows, err := receiveBatches(context.Background(), h, next, discardSink{}, ConsumerConfig{})
				if err != nil || rows != synthCodecRows {
					b.Fatal(rows, err)
				}
			}
			reportRows(b, synthCodecRows, size)
		})
	}
}

// BenchmarkSynthFramedTCP is bench's "tcp" contender of the dataset scenario.
func BenchmarkSynthFramedTCP(b *testing.B) {
	noPoison(b)
	recs := synthRecords(b)
	rows := benchRows(b)
	for _, layout := range synthLayouts {
		b.Run(string(layout), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := synthTCPOnce(recs, layout, rows); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, rows, 0)
		})
	}
}

func synthTCPOnce(recs []arrow.RecordBatch, layout Layout, rows int64) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		p, err := NewProducer(&cycleSource{schema: synthSchema(), recs: recs, total: rows}, ProducerConfig{Layout: layout})
		if err != nil {
			done <- err
			return
		}
		defer p.Close()
		w := bufio.NewWriterSize(c, 64<<10)
		_, err = SendFramed(context.Background(), w, p)
		done <- errors.Join(err, w.Flush())
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return errors.Join(err, <-done)
	}
	defer c.Close()
	_, got, err := ReceiveFramed(context.Background(), bufio.NewReaderSize(c, 64<<10), 0,
		func(Header) (Sink, error) { return discardSink{}, nil }, ConsumerConfig{})
	if err = errors.Join(err, <-done); err == nil && got != rows {
		err = fmt.Errorf("received %d rows, want %d", got, rows)
	}
	return err
}

// BenchmarkSynthSession is bench's "streamd" contender of the dataset scenario.
func BenchmarkSynthSession(b *testing.B) {
	noPoison(b)
	recs := synthRecords(b)
	rows := benchRows(b)
	env := newExportEnv(b, CatalogConfig{}, nil)
	err := env.catalog.AddFunc(DatasetInfo{Name: "synth"}, func(_ context.Context, req OpenRequest) (Source, error) {
		return &cycleSource{schema: synthSchema(), recs: recs, total: rows}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	sess := env.dial("none")
	for _, layout := range synthLayouts {
		b.Run(string(layout), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				rd, err := OpenExport(context.Background(), sess, "synth", ExportOptions{Layouts: []Layout{layout}})
				if err != nil {
					b.Fatal(err)
				}
				var got int64
				for {
					rec, err := rd.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got += rec.NumRows()
					rec.Release()
				}
				if err := rd.Close(); err != nil || got != rows {
					b.Fatal(got, err)
				}
			}
			reportRows(b, rows, 0)
		})
	}
}
