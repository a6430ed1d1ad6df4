package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// ErrReconnectFailed is matched by the error of a ReconnectingClient that gave
// up after Backoff.MaxAttempts failed attempts in a row (state ConnFailed).
var ErrReconnectFailed = errors.New("stream: reconnect attempts exhausted")

// ReconnectConfig configures a ReconnectingClient.
type ReconnectConfig struct {
	// URL is the server's URL (ws:// or wss:// for WebSocket, https:// for
	// WebTransport, as Dial takes); required unless Dial is set.
	URL string
	// Dial, if set, opens the transport instead of a WebSocket to URL (e.g. a
	// WebTransport stream, or a wrapped connection in tests).
	Dial func(ctx context.Context) (transport.Conn, error)
	// Options are the session Config, bearer Token and transport settings,
	// as for Dial (nil: defaults).
	Options *DialOptions
	// Backoff is the retry policy of connects and reconnects.
	Backoff Backoff
	// OnStateChange is called on every state change, in order, from one
	// goroutine at a time.
	OnStateChange func(from, to ConnState)
	// OnConnect is called when a new session is established: the first, and
	// each one that replaces a session the server could not resume (its
	// streams failed with an error matching ErrResumeRejected or ErrGoAway).
	OnConnect func(*Session)
	// OnReconnect is called when the session was resumed on a new transport:
	// its streams go on where they stopped.
	OnReconnect func(*Session)
	// OnDisconnect is called when the transport goes away: err is nil for a
	// graceful close (Close, or the server closing the session normally) and
	// the cause for an unexpected loss (after which the client reconnects).
	OnDisconnect func(err error)
	// Sleep waits d or until ctx is done; tests inject a fake clock. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns uniform random numbers in [0, 1) for the jitter. Default math/rand/v2.
	Rand func() float64
	// Logger receives structured logs. Default: the session Config's, or slog.Default().
	Logger *slog.Logger
}

// ReconnectingClient keeps a client session alive across transport losses:
// it dials, asks the server for a resumable session, and after a cut dials
// again with backoff and resumes the session, so that streams opened through
// it survive (writes wait, reads continue where they stopped). If the server
// cannot resume (it restarted, or the resume TTL passed) it starts a new
// session and calls OnConnect; the old session's streams fail with a typed
// error, and applications resume at their level (stream/files resumes
// uploads by id).
//
// All methods are safe for concurrent use. Hooks run on the client's own
// goroutine, one at a time, and must not call Close.
type ReconnectingClient struct {
	cfg     ReconnectConfig
	scfg    *Config
	token   string
	backoff Backoff
	log     *slog.Logger

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	hookMu  sync.Mutex // hooks and state-change callbacks run one at a time
	done    chan struct{}
	started bool

	mu      sync.Mutex
	state   ConnState
	sess    *Session
	err     error         // why the client failed
	changed chan struct{} // closed and replaced on every state change
}

