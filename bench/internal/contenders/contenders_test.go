package contenders

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/bench/internal/harness"
)

func loopbackEnv(t *testing.T, msgSize int) harness.Env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	return harness.Env{
		Listener:    ln,
		MessageSize: msgSize,
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}
}

func streamContenders() []harness.Contender {
	return []harness.Contender{TCP(), WebSocket(), Yamux(), Smux()}
}

// Every stream contender carries bytes both ways on several streams, keeps
// streams apart, and unblocks readers when the link closes.
func TestStreamContenders(t *testing.T) {
	for _, c := range streamContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			link, err := c.Connect(ctx, loopbackEnv(t, 8<<10))
			require.NoError(t, err)

			exerciseLink(t, ctx, link, 4, 100<<10)
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+1 },
				10*time.Second, 10*time.Millisecond, "goroutines left: %d > %d", runtime.NumGoroutine(), before)
		})
	}
}

// exchange writes data on w in chunks and checks r delivers exactly it.
func exchange(w io.Writer, r io.Reader, data []byte, chunk int) error {
	werr := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += chunk {
			if _, err := w.Write(data[off:min(off+chunk, len(data))]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(r, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("stream delivered different bytes")
	}
	return nil
}

func payload(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func TestOpenPairHonoursContext(t *testing.T) {
	for _, c := range streamContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			link, err := c.Connect(context.Background(), loopbackEnv(t, 4096))
			require.NoError(t, err)
			defer link.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, _, err = link.OpenPair(ctx)
			require.ErrorIs(t, err, context.Canceled)
			// The link still works afterwards.
			c, s, err := link.OpenPair(context.Background())
			require.NoError(t, err)
			require.NoError(t, exchange(c, s, []byte("still paired"), 4))
		})
	}
}

func TestConnectFailsWhenNothingListens(t *testing.T) {
	for _, c := range []harness.Contender{Yamux(), Smux()} {
		t.Run(c.Name(), func(t *testing.T) {
			env := loopbackEnv(t, 4096)
			env.Dial = func(context.Context) (net.Conn, error) { return nil, fmt.Errorf("no route") }
			_, err := c.Connect(context.Background(), env)
			require.ErrorContains(t, err, "no route")
			_, err = env.Listener.Accept()
			require.ErrorIs(t, err, net.ErrClosed, "a failed Connect closes the listener it owned")
		})
	}
}

func TestSessionContenders(t *testing.T) {
	for _, c := range Default().Sessions {
		t.Run(c.Name(), func(t *testing.T) {
			before := runtime.NumGoroutine()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			srv, err := c.ServeSessions(ln)
			require.NoError(t, err)
			dial := func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}
			const n = 5
			var sessions []io.Closer
			for range n {
				s, err := c.DialSession(context.Background(), dial)
				require.NoError(t, err)
				sessions = append(sessions, s)
			}
			require.Eventually(t, func() bool { return srv.Established() == n }, 10*time.Second, 5*time.Millisecond)
			for _, s := range sessions[:2] {
				require.NoError(t, s.Close())
			}
			require.Eventually(t, func() bool { return srv.Established() == n-2 }, 10*time.Second, 5*time.Millisecond,
				"a session the client closed is no longer counted")
			require.NoError(t, srv.Close())
			require.Zero(t, srv.Established())
			for _, s := range sessions[2:] {
				_ = s.Close()
			}
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+1 },
				10*time.Second, 10*time.Millisecond, "goroutines left: %d > %d", runtime.NumGoroutine(), before)
		})
	}
}

func TestCodecsRoundTrip(t *testing.T) {
	json := harness.JSONLines(200<<10, 3)
	random := harness.RandomBytes(64<<10, 3)
	for _, c := range Codecs() {
		t.Run(c.Name(), func(t *testing.T) {
			for _, in := range [][]byte{json, random, {}, []byte("x")} {
				packed, err := c.Compress([]byte("prefix"), in)
				require.NoError(t, err)
				require.Equal(t, "prefix", string(packed[:6]), "Compress appends")
				out, err := c.Decompress([]byte("head"), packed[6:])
				require.NoError(t, err)
				require.Equal(t, "head", string(out[:4]), "Decompress appends")
				require.True(t, bytes.Equal(in, out[4:]), "round trip of %d bytes", len(in))
			}
			packed, err := c.Compress(nil, json)
			require.NoError(t, err)
			if c.Name() != CodecBaseline {
				require.Less(t, len(packed), len(json)/3, "JSON lines compress well")
				_, err := c.Decompress(nil, []byte("definitely not compressed data"))
				require.Error(t, err, "garbage must not decompress")
			}
		})
	}
}

func TestDefaultAndRegistration(t *testing.T) {
	d := Default()
	require.Equal(t, StreamBaseline, d.Baseline)
	require.Equal(t, SessionBaseline, d.SessionBaseline)
	require.Equal(t, CodecBaseline, d.CodecBaseline)
	names := map[string]bool{}
	for _, c := range d.Streams {
		require.False(t, names[c.Name()], "duplicate %s", c.Name())
		names[c.Name()] = true
		require.NotEmpty(t, c.Description())
	}
	require.True(t, names["tcp"] && names["websocket"] && names["yamux"] && names["smux"])

	saved := registered
	defer func() { registered = saved }()
	RegisterStream(TCP())
	RegisterSession(TCPSessions())
	RegisterCodec(Codecs()[1])
	d2 := Default()
	require.Len(t, d2.Streams, len(d.Streams)+1)
	require.Len(t, d2.Sessions, len(d.Sessions)+1)
	require.Len(t, d2.Codecs, len(d.Codecs)+1)
}
