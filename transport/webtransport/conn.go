package webtransport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/streamd/streamd/transport/internal/bufpool"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
)

// Session error codes (WT_CLOSE_SESSION) of version 1. The peer reads them back from the
// session's end: codeMessageTooLarge becomes transport.ErrMessageTooLarge.
const (
	codeNoError         wt.SessionErrorCode = 0
	codeProtocol        wt.SessionErrorCode = 1
	codeMessageTooLarge wt.SessionErrorCode = 2
	codeWriteTimeout    wt.SessionErrorCode = 3
	codeInternal        wt.SessionErrorCode = 4
	codeHandshake       wt.SessionErrorCode = 5
)

// Sizes of a conn's buffers and limits of its linger.
const (
	lengthPrefix         = 4
	readBufferSize       = 64 << 10
	writeBufferSize      = 256 << 10
	initialMessageBuffer = 64 << 10
	// lingerDrainLimit is how much a closed conn discards while waiting for the peer's FIN;
	// a peer still sending after that is cut off.
	lingerDrainLimit = 4 << 20
)

// errLocalClose is the shutdown cause recorded by Close.
var errLocalClose = transport.ErrClosed

// ending says how a shut-down conn ends its WebTransport session.
type ending int

const (
	// endGraceful (Close): FIN after the data written, linger until the peer's FIN.
	endGraceful ending = iota
	// endNow: the peer is gone or a local failure ends the session at once, with a code.
	endNow
)

// conn is a transport.Conn over one bidirectional stream of a WebTransport session.
type conn struct {
	sess         *wt.Session
	str          *wt.Stream
	maxMessage   int64
	writeTimeout time.Duration
	closeTimeout time.Duration

	// readMu is held by ReadMessage and by the linger; the reader fields below are its.
	readMu sync.Mutex
	br     *bufio.Reader
	bufp   *[]byte // the last message's buffer (bufpool), returned while waiting for the next
	hdr    [lengthPrefix]byte

	// writeMu is held by WriteMessage and by the linger (to send the FIN). WriteMessage
	// copies each message into pooled chunks and queues them for the stream writer
	// goroutine (writer.go): quic-go's Write returns only once QUIC has packed the data,
	// so a caller that builds the next message after it returns leaves QUIC idle.
	writeMu sync.Mutex
	wq      chan []byte   // chunks to write, in order; nil until the first WriteMessage
	wqDone  chan struct{} // closed when the writer goroutine has returned
	downCh  chan struct{} // closed when the conn shuts down

	// lanes is set by StartLanes (lanes.go); nil: one stream, version 1.
	lanes atomic.Pointer[laneSet]

	down    atomic.Bool // set once cause is set: the conn is shut down
	mu      sync.Mutex
	cause   error  // why the conn shut down
	how     ending // how it ends, once cause is set
	endOnce sync.Once
}

func newConn(sess *wt.Session, str *wt.Stream, cfg Config) *conn {
	return &conn{
		sess:         sess,
		str:          str,
		maxMessage:   cfg.MaxMessageSize,
		writeTimeout: cfg.WriteTimeout,
		closeTimeout: cfg.CloseTimeout,
		br:           bufio.NewReaderSize(str, readBufferSize),
		downCh:       make(chan struct{}),
	}
}

// ReadMessage returns the next message, in a buffer reused by the next call.
func (c *conn) ReadMessage() ([]byte, error) {
	// The only other holder of readMu is the linger, which runs after Close.
	if c.down.Load() || !c.readMu.TryLock() {
		return nil, c.shutdownErr()
	}
	defer c.readMu.Unlock()
	if ls := c.lanes.Load(); ls != nil {
		return ls.read()
	}
	if c.bufp != nil {
		bufpool.Put(c.bufp) // the previous message is released by this call
		c.bufp = nil
	}
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return nil, c.fail(err)
	}
	n := binary.BigEndian.Uint32(c.hdr[:])
	switch {
	case n == 0:
		return nil, c.shutdown(fmt.Errorf("%w: message length 0", transport.ErrProtocol), endNow, codeProtocol)
	case int64(n) > c.maxMessage:
		return nil, c.shutdown(transport.TooLarge(int64(n), c.maxMessage), endNow, codeMessageTooLarge)
	}
	// Borrow a buffer for this message: an idle conn, blocked on the header above,
	// holds none.
	c.bufp = bufpool.Get(max(int(n), initialMessageBuffer))
	msg := (*c.bufp)[:n]
	if _, err := io.ReadFull(c.br, msg); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the length promised more
		}
		return nil, c.fail(err)
	}
	return msg, nil
}

