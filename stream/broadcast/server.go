package broadcast

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/streamd/streamd/stream"
)

// Routes served by Register.
const (
	// Route is the route that subscribes to any topic named in the metadata
	// ({"topic": NAME, ...}); an unknown topic is refused with NOT_FOUND.
	Route = "topic"
	// RoutePrefix + NAME is the route of one topic (metadata without "topic").
	RoutePrefix = "topic/"
)

// subscribeMeta is the OPEN metadata of a subscription (docs/PROTOCOL.md §9.3).
type subscribeMeta struct {
	Topic  string    `json:"topic,omitempty"`
	Last   *int      `json:"last,omitempty"`
	From   *Position `json:"from,omitempty"`
	Oldest bool      `json:"oldest,omitempty"`
}

func (m *subscribeMeta) start() (Start, error) {
	s := Start{From: m.From, Oldest: m.Oldest}
	if m.Last != nil {
		if *m.Last < 0 {
			return Start{}, fmt.Errorf("%w: last %d is negative", stream.ErrInvalidArgument, *m.Last)
		}
		if *m.Last == 0 && (m.From != nil || m.Oldest) {
			return Start{}, fmt.Errorf("%w: choose one of last, from and oldest", stream.ErrInvalidArgument)
		}
		s.Last = *m.Last
	}
	return s, s.Validate()
}

// acceptMeta is the ACCEPT metadata of a subscription.
type acceptMeta struct {
	Topic string `json:"topic"`
	FeedInfo
}

// Register adds the route Route (kind stream.Broadcast) to mux: a subscriber
// opens it with metadata naming the topic and where to start, and gets the
// topic's records as a byte stream of records (docs/PROTOCOL.md §9). Use
// RegisterTopic, or Memory.Register, for the per-topic routes topic/NAME.
// Like stream.Mux.Handle, it panics if the route is registered already.
func Register(mux *stream.Mux, b Broker) {
	mux.Handle(Route, stream.Broadcast, topicHandler(b, ""))
}

// RegisterTopic adds the route topic/NAME (kind stream.Broadcast) for one topic.
// Routes are exact, so a subscriber of topic/NAME for a topic that was never
// registered is refused by the session with NO_ROUTE; Route answers NOT_FOUND.
func RegisterTopic(mux *stream.Mux, b Broker, name string) {
	mux.Handle(RoutePrefix+name, stream.Broadcast, topicHandler(b, name))
}

// topicHandler serves subscriptions: it subscribes to the broker, accepts the
// stream, then pumps the feed into the stream until either ends. The stream's
// flow control makes st.Write block while the subscriber is slow; meanwhile the
// topic goes on and the feed's overflow policy decides what the subscriber
// loses. name is the topic of a per-topic route ("" reads it from metadata).
func topicHandler(b Broker, name string) stream.StreamHandler {
	return func(ctx context.Context, st *stream.Stream) error {
		var m subscribeMeta
		if err := st.DecodeMetadata(&m); err != nil {
			return err
		}
		topic := name
		if topic == "" {
			topic = m.Topic
		}
		if m.Topic != "" && m.Topic != topic {
			return fmt.Errorf("%w: metadata names topic %q on the route of %q", stream.ErrInvalidArgument, m.Topic, topic)
		}
		if err := ValidateTopicName(topic); err != nil {
			return err
		}
		start, err := m.start()
		if err != nil {
			return err
		}
		feed, err := b.Subscribe(ctx, topic, start)
		if err != nil {
			return err
		}
		defer feed.Close()
		if err := st.Accept(acceptMeta{Topic: topic, FeedInfo: feed.Info()}); err != nil {
			return err
		}
		return pump(ctx, st, feed)
	}
}

// pump writes the feed's records into st until the feed ends. A nil return
// closes the stream normally (the topic closed).
func pump(ctx context.Context, st *stream.Stream, feed Feed) error {
	recs := make([]Record, 0, 64)
	var buf []byte
	for {
		var err error
		recs, err = feed.Next(ctx, recs[:0])
		if len(recs) > 0 {
			buf = buf[:0]
			for i := range recs {
				buf = AppendRecord(buf, &recs[i])
			}
			clear(recs) // drop references to record data
			if _, werr := st.WriteContext(feed.Context(), buf); werr != nil {
				if cause := context.Cause(feed.Context()); cause != nil {
					return cause
				}
				return werr
			}
			if cap(buf) > 4*maxBatchBytes {
				buf = nil // a huge record passed: do not pin its buffer
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}
