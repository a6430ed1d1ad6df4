package dataset

import (
	"context"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// peakHeap runs f while sampling the heap every millisecond and returns the
// largest heap (live and not yet collected objects) seen above the heap
// at the start.
func peakHeap(t *testing.T, f func()) uint64 {
	t.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				v := read()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	peak = max(peak, read())
	if peak < base {
		return 0
	}
	return peak - base
}

// TestSQLiteExportMemoryIsFlat streams the demo table through a producer,
// a byte pipe and a consumer into a CSV sink that discards its output, with
// server and client in their own goroutines, for two table sizes ten times
// apart (50k and 500k rows; 5k and 50k under -race), and compares the peak
// heap. STREAMD_TEST_BIG_ROWS=10000000 runs 1M against 10M rows.
func TestSQLiteExportMemoryIsFlat(t *testing.T) {
	small, large := int64(50_000), int64(500_000)
	if raceEnabled {
		small, large = 5_000, 50_000
	}
	if v := os.Getenv("STREAMD_TEST_BIG_ROWS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "STREAMD_TEST_BIG_ROWS")
		small, large = n/10, n
	}
	peaks := map[int64]uint64{}
	for _, n := range []int64{small, large} {
		db := openSQLite(t)
		require.NoError(t, SeedDemo(context.Background(), db, DemoTable, n))
		peaks[n] = peakHeap(t, func() {
			ctx := context.Background()
			src, err := NewSQLSource(ctx, db, DemoSQLConfig(DemoTable))
			require.NoError(t, err)
			p, err := NewProducer(src, ProducerConfig{Layout: LayoutBatched})
			require.NoError(t, err)
			pr, pw := io.Pipe()
			var sent int64
			var sendErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent, sendErr = SendFramed(ctx, pw, p)
				pw.CloseWithError(sendErr)
			}()
			_, got, err := ReceiveFramed(ctx, pr, 0, func(h Header) (Sink, error) {
				return NewCSVSink(io.Discard, h.Schema, CSVConfig{})
			}, ConsumerConfig{})
			pr.Close()
			wg.Wait()
			require.NoError(t, err)
			require.NoError(t, sendErr)
			require.NoError(t, p.Close())
			require.Equal(t, n, got)
			require.Equal(t, n, sent)
		})
		t.Logf("%d rows: peak heap growth %.1f MiB", n, float64(peaks[n])/(1<<20))
	}
	require.Less(t, peaks[large], uint64(256<<20), "heap must stay bounded")
	// Ten times the rows must not need anywhere near ten times the memory.
	require.Less(t, peaks[large], 2*peaks[small]+(16<<20), "heap grows with row count: %d vs %d", peaks[large], peaks[small])
}
