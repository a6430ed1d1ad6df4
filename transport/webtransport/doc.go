// Package webtransport implements transport.Conn over WebTransport (HTTP/3 over QUIC) with
// quic-go/webtransport-go: Dial for clients, Server for servers.
//
// # Wire format (version 1)
//
// A WebTransport session carries one streamd session on ONE bidirectional QUIC stream that
// the client opens right after the CONNECT request succeeds. Messages on it are delimited as
// in docs/PROTOCOL.md §2.2: a big-endian u32 length, then that many bytes. A length of 0 is a
// protocol error (transport.ErrProtocol); a length above Config.MaxMessageSize is refused
// from the header alone, before any allocation (transport.ErrMessageTooLarge). Other streams
// and datagrams are not used by version 1.
//
// # Closing
//
// Close ends the data stream with a FIN after everything written so far, so the peer reads
// every message whose WriteMessage returned and then transport.ErrPeerClosed. The closing
// side lingers, draining and discarding what the peer still sends, until the peer's FIN (one
// round trip when the peer reads) or Config.CloseTimeout, then closes the WebTransport
// session. A side that reads the peer's FIN closes the session at once. Failures (a message
// too large, a framing error, a write timeout) close the session immediately with an error
// code, which the peer reports as transport.ErrPeerClosed wrapping the cause (for example
// transport.ErrMessageTooLarge). The client's QUIC connection ends with its session; the
// server's ends when the client closes it or after Config.IdleTimeout.
//
// # Certificates
//
// Servers use Config.TLSConfig's certificates in production. Without them the Server
// generates a development certificate: ECDSA P-256, valid for less than 14 days, rotated
// before it expires, whose SHA-256 is published (Server.CertInfo, Server.CertHashHandler) so
// that browsers can pass it as serverCertificateHashes and Go clients can pin it with
// Config.CertHashes.
//
// # Concurrency contract
//
// As transport.Conn: one goroutine reads, one writes, Close from anywhere, any number of
// times. Close unblocks a pending ReadMessage and WriteMessage (through stream deadlines) and
// returns at once; the linger described above runs on one goroutine of the Conn that ends
// within CloseTimeout (or when the Server is closed). A Server is safe for concurrent use;
// Close ends every session and returns once every handler has returned.
//
// # Buffers
//
// ReadMessage reads through a 64 KiB buffered reader into one message buffer owned by the
// Conn, grown up to Config.MaxMessageSize and reused: steady-state reads do not allocate.
// WriteMessage copies the length prefix and the parts into one write buffer (256 KiB) and
// hands it to QUIC in as few Write calls as possible: quic-go's Write blocks until its data
// is packetized, so a separate 4-byte Write per length prefix would cost a hand-off (and
// often a packet) per message.
package webtransport
