package stream

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/streamd/streamd/flowctl"
	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// This file holds the session side of resumption (docs/RESUME.md): a
// resumable session outlives its transport. When the transport dies the
// session detaches from it and parks, keeping its streams, their positions and
// replay buffers; a new transport re-attaches after a HELLO/WELCOME exchange
// in which each side states, per stream, what it has received, and each side
// then re-sends from there.

// finishedCap bounds how many ended streams a resumable session remembers, so
// that it can repeat their last frame to a peer that missed it in a cut.
const finishedCap = 4096

// Position flags (resume exchange, docs/PROTOCOL.md §7).
const (
	posClosed   = wire.PositionClosed   // I have your CLOSE
	posAccepted = wire.PositionAccepted // ACCEPT was exchanged (opener: received; acceptor: sent)
	posPaused   = wire.PositionPaused   // I asked you to pause
)

// GapError is a stream's failure when a resumed session can no longer send
// bytes the peer did not receive: they were dropped from the sender's replay
// buffer. Both sides report the same Offset and Size. It matches ErrGap.
type GapError struct {
	StreamID uint32
	// Offset is the first byte lost (what the receiver had received).
	Offset uint64
	// Size is the number of bytes lost.
	Size uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("stream %d: GAP: %d bytes at offset %d can no longer be replayed", e.StreamID, e.Size, e.Offset)
}

// Is matches ErrGap.
func (e *GapError) Is(target error) bool { return target == ErrGap }

// sessionResume is the resume state of a resumable session; nil on others.
type sessionResume struct {
	token string
	ttl   time.Duration

	// finished maps a recently ended stream to the frame that tells the peer
	// how it ended (guarded by Session.mu).
	finished      map[uint32][]byte
	finishedOrder []uint32

	lost      chan error  // client: the transport was lost (capacity 1)
	parkTimer *time.Timer // server: ends a parked session after ttl (guarded by attMu)
	parked    time.Time   // when the session parked (guarded by attMu)
	server    *Server     // server side: the registry the session is in
	welcome   welcomeMsg  // server side: the WELCOME, repeated on resume
	hello     helloMsg    // client side: the HELLO, repeated with the positions on resume
}

func newSessionResume(token string, ttl time.Duration) *sessionResume {
	return &sessionResume{token: token, ttl: ttl, finished: make(map[uint32][]byte), lost: make(chan error, 1)}
}

// streamResume is the resume state of a stream of a resumable session,
// guarded by the stream's mutex.
type streamResume struct {
	replay         replayBuffer
	closeAcked     bool   // the peer acknowledged our CLOSE (ACK with FIN)
	lastCheckpoint []byte // the last CHECKPOINT frame sent, repeated after a resume
	gap            error  // receive side: a gap found on resume, reported after the buffered data
	highWater      uint64 // the end of what was ever sent: bytes below it are sent again
	resent         uint64 // bytes sent again after resumes
}

// countResent counts the bytes of a DATA frame [offset, offset+n) that were
// sent before, on a transport that was lost.
func (r *streamResume) countResent(s *Session, offset, n uint64) {
	if offset >= r.highWater {
		return
	}
	again := min(offset+n, r.highWater) - offset
	r.resent += again
	s.stats.resent.Add(int64(again))
}

// attachment is one transport a session runs on, with its reader and writer.
type attachment struct {
	conn       transport.Conn
	lanes      transport.LaneConn // non-nil in native streams mode
	gen        uint64
	stop       chan struct{} // closed when the attachment ends
	stopOnce   sync.Once
	writerDone chan struct{}
	ended      chan struct{} // closed once its loops have returned
	loops      sync.WaitGroup
	park       bool  // ended by a transport loss: park the session
	cause      error // why it ended (with park)
}

