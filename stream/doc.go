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
// # Concurrency
//
// Every exported method is safe for concurrent use, with one exception: a
// Stream supports one concurrent Read and one concurrent Write. Each session
// runs one reader goroutine (parses frames, never blocks on the application)
// and one writer goroutine (the only one that writes to the transport; it sends
// control frames first, then events/requests/replies, then stream data
// round-robin by priority). Stream handlers and request handlers each run on
// their own goroutine; events of a session are delivered in order on one
// goroutine. Session.Close returns after all of these have exited; stream
// handlers must return when their context is cancelled.
//
// Locks are ordered Session.mu → Stream.mu → the writer queue lock, and the
// writer never holds its queue lock while it takes a stream's.
package stream
