package webtransport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/streamd/streamd/transport/internal/bufpool"
	"io"
	"sync"
	"time"

	wt "github.com/quic-go/webtransport-go"

	"github.com/streamd/streamd/transport"
)

// Lanes (transport.LaneConn): each lane is a unidirectional QUIC stream of the session that
// starts with the lane id (u32) and then carries length-prefixed messages, as the main
// stream does (docs/WEBTRANSPORT.md §7). A lane's writer goroutine owns its stream, so a
// lane stalled by loss or flow control never blocks WriteLane or the other lanes.

// laneBufferedBytes caps the bytes of messages read from lanes and not yet recycled by
// ReadMessage: lane readers wait for room before they read a message (see waitRoom).
const laneBufferedBytes = 4 << 20

// laneSet is a conn's lane state after StartLanes.
type laneSet struct {
	c        *conn
	in       chan laneMsg  // messages read from any lane, each in its own buffer
	done     chan struct{} // closed when the conn shuts down
	mainDone chan struct{} // closed when the main stream's reader returns
	prev     laneMsg       // returned by the last ReadMessage; recycled by the next

	room     sync.Mutex // guards buffered; cond signals room
	cond     *sync.Cond
	buffered int

	mu      sync.Mutex
	writers map[uint32]*laneWriter
	writing sync.WaitGroup // lane writers, for the linger
	opened  uint32         // lanes this side opened, announced on a graceful close

	// Incoming lanes, for a graceful end: the main stream's end waits until
	// the lanes the peer announced were accepted and read to their end.
	inMu     sync.Mutex
	inCond   *sync.Cond
	accepted uint32 // lanes accepted
	active   int    // lanes being read
	timedOut bool
}

// laneWriter is one outgoing lane.
type laneWriter struct {
	id    uint32
	queue [][]byte // length-prefixed messages, oldest first
	ended bool
	wake  chan struct{}
}

var _ transport.LaneConn = (*conn)(nil)

// StartLanes switches the conn to lanes: the main stream and every lane the peer opens are
// read by goroutines into one queue that ReadMessage serves. Call it before the next
// ReadMessage, after both sides agreed to use lanes.
func (c *conn) StartLanes() error {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.lanes.Load() != nil {
		return nil
	}
	if c.down.Load() {
		return c.shutdownErr()
	}
	ls := &laneSet{
		c:        c,
		in:       make(chan laneMsg, 16),
		done:     make(chan struct{}),
		mainDone: make(chan struct{}),
		writers:  make(map[uint32]*laneWriter),
	}
	ls.cond = sync.NewCond(&ls.room)
	ls.inCond = sync.NewCond(&ls.inMu)
	c.lanes.Store(ls)
	if c.down.Load() { // shutdown may have missed ls
		ls.stop()
		return c.shutdownErr()
	}
	go func() {
		defer close(ls.mainDone)
		ls.readStream(c.br, true)
	}()
	go ls.acceptLoop()
	return nil
}

// stop wakes every lane goroutine waiting on ls; called once by shutdown.
func (ls *laneSet) stop() {
	ls.room.Lock()
	select {
	case <-ls.done:
	default:
		close(ls.done)
	}
	ls.cond.Broadcast()
	ls.room.Unlock()
}

// read serves ReadMessage in lane mode.
func (ls *laneSet) read() ([]byte, error) {
	ls.recycle()
	select {
	case m := <-ls.in:
		if m.buf == nil { // the peer's graceful end (readStream)
			return nil, ls.c.fail(io.EOF)
		}
		ls.prev = m
		return (*m.buf)[:m.n], nil
	case <-ls.done:
		return nil, ls.c.shutdownErr()
	}
}

// recycle gives the room of the previous message back.
func (ls *laneSet) recycle() {
	if ls.prev.buf == nil {
		return
	}
	ls.release(ls.prev.n)
	bufpool.Put(ls.prev.buf)
	ls.prev = laneMsg{}
}

// laneMsg is a message read from a lane: its first n bytes of buf, a bufpool
// buffer. A nil buf is the main stream's graceful end.
type laneMsg struct {
	buf *[]byte
	n   int
}

func (ls *laneSet) release(n int) {
	ls.room.Lock()
	ls.buffered -= n
	ls.cond.Broadcast()
	ls.room.Unlock()
}

