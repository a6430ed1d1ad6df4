package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/flowctl"
	"github.com/streamd/streamd/stream/internal/compress"
	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// Session is one connection carrying many streams, events and requests. Create
// one with Dial or Client (client side) or let a Server accept it.
//
// Concurrency: all methods are safe for concurrent use. One reader goroutine and
// one writer goroutine own the transport; everything else hands frames to the
// writer through bounded queues.
type Session struct {
	conn      transport.Conn
	cfg       Config
	isClient  bool
	mux       *Mux
	codec     *compress.Codec
	log       *slog.Logger
	id        string
	principal string

	// Negotiated in the handshake, read-only afterwards.
	maxFrame       int
	maxMessage     int
	sendAlg        compress.Algorithm
	recvAlgs       [4]bool // algorithms the peer may send us
	peerMaxStreams int
	resumeToken    string

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
	loops     sync.WaitGroup // reader, writer, event dispatcher
	handlers  sync.WaitGroup // stream and request handlers

	budget *flowctl.Budget

	mu         sync.Mutex
	streams    map[uint32]*Stream
	nextID     uint32
	peerLastID uint32
	// peerMissing holds peer stream ids below peerLastID whose OPEN has not
	// arrived: with lanes, OPENs travel on their streams' lanes and may
	// overtake each other (native streams mode).
	peerMissing map[uint32]struct{}
	peerStreams int
	goAwaySent  bool
	goAwayRecv  bool

	// Writer queues, guarded by wmu (innermost lock: never take another lock
	// while holding it).
	wmu     sync.Mutex
	control *flowctl.ControlQueue[[]byte]
	urgent  *flowctl.ControlQueue[[]byte]
	credits []*Stream
	sched   flowctl.SendScheduler
	closing bool
	final   []byte // the last frame to send when closing
	wake    chan struct{}
	flushed chan struct{}
	// prelude holds frames that go out first on the next attachment (frames
	// a resume found the peer missing); guarded by wmu.
	prelude   [][]byte
	flushOnce sync.Once
	// laneEnds lists streams whose lanes the writer ends (native streams
	// mode); guarded by wmu.
	laneEnds []uint32
	// lanesOn is set while the session runs on lanes.
	lanesOn atomic.Bool

	// The transport the session runs on (resume.go): att is nil while a
	// resumable session is parked; resumeMu serializes resumes.
	attMu    sync.Mutex
	att      *attachment
	gen      uint64
	resumeMu sync.Mutex
	rs       *sessionResume // nil: not resumable

	reqMu   sync.Mutex
	reqNext uint32
	pending map[uint32]chan reply
	reqSem  chan struct{}

	events     chan event
	eventsOnce sync.Once

	lastRecv  atomic.Int64     // unix nanos of the last message received
	pingSent  atomic.Int64     // unix nanos of the outstanding PING, 0 if none
	lastProbe atomic.Int64     // unix nanos of the last PING sent
	rttStats  flowctl.RTTStats // smoothed round-trip time, shared by all receive windows

	stats sessionStats
}

type sessionStats struct {
	bytesIn, bytesOut     atomic.Int64 // transport bytes
	msgsIn, msgsOut       atomic.Int64 // transport messages
	dataIn, dataOut       atomic.Int64 // stream data bytes (decompressed)
	rawOut, compressedOut atomic.Int64 // data bytes before and after compression
	creditStalls          atomic.Int64 // times a stream had data but no credit
	streamsOpened         atomic.Int64 // streams opened by either side
	resent                atomic.Int64 // stream data bytes sent again after resumes
	resumes, disconnects  atomic.Int64 // transports re-attached and lost (resumable sessions)
	resentBase            atomic.Int64 // resent when the current transport was attached
	resentMax             atomic.Int64 // most bytes re-sent on one transport
}

