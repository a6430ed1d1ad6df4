package stream

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streamd/streamd/flowctl"
	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// readLoop owns the transport's read side: it parses every frame of every
// message and dispatches it. It never blocks on the application: data goes into
// the stream's buffer (bounded by the credit this side granted).
func (s *Session) readLoop(a *attachment) {
	defer s.loops.Done()
	defer a.loops.Done()
	lim := wire.Limits{MaxFrame: uint32(s.maxFrame)}
	var scratch []byte // for decompressed frames; allocated on first use
	for {
		msg, err := a.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, transport.ErrMessageTooLarge) {
				s.shutdown(s.transportError(err), false) // not a cut: resuming would not help
				return
			}
			s.connLost(a, err)
			return
		}
		s.lastRecv.Store(nanotime())
		s.stats.bytesIn.Add(int64(len(msg)))
		s.stats.msgsIn.Add(1)
		for len(msg) > 0 {
			h, payload, n, err := wire.ParseFrame(msg, lim)
			if err != nil {
				s.shutdown(&ConnError{Code: CodeFrameSize, Reason: err.Error()}, true)
				return
			}
			msg = msg[n:]
			if err := s.handleFrame(h, payload, &scratch); err != nil {
				s.shutdown(err, true)
				return
			}
		}
	}
}

func protoErr(format string, args ...any) error {
	return &ConnError{Code: CodeProtocol, Reason: fmt.Sprintf(format, args...)}
}

