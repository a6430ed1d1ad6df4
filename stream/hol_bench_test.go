package stream

import (
	"context"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkHOL measures the round trip of 64-byte messages on one stream while
// a second stream of the same session uploads flat out, over loopback
// WebSocket: the head-of-line case. It reports p50/p99 in µs and the bulk
// stream's final receive window. Compare fixed and auto-tuned windows:
//
//	go test -run X -bench HOL -benchtime 2000x ./stream/
func BenchmarkHOL(b *testing.B) {
	for _, fixed := range []bool{true, false} {
		name := "autotune"
		if fixed {
			name = "fixed"
		}
		b.Run(name, func(b *testing.B) { benchHOL(b, fixed) })
	}
}

func benchHOL(b *testing.B, fixed bool) {
	var bulkWin sync.Map
	mux := NewMux()
	mux.Handle("bulk", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.CopyBuffer(io.Discard, st, make([]byte, benchMsg))
		st.mu.Lock()
		bulkWin.Store("w", st.recvWin.Size())
		st.mu.Unlock()
		return err
	})
	mux.Handle("echo", Bidi, func(ctx context.Context, st *Stream) error {
		if err := st.Accept(nil); err != nil {
			return err
		}
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(st, buf); err != nil {
				return nil
			}
			if _, err := st.Write(buf); err != nil {
				return err
			}
		}
	})
	cfg := &Config{Compression: []string{"none"}, FixedWindow: fixed}
	srv, err := NewServer(mux, &ServerConfig{Session: cfg})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	sess, err := Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), &DialOptions{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	ctx := context.Background()
	bulk, err := sess.Open(ctx, OpenOptions{Route: "bulk", Kind: Upload})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	bulkDone := make(chan error, 1)
	go func() {
		buf := make([]byte, benchMsg)
		for {
			select {
			case <-stop:
				bulkDone <- bulk.Close()
				return
			default:
			}
			if _, err := bulk.Write(buf); err != nil {
				bulkDone <- err
				return
			}
		}
	}()
	echo, err := sess.Open(ctx, OpenOptions{Route: "echo", Kind: Bidi})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the bulk window settle
	msg := make([]byte, 64)
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := echo.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(echo, msg); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	close(stop)
	if err := <-bulkDone; err != nil {
		b.Fatal(err)
	}
	echo.Close()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if w, ok := bulkWin.Load("w"); ok {
			b.ReportMetric(float64(w.(uint64))/1024, "bulk-win-KiB")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}
