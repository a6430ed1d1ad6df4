package stream

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/streamd/streamd/stream/internal/wire"
)

// batch is the writer's scratch for one transport message: parts reference the
// arena (headers, control frames, compressed data) and stream chunks (raw data,
// sent without copying); release holds chunks to recycle once written.
type batch struct {
	parts   [][]byte // the main lane's message (every frame, without lanes)
	arena   []byte
	size    int
	release [][]byte
	done    []*Stream // streams whose CLOSE went out in this batch

	// With lanes (native streams mode), frames of stream X go to lane X, each
	// lane's its own message; lanes lists them in first-use order.
	laned bool
	lanes []laneParts
	spare []laneParts // reset lanes, for their slices' capacity
}

// laneParts is one lane's message in a batch.
type laneParts struct {
	id    uint32
	parts [][]byte
}

// partsFor returns the part list frames for lane id go to: the main lane's
// without lanes or for id 0.
func (b *batch) partsFor(id uint32) *[][]byte {
	if !b.laned || id == 0 {
		return &b.parts
	}
	for i := range b.lanes {
		if b.lanes[i].id == id {
			return &b.lanes[i].parts
		}
	}
	var lp laneParts
	if n := len(b.spare); n > 0 {
		lp, b.spare = b.spare[n-1], b.spare[:n-1]
	}
	lp.id = id
	b.lanes = append(b.lanes, lp)
	return &b.lanes[len(b.lanes)-1].parts
}

// empty reports whether the batch holds no frame.
func (b *batch) empty() bool { return len(b.parts) == 0 && len(b.lanes) == 0 }

func (b *batch) reset() {
	clear(b.parts)
	b.parts = b.parts[:0]
	for _, lp := range b.lanes {
		clear(lp.parts)
		lp.parts = lp.parts[:0]
		b.spare = append(b.spare, lp)
	}
	clear(b.lanes)
	b.lanes = b.lanes[:0]
	b.arena = b.arena[:0]
	b.size = 0
	for i, c := range b.release {
		putChunk(c)
		b.release[i] = nil
	}
	b.release = b.release[:0]
	clear(b.done)
	b.done = b.done[:0]
}

// add appends an encoded frame by copying it into the arena.
func (b *batch) add(frame []byte) {
	start := len(b.arena)
	b.arena = append(b.arena, frame...)
	ps := b.partsFor(laneOf(frame))
	*ps = append(*ps, b.arena[start:])
	b.size += len(frame)
}

// laneOf returns the lane an encoded frame travels on in native streams mode:
// its stream's, for the frames that must stay in order with the stream's DATA
// (OPEN, ACCEPT, DATA, CLOSE, CANCEL, ERROR, PAUSE, RESUME, CHECKPOINT); the
// main lane for session frames and for CREDIT and ACK, so that credit never
// waits behind data lost on the stream's lane (docs/WEBTRANSPORT.md §7).
func laneOf(frame []byte) uint32 {
	switch wire.FrameType(frame[0]) {
	case wire.TypeOpen, wire.TypeAccept, wire.TypeData, wire.TypeClose, wire.TypeCancel,
		wire.TypeError, wire.TypePause, wire.TypeResume, wire.TypeCheckpoint:
		return binary.BigEndian.Uint32(frame[2:6])
	}
	return 0
}

// writeLoop owns the transport's write side. Each round it packs, in order:
// control frames, pending CREDIT updates, events/requests/replies, then stream
// data round-robin by priority, up to the negotiated message size, and writes
// them as one message. It never waits for more frames: an empty queue sends
// what it has (no timer, no added latency).
func (s *Session) writeLoop(a *attachment) {
	defer s.loops.Done()
	defer a.loops.Done()
	defer close(a.writerDone)
	b := &batch{laned: a.lanes != nil}
	defer func() { putArena(b.arena) }()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-s.wake:
		case <-ping.C:
			if err := s.keepalive(); err != nil {
				if s.rs != nil { // a dead peer may come back: park
					s.connLost(a, err)
					return
				}
				a.conn.WriteMessage(wire.Error{Code: CodeTimeout, Reason: err.Error()}.Append(nil)) //nolint:errcheck // best effort
				s.shutdown(err, false)
				return
			}
		case <-s.done:
			return
		case <-a.stop:
			return
		}
		if b.arena == nil {
			b.arena = getArena()
		}
		for {
			closing := s.fill(b)
			if !b.empty() {
				if err := s.writeBatch(a, b); err != nil {
					b.reset()
					s.writeFailed(a, err)
					return
				}
				s.stats.bytesOut.Add(int64(b.size))
				for _, st := range b.done {
					st.maybeComplete()
				}
			}
			if a.lanes != nil {
				s.endLanes(a)
			}
			empty := b.empty()
			b.reset()
			if closing && empty {
				s.flushOnce.Do(func() { close(s.flushed) })
				select {
				case <-s.done:
				case <-a.stop:
				}
				return
			}
			if empty {
				// Going idle: an idle session holds no batch memory.
				putArena(b.arena)
				b.arena = nil
				break
			}
		}
	}
}

