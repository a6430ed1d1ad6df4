package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Env is what a contender gets to set up one link between a client end and a
// server end. The scenario decides the network path: plain loopback, or a
// link emulator between Dial and Listener.
type Env struct {
	// Listener is where the server end accepts connections. The Link takes
	// ownership of it and must close it in Close. A contender that does not
	// use the network (an in-memory pipe) must still close it.
	Listener net.Listener
	// Dial opens a connection from the client end to Listener.
	Dial func(ctx context.Context) (net.Conn, error)
	// MessageSize is the size of the writes the scenario will make on the
	// streams; message-oriented contenders size their buffers to it.
	MessageSize int

	// ListenPacket opens a UDP socket for the server end, on the same path
	// as Listener; nil when the path carries no UDP (the TCP link proxy of
	// longfat). The caller closes the socket.
	ListenPacket func() (net.PacketConn, error)
	// ClientPacket opens a UDP socket for the client end from which the
	// address of a ListenPacket socket is reachable; nil with ListenPacket.
	ClientPacket func() (net.PacketConn, error)
	// InClient runs fn so that the sockets fn opens itself (on its own
	// goroutine) are on the client end's network, for dialers that make
	// their own sockets (webtransport.Dial); nil means the client shares the
	// process's network. Call it through RunInClient.
	InClient func(fn func() error) error
}

// RunInClient runs fn with InClient, or directly when InClient is nil.
func (e Env) RunInClient(fn func() error) error {
	if e.InClient == nil {
		return fn()
	}
	return e.InClient(fn)
}

// HasPackets reports whether the path carries UDP (ListenPacket and
// ClientPacket are set).
func (e Env) HasPackets() bool { return e.ListenPacket != nil && e.ClientPacket != nil }

// Contender is one implementation under test that carries byte streams.
type Contender interface {
	// Name is the short label used in tables, charts and JSON ("yamux").
	Name() string
	// Description says in one line what the contender is and how it is set
	// up ("hashicorp/yamux v0.1.2 over one TCP connection, default config").
	Description() string
	// Connect establishes one link (a session, or a connection factory for
	// contenders without multiplexing) between a client and a server end.
	Connect(ctx context.Context, env Env) (Link, error)
}

// PacketContender is implemented by a Contender whose links run over UDP
// (QUIC): it uses Env.ListenPacket and Env.ClientPacket (or Env.InClient), and
// may close Env.Listener at once. Scenarios whose path carries no UDP leave
// it out, with a note.
type PacketContender interface {
	Contender
	// OverUDP is a marker; it returns true.
	OverUDP() bool
}

// overUDP reports whether c runs over UDP.
func overUDP(c Contender) bool {
	p, ok := c.(PacketContender)
	return ok && p.OverUDP()
}

// tcpOnly drops the contenders that run over UDP and returns the names of
// those it dropped.
func tcpOnly(cs []Contender, infos []ContenderInfo) ([]Contender, []ContenderInfo, []string) {
	var keptC []Contender
	var keptI []ContenderInfo
	var dropped []string
	for i, c := range cs {
		if overUDP(c) {
			dropped = append(dropped, c.Name())
			continue
		}
		keptC, keptI = append(keptC, c), append(keptI, infos[i])
	}
	return keptC, keptI, dropped
}

// Link is one established client/server pair of a contender.
type Link interface {
	// OpenPair opens one stream and returns its client end and its server
	// end. Bytes written to one end are read, in order, from the other. A
	// multiplexer opens a stream on its one connection; raw TCP or WebSocket
	// opens a new connection per stream (the isolation bound).
	OpenPair(ctx context.Context) (client, server io.ReadWriteCloser, err error)
	// Close tears the link down, unblocks every pending Read and Write on its
	// streams, and returns after the link's goroutines have exited. It may
	// be called more than once and concurrently with stream I/O.
	Close() error
}

// Mux is one end of a multiplexed session whose streams are
// io.ReadWriteClosers; NewMuxContender turns a pair of them into a Contender.
type Mux interface {
	// Open opens a new stream to the peer.
	Open(ctx context.Context) (io.ReadWriteCloser, error)
	// Accept waits for the next stream the peer opened.
	Accept(ctx context.Context) (io.ReadWriteCloser, error)
	// Close closes the session and all its streams.
	Close() error
}

// MuxConnectFunc establishes a multiplexed session over env: the client end
// dials with env.Dial, the server end accepts on env.Listener (or both ignore
// the network and use memory). It must not close env.Listener; the Link
// built around the returned pair does.
type MuxConnectFunc func(ctx context.Context, env Env) (client, server Mux, err error)