// WriteMessage queues the length prefix and the parts, copied into pooled chunks, for the
// writer goroutine; it blocks while writeQueueChunks chunks wait, and fails once the conn is
// down (a write that timed out in the writer shuts it down with ErrWriteTimeout).
func (c *conn) WriteMessage(parts ...[]byte) error {
	// The only other holder of writeMu is the linger, which runs after Close.
	if c.down.Load() || !c.writeMu.TryLock() {
		return c.shutdownErr()
	}
	n := transport.MessageSize(parts)
	if n == 0 || int64(n) > c.maxMessage {
		c.writeMu.Unlock()
		c.Close()
		if n == 0 {
			return fmt.Errorf("%w: empty message (a length of 0 is invalid on a byte stream)", transport.ErrProtocol)
		}
		return transport.TooLarge(int64(n), c.maxMessage)
	}
	defer c.writeMu.Unlock()
	if c.wq == nil {
		c.wq = make(chan []byte, writeQueueChunks)
		c.wqDone = make(chan struct{})
		go c.runWriter(c.wq)
	}
	buf := binary.BigEndian.AppendUint32(getChunk(), uint32(n))
	for _, p := range parts {
		for len(p) > 0 {
			if len(buf) == cap(buf) {
				if !c.enqueue(buf) {
					return c.writeErr()
				}
				buf = getChunk()
			}
			k := copy(buf[len(buf):cap(buf)], p)
			buf = buf[:len(buf)+k]
			p = p[k:]
		}
	}
	if !c.enqueue(buf) {
		return c.writeErr()
	}
	return nil
}

// Close shuts the conn down: a pending ReadMessage and WriteMessage return, the data stream
// gets its FIN after the messages written, and the linger ends the session.
func (c *conn) Close() error {
	c.shutdown(errLocalClose, endGraceful, codeNoError)
	return nil
}

// MaxMessageSize returns the largest message read or written (Config.MaxMessageSize).
func (c *conn) MaxMessageSize() int { return int(c.maxMessage) }

func (c *conn) LocalAddr() net.Addr  { return c.sess.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.sess.RemoteAddr() }

// fail shuts the conn down after err from the stream and returns the error to report.
func (c *conn) fail(err error) error {
	if c.down.Load() {
		// The conn was shut down under this operation, which failed because of it.
		return c.shutdownErr()
	}
	mapped, code := classify(err)
	return c.shutdown(mapped, endNow, code)
}

// shutdown records cause (unless a cause is recorded already), unblocks the reader and the
// writer, and ends the session as how says. It returns the error to report for the operation
// that caused the shutdown.
func (c *conn) shutdown(cause error, how ending, code wt.SessionErrorCode) error {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		return c.shutdownErr()
	}
	c.cause = cause
	c.how = how
	c.down.Store(true)
	close(c.downCh)
	c.mu.Unlock()
	if ls := c.lanes.Load(); ls != nil {
		ls.stop()
	}

	// A deadline in the past wakes a blocked Read (quic-go's stream methods are safe to
	// call concurrently with it); ReadMessage then sees down. WriteMessage waits on downCh.
	// The writer goroutine's Write is cut short only when the session ends now: a graceful
	// end writes what was queued (the linger bounds it).
	now := time.Now()
	c.str.SetReadDeadline(now)
	if how == endNow {
		c.str.SetWriteDeadline(now)
	}
	if how == endGraceful {
		go c.linger()
		return cause
	}
	reason := ""
	if code != codeNoError {
		reason = cause.Error()
	}
	c.end(code, reason)
	return cause
}

