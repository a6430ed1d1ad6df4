package transport_test

import (
	"testing"
	"time"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
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
			transporttest.Bench(b, w, r, [][]byte{make([]byte, 64<<10)})
		})
	}
}
