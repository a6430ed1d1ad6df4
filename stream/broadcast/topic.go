package broadcast

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/stream"
)

// Topic is one named stream of records in a Memory broker: a replay ring, the
// current epoch and the subscribers following it.
//
// Publishing appends to the ring and wakes the subscribers; it never waits for
// them. Every subscriber reads the shared ring through its own cursor, without
// locks, so a record is stored once however many subscribers there are, and a
// subscriber's queue is the part of the ring after its cursor (capped by
// QueueBytes).
type Topic struct {
	name string
	cfg  TopicConfig
	ring *replayRing

	// Read by feeds without the lock.
	epoch  atomic.Uint64                 // current epoch
	notify atomic.Pointer[chan struct{}] // closed and replaced by wakeLoop on news
	kick   chan struct{}                 // tells wakeLoop there is news (capacity 1)
	closed atomic.Bool

	// mu serializes the writers: Publish, Restart, Subscribe, Close.
	mu        sync.Mutex
	seq       uint64      // sequence number of the last record of the epoch
	epochs    []epochMark // where each epoch still (partly) in the ring began
	feeds     []*memFeed  // each knows its place (memFeed.slot)
	lastEpoch uint64      // last epoch handed out, to keep epochs increasing

	published, gaps, disconnects atomic.Uint64
}

// epochMark records where an epoch began: the index and running byte total of
// its first record (seq 1).
type epochMark struct {
	epoch    uint64
	firstIdx uint64
	firstCum uint64
}

func newTopic(name string, cfg TopicConfig) *Topic {
	t := &Topic{
		name: name,
		cfg:  cfg,
		ring: newReplayRing(cfg.ReplayRecords, cfg.ReplayBytes),
	}
	ch := make(chan struct{})
	t.notify.Store(&ch)
	t.kick = make(chan struct{}, 1)
	t.startEpochLocked()
	go t.wakeLoop()
	return t
}

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// Config returns the topic's configuration with defaults applied.
func (t *Topic) Config() TopicConfig { return t.cfg }

// startEpochLocked begins a fresh epoch: the current time in microseconds
// (below 2^53 until the year 2255), strictly above every epoch handed out
// before, so that a restarted source, or a restarted server, never reuses one.
func (t *Topic) startEpochLocked() {
	e := max(uint64(time.Now().UnixMicro()), t.lastEpoch+1)
	t.lastEpoch = e
	t.seq = 0
	mark := epochMark{epoch: e, firstIdx: t.ring.end.Load(), firstCum: t.ring.total}
	if n := len(t.epochs); n > 0 && t.epochs[n-1].firstIdx == mark.firstIdx {
		t.epochs[n-1] = mark // the previous epoch had no records: nobody can be in it
	} else {
		t.epochs = append(t.epochs, mark)
	}
	t.epoch.Store(e)
}

// wakeLocked tells wakeLoop that there is news, without waiting.
func (t *Topic) wakeLocked() {
	select {
	case t.kick <- struct{}{}:
	default: // a wake-up is pending already: it covers this news too
	}
}

// wakeLoop wakes the waiting feeds on news: it replaces the notify channel and
// closes the old one. Closing a channel readies each goroutine waiting on it,
// so its cost grows with the number of subscribers; doing it here keeps that
// cost out of Publish. Feeds load the channel
// before they look at the ring, so a record appended after their look always
// finds them a channel this loop will close. The loop ends when the topic
// closes, after a last wake-up.
func (t *Topic) wakeLoop() {
	for range t.kick {
		t.wakeAll()
	}
	t.wakeAll()
}

func (t *Topic) wakeAll() {
	ch := make(chan struct{})
	close(*t.notify.Swap(&ch))
}