// writeBatch writes b: one message on each lane it uses, then the main lane's.
func (s *Session) writeBatch(a *attachment, b *batch) error {
	for _, lp := range b.lanes {
		if err := a.lanes.WriteLane(lp.id, lp.parts...); err != nil {
			return err
		}
		s.stats.msgsOut.Add(1)
	}
	if len(b.parts) > 0 {
		if err := a.conn.WriteMessage(b.parts...); err != nil {
			return err
		}
		s.stats.msgsOut.Add(1)
	}
	return nil
}

// endLanes ends the lanes of streams removed since the last call, once the
// control queue, which may still hold their last frames, is empty.
func (s *Session) endLanes(a *attachment) {
	s.wmu.Lock()
	if s.control.Len() > 0 || len(s.laneEnds) == 0 {
		s.wmu.Unlock()
		return
	}
	ids := s.laneEnds
	s.laneEnds = nil
	s.wmu.Unlock()
	for _, id := range ids {
		a.lanes.EndLane(id)
	}
}

// keepalive sends a PING and checks the idle timeout.
func (s *Session) keepalive() error {
	if idle := time.Duration(nanotime() - s.lastRecv.Load()); idle > s.cfg.IdleTimeout {
		return &ConnError{Code: CodeTimeout, Reason: "no frames from peer for " + idle.Round(time.Millisecond).String()}
	}
	return s.probeRTT()
}

// probeRTT sends a PING unless one is outstanding. PONGs feed the RTT estimate
// that window auto-tuning compares consumption against.
func (s *Session) probeRTT() error {
	now := nanotime()
	if !s.pingSent.CompareAndSwap(0, now) {
		return nil // previous PING unanswered; the idle check covers a dead peer
	}
	s.lastProbe.Store(now)
	var data [8]byte
	binary.BigEndian.PutUint64(data[:], uint64(now))
	return s.queueControl(wire.Ping{Data: data}.Append(nil))
}

// minProbeInterval spaces the RTT probes sent while streams stall on credit.
const minProbeInterval = int64(100 * time.Millisecond)

// fill packs the next message into b and reports whether the session is closing.
func (s *Session) fill(b *batch) (closing bool) {
	limit := min(s.maxMessage, batchBytes)
	s.wmu.Lock()
	for len(s.prelude) > 0 && b.size < limit {
		b.add(s.prelude[0])
		s.prelude[0] = nil
		s.prelude = s.prelude[1:]
	}
	for b.size < limit {
		f, ok := s.control.Pop()
		if !ok {
			break
		}
		b.add(f)
	}
	credits := s.credits
	s.credits = nil
	closing = s.closing
	if closing && s.final != nil {
		b.add(s.final)
		s.final = nil
	}
	s.wmu.Unlock()
	if closing {
		return true // only control frames and the final ERROR once closing
	}

	for _, st := range credits {
		st.mu.Lock()
		st.creditQueue = false
		if !st.state.Terminal() {
			if limit, ok := st.recvWin.PendingGrant(); ok {
				var hdr [wire.HeaderLen + 8]byte
				b.add(wire.Credit{StreamID: st.id, Limit: limit}.Append(hdr[:0]))
				if st.rs != nil {
					// Resumable: tell the sender what arrived, so its replay
					// buffer stays within about one window (docs/RESUME.md).
					b.add(wire.Ack{StreamID: st.id, Received: st.recvTotal}.Append(hdr[:0]))
				}
			}
		}
		st.mu.Unlock()
	}

	s.wmu.Lock()
	for b.size < limit {
		f, ok := s.urgent.Pop()
		if !ok {
			break
		}
		b.add(f)
	}
	s.wmu.Unlock()

	for b.size+wire.HeaderLen+8 < limit {
		s.wmu.Lock()
		id, ok := s.sched.Pop()
		s.wmu.Unlock()
		if !ok {
			break
		}
		st := s.lookup(id)
		if st == nil {
			continue
		}
		s.takeFrame(st, b, limit-b.size-wire.HeaderLen-8)
	}
	return false
}