// handleFrame applies one frame. It returns a connection error; stream errors
// are dealt with here.
func (s *Session) handleFrame(h wire.Header, p []byte, scratch *[]byte) error {
	switch h.Type {
	case wire.TypeData:
		f, err := wire.ParseData(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onData(f, scratch)
	case wire.TypeCredit:
		f, err := wire.ParseCredit(h, p)
		if err != nil {
			return frameErr(err)
		}
		s.onCredit(f)
	case wire.TypeOpen:
		f, err := wire.ParseOpen(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onOpen(f)
	case wire.TypeAccept:
		f, err := wire.ParseAccept(h, p)
		if err != nil {
			return frameErr(err)
		}
		s.onAccept(f)
	case wire.TypeClose:
		f, err := wire.ParseClose(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onClose(f)
	case wire.TypeCancel:
		f, err := wire.ParseCancel(h, p)
		if err != nil {
			return frameErr(err)
		}
		if st := s.lookup(f.StreamID); st != nil {
			st.end(StateCancelled, &StreamError{StreamID: f.StreamID, Code: f.Code, Reason: f.Reason, Remote: true})
		}
	case wire.TypeError:
		f, err := wire.ParseError(h, p)
		if err != nil {
			return frameErr(err)
		}
		if f.StreamID == 0 {
			return &ConnError{Code: f.Code, Reason: f.Reason, Remote: true}
		}
		if st := s.lookup(f.StreamID); st != nil {
			st.end(StateFailed, &StreamError{StreamID: f.StreamID, Code: f.Code, Reason: f.Reason, Remote: true})
		}
	case wire.TypePause, wire.TypeResume:
		if st := s.lookup(h.StreamID); st != nil {
			st.mu.Lock()
			st.pausedRemote = h.Type == wire.TypePause
			st.updatePausedStateLocked()
			push := st.markReadyLocked()
			st.mu.Unlock()
			if push {
				s.schedule(st)
			}
		}
	case wire.TypePing:
		f, err := wire.ParsePing(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.queueControl(wire.Pong{Data: f.Data}.Append(nil))
	case wire.TypePong:
		if sent := s.pingSent.Swap(0); sent != 0 {
			s.rttStats.AddSample(time.Duration(nanotime() - sent))
		}
	case wire.TypeGoAway:
		if _, err := wire.ParseGoAway(h, p); err != nil {
			return frameErr(err)
		}
		s.mu.Lock()
		s.goAwayRecv = true
		s.mu.Unlock()
	case wire.TypeEvent:
		f, err := wire.ParseEvent(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onEvent(f, scratch)
	case wire.TypeRequest:
		f, err := wire.ParseRequest(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onRequest(f, scratch)
	case wire.TypeReply:
		f, err := wire.ParseReply(h, p)
		if err != nil {
			return frameErr(err)
		}
		return s.onReply(f, scratch)
	case wire.TypeCheckpoint:
		f, err := wire.ParseCheckpoint(h, p)
		if err != nil {
			return frameErr(err)
		}
		if st := s.lookup(f.StreamID); st != nil {
			st.onCheckpoint(f.Offset, f.Token)
		}
	case wire.TypeAck:
		f, err := wire.ParseAck(h, p)
		if err != nil {
			return frameErr(err)
		}
		s.onAck(f)
	case wire.TypeHello, wire.TypeWelcome:
		return protoErr("%v after the handshake", h.Type)
	default:
		// Unknown frame types are ignored (docs/PROTOCOL.md §2.3).
	}
	return nil
}

func frameErr(err error) error {
	code := CodeProtocol
	if isFrameSize(err) {
		code = CodeFrameSize
	}
	return &ConnError{Code: code, Reason: err.Error()}
}

// decompress returns the frame's data, decompressed into scratch if flagged.
func (s *Session) decompress(flags uint8, data []byte, scratch *[]byte) ([]byte, error) {
	alg := compress.Algorithm(flags & wire.FlagCompressMask)
	if alg == compress.None {
		if len(data) > s.maxFrame {
			return nil, fmt.Errorf("%w: %d data bytes > max frame %d", ErrFrameSize, len(data), s.maxFrame)
		}
		return data, nil
	}
	if int(alg) >= len(s.recvAlgs) || !s.recvAlgs[alg] {
		return nil, fmt.Errorf("%w: algorithm %v was not negotiated", ErrCompression, alg)
	}
	if *scratch == nil {
		*scratch = make([]byte, 0, s.maxFrame+1)
	}
	out, err := s.codec.Decompress(alg, (*scratch)[:0], data, s.maxFrame)
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrCompression, alg, err)
	}
	*scratch = out[:0]
	return out, nil
}

func (s *Session) onData(f wire.Data, scratch *[]byte) error {
	st := s.lookup(f.StreamID)
	if st == nil {
		return s.unknownStream(f.StreamID, wire.TypeData)
	}
	data, err := s.decompress(f.Flags, f.Data, scratch)
	if err != nil {
		st.fail(&StreamError{StreamID: st.id, Code: CodeCompression, Reason: err.Error()}, true)
		return nil
	}
	if !st.canRecv {
		st.fail(&StreamError{StreamID: st.id, Code: CodeProtocol, Reason: fmt.Sprintf("DATA on the sending side of a %v stream", st.kind)}, true)
		return nil
	}
	// Large frames are copied into a chunk before taking the stream's lock, so
	// the application's Read is not held up by the copy.
	var chunk []byte
	if len(data) >= smallChunk {
		chunk = append(getChunk(len(data)), data...)
	}
	st.mu.Lock()
	if st.state.Terminal() {
		st.mu.Unlock()
		return nil // in flight when we ended it
	}
	if st.recvClosed {
		st.mu.Unlock()
		st.fail(&StreamError{StreamID: st.id, Code: CodeProtocol, Reason: "DATA after CLOSE"}, true)
		return nil
	}
	if err := st.recvWin.OnData(f.Offset, uint64(len(data))); err != nil {
		st.mu.Unlock()
		code := CodeFlowControl
		if fe, ok := err.(*flowctl.FlowError); ok {
			fe.StreamID = st.id
		}
		st.fail(&StreamError{StreamID: st.id, Code: code, Reason: err.Error()}, true)
		return nil
	}
	if chunk != nil {
		st.recvQ.appendChunk(chunk)
	} else {
		st.recvQ.write(data, math.MaxInt)
	}
	st.recvTotal += uint64(len(data))
	st.mu.Unlock()
	s.stats.dataIn.Add(int64(len(data)))
	wakeup(st.readWake)
	return nil
}

// notePeerOpen checks the id of a stream the peer opens and records it; s.mu
// is held. Ids must rise, except that with lanes an OPEN may overtake others:
// the ids it skipped are remembered (bounded by MaxStreams) until their OPENs
// arrive, on these lanes or, after a resume, on any transport.
func (s *Session) notePeerOpen(id uint32) error {
	if id <= s.peerLastID {
		if _, ok := s.peerMissing[id]; !ok {
			return protoErr("stream id %d not above %d", id, s.peerLastID)
		}
		delete(s.peerMissing, id)
		return nil
	}
	if s.lanesOn.Load() && id-s.peerLastID > 2 {
		if (id-s.peerLastID)/2 > uint32(s.cfg.MaxStreams) || len(s.peerMissing) >= s.cfg.MaxStreams {
			return protoErr("stream id %d skips more than %d streams", id, s.cfg.MaxStreams)
		}
		if s.peerMissing == nil {
			s.peerMissing = make(map[uint32]struct{})
		}
		for skipped := id - 2; skipped > s.peerLastID && skipped < id; skipped -= 2 {
			s.peerMissing[skipped] = struct{}{}
		}
	}
	s.peerLastID = id
	return nil
}

// unknownStream decides whether a frame for an id with no live stream is stale
// (the stream ended; frames in flight are ignored) or a protocol violation.
func (s *Session) unknownStream(id uint32, t wire.FrameType) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ours := (id%2 == 1) == s.isClient
	if ours && id < s.nextID || !ours && id <= s.peerLastID {
		return nil
	}
	return protoErr("%v for stream %d that was never opened", t, id)
}

func wakeup(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *Session) onCredit(f wire.Credit) {
	st := s.lookup(f.StreamID)
	if st == nil {
		return
	}
	st.mu.Lock()
	grew := st.sendWin.Update(f.Limit)
	push := grew && st.markReadyLocked()
	st.mu.Unlock()
	if push {
		s.schedule(st)
	}
}

func (s *Session) onOpen(f wire.Open) error {
	if (f.StreamID%2 == 1) == s.isClient {
		return protoErr("peer opened stream %d with this side's parity", f.StreamID)
	}
	s.mu.Lock()
	if err := s.notePeerOpen(f.StreamID); err != nil {
		s.mu.Unlock()
		return err
	}
	var refuse *StreamError
	handler := s.mux.streamHandler(f.Route, f.Kind)
	switch {
	case !f.Kind.Valid():
		refuse = &StreamError{Code: CodeProtocol, Reason: fmt.Sprintf("unknown kind %d", f.Kind)}
	case s.goAwaySent:
		refuse = &StreamError{Code: CodeGoingAway, Reason: "session is going away"}
	case s.peerStreams >= s.cfg.MaxStreams:
		refuse = &StreamError{Code: CodeStreamLimit, Reason: fmt.Sprintf("%d streams open, limit %d", s.peerStreams, s.cfg.MaxStreams)}
	case handler == nil:
		refuse = &StreamError{Code: CodeNoRoute, Reason: fmt.Sprintf("no handler for %v stream %q", f.Kind, f.Route)}
	}
	if refuse != nil {
		s.mu.Unlock()
		ef := wire.Error{StreamID: f.StreamID, Code: refuse.Code, Reason: refuse.Reason}
		s.recordFinished(f.StreamID, ef.Append(nil))
		return s.queueControl(ef.Append(nil))
	}
	meta := append([]byte(nil), f.Metadata...)
	st := newStream(s, f.StreamID, f.Kind, f.Route, false, meta, f.Flags&wire.FlagChecksum != 0, f.Priority)
	st.sendWin = flowctl.NewSendWindow(f.Window)
	s.streams[f.StreamID] = st
	s.peerStreams++
	s.handlers.Add(1)
	s.mu.Unlock()
	go s.runHandler(st, handler)
	return nil
}

// runHandler serves one accepted stream and finishes it when the handler returns.
func (s *Session) runHandler(st *Stream, h StreamHandler) {
	defer s.handlers.Done()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("handler panic: %v", r)
				s.log.Error("stream handler panic", "route", st.route, "panic", r)
			}
		}()
		return h(st.ctx, st)
	}()
	if err != nil {
		st.fail(err, true)
		return
	}
	if err := st.accept(nil); err != nil {
		return
	}
	st.Close() //nolint:errcheck // the outcome is the stream's state
}

