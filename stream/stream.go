package stream

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/streamd/streamd/flowctl"
	"github.com/streamd/streamd/stream/internal/wire"
)

// Kind is a stream's kind: which way its data flows.
type Kind = wire.Kind

// Stream kinds (docs/PROTOCOL.md §3.1).
const (
	// Upload carries data from the opener to the acceptor.
	Upload = wire.KindUpload
	// Download carries data from the acceptor to the opener.
	Download = wire.KindDownload
	// Bidi carries data both ways.
	Bidi = wire.KindBidi
	// Broadcast is a subscription to a server topic: data flows to the opener.
	Broadcast = wire.KindBroadcast
)

// State is a stream's lifecycle state:
// opening → active ⇄ paused → closing → completed | failed | cancelled.
type State int

// Stream states.
const (
	StateOpening State = iota
	StateActive
	StatePaused
	StateClosing
	StateCompleted
	StateFailed
	StateCancelled
)

var stateNames = [...]string{"opening", "active", "paused", "closing", "completed", "failed", "cancelled"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Terminal reports whether no more data can flow in this state.
func (s State) Terminal() bool { return s >= StateCompleted }

// Stream is one multiplexed stream of a Session. It is an io.ReadWriteCloser.
//
// Concurrency: one goroutine may Read while another Writes; Close, CloseWrite,
// Cancel, Pause, Resume, State and Progress may be called from any goroutine.
type Stream struct {
	sess     *Session
	id       uint32
	kind     Kind
	route    string
	local    bool // opened by this side
	priority uint8
	checksum bool
	meta     []byte // OPEN metadata

	ctx    context.Context // cancelled when the stream ends
	cancel context.CancelFunc
	done   chan struct{} // closed on a terminal state

	canSend, canRecv bool

	mu         sync.Mutex
	state      State
	err        error // terminal error (nil when completed)
	accepted   chan struct{}
	acceptMeta []byte // ACCEPT metadata
	acceptErr  error
	accepting  bool // acceptor: ACCEPT queued

	// send direction
	sendWin      flowctl.SendWindow
	sendQ        chunkQueue
	sendLimit    int // bytes a Write may queue
	writeClosed  bool
	closeSent    bool
	scheduled    bool // in the session's send scheduler
	hashOut      hash.Hash
	writeWake    chan struct{}
	pausedLocal  bool
	pausedRemote bool
	compressSkip int // frames to send raw after compression did not pay
	compressMiss int

	// receive direction
	recvWin     *flowctl.RecvWindow
	recvQ       chunkQueue
	recvClosed  bool // peer's CLOSE arrived
	recvTotal   uint64
	recvRead    uint64 // bytes delivered to the application
	peerSum     *[32]byte
	hashIn      hash.Hash
	readWake    chan struct{}
	creditQueue bool // a CREDIT update is pending at the writer

	peerCheckpoint      uint64 // highest durable offset the peer reported
	peerCheckpointToken []byte

	rs *streamResume // resumable sessions only (resume.go)

	progress progressMeter
}

func newStream(sess *Session, id uint32, kind Kind, route string, local bool, meta []byte, checksum bool, priority uint8) *Stream {
	st := &Stream{
		sess:      sess,
		id:        id,
		kind:      kind,
		route:     route,
		local:     local,
		priority:  priority,
		checksum:  checksum,
		meta:      meta,
		done:      make(chan struct{}),
		accepted:  make(chan struct{}),
		writeWake: make(chan struct{}, 1),
		readWake:  make(chan struct{}, 1),
		sendLimit: sess.cfg.SendBuffer,
		state:     StateOpening,
	}
	st.ctx, st.cancel = context.WithCancel(sess.ctx)
	st.canSend, st.canRecv = directions(kind, local)
	if st.canRecv {
		st.recvWin = sess.newRecvWindow(id)
	}
	if sess.rs != nil {
		st.rs = &streamResume{replay: replayBuffer{limit: uint64(sess.cfg.ReplayBuffer)}}
	}
	if checksum {
		st.hashOut = sha256.New()
		st.hashIn = sha256.New()
	}
	st.progress.start(time.Now(), totalFromMeta(meta))
	sess.stats.streamsOpened.Add(1)
	return st
}

// directions tells which ways data flows for the side that opened (local) or
// accepted the stream.
func directions(kind Kind, opener bool) (send, recv bool) {
	switch kind {
	case Upload:
		return opener, !opener
	case Download, Broadcast:
		return !opener, opener
	default:
		return true, true
	}
}

func totalFromMeta(meta []byte) int64 {
	if len(meta) == 0 {
		return -1
	}
	var m struct {
		Size *int64 `json:"size"`
	}
	if json.Unmarshal(meta, &m) != nil || m.Size == nil {
		return -1
	}
	return *m.Size
}

// ID returns the stream id (odd: opened by the client, even: by the server).
func (st *Stream) ID() uint32 { return st.id }

// Kind returns the stream's kind.
func (st *Stream) Kind() Kind { return st.kind }

// Checksummed reports whether the stream was opened with OpenOptions.Checksum:
// both directions are then verified with SHA-256 at CLOSE.
func (st *Stream) Checksummed() bool { return st.checksum }

// Route returns the route the stream was opened on.
func (st *Stream) Route() string { return st.route }

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.sess }

