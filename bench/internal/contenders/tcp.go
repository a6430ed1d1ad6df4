package contenders

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/streamd/streamd/bench/internal/harness"
)

// TCP returns the raw TCP contender: every stream is its own loopback TCP
// connection (TCP_NODELAY, Go's defaults), the bound any multiplexer over
// one connection is measured against.
func TCP() harness.Contender { return tcpContender{} }

type tcpContender struct{}

func (tcpContender) Name() string { return "tcp" }
func (tcpContender) Description() string {
	return "raw TCP, one connection per stream (Go defaults, TCP_NODELAY)"
}

func (tcpContender) Connect(_ context.Context, env harness.Env) (harness.Link, error) {
	return &tcpLink{dial: env.Dial, acc: newAcceptor(env.Listener)}, nil
}

type tcpLink struct {
	dial func(context.Context) (net.Conn, error)
	acc  *acceptor
	mu   sync.Mutex // serialises OpenPair so dials and accepts pair up
	// broken is set when a dial succeeded but its accept did not arrive:
	// the late connection would pair with the next dial.
	broken error
}

func (l *tcpLink) OpenPair(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return nil, nil, l.broken
	}
	c, err := l.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	l.acc.track(c)
	s, err := l.acc.next(ctx)
	if err != nil {
		_ = c.Close()
		l.broken = fmt.Errorf("%w: %w", harness.ErrLinkBroken, err)
		return nil, nil, err
	}
	return c, s, nil
}

func (l *tcpLink) Close() error {
	l.acc.Close()
	return nil
}

// TCPSessions returns the raw TCP session contender: an idle session is an
// accepted connection with a goroutine blocked reading through a 4 KiB
// bufio.Reader.
func TCPSessions() harness.SessionContender { return tcpSessions{} }

type tcpSessions struct{}

func (tcpSessions) Name() string { return "tcp" }
func (tcpSessions) Description() string {
	return "raw TCP connection, one goroutine blocked in a 4 KiB bufio.Reader"
}

func (tcpSessions) ServeSessions(ln net.Listener) (harness.SessionServer, error) {
	s := &tcpSessionServer{ln: ln, tracker: newSessionTracker(), loopDone: make(chan struct{})}
	go s.acceptLoop()
	return s, nil
}

func (tcpSessions) DialSession(ctx context.Context, dial func(context.Context) (net.Conn, error)) (io.Closer, error) {
	return dial(ctx)
}

type tcpSessionServer struct {
	ln       net.Listener
	tracker  *sessionTracker
	loopDone chan struct{}
}

func (s *tcpSessionServer) acceptLoop() {
	defer close(s.loopDone)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.tracker.begin() {
			_ = c.Close()
			return
		}
		go func() {
			defer s.tracker.end()
			defer c.Close()
			if !s.tracker.add(c) {
				return
			}
			defer s.tracker.remove(c)
			r := bufio.NewReader(c)
			for {
				if _, err := r.ReadByte(); err != nil {
					return
				}
			}
		}()
	}
}

func (s *tcpSessionServer) Established() int { return s.tracker.Established() }

func (s *tcpSessionServer) Close() error {
	err := s.ln.Close()
	<-s.loopDone
	s.tracker.closeAll()
	return ignoreClosed(err)
}
