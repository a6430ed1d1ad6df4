package contenders

import "github.com/streamd/streamd/bench/internal/harness"

// Baseline names of the contenders ratios are computed against by default.
const (
	// StreamBaseline is raw TCP, the ceiling for every stream scenario.
	StreamBaseline = "tcp"
	// SessionBaseline is raw WebSocket, the cheapest idle browser session.
	SessionBaseline = "websocket"
	// CodecBaseline is no compression at all.
	CodecBaseline = "none"
)

var registered harness.Contenders

// RegisterStream adds c to the stream contenders Default returns. Call it
// from init().
func RegisterStream(c harness.Contender) { registered.Streams = append(registered.Streams, c) }

// RegisterSession adds c to the session contenders Default returns. Call it
// from init().
func RegisterSession(c harness.SessionContender) {
	registered.Sessions = append(registered.Sessions, c)
}

// RegisterCodec adds c to the codecs Default returns. Call it from init().
func RegisterCodec(c harness.Codec) { registered.Codecs = append(registered.Codecs, c) }

// Default returns every contender of this build: the built-in baselines
// followed by the registered ones, with the default baselines.
func Default() harness.Contenders {
	c := harness.Contenders{
		Streams:         []harness.Contender{TCP(), WebSocket(), Yamux(), Smux()},
		Baseline:        StreamBaseline,
		Sessions:        []harness.SessionContender{TCPSessions(), WebSocketSessions(), YamuxSessions(), SmuxSessions()},
		SessionBaseline: SessionBaseline,
		Codecs:          Codecs(),
		CodecBaseline:   CodecBaseline,
	}
	c.Streams = append(c.Streams, registered.Streams...)
	c.Sessions = append(c.Sessions, registered.Sessions...)
	c.Codecs = append(c.Codecs, registered.Codecs...)
	return c
}
