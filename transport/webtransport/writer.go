package webtransport

import (
	"errors"
	"sync"
	"time"

	"github.com/streamd/streamd/transport"
)

// writeQueueChunks is how many chunks WriteMessage may queue ahead of the writer goroutine:
// with the chunk being written, up to 3 × writeBufferSize bytes per conn while it sends.
const writeQueueChunks = 2

// chunkPool holds write chunks (writeBufferSize bytes each); a conn holds them only while
// they are queued or being written, so an idle conn holds none.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufferSize); return &b }}

func getChunk() []byte { return (*chunkPool.Get().(*[]byte))[:0] }

func putChunk(b []byte) {
	b = b[:0]
	chunkPool.Put(&b)
}

// enqueue hands buf to the writer goroutine; false once the conn is down. The caller holds
// writeMu.
func (c *conn) enqueue(buf []byte) bool {
	select {
	case c.wq <- buf:
		return true
	case <-c.downCh:
		putChunk(buf)
		return false
	}
}

// writeErr is WriteMessage's error once the conn is down: the write timeout itself when
// that is why (it is a net.Error with Timeout()), else shutdownErr.
func (c *conn) writeErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	if errors.Is(cause, transport.ErrWriteTimeout) {
		return cause
	}
	return c.shutdownErr()
}

// runWriter writes the queued chunks to the stream in order until the linger closes the
// queue, or the conn ends now; after a failure it only recycles what is queued.
func (c *conn) runWriter(wq <-chan []byte) {
	defer close(c.wqDone)
	failed := false
	for {
		var buf []byte
		var ok bool
		select {
		case buf, ok = <-wq:
			if !ok {
				return
			}
		case <-c.downCh:
			if c.ending() == endNow {
				return
			}
			// Graceful: write what is queued until the linger closes the queue.
			buf, ok = <-wq
			if !ok {
				return
			}
		}
		if !failed {
			if c.down.Load() {
				// The linger bounds a graceful flush by CloseTimeout (flushWriter).
			} else {
				c.str.SetWriteDeadline(time.Now().Add(c.writeTimeout)) //nolint:errcheck // always nil
			}
			if _, err := c.str.Write(buf); err != nil {
				failed = true
				if !c.down.Load() {
					c.fail(err)
				}
			}
		}
		putChunk(buf)
	}
}

// flushWriter closes the write queue and waits, at most CloseTimeout, for the writer
// goroutine to write it. The caller holds writeMu.
func (c *conn) flushWriter() {
	if c.wq == nil {
		return
	}
	c.str.SetWriteDeadline(time.Now().Add(c.closeTimeout)) //nolint:errcheck // always nil
	close(c.wq)
	<-c.wqDone
}
