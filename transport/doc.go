// Package transport is streamd's lowest layer: a reliable, ordered, message-oriented pipe
// between two peers (Conn), with implementations over WebSocket (package
// transport/websocket) and in memory (Pipe), plus test tooling: a fault-injecting wrapper
// (WithFaults) and a TCP link emulator (LinkProxy) for loopback benchmarks.
//
// # Concurrency contract
//
// A Conn has at most one goroutine in ReadMessage and at most one in WriteMessage at a time
// (the session's reader and writer loops). Close may be called from any goroutine, any number
// of times; it unblocks a pending ReadMessage and WriteMessage, which then return an error
// matching ErrClosed. The slice returned by ReadMessage is owned by the Conn and valid only
// until the next ReadMessage; WriteMessage never retains its parts after it returns.
//
// # Errors
//
// The call that runs into a failure returns its cause: ErrPeerClosed when the peer closed
// (close frame, EOF, reset), ErrMessageTooLarge for a message above the limit in either
// direction, ErrProtocol for a framing violation, ErrWriteTimeout (a net.Error with Timeout()
// true) for a stuck write. Every failure shuts the Conn down, so it is never left half-alive,
// and every later call returns an error matching ErrClosed (ErrPeerClosed matches it too).
//
// # Limits
//
// Every Conn here has a message size limit (Pipe: its argument; WebSocket:
// Config.MaxMessageSize) and reports it through MaxMessageSize(c), so the session writer can
// cap how many frames it packs into one message. A variadic call through the interface
// allocates its argument slice: a writer that keeps its own [][]byte and passes parts...
// writes without allocating.
//
// # Closing
//
// Messages whose WriteMessage returned before Close are still delivered to the peer, as TCP
// delivers its send buffer after close (best effort: a socket closed with unread input is
// reset); the peer then reads ErrPeerClosed. Messages queued at the
// moment of a failure (an injected cut, a reset) are lost, as on a real link.
package transport
