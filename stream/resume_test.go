package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// resumeSize is the transfer size of the cut tests: 64 MiB in the default run
// (-race on 2 cores); the soak build tag raises it to the 256 MiB.
var resumeSize = 64 << 20

// resumeWindow is the fixed stream window of the cut tests, so that the
// bound "bytes re-sent per cut ≤ one window + one frame" is exact.
const resumeWindow = 256 << 10

// cutDialer connects clients to srv over in-memory pipes; the i-th connection
// is cut after cuts[i] bytes (both directions counted), later ones are not.
type cutDialer struct {
	srv       *Server
	principal string
	cuts      []int64
	n         atomic.Int64
}

func (d *cutDialer) dial(ctx context.Context) (transport.Conn, error) {
	c, s := transport.Pipe(0)
	go d.srv.ServeConn(s, d.principal) //nolint:errcheck // observed through the client
	i := d.n.Add(1) - 1
	if i < int64(len(d.cuts)) && d.cuts[i] > 0 {
		return transport.WithFaults(c, transport.FaultConfig{CutAfterBytes: d.cuts[i]}), nil
	}
	return c, nil
}

// randomCuts returns n cut sizes that spread n cuts over a transfer of
// total bytes: each connection carries a random 40–95 % of total/n bytes, so
// all n cuts happen before the transfer ends.
func randomCuts(r *rand.Rand, n int, total int64) []int64 {
	cuts := make([]int64, n)
	per := total / int64(n)
	for i := range cuts {
		cuts[i] = per*40/100 + r.Int64N(per*55/100)
	}
	return cuts
}

func resumeConfig() *Config {
	return &Config{Compression: []string{"none"}, StreamWindow: resumeWindow, FixedWindow: true, Logger: quietLog()}
}

// resumeHarness is a server and a reconnecting client whose connections are cut.
type resumeHarness struct {
	srv    *Server
	dialer *cutDialer
	client *ReconnectingClient
}

// noLeaks fails t if goroutines started during the test outlive it.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { waitGoroutines(t, before) })
}

func newResumeHarness(t *testing.T, mux *Mux, cuts []int64) *resumeHarness {
	t.Helper()
	noLeaks(t)
	h := &resumeHarness{}
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	h.srv = srv
	h.dialer = &cutDialer{srv: srv, cuts: cuts}
	h.client, err = NewReconnectingClient(ReconnectConfig{
		Dial:    h.dialer.dial,
		Options: &DialOptions{Config: resumeConfig()},
		Sleep:   func(ctx context.Context, d time.Duration) error { return ctx.Err() }, // no waiting in tests
	})
	require.NoError(t, err)
	require.NoError(t, h.client.Connect(t.Context()))
	t.Cleanup(func() {
		h.client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test teardown
	})
	return h
}

// serverStats returns the stats of the server side of the session.
func (h *resumeHarness) serverStats() Stats {
	sessions := h.srv.snapshot()
	if len(sessions) != 1 {
		panic(fmt.Sprintf("%d server sessions", len(sessions)))
	}
	return sessions[0].Stats()
}

// checkResent asserts the number of resumes and, per cut and direction, that
// the bytes sent a second time (on the transport after the cut: the peer had
// not received them) are at most one window + one frame.
func (h *resumeHarness) checkResent(t *testing.T, cuts int) {
	t.Helper()
	const bound = resumeWindow + DefaultMaxFrame
	cs := h.client.Session().Stats()
	require.EqualValues(t, cuts, cs.Resumes, "one resume per cut")
	var total int64
	for _, side := range []struct {
		name  string
		stats Stats
	}{{"client", cs}, {"server", h.serverStats()}} {
		require.LessOrEqual(t, side.stats.MaxResentPerResume, int64(bound), "%s re-sent after one cut: one window + one frame at most", side.name)
		total += side.stats.Resent
		t.Logf("%s: re-sent %d bytes over %d cuts, at most %d after one cut (bound %d)",
			side.name, side.stats.Resent, cuts, side.stats.MaxResentPerResume, bound)
	}
	require.Positive(t, total)
}

func TestResumeUploadSurvivesCuts(t *testing.T) {
	data := randomData(resumeSize, 11)
	want := sha256.Sum256(data)
	sums := make(chan [32]byte, 1)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	const cuts = 20
	h := newResumeHarness(t, mux, randomCuts(rand.New(rand.NewPCG(1, 2)), cuts, int64(len(data))))
	sess := h.client.Session()
	st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
	require.NoError(t, err)
	_, err = io.Copy(st, bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, want, <-sums)
	require.Same(t, sess, h.client.Session(), "resumed, not replaced")
	h.checkResent(t, cuts)
	require.EqualValues(t, cuts, sess.Stats().Resumes)
}