// attach starts the reader and writer on conn, on lanes when the handshake
// agreed on them. The caller holds resumeMu or is the handshake (no concurrent
// attach).
func (s *Session) attach(conn transport.Conn, lanes bool) *attachment {
	a := &attachment{conn: conn, stop: make(chan struct{}), writerDone: make(chan struct{}), ended: make(chan struct{})}
	if lc := transport.Lanes(conn); lanes && lc != nil && lc.StartLanes() == nil {
		a.lanes = lc
	}
	s.lanesOn.Store(a.lanes != nil)
	s.attMu.Lock()
	if s.isClosing() {
		// The session ended while this transport was being attached (a resume
		// racing Close or Server.Shutdown): start nothing. Checked under attMu,
		// which shutdown takes after it sets closing, so either shutdown sees
		// this attachment and ends it, or no loop is added after Close began
		// waiting for them.
		s.attMu.Unlock()
		s.endAttachment(a)
		close(a.writerDone)
		close(a.ended)
		return a
	}
	s.gen++
	a.gen = s.gen
	s.att = a
	if s.rs != nil && s.rs.parkTimer != nil {
		s.rs.parkTimer.Stop()
		s.rs.parkTimer = nil
	}
	a.loops.Add(2)
	s.loops.Add(3)
	s.attMu.Unlock()
	// The bytes re-sent on the previous transport are complete now.
	resent := s.stats.resent.Load()
	if d := resent - s.stats.resentBase.Swap(resent); d > s.stats.resentMax.Load() {
		s.stats.resentMax.Store(d)
	}
	s.lastRecv.Store(nanotime())
	s.pingSent.Store(0)
	go s.readLoop(a)
	go s.writeLoop(a)
	go s.watch(a)
	s.signalWriter()
	return a
}

// current returns the live attachment, nil while detached.
func (s *Session) current() *attachment {
	s.attMu.Lock()
	defer s.attMu.Unlock()
	return s.att
}

// endAttachment stops a's loops and closes its transport, without parking.
func (s *Session) endAttachment(a *attachment) {
	a.stopOnce.Do(func() {
		close(a.stop)
		a.conn.Close()
	})
}

// connLost handles the failure of a's transport: a resumable session parks,
// any other ends.
func (s *Session) connLost(a *attachment, err error) {
	if s.rs == nil || s.isClosing() {
		s.shutdown(s.transportError(err), false)
		return
	}
	a.stopOnce.Do(func() {
		a.park, a.cause = true, err
		close(a.stop)
		a.conn.Close()
	})
}

// drainGrace is how long the reader may go on reading what already arrived
// after the writer failed, before the transport is closed.
const drainGrace = 250 * time.Millisecond

// writeFailed handles a failed transport write. On a resumable session the
// reader first reads what already arrived: the peer may have closed the
// session on purpose (a final ERROR we must not mistake for a cut). The
// reader's own error, or the grace period, ends the attachment.
func (s *Session) writeFailed(a *attachment, err error) {
	if s.rs == nil {
		s.connLost(a, err)
		return
	}
	// A late call finds a ended (no-op) or the session resumed elsewhere.
	time.AfterFunc(drainGrace, func() { s.connLost(a, err) })
}

