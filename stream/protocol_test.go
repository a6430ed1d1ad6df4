package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/websocket"
)

// uploadServer returns a server whose "up" handler reports what its Read returned.
func uploadServer(t *testing.T, cfg *Config) (*Server, chan error) {
	t.Helper()
	errs := make(chan error, 4)
	mux := NewMux()
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.Copy(io.Discard, st)
		errs <- err
		return err
	})
	// "idle" accepts and never reads, so the credit it granted stays fixed.
	mux.Handle("idle", Upload, func(ctx context.Context, st *Stream) error {
		if err := st.Accept(nil); err != nil {
			return err
		}
		<-st.Done()
		errs <- st.Err()
		return st.Err()
	})
	srv, err := NewServer(mux, &ServerConfig{Session: cfg})
	require.NoError(t, err)
	return srv, errs
}

func openRaw(t *testing.T, p *rawPeer, id uint32, route string, kind Kind, flags uint8) uint64 {
	t.Helper()
	p.send(wire.Open{StreamID: id, Flags: flags, Kind: kind, Route: route}.Append(nil))
	h, payload := p.expect(wire.TypeAccept)
	require.Equal(t, id, h.StreamID)
	a, err := wire.ParseAccept(h, payload)
	require.NoError(t, err)
	return a.Window
}

func TestSendingBeyondCreditIsTypedError(t *testing.T) {
	srv, errs := uploadServer(t, &Config{StreamWindow: 128 << 10, FixedWindow: true})
	p, _ := newRawClient(t, srv, nil)
	window := openRaw(t, p, 1, "idle", Upload, 0)
	require.EqualValues(t, 128<<10, window)

	chunk := make([]byte, 64<<10)
	var off uint64
	for off < window {
		p.send(wire.Data{StreamID: 1, Offset: off, Data: chunk}.Append(nil))
		off += uint64(len(chunk))
	}
	p.send(wire.Data{StreamID: 1, Offset: off, Data: make([]byte, 1000)}.Append(nil))

	h, payload := p.expect(wire.TypeError)
	require.EqualValues(t, 1, h.StreamID)
	ef, err := wire.ParseError(h, payload)
	require.NoError(t, err)
	require.Equal(t, CodeFlowControl, ef.Code)
	require.Contains(t, ef.Reason, "stream 1")
	require.Contains(t, ef.Reason, "131072") // the credit
	err = <-errs
	require.ErrorIs(t, err, ErrFlowControl)

	// The session survives a stream error.
	openRaw(t, p, 3, "up", Upload, 0)
}

func TestMalformedFramesEndSessionWithTypedError(t *testing.T) {
	cases := map[string][]byte{
		"truncated header":  {0x05, 0x00, 0x00},
		"truncated payload": append(wire.AppendHeader(nil, wire.Header{Type: wire.TypeData, StreamID: 1, Length: 100}), 1, 2, 3),
		"oversized length":  wire.AppendHeader(nil, wire.Header{Type: wire.TypeData, StreamID: 1, Length: 1 << 30}),
		"short credit":      append(wire.AppendHeader(nil, wire.Header{Type: wire.TypeCredit, StreamID: 1, Length: 3}), 1, 2, 3),
		"hello again":       wire.Hello{JSON: []byte(`{}`)}.Append(nil),
		"data on unopened":  wire.Data{StreamID: 99, Data: []byte("x")}.Append(nil),
		"wrong parity open": wire.Open{StreamID: 2, Kind: Upload, Route: "up"}.Append(nil),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			srv, _ := uploadServer(t, nil)
			p, _ := newRawClient(t, srv, nil)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			p.send(frame)
			h, payload := p.expect(wire.TypeError)
			require.Zero(t, h.StreamID, "a malformed frame is a connection error")
			ef, err := wire.ParseError(h, payload)
			require.NoError(t, err)
			require.Contains(t, []Code{CodeFrameSize, CodeProtocol}, ef.Code)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "no allocation for claimed lengths")
			_, err = p.conn.ReadMessage()
			require.Error(t, err, "the server closes the transport")
		})
	}
}

func zstdBomb(t *testing.T, size int) []byte {
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for i := 0; i < size; i += len(zeros) {
		_, err := enc.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, enc.Close())
	return buf.Bytes()
}

func gzipBomb(t *testing.T, size int) []byte {
	var buf bytes.Buffer
	enc, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for i := 0; i < size; i += len(zeros) {
		_, err := enc.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, enc.Close())
	return buf.Bytes()
}

func TestDecompressionBombsFailTheStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint8
		bomb  func(*testing.T, int) []byte
		size  int
	}{{"zstd", 2, zstdBomb, 256 << 20}, {"gzip", 1, gzipBomb, 48 << 20}} { // deflate tops out near 1000:1
		t.Run(tc.name, func(t *testing.T) {
			bomb := tc.bomb(t, tc.size)
			require.Less(t, len(bomb), 64<<10, "the bomb fits one frame")
			srv, errs := uploadServer(t, nil)
			p, _ := newRawClient(t, srv, nil)
			openRaw(t, p, 1, "up", Upload, 0)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			p.send(wire.Data{StreamID: 1, Flags: tc.flags, Data: bomb}.Append(nil))
			h, payload := p.expect(wire.TypeError)
			require.EqualValues(t, 1, h.StreamID, "a bomb is a stream error")
			ef, err := wire.ParseError(h, payload)
			require.NoError(t, err)
			require.Equal(t, CodeCompression, ef.Code)
			require.ErrorIs(t, <-errs, ErrCompression)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20), "decompression stayed bounded")
			openRaw(t, p, 3, "up", Upload, 0) // the session goes on
		})
	}
}

func TestChecksumMismatchIsIntegrityError(t *testing.T) {
	srv, errs := uploadServer(t, nil)
	p, _ := newRawClient(t, srv, nil)
	openRaw(t, p, 1, "up", Upload, wire.FlagChecksum)
	data := []byte("hello world")
	p.send(wire.Data{StreamID: 1, Data: data}.Append(nil))
	bad := sha256.Sum256([]byte("something else"))
	p.send(wire.Close{StreamID: 1, Total: uint64(len(data)), HasChecksum: true, SHA256: bad}.Append(nil))
	require.ErrorIs(t, <-errs, ErrIntegrity)
	h, payload := p.expect(wire.TypeError)
	ef, err := wire.ParseError(h, payload)
	require.NoError(t, err)
	require.EqualValues(t, 1, h.StreamID)
	require.Equal(t, CodeIntegrity, ef.Code)

	// A CLOSE whose total disagrees with the bytes sent is caught too.
	openRaw(t, p, 3, "up", Upload, 0)
	p.send(wire.Data{StreamID: 3, Data: data}.Append(nil))
	p.send(wire.Close{StreamID: 3, Total: 5}.Append(nil))
	require.ErrorIs(t, <-errs, ErrIntegrity)
}

func TestHandshakeErrors(t *testing.T) {
	srv, _ := uploadServer(t, nil)
	c := func(hello string) (wire.Header, wire.Error) {
		p := &rawPeer{t: t, lim: wire.Limits{MaxFrame: 64 << 10}}
		cc, s := transportPipe()
		p.conn = cc
		go srv.ServeConn(s, "") //nolint:errcheck // observed via the peer
		p.send(wire.Hello{JSON: []byte(hello)}.Append(nil))
		h, payload := p.expect(wire.TypeError)
		ef, err := wire.ParseError(h, payload)
		require.NoError(t, err)
		return h, ef
	}
	_, ef := c(`{"versions":[7]}`)
	require.Equal(t, CodeUnsupportedVersion, ef.Code)
	_, ef = c(`not json`)
	require.Equal(t, CodeProtocol, ef.Code)
	_, ef = c(`{"versions":[1],"maxFrame":10,"maxMessage":100}`)
	require.Equal(t, CodeProtocol, ef.Code)

	// Unknown capabilities are ignored.
	p, w := newRawClient(t, srv, map[string]any{"versions": []int{1, 2}, "compression": []string{"brotli", "gzip"}, "maxFrame": 32768, "maxMessage": 1 << 20, "future": map[string]any{"x": 1}})
	require.EqualValues(t, 32768, w["maxFrame"])
	require.Equal(t, []any{"gzip"}, w["compression"])
	p.send(wire.Ping{}.Append(nil))
	p.expect(wire.TypePong)
}