// Stats is a snapshot of a session's counters.
type Stats struct {
	// BytesIn and BytesOut count transport message bytes.
	BytesIn, BytesOut int64
	// MessagesIn and MessagesOut count transport messages (BytesOut/MessagesOut
	// is the writer's average batch).
	MessagesIn, MessagesOut int64
	// DataIn and DataOut count stream data bytes as the application sees them.
	DataIn, DataOut int64
	// CompressedIn counts data bytes that were compressed on the wire; the
	// compression ratio of outgoing data is DataOut / (DataOut - RawOut + CompressedOut).
	RawOut, CompressedOut int64
	// CreditStalls counts the times the writer found a stream with data queued
	// but no credit left (the peer's reader is the bottleneck).
	CreditStalls int64
	// StreamsOpened counts the streams opened on the session by either side.
	StreamsOpened int64
	// Streams is the number of open streams.
	Streams int
	// RTT is the smoothed round-trip time from PING/PONG.
	RTT time.Duration
	// Resent counts stream data bytes sent a second time after resumes (the
	// peer had not received them when the transport was lost); DataOut
	// includes them. MaxResentPerResume is the most of them sent on one
	// transport, i.e. the worst cost of one cut.
	Resent, MaxResentPerResume int64
	// Resumes counts transports re-attached to the session, Disconnects
	// transports lost while the session went on (resumable sessions only).
	Resumes, Disconnects int64
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	n := len(s.streams)
	s.mu.Unlock()
	return Stats{
		BytesIn: s.stats.bytesIn.Load(), BytesOut: s.stats.bytesOut.Load(),
		MessagesIn: s.stats.msgsIn.Load(), MessagesOut: s.stats.msgsOut.Load(),
		DataIn: s.stats.dataIn.Load(), DataOut: s.stats.dataOut.Load(),
		RawOut: s.stats.rawOut.Load(), CompressedOut: s.stats.compressedOut.Load(),
		CreditStalls: s.stats.creditStalls.Load(), StreamsOpened: s.stats.streamsOpened.Load(),
		Streams: n, RTT: s.rttStats.Smoothed(),
		Resent: s.stats.resent.Load(), Resumes: s.stats.resumes.Load(), Disconnects: s.stats.disconnects.Load(),
		MaxResentPerResume: max(s.stats.resentMax.Load(), s.stats.resent.Load()-s.stats.resentBase.Load()),
	}
}