func (s *Session) isClosing() bool {
	select {
	case <-s.done:
		return true
	default:
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.closing
}

// watch waits for a's loops to return, then parks the session if a ended by a
// transport loss and is still the session's attachment.
func (s *Session) watch(a *attachment) {
	defer s.loops.Done()
	a.loops.Wait()
	s.attMu.Lock()
	current := s.att == a
	if current {
		s.att = nil
	}
	park := current && a.park
	if park {
		s.rs.parked = time.Now()
	}
	s.attMu.Unlock()
	close(a.ended)
	if !park || s.isClosing() {
		return
	}
	s.stats.disconnects.Add(1)
	s.log.Debug("session parked", "session", s.id, "cause", a.cause)
	if srv := s.rs.server; srv != nil {
		srv.parked(s, a.gen)
		return
	}
	select {
	case s.rs.lost <- a.cause:
	default:
	}
}

// reattach moves the session onto conn: it ends the current attachment if
// there is one (a client resuming before this side noticed the cut), lets
// exchange do the handshake with this side's positions and return the peer's,
// re-sends what the peer is missing and starts the loops on conn.
func (s *Session) reattach(conn transport.Conn, exchange func(mine *resumeInfo) (*resumeInfo, bool, error)) (*attachment, error) {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	if s.isClosing() {
		return nil, &ConnError{Code: CodeResumeRejected, Reason: "session has ended"}
	}
	if old := s.current(); old != nil {
		s.endAttachment(old)
		old.loops.Wait()
	}
	s.attMu.Lock()
	s.att = nil
	s.gen++ // a parking or a park timer of the old attachment is now stale
	if s.rs.parkTimer != nil {
		s.rs.parkTimer.Stop()
		s.rs.parkTimer = nil
	}
	s.attMu.Unlock()
	mine := s.positions()
	peer, lanes, err := exchange(mine)
	if err != nil {
		if s.rs.server != nil {
			s.rs.server.parked(s, s.generation())
		}
		return nil, err
	}
	s.reconcile(peer)
	s.stats.resumes.Add(1)
	return s.attach(conn, lanes), nil
}

func (s *Session) generation() uint64 {
	s.attMu.Lock()
	defer s.attMu.Unlock()
	return s.gen
}

// positions returns this side's view of every live stream.
func (s *Session) positions() *resumeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := &resumeInfo{LastStream: s.peerLastID, Streams: make([]streamPosition, 0, len(s.streams))}
	for id := range s.peerMissing {
		info.Missing = append(info.Missing, id)
	}
	slices.Sort(info.Missing)
	for _, st := range s.streams {
		st.mu.Lock()
		if !st.state.Terminal() {
			info.Streams = append(info.Streams, st.positionLocked())
		}
		st.mu.Unlock()
	}
	slices.SortFunc(info.Streams, func(a, b streamPosition) int { return int(int64(a.ID) - int64(b.ID)) })
	return info
}

func (st *Stream) positionLocked() streamPosition {
	p := streamPosition{ID: st.id}
	if st.recvClosed {
		p.Flags |= posClosed
	}
	if st.recvWin != nil {
		p.Received = st.recvTotal
		p.Credit = st.recvWin.Limit()
	}
	if st.canSend && st.rs != nil {
		p.From = st.rs.replay.base
	}
	if (st.local && st.accepted0()) || (!st.local && st.accepting) {
		p.Flags |= posAccepted
	}
	if st.pausedLocal {
		p.Flags |= posPaused
	}
	return p
}

