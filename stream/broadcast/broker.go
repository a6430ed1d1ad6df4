package broadcast

import (
	"context"
	"errors"
	"fmt"

	"github.com/streamd/streamd/stream"
)

// Broker holds named topics: publishers append records, subscribers follow
// them. It is the narrow interface a multi-node deployment would implement on
// an existing system (NATS JetStream, Redis streams); Memory is the in-process
// implementation. Register serves any Broker's topics to streamd sessions.
type Broker interface {
	// Publish appends one record to topic and returns its position. It never
	// waits for subscribers. data is copied.
	Publish(topic string, data []byte) (Position, error)
	// Restart begins a new epoch on topic (its source restarted) and returns it.
	Restart(topic string) (epoch uint64, err error)
	// Subscribe starts following topic at start. The feed ends when ctx is
	// cancelled, when Close is called, or when the subscriber is disconnected
	// by the topic's overflow policy.
	Subscribe(ctx context.Context, topic string, start Start) (Feed, error)
}

// Start says where a subscription begins. The zero value means "live": only
// records published from now on. At most one of Last, From and Oldest is set.
type Start struct {
	// Last > 0 first delivers (up to) the last Last records the topic retains.
	Last int
	// From resumes at a position: the records of epoch From.Epoch from sequence
	// From.Seq on, then everything after. If the topic no longer knows that
	// epoch (its source restarted), the feed says so with an EPOCH record whose
	// Previous is From.Epoch and goes on from the start of the next epoch.
	From *Position
	// Oldest first delivers every record the topic retains.
	Oldest bool
}

// Validate checks that at most one start is chosen and that it is well formed.
func (s Start) Validate() error {
	set := 0
	if s.Last != 0 {
		set++
	}
	if s.From != nil {
		set++
	}
	if s.Oldest {
		set++
	}
	switch {
	case set > 1:
		return fmt.Errorf("%w: choose one of last, from and oldest", stream.ErrInvalidArgument)
	case s.Last < 0:
		return fmt.Errorf("%w: last %d is negative", stream.ErrInvalidArgument, s.Last)
	case s.From != nil && (s.From.Epoch == 0 || s.From.Seq == 0):
		return fmt.Errorf("%w: position %v: epoch and seq start at 1", stream.ErrInvalidArgument, *s.From)
	case s.From != nil && (s.From.Epoch > maxJSONInt || s.From.Seq > maxJSONInt):
		return fmt.Errorf("%w: position %v above 2^53", stream.ErrInvalidArgument, *s.From)
	}
	return nil
}

// maxJSONInt is the largest integer a JSON number (an IEEE double) holds exactly.
const maxJSONInt = 1<<53 - 1

// Feed is one subscriber's view of a topic.
//
// Concurrency: Next is called by one goroutine at a time; Context, Info and
// Close may be called from any goroutine.
type Feed interface {
	// Next appends the records available now to dst (at least one; it blocks
	// until there is one) and returns the extended slice. Records are DATA,
	// GAP and EPOCH records in delivery order; Data slices are shared and must
	// not be modified. When the topic closes, Next returns io.EOF once every
	// record was taken; when the subscriber was disconnected, an error matching
	// stream.ErrSlowConsumer; when ctx ends, ctx.Err().
	Next(ctx context.Context, dst []Record) ([]Record, error)
	// Context is cancelled when the feed ends; context.Cause tells why (an
	// error matching stream.ErrSlowConsumer for a policy disconnect). A writer
	// pumping the feed into a stream waits on it, so that a subscriber stuck in
	// a write is cut off the moment the policy disconnects it.
	Context() context.Context
	// Info describes the topic's limits for this subscriber.
	Info() FeedInfo
	// Close ends the feed and releases its place in the topic.
	Close() error
}

// FeedInfo describes a subscription's limits; the server sends it in ACCEPT.
type FeedInfo struct {
	// MaxRecord is the largest data of one record on the topic.
	MaxRecord int `json:"maxRecord"`
	// Policy applies when the subscriber falls more than QueueBytes behind.
	Policy Policy `json:"policy"`
	// QueueBytes caps what the subscriber may lag behind (encoded bytes).
	QueueBytes int `json:"queueBytes"`
}

// Policy is what happens to a subscriber that falls further behind than its
// queue allows.
type Policy int

// Overflow policies.
const (
	// DropOldest drops the subscriber's oldest records and tells it with a GAP
	// record counting the records and bytes it lost. The default.
	DropOldest Policy = iota
	// Disconnect ends the subscription with SLOW_CONSUMER.
	Disconnect
)

var policyNames = [...]string{"drop-oldest", "disconnect"}

func (p Policy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy parses "drop-oldest" or "disconnect".
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: policy %q (want drop-oldest or disconnect)", stream.ErrInvalidArgument, s)
}

// MarshalText writes the policy's name.
func (p Policy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(policyNames) {
		return nil, fmt.Errorf("broadcast: unknown policy %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses a policy name.
func (p *Policy) UnmarshalText(b []byte) error {
	v, err := ParsePolicy(string(b))
	if err == nil {
		*p = v
	}
	return err
}

// Errors of brokers and topics. Each matches the stream sentinel of the code a
// subscriber is told (errors.Is(ErrNoTopic, stream.ErrNotFound) holds).
var (
	// ErrNoTopic: the topic does not exist (NOT_FOUND).
	ErrNoTopic = fmt.Errorf("broadcast: no such topic (%w)", stream.ErrNotFound)
	// ErrTopicClosed: the topic or broker was closed (NOT_FOUND for new subscribers).
	ErrTopicClosed = fmt.Errorf("broadcast: topic closed (%w)", stream.ErrNotFound)
	// ErrTopicExists: CreateTopic of a name already taken.
	ErrTopicExists = errors.New("broadcast: topic exists")
	// ErrFeedClosed: Next after Close.
	ErrFeedClosed = errors.New("broadcast: feed closed")
)

// ValidateTopicName checks a topic name: 1–249 bytes (so that "topic/"+name is
// a valid route) of letters, digits and "._-:/".
func ValidateTopicName(name string) error {
	if name == "" || len(name) > 249 {
		return fmt.Errorf("%w: topic name must be 1-249 bytes", stream.ErrInvalidArgument)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
		if !ok {
			return fmt.Errorf("%w: topic name %q: only letters, digits and ._-:/", stream.ErrInvalidArgument, name)
		}
	}
	return nil
}