func newSession(conn transport.Conn, cfg *Config, isClient bool) *Session {
	c := cfg.withDefaults()
	s := &Session{
		conn:       conn,
		cfg:        c,
		isClient:   isClient,
		mux:        c.Mux,
		log:        c.Logger,
		codec:      codecFor(c.ZstdLevel, c.GzipLevel),
		maxFrame:   c.MaxFrame,
		maxMessage: c.MaxMessage,
		done:       make(chan struct{}),
		streams:    make(map[uint32]*Stream),
		control:    flowctl.NewControlQueue[[]byte](c.MaxQueuedControl),
		urgent:     flowctl.NewControlQueue[[]byte](c.MaxQueuedEvents + c.MaxConcurrentRequests),
		wake:       make(chan struct{}, 1),
		flushed:    make(chan struct{}),
		pending:    make(map[uint32]chan reply),
		reqSem:     make(chan struct{}, c.MaxConcurrentRequests),
		budget:     flowctl.NewBudget(uint64(c.ConnWindow)),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if isClient {
		s.nextID = 1
	} else {
		s.nextID = 2
	}
	s.lastRecv.Store(time.Now().UnixNano())
	return s
}

// start runs the reader and writer once the handshake is done.
func (s *Session) start(lanes bool) *attachment {
	a := s.attach(s.conn, lanes)
	s.probeRTT() //nolint:errcheck // an RTT sample from the start, for window auto-tuning
	return a
}

// Resumable reports whether the session survives the loss of its transport
// (both sides agreed on resume in the handshake; see docs/RESUME.md).
func (s *Session) Resumable() bool { return s.rs != nil }

// MaxFrame returns the negotiated largest payload of one frame: the most an
// event, request or reply may carry.
func (s *Session) MaxFrame() int { return s.maxFrame }

// ID returns the session id the server assigned.
func (s *Session) ID() string { return s.id }

// Principal returns the authenticated principal ("" when anonymous).
func (s *Session) Principal() string { return s.principal }

// ResumeToken returns the token that can resume this session ("" if none).
func (s *Session) ResumeToken() string { return s.resumeToken }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Context is cancelled when the session ends.
func (s *Session) Context() context.Context { return s.ctx }

// Err returns why the session ended, nil while it runs.
func (s *Session) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// NumStreams returns the number of open streams.
func (s *Session) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Close ends the session: it tells the peer (ERROR NO_ERROR), closes the
// transport, fails open streams and waits until every goroutine of the session,
// including stream handlers, has returned.
func (s *Session) Close() error {
	s.shutdown(&ConnError{Code: CodeNoError, Reason: "closed"}, true)
	s.loops.Wait()
	s.handlers.Wait()
	return nil
}

// GoAway announces a graceful shutdown: the peer may open no more streams; the
// streams already open go on.
func (s *Session) GoAway(code Code, reason string) error {
	s.mu.Lock()
	s.goAwaySent = true
	last := s.peerLastID
	s.mu.Unlock()
	f := wire.GoAway{LastStreamID: last, Code: code, Reason: truncate(reason, 1024)}
	return s.queueControl(f.Append(nil))
}

// OpenOptions describe a stream to open.
type OpenOptions struct {
	// Route is the name the peer registered (required).
	Route string
	// Kind is the stream kind (required).
	Kind Kind
	// Metadata is marshalled to JSON and sent with OPEN (nil: none).
	Metadata any
	// Priority 0–7: higher is served first by the peer (default 0).
	Priority uint8
	// Checksum makes both sides send and verify a SHA-256 of their data.
	Checksum bool
}

// Open opens a stream and waits for the peer to accept it. A refusal comes back
// as a *StreamError (errors.Is(err, ErrNoRoute), ErrStreamLimit, ...).
func (s *Session) Open(ctx context.Context, opts OpenOptions) (*Stream, error) {
	if !opts.Kind.Valid() {
		return nil, fmt.Errorf("%w: kind %d", ErrInvalidArgument, opts.Kind)
	}
	if opts.Route == "" || len(opts.Route) > 255 {
		return nil, fmt.Errorf("%w: route must be 1-255 bytes", ErrInvalidArgument)
	}
	if opts.Priority > 7 {
		return nil, fmt.Errorf("%w: priority %d > 7", ErrInvalidArgument, opts.Priority)
	}
	var meta []byte
	if opts.Metadata != nil {
		var err error
		if meta, err = json.Marshal(opts.Metadata); err != nil {
			return nil, fmt.Errorf("%w: metadata: %v", ErrInvalidArgument, err)
		}
		if len(meta) > 65536 {
			return nil, fmt.Errorf("%w: metadata over 64 KiB", ErrInvalidArgument)
		}
	}
	s.mu.Lock()
	if err := s.errLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.goAwayRecv || s.goAwaySent {
		s.mu.Unlock()
		return nil, ErrGoAway
	}
	if s.nextID > math.MaxUint32-2 {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: stream ids exhausted", ErrStreamLimit)
	}
	id := s.nextID
	s.nextID += 2
	st := newStream(s, id, opts.Kind, opts.Route, true, meta, opts.Checksum, opts.Priority)
	s.streams[id] = st
	var window uint64
	if st.recvWin != nil {
		window = st.recvWin.Limit()
	}
	f := wire.Open{StreamID: id, Kind: opts.Kind, Priority: opts.Priority, Window: window, Route: opts.Route, Metadata: meta}
	if opts.Checksum {
		f.Flags |= wire.FlagChecksum
	}
	// Queued under s.mu so that OPENs leave in id order (the peer requires it).
	err := s.queueControl(f.Append(nil))
	s.mu.Unlock()
	if err != nil {
		st.end(StateFailed, err)
		return nil, err
	}
	select {
	case <-st.accepted:
		return st, nil
	case <-st.done:
		return nil, st.Err()
	case <-ctx.Done():
		st.Cancel(CodeCancelled, "open abandoned")
		return nil, ctx.Err()
	}
}

func (s *Session) errLocked() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Session) newRecvWindow(id uint32) *flowctl.RecvWindow {
	return flowctl.NewRecvWindow(flowctl.RecvConfig{
		StreamID:    id,
		Initial:     uint64(s.cfg.StreamWindow),
		Min:         uint64(s.maxFrame),
		MaxFrame:    uint64(s.maxFrame),
		RTT:         &s.rttStats,
		Max:         uint64(s.cfg.MaxStreamWindow),
		FixedWindow: s.cfg.FixedWindow,
		Budget:      s.budget,
	})
}

