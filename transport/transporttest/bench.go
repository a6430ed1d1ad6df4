package transporttest

import (
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/transport"
)

// Bench measures b.N messages made of parts going from w to r, the writer and the reader in
// their own goroutines (see BenchRun).
func Bench(b *testing.B, w, r transport.Conn, parts [][]byte) {
	BenchRun(b, int64(transport.MessageSize(parts)), func() error {
		for range b.N {
			if err := w.WriteMessage(parts...); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		for range b.N {
			if _, err := r.ReadMessage(); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchRun times write and read running concurrently, b.N operations of bytesPerOp bytes
// each. Besides MB/s it reports cpu-ns/op, the process CPU time (user + system) per
// operation: on a shared machine wall time swings with other load, CPU time much less.
func BenchRun(b *testing.B, bytesPerOp int64, write, read func() error) {
	b.SetBytes(bytesPerOp)
	b.ReportAllocs()
	cpuBefore := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() { defer wg.Done(); werr = write() }()
	rerr := read()
	wg.Wait()
	b.StopTimer()
	if werr != nil || rerr != nil {
		b.Fatalf("write: %v, read: %v", werr, rerr)
	}
	b.ReportMetric(float64(cpuTime()-cpuBefore)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time used by the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchStream is the baseline of Bench for a byte stream (TCP, a raw QUIC stream): b.N
// writes of size bytes to w, read back with io.ReadFull from r.
func BenchStream(b *testing.B, w io.Writer, r io.Reader, size int) {
	msg, buf := make([]byte, size), make([]byte, size)
	BenchRun(b, int64(size), func() error {
		for range b.N {
			if _, err := w.Write(msg); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		for range b.N {
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchDirections runs bench as two sub-benchmarks, each on a new pair: c2s, where the client
// writes and the server reads, and s2c the other way.
func BenchDirections[C any](b *testing.B, newPair func(b *testing.B) (client, server C), bench func(b *testing.B, w, r C)) {
	for _, dir := range []string{"c2s", "s2c"} {
		b.Run(dir, func(b *testing.B) {
			client, server := newPair(b)
			if dir == "s2c" {
				bench(b, server, client)
				return
			}
			bench(b, client, server)
		})
	}
}

// BenchConns runs Bench with messages of size bytes in both directions, each on a new
// pair, as one part and as vectored writes of two parts (a 16-byte frame header and its
// payload): the sub-benchmarks c2s, c2s/vectored, s2c and s2c/vectored.
func BenchConns(b *testing.B, size int, newPair func(b *testing.B) (client, server transport.Conn)) {
	for _, dir := range []string{"c2s", "s2c"} {
		for _, vectored := range []bool{false, true} {
			name := dir
			if vectored {
				name += "/vectored"
			}
			b.Run(name, func(b *testing.B) {
				w, r := newPair(b)
				if dir == "s2c" {
					w, r = r, w
				}
				msg := make([]byte, size)
				parts := [][]byte{msg}
				if vectored {
					parts = [][]byte{msg[:16], msg[16:]}
				}
				Bench(b, w, r, parts)
			})
		}
	}
}
