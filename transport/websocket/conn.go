package websocket

import (
	"errors"
	"fmt"
	"github.com/streamd/streamd/transport/internal/bufpool"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/streamd/streamd/transport"
)

// initialReadBuffer is the first size of a Conn's read buffer, which then doubles up to
// Config.MaxMessageSize as messages require.
const initialReadBuffer = 64 << 10

// errLocalClose is the shutdown cause recorded by Close.
var errLocalClose = transport.ErrClosed

// conn is a transport.Conn over a gorilla WebSocket connection.
type conn struct {
	ws           *gws.Conn
	maxMessage   int64
	writeTimeout time.Duration
	closeTimeout time.Duration

	buf  []byte  // the message ReadMessage last returned, from bufpool; nil while waiting
	bufp *[]byte // buf's pool handle
	hint int     // the size to borrow for the next message

	down  atomic.Bool // set once cause is set: the conn is shut down
	mu    sync.Mutex
	cause error // why the conn shut down
}

func newConn(ws *gws.Conn, cfg Config) *conn {
	ws.SetReadLimit(cfg.MaxMessageSize)
	return &conn{
		ws:           ws,
		maxMessage:   cfg.MaxMessageSize,
		writeTimeout: cfg.WriteTimeout,
		closeTimeout: cfg.CloseTimeout,
	}
}

// ReadMessage returns the next binary message, in a buffer reused by the next call.
func (c *conn) ReadMessage() ([]byte, error) {
	if c.down.Load() {
		return nil, c.shutdownErr()
	}
	// The previous message is released by this call: its buffer goes back to the pool, so
	// an idle conn (blocked below) holds no message buffer.
	if c.bufp != nil {
		bufpool.Put(c.bufp)
		c.bufp, c.buf = nil, nil
	}
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return nil, c.fail(err)
	}
	if typ != gws.BinaryMessage {
		return nil, c.shutdown(fmt.Errorf("%w: websocket text message, want binary", transport.ErrProtocol), gws.CloseUnsupportedData)
	}
	c.bufp = bufpool.Get(max(c.hint, initialReadBuffer))
	c.buf = *c.bufp
	n := 0
	for {
		if n == len(c.buf) {
			if !c.growReadBuffer() {
				// gorilla enforces the read limit per frame header; this is a safety net.
				return nil, c.shutdown(transport.TooLarge(int64(n)+1, c.maxMessage), gws.CloseMessageTooBig)
			}
		}
		m, err := r.Read(c.buf[n:])
		n += m
		if err == io.EOF {
			c.hint = n + 1 // the next message is likely alike (+1: room to see its end)
			return c.buf[:n], nil
		}
		if err != nil {
			return nil, c.fail(err)
		}
	}
}

// growReadBuffer doubles the read buffer, up to one byte more than the message limit (room
// to see the end of a message of exactly the limit); it reports false at that ceiling.
func (c *conn) growReadBuffer() bool {
	ceiling := int(c.maxMessage) + 1
	if len(c.buf) >= ceiling {
		return false
	}
	size := min(max(initialReadBuffer, 2*len(c.buf)), ceiling)
	grown := bufpool.Get(size)
	copy(*grown, c.buf)
	bufpool.Put(c.bufp)
	c.bufp, c.buf = grown, *grown
	return true
}

// WriteMessage sends parts as one binary message, each part copied straight into gorilla's
// frame buffer.
func (c *conn) WriteMessage(parts ...[]byte) error {
	if c.down.Load() {
		return c.shutdownErr()
	}
	n := transport.MessageSize(parts)
	if int64(n) > c.maxMessage {
		c.Close()
		return transport.TooLarge(int64(n), c.maxMessage)
	}
	c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if len(parts) == 1 {
		// gorilla's own fast path: one frame, no extra copy on the server side.
		if err := c.ws.WriteMessage(gws.BinaryMessage, parts[0]); err != nil {
			return c.fail(err)
		}
		return nil
	}
	w, err := c.ws.NextWriter(gws.BinaryMessage)
	if err != nil {
		return c.fail(err)
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return c.fail(err)
		}
	}
	if err := w.Close(); err != nil {
		return c.fail(err)
	}
	return nil
}

// Close sends a normal close frame (waiting at most CloseTimeout) and closes the socket.
func (c *conn) Close() error {
	c.shutdown(errLocalClose, gws.CloseNormalClosure)
	return nil
}

// MaxMessageSize returns the largest message read or written (Config.MaxMessageSize).
func (c *conn) MaxMessageSize() int { return int(c.maxMessage) }

func (c *conn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// fail shuts the conn down after err from gorilla and returns the error to report.
func (c *conn) fail(err error) error {
	if c.down.Load() {
		// The conn was shut down under this operation, which failed because of it.
		return c.shutdownErr()
	}
	mapped, closeCode := classify(err)
	return c.shutdown(mapped, closeCode)
}

// shutdown records cause (unless a cause is recorded already), sends a close frame with
// closeCode unless it is -1, and closes the socket. It returns the error to report for the
// operation that caused the shutdown.
func (c *conn) shutdown(cause error, closeCode int) error {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		return c.shutdownErr()
	}
	c.cause = cause
	c.down.Store(true)
	c.mu.Unlock()

	if closeCode >= 0 {
		// Safe concurrently with the writer; waits behind a frame being written.
		c.ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(closeCode, ""), time.Now().Add(c.closeTimeout))
	}
	c.ws.Close()
	return cause
}

// shutdownErr is the error for operations on a conn that is shut down: the peer's close
// when the peer closed it, otherwise an error matching transport.ErrClosed that names the
// cause.
func (c *conn) shutdownErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	switch {
	case cause == errLocalClose:
		return transport.ErrClosed
	case errors.Is(cause, transport.ErrClosed):
		return cause
	}
	return fmt.Errorf("%w (after: %v)", transport.ErrClosed, cause)
}

// classify maps an error from gorilla to the transport's errors, and says which close frame
// to send (-1: none, the peer is gone or already told).
func classify(err error) (error, int) {
	var closeErr *gws.CloseError
	var netErr net.Error
	switch {
	case errors.As(err, &closeErr):
		if closeErr.Code == gws.CloseMessageTooBig {
			return fmt.Errorf("%w: %w: %w", transport.ErrPeerClosed, transport.ErrMessageTooLarge, err), -1
		}
		return fmt.Errorf("%w: %w", transport.ErrPeerClosed, err), -1
	case errors.Is(err, gws.ErrReadLimit):
		// gorilla has sent the close frame (1009) already.
		return fmt.Errorf("%w: %w", transport.ErrMessageTooLarge, err), -1
	case errors.Is(err, net.ErrClosed), errors.Is(err, gws.ErrCloseSent):
		return fmt.Errorf("%w: %w", transport.ErrClosed, err), -1
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return fmt.Errorf("%w: %w", transport.ErrPeerClosed, err), -1
	case errors.As(err, &netErr) && netErr.Timeout():
		// The socket is stuck: a close frame would not get through either.
		return fmt.Errorf("%w: %w", transport.ErrWriteTimeout, err), -1
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("websocket: %w", err), -1 // another network failure
	}
	// What remains are gorilla's framing errors ("bad MASK", "bad opcode", ...), plain
	// errors for which it has sent a close frame (1002) already.
	return fmt.Errorf("%w: %w", transport.ErrProtocol, err), -1
}
