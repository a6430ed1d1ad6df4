package contenders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrLinkClosed is returned by OpenPair on a closed link.
var ErrLinkClosed = errors.New("contenders: link closed")

// acceptor runs one accept loop on a listener and hands accepted
// connections out in order. It tracks every connection it accepted so
// Close can close them.
type acceptor struct {
	ln       net.Listener
	accepted chan net.Conn
	done     chan struct{}
	loopDone chan struct{}

	mu    sync.Mutex
	conns []net.Conn
}

func newAcceptor(ln net.Listener) *acceptor {
	a := &acceptor{ln: ln, accepted: make(chan net.Conn), done: make(chan struct{}), loopDone: make(chan struct{})}
	go a.loop()
	return a
}

func (a *acceptor) loop() {
	defer close(a.loopDone)
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.track(c)
		select {
		case a.accepted <- c:
		case <-a.done:
			return
		}
	}
}

// track remembers c so Close closes it.
func (a *acceptor) track(c net.Conn) {
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
}

// next returns the next accepted connection.
func (a *acceptor) next(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-a.accepted:
		return c, nil
	case <-a.done:
		return nil, ErrLinkClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	}
}

// Close stops the loop, closes the listener and every tracked connection.
func (a *acceptor) Close() {
	select {
	case <-a.done:
		return
	default:
	}
	close(a.done)
	_ = a.ln.Close()
	<-a.loopDone
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		_ = c.Close()
	}
}

// connPair dials once and accepts once, for contenders that run a session
// over one TCP connection. It never closes ln.
func connPair(ctx context.Context, ln net.Listener, dial func(context.Context) (net.Conn, error)) (client, server net.Conn, err error) {
	type result struct {
		c   net.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		acc <- result{c, err}
	}()
	client, err = dial(ctx)
	if err == nil {
		select {
		case r := <-acc:
			if r.err == nil {
				return client, r.c, nil
			}
			err = fmt.Errorf("accept: %w", r.err)
		case <-ctx.Done():
			err = fmt.Errorf("accept: %w", ctx.Err())
		}
		_ = client.Close()
	} else {
		err = fmt.Errorf("dial: %w", err)
	}
	// Unblock the pending Accept without closing the listener, and drop
	// whatever it may still have accepted.
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Now())
		if r := <-acc; r.c != nil {
			_ = r.c.Close()
		}
		_ = d.SetDeadline(time.Time{})
	}
	return nil, nil, err
}

// sessionTracker counts a session server's open sessions and waits for
// its per-session goroutines on Close.
type sessionTracker struct {
	mu     sync.Mutex
	open   map[io.Closer]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newSessionTracker() *sessionTracker {
	return &sessionTracker{open: make(map[io.Closer]struct{})}
}

// begin registers a goroutine that closeAll waits for; false means the
// server is closing and the goroutine must return at once. Pair with end.
func (t *sessionTracker) begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// end marks a goroutine registered with begin as finished.
func (t *sessionTracker) end() { t.wg.Done() }

// add counts an established session; false means the server is closing and
// the caller must close s itself.
func (t *sessionTracker) add(s io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.open[s] = struct{}{}
	return true
}

// remove uncounts a session added with add.
func (t *sessionTracker) remove(s io.Closer) {
	t.mu.Lock()
	delete(t.open, s)
	t.mu.Unlock()
}

// Established is the number of open sessions.
func (t *sessionTracker) Established() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}

// closeAll closes every session and waits for the registered goroutines.
func (t *sessionTracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	for s := range t.open {
		_ = s.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// ignoreClosed drops the error of closing something already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
