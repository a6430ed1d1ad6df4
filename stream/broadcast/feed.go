package broadcast

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/streamd/streamd/stream"
)

// maxBatchBytes bounds the encoded bytes of DATA records one Next returns, so
// that a subscriber catching up on a long backlog hands its stream writes of
// a reasonable size and pins little memory while a write blocks.
const maxBatchBytes = 64 << 10

// memFeed is a subscriber of a Memory topic: a cursor into the topic's replay
// ring. Next reads the ring without locks; the cursor belongs to the goroutine
// calling Next, which also publishes it (taken) for Publish to apply the
// Disconnect policy.
type memFeed struct {
	topic  *Topic
	ctx    context.Context
	cancel context.CancelCauseFunc
	ended  atomic.Bool
	slot   int // place in topic.feeds (-1: removed); under the topic's lock

	nextIdx            uint64   // the next record to deliver
	nextCum            uint64   // data bytes published before it
	taken              cursor   // nextIdx and nextCum, for Publish
	startIdx, startCum uint64   // the end of the ring at subscribe time: the queue starts here
	epoch              uint64   // the epoch the subscriber was last told about
	pending            []Record // EPOCH/GAP records decided at subscribe time
}

func (f *memFeed) Context() context.Context { return f.ctx }

func (f *memFeed) Info() FeedInfo {
	c := f.topic.cfg
	return FeedInfo{MaxRecord: c.MaxRecord, Policy: c.Policy, QueueBytes: c.QueueBytes}
}

func (f *memFeed) Close() error {
	f.end(ErrFeedClosed)
	return nil
}

// end stops the feed once with cause.
func (f *memFeed) end(cause error) {
	if f.ended.CompareAndSwap(false, true) {
		f.cancel(cause)
		f.topic.removeFeed(f)
	}
}

func (f *memFeed) Next(ctx context.Context, dst []Record) ([]Record, error) {
	t := f.topic
	for {
		if f.ctx.Err() != nil {
			return dst, context.Cause(f.ctx)
		}
		// Load the wake-up channel and the closed flag before the ring, so that
		// a record published after this view wakes us, and a view taken after
		// seeing "closed" holds every record published before Close.
		wake := *t.notify.Load()
		closed := t.closed.Load()
		v := t.ring.view()
		n0 := len(dst)
		dst = append(dst, f.pending...)
		f.pending = f.pending[:0]
		dst, slow := f.collect(&v, dst)
		if slow {
			t.disconnects.Add(1)
			f.end(fmt.Errorf("%w: subscriber of topic %q fell more than %d bytes behind, or out of the replay ring",
				stream.ErrSlowConsumer, t.name, t.cfg.QueueBytes))
			return dst[:n0], context.Cause(f.ctx)
		}
		if len(dst) > n0 {
			return dst, nil
		}
		if closed {
			return dst, io.EOF
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-f.ctx.Done():
			return dst, context.Cause(f.ctx)
		}
	}
}

// collect appends what the subscriber gets next from view v: a GAP record if
// it overflowed (drop-oldest), then records up to maxBatchBytes with EPOCH
// records where the epoch changes. slow reports an overflow under the
// Disconnect policy.
func (f *memFeed) collect(v *view, dst []Record) (_ []Record, slow bool) {
	t := f.topic
	idx := f.nextIdx
	if f.overflowed(v, idx, f.nextCum, true) {
		if t.cfg.Policy == Disconnect {
			return dst, true
		}
		target := v.start
		if f.queued(v, idx, f.nextCum, true) > uint64(t.cfg.QueueBytes) {
			target = v.firstWithin(max(idx, f.startIdx), t.cfg.QueueBytes)
		}
		cum := v.cumAt(target)
		dst = append(dst, Record{Type: TypeGap, Records: target - idx, Bytes: cum - f.nextCum})
		t.gaps.Add(1)
		idx, f.nextCum = target, cum
	}
	for budget := maxBatchBytes; idx < v.end && budget > 0; {
		run := v.run(idx)
		for i := 0; i < len(run) && budget > 0; i++ {
			e := &run[i]
			if e.epoch != f.epoch {
				dst = append(dst, epochRecord(e.epoch, f.epoch))
				f.epoch = e.epoch
			}
			dst = append(dst, Record{Type: TypeData, Epoch: e.epoch, Seq: e.seq, Data: e.data})
			budget -= e.encodedLen()
			f.nextCum += uint64(len(e.data))
			idx++
		}
	}
	f.nextIdx = idx
	f.taken.store(idx, f.nextCum)
	if idx == v.end {
		// Caught up, and the source restarted: announce the new epoch now,
		// unless records were published since the view (they carry their
		// epoch and come in order next time: announcing the newest epoch
		// before them would put epochs out of order).
		if e := t.epoch.Load(); e != f.epoch && t.ring.end.Load() == v.end {
			dst = append(dst, epochRecord(e, f.epoch))
			f.epoch = e
		}
	}
	return dst, false
}