func TestResumeDownloadSurvivesCuts(t *testing.T) {
	data := randomData(resumeSize, 12)
	want := sha256.Sum256(data)
	mux := NewMux()
	mux.Handle("down", Download, func(ctx context.Context, st *Stream) error {
		_, err := io.Copy(st, bytes.NewReader(data))
		return err
	})
	const cuts = 20
	h := newResumeHarness(t, mux, randomCuts(rand.New(rand.NewPCG(3, 4)), cuts, int64(len(data))))
	st, err := h.client.Session().Open(t.Context(), OpenOptions{Route: "down", Kind: Download, Checksum: true})
	require.NoError(t, err)
	n, sum, err := hashingSink(st)
	require.NoError(t, err)
	require.EqualValues(t, len(data), n)
	require.Equal(t, want, sum)
	require.NoError(t, st.Close())
	h.checkResent(t, cuts)
}

func TestResumeBidiSurvivesCuts(t *testing.T) {
	data := randomData(resumeSize/2, 13)
	want := sha256.Sum256(data)
	mux := NewMux()
	mux.Handle("echo", Bidi, func(ctx context.Context, st *Stream) error {
		_, err := io.Copy(st, st)
		return err
	})
	const cuts = 20
	h := newResumeHarness(t, mux, randomCuts(rand.New(rand.NewPCG(5, 6)), cuts, 2*int64(len(data))))
	st, err := h.client.Session().Open(t.Context(), OpenOptions{Route: "echo", Kind: Bidi, Checksum: true})
	require.NoError(t, err)
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(st, bytes.NewReader(data))
		if err == nil {
			err = st.CloseWrite()
		}
		werr <- err
	}()
	n, sum, err := hashingSink(st)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	require.EqualValues(t, len(data), n)
	require.Equal(t, want, sum)
	require.NoError(t, st.Close())
	h.checkResent(t, cuts)
}