// Metadata returns the JSON metadata of the OPEN frame.
func (st *Stream) Metadata() []byte { return st.meta }

// DecodeMetadata unmarshals the OPEN metadata into v. Bad JSON is an
// ErrInvalidArgument error.
func (st *Stream) DecodeMetadata(v any) error {
	if len(st.meta) == 0 {
		return nil
	}
	if err := json.Unmarshal(st.meta, v); err != nil {
		return WithCode(CodeInvalidArgument, fmt.Errorf("metadata: %w", err))
	}
	return nil
}

// AcceptMetadata returns the JSON metadata of the ACCEPT frame (opener side).
func (st *Stream) AcceptMetadata() []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.acceptMeta
}

// Context is cancelled when the stream reaches a terminal state.
func (st *Stream) Context() context.Context { return st.ctx }

// Done is closed when the stream reaches a terminal state.
func (st *Stream) Done() <-chan struct{} { return st.done }

// State returns the current state.
func (st *Stream) State() State {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state
}

// Err returns the error the stream ended with, nil while it runs or when it
// completed.
func (st *Stream) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// SetTotal sets the expected byte count used by Progress (the "size" metadata
// sets it too).
func (st *Stream) SetTotal(n int64) { st.progress.setTotal(n) }

// Progress reports bytes moved, rate and ETA.
func (st *Stream) Progress() Progress {
	st.mu.Lock()
	sent := st.sendWin.Sent()
	recv := st.recvRead
	st.mu.Unlock()
	return st.progress.snapshot(time.Now(), int64(sent), int64(recv))
}

// Accept answers the peer's OPEN with meta (any JSON-marshalable value, or nil).
// Handlers call it to reply metadata; Read and Write accept implicitly.
func (st *Stream) Accept(meta any) error {
	var raw []byte
	if meta != nil {
		var err error
		if raw, err = json.Marshal(meta); err != nil {
			return fmt.Errorf("stream: accept metadata: %w", err)
		}
	}
	return st.accept(raw)
}

func (st *Stream) accept(meta []byte) error {
	if st.local {
		return nil
	}
	st.mu.Lock()
	if st.accepting || st.state.Terminal() {
		err := st.err
		st.mu.Unlock()
		return err
	}
	st.accepting = true
	st.state = StateActive
	st.acceptMeta = meta
	var window uint64
	if st.recvWin != nil {
		window = st.recvWin.Limit()
	}
	close(st.accepted)
	st.mu.Unlock()
	f := wire.Accept{StreamID: st.id, Window: window, Metadata: meta}
	return st.sess.queueControl(f.Append(nil))
}