// takeFrame moves one frame of st's data (or its CLOSE) into b and reschedules st
// if it has more to send.
func (s *Session) takeFrame(st *Stream, b *batch, room int) {
	st.mu.Lock()
	if !st.sendReadyLocked() {
		st.scheduled = false
		st.mu.Unlock()
		return
	}
	freed := false
	if st.sendQ.size > 0 {
		n := min(uint64(s.maxFrame), uint64(room), st.sendWin.Available())
		data := st.sendQ.peek(int(n))
		offset := st.sendWin.Sent()
		st.sendWin.Consume(uint64(len(data))) //nolint:errcheck // len(data) ≤ Available
		s.appendData(st, b, offset, data)
		if c := st.sendQ.advance(len(data)); c != nil {
			if st.rs != nil {
				st.rs.replay.keep(c, st.sendWin.Sent()) // kept until the peer acknowledges it
			} else {
				b.release = append(b.release, c)
			}
		}
		if st.rs != nil {
			b.release = st.rs.replay.enforceLimit(st.sendWin.Sent(), b.release)
			st.rs.countResent(s, offset, uint64(len(data)))
		}
		freed = true
	} else {
		// Everything queued is sent and CloseWrite was called: send CLOSE.
		f := wire.Close{StreamID: st.id, Total: st.sendWin.Sent()}
		if st.hashOut != nil {
			f.HasChecksum = true
			st.hashOut.Sum(f.SHA256[:0])
		}
		var buf [wire.HeaderLen + 8 + sha256.Size]byte
		b.add(f.Append(buf[:0]))
		st.closeSent = true
		b.done = append(b.done, st)
	}
	again := st.sendReadyLocked()
	if !again {
		st.scheduled = false
		if st.sendQ.size > 0 && st.sendWin.Available() == 0 {
			s.stats.creditStalls.Add(1)
			// A stall is when a fresh RTT sample helps the peer's window
			// auto-tuning; PINGs between keepalives keep it current.
			if nanotime()-s.lastProbe.Load() > minProbeInterval {
				s.probeRTT() //nolint:errcheck // a full control queue ends the session elsewhere
			}
		}
	}
	st.mu.Unlock()
	if freed {
		wakeup(st.writeWake)
	}
	if again {
		s.wmu.Lock()
		s.sched.Push(st.id, st.priority)
		s.wmu.Unlock()
	}
}

// appendData adds a DATA frame, compressed when that pays. Compression is per
// frame. A cheap entropy check (compress.Compressible, ~1-2 µs per 64 KiB)
// skips data that looks random; if a frame still does not shrink, the stream
// sends up to 7 frames raw before trying again, so incompressible data costs
// almost nothing and a compressible region after it is picked up within 512 KiB.
func (s *Session) appendData(st *Stream, b *batch, offset uint64, data []byte) {
	flags := uint8(0)
	payload := data
	if s.sendAlg != compress.None && len(data) >= s.cfg.CompressThreshold {
		if st.compressSkip > 0 {
			st.compressSkip--
		} else if compress.Compressible(data) {
			start := len(b.arena) + wire.HeaderLen + 8
			out, err := s.codec.Compress(s.sendAlg, b.arena[start:start], data)
			if err == nil && len(out) < len(data) {
				st.compressMiss = 0
				flags = uint8(s.sendAlg)
				hdrStart := len(b.arena)
				b.arena = wire.AppendDataHeader(b.arena, st.id, flags, offset, len(out))
				if len(out) > 0 && cap(out) == cap(b.arena)-start && &out[:1][0] == &b.arena[start : start+1][0] {
					b.arena = b.arena[:start+len(out)] // compressed in place
				} else {
					b.arena = append(b.arena, out...) // the codec had to grow its buffer
				}
				ps := b.partsFor(st.id)
				*ps = append(*ps, b.arena[hdrStart:])
				b.size += wire.HeaderLen + 8 + len(out)
				s.stats.rawOut.Add(int64(len(data)))
				s.stats.compressedOut.Add(int64(len(out)))
				s.stats.dataOut.Add(int64(len(data)))
				return
			}
			st.compressMiss = min(st.compressMiss+1, 3)
			st.compressSkip = 1<<st.compressMiss - 1
		}
	}
	hdrStart := len(b.arena)
	b.arena = wire.AppendDataHeader(b.arena, st.id, flags, offset, len(payload))
	ps := b.partsFor(st.id)
	*ps = append(*ps, b.arena[hdrStart:], payload)
	b.size += wire.HeaderLen + 8 + len(payload)
	s.stats.dataOut.Add(int64(len(data)))
}

func isFrameSize(err error) bool { return errors.Is(err, wire.ErrFrameSize) }

// batchBytes caps one transport message. Bigger batches mean fewer writes, but
// the receiver can parse nothing until a whole message has arrived, so past a
// few frames they only add latency and cost pipelining between the two ends.
var batchBytes = 256 << 10

// arenaPool holds writer arenas: control frames, headers and compressed data of
// one batch. An arena is sized so that a full batch never reallocates it (the
// batch's parts point into it); sessions borrow one only while they write.
var arenaPool = sync.Pool{New: func() any { b := make([]byte, 0, 2*batchBytes+8192); return &b }}

func getArena() []byte { return (*arenaPool.Get().(*[]byte))[:0] }

func putArena(b []byte) {
	if b == nil || cap(b) < 2*batchBytes+8192 {
		return
	}
	b = b[:0]
	arenaPool.Put(&b)
}