// TestResumeLiveStreamWithinReplayBuffer: a live stream whose replay buffer
// holds a window loses and duplicates nothing through cuts.
func TestResumeLiveStreamWithinReplayBuffer(t *testing.T) {
	data := randomData(8<<20, 21)
	sums := make(chan [32]byte, 1)
	mux := NewMux()
	mux.Handle("live", Upload, sinkHandler(sums))
	const cuts = 10
	h := newResumeHarness(t, mux, randomCuts(rand.New(rand.NewPCG(7, 8)), cuts, int64(len(data))))
	st, err := h.client.Session().Open(t.Context(), OpenOptions{Route: "live", Kind: Upload, Checksum: true})
	require.NoError(t, err)
	st.SetReplayBuffer(resumeWindow)
	for off := 0; off < len(data); off += 4096 { // a live source: small writes
		_, err := st.Write(data[off : off+4096])
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	require.Equal(t, sha256.Sum256(data), <-sums)
	h.checkResent(t, cuts)
}

// errCut cuts a connection from a fault hook.
var errCut = fmt.Errorf("%w: test cut", transport.ErrClosed)

// TestResumeLiveStreamGap: a cut that loses more than a live stream's replay
// buffer holds ends the stream on both sides with the same GapError; the
// receiver first gets every byte before the gap.
func TestResumeLiveStreamGap(t *testing.T) {
	noLeaks(t)
	const replay = 64 << 10
	got := make(chan []byte, 1)
	readErr := make(chan error, 1)
	mux := NewMux()
	mux.Handle("live", Upload, func(ctx context.Context, st *Stream) error {
		b, err := io.ReadAll(st)
		got <- b
		readErr <- err
		return err
	})
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown

	// Once armed, the server's transport drops the next data message and is cut.
	var armed atomic.Bool
	dial := func(ctx context.Context) (transport.Conn, error) {
		c, s := transport.Pipe(0)
		s = transport.WithFaults(s, transport.FaultConfig{OnMessage: func(d transport.Direction, _ int64, size int) error {
			if d == transport.Inbound && size > 1024 && armed.CompareAndSwap(true, false) {
				return errCut
			}
			return nil
		}})
		go srv.ServeConn(s, "") //nolint:errcheck // observed through the client
		return c, nil
	}
	client, err := NewReconnectingClient(ReconnectConfig{Dial: dial, Options: &DialOptions{Config: resumeConfig()},
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	require.NoError(t, err)
	require.NoError(t, client.Connect(t.Context()))
	defer client.Close()
	st, err := client.Session().Open(t.Context(), OpenOptions{Route: "live", Kind: Upload})
	require.NoError(t, err)
	st.SetReplayBuffer(replay)

	data := randomData(1<<20, 22)
	_, err = st.Write(data[:300<<10])
	require.NoError(t, err)
	waitFor(t, func() bool { return st.Progress().Sent == 300<<10 })
	armed.Store(true)
	_, err = st.Write(data[300<<10 : 556<<10]) // a burst the link loses
	require.NoError(t, err)

	b := <-got
	err = <-readErr
	var ge *GapError
	require.ErrorAs(t, err, &ge)
	require.ErrorIs(t, err, ErrGap)
	require.GreaterOrEqual(t, len(b), 300<<10-resumeWindow, "what arrived before the cut")
	require.True(t, bytes.Equal(data[:len(b)], b), "the bytes before the gap are intact, none twice")
	require.EqualValues(t, len(b), ge.Offset, "the gap starts where the receiver stopped")
	<-st.Done()
	var sge *GapError
	require.ErrorAs(t, st.Err(), &sge)
	require.Equal(t, *ge, *sge, "both sides report the same gap")
	// The sender kept the last `replay` bytes it had sent: the gap is the rest.
	require.EqualValues(t, st.Progress().Sent-replay, ge.Offset+ge.Size)
	require.Positive(t, ge.Size)
}

// TestResumeRejections: a random token, a token of another principal and an
// expired token are refused with a typed RESUME_REJECTED error.
func TestResumeRejections(t *testing.T) {
	noLeaks(t)
	srv, err := NewServer(NewMux(), &ServerConfig{Session: resumeConfig(), Logger: quietLog(), ResumeTTL: time.Hour})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown

	connect := func(srv *Server, principal string) *Session {
		c, s := transport.Pipe(0)
		go srv.ServeConn(s, principal) //nolint:errcheck // observed through the client
		sess, err := clientHandshake(t.Context(), c, resumeConfig(), "", true)
		require.NoError(t, err)
		require.True(t, sess.Resumable())
		require.GreaterOrEqual(t, len(sess.ResumeToken()), 22, "128 random bits, base64url")
		t.Cleanup(func() { sess.Close() })
		return sess
	}
	// resumeAs loses sess's transport (if it has one) and resumes as principal.
	resumeAs := func(srv *Server, sess *Session, principal string) error {
		if a := sess.current(); a != nil {
			a.conn.Close()
		}
		waitFor(t, func() bool { return sess.current() == nil })
		c, s := transport.Pipe(0)
		go srv.ServeConn(s, principal) //nolint:errcheck // observed through the client
		return sess.resumeClient(t.Context(), c, "")
	}

	alice := connect(srv, "alice")
	err = resumeAs(srv, alice, "mallory")
	require.ErrorIs(t, err, ErrResumeRejected)
	var ce *ConnError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, CodeResumeRejected, ce.Code)
	require.Contains(t, ce.Reason, "another principal")
	require.NoError(t, resumeAs(srv, alice, "alice"), "the owner still resumes after the foreign attempt")
	require.NoError(t, alice.Emit("still-alive", nil))

	// A guessed token.
	bob := connect(srv, "bob")
	bob.rs.token = randomID(resumeTokenBytes)
	err = resumeAs(srv, bob, "bob")
	require.ErrorIs(t, err, ErrResumeRejected)
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Reason, "unknown or expired")

	// An expired one: a server with a short TTL ends the parked session.
	short, err := NewServer(NewMux(), &ServerConfig{Session: resumeConfig(), Logger: quietLog(), ResumeTTL: 10 * time.Millisecond})
	require.NoError(t, err)
	defer short.Shutdown(context.Background()) //nolint:errcheck // teardown
	carol := connect(short, "")
	carol.current().conn.Close()
	waitFor(t, func() bool { return short.NumSessions() == 0 })
	err = resumeAs(short, carol, "")
	require.ErrorIs(t, err, ErrResumeRejected)
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Reason, "unknown or expired")
}

// relay forwards messages between a and b until either fails; cut closes
// only a's side, so b's owner sees a half-open connection (no EOF).
type relay struct{ a, b transport.Conn }

