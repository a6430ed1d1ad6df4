package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/streamd/streamd/stream/internal/wire"
)

type reply struct {
	code Code
	data []byte
}

type event struct {
	name string
	data []byte
}

// RequestError is a non-success REPLY: the peer's handler failed, was missing,
// or the peer was busy. It matches the sentinel of its code (ErrBusy, ErrNoRoute…).
type RequestError struct {
	Name   string
	Code   Code
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("request %q: %s: %s", e.Name, e.Code, e.Reason)
}

// Is reports whether target is the sentinel of e's code.
func (e *RequestError) Is(target error) bool { return codeSentinels[e.Code] == target }

// Emit sends an event [name data] to the peer. Events go ahead of stream data and
// arrive in order. data must fit one frame (MaxFrame after compression choice).
func (s *Session) Emit(name string, data []byte) error {
	if err := s.checkMessage(name, data); err != nil {
		return err
	}
	flags, payload := s.compressSmall(data)
	f := wire.Event{Flags: flags, Name: name, Data: payload}
	return s.queueUrgent(f.Append(nil))
}

// Request sends [name data] and waits for the reply. Without a deadline on ctx
// it waits Config.RequestTimeout. A timeout returns an error matching
// ErrTimeout (and net.Error's Timeout()).
func (s *Session) Request(ctx context.Context, name string, data []byte) ([]byte, error) {
	if err := s.checkMessage(name, data); err != nil {
		return nil, err
	}
	timeout := s.cfg.RequestTimeout
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	ch := make(chan reply, 1)
	s.reqMu.Lock()
	if err := s.Err(); err != nil {
		s.reqMu.Unlock()
		return nil, err
	}
	s.reqNext++
	if s.reqNext == 0 {
		s.reqNext = 1
	}
	id := s.reqNext
	s.pending[id] = ch
	s.reqMu.Unlock()
	forget := func() {
		s.reqMu.Lock()
		delete(s.pending, id)
		s.reqMu.Unlock()
	}

	flags, payload := s.compressSmall(data)
	f := wire.Request{ID: id, Flags: flags, TimeoutMS: uint32(min(timeout.Milliseconds(), 1<<31)), Name: name, Data: payload}
	if err := s.queueUrgent(f.Append(nil)); err != nil {
		forget()
		return nil, err
	}
	var expired <-chan time.Time
	if !hasDeadline { // with a deadline, ctx.Done reports it
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, s.Err()
		}
		if r.code != CodeNoError {
			return nil, &RequestError{Name: name, Code: r.code, Reason: string(r.data)}
		}
		return r.data, nil
	case <-expired:
		forget()
		return nil, fmt.Errorf("request %q: %w after %v", name, ErrTimeout, timeout)
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-s.done:
		return nil, s.Err()
	}
}

func (s *Session) checkMessage(name string, data []byte) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w: name must be 1-255 bytes", ErrInvalidArgument)
	}
	if len(data) > s.maxFrame {
		return fmt.Errorf("%w: %d bytes > max frame %d; use a stream", ErrMessageTooLarge, len(data), s.maxFrame)
	}
	return s.Err()
}

// compressSmall compresses an event/request/reply payload when it pays.
func (s *Session) compressSmall(data []byte) (uint8, []byte) {
	if s.sendAlg == compress.None || len(data) < s.cfg.CompressThreshold {
		return 0, data
	}
	out, err := s.codec.Compress(s.sendAlg, nil, data)
	if err != nil || len(out) >= len(data) {
		return 0, data
	}
	return uint8(s.sendAlg), out
}