// cursor publishes a feed's position (record index and the data bytes before
// it) to Publish: a sequence lock, so that Publish reads a consistent pair in
// O(1) — and, should it catch the reader mid-update, falls back to looking
// the bytes up instead of waiting for it.
type cursor struct {
	version atomic.Uint64 // odd while an update is under way
	idx     atomic.Uint64
	cum     atomic.Uint64
}

func (c *cursor) store(idx, cum uint64) {
	c.version.Add(1)
	c.idx.Store(idx)
	c.cum.Store(cum)
	c.version.Add(1)
}

// load returns the position; ok is false if it caught an update (cum unknown).
func (c *cursor) load() (idx, cum uint64, ok bool) {
	v := c.version.Load()
	idx, cum = c.idx.Load(), c.cum.Load()
	return idx, cum, v%2 == 0 && c.version.Load() == v
}

func epochRecord(epoch, previous uint64) Record {
	return Record{Type: TypeEpoch, Epoch: epoch, Previous: previous, Changed: previous != 0 && previous != epoch}
}

// queued returns the encoded bytes of the records published since the
// subscription began that the subscriber has not taken (its queue), for a
// cursor at idx. cum is the data bytes before idx when known (the reader
// knows it; Publish looks it up).
func (f *memFeed) queued(v *view, idx, cum uint64, cumKnown bool) uint64 {
	if f.startIdx > idx {
		idx, cum = f.startIdx, f.startCum
	} else if !cumKnown {
		cum = v.cumAt(idx)
	}
	return v.total() - cum + DataOverhead*(v.end-idx)
}

// overflowed reports whether a cursor at idx has lost records: its queue is
// over the cap, or its next record left the replay ring.
func (f *memFeed) overflowed(v *view, idx, cum uint64, cumKnown bool) bool {
	return idx < v.start || f.queued(v, idx, cum, cumKnown) > uint64(f.topic.cfg.QueueBytes)
}

// placeLocked sets the feed's cursor for start (under the topic's lock).
func (f *memFeed) placeLocked(s Start) error {
	t := f.topic
	v := t.ring.view()
	f.startIdx, f.startCum = v.end, v.total()
	if s.From != nil {
		return f.resumeLocked(&v, *s.From)
	}
	from := v.end
	switch {
	case s.Last > 0:
		from = v.end - min(uint64(s.Last), v.end-v.start)
	case s.Oldest:
		from = v.start
	}
	f.at(&v, from)
	epoch := t.epoch.Load()
	if from < v.end {
		epoch = v.at(from).epoch
	}
	f.announce(epoch, 0)
	return nil
}

func (f *memFeed) at(v *view, idx uint64) {
	f.nextIdx, f.nextCum = idx, v.cumAt(idx)
	f.taken.store(f.nextIdx, f.nextCum)
}

// resumeLocked places the cursor at position p (see Start.From).
func (f *memFeed) resumeLocked(v *view, p Position) error {
	t := f.topic
	for i, m := range t.epochs {
		if m.epoch != p.Epoch {
			continue
		}
		endE := v.end
		if i+1 < len(t.epochs) {
			endE = t.epochs[i+1].firstIdx
		}
		target := m.firstIdx + p.Seq - 1
		if target > endE {
			return fmt.Errorf("%w: position %v is ahead of topic %q: epoch %d has %d records",
				stream.ErrInvalidArgument, p, t.name, p.Epoch, endE-m.firstIdx)
		}
		f.announce(p.Epoch, p.Epoch)
		if target < v.start {
			lost := uint64(UnknownBytes) // the ring no longer knows where the evicted records began
			if target == m.firstIdx {
				lost = v.cumAt(v.start) - m.firstCum
			}
			f.pending = append(f.pending, Record{Type: TypeGap, Records: v.start - target, Bytes: lost})
			t.gaps.Add(1)
			target = v.start
		}
		f.at(v, target)
		return nil
	}
	// The epoch is gone (or never was here): the source restarted since. Go on
	// from the start of the first epoch after it that the topic knows.
	m := t.epochs[len(t.epochs)-1]
	for _, mk := range t.epochs {
		if mk.epoch > p.Epoch {
			m = mk
			break
		}
	}
	f.announce(m.epoch, p.Epoch)
	target := m.firstIdx
	if target < v.start {
		f.pending = append(f.pending, Record{Type: TypeGap, Records: v.start - target, Bytes: v.cumAt(v.start) - m.firstCum})
		t.gaps.Add(1)
		target = v.start
	}
	f.at(v, target)
	return nil
}

func (f *memFeed) announce(epoch, previous uint64) {
	f.pending = append(f.pending, epochRecord(epoch, previous))
	f.epoch = epoch
}