func newRelay(a, b transport.Conn) *relay {
	r := &relay{a, b}
	go r.pump(a, b)
	go r.pump(b, a)
	return r
}

func (r *relay) pump(from, to transport.Conn) {
	for {
		m, err := from.ReadMessage()
		if err != nil {
			return
		}
		if to.WriteMessage(m) != nil {
			return
		}
	}
}

// TestResumeTakesOverHalfOpenTransport resumes while the server still holds
// the old transport (it has not noticed the cut): the new one replaces it.
func TestResumeTakesOverHalfOpenTransport(t *testing.T) {
	noLeaks(t)
	sums := make(chan [32]byte, 1)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
	require.NoError(t, err)
	defer srv.Shutdown(context.Background()) //nolint:errcheck // teardown
	c, mid1 := transport.Pipe(0)
	mid2, s := transport.Pipe(0)
	newRelay(mid1, mid2)
	defer mid2.Close()
	go srv.ServeConn(s, "") //nolint:errcheck // observed through the client
	sess, err := clientHandshake(t.Context(), c, resumeConfig(), "", true)
	require.NoError(t, err)
	defer sess.Close()
	st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
	require.NoError(t, err)
	data := randomData(1<<20, 31)
	_, err = st.Write(data[:512<<10])
	require.NoError(t, err)
	waitFor(t, func() bool { return st.Progress().Sent == 512<<10 })

	c.Close() // the client's side of the relay dies; the server's side stays open
	waitFor(t, func() bool { return sess.current() == nil })
	srvSess := srv.snapshot()[0]
	require.NotNil(t, srvSess.current(), "the server has not noticed")
	c2, s2 := transport.Pipe(0)
	go srv.ServeConn(s2, "") //nolint:errcheck // observed through the client
	require.NoError(t, sess.resumeClient(t.Context(), c2, ""))
	_, err = st.Write(data[512<<10:])
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, sha256.Sum256(data), <-sums)
	require.Equal(t, 1, srv.NumSessions())
}

// TestResumeRejectedFailsStreamsAndReconnects: after a server restart the
// client cannot resume; its streams fail with ErrResumeRejected and a new
// session is connected (OnConnect, not OnReconnect).
func TestResumeRejectedFailsStreamsAndReconnects(t *testing.T) {
	noLeaks(t)
	mux := NewMux()
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.Copy(io.Discard, st)
		return err
	})
	newServer := func() *Server {
		srv, err := NewServer(mux, &ServerConfig{Session: resumeConfig(), Logger: quietLog()})
		require.NoError(t, err)
		t.Cleanup(func() { srv.Shutdown(context.Background()) }) //nolint:errcheck // teardown
		return srv
	}
	var current atomic.Pointer[Server]
	current.Store(newServer())
	var conns sync.Map // server-side ends, to kill the "process"
	dial := func(ctx context.Context) (transport.Conn, error) {
		c, s := transport.Pipe(0)
		conns.Store(s, true)
		go current.Load().ServeConn(s, "") //nolint:errcheck // observed through the client
		return c, nil
	}
	var connects, reconnects atomic.Int32
	var states []ConnState
	var statesMu sync.Mutex
	client, err := NewReconnectingClient(ReconnectConfig{Dial: dial, Options: &DialOptions{Config: resumeConfig()},
		Sleep:       func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		OnConnect:   func(*Session) { connects.Add(1) },
		OnReconnect: func(*Session) { reconnects.Add(1) },
		OnStateChange: func(_, to ConnState) {
			statesMu.Lock()
			states = append(states, to)
			statesMu.Unlock()
		},
	})
	require.NoError(t, err)
	require.NoError(t, client.Connect(t.Context()))
	defer client.Close()
	first := client.Session()
	st, err := first.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload})
	require.NoError(t, err)

	// "kill -9": a new server takes the address; the old one's connections drop.
	current.Store(newServer())
	conns.Range(func(k, _ any) bool { k.(transport.Conn).Close(); return true })
	<-st.Done()
	require.ErrorIs(t, st.Err(), ErrResumeRejected)
	sess, err := client.Ready(t.Context())
	require.NoError(t, err)
	require.NotSame(t, first, sess)
	require.EqualValues(t, 2, connects.Load())
	require.Zero(t, reconnects.Load())
	statesMu.Lock()
	require.Equal(t, []ConnState{ConnConnecting, ConnOpen, ConnReconnecting, ConnOpen}, states)
	statesMu.Unlock()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
