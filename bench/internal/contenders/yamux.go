package contenders

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/yamux"

	"github.com/streamd/streamd/bench/internal/harness"
)

// yamuxConfig is yamux's default configuration (256 KiB stream window,
// 30 s keep-alive) with its logger silenced.
func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	return cfg
}

// Yamux returns the hashicorp/yamux contender: one TCP connection, one
// yamux session per end, default configuration.
func Yamux() harness.Contender {
	return harness.NewMuxContender("yamux",
		"hashicorp/yamux v0.1.2 over one TCP connection, default config (256 KiB stream window)",
		connectYamux)
}

func connectYamux(ctx context.Context, env harness.Env) (harness.Mux, harness.Mux, error) {
	cc, sc, err := connPair(ctx, env.Listener, env.Dial)
	if err != nil {
		return nil, nil, err
	}
	client, err := yamux.Client(cc, yamuxConfig())
	if err != nil {
		_, _ = cc.Close(), sc.Close()
		return nil, nil, fmt.Errorf("yamux client: %w", err)
	}
	server, err := yamux.Server(sc, yamuxConfig())
	if err != nil {
		_, _ = client.Close(), sc.Close()
		return nil, nil, fmt.Errorf("yamux server: %w", err)
	}
	return yamuxMux{client}, yamuxMux{server}, nil
}

type yamuxMux struct{ s *yamux.Session }

func (m yamuxMux) Open(context.Context) (io.ReadWriteCloser, error) { return m.s.OpenStream() }

func (m yamuxMux) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	return m.s.AcceptStreamWithContext(ctx)
}

func (m yamuxMux) Close() error { return m.s.Close() }

// YamuxSessions returns the hashicorp/yamux session contender: an idle
// session is a yamux server session on an accepted TCP connection with a
// goroutine blocked in AcceptStream.
func YamuxSessions() harness.SessionContender { return yamuxSessions{} }

type yamuxSessions struct{}

func (yamuxSessions) Name() string { return "yamux" }
func (yamuxSessions) Description() string {
	return "hashicorp/yamux server session (default config) with one goroutine blocked in AcceptStream"
}

func (yamuxSessions) ServeSessions(ln net.Listener) (harness.SessionServer, error) {
	return serveMuxSessions(ln, func(c net.Conn) (muxServerSession, error) {
		s, err := yamux.Server(c, yamuxConfig())
		if err != nil {
			return nil, err
		}
		return yamuxServerSession{s}, nil
	}), nil
}

func (yamuxSessions) DialSession(ctx context.Context, dial func(context.Context) (net.Conn, error)) (io.Closer, error) {
	c, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	s, err := yamux.Client(c, yamuxConfig())
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return s, nil
}

type yamuxServerSession struct{ s *yamux.Session }

func (y yamuxServerSession) accept() error { _, err := y.s.AcceptStream(); return err }
func (y yamuxServerSession) Close() error  { return y.s.Close() }
