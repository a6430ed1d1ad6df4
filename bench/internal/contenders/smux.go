package contenders

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/xtaci/smux"

	"github.com/streamd/streamd/bench/internal/harness"
)

// Smux returns the xtaci/smux contender: one TCP connection, one smux
// session per end, default configuration.
func Smux() harness.Contender {
	return harness.NewMuxContender("smux",
		"xtaci/smux v1.5.58 over one TCP connection, default config (protocol v1, 4 MiB session buffer)",
		connectSmux)
}

func connectSmux(ctx context.Context, env harness.Env) (harness.Mux, harness.Mux, error) {
	cc, sc, err := connPair(ctx, env.Listener, env.Dial)
	if err != nil {
		return nil, nil, err
	}
	client, err := smux.Client(cc, smux.DefaultConfig())
	if err != nil {
		_, _ = cc.Close(), sc.Close()
		return nil, nil, fmt.Errorf("smux client: %w", err)
	}
	server, err := smux.Server(sc, smux.DefaultConfig())
	if err != nil {
		_, _ = client.Close(), sc.Close()
		return nil, nil, fmt.Errorf("smux server: %w", err)
	}
	return smuxMux{client}, smuxMux{server}, nil
}

type smuxMux struct{ s *smux.Session }

func (m smuxMux) Open(context.Context) (io.ReadWriteCloser, error) { return m.s.OpenStream() }

// Accept honours ctx through the session's accept deadline, the only
// cancellation smux offers.
func (m smuxMux) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	stop := context.AfterFunc(ctx, func() { _ = m.s.SetDeadline(time.Now()) })
	defer stop()
	st, err := m.s.AcceptStream()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	return st, nil
}

func (m smuxMux) Close() error { return m.s.Close() }

// SmuxSessions returns the xtaci/smux session contender: an idle session is
// a smux server session on an accepted TCP connection with a goroutine
// blocked in AcceptStream.
func SmuxSessions() harness.SessionContender { return smuxSessions{} }

type smuxSessions struct{}

func (smuxSessions) Name() string { return "smux" }
func (smuxSessions) Description() string {
	return "xtaci/smux server session (default config) with one goroutine blocked in AcceptStream"
}

func (smuxSessions) ServeSessions(ln net.Listener) (harness.SessionServer, error) {
	return serveMuxSessions(ln, func(c net.Conn) (muxServerSession, error) {
		s, err := smux.Server(c, smux.DefaultConfig())
		if err != nil {
			return nil, err
		}
		return smuxServerSession{s}, nil
	}), nil
}

func (smuxSessions) DialSession(ctx context.Context, dial func(context.Context) (net.Conn, error)) (io.Closer, error) {
	c, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	s, err := smux.Client(c, smux.DefaultConfig())
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return s, nil
}

type smuxServerSession struct{ s *smux.Session }

func (x smuxServerSession) accept() error { _, err := x.s.AcceptStream(); return err }
func (x smuxServerSession) Close() error  { return x.s.Close() }
