package transport

import (
	"errors"
	"fmt"
	"net"
)

// Conn is a reliable, ordered, message-oriented pipe between two peers.
// Concurrency: at most one goroutine calls ReadMessage and at most one calls WriteMessage at a
// time; Close may be called from any goroutine any number of times and unblocks both.
type Conn interface {
	// ReadMessage blocks for the next message. The returned slice is owned by the Conn and is
	// valid only until the next call to ReadMessage.
	ReadMessage() ([]byte, error)
	// WriteMessage sends the concatenation of parts as ONE message (vectored, no join
	// required). The parts may be reused as soon as it returns.
	WriteMessage(parts ...[]byte) error
	// Close shuts the Conn down and unblocks ReadMessage and WriteMessage. It is idempotent.
	Close() error
	// LocalAddr returns the local network address.
	LocalAddr() net.Addr
	// RemoteAddr returns the peer's network address.
	RemoteAddr() net.Addr
}

// DefaultMaxMessageSize is the message size limit used when a limit is left zero: 1 MiB.
const DefaultMaxMessageSize = 1 << 20

var (
	// ErrClosed is returned by ReadMessage and WriteMessage once the Conn has shut down,
	// whichever side closed it.
	ErrClosed = errors.New("transport: connection closed")
	// ErrPeerClosed is returned when the peer closed the connection (close frame, EOF or
	// reset). It matches ErrClosed.
	ErrPeerClosed = fmt.Errorf("%w by peer", ErrClosed)
	// ErrMessageTooLarge is returned when a message exceeds the configured maximum, in either
	// direction; the Conn is shut down. On the sending side it arrives wrapped in
	// ErrPeerClosed when the peer rejected the message.
	ErrMessageTooLarge = errors.New("transport: message too large")
	// ErrProtocol is returned when the peer violates the transport's framing, for example
	// a text WebSocket message where binary is required; the Conn is shut down.
	ErrProtocol = errors.New("transport: protocol violation")
	// ErrWriteTimeout is returned when a write does not complete in time; the Conn is shut
	// down. It implements net.Error with Timeout() true.
	ErrWriteTimeout error = &timeoutError{msg: "transport: write timed out"}
	// ErrInjectedCut is returned by a Conn from WithFaults once a configured cut
	// (CutAfterBytes, CutAfterMessages) has happened; those errors match ErrClosed too.
	ErrInjectedCut = errors.New("transport: injected connection cut")
	// ErrInvalidConfig is returned (wrapped, with the field at fault) by the Validate methods.
	ErrInvalidConfig = errors.New("transport: invalid config")
)

// timeoutError is a net.Error that reports a timeout.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// Timeout reports true: the operation ran out of time.
func (e *timeoutError) Timeout() bool { return true }

// Temporary reports false: the Conn is shut down after a timeout.
func (e *timeoutError) Temporary() bool { return false }

// MaxMessageSize returns the largest message c accepts for writing, or 0 when c does not
// say. Every Conn of this module says, through an optional method MaxMessageSize() int; the
// session layer can use it to cap how many frames it packs into one message.
func MaxMessageSize(c Conn) int {
	if l, ok := c.(interface{ MaxMessageSize() int }); ok {
		return l.MaxMessageSize()
	}
	return 0
}

// MessageSize returns the total length of parts, the size of the message WriteMessage sends.
func MessageSize(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// TooLarge returns an error matching ErrMessageTooLarge that names the size and the limit.
func TooLarge(size, limit int64) error {
	return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, size, limit)
}