// reconcile applies the peer's positions after a resume: it rewinds every
// stream's send position to what the peer received, restores credit, and
// queues the frames the peer may have missed (OPEN, ACCEPT, CLOSE, the last
// CHECKPOINT, how ended streams ended, GOAWAY). It runs while detached.
func (s *Session) reconcile(peer *resumeInfo) {
	byID := make(map[uint32]streamPosition, len(peer.Streams))
	for _, p := range peer.Streams {
		byID[p.ID] = p
	}
	var frames [][]byte
	var ready, check []*Stream
	type failure struct {
		st  *Stream
		err error
	}
	var failed []failure

	s.mu.Lock()
	// Queued control frames are rebuilt from the streams' state below (an OPEN
	// still queued would otherwise go out twice).
	s.wmu.Lock()
	for {
		if _, ok := s.control.Pop(); !ok {
			break
		}
	}
	s.wmu.Unlock()
	ids := make([]uint32, 0, len(s.streams))
	for id := range s.streams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := s.streams[id]
		p, known := byID[id]
		switch {
		case known:
			st.mu.Lock()
			fs, err := st.applyPeerLocked(p)
			frames = append(frames, fs...)
			if st.markReadyLocked() {
				ready = append(ready, st)
			}
			st.mu.Unlock()
			if err != nil {
				failed = append(failed, failure{st, err})
			}
			check = append(check, st)
		case st.local && (id > peer.LastStream || slices.Contains(peer.Missing, id)):
			frames = append(frames, st.openFrame()) // the peer never got the OPEN
		}
		// Otherwise the peer has ended the stream and repeats how (below, on its side).
	}
	for _, p := range peer.Streams {
		if _, ok := s.streams[p.ID]; ok {
			continue
		}
		peerOpened := (p.ID%2 == 1) != s.isClient
		_, missing := s.peerMissing[p.ID]
		if peerOpened && (p.ID > s.peerLastID || missing) || !peerOpened && p.ID >= s.nextID {
			continue // its OPEN is on the way again (or it is not ours to judge)
		}
		if rec, ok := s.rs.finished[p.ID]; ok {
			frames = append(frames, rec)
			continue
		}
		f := wire.Error{StreamID: p.ID, Code: CodeNotFound, Reason: "stream unknown after resume"}
		frames = append(frames, f.Append(nil))
	}
	if s.goAwaySent {
		frames = append(frames, wire.GoAway{LastStreamID: s.peerLastID, Code: CodeGoingAway, Reason: "going away"}.Append(nil))
	}
	s.wmu.Lock()
	s.prelude = append(s.prelude[:0], frames...)
	s.wmu.Unlock()
	s.mu.Unlock()

	for _, f := range failed {
		if st := f.st; st.end(StateFailed, f.err) {
			var ge *GapError
			if errors.As(f.err, &ge) {
				s.queuePrelude(wire.Error{StreamID: st.id, Code: CodeGap, Reason: ge.Error()}.Append(nil))
			}
		}
	}
	for _, st := range ready {
		s.schedule(st)
	}
	for _, st := range check {
		st.maybeComplete()
	}
}

// queuePrelude adds a frame to go out first on the next attachment.
func (s *Session) queuePrelude(frame []byte) {
	s.wmu.Lock()
	s.prelude = append(s.prelude, frame)
	s.wmu.Unlock()
}

// applyPeerLocked applies the peer's position of st. It returns frames to
// queue and an error that ends the stream (a gap on the send side).
func (st *Stream) applyPeerLocked(p streamPosition) ([][]byte, error) {
	if st.state.Terminal() {
		return nil, nil
	}
	var frames [][]byte
	if st.recvWin != nil && !st.recvClosed && p.From > st.recvTotal {
		gap := &GapError{StreamID: st.id, Offset: st.recvTotal, Size: p.From - st.recvTotal}
		if st.recvQ.size == 0 {
			return nil, gap
		}
		// Deliver what arrived, then the gap; send nothing more.
		st.rs.gap = gap
		st.writeClosed, st.closeSent = true, true
	}
	if st.canRecv {
		st.pausedRemote = p.Flags&posPaused != 0
		st.updatePausedStateLocked()
	}
	if !st.local && st.accepting && p.Flags&posAccepted == 0 {
		var window uint64
		if st.recvWin != nil {
			window = st.recvWin.Limit()
		}
		frames = append(frames, wire.Accept{StreamID: st.id, Window: window, Metadata: st.acceptMeta}.Append(nil))
	}
	if st.accepted0() && st.rs.gap == nil {
		sent := st.sendWin.Sent()
		switch {
		case p.Received > sent:
			return nil, &StreamError{StreamID: st.id, Code: CodeProtocol,
				Reason: fmt.Sprintf("peer resumed at %d bytes, only %d were sent", p.Received, sent)}
		case p.Received < st.rs.replay.base:
			return nil, &GapError{StreamID: st.id, Offset: p.Received, Size: st.rs.replay.base - p.Received}
		}
		if p.Received < sent {
			st.rs.highWater = max(st.rs.highWater, sent)
			st.rs.replay.rewind(&st.sendQ, p.Received, sent)
		}
		w := flowctl.NewSendWindow(max(st.sendWin.Limit(), p.Credit))
		w.SetStreamID(st.id)
		w.Consume(p.Received) //nolint:errcheck // p.Received ≤ sent ≤ the old limit
		st.sendWin = w
		if st.closeSent {
			if p.Flags&posClosed != 0 {
				st.rs.closeAcked = true
			} else {
				st.closeSent = false // the CLOSE was lost: send it again after the data
			}
		}
	}
	if st.rs.lastCheckpoint != nil {
		frames = append(frames, st.rs.lastCheckpoint)
	}
	return frames, nil
}