func TestIdleTimeout(t *testing.T) {
	srv, _ := uploadServer(t, &Config{PingInterval: 20 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	p, _ := newRawClient(t, srv, nil)
	// The raw peer never answers PINGs: the server gives up with TIMEOUT.
	for {
		msg, err := p.conn.ReadMessage()
		if err != nil {
			break
		}
		h, payload, _, err := wire.ParseFrame(msg, p.lim)
		require.NoError(t, err)
		if h.Type == wire.TypeError {
			ef, err := wire.ParseError(h, payload)
			require.NoError(t, err)
			require.Equal(t, CodeTimeout, ef.Code)
			break
		}
	}
}

func TestIdleTimeoutClientSide(t *testing.T) {
	// A client whose peer stops answering ends with a net.Error timeout.
	cc, s := transportPipe()
	go func() { // a server that handshakes, then goes silent
		msg, err := s.ReadMessage()
		if err != nil {
			return
		}
		_ = msg
		w := []byte(`{"version":1,"session":"x","compression":[],"maxFrame":65536,"maxMessage":1048576}`)
		s.WriteMessage(wire.Welcome{JSON: w}.Append(nil)) //nolint:errcheck // test peer
		for {
			if _, err := s.ReadMessage(); err != nil {
				return
			}
		}
	}()
	sess, err := Client(context.Background(), cc, &Config{PingInterval: 20 * time.Millisecond, IdleTimeout: 100 * time.Millisecond}, "")
	require.NoError(t, err)
	<-sess.Done()
	require.ErrorIs(t, sess.Err(), ErrTimeout)
	var ne interface{ Timeout() bool }
	require.ErrorAs(t, sess.Err(), &ne)
	require.True(t, ne.Timeout())
	sess.Close()
	s.Close()
}

func TestForeignOriginGets403(t *testing.T) {
	srv, err := NewServer(NewMux(), &ServerConfig{WebSocket: &websocket.Config{AllowedOrigins: []string{"https://good.example"}}})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	_, err = Dial(context.Background(), url, &DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
	require.Error(t, err)

	req, _ := http.NewRequest("GET", hs.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	sess, err := Dial(context.Background(), url, &DialOptions{Header: http.Header{"Origin": {"https://good.example"}}})
	require.NoError(t, err)
	sess.Close()
}

func TestAuthentication(t *testing.T) {
	auth := func(ctx context.Context, token string) (string, error) {
		if token == "s3cret" {
			return "alice", nil
		}
		return "", ErrUnauthorized
	}
	mux := NewMux()
	who := make(chan string, 1)
	mux.HandleRequest("whoami", func(ctx context.Context, s *Session, _ []byte) ([]byte, error) {
		who <- s.Principal()
		return []byte(s.Principal()), nil
	})
	srv, err := NewServer(mux, &ServerConfig{Authenticate: auth})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	_, err = Dial(context.Background(), url, &DialOptions{Token: "wrong"})
	require.ErrorIs(t, err, ErrUnauthorized)
	_, err = Dial(context.Background(), url, nil)
	require.ErrorIs(t, err, ErrUnauthorized)

	sess, err := Dial(context.Background(), url, &DialOptions{Token: "s3cret"})
	require.NoError(t, err)
	defer sess.Close()
	out, err := sess.Request(context.Background(), "whoami", nil)
	require.NoError(t, err)
	require.Equal(t, "alice", string(out))
}

func TestControlQueueFlood(t *testing.T) {
	// A peer that sends PINGs but never reads makes the server queue PONGs; past
	// MaxQueuedControl the session ends with CONTROL_QUEUE_FULL instead of
	// buffering without bound.
	srv, _ := uploadServer(t, &Config{MaxQueuedControl: 16})
	mux := srv.Mux()
	_ = mux
	p, _ := newRawClient(t, srv, nil)
	ping := wire.Ping{}.Append(nil)
	msg := bytes.Repeat(ping, 4096) // one message, 4096 PINGs: the writer cannot keep up
	p.send(msg)
	for {
		m, err := p.conn.ReadMessage()
		if err != nil {
			t.Fatal("transport closed without CONTROL_QUEUE_FULL")
		}
		found := false
		for len(m) > 0 {
			h, payload, n, err := wire.ParseFrame(m, p.lim)
			require.NoError(t, err)
			m = m[n:]
			if h.Type == wire.TypeError {
				ef, err := wire.ParseError(h, payload)
				require.NoError(t, err)
				require.Equal(t, CodeControlQueueFull, ef.Code)
				found = true
			}
		}
		if found {
			return
		}
	}
}

var _ = binary.BigEndian

func TestOversizedMessageIsTypedError(t *testing.T) {
	srv, _ := uploadServer(t, &Config{MaxMessage: 256 << 10})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil, &websocket.Config{MaxMessageSize: 4 << 20})
	require.NoError(t, err)
	p := &rawPeer{t: t, conn: conn, lim: wire.Limits{MaxFrame: 64 << 10}}
	p.send(wire.Hello{JSON: []byte(`{"versions":[1],"maxFrame":65536,"maxMessage":4194304}`)}.Append(nil))
	h, payload := p.next()
	require.Equal(t, wire.TypeWelcome, h.Type)
	var w map[string]any
	require.NoError(t, json.Unmarshal(payload, &w))
	require.EqualValues(t, 256<<10, w["maxMessage"], "the smaller maxMessage binds both sides")

	// 2 MiB of PINGs in one message: over the server's 256 KiB limit.
	err = conn.WriteMessage(bytes.Repeat(wire.Ping{}.Append(nil), (2<<20)/18))
	for err == nil {
		_, err = conn.ReadMessage()
	}
	// The server refuses the message with close code 1009; the socket may be
	// reset before that close frame is read, so any closed error is accepted.
	require.ErrorIs(t, err, transport.ErrClosed)
	waitFor(t, func() bool { return srv.NumSessions() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