func (s *Session) lookup(id uint32) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

func (s *Session) removeStream(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
		if !st.local {
			s.peerStreams--
		}
	}
	s.mu.Unlock()
	s.wmu.Lock()
	s.sched.Remove(st.id)
	if s.lanesOn.Load() {
		s.laneEnds = append(s.laneEnds, st.id)
	}
	s.wmu.Unlock()
}

// shutdown ends the session once with err. With notify, the peer is sent an
// ERROR frame first (the writer flushes it, bounded by a short wait).
func (s *Session) shutdown(err error, notify bool) {
	s.closeOnce.Do(func() {
		s.errMu.Lock()
		s.err = err
		s.errMu.Unlock()
		var remote *ConnError
		if errors.As(err, &remote) && remote.Remote {
			notify = false // the peer already knows
		}
		if notify {
			code := codeOf(err, CodeInternal)
			reason := ""
			var ce *ConnError
			if errors.As(err, &ce) {
				reason = ce.Reason
			}
			f := wire.Error{Code: code, Reason: truncate(reason, 1024)}
			s.wmu.Lock()
			s.final = f.Append(nil) // bypasses the control queue's cap: it may be why we close
			s.closing = true
			s.wmu.Unlock()
			s.signalWriter()
			if a := s.current(); a != nil {
				t := time.NewTimer(time.Second)
				select {
				case <-s.flushed:
				case <-a.writerDone:
				case <-t.C:
				}
				t.Stop()
			}
		}
		s.wmu.Lock()
		s.closing = true // no resume from now on
		s.wmu.Unlock()
		if a := s.current(); a != nil {
			s.endAttachment(a)
		}
		close(s.done)
		s.cancel()
		s.mu.Lock()
		streams := make([]*Stream, 0, len(s.streams))
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		s.mu.Unlock()
		for _, st := range streams {
			st.end(StateFailed, err)
		}
		s.reqMu.Lock()
		for id, ch := range s.pending {
			delete(s.pending, id)
			close(ch)
		}
		s.reqMu.Unlock()
		if ce, ok := err.(*ConnError); ok && ce.Code != CodeNoError {
			s.log.Debug("session ended", "session", s.id, "err", err)
		}
		if s.rs != nil && s.rs.server != nil {
			s.rs.server.forgetResumable(s)
		}
	})
}

func (s *Session) signalWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// queueControl hands an encoded control frame to the writer. A full queue is a
// connection error: the peer made us queue more than MaxQueuedControl frames.
func (s *Session) queueControl(frame []byte) error {
	s.wmu.Lock()
	err := s.control.Push(frame)
	s.wmu.Unlock()
	if err != nil {
		// The caller decides: the reader ends the session (the peer made us
		// queue this much), an application call reports it.
		return &ConnError{Code: CodeControlQueueFull, Reason: fmt.Sprintf("more than %d control frames queued", s.cfg.MaxQueuedControl)}
	}
	s.signalWriter()
	return nil
}

// queueUrgent hands an event, request or reply frame to the writer.
func (s *Session) queueUrgent(frame []byte) error {
	s.wmu.Lock()
	err := s.urgent.Push(frame)
	s.wmu.Unlock()
	if err != nil {
		return ErrControlQueueFull
	}
	s.signalWriter()
	return nil
}

// schedule puts st in the writer's round-robin (st.scheduled was set by the caller).
func (s *Session) schedule(st *Stream) {
	s.wmu.Lock()
	s.sched.Push(st.id, st.priority)
	s.wmu.Unlock()
	s.signalWriter()
}

// queueCredit asks the writer to send st's current credit limit.
func (s *Session) queueCredit(st *Stream) {
	s.wmu.Lock()
	s.credits = append(s.credits, st)
	s.wmu.Unlock()
	s.signalWriter()
}

func (s *Session) transportError(err error) error {
	if errors.Is(err, transport.ErrMessageTooLarge) {
		return &ConnError{Code: CodeMessageTooLarge, Reason: fmt.Sprintf("transport message over %d bytes", s.maxMessage), Err: err}
	}
	return &ConnError{Code: CodeInternal, Reason: "transport", Err: err}
}

func nanotime() int64 { return time.Now().UnixNano() }