// openFrame encodes st's OPEN again.
func (st *Stream) openFrame() []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	var window uint64
	if st.recvWin != nil {
		window = st.recvWin.Limit()
	}
	f := wire.Open{StreamID: st.id, Kind: st.kind, Priority: st.priority, Window: window, Route: st.route, Metadata: st.meta}
	if st.checksum {
		f.Flags |= wire.FlagChecksum
	}
	return f.Append(nil)
}

// onAck trims st's replay buffer to what the peer received and, with FIN,
// records that the peer has our CLOSE.
func (s *Session) onAck(f wire.Ack) {
	st := s.lookup(f.StreamID)
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.rs == nil || st.state.Terminal() {
		st.mu.Unlock()
		return
	}
	sent := st.sendWin.Sent()
	st.rs.replay.trim(min(f.Received, sent), putChunk)
	done := false
	if f.Fin && st.closeSent && f.Received == sent {
		st.rs.closeAcked = true
		done = true
	}
	st.mu.Unlock()
	if done {
		st.maybeComplete()
	}
}

// finalFrame returns the frame that tells the peer how st ended, for the
// finished-stream records of a resumable session (nil: nothing to repeat).
func (st *Stream) finalFrame(state State, err error) []byte {
	switch state {
	case StateCompleted:
		return wire.Ack{StreamID: st.id, Fin: true, Received: st.recvTotal}.Append(nil)
	case StateCancelled, StateFailed:
		var ge *GapError
		if errors.As(err, &ge) {
			return wire.Error{StreamID: st.id, Code: CodeGap, Reason: ge.Error()}.Append(nil)
		}
		var se *StreamError
		if !errors.As(err, &se) || se.Remote {
			return nil
		}
		if state == StateCancelled {
			return wire.Cancel{StreamID: st.id, Code: se.Code, Reason: truncate(se.Reason, 1024)}.Append(nil)
		}
		return wire.Error{StreamID: st.id, Code: se.Code, Reason: truncate(se.Reason, 1024)}.Append(nil)
	}
	return nil
}

// recordFinished remembers frame as the way stream id ended.
func (s *Session) recordFinished(id uint32, frame []byte) {
	if s.rs == nil || frame == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rs.finished[id]; !ok {
		s.rs.finishedOrder = append(s.rs.finishedOrder, id)
	}
	s.rs.finished[id] = frame
	if len(s.rs.finishedOrder) > finishedCap {
		delete(s.rs.finished, s.rs.finishedOrder[0])
		s.rs.finishedOrder = slices.Delete(s.rs.finishedOrder, 0, 1)
	}
}

// pendingGapLocked returns the receive-side gap a resume found, if any.
func (st *Stream) pendingGapLocked() error {
	if st.rs == nil || st.rs.gap == nil {
		return nil
	}
	return st.rs.gap
}

// Resent returns the number of bytes of this stream sent again after resumes.
func (st *Stream) Resent() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rs == nil {
		return 0
	}
	return int64(st.rs.resent)
}

// SetReplayBuffer caps the bytes this stream keeps for replay after a
// transport loss (resumable sessions only): at most n sent but unacknowledged
// bytes; n ≤ 0 means Config.ReplayBuffer. A live source that cannot re-read
// its data uses a small cap to bound memory: after a cut longer than the cap
// covers, the receiver gets a *GapError with the exact number of bytes lost.
func (st *Stream) SetReplayBuffer(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rs == nil {
		return
	}
	if n <= 0 {
		n = st.sess.cfg.ReplayBuffer
	}
	st.rs.replay.limit = uint64(n)
}
