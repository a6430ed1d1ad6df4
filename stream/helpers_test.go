package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// testEnv is one server and a way to dial it over one transport.
type testEnv struct {
	t      *testing.T
	name   string
	mux    *Mux
	server *Server
	dial   func(cfg *Config) (*Session, error)
}

// transportCase builds a testEnv for a server config over one transport.
type transportCase struct {
	name  string
	build func(t *testing.T, mux *Mux, scfg *ServerConfig) *testEnv
}

// transports lists every transport the session suite runs over. New transports
// (WebTransport) add one entry here.
var transports = []transportCase{
	{"pipe", pipeEnv},
	{"websocket", websocketEnv},
	{"webtransport", webtransportEnv},
	{"webtransport-native", webtransportNativeEnv},
}

func pipeEnv(t *testing.T, mux *Mux, scfg *ServerConfig) *testEnv {
	srv, err := NewServer(mux, scfg)
	require.NoError(t, err)
	env := &testEnv{t: t, name: "pipe", mux: mux, server: srv}
	env.dial = func(cfg *Config) (*Session, error) {
		c, s := transport.Pipe(0)
		go srv.ServeConn(s, "") //nolint:errcheck // the test observes the client side
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return Client(ctx, c, cfg, "")
	}
	return env
}

func websocketEnv(t *testing.T, mux *Mux, scfg *ServerConfig) *testEnv {
	srv, err := NewServer(mux, scfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	env := &testEnv{t: t, name: "websocket", mux: mux, server: srv}
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	env.dial = func(cfg *Config) (*Session, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return Dial(ctx, url, &DialOptions{Config: cfg})
	}
	return env
}

// forEachTransport runs fn as a subtest over every transport, with a fresh
// server whose mux setup registers handlers.
func forEachTransport(t *testing.T, scfg *ServerConfig, setup func(*Mux), fn func(t *testing.T, env *testEnv)) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			mux := NewMux()
			if setup != nil {
				setup(mux)
			}
			env := tc.build(t, mux, scfg)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				env.server.Shutdown(ctx) //nolint:errcheck // best effort in cleanup
			})
			fn(t, env)
		})
	}
}

func (env *testEnv) mustDial(cfg *Config) *Session {
	s, err := env.dial(cfg)
	require.NoError(env.t, err)
	env.t.Cleanup(func() { s.Close() })
	return s
}

// patternData returns n bytes that compress moderately (log-like text with
// random numbers), deterministic for a seed.
func patternData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.Grow(n + 128)
	for b.Len() < n {
		b.WriteString(`{"ts":`)
		b.WriteString(itoa(r.Uint64() % 1e12))
		b.WriteString(`,"level":"info","msg":"request served","bytes":`)
		b.WriteString(itoa(r.Uint64() % 1e6))
		b.WriteString("}\n")
	}
	return b.Bytes()[:n]
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func itoa(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// hashingSink reads a stream to EOF and returns its length and SHA-256.
func hashingSink(r io.Reader) (int64, [32]byte, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 48<<10))
	var sum [32]byte
	h.Sum(sum[:0])
	return n, sum, err
}

// waitGoroutines waits until the goroutine count drops to at most want.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines remain, want ≤ %d:\n%s", n, want, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawPeer speaks the wire protocol by hand, to send what a correct peer never would.
type rawPeer struct {
	t    *testing.T
	conn transport.Conn
	lim  wire.Limits
	buf  [][]byte // frames received but not yet taken
}

// newRawClient connects a raw client to srv over a pipe and completes the handshake.
func newRawClient(t *testing.T, srv *Server, hello map[string]any) (*rawPeer, map[string]any) {
	c, s := transport.Pipe(0)
	go srv.ServeConn(s, "") //nolint:errcheck // observed through the raw peer
	p := &rawPeer{t: t, conn: c, lim: wire.Limits{MaxFrame: 64 << 10}}
	t.Cleanup(func() { c.Close() })
	if hello == nil {
		hello = map[string]any{"versions": []int{1}, "compression": []string{"zstd", "gzip"}, "maxFrame": 65536, "maxMessage": 1 << 20}
	}
	b, err := json.Marshal(hello)
	require.NoError(t, err)
	p.send(wire.Hello{JSON: b}.Append(nil))
	h, payload := p.next()
	require.Equal(t, wire.TypeWelcome, h.Type)
	var w map[string]any
	require.NoError(t, json.Unmarshal(payload, &w))
	return p, w
}

func (p *rawPeer) send(frames ...[]byte) {
	p.t.Helper()
	require.NoError(p.t, p.conn.WriteMessage(frames...))
}

// next returns the next frame, skipping PINGs.
func (p *rawPeer) next() (wire.Header, []byte) {
	p.t.Helper()
	for {
		if len(p.buf) == 0 {
			msg, err := p.conn.ReadMessage()
			require.NoError(p.t, err)
			for len(msg) > 0 {
				_, _, n, err := wire.ParseFrame(msg, p.lim)
				require.NoError(p.t, err)
				p.buf = append(p.buf, append([]byte(nil), msg[:n]...))
				msg = msg[n:]
			}
		}
		f := p.buf[0]
		p.buf = p.buf[1:]
		h, payload, _, err := wire.ParseFrame(f, p.lim)
		require.NoError(p.t, err)
		if h.Type == wire.TypePing {
			continue
		}
		return h, payload
	}
}

// expect returns the next frame of type want, skipping others.
func (p *rawPeer) expect(want wire.FrameType) (wire.Header, []byte) {
	p.t.Helper()
	for {
		h, payload := p.next()
		if h.Type == want {
			return h, payload
		}
	}
}

func numGoroutines() int { return runtime.NumGoroutine() }

func transportPipe() (transport.Conn, transport.Conn) { return transport.Pipe(0) }
