package webtransport_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/webtransport"
)

// deadlockGuard bounds every wait in these tests. It is not a timing assertion: it only turns
// a hang into a failure.
const deadlockGuard = 15 * time.Second

// checkGoroutines fails the test if, once its cleanups have run, more goroutines are alive
// than when it started. Register it before anything that starts goroutines.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(deadlockGuard)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// upgraded is what the test server's handler got from Upgrade.
type upgraded struct {
	conn transport.Conn
	err  error
}

// server is a webtransport.Server on loopback whose handler at /wt upgrades and reports each
// result, then holds the request until the Conn fails (as a real handler does).
type server struct {
	*webtransport.Server
	url     string
	results chan upgraded
}

func newServer(t *testing.T, cfg *webtransport.Config) *server {
	t.Helper()
	ws, err := webtransport.NewServer(cfg)
	require.NoError(t, err)
	s := &server{Server: ws, results: make(chan upgraded, 4)}
	ws.Handle("/wt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Upgrade(w, r)
		s.results <- upgraded{c, err}
	}))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- ws.Serve(pc) }()
	t.Cleanup(func() {
		require.NoError(t, ws.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		pc.Close()
	})
	s.url = fmt.Sprintf("https://127.0.0.1:%d/wt", pc.LocalAddr().(*net.UDPAddr).Port)
	return s
}

// pinned returns cfg (nil allowed) with the server's certificate hashes pinned.
func (s *server) pinned(cfg *webtransport.Config) *webtransport.Config {
	var c webtransport.Config
	if cfg != nil {
		c = *cfg
	}
	c.CertHashes = s.CertHashes()
	return &c
}

func (s *server) next(t *testing.T) upgraded {
	t.Helper()
	select {
	case u := <-s.results:
		if u.conn != nil {
			t.Cleanup(func() { u.conn.Close() })
		}
		return u
	case <-time.After(deadlockGuard):
		t.Fatal("no request reached the server")
		return upgraded{}
	}
}

func dial(t *testing.T, url string, header http.Header, cfg *webtransport.Config) (transport.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadlockGuard)
	defer cancel()
	c, resp, err := webtransport.Dial(ctx, url, header, cfg)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// pair connects a client and a server Conn with the same cfg on both sides.
func pair(t *testing.T, cfg *webtransport.Config) (client, server transport.Conn) {
	t.Helper()
	srv := newServer(t, cfg)
	client, _, err := dial(t, srv.url, nil, srv.pinned(cfg))
	require.NoError(t, err)
	u := srv.next(t)
	require.NoError(t, u.err)
	return client, u.conn
}

// payload returns a deterministic message of size bytes for message number id, such that a
// reordered, truncated or corrupted message is detected.
func payload(id, size int) []byte {
	b := make([]byte, size)
	var word [8]byte
	for off := 0; off < len(b); off += 8 {
		binary.LittleEndian.PutUint64(word[:], uint64(id)<<40|uint64(off))
		copy(b[off:], word[:])
	}
	return b
}

func requirePayload(t *testing.T, got []byte, id, size int) {
	t.Helper()
	require.Equal(t, size, len(got), "message %d: size", id)
	if want := payload(id, size); string(got) != string(want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("message %d (%d bytes): first difference at byte %d", id, size, i)
			}
		}
	}
}

// async runs fn in a goroutine; wait returns its error, failing the test on a hang.
type async struct {
	done chan struct{}
	err  error
}

func goAsync(fn func() error) *async {
	a := &async{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = fn()
	}()
	return a
}

func (a *async) wait(t *testing.T, what string) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(deadlockGuard):
		t.Fatalf("%s: still blocked after %v", what, deadlockGuard)
		return nil
	}
}

// progress counts operations done by a goroutine so a test can wait until it stalls.
type progress struct {
	mu sync.Mutex
	n  int
}

func (p *progress) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *progress) load() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// waitStalled returns once p has not moved for a while (the goroutine is blocked), or once
// done is closed. It waits for a state, it asserts nothing about time.
func (p *progress) waitStalled(t *testing.T, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	last, since := p.load(), time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if n := p.load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 200*time.Millisecond {
			return
		}
	}
	t.Fatal(errors.New("writer never stalled"))
}
