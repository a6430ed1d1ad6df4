package stream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"
)

// The benchmarks below run one direction of bulk transfer over loopback
// WebSocket, side by side: raw gorilla/websocket with buffers sized to the
// message (the baseline) and a streamd session, with one and with 8 streams.
// Compare MB/s: `go test -run X -bench Throughput -benchtime 2s ./stream/`.

const benchMsg = 64 << 10

func BenchmarkThroughput(b *testing.B) {
	b.Run("raw-websocket/client-to-server", func(b *testing.B) { benchRawWS(b, true) })
	b.Run("raw-websocket/server-to-client", func(b *testing.B) { benchRawWS(b, false) })
	b.Run("session/upload/1-stream", func(b *testing.B) { benchSession(b, Upload, 1) })
	b.Run("session/download/1-stream", func(b *testing.B) { benchSession(b, Download, 1) })
	b.Run("session/upload/8-streams", func(b *testing.B) { benchSession(b, Upload, 8) })
	b.Run("session/download/8-streams", func(b *testing.B) { benchSession(b, Download, 8) })
}

// benchRawWS sends b.N 64 KiB binary messages one way over a gorilla
// connection and waits until the receiver has read them all.
func benchRawWS(b *testing.B, clientSends bool) {
	up := gws.Upgrader{ReadBufferSize: benchMsg + 1024, WriteBufferSize: benchMsg + 1024}
	n := b.N
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if clientSends {
			drainWS(c, n)
			close(done)
		} else {
			sendWS(c, n)
			c.ReadMessage() //nolint:errcheck // wait for the client to finish
		}
	}))
	defer hs.Close()
	d := gws.Dialer{ReadBufferSize: benchMsg + 1024, WriteBufferSize: benchMsg + 1024}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(benchMsg)
	b.ResetTimer()
	if clientSends {
		sendWS(c, n)
		<-done
	} else {
		drainWS(c, n)
	}
	b.StopTimer()
}

func sendWS(c *gws.Conn, n int) {
	msg := make([]byte, benchMsg)
	for range n {
		if err := c.WriteMessage(gws.BinaryMessage, msg); err != nil {
			return
		}
	}
}

func drainWS(c *gws.Conn, n int) {
	buf := make([]byte, benchMsg)
	for range n {
		_, r, err := c.NextReader()
		if err != nil {
			return
		}
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
}

// benchSession moves b.N × 64 KiB over a session split across streams, and
// waits until every stream completed (the receiver read everything).
func benchSession(b *testing.B, kind Kind, streams int) {
	total := int64(b.N) * benchMsg
	per := total / int64(streams)
	mux := NewMux()
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.CopyBuffer(io.Discard, st, make([]byte, benchMsg))
		return err
	})
	mux.Handle("down", Download, func(ctx context.Context, st *Stream) error {
		return writeN(st, per)
	})
	cfg := &Config{Compression: []string{"none"}}
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
	route := "up"
	if kind == Download {
		route = "down"
	}
	b.SetBytes(benchMsg)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := sess.Open(context.Background(), OpenOptions{Route: route, Kind: kind})
			if err != nil {
				b.Error(err)
				return
			}
			if kind == Upload {
				err = writeN(st, per)
			} else {
				_, err = io.CopyBuffer(io.Discard, st, make([]byte, benchMsg))
			}
			if err == nil {
				err = st.Close()
			}
			if err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if st := sess.Stats(); kind == Upload && st.MessagesOut > 0 {
		b.ReportMetric(float64(st.BytesOut)/float64(st.MessagesOut), "B/msg")
	} else if st.MessagesIn > 0 {
		b.ReportMetric(float64(st.BytesIn)/float64(st.MessagesIn), "B/msg")
	}
}

func writeN(w io.Writer, n int64) error {
	buf := make([]byte, benchMsg)
	for n > 0 {
		c := min(n, benchMsg)
		if _, err := w.Write(buf[:c]); err != nil {
			return err
		}
		n -= c
	}
	return nil
}

// BenchmarkCompressedUpload uploads one stream of random (incompressible) or
// JSON-lines data over loopback WebSocket with each compression setting, so
// the cost of compression on data that does not compress is a ratio within one
// run (target: zstd and gzip on random data >= 0.95x of none):
//
//	go test -run X -bench CompressedUpload -benchtime 2s -count 3 ./stream/
func BenchmarkCompressedUpload(b *testing.B) {
	for _, data := range []string{"random", "jsonl"} {
		for _, alg := range []string{"none", "zstd", "gzip"} {
			b.Run(data+"/"+alg, func(b *testing.B) { benchCompressedUpload(b, alg, data) })
		}
	}
}

func benchCompressedUpload(b *testing.B, alg, data string) {
	payload := randomData(benchMsg, 7)
	if data == "jsonl" {
		payload = patternData(benchMsg, 7)
	}
	mux := NewMux()
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.CopyBuffer(io.Discard, st, make([]byte, benchMsg))
		return err
	})
	cfg := &Config{Compression: []string{alg}}
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
	st, err := sess.Open(context.Background(), OpenOptions{Route: "up", Kind: Upload})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchMsg)
	b.ResetTimer()
	for range b.N {
		if _, err := st.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := sess.Stats(); s.DataOut > 0 {
		b.ReportMetric(float64(s.BytesOut)/float64(s.DataOut), "wire/data")
	}
}