// waitRoom waits until the unread messages are under laneBufferedBytes, or the
// conn shuts down. Readers wait here only between messages: a reader that
// waited for room halfway through a message would hold room while its bytes
// wait behind QUIC flow control that other waiting lanes' unread data has
// used up, a deadlock (seen with 64 lanes). So the bound is laneBufferedBytes
// plus one message per lane being read.
func (ls *laneSet) waitRoom() bool {
	ls.room.Lock()
	defer ls.room.Unlock()
	for ls.buffered >= laneBufferedBytes {
		select {
		case <-ls.done:
			return false
		default:
		}
		ls.cond.Wait()
	}
	select {
	case <-ls.done:
		return false
	default:
	}
	return true
}

// charge counts a message read into the unread bytes.
func (ls *laneSet) charge(n int) {
	ls.room.Lock()
	ls.buffered += n
	ls.room.Unlock()
}

// acceptLoop reads every lane the peer opens until the session ends.
func (ls *laneSet) acceptLoop() {
	ctx := ls.c.sess.Context()
	for {
		rs, err := ls.c.sess.AcceptUniStream(ctx)
		if err != nil {
			return // the session ended; the conn learns it from its streams
		}
		ls.inMu.Lock()
		ls.accepted++
		ls.active++
		ls.inMu.Unlock()
		go func() {
			defer func() {
				ls.inMu.Lock()
				ls.active--
				ls.inCond.Broadcast()
				ls.inMu.Unlock()
			}()
			ls.readLane(rs)
		}()
	}
}

func (ls *laneSet) readLane(rs *wt.ReceiveStream) {
	br := bufio.NewReaderSize(rs, readBufferSize)
	var id [4]byte
	if _, err := io.ReadFull(br, id[:]); err != nil {
		if !errors.Is(err, io.EOF) {
			ls.c.fail(err)
		}
		return
	}
	ls.readStream(br, false)
}

