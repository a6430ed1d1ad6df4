package transport

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// Bounds of one direction of a Pipe: at most this many messages and (beyond the first
// message) bytes are queued before WriteMessage blocks.
const (
	pipeQueueMessages = 16
	pipeQueueBytes    = 1 << 20
)

// errPipePeerClosed is what a Pipe end reads or writes after the other end closed.
var errPipePeerClosed = fmt.Errorf("%w: %w", ErrPeerClosed, io.EOF)

// Pipe returns two connected in-memory Conns (for tests). maxMessage is the largest message
// either end may write; 0 (or less) means DefaultMaxMessageSize. Each direction is bounded:
// at most 16 messages and 1 MiB (or one message, if larger) are in flight, and WriteMessage
// blocks while that is full. WriteMessage copies the parts; message buffers are recycled, so a
// steady stream of messages does not allocate.
func Pipe(maxMessage int) (Conn, Conn) {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	ab, ba := newPipeQueue(maxMessage), newPipeQueue(maxMessage)
	a := &pipeConn{in: ba, out: ab, local: pipeAddr("pipe-a"), remote: pipeAddr("pipe-b"), maxMessage: maxMessage}
	b := &pipeConn{in: ab, out: ba, local: pipeAddr("pipe-b"), remote: pipeAddr("pipe-a"), maxMessage: maxMessage}
	return a, b
}

// pipeAddr is the net.Addr of a Pipe end.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// pipeConn is one end of a Pipe.
type pipeConn struct {
	in, out       *pipeQueue
	local, remote pipeAddr
	maxMessage    int
	closeOnce     sync.Once

	// last is the buffer handed out by the previous ReadMessage; owned by the reader
	// goroutine and recycled on the next ReadMessage.
	last []byte
}

func (c *pipeConn) ReadMessage() ([]byte, error) {
	msg, err := c.in.pop(c.last)
	c.last = msg
	return msg, err
}

func (c *pipeConn) WriteMessage(parts ...[]byte) error {
	n := MessageSize(parts)
	if n > c.maxMessage {
		c.Close()
		return TooLarge(int64(n), int64(c.maxMessage))
	}
	return c.out.push(parts, n)
}

func (c *pipeConn) Close() error {
	c.closeOnce.Do(func() {
		c.out.closeWriter()
		c.in.closeReader()
	})
	return nil
}

// MaxMessageSize returns the largest message WriteMessage accepts.
func (c *pipeConn) MaxMessageSize() int { return c.maxMessage }

func (c *pipeConn) LocalAddr() net.Addr  { return c.local }
func (c *pipeConn) RemoteAddr() net.Addr { return c.remote }

// pipeQueue is one direction of a Pipe: a bounded FIFO of messages between exactly one
// writing end and one reading end.
type pipeQueue struct {
	mu      sync.Mutex
	changed sync.Cond // broadcast on every push, pop and close
	msgs    fifo[[]byte]
	bytes   int  // bytes queued in msgs
	wclosed bool // the writing end closed: reads drain, then fail
	rclosed bool // the reading end closed: queued messages dropped, writes fail
	stash   bufferStash
}

func newPipeQueue(maxMessage int) *pipeQueue {
	q := &pipeQueue{stash: bufferStash{maxBytes: pipeQueueBytes + maxMessage}}
	q.changed.L = &q.mu
	return q
}

// full reports whether a message of n bytes must wait. An empty queue always admits one
// message, so any message up to the limit goes through.
func (q *pipeQueue) full(n int) bool {
	return q.msgs.len() >= pipeQueueMessages || (q.msgs.len() > 0 && q.bytes+n > pipeQueueBytes)
}

// push copies parts (n bytes in total) into the queue, blocking while it is full.
func (q *pipeQueue) push(parts [][]byte, n int) error {
	q.mu.Lock()
	for !q.wclosed && !q.rclosed && q.full(n) {
		q.changed.Wait()
	}
	if err := q.writeErr(); err != nil {
		q.mu.Unlock()
		return err
	}
	buf := q.stash.get(n)
	q.mu.Unlock()

	// The single writer has reserved room (only the reader changes the queue meanwhile, and it
	// only shrinks it), so copy outside the lock.
	off := 0
	for _, p := range parts {
		off += copy(buf[off:], p)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.writeErr(); err != nil {
		return err
	}
	q.msgs.push(buf)
	q.bytes += n
	q.changed.Broadcast()
	return nil
}

func (q *pipeQueue) writeErr() error {
	switch {
	case q.wclosed:
		return ErrClosed
	case q.rclosed:
		return errPipePeerClosed
	}
	return nil
}

// pop recycles the previous message buffer and returns the next message, blocking while the
// queue is empty.
func (q *pipeQueue) pop(previous []byte) ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if previous != nil {
		q.stash.put(previous)
	}
	for q.msgs.len() == 0 && !q.rclosed && !q.wclosed {
		q.changed.Wait()
	}
	switch {
	case q.rclosed:
		return nil, ErrClosed
	case q.msgs.len() == 0:
		return nil, errPipePeerClosed
	}
	msg := q.msgs.pop()
	q.bytes -= len(msg)
	q.changed.Broadcast()
	return msg, nil
}

func (q *pipeQueue) closeWriter() {
	q.mu.Lock()
	q.wclosed = true
	q.changed.Broadcast()
	q.mu.Unlock()
}

func (q *pipeQueue) closeReader() {
	q.mu.Lock()
	q.rclosed = true
	q.msgs.clear()
	q.bytes = 0
	q.stash = bufferStash{}
	q.changed.Broadcast()
	q.mu.Unlock()
}

// bufferStash keeps recycled message buffers, at most maxBytes of capacity in total, so that a
// steady flow of messages does not allocate. Not safe for concurrent use.
type bufferStash struct {
	bufs     [][]byte
	bytes    int
	maxBytes int
}

// get returns a buffer of length n, recycled when one is large enough.
func (s *bufferStash) get(n int) []byte {
	for i := len(s.bufs) - 1; i >= 0; i-- {
		if b := s.bufs[i]; cap(b) >= n {
			last := len(s.bufs) - 1
			s.bufs[i] = s.bufs[last]
			s.bufs[last] = nil
			s.bufs = s.bufs[:last]
			s.bytes -= cap(b)
			return b[:n]
		}
	}
	return make([]byte, n)
}

// put offers b for reuse; it is dropped when the stash is full.
func (s *bufferStash) put(b []byte) {
	if cap(b) == 0 || s.bytes+cap(b) > s.maxBytes {
		return
	}
	s.bufs = append(s.bufs, b)
	s.bytes += cap(b)
}