func (s *Session) onEvent(f wire.Event, scratch *[]byte) error {
	data, err := s.decompress(f.Flags, f.Data, scratch)
	if err != nil {
		return &ConnError{Code: CodeCompression, Reason: fmt.Sprintf("event %q: %v", f.Name, err)}
	}
	h := s.mux.eventHandler(f.Name)
	if h == nil {
		s.log.Debug("event without handler", "name", f.Name)
		return nil
	}
	s.eventsOnce.Do(func() {
		s.events = make(chan event, s.cfg.MaxQueuedEvents)
		s.loops.Add(1)
		go s.dispatchEvents()
	})
	select {
	case s.events <- event{name: f.Name, data: append([]byte(nil), data...)}:
		return nil
	default:
		return &ConnError{Code: CodeControlQueueFull, Reason: fmt.Sprintf("more than %d events waiting for delivery", s.cfg.MaxQueuedEvents)}
	}
}

// dispatchEvents delivers events in order on one goroutine.
func (s *Session) dispatchEvents() {
	defer s.loops.Done()
	for {
		select {
		case ev := <-s.events:
			if h := s.mux.eventHandler(ev.name); h != nil {
				func() {
					defer func() {
						if r := recover(); r != nil {
							s.log.Error("event handler panic", "name", ev.name, "panic", r)
						}
					}()
					h(s, ev.data)
				}()
			}
		case <-s.done:
			return
		}
	}
}

func (s *Session) onRequest(f wire.Request, scratch *[]byte) error {
	data, err := s.decompress(f.Flags, f.Data, scratch)
	if err != nil {
		return &ConnError{Code: CodeCompression, Reason: fmt.Sprintf("request %q: %v", f.Name, err)}
	}
	h := s.mux.requestHandler(f.Name)
	if h == nil {
		s.sendReply(f.ID, CodeNoRoute, []byte(fmt.Sprintf("no handler for request %q", f.Name)))
		return nil
	}
	select {
	case s.reqSem <- struct{}{}:
	default:
		s.sendReply(f.ID, CodeBusy, []byte(fmt.Sprintf("%d requests in progress", cap(s.reqSem))))
		return nil
	}
	timeout := s.cfg.RequestTimeout
	if f.TimeoutMS > 0 {
		timeout = time.Duration(f.TimeoutMS) * time.Millisecond
	}
	in := append([]byte(nil), data...)
	s.handlers.Add(1)
	go func() {
		defer s.handlers.Done()
		code, out := s.runRequest(h, in, timeout)
		// Free the slot before the reply leaves: a client that waits for each
		// reply before sending the next request must never see BUSY.
		<-s.reqSem
		s.sendReply(f.ID, code, out)
	}()
	return nil
}

// runRequest runs one request handler under its deadline and maps its result
// to the reply code and payload.
func (s *Session) runRequest(h RequestHandler, in []byte, timeout time.Duration) (Code, []byte) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	out, err := func() (out []byte, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("handler panic: %v", r)
			}
		}()
		return h(ctx, s, in)
	}()
	if err != nil {
		code := codeOf(err, CodeInternal)
		if errors.Is(err, context.DeadlineExceeded) {
			code = CodeTimeout
		}
		return code, []byte(truncate(err.Error(), 1024))
	}
	if len(out) > s.maxFrame {
		return CodeMessageTooLarge, []byte(fmt.Sprintf("reply of %d bytes > max frame %d", len(out), s.maxFrame))
	}
	return CodeNoError, out
}

func (s *Session) sendReply(id uint32, code Code, data []byte) {
	flags, payload := uint8(0), data
	if code == CodeNoError {
		flags, payload = s.compressSmall(data)
	}
	f := wire.Reply{ID: id, Flags: flags, Code: code, Data: payload}
	if err := s.queueUrgent(f.Append(nil)); err != nil {
		s.log.Warn("reply dropped: writer queue full", "id", id)
	}
}

func (s *Session) onReply(f wire.Reply, scratch *[]byte) error {
	data, err := s.decompress(f.Flags, f.Data, scratch)
	if err != nil {
		return &ConnError{Code: CodeCompression, Reason: fmt.Sprintf("reply %d: %v", f.ID, err)}
	}
	s.reqMu.Lock()
	ch, ok := s.pending[f.ID]
	delete(s.pending, f.ID)
	s.reqMu.Unlock()
	if ok {
		ch <- reply{code: f.Code, data: append([]byte(nil), data...)}
	}
	return nil
}