// waitAccepted blocks until the opener got ACCEPT (or the stream failed).
func (st *Stream) waitAccepted(ctx context.Context) error {
	if !st.local {
		return st.accept(nil)
	}
	if st.accepted0() {
		return nil
	}
	select {
	case <-st.accepted:
		return nil
	case <-st.done:
		return st.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Write queues p for sending; it blocks while the stream's send buffer is full
// (the peer has not granted credit). It returns once all of p is queued.
func (st *Stream) Write(p []byte) (int, error) { return st.WriteContext(context.Background(), p) }

// WriteContext is Write with a context that can abandon the wait.
func (st *Stream) WriteContext(ctx context.Context, p []byte) (int, error) {
	if !st.canSend {
		return 0, ErrWrongDirection
	}
	if err := st.waitAccepted(ctx); err != nil {
		return 0, err
	}
	written := 0
	for {
		st.mu.Lock()
		if st.err != nil || st.state.Terminal() {
			err := st.terminalErrLocked()
			st.mu.Unlock()
			return written, err
		}
		if gap := st.pendingGapLocked(); gap != nil {
			st.mu.Unlock()
			return written, gap
		}
		if st.writeClosed {
			st.mu.Unlock()
			return written, ErrWriteClosed
		}
		var n int
		if room := st.sendLimit - st.sendQ.size; room >= smallChunk && len(p) >= smallChunk {
			// Large write: copy and hash outside the lock (one Write at a
			// time, so the room cannot shrink meanwhile).
			n = min(len(p), room)
			st.mu.Unlock()
			chunks := fillChunks(p[:n], nil)
			if st.hashOut != nil {
				st.hashOut.Write(p[:n])
			}
			st.mu.Lock()
			if st.state.Terminal() || st.closeSent {
				err := st.terminalErrLocked()
				st.mu.Unlock()
				return written, err
			}
			for _, c := range chunks {
				st.sendQ.appendChunk(c)
			}
		} else {
			n = st.sendQ.write(p, st.sendLimit)
			if n > 0 && st.hashOut != nil {
				st.hashOut.Write(p[:n])
			}
		}
		p = p[n:]
		written += n
		push := n > 0 && st.markReadyLocked()
		st.mu.Unlock()
		if push {
			st.sess.schedule(st)
		}
		if len(p) == 0 {
			return written, nil
		}
		select {
		case <-st.writeWake:
		case <-st.done:
		case <-ctx.Done():
			return written, ctx.Err()
		}
	}
}

// sendReadyLocked reports whether the writer has something to send for st.
func (st *Stream) sendReadyLocked() bool {
	if st.state.Terminal() || !st.accepted0() {
		return false
	}
	if st.sendQ.size > 0 {
		return !st.pausedLocal && !st.pausedRemote && st.sendWin.Available() > 0
	}
	return st.writeClosed && !st.closeSent
}

func (st *Stream) accepted0() bool {
	select {
	case <-st.accepted:
		return true
	default:
		return false
	}
}

// markReadyLocked flags st as scheduled if it has something to send and is not
// scheduled yet; it returns true when the caller must push it to the scheduler.
func (st *Stream) markReadyLocked() bool {
	if st.scheduled || !st.sendReadyLocked() {
		return false
	}
	st.scheduled = true
	return true
}

// Read reads data the peer sent; it returns io.EOF after the peer closed its
// direction and every byte was read (and, with checksums, verified).
func (st *Stream) Read(p []byte) (int, error) { return st.ReadContext(context.Background(), p) }

// ReadContext is Read with a context that can abandon the wait.
func (st *Stream) ReadContext(ctx context.Context, p []byte) (int, error) {
	if !st.canRecv {
		return 0, ErrWrongDirection
	}
	if err := st.waitAccepted(ctx); err != nil {
		return 0, err
	}
	for {
		st.mu.Lock()
		if st.recvQ.size > 0 && len(p) > 0 {
			n := st.recvQ.read(p)
			st.recvRead += uint64(n)
			if st.hashIn != nil {
				st.hashIn.Write(p[:n])
			}
			st.recvWin.OnConsume(uint64(n))
			push := st.creditDueLocked()
			st.mu.Unlock()
			if push {
				st.sess.queueCredit(st)
			}
			return n, nil
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return 0, err
		}
		if gap := st.pendingGapLocked(); gap != nil {
			st.mu.Unlock()
			st.end(StateFailed, gap) // every byte before the gap was read
			return 0, gap
		}
		if st.recvClosed {
			err := st.verifyLocked()
			st.mu.Unlock()
			if err != nil {
				st.fail(err, true)
				return 0, err
			}
			st.maybeComplete()
			return 0, io.EOF
		}
		if st.state.Terminal() {
			err := st.terminalErrLocked()
			st.mu.Unlock()
			return 0, err
		}
		st.mu.Unlock()
		select {
		case <-st.readWake:
		case <-st.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// verifyLocked checks the peer's CLOSE checksum once all data was read.
func (st *Stream) verifyLocked() error {
	if st.peerSum == nil || st.hashIn == nil {
		return nil
	}
	var got [32]byte
	st.hashIn.Sum(got[:0])
	if got != *st.peerSum {
		return &StreamError{StreamID: st.id, Code: CodeIntegrity,
			Reason: fmt.Sprintf("sha-256 mismatch after %d bytes: got %x, peer sent %x", st.recvTotal, got[:8], st.peerSum[:8])}
	}
	st.peerSum = nil // verified once
	return nil
}

func (st *Stream) creditDueLocked() bool {
	if st.creditQueue || st.state.Terminal() || st.recvClosed {
		return false
	}
	if !st.recvWin.GrantDue() {
		return false
	}
	st.creditQueue = true
	return true
}

func (st *Stream) terminalErrLocked() error {
	if st.err != nil {
		return st.err
	}
	switch st.state {
	case StateCancelled:
		return ErrCancelled
	case StateCompleted:
		return ErrWriteClosed
	}
	return ErrSessionClosed
}

// CloseWrite finishes this side's direction: a CLOSE frame (total bytes and, for
// checksummed streams, SHA-256) follows the queued data. It does not wait.
func (st *Stream) CloseWrite() error {
	if err := st.waitAccepted(st.ctx); err != nil {
		return err
	}
	st.mu.Lock()
	if st.state.Terminal() {
		err := st.terminalErrLocked()
		st.mu.Unlock()
		if errors.Is(err, ErrWriteClosed) {
			return nil
		}
		return err
	}
	if st.writeClosed {
		st.mu.Unlock()
		return nil
	}
	st.writeClosed = true
	if st.state == StateActive || st.state == StatePaused {
		st.state = StateClosing
	}
	push := st.markReadyLocked()
	st.mu.Unlock()
	if push {
		st.sess.schedule(st)
	}
	return nil
}

// Close finishes the stream and waits until the peer finished too. If the peer's
// direction still carries unread data, Close cancels the stream instead (the
// application abandoned it) and returns nil.
func (st *Stream) Close() error { return st.CloseContext(context.Background()) }

// CloseContext is Close with a context bounding the wait for the peer.
func (st *Stream) CloseContext(ctx context.Context) error {
	st.mu.Lock()
	abandon := st.canRecv && !(st.recvClosed && st.recvQ.size == 0) && !st.state.Terminal()
	st.mu.Unlock()
	if abandon {
		st.Cancel(CodeCancelled, "closed before end of data")
		return nil
	}
	if err := st.CloseWrite(); err != nil {
		return err
	}
	select {
	case <-st.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state == StateCompleted {
		return nil
	}
	return st.terminalErrLocked()
}

// Cancel abandons the stream in both directions and tells the peer with code
// (CodeCancelled or an application code).
func (st *Stream) Cancel(code Code, reason string) {
	if st.end(StateCancelled, &StreamError{StreamID: st.id, Code: code, Reason: reason}) {
		f := wire.Cancel{StreamID: st.id, Code: code, Reason: reason}
		st.sess.queueControl(f.Append(nil)) //nolint:errcheck // session may be ending
	}
}

// Checkpoint tells the peer that bytes [0, offset) of its direction are durable
// on this side; token is opaque application data (≤ 1024 bytes), e.g. a row index.
func (st *Stream) Checkpoint(offset uint64, token []byte) error {
	if len(token) > 1024 {
		return fmt.Errorf("%w: checkpoint token over 1024 bytes", ErrInvalidArgument)
	}
	f := wire.Checkpoint{StreamID: st.id, Offset: offset, Token: token}
	frame := f.Append(nil)
	st.mu.Lock()
	if st.rs != nil {
		st.rs.lastCheckpoint = frame // repeated after a resume
	}
	st.mu.Unlock()
	return st.sess.queueControl(frame)
}

// PeerCheckpoint returns the highest durable offset the peer reported, with its token.
func (st *Stream) PeerCheckpoint() (uint64, []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.peerCheckpoint, append([]byte(nil), st.peerCheckpointToken...)
}

// Pause asks the peer to stop sending and stops this side's sender, until Resume.
func (st *Stream) Pause() error { return st.setPaused(true) }

// Resume undoes Pause.
func (st *Stream) Resume() error { return st.setPaused(false) }

func (st *Stream) setPaused(p bool) error {
	st.mu.Lock()
	if st.state.Terminal() {
		err := st.terminalErrLocked()
		st.mu.Unlock()
		return err
	}
	changed := st.pausedLocal != p
	st.pausedLocal = p
	st.updatePausedStateLocked()
	push := st.markReadyLocked()
	st.mu.Unlock()
	if push {
		st.sess.schedule(st)
	}
	if !changed {
		return nil
	}
	var frame []byte
	if p {
		frame = wire.Pause{StreamID: st.id}.Append(nil)
	} else {
		frame = wire.Resume{StreamID: st.id}.Append(nil)
	}
	return st.sess.queueControl(frame)
}

func (st *Stream) updatePausedStateLocked() {
	paused := st.pausedLocal || st.pausedRemote
	switch {
	case paused && st.state == StateActive:
		st.state = StatePaused
	case !paused && st.state == StatePaused:
		st.state = StateActive
	}
}

// fail ends the stream with err; if notify, the peer gets an ERROR frame.
func (st *Stream) fail(err error, notify bool) {
	code := codeOf(err, CodeInternal)
	var se *StreamError
	if !errors.As(err, &se) {
		se = &StreamError{StreamID: st.id, Code: code, Reason: err.Error()}
		err = se
	}
	if st.end(StateFailed, err) && notify {
		f := wire.Error{StreamID: st.id, Code: code, Reason: truncate(se.Reason, 1024)}
		st.sess.queueControl(f.Append(nil)) //nolint:errcheck // session may be ending
	}
}

// maybeComplete moves the stream to completed once both directions closed and
// the application has read everything.
func (st *Stream) maybeComplete() {
	st.mu.Lock()
	ok := st.closeSent && st.recvClosed && st.recvQ.size == 0 && st.peerSum == nil
	if st.rs != nil && ok && !st.rs.closeAcked {
		ok = false // resumable: wait until the peer has our CLOSE (ACK with FIN)
	}
	st.mu.Unlock()
	if ok {
		st.end(StateCompleted, nil)
	}
}

// end moves the stream to a terminal state once; it reports whether it did.
func (st *Stream) end(state State, err error) bool {
	st.mu.Lock()
	if st.state.Terminal() {
		st.mu.Unlock()
		return false
	}
	st.state = state
	st.err = err
	st.sendQ.reset(false)
	st.recvQ.reset(true)
	if st.recvWin != nil {
		st.recvWin.Release()
	}
	var final []byte
	if st.rs != nil {
		st.rs.replay = replayBuffer{}
		final = st.finalFrame(state, err)
	}
	st.mu.Unlock()
	close(st.done)
	st.cancel()
	st.sess.recordFinished(st.id, final)
	st.sess.removeStream(st)
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
