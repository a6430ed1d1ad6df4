package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

func TestBackoffPolicy(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Multiplier: 3, Max: 2 * time.Second}
	require.NoError(t, b.Validate())
	want := []time.Duration{100, 300, 900, 2000, 2000}
	for n, w := range want {
		require.Equal(t, w*time.Millisecond, b.Ceiling(n), "ceiling of retry %d", n)
		require.Equal(t, w*time.Millisecond/4, b.Delay(n, 0.25), "full jitter: r × ceiling")
		require.Zero(t, b.Delay(n, 0))
	}
	require.Equal(t, 2*time.Second, b.Ceiling(10_000), "no overflow")

	var zero Backoff
	require.NoError(t, zero.Validate())
	require.Equal(t, DefaultBackoffInitial, zero.Ceiling(0))
	require.Equal(t, DefaultBackoffMax, zero.Ceiling(100))

	for _, bad := range []Backoff{
		{Initial: -1}, {Multiplier: 0.5}, {Initial: time.Second, Max: time.Millisecond}, {MaxAttempts: -1},
	} {
		require.ErrorIs(t, bad.Validate(), ErrInvalidArgument, "%+v", bad)
	}
}

// fakeClock records the waits of a ReconnectingClient instead of sleeping,
// and feeds it a fixed sequence of random numbers.
type fakeClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
	rands  []float64
	next   int
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Rand() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rands[c.next%len(c.rands)]
	c.next++
	return r
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// flakyDialer connects to srv over pipes, failing while down is set.
type flakyDialer struct {
	srv     *Server
	down    atomic.Bool
	calls   atomic.Int32
	mu      sync.Mutex
	clients []transport.Conn
}

var errRefused = errors.New("connection refused (test)")

func (d *flakyDialer) dial(ctx context.Context) (transport.Conn, error) {
	d.calls.Add(1)
	if d.down.Load() {
		return nil, errRefused
	}
	c, s := transport.Pipe(0)
	go d.srv.ServeConn(s, "") //nolint:errcheck // observed through the client
	d.mu.Lock()
	d.clients = append(d.clients, c)
	d.mu.Unlock()
	return c, nil
}

// cut closes the client side of every connection (a pulled cable).
func (d *flakyDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		c.Close()
	}
	d.clients = nil
}

// stateLog records state changes and hook calls in order.
type stateLog struct {
	mu     sync.Mutex
	events []string
}

func (l *stateLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *stateLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *stateLog) hooks(cfg *ReconnectConfig) {
	cfg.OnStateChange = func(from, to ConnState) { l.add(from.String() + "→" + to.String()) }
	cfg.OnConnect = func(*Session) { l.add("OnConnect") }
	cfg.OnReconnect = func(*Session) { l.add("OnReconnect") }
	cfg.OnDisconnect = func(err error) {
		if err == nil {
			l.add("OnDisconnect(graceful)")
		} else {
			l.add("OnDisconnect(lost)")
		}
	}
}

func TestReconnectFirstConnectGivesUpAfterMaxAttempts(t *testing.T) {
	noLeaks(t)
	srv, err := NewServer(NewMux(), &ServerConfig{Logger: quietLog()})
	require.NoError(t, err)
	d := &flakyDialer{srv: srv}
	d.down.Store(true)
	clock := &fakeClock{rands: []float64{0.5, 0.25, 0.75, 1}}
	var log stateLog
	cfg := ReconnectConfig{Dial: d.dial, Sleep: clock.Sleep, Rand: clock.Rand,
		Backoff: Backoff{Initial: time.Second, Multiplier: 2, Max: 5 * time.Second, MaxAttempts: 5}}
	log.hooks(&cfg)
	c, err := NewReconnectingClient(cfg)
	require.NoError(t, err)
	err = c.Connect(t.Context())
	require.ErrorIs(t, err, ErrReconnectFailed)
	require.ErrorIs(t, err, errRefused, "the last attempt's error is kept")
	require.EqualValues(t, 5, d.calls.Load())
	// The first attempt goes at once; retry n waits r × min(5 s, 1 s × 2^n).
	require.Equal(t, []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 3 * time.Second, 5 * time.Second}, clock.waits())
	require.Equal(t, ConnFailed, c.State())
	require.ErrorIs(t, c.Err(), ErrReconnectFailed)
	require.Equal(t, []string{"closed→connecting", "connecting→failed"}, log.get())
	_, err = c.Ready(t.Context())
	require.ErrorIs(t, err, ErrReconnectFailed)
	require.NoError(t, c.Close())
}

