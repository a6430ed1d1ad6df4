package contenders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/transport/webtransport"
)

// StreamdWebTransport returns a streamd contender whose session runs over
// WebTransport (stream.Server.NewWebTransportServer and stream.Dial with
// TransportWebTransport) with session config cfg and WebTransport config wtc
// (nil: defaults; the client pins the server's development certificate in
// any case). Every stream is a bidirectional streamd stream. Variants of the
// session or the transport are one registration each.
func StreamdWebTransport(name, description string, cfg *stream.Config, wtc *webtransport.Config) harness.Contender {
	return udpContender{harness.NewMuxContender(name, description,
		func(ctx context.Context, env harness.Env) (harness.Mux, harness.Mux, error) {
			return connectStreamdWT(ctx, env, cfg, wtc)
		})}
}

// streamdWTPath is where the WebTransport server serves sessions.
const streamdWTPath = "/streamd"

func connectStreamdWT(ctx context.Context, env harness.Env, cfg *stream.Config, wtc *webtransport.Config) (harness.Mux, harness.Mux, error) {
	if !env.HasPackets() {
		return nil, nil, ErrNoPacketPath
	}
	server := &streamdWTServer{accepted: make(chan *stream.Stream), done: make(chan struct{}), serveDone: make(chan struct{})}
	mux := stream.NewMux()
	mux.Handle("bench", stream.Bidi, func(ctx context.Context, st *stream.Stream) error {
		if err := st.Accept(nil); err != nil {
			return err
		}
		select {
		case server.accepted <- st:
		case <-server.done:
			return nil
		case <-ctx.Done():
			return nil
		}
		<-st.Done() // the benchmark closes it
		return nil
	})
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Session: cloneConfig(cfg)})
	if err != nil {
		return nil, nil, err
	}
	server.srv = srv
	if server.wts, err = srv.NewWebTransportServer(streamdWTPath, cloneWTConfig(wtc)); err != nil {
		return nil, nil, err
	}
	if server.pc, err = env.ListenPacket(); err != nil {
		_ = server.wts.Close()
		return nil, nil, fmt.Errorf("listen udp: %w", err)
	}
	go func() {
		defer close(server.serveDone)
		_ = server.wts.Serve(server.pc)
	}()

	dialWT := cloneWTConfig(wtc)
	dialWT.CertHashes = server.wts.CertHashes()
	url := fmt.Sprintf("https://%s%s", server.pc.LocalAddr(), streamdWTPath)
	var sess *stream.Session
	// webtransport.Dial opens its own UDP socket: open it on the client's
	// network.
	err = env.RunInClient(func() (err error) {
		sess, err = stream.Dial(ctx, url, &stream.DialOptions{
			Config:       cloneConfig(cfg),
			Transport:    stream.TransportWebTransport,
			WebTransport: dialWT,
		})
		return err
	})
	if err != nil {
		_ = server.Close()
		return nil, nil, err
	}
	return streamdClientMux{sess}, server, nil
}

// cloneConfig gives each session its own copy of the shared config.
func cloneConfig(cfg *stream.Config) *stream.Config {
	if cfg == nil {
		return nil
	}
	c := *cfg
	return &c
}

func cloneWTConfig(wtc *webtransport.Config) *webtransport.Config {
	if wtc == nil {
		return &webtransport.Config{}
	}
	c := *wtc
	return &c
}

type streamdWTServer struct {
	srv       *stream.Server
	wts       *webtransport.Server
	pc        net.PacketConn
	accepted  chan *stream.Stream
	done      chan struct{}
	serveDone chan struct{}
	once      sync.Once
}

func (m *streamdWTServer) Open(context.Context) (io.ReadWriteCloser, error) {
	return nil, errors.New("streamd-wt contender: the server end does not open streams")
}

func (m *streamdWTServer) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	select {
	case st := <-m.accepted:
		return st, nil
	case <-m.done:
		return nil, ErrLinkClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *streamdWTServer) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = m.srv.Shutdown(ctx) // closes every session once its streams ended or the second passed
		err = m.wts.Close()     // ends the QUIC connections and Serve
		if m.pc != nil {
			<-m.serveDone
			_ = m.pc.Close()
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	})
	return err
}
