package harness

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/streamd/streamd/dataset"
)

// The dataset scenario exports a synthetic table of mixed types. Its rows are
// generated once per run into a few Arrow record batches held in memory
// (datasetTemplateBatches × datasetBatchRows distinct rows), which a
// cycleSource repeats to the size of the export: reading the source costs a
// reference count per batch, so the measurement is the encoding, the
// transfer and the decoding, not the source.
const (
	// datasetBatchRows is the rows per template batch, the dataset package's
	// default batch size, so that every layout cuts the same batches.
	datasetBatchRows = dataset.DefaultBatchRows
	// datasetTemplateBatches is how many distinct batches are generated.
	datasetTemplateBatches = 4
)

// syntheticSchema has one column of each dataset type, most of them
// nullable: an export of it exercises every encoder of every layout.
func syntheticSchema() *dataset.Schema {
	return dataset.MustSchema(
		dataset.Column{Name: "id", Type: dataset.TypeInt64},
		dataset.Column{Name: "user", Type: dataset.TypeString, Nullable: true},
		dataset.Column{Name: "score", Type: dataset.TypeFloat64, Nullable: true},
		dataset.Column{Name: "active", Type: dataset.TypeBool},
		dataset.Column{Name: "created_at", Type: dataset.TypeTimestamp, Unit: dataset.UnitMicro, Zone: "UTC", Nullable: true},
		dataset.Column{Name: "day", Type: dataset.TypeDate, Nullable: true},
		dataset.Column{Name: "amount", Type: dataset.TypeDecimal, Precision: 12, Scale: 2},
		dataset.Column{Name: "digest", Type: dataset.TypeBinary, Nullable: true},
	)
}

var syntheticUsers = []string{"ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "radia", "josé", "zoë", "björn", "中村"}

// splitmix64 is a fast, well-mixed hash of a row index: every value of a
// row is a pure function of its index.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// syntheticRow returns row i of the synthetic table: about 120 bytes in the
// batched layout, with nulls in 1 of 17 users, 1 of 11 scores, 1 of 13
// timestamps, 1 of 19 days and 1 of 23 digests.
func syntheticRow(i int64) dataset.Row {
	h := splitmix64(uint64(i))
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var user, score, created, day, digest any
	if i%17 != 0 {
		user = fmt.Sprintf("%s-%04d", syntheticUsers[h%uint64(len(syntheticUsers))], (h>>8)%10_000)
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
	cents := int64(h>>20) % 10_000_000_000 // |amount| < 10^8, fits decimal(12,2)
	if h&1 == 1 {
		cents = -cents
	}
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	amount := fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
	return dataset.Row{i, user, score, h&2 == 2, created, day, amount, digest}
}

// datasetTemplates are the generated batches every export of a run reads.
type datasetTemplates struct {
	schema *dataset.Schema
	recs   []arrow.RecordBatch
}

// newDatasetTemplates generates the template batches; release them with
// Release once no source uses them any more.
func newDatasetTemplates() (*datasetTemplates, error) {
	t := &datasetTemplates{schema: syntheticSchema()}
	rows := make([]dataset.Row, datasetBatchRows)
	for b := 0; b < datasetTemplateBatches; b++ {
		for i := range rows {
			rows[i] = syntheticRow(int64(b*datasetBatchRows + i))
		}
		rec, err := dataset.RowsToRecord(memory.DefaultAllocator, t.schema, rows)
		if err != nil {
			t.Release()
			return nil, fmt.Errorf("generate synthetic rows: %w", err)
		}
		t.recs = append(t.recs, rec)
	}
	return t, nil
}

// Release releases the template batches.
func (t *datasetTemplates) Release() {
	for _, r := range t.recs {
		r.Release()
	}
	t.recs = nil
}

// source returns a source of rows rows: the templates over and over, the
// last one cut short.
func (t *datasetTemplates) source(rows int64) *cycleSource {
	return &cycleSource{t: t, total: rows}
}

// cycleSource is a dataset.Source that yields the template batches in turn
// until it has yielded total rows. It is not resumable (the ids repeat).
type cycleSource struct {
	t      *datasetTemplates
	total  int64
	next   int64 // rows yielded so far
	batch  int   // template of the next batch
	closed bool
}

// Schema implements dataset.Source.
func (s *cycleSource) Schema() *dataset.Schema { return s.t.schema }

// Info implements dataset.Source.
func (s *cycleSource) Info() dataset.SourceInfo {
	return dataset.SourceInfo{TotalRows: s.total}
}

// Next implements dataset.Source.
func (s *cycleSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if s.closed {
		return nil, dataset.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.next >= s.total {
		return nil, io.EOF
	}
	rec := s.t.recs[s.batch]
	s.batch = (s.batch + 1) % len(s.t.recs)
	n := min(rec.NumRows(), s.total-s.next)
	s.next += n
	if n < rec.NumRows() {
		return rec.NewSlice(0, n), nil
	}
	rec.Retain()
	return rec, nil
}

// Close implements dataset.Source.
func (s *cycleSource) Close() error {
	s.closed = true
	return nil
}