// NewMuxContender returns a Contender whose links are one session made by
// connect, and whose OpenPair opens a stream on the client end and accepts
// it on the server end.
func NewMuxContender(name, description string, connect MuxConnectFunc) Contender {
	return &muxContender{name: name, description: description, connect: connect}
}

type muxContender struct {
	name, description string
	connect           MuxConnectFunc
}

func (m *muxContender) Name() string        { return m.name }
func (m *muxContender) Description() string { return m.description }

func (m *muxContender) Connect(ctx context.Context, env Env) (Link, error) {
	client, server, err := m.connect(ctx, env)
	if err != nil {
		_ = env.Listener.Close()
		return nil, err
	}
	return &muxLink{client: client, server: server, ln: env.Listener}, nil
}

// ErrLinkBroken is returned by OpenPair after an earlier OpenPair failed
// half-way: a stream may have been opened but not accepted, so the ends of
// later streams could no longer be paired.
var ErrLinkBroken = errors.New("bench: link unusable after a failed OpenPair")

// muxLink pairs streams by serialising OpenPair: with one Open outstanding,
// the next Accept returns that stream.
type muxLink struct {
	client, server Mux
	ln             net.Listener

	mu        sync.Mutex // serialises OpenPair
	broken    error      // set when an OpenPair failed after Open succeeded
	closeOnce sync.Once
	closeErr  error
}

func (l *muxLink) OpenPair(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return nil, nil, l.broken
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("open stream: %w", err)
	}
	type accepted struct {
		s   io.ReadWriteCloser
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	acc := make(chan accepted, 1)
	go func() {
		s, err := l.server.Accept(ctx)
		acc <- accepted{s, err}
	}()
	c, err := l.client.Open(ctx)
	if err != nil {
		cancel()
		a := <-acc // Accept honours ctx; if it still got a stream, drop it
		if a.s != nil {
			_ = a.s.Close()
		}
		return nil, nil, fmt.Errorf("open stream: %w", err)
	}
	var a accepted
	select {
	case a = <-acc:
	case <-ctx.Done():
		cancel()
		if a = <-acc; a.s != nil {
			_ = a.s.Close()
		}
		a.err = ctx.Err()
	}
	if a.err != nil {
		_ = c.Close()
		l.broken = fmt.Errorf("%w: %w", ErrLinkBroken, a.err)
		return nil, nil, fmt.Errorf("accept stream: %w", a.err)
	}
	return c, a.s, nil
}

func (l *muxLink) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = errors.Join(l.client.Close(), l.server.Close(), ignoreClosed(l.ln.Close()))
	})
	return l.closeErr
}

// ignoreClosed drops the error of closing something already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// SessionContender is a contender whose idle sessions the "sessions"
// scenario counts: server-side memory per idle session and handshakes per
// second. The dialing side runs in a child process (see RunChild), so the
// contender must also be registered there under the same Name.
type SessionContender interface {
	// Name is the short label used in tables and JSON; it also selects the
	// contender in the child process.
	Name() string
	// Description says in one line what an idle session is made of.
	Description() string
	// ServeSessions accepts connections on ln, completes the server side of
	// the handshake and keeps each session open and idle (waiting for
	// streams or messages) until it closes or the server is closed.
	ServeSessions(ln net.Listener) (SessionServer, error)
	// DialSession opens one client session over a connection from dial and
	// returns once the client side of the handshake is complete.
	DialSession(ctx context.Context, dial func(ctx context.Context) (net.Conn, error)) (io.Closer, error)
}

// SessionServer is the server side of a SessionContender.
type SessionServer interface {
	// Established is the number of sessions currently open.
	Established() int
	// Close closes the listener and every session and returns after the
	// server's goroutines have exited.
	Close() error
}

// Codec is a compression algorithm at one setting, applied per message the
// way a session compresses frames.
type Codec interface {
	// Name is the label in tables and JSON ("zstd-3").
	Name() string
	// Compress appends the compressed form of src to dst.
	Compress(dst, src []byte) ([]byte, error)
	// Decompress appends the decompressed form of src to dst.
	Decompress(dst, src []byte) ([]byte, error)
}

// Contenders is everything a run can measure. Baseline names the contender
// that ratios are computed against in the stream scenarios; SessionBaseline
// and CodecBaseline do the same for sessions and compression.
type Contenders struct {
	// Streams are the contenders of the throughput, concurrency,
	// head-of-line and long-fat-link scenarios.
	Streams []Contender
	// Baseline is the Name of the stream contender ratios are relative to.
	Baseline string
	// Sessions are the contenders of the sessions scenario.
	Sessions []SessionContender
	// SessionBaseline is the Name of the session contender ratios are relative to.
	SessionBaseline string
	// Codecs are the contenders of the compression scenario.
	Codecs []Codec
	// CodecBaseline is the Name of the codec ratios are relative to.
	CodecBaseline string
}