// NewReconnectingClient returns a client in state ConnClosed; call Connect.
func NewReconnectingClient(cfg ReconnectConfig) (*ReconnectingClient, error) {
	opts := cfg.Options
	if opts == nil {
		opts = &DialOptions{}
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dial == nil {
		if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") && !strings.HasPrefix(cfg.URL, "https://") {
			return nil, fmt.Errorf("%w: unsupported url scheme in %q (want ws://, wss:// or https://)", ErrInvalidArgument, cfg.URL)
		}
		url := cfg.URL
		cfg.Dial = func(ctx context.Context) (transport.Conn, error) { return DialTransport(ctx, url, opts) }
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	log := cfg.Logger
	if log == nil {
		log = opts.Config.withDefaults().Logger
	}
	c := &ReconnectingClient{
		cfg: cfg, scfg: opts.Config, token: opts.Token, backoff: cfg.Backoff.withDefaults(), log: log,
		done: make(chan struct{}), changed: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State returns the current state.
func (c *ReconnectingClient) State() ConnState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Session returns the current session (nil before the first connect). It
// stays the same across resumed reconnects and changes after OnConnect.
func (c *ReconnectingClient) Session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Err returns why the client failed (state ConnFailed), nil otherwise.
func (c *ReconnectingClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Ready waits until the client is open and returns its session. It returns
// an error once the client failed or was closed, or when ctx is done.
func (c *ReconnectingClient) Ready(ctx context.Context) (*Session, error) {
	for {
		c.mu.Lock()
		state, sess, err, changed, started := c.state, c.sess, c.err, c.changed, c.started
		c.mu.Unlock()
		switch state {
		case ConnOpen:
			return sess, nil
		case ConnFailed:
			return nil, err
		case ConnClosed, ConnClosing:
			if started {
				return nil, ErrSessionClosed
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// setState changes the state and calls OnStateChange (under hookMu, which
// the caller holds).
func (c *ReconnectingClient) setState(to ConnState, err error) {
	c.mu.Lock()
	from := c.state
	c.state = to
	if to == ConnFailed {
		c.err = err
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	if from != to && c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(from, to)
	}
}

// Connect establishes the first session, retrying with the backoff policy,
// then keeps it alive in the background until Close. It returns the error
// of the last attempt (matching ErrReconnectFailed) once MaxAttempts attempts
// failed, or a non-retryable error such as ErrUnauthorized or ErrInvalidArgument (a bad URL).
func (c *ReconnectingClient) Connect(ctx context.Context) error {
	c.hookMu.Lock()
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		c.hookMu.Unlock()
		return fmt.Errorf("%w: Connect called twice", ErrInvalidArgument)
	}
	c.started = true
	c.mu.Unlock()
	c.setState(ConnConnecting, nil)
	stop := context.AfterFunc(ctx, c.cancel) // ctx bounds the first connect only
	sess, err := c.connect(nil, false)
	stop()
	if err != nil {
		c.hookMu.Unlock()
		close(c.done)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	c.hookMu.Unlock()
	go c.supervise(sess)
	return nil
}

// connect runs attempts until one succeeds: it resumes old if resume is set
// (and the server agrees), else it starts a new session. With the state and
// hooks updated, it returns the session.
func (c *ReconnectingClient) connect(old *Session, resume bool) (*Session, error) {
	// The first connect tries at once; after a loss even the first attempt
	// waits a jittered Delay(0), so that the clients of a restarted server do
	// not all come back at the same instant.
	offset := -1
	if resume {
		offset = 0
	}
	var last error
	failures, skipWait := 0, false
	for {
		if c.backoff.MaxAttempts > 0 && failures >= c.backoff.MaxAttempts {
			err := &ConnError{Code: CodeTimeout, Reason: fmt.Sprintf("%d connection attempts failed", failures),
				Err: errors.Join(ErrReconnectFailed, last)}
			return nil, c.fail(old, err)
		}
		if n := failures + offset; n >= 0 && !skipWait {
			if err := c.cfg.Sleep(c.ctx, c.backoff.Delay(n, c.cfg.Rand())); err != nil {
				return nil, c.fail(old, ErrSessionClosed)
			}
		}
		skipWait = false
		if c.ctx.Err() != nil {
			return nil, c.fail(old, ErrSessionClosed)
		}
		sess, resumed, err := c.attempt(old, resume)
		if err == nil {
			c.setState(ConnOpen, nil)
			if resumed {
				c.log.Debug("session resumed", "session", sess.ID())
				if c.cfg.OnReconnect != nil {
					c.cfg.OnReconnect(sess)
				}
			} else {
				c.mu.Lock()
				c.sess = sess
				c.mu.Unlock()
				if c.cfg.OnConnect != nil {
					c.cfg.OnConnect(sess)
				}
			}
			return sess, nil
		}
		last = err
		if resume && isGracefulEnd(err) {
			// The server had closed the session on purpose; the final ERROR was
			// lost with the transport.
			old.shutdown(err, false)
			c.setState(ConnClosed, nil)
			return nil, err
		}
		if resume && (errors.Is(err, ErrResumeRejected) || errors.Is(err, ErrGoAway)) {
			old.shutdown(err, false)
			// The old session is gone: start a new one (at once unless the
			// server is going away).
			resume, skipWait = false, errors.Is(err, ErrResumeRejected)
			continue
		}
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrInvalidArgument) {
			return nil, c.fail(old, err) // retrying cannot fix a refused credential or a bad URL
		}
		failures++
		c.log.Debug("connect attempt failed", "failures", failures, "err", err)
	}
}

// attempt dials once and resumes old or starts a new session.
func (c *ReconnectingClient) attempt(old *Session, resume bool) (*Session, bool, error) {
	actx, cancel := context.WithTimeout(c.ctx, c.scfg.withDefaults().HandshakeTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(actx)
	if err != nil {
		return nil, false, err
	}
	if resume {
		if err := old.resumeClient(actx, conn, c.token); err != nil {
			if errors.Is(err, ErrResumeRejected) {
				old.shutdown(err, false) // its streams fail with the typed rejection
			}
			return nil, false, err
		}
		return old, true, nil
	}
	sess, err := clientHandshake(actx, conn, c.scfg, c.token, true)
	return sess, false, err
}

// fail ends the client with err (ConnFailed) unless it is being closed.
func (c *ReconnectingClient) fail(old *Session, err error) error {
	if c.ctx.Err() != nil {
		err = ErrSessionClosed
	} else {
		c.setState(ConnFailed, err) // before the streams fail: they may look at Err
	}
	if old != nil {
		old.shutdown(err, false)
	}
	return err
}

// supervise waits for the session's transport to go away and reconnects.
func (c *ReconnectingClient) supervise(sess *Session) {
	defer close(c.done)
	for {
		var lost <-chan error
		if sess.rs != nil {
			lost = sess.rs.lost
		}
		var err error
		resume := false
		select {
		case err = <-lost:
			resume = true
		case <-sess.Done():
			err = sess.Err()
		case <-c.ctx.Done():
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		graceful := !resume && isGracefulEnd(err)
		c.hookMu.Lock()
		if c.cfg.OnDisconnect != nil {
			if graceful {
				c.cfg.OnDisconnect(nil)
			} else {
				c.cfg.OnDisconnect(err)
			}
		}
		if graceful {
			c.setState(ConnClosed, nil)
			c.hookMu.Unlock()
			return
		}
		c.setState(ConnReconnecting, nil)
		next, cerr := c.connect(sess, resume)
		c.hookMu.Unlock()
		if cerr != nil {
			return
		}
		sess = next
	}
}

// isGracefulEnd reports whether a session ended by a normal close (by this
// side, or by the peer with NO_ERROR): nothing to reconnect for.
func isGracefulEnd(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce) && ce.Code == CodeNoError
}

// Close ends the client: the session is closed gracefully (the server is
// told, nothing is parked) and the background goroutine exits.
func (c *ReconnectingClient) Close() error {
	c.mu.Lock()
	started, sess := c.started, c.sess
	c.started = true // a later Connect fails
	c.mu.Unlock()
	c.cancel()
	if !started {
		return nil
	}
	<-c.done // the supervisor (or a failed Connect) has returned
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	if st := c.State(); st == ConnFailed || st == ConnClosed {
		if sess != nil {
			sess.Close()
		}
		return nil
	}
	c.setState(ConnClosing, nil)
	if sess != nil {
		sess.Close()
	}
	if c.cfg.OnDisconnect != nil {
		c.cfg.OnDisconnect(nil)
	}
	c.setState(ConnClosed, nil)
	return nil
}

// resumeClient re-attaches this client session to conn (docs/PROTOCOL.md §7).
// A rejection returns a *ConnError matching ErrResumeRejected.
func (s *Session) resumeClient(ctx context.Context, conn transport.Conn, token string) error {
	if s.rs == nil {
		conn.Close()
		return &ConnError{Code: CodeResumeRejected, Reason: "session is not resumable"}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, err := s.reattach(conn, func(mine *resumeInfo) (*resumeInfo, bool, error) {
		mine.Token = s.rs.token
		hello := s.rs.hello
		hello.Auth = token
		hello.Resume = mine
		hello.Lanes = s.cfg.offersLanes(conn) // the new transport may differ (WT → WS)
		b, err := json.Marshal(hello)
		if err != nil {
			return nil, false, err
		}
		if len(b) > wire.MaxHandshakeLen {
			return nil, false, &ConnError{Code: CodeResumeRejected,
				Reason: fmt.Sprintf("%d streams do not fit in one HELLO", len(mine.Streams))}
		}
		if err := conn.WriteMessage(wire.Hello{JSON: b}.Append(nil)); err != nil {
			return nil, false, &ConnError{Code: CodeInternal, Reason: "resume: send HELLO", Err: err}
		}
		payload, err := readHandshakeFrame(conn, wire.TypeWelcome, s.cfg.HandshakeTimeout)
		if err != nil {
			return nil, false, err
		}
		var w welcomeMsg
		if err := json.Unmarshal(payload, &w); err != nil {
			return nil, false, protoErr("resume: WELCOME: %v", err)
		}
		if w.Resumed == nil || w.Session != s.id {
			return nil, false, protoErr("resume: WELCOME does not resume session %s", s.id)
		}
		return w.Resumed, hello.Lanes && w.Lanes, nil
	})
	if err != nil {
		conn.Close()
		if ctx.Err() != nil && !errors.Is(err, ErrResumeRejected) {
			return ctx.Err()
		}
	}
	return err
}
