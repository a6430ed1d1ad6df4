package stream

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamd/streamd/transport"
)

// The resume benchmarks run over loopback WebSocket (real TCP) with a
// ReconnectingClient whose transports are cut by transport.WithFaults:
//
//	go test -run X -bench 'Resume' -benchtime 1x ./stream/
//
// BenchmarkResumeUpload moves 256 MiB per iteration, uncut and cut 20 times
// at random offsets, and reports MB/s, the cuts and the bytes re-sent per
// cut (mean and worst). BenchmarkResumeTime cuts a running upload 100 times
// and reports the median and 90th percentile from the cut to the resumed
// session (dial, handshake, position exchange, re-attach), with the
// backoff's first wait set to 1 ms so that the protocol's own cost shows.

// benchResumeServer serves an upload sink on loopback WebSocket.
func benchResumeServer(b *testing.B) string {
	mux := NewMux()
	mux.Handle("sink", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.CopyBuffer(io.Discard, st, make([]byte, 64<<10))
		return err
	})
	srv, err := NewServer(mux, &ServerConfig{Session: &Config{Compression: []string{"none"}, Logger: quietLog()}, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		srv.Shutdown(context.Background()) //nolint:errcheck // teardown
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// benchClient returns a connected reconnecting client whose transports wrap
// wrap(i, conn) for the i-th connection.
func benchClient(b *testing.B, url string, wrap func(i int64, c transport.Conn) transport.Conn, onReconnect func()) *ReconnectingClient {
	opts := &DialOptions{Config: &Config{Compression: []string{"none"}, Logger: quietLog()}}
	var n atomic.Int64
	c, err := NewReconnectingClient(ReconnectConfig{
		Dial: func(ctx context.Context) (transport.Conn, error) {
			conn, err := DialTransport(ctx, url, opts)
			if err != nil {
				return nil, err
			}
			return wrap(n.Add(1)-1, conn), nil
		},
		Options:     opts,
		Backoff:     Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		OnReconnect: func(*Session) { onReconnect() },
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// uploadN writes n bytes of buf repeatedly on a new upload stream and closes it.
func uploadN(sess *Session, n int64, buf []byte) error {
	st, err := sess.Open(context.Background(), OpenOptions{Route: "sink", Kind: Upload})
	if err != nil {
		return err
	}
	for n > 0 {
		c := min(n, int64(len(buf)))
		if _, err := st.Write(buf[:c]); err != nil {
			return err
		}
		n -= c
	}
	return st.Close()
}

func BenchmarkResumeUpload(b *testing.B) {
	const size = 256 << 20
	buf := randomData(1<<20, 99)
	for _, cuts := range []int{0, 20} {
		name := "no-cuts"
		if cuts > 0 {
			name = "20-cuts"
		}
		b.Run(name, func(b *testing.B) {
			url := benchResumeServer(b)
			r := rand.New(rand.NewPCG(1, uint64(cuts)))
			var mu sync.Mutex
			plan := []int64{} // cut sizes of the connections still to come
			c := benchClient(b, url, func(i int64, conn transport.Conn) transport.Conn {
				mu.Lock()
				defer mu.Unlock()
				if len(plan) == 0 {
					return conn
				}
				cut := plan[0]
				plan = plan[1:]
				return transport.WithFaults(conn, transport.FaultConfig{CutAfterBytes: cut})
			}, func() {})
			sess := c.Session()
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				mu.Lock()
				plan = nil
				if cuts > 0 {
					plan = randomCuts(r, cuts, size)
				}
				mu.Unlock()
				if cuts > 0 {
					sess.current().conn.Close() // the next connection gets the first cut
					for sess.current() == nil || c.State() != ConnOpen {
						time.Sleep(time.Millisecond)
					}
				}
				before := sess.Stats()
				b.StartTimer()
				if err := uploadN(sess, size, buf); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				after := sess.Stats()
				if got := after.Resumes - before.Resumes; cuts > 0 && got < int64(cuts) {
					b.Fatalf("%d resumes, want %d", got, cuts)
				}
				if cuts > 0 {
					b.ReportMetric(float64(after.Resent-before.Resent)/float64(cuts), "resent-B/cut")
					b.ReportMetric(float64(after.MaxResentPerResume), "max-resent-B/cut")
				}
			}
		})
	}
}

func BenchmarkResumeTime(b *testing.B) {
	const cuts = 100
	url := benchResumeServer(b)
	var armed atomic.Bool
	var cutAt atomic.Int64
	resumed := make(chan time.Duration, 1)
	c := benchClient(b, url, func(_ int64, conn transport.Conn) transport.Conn {
		return transport.WithFaults(conn, transport.FaultConfig{OnMessage: func(transport.Direction, int64, int) error {
			if armed.CompareAndSwap(true, false) {
				cutAt.Store(time.Now().UnixNano())
				return errCut
			}
			return nil
		}})
	}, func() { resumed <- time.Duration(time.Now().UnixNano() - cutAt.Load()) })
	sess := c.Session()
	buf := randomData(1<<20, 98)
	b.ResetTimer()
	for range b.N {
		st, err := sess.Open(context.Background(), OpenOptions{Route: "sink", Kind: Upload})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { // writes until the stream is cancelled below
			defer close(done)
			for {
				if _, err := st.Write(buf); err != nil {
					return
				}
			}
		}()
		times := make([]time.Duration, 0, cuts)
		for range cuts {
			time.Sleep(5 * time.Millisecond) // data flowing
			armed.Store(true)
			times = append(times, <-resumed)
		}
		st.Cancel(CodeCancelled, "benchmark done")
		<-done
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/resume-median")
		b.ReportMetric(float64(times[len(times)*9/10].Microseconds())/1000, "ms/resume-p90")
		b.ReportMetric(float64(sess.Stats().MaxResentPerResume), "max-resent-B/cut")
	}
}