// Publish appends data as one record and returns its position. It never waits
// for subscribers: it copies data, appends it to the ring, disconnects the
// subscribers the Disconnect policy cuts off, and wakes the others. Data over
// MaxRecord is ErrRecordTooLarge (see LineWriter to split long lines).
func (t *Topic) Publish(data []byte) (Position, error) {
	if len(data) > t.cfg.MaxRecord {
		return Position{}, fmt.Errorf("%w: %d bytes, topic %q takes at most %d (%w)",
			ErrRecordTooLarge, len(data), t.name, t.cfg.MaxRecord, stream.ErrInvalidArgument)
	}
	e := entry{data: append([]byte(nil), data...)}
	var slow []*memFeed
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		return Position{}, fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
	}
	t.seq++
	e.epoch, e.seq = t.epoch.Load(), t.seq
	t.ring.push(e)
	t.trimEpochsLocked()
	if t.cfg.Policy == Disconnect && len(t.feeds) > 0 {
		v := t.ring.view()
		for _, f := range t.feeds {
			// Fast path: a feed at most one record behind is within its
			// queue (Validate makes a queue hold one record of MaxRecord).
			if idx, cum, ok := f.taken.load(); v.end-idx > 1 && f.overflowed(&v, idx, cum, ok) {
				slow = append(slow, f)
			}
		}
		for _, f := range slow {
			t.removeFeedLocked(f)
		}
	}
	t.wakeLocked()
	t.mu.Unlock()
	t.published.Add(1)
	for _, f := range slow {
		t.disconnects.Add(1)
		f.end(fmt.Errorf("%w: subscriber of topic %q fell more than %d bytes behind",
			stream.ErrSlowConsumer, t.name, t.cfg.QueueBytes))
	}
	return Position{Epoch: e.epoch, Seq: e.seq}, nil
}

// trimEpochsLocked forgets epochs none of whose records the ring holds any more.
func (t *Topic) trimEpochsLocked() {
	start := t.ring.start.Load()
	i := 0
	for i+1 < len(t.epochs) && t.epochs[i+1].firstIdx <= start {
		i++
	}
	if i > 0 {
		t.epochs = append(t.epochs[:0], t.epochs[i:]...)
	}
}

// Restart begins a new epoch (the source restarted: its sequence starts at 1
// again) and returns it. Subscribers get an EPOCH record before the first
// record of the new epoch, or as soon as they have caught up.
func (t *Topic) Restart() (uint64, error) {
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		return 0, fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
	}
	t.startEpochLocked()
	e := t.epoch.Load()
	t.wakeLocked()
	t.mu.Unlock()
	return e, nil
}

// Next returns the position the next published record will have.
func (t *Topic) Next() Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Position{Epoch: t.epoch.Load(), Seq: t.seq + 1}
}

// TopicStats are a topic's counters.
type TopicStats struct {
	// Subscribers is the number of live subscriptions.
	Subscribers int
	// Published counts records published; Retained and RetainedBytes are what
	// the replay ring holds (encoded bytes).
	Published, Retained, RetainedBytes uint64
	// Gaps counts GAP records delivered, Disconnects subscribers cut off
	// (Disconnect policy).
	Gaps, Disconnects uint64
	// Epoch is the current epoch.
	Epoch uint64
}

// Stats returns the topic's counters.
func (t *Topic) Stats() TopicStats {
	t.mu.Lock()
	s := TopicStats{Subscribers: len(t.feeds), Retained: uint64(t.ring.n), RetainedBytes: uint64(t.ring.bytes), Epoch: t.epoch.Load()}
	t.mu.Unlock()
	s.Published, s.Gaps, s.Disconnects = t.published.Load(), t.gaps.Load(), t.disconnects.Load()
	return s
}

// Close ends the topic: Publish and Subscribe fail from now on, and every
// subscription ends (io.EOF) once it has taken the records published before.
func (t *Topic) Close() error {
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		return nil
	}
	t.closed.Store(true)
	close(t.kick) // wakeLoop wakes everyone a last time and ends
	t.mu.Unlock()
	return nil
}

// Subscribe starts a feed at start; ctx bounds its life (see Broker.Subscribe).
func (t *Topic) Subscribe(ctx context.Context, start Start) (Feed, error) {
	if err := start.Validate(); err != nil {
		return nil, err
	}
	f := &memFeed{topic: t}
	f.ctx, f.cancel = context.WithCancelCause(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		f.cancel(ErrTopicClosed)
		return nil, fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
	}
	if err := f.placeLocked(start); err != nil {
		f.cancel(err)
		return nil, err
	}
	f.slot = len(t.feeds)
	t.feeds = append(t.feeds, f)
	return f, nil
}

func (t *Topic) removeFeed(f *memFeed) {
	t.mu.Lock()
	t.removeFeedLocked(f)
	t.mu.Unlock()
}

func (t *Topic) removeFeedLocked(f *memFeed) {
	i := f.slot
	if i < 0 {
		return
	}
	last := t.feeds[len(t.feeds)-1]
	t.feeds[i], last.slot = last, i
	t.feeds[len(t.feeds)-1] = nil
	t.feeds = t.feeds[:len(t.feeds)-1]
	f.slot = -1
}
