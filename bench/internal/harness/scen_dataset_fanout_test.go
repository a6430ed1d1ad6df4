package harness

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/dataset"
)

func TestCycleSourceYieldsExactlyTheRowsAskedFor(t *testing.T) {
	tmpl, err := newDatasetTemplates()
	require.NoError(t, err)
	defer tmpl.Release()
	require.Len(t, tmpl.recs, datasetTemplateBatches)
	for _, rec := range tmpl.recs {
		require.EqualValues(t, datasetBatchRows, rec.NumRows())
		require.True(t, rec.Schema().Equal(tmpl.schema.Arrow()))
	}
	// Every column has values, and the nullable ones have nulls.
	for i, c := range tmpl.schema.Columns() {
		col := tmpl.recs[0].Column(i)
		require.Less(t, col.NullN(), col.Len(), c.Name)
		if c.Nullable {
			require.Positive(t, col.NullN(), c.Name)
		}
	}

	ctx := context.Background()
	for _, total := range []int64{1, datasetBatchRows, datasetBatchRows*datasetTemplateBatches + 5} {
		src := tmpl.source(total)
		require.Equal(t, total, src.Info().TotalRows)
		var got int64
		for {
			rec, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			got += rec.NumRows()
			rec.Release()
		}
		require.Equal(t, total, got)
		_, err := src.Next(ctx)
		require.ErrorIs(t, err, io.EOF, "EOF is sticky")
		require.NoError(t, src.Close())
		_, err = src.Next(ctx)
		require.ErrorIs(t, err, dataset.ErrClosed)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = tmpl.source(10).Next(cancelled)
	require.ErrorIs(t, err, context.Canceled)
}

func TestSyntheticRowsAreDeterministic(t *testing.T) {
	a, b := syntheticRow(12345), syntheticRow(12345)
	require.Equal(t, a, b)
	require.NotEqual(t, a, syntheticRow(12346))
	// A row with no nulls has every column set.
	for i := int64(1); i < 100; i++ {
		if i%17 != 0 && i%11 != 0 && i%13 != 0 && i%19 != 0 && i%23 != 0 {
			require.NotContains(t, syntheticRow(i), nil)
		}
	}
}

func TestDatasetOnceMovesEveryRowInEveryLayout(t *testing.T) {
	before := runtime.NumGoroutine()
	tmpl, err := newDatasetTemplates()
	require.NoError(t, err)
	defer tmpl.Release()
	const rows = datasetBatchRows + 100 // two batches, the second cut short
	ctx := context.Background()
	for _, dc := range datasetCases {
		byContender := map[string]datasetResult{}
		names := []string{datasetTCP, datasetStreamd}
		if dc.layout == dataset.LayoutArrow {
			names = append(names, datasetArrowIPC)
		}
		for _, name := range names {
			m, err := datasetOnce(ctx, name, tmpl, dc.layout, rows)
			require.NoError(t, err, "%s/%s", dc.name, name)
			require.EqualValues(t, rows, m.rows)
			require.Positive(t, m.bytes)
			require.Positive(t, m.first)
			require.LessOrEqual(t, m.first, m.elapsed)
			byContender[name] = m
		}
		// The baseline and streamd carry the very same length-prefixed
		// messages; only the session underneath differs.
		require.Equal(t, byContender[datasetTCP].bytes, byContender[datasetStreamd].bytes, dc.name)
	}
	_, err = datasetOnce(ctx, "carrier-pigeon", tmpl, dataset.LayoutRows, 1)
	require.ErrorIs(t, err, ErrNoContenders)
	requireNoGoroutinesLeft(t, before)
}

func TestDatasetOnceHonoursCancellation(t *testing.T) {
	tmpl, err := newDatasetTemplates()
	require.NoError(t, err)
	defer tmpl.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range []string{datasetTCP, datasetStreamd, datasetArrowIPC} {
		_, err := datasetOnce(ctx, name, tmpl, dataset.LayoutArrow, 1_000_000)
		require.ErrorIs(t, err, context.Canceled, name)
	}
}

func TestFanoutOnceDeliversLines(t *testing.T) {
	before := runtime.NumGoroutine()
	lines := fanoutLines(120)
	for _, line := range lines {
		require.Len(t, line, 120)
		require.NotContains(t, string(line), "\n")
	}
	for _, name := range []string{fanoutWebSocket, fanoutStreamd} {
		// A short window can be starved on a busy machine: what must hold is
		// that lines are published and reach the subscribers at all.
		var m fanoutResult
		for attempt := 0; attempt < 5 && m.slowest == 0; attempt++ {
			var err error
			m, err = fanoutOnce(context.Background(), name, 3, lines, 20*time.Millisecond, 100*time.Millisecond)
			require.NoError(t, err, name)
			require.Positive(t, m.published, name)
			require.Positive(t, m.publishP99, name)
			require.LessOrEqual(t, m.slowest, m.median, name)
			require.LessOrEqual(t, m.slowest*3, m.aggregate*1.000001, name)
			if !isNaN(m.droppedPct) {
				require.GreaterOrEqual(t, m.droppedPct, 0.0, name)
				require.LessOrEqual(t, m.droppedPct, 100.0, name)
			}
		}
		require.Positive(t, m.slowest, "%s: every subscriber gets lines", name)
	}
	_, err := fanoutOnce(context.Background(), "carrier-pigeon", 1, lines, time.Millisecond, time.Millisecond)
	require.ErrorIs(t, err, ErrNoContenders)
	requireNoGoroutinesLeft(t, before)
}

func isNaN(x float64) bool { return x != x }

// requireNoGoroutinesLeft waits up to 10 s for the goroutine count to fall
// back to before (polling from this goroutine: require.Eventually runs
// goroutines of its own).
func requireNoGoroutinesLeft(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines left behind: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestLineQueuesDropWhatDoesNotFit(t *testing.T) {
	subs := make([]subCounter, 2)
	q := newLineQueues(subs, 2)
	line := []byte("line")
	for range 5 {
		require.NoError(t, q.publish(line))
	}
	line[0] = 'X' // publishing copied it
	for i := range subs {
		require.EqualValues(t, 3, subs[i].dropped.Load())
		require.Len(t, q.queues[i], 2)
		require.Equal(t, "line", string(<-q.queues[i]))
	}
	q.close()
}

func TestLatencyHistogram(t *testing.T) {
	// Buckets are contiguous, ordered, and about 6 % wide.
	prevUpper := uint64(0)
	for i := 1; i < histBuckets; i++ {
		u := histUpper(i)
		require.Greater(t, u, prevUpper, "bucket %d", i)
		require.Equal(t, i, histIndex(u), "bucket %d holds its upper bound", i)
		require.Equal(t, i, histIndex(prevUpper+1), "bucket %d starts after bucket %d", i, i-1)
		if i >= 32 {
			require.LessOrEqual(t, float64(u-prevUpper)/float64(prevUpper+1), 1.0/16+1e-9)
		}
		prevUpper = u
		if u >= 1<<62 {
			break
		}
	}

	var h latencyHist
	require.Zero(t, h.quantile(0.99))
	rng := rand.New(rand.NewPCG(1, 2))
	var xs []time.Duration
	for range 10_000 {
		d := time.Duration(rng.ExpFloat64() * float64(time.Microsecond))
		xs = append(xs, d)
		h.record(d)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := xs[int(q*float64(len(xs)))-1]
		got := h.quantile(q)
		require.GreaterOrEqual(t, got, exact, "q %v", q)
		require.LessOrEqual(t, float64(got), float64(exact)*1.07+1, "q %v", q)
	}
	require.Equal(t, xs[len(xs)-1], h.quantile(1))
}

func TestDatasetAndFanoutProfileFields(t *testing.T) {
	for name, mutate := range map[string]func(*Profile){
		"rows":        func(p *Profile) { p.DatasetRows = 0 },
		"subscribers": func(p *Profile) { p.FanoutSubscribers = []int{1, 0} },
		"line":        func(p *Profile) { p.FanoutLineSize = 0 },
		"long line":   func(p *Profile) { p.FanoutLineSize = maxFanoutLine + 1 },
	} {
		p := TinyProfile()
		mutate(&p)
		require.ErrorIs(t, p.Validate(), ErrInvalidProfile, name)
	}
	full := FullProfile()
	require.Equal(t, []int{1, 10, 100, 1_000}, full.FanoutSubscribers)
	require.Equal(t, 120, full.FanoutLineSize)
}