// TestReconnectBadURLFailsAtOnce: an argument that can never work (a bad URL,
// found when dialing) is not retried.
func TestReconnectBadURLFailsAtOnce(t *testing.T) {
	noLeaks(t)
	clock := &fakeClock{}
	var calls atomic.Int64
	dial := func(ctx context.Context) (transport.Conn, error) {
		calls.Add(1)
		return nil, fmt.Errorf("%w: no such scheme", ErrInvalidArgument)
	}
	c, err := NewReconnectingClient(ReconnectConfig{Dial: dial, Sleep: clock.Sleep, Backoff: Backoff{MaxAttempts: 20}})
	require.NoError(t, err)
	err = c.Connect(t.Context())
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.EqualValues(t, 1, calls.Load())
	require.Empty(t, clock.waits(), "no backoff for a bad URL")
	require.NoError(t, c.Close())
}

func TestReconnectResumesAfterOutageFollowingPolicy(t *testing.T) {
	noLeaks(t)
	sums := make(chan [32]byte, 2)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown
	d := &flakyDialer{srv: srv}
	clock := &fakeClock{rands: []float64{0.1, 0.2, 0.3, 0.4, 0.5}}
	var log stateLog
	// The dialer recovers after 3 refused attempts.
	var refusals atomic.Int32
	dial := func(ctx context.Context) (transport.Conn, error) {
		if d.down.Load() && refusals.Add(1) > 3 {
			d.down.Store(false)
		}
		return d.dial(ctx)
	}
	cfg := ReconnectConfig{Dial: dial, Sleep: clock.Sleep, Rand: clock.Rand, Options: &DialOptions{Config: resumeConfig()},
		Backoff: Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second}}
	log.hooks(&cfg)
	c, err := NewReconnectingClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect(t.Context()))
	defer c.Close()
	sess := c.Session()
	st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
	require.NoError(t, err)
	data := randomData(2<<20, 41)
	_, err = st.Write(data[:1<<20])
	require.NoError(t, err)

	d.down.Store(true)
	d.cut()
	// A stream opened during the outage is opened after the resume.
	opened := make(chan error, 1)
	go func() {
		st2, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
		if err == nil {
			_, err = st2.Write([]byte("opened while cut"))
		}
		if err == nil {
			err = st2.Close()
		}
		opened <- err
	}()
	// Writes during the outage wait (the send buffer fills, then Write blocks)
	// and go on after the resume.
	_, err = st.Write(data[1<<20:])
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, <-opened)
	require.ElementsMatch(t, [][32]byte{sha256.Sum256(data), sha256.Sum256([]byte("opened while cut"))}, [][32]byte{<-sums, <-sums})
	require.Same(t, sess, c.Session())
	// After a loss even the first attempt waits: r × 100 ms × 2^n, n = 0…3.
	require.Equal(t, []time.Duration{10 * time.Millisecond, 40 * time.Millisecond, 120 * time.Millisecond, 320 * time.Millisecond}, clock.waits())
	require.Equal(t, []string{
		"closed→connecting", "connecting→open", "OnConnect",
		"OnDisconnect(lost)", "open→reconnecting", "reconnecting→open", "OnReconnect",
	}, log.get())
	require.NoError(t, c.Close())
	require.Equal(t, ConnClosed, c.State())
	require.Equal(t, []string{"open→closing", "OnDisconnect(graceful)", "closing→closed"}, log.get()[7:])
	// The close was graceful: the server did not park the session.
	waitFor(t, func() bool { return srv.NumSessions() == 0 })
}

