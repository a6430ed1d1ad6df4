// Package stream is streamd's session layer: many multiplexed streams, events
// and request/reply messages over one transport connection (docs/PROTOCOL.md).
//
// A client calls Dial (or Client over any transport.Conn) to get a *Session and
// Open to open streams by route. A Server, which is an http.Handler, accepts
// sessions and hands each stream the peer opens to the StreamHandler registered
// in its Mux for that route and kind.
//
// Streams are io.ReadWriteClosers with per-stream credit-based flow control:
// the receiver grants credit as its application reads, so a stream whose reader
// stops blocks only its own writer, and a connection-wide budget bounds the
// memory a peer can make a session buffer.
//
// # Resume
//
// A ReconnectingClient keeps a resumable session across transport losses
// (docs/RESUME.md): the server parks a session whose transport died for
// ServerConfig.ResumeTTL, both sides keep the bytes the peer has not
// acknowledged (ACK frames, at most about one window), and a new transport
// re-attaches after each side stated what it received. Streams survive: writes
// wait, reads continue where they stopped, nothing is delivered twice. What
// can no longer be sent ends the stream with a *GapError.
//
// # Concurrency
//
// Every exported method is safe for concurrent use, with one exception: a
// Stream supports one concurrent Read and one concurrent Write. Each session
// runs one reader goroutine (parses frames, never blocks on the application)
// and one writer goroutine (the only one that writes to the transport; it sends
// control frames first, then events/requests/replies, then stream data
// round-robin by priority). Stream handlers and request handlers each run on
// their own goroutine; events of a session are delivered in order on one
// goroutine. A session's reader and writer belong to its current transport
// (an attachment); a resumable session that lost its transport has none until
// it is resumed, and its application calls queue or block meanwhile.
// Session.Close returns after all of these have exited; stream handlers must
// return when their context is cancelled. A ReconnectingClient runs one
// goroutine of its own, which calls its hooks one at a time.
//
// Locks are ordered Session.resumeMu → Session.mu → Stream.mu → the writer
// queue lock, and the writer never holds its queue lock while it takes a
// stream's. Session.attMu (the current attachment) is taken alone.
package stream
