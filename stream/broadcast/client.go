package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/streamd/streamd/stream"
)

// SubscribeOptions choose where a subscription starts. At most one of Last,
// From and Oldest is set; none means live (records published from now on).
type SubscribeOptions struct {
	// Last > 0 first delivers up to the last Last records the topic retains.
	Last int
	// From resumes at a position (typically Subscription.Position of an
	// earlier subscription). If the source restarted since, the first record
	// is an EPOCH record with Changed set.
	From *Position
	// Oldest first delivers every record the topic retains.
	Oldest bool
	// MaxRecord bounds the data of one record this side accepts. Default: what
	// the server announces, at most MaxRecordLimit.
	MaxRecord int
	// Priority is the stream priority 0–7 (see stream.OpenOptions).
	Priority uint8
}

// Subscription follows one topic over a stream of kind stream.Broadcast.
//
// Concurrency: Next is called from one goroutine at a time; Position, Info,
// Stream and Close may be called from any goroutine.
type Subscription struct {
	st    *stream.Stream
	topic string
	info  FeedInfo
	max   int

	buf  []byte // undecoded bytes are buf[r:w]
	r, w int
	done bool // io.EOF seen

	mu    sync.Mutex
	epoch uint64 // current epoch
	seq   uint64 // last DATA seq received in epoch
}

// Subscribe opens a subscription to topic on sess (route Route). An unknown
// topic fails with an error matching stream.ErrNotFound, bad options with
// stream.ErrInvalidArgument.
func Subscribe(ctx context.Context, sess *stream.Session, topic string, opts *SubscribeOptions) (*Subscription, error) {
	var o SubscribeOptions
	if opts != nil {
		o = *opts
	}
	if err := ValidateTopicName(topic); err != nil {
		return nil, err
	}
	if err := (Start{Last: o.Last, From: o.From, Oldest: o.Oldest}).Validate(); err != nil {
		return nil, err
	}
	if o.MaxRecord < 0 || o.MaxRecord > MaxRecordLimit {
		return nil, fmt.Errorf("%w: MaxRecord %d outside [0, %d]", stream.ErrInvalidArgument, o.MaxRecord, MaxRecordLimit)
	}
	meta := subscribeMeta{Topic: topic, From: o.From, Oldest: o.Oldest}
	if o.Last > 0 {
		meta.Last = &o.Last
	}
	st, err := sess.Open(ctx, stream.OpenOptions{Route: Route, Kind: stream.Broadcast, Metadata: meta, Priority: o.Priority})
	if err != nil {
		return nil, fmt.Errorf("subscribe %q: %w", topic, err)
	}
	var am acceptMeta
	if raw := st.AcceptMetadata(); len(raw) > 0 {
		if err := json.Unmarshal(raw, &am); err != nil {
			st.Cancel(stream.CodeProtocol, "bad ACCEPT metadata")
			return nil, fmt.Errorf("subscribe %q: ACCEPT metadata: %w (%w)", topic, err, stream.ErrProtocol)
		}
	}
	maxRec := o.MaxRecord
	if maxRec == 0 {
		maxRec = am.MaxRecord
		if maxRec <= 0 || maxRec > MaxRecordLimit {
			maxRec = MaxRecordLimit
		}
	}
	s := &Subscription{st: st, topic: topic, info: am.FeedInfo, max: maxRec}
	if o.From != nil {
		s.epoch, s.seq = o.From.Epoch, o.From.Seq-1
	}
	return s, nil
}

// Next returns the next record: DATA (with its Epoch filled in), GAP or EPOCH.
// Records of unknown types are skipped. The record's Data is valid until the
// next call. At the end of the topic Next returns io.EOF; a subscription the
// server cut off returns a *stream.StreamError (errors.Is(err,
// stream.ErrSlowConsumer) for the Disconnect policy).
func (s *Subscription) Next(ctx context.Context) (Record, error) {
	for {
		rec, n, err := ParseRecord(s.buf[s.r:s.w], s.max)
		if err == nil {
			s.r += n
			switch rec.Type {
			case TypeData:
				s.mu.Lock()
				rec.Epoch = s.epoch
				s.seq = rec.Seq
				s.mu.Unlock()
				return rec, nil
			case TypeEpoch:
				s.mu.Lock()
				if s.epoch != rec.Epoch {
					s.epoch, s.seq = rec.Epoch, 0
				}
				s.mu.Unlock()
				return rec, nil
			case TypeGap:
				return rec, nil
			}
			continue // unknown type: skip
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.st.Cancel(stream.CodeProtocol, err.Error())
			return Record{}, fmt.Errorf("%w (%w)", err, stream.ErrProtocol)
		}
		if err := s.fill(ctx); err != nil {
			if errors.Is(err, io.EOF) && s.r < s.w {
				return Record{}, fmt.Errorf("%w: stream ended inside a record", ErrMalformedRecord)
			}
			return Record{}, err
		}
	}
}

// fill reads more bytes from the stream. Next parses every whole record
// before it fills, so what is left in the buffer is part of one record: sliding
// it to the front is cheap, and the buffer never grows past one record of
// MaxRecord (plus a read's worth).
func (s *Subscription) fill(ctx context.Context) error {
	if s.done {
		return io.EOF
	}
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == len(s.buf) {
		limit := RecordHeaderLen + 8 + s.max
		nb := make([]byte, max(min(2*len(s.buf), limit), initialReadBuffer))
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	n, err := s.st.ReadContext(ctx, s.buf[s.w:])
	s.w += n
	if errors.Is(err, io.EOF) {
		s.done = true
		s.st.Close() //nolint:errcheck // completes the stream: our CLOSE after the server's
	}
	if n > 0 {
		return nil
	}
	return err
}

// initialReadBuffer is a subscription's first read buffer; it grows for
// records that do not fit.
const initialReadBuffer = 16 << 10

// Buffered reports whether a received record is waiting to be returned by
// Next without reading from the stream (to flush output only when idle). Call
// it from the goroutine that calls Next.
func (s *Subscription) Buffered() bool {
	_, _, err := ParseRecord(s.buf[s.r:s.w], s.max)
	return err == nil
}

// Position returns the position to resume from: the epoch the subscription is
// in and the sequence number after the last DATA record received.
func (s *Subscription) Position() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Position{Epoch: s.epoch, Seq: s.seq + 1}
}

// Topic returns the topic's name.
func (s *Subscription) Topic() string { return s.topic }

// Info returns the limits the server announced for this subscription.
func (s *Subscription) Info() FeedInfo { return s.info }

// Stream returns the underlying stream (for Progress or Pause/Resume).
func (s *Subscription) Stream() *stream.Stream { return s.st }

// Close ends the subscription (cancelling the stream if the topic goes on).
func (s *Subscription) Close() error { return s.st.Close() }