func TestReconnectGivesUpAndFailsStreams(t *testing.T) {
	noLeaks(t)
	mux := NewMux()
	mux.Handle("down", Download, func(ctx context.Context, st *Stream) error {
		_, err := io.Copy(st, bytes.NewReader(make([]byte, 8<<20)))
		return err
	})
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown
	d := &flakyDialer{srv: srv}
	clock := &fakeClock{rands: []float64{1}}
	var log stateLog
	cfg := ReconnectConfig{Dial: d.dial, Sleep: clock.Sleep, Rand: clock.Rand, Options: &DialOptions{Config: resumeConfig()},
		Backoff: Backoff{Initial: time.Millisecond, MaxAttempts: 3}}
	log.hooks(&cfg)
	c, err := NewReconnectingClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect(t.Context()))
	defer c.Close()
	st, err := c.Session().Open(t.Context(), OpenOptions{Route: "down", Kind: Download})
	require.NoError(t, err)
	_, err = io.ReadFull(st, make([]byte, 1<<20))
	require.NoError(t, err)
	d.down.Store(true)
	d.cut()
	n, err := io.Copy(io.Discard, st)
	require.ErrorIs(t, err, ErrReconnectFailed, "reads fail once the client gives up (read %d more bytes; %v)", n, log.get())
	require.ErrorIs(t, c.Err(), ErrReconnectFailed)
	require.Equal(t, []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}, clock.waits())
	require.Equal(t, []string{
		"closed→connecting", "connecting→open", "OnConnect",
		"OnDisconnect(lost)", "open→reconnecting", "reconnecting→failed",
	}, log.get())
}

func TestReconnectServerClosesGracefully(t *testing.T) {
	noLeaks(t)
	srv, err := NewServer(NewMux(), &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown
	d := &flakyDialer{srv: srv}
	clock := &fakeClock{rands: []float64{0.5}}
	var log stateLog
	cfg := ReconnectConfig{Dial: d.dial, Sleep: clock.Sleep, Rand: clock.Rand, Options: &DialOptions{Config: resumeConfig()}}
	log.hooks(&cfg)
	c, err := NewReconnectingClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect(t.Context()))
	defer c.Close()
	waitFor(t, func() bool { return srv.NumSessions() == 1 })
	srv.snapshot()[0].Close() // the server ends the session normally: no reconnect
	waitFor(t, func() bool { return c.State() == ConnClosed })
	require.EqualValues(t, 1, d.calls.Load())
	require.Empty(t, clock.waits())
	require.Equal(t, []string{"closed→connecting", "connecting→open", "OnConnect", "OnDisconnect(graceful)", "open→closed"}, log.get())
	_, err = c.Ready(t.Context())
	require.ErrorIs(t, err, ErrSessionClosed)
}

func TestReconnectConfigErrors(t *testing.T) {
	_, err := NewReconnectingClient(ReconnectConfig{URL: "http://x"})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewReconnectingClient(ReconnectConfig{URL: "ws://x", Backoff: Backoff{Multiplier: 0.1}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	c, err := NewReconnectingClient(ReconnectConfig{URL: "ws://127.0.0.1:1/x"})
	require.NoError(t, err)
	require.NoError(t, c.Close(), "closing an unconnected client")
	require.ErrorIs(t, c.Connect(t.Context()), ErrInvalidArgument, "no Connect after Close")
}

// TestReconnectLearnsOfGracefulCloseWhileParked: the server closes a parked
// session on purpose; the client, resuming, is told so (not RESUME_REJECTED)
// and ends gracefully instead of starting a new session.
func TestReconnectLearnsOfGracefulCloseWhileParked(t *testing.T) {
	noLeaks(t)
	srv, err := NewServer(NewMux(), &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown
	d := &flakyDialer{srv: srv}
	clock := &fakeClock{rands: []float64{0.5}}
	var log stateLog
	cfg := ReconnectConfig{Dial: d.dial, Sleep: clock.Sleep, Rand: clock.Rand, Options: &DialOptions{Config: resumeConfig()}}
	log.hooks(&cfg)
	parked := make(chan struct{})
	cfg.Sleep = func(ctx context.Context, dur time.Duration) error {
		<-parked // reconnect only once the server has closed the session
		return clock.Sleep(ctx, dur)
	}
	c, err := NewReconnectingClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect(t.Context()))
	defer c.Close()
	waitFor(t, func() bool { return srv.NumSessions() == 1 })
	ss := srv.snapshot()[0]
	d.cut()
	waitFor(t, func() bool { return ss.current() == nil }) // parked on the server
	ss.Close()                                             // closed on purpose meanwhile
	close(parked)
	waitFor(t, func() bool { return c.State() == ConnClosed })
	require.EqualValues(t, 2, d.calls.Load(), "one resume attempt, no new session")
	var ce *ConnError
	require.ErrorAs(t, c.Session().Err(), &ce)
	require.Equal(t, CodeNoError, ce.Code)
	require.Equal(t, []string{"closed→connecting", "connecting→open", "OnConnect",
		"OnDisconnect(lost)", "open→reconnecting", "reconnecting→closed"}, log.get())
}