// linger sends the FIN, then discards what the peer still sends until its FIN (it read ours
// and closed too), CloseTimeout or lingerDrainLimit, whichever comes first, and ends the
// session. Until the session ends, the peer can still read what was written before Close.
func (c *conn) linger() {
	ls := c.lanes.Load()
	if ls != nil {
		// Lanes first: what they carry must arrive before the session ends. Then the main
		// stream's reader, woken by the deadline, hands the stream to the drain below.
		ls.drainLanes(c.closeTimeout)
		<-ls.mainDone
	}
	c.writeMu.Lock() // waits for a WriteMessage woken by downCh
	c.flushWriter()
	if ls != nil {
		ls.announceLanes()
	}
	c.str.Close() // FIN after the data written; an error means the stream is gone anyway
	c.writeMu.Unlock()

	c.readMu.Lock() // waits for a ReadMessage woken by the deadline
	c.str.SetReadDeadline(time.Now().Add(c.closeTimeout))
	io.CopyN(io.Discard, c.br, lingerDrainLimit) //nolint:errcheck // any end of the drain will do
	c.readMu.Unlock()
	c.end(codeNoError, "")
}

// end closes the WebTransport session once (a client's QUIC connection follows, see Dial).
func (c *conn) end(code wt.SessionErrorCode, reason string) {
	c.endOnce.Do(func() {
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		c.sess.CloseWithError(code, reason) //nolint:errcheck // always nil
	})
}

// ending returns how the conn ends (meaningful once it is down).
func (c *conn) ending() ending {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.how
}

// shutdownErr is the error for operations on a conn that is shut down: the peer's close
// when the peer closed it, otherwise an error matching transport.ErrClosed that names the
// cause.
func (c *conn) shutdownErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	switch {
	case cause == nil, cause == errLocalClose:
		return transport.ErrClosed
	case errors.Is(cause, transport.ErrClosed):
		return cause
	}
	return fmt.Errorf("%w (after: %v)", transport.ErrClosed, cause)
}

// classify maps an error from a stream operation to the transport's errors and says which
// code to end the session with (the peer ignores it when it is the one that ended it).
func classify(err error) (error, wt.SessionErrorCode) {
	var (
		sessErr  *wt.SessionError
		strErr   *wt.StreamError
		qStrErr  *quic.StreamError
		appErr   *quic.ApplicationError
		trErr    *quic.TransportError
		h3Err    *http3.Error
		idleErr  *quic.IdleTimeoutError
		resetErr *quic.StatelessResetError
		netErr   net.Error
	)
	peer := func() (error, wt.SessionErrorCode) {
		return fmt.Errorf("%w: %w", transport.ErrPeerClosed, err), codeNoError
	}
	local := func() (error, wt.SessionErrorCode) {
		return fmt.Errorf("%w: %w", transport.ErrClosed, err), codeNoError
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return peer()
	case errors.As(err, &sessErr):
		if !sessErr.Remote {
			return local()
		}
		if sessErr.ErrorCode == codeMessageTooLarge {
			return fmt.Errorf("%w: %w: %w", transport.ErrPeerClosed, transport.ErrMessageTooLarge, err), codeNoError
		}
		return peer()
	case errors.As(err, &strErr):
		if !strErr.Remote {
			return local()
		}
		return peer()
	case errors.As(err, &qStrErr):
		if !qStrErr.Remote {
			return local()
		}
		return peer()
	case errors.As(err, &idleErr), errors.As(err, &resetErr):
		return peer() // the peer vanished
	case errors.As(err, &appErr):
		if !appErr.Remote {
			return local()
		}
		return peer()
	case errors.As(err, &h3Err):
		// http3's datagram receiver fails locally with H3_DATAGRAM_ERROR when
		// the peer closed the connection under it: that is the peer closing.
		if h3Err.Remote || h3Err.ErrorCode == http3.ErrCodeDatagramError {
			return peer()
		}
		return fmt.Errorf("%w: %w", transport.ErrProtocol, err), codeProtocol
	case errors.As(err, &trErr):
		if trErr.Remote {
			return peer()
		}
		return fmt.Errorf("%w: %w", transport.ErrProtocol, err), codeProtocol
	case errors.Is(err, net.ErrClosed):
		return local()
	case errors.As(err, &netErr) && netErr.Timeout():
		// A write deadline passed: the peer stopped reading, or the path is stuck.
		return fmt.Errorf("%w: %w", transport.ErrWriteTimeout, err), codeWriteTimeout
	}
	return fmt.Errorf("webtransport: %w", err), codeInternal
}