// readStream reads length-prefixed messages from r into ls.in until the end of the stream.
// The end of a lane is normal; the end of the main stream, or any error, shuts the conn.
func (ls *laneSet) readStream(r *bufio.Reader, main bool) {
	c := ls.c
	var hdr [lengthPrefix]byte
	announced, expect := false, uint32(0)
	for {
		if !ls.waitRoom() {
			return
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if main && announced && errors.Is(err, io.EOF) {
				// A graceful end: it reaches ReadMessage after the lanes' messages.
				ls.awaitLanes(expect)
				select {
				case ls.in <- laneMsg{}:
				case <-ls.done:
				}
				return
			}
			if main || !errors.Is(err, io.EOF) {
				c.fail(err)
			}
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		switch {
		case n == 0 && main && !announced:
			// The lane count a graceful close announces before its FIN.
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				c.fail(err)
				return
			}
			announced, expect = true, binary.BigEndian.Uint32(hdr[:])
			continue
		case n == 0:
			c.shutdown(fmt.Errorf("%w: message length 0", transport.ErrProtocol), endNow, codeProtocol)
			return
		case int64(n) > c.maxMessage:
			c.shutdown(transport.TooLarge(int64(n), c.maxMessage), endNow, codeMessageTooLarge)
			return
		}
		buf := bufpool.Get(int(n))
		if _, err := io.ReadFull(r, (*buf)[:n]); err != nil {
			bufpool.Put(buf)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		ls.charge(int(n))
		select {
		case ls.in <- laneMsg{buf: buf, n: int(n)}:
		case <-ls.done:
			bufpool.Put(buf)
			return
		}
	}
}

// awaitLanes waits, up to the close timeout, until n lanes were accepted and
// read to their ends: what the peer wrote on lanes before its graceful close
// is delivered before the close is.
func (ls *laneSet) awaitLanes(n uint32) {
	t := time.AfterFunc(ls.c.closeTimeout, func() {
		ls.inMu.Lock()
		ls.timedOut = true
		ls.inCond.Broadcast()
		ls.inMu.Unlock()
	})
	defer t.Stop()
	ls.inMu.Lock()
	for (ls.accepted < n || ls.active > 0) && !ls.timedOut {
		ls.inCond.Wait()
	}
	ls.inMu.Unlock()
}

// announceLanes writes the graceful close's lane count on the main stream: a
// zero length, then the number of lanes this side opened. The caller holds
// writeMu.
func (ls *laneSet) announceLanes() {
	ls.mu.Lock()
	n := ls.opened
	ls.mu.Unlock()
	var b [2 * lengthPrefix]byte
	binary.BigEndian.PutUint32(b[lengthPrefix:], n)
	ls.c.str.SetWriteDeadline(time.Now().Add(ls.c.closeTimeout)) //nolint:errcheck // always nil
	ls.c.str.Write(b[:])                                         //nolint:errcheck // the session ends anyway
}

// WriteLane queues one message on lane id; see transport.LaneConn.
func (c *conn) WriteLane(id uint32, parts ...[]byte) error {
	ls := c.lanes.Load()
	if ls == nil {
		return fmt.Errorf("%w: WriteLane before StartLanes", transport.ErrProtocol)
	}
	if c.down.Load() {
		return c.shutdownErr()
	}
	n := transport.MessageSize(parts)
	if n == 0 || int64(n) > c.maxMessage {
		c.Close()
		if n == 0 {
			return fmt.Errorf("%w: empty message (a length of 0 is invalid on a byte stream)", transport.ErrProtocol)
		}
		return transport.TooLarge(int64(n), c.maxMessage)
	}
	var msg []byte
	if lengthPrefix+n <= writeBufferSize {
		msg = getChunk() // recycled by the lane's writer
	} else {
		msg = make([]byte, 0, lengthPrefix+n)
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(n))
	for _, p := range parts {
		msg = append(msg, p...)
	}
	ls.mu.Lock()
	w := ls.writers[id]
	if w == nil {
		w = &laneWriter{id: id, wake: make(chan struct{}, 1)}
		ls.writers[id] = w
		ls.opened++
		ls.writing.Add(1)
		go ls.runWriter(w)
	}
	w.queue = append(w.queue, msg)
	ls.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// EndLane ends lane id once its queue is written; see transport.LaneConn.
func (c *conn) EndLane(id uint32) {
	ls := c.lanes.Load()
	if ls == nil {
		return
	}
	ls.mu.Lock()
	w := ls.writers[id]
	if w != nil {
		w.ended = true
		delete(ls.writers, id)
	}
	ls.mu.Unlock()
	if w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// runWriter opens w's QUIC stream and writes its queue until the lane ends or the conn
// shuts down.
func (ls *laneSet) runWriter(w *laneWriter) {
	defer ls.writing.Done()
	c := ls.c
	ctx, cancel := context.WithCancel(c.sess.Context())
	defer cancel()
	go func() {
		select {
		case <-ls.done:
			if c.ending() == endNow {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	str, err := c.sess.OpenUniStreamSync(ctx)
	if err != nil {
		c.fail(err)
		return
	}
	hdr := binary.BigEndian.AppendUint32(nil, w.id)
	if err := c.writeLane(str, hdr); err != nil {
		return
	}
	for {
		ls.mu.Lock()
		q := w.queue
		w.queue = nil
		ended := w.ended
		ls.mu.Unlock()
		for i, msg := range q {
			if err := c.writeLane(str, msg); err != nil {
				return
			}
			if cap(msg) == writeBufferSize {
				putChunk(msg)
			}
			q[i] = nil
		}
		if len(q) > 0 {
			continue
		}
		if ended {
			str.Close() //nolint:errcheck // FIN; an error means the session is gone anyway
			return
		}
		select {
		case <-w.wake:
		case <-ls.done:
			if c.ending() == endNow {
				str.CancelWrite(0)
				return
			}
			// Graceful close: write what is queued, then FIN.
			ls.mu.Lock()
			w.ended = true
			ls.mu.Unlock()
		}
	}
}

func (c *conn) writeLane(str *wt.SendStream, b []byte) error {
	str.SetWriteDeadline(time.Now().Add(c.writeTimeout)) //nolint:errcheck // always nil
	if _, err := str.Write(b); err != nil {
		if c.down.Load() && c.ending() == endGraceful {
			return err // the linger's deadline or the session's end: nothing more to say
		}
		return c.fail(err)
	}
	return nil
}

// drainLanes waits, up to d, for the lane writers to write their queues and FIN.
func (ls *laneSet) drainLanes(d time.Duration) {
	done := make(chan struct{})
	go func() {
		ls.writing.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
