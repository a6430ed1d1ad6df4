package contenders

import (
	"context"
	"fmt"

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
	server, err := newStreamdServerMux(cloneConfig(cfg))
	if err != nil {
		return nil, nil, err
	}
	wts, err := server.srv.NewWebTransportServer(streamdWTPath, cloneWTConfig(wtc))
	if err != nil {
		return nil, nil, err
	}
	pc, err := env.ListenPacket()
	if err != nil {
		_ = wts.Close()
		return nil, nil, fmt.Errorf("listen udp: %w", err)
	}
	server.stop = func() error {
		err := wts.Close() // ends the QUIC connections and Serve
		_ = pc.Close()
		return err
	}
	go func() {
		defer close(server.serveDone)
		_ = wts.Serve(pc)
	}()

	dialWT := cloneWTConfig(wtc)
	dialWT.CertHashes = wts.CertHashes()
	url := fmt.Sprintf("https://%s%s", pc.LocalAddr(), streamdWTPath)
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
