package transport_test

import (
	"sync"
	"testing"
	"time"

	"github.com/streamd/streamd/transport"
)

// BenchmarkPipe moves 64 KiB messages through an in-memory Pipe, bare and with WithFaults
// (1 ms latency, no bandwidth cap), to show what the test transports cost.
func BenchmarkPipe(b *testing.B) {
	for _, tc := range []struct {
		name   string
		faults *transport.FaultConfig
	}{
		{"bare", nil},
		{"latency1ms", &transport.FaultConfig{Latency: time.Millisecond}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w, r := transport.Pipe(0)
			if tc.faults != nil {
				w = transport.WithFaults(w, *tc.faults)
			}
			defer w.Close()
			defer r.Close()
			parts := [][]byte{make([]byte, 64<<10)}
			b.SetBytes(64 << 10)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range b.N {
					if err := w.WriteMessage(parts...); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for range b.N {
				if _, err := r.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