func (s *Session) onAccept(f wire.Accept) {
	st := s.lookup(f.StreamID)
	if st == nil || !st.local {
		return
	}
	st.mu.Lock()
	if st.state != StateOpening {
		st.mu.Unlock()
		return
	}
	st.state = StateActive
	st.acceptMeta = append([]byte(nil), f.Metadata...)
	st.sendWin = flowctl.NewSendWindow(f.Window)
	close(st.accepted)
	push := st.markReadyLocked()
	st.mu.Unlock()
	if push {
		s.schedule(st)
	}
}

func (s *Session) onClose(f wire.Close) error {
	st := s.lookup(f.StreamID)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	if st.recvClosed || st.state.Terminal() {
		st.mu.Unlock()
		return nil
	}
	if f.Total != st.recvTotal {
		st.mu.Unlock()
		st.fail(&StreamError{StreamID: st.id, Code: CodeIntegrity,
			Reason: fmt.Sprintf("peer closed at %d bytes, %d received", f.Total, st.recvTotal)}, true)
		return nil
	}
	st.recvClosed = true
	if f.HasChecksum && st.canRecv && st.hashIn != nil {
		sum := f.SHA256
		st.peerSum = &sum
	}
	resumable := st.rs != nil
	st.mu.Unlock()
	wakeup(st.readWake)
	if resumable {
		// The sender keeps the stream until it knows its CLOSE arrived.
		if err := s.queueControl(wire.Ack{StreamID: st.id, Fin: true, Received: f.Total}.Append(nil)); err != nil {
			return err
		}
	}
	if !st.canRecv {
		st.maybeComplete()
	}
	return nil
}

func (st *Stream) onCheckpoint(offset uint64, token []byte) {
	st.mu.Lock()
	if offset > st.peerCheckpoint {
		st.peerCheckpoint = offset
		st.peerCheckpointToken = append(st.peerCheckpointToken[:0], token...)
	}
	st.mu.Unlock()
}
