package dataset

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// repeatSource yields rows of one record over and over until it has yielded
// total rows: a dataset of any size that costs almost nothing to read, so
// that a test measures the export path (producer, session, consumer) and
// not the database.
type repeatSource struct {
	schema *Schema
	rec    arrow.RecordBatch
	next   int64
	total  int64
}

func (s *repeatSource) Schema() *Schema { return s.schema }
func (s *repeatSource) Info() SourceInfo {
	return SourceInfo{StartRow: 0, TotalRows: s.total, Resumable: false}
}

func (s *repeatSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.next >= s.total {
		return nil, io.EOF
	}
	n := min(s.rec.NumRows(), s.total-s.next)
	s.next += n
	return s.rec.NewSlice(0, n), nil
}

func (s *repeatSource) Close() error { return nil }

// addRepeat registers dataset name: total rows of the demo schema, DemoRow(0
// … 8191) repeated.
func (e *exportEnv) addRepeat(name string, total int64) {
	e.t.Helper()
	rec, err := RowsToRecord(memory.DefaultAllocator, DemoSchema(), demoRows(0, DefaultBatchRows))
	require.NoError(e.t, err)
	e.t.Cleanup(rec.Release)
	require.NoError(e.t, e.catalog.AddFunc(DatasetInfo{Name: name}, func(_ context.Context, req OpenRequest) (Source, error) {
		if req.StartRow > 0 {
			return nil, ErrNotResumable
		}
		return &repeatSource{schema: DemoSchema(), rec: rec, total: total}, nil
	}))
}

// TestExportSessionMemoryIsFlat exports 100k and 1M rows through a real
// session over loopback WebSocket, server and client in this process, in
// the batched and Arrow layouts (under -race: 30k and 300k rows, Arrow),
// and compares the peak heap: ten times the rows must not need much more
// memory.
// STREAMD_TEST_BIG_ROWS=10000000 runs 1M against 10M rows.
func TestExportSessionMemoryIsFlat(t *testing.T) {
	small, large := int64(100_000), int64(1_000_000)
	layouts := []Layout{LayoutBatched, LayoutArrow}
	if raceEnabled { // about 100k rows/s under -race
		small, large, layouts = 30_000, 300_000, []Layout{LayoutArrow}
	}
	if v := os.Getenv("STREAMD_TEST_BIG_ROWS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "STREAMD_TEST_BIG_ROWS")
		small, large = n/10, n
	}
	env := newExportEnv(t, CatalogConfig{}, nil)
	env.addRepeat("small", small)
	env.addRepeat("large", large)
	sess := env.dial("none") // compression is per frame and bounded; without it -race runs 10× faster
	for _, layout := range layouts {
		peaks := map[string]uint64{}
		for _, name := range []string{"small", "large"} {
			var res ExportResult
			var err error
			peaks[name] = peakHeap(t, func() {
				var ids int64
				res, err = Export(t.Context(), sess, name, ExportOptions{Layouts: []Layout{layout},
					OnBatch: func(rec arrow.RecordBatch, _ int64) error {
						ids += rec.NumRows() // touch nothing else: measure the path, not a sink
						return nil
					}})
			})
			require.NoError(t, err)
			t.Logf("%s %s: %d rows, %.0f rows/s, wire %.1f bytes/row, peak heap growth %.1f MiB",
				layout, name, res.Rows, res.RowsPerSecond(), float64(res.WireBytes)/float64(res.Rows), float64(peaks[name])/(1<<20))
		}
		require.Less(t, peaks["large"], uint64(256<<20), "heap must stay bounded")
		require.Less(t, peaks["large"], 2*peaks["small"]+(24<<20), "%s: heap grows with row count: %d vs %d", layout, peaks["large"], peaks["small"])
	}
}
