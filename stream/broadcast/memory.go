package broadcast

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/streamd/streamd/stream"
)

// Memory is the in-process Broker: topics live in this process's memory, each
// bounded by its TopicConfig.
type Memory struct {
	defaults TopicConfig

	mu     sync.Mutex
	topics map[string]*Topic
	muxes  []*stream.Mux // where new topics get their topic/NAME route
	closed bool
}

var _ Broker = (*Memory)(nil)

// NewMemory returns an empty broker whose topics default to defaults (nil:
// the TopicConfig defaults).
func NewMemory(defaults *TopicConfig) (*Memory, error) {
	if err := defaults.Validate(); err != nil {
		return nil, err
	}
	return &Memory{defaults: defaults.withDefaults(), topics: make(map[string]*Topic)}, nil
}

// CreateTopic adds a topic. cfg's zero fields take the broker's defaults (nil:
// the broker's defaults). A name already taken is ErrTopicExists.
func (m *Memory) CreateTopic(name string, cfg *TopicConfig) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	c := m.defaults
	if cfg != nil {
		c = mergeConfig(*cfg, m.defaults)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("%w: broker closed", ErrTopicClosed)
	}
	if _, dup := m.topics[name]; dup {
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	t := newTopic(name, c)
	m.topics[name] = t
	for _, mux := range m.muxes {
		RegisterTopic(mux, m, name)
	}
	return t, nil
}

// mergeConfig fills c's zero fields from d.
func mergeConfig(c, d TopicConfig) TopicConfig {
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.ReplayBytes == 0 {
		c.ReplayBytes = d.ReplayBytes
	}
	if c.ReplayRecords == 0 {
		c.ReplayRecords = d.ReplayRecords
	}
	if c.Policy == DropOldest { // the zero value: the broker's default
		c.Policy = d.Policy
	}
	if c.MaxRecord == 0 {
		c.MaxRecord = min(d.MaxRecord, c.QueueBytes-DataOverhead, c.ReplayBytes-DataOverhead)
	}
	return c
}

// Topic returns the named topic, or nil.
func (m *Memory) Topic(name string) *Topic {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.topics[name]
}

// Topics returns the topic names, sorted.
func (m *Memory) Topics() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.topics))
	for n := range m.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (m *Memory) lookup(name string) (*Topic, error) {
	if t := m.Topic(name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoTopic, name)
}

// Publish appends data to the named topic (see Topic.Publish).
func (m *Memory) Publish(topic string, data []byte) (Position, error) {
	t, err := m.lookup(topic)
	if err != nil {
		return Position{}, err
	}
	return t.Publish(data)
}

// Restart begins a new epoch on the named topic (see Topic.Restart).
func (m *Memory) Restart(topic string) (uint64, error) {
	t, err := m.lookup(topic)
	if err != nil {
		return 0, err
	}
	return t.Restart()
}

// Subscribe starts a feed on the named topic (see Topic.Subscribe).
func (m *Memory) Subscribe(ctx context.Context, topic string, start Start) (Feed, error) {
	t, err := m.lookup(topic)
	if err != nil {
		return nil, err
	}
	return t.Subscribe(ctx, start)
}

// Register serves the broker's topics on mux (see the package Register), and
// the route topic/NAME of every topic, including topics created later.
func (m *Memory) Register(mux *stream.Mux) {
	Register(mux, m)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.muxes = append(m.muxes, mux)
	for name := range m.topics {
		RegisterTopic(mux, m, name)
	}
}

// Close closes every topic: subscriptions end once they have taken what was
// published, and the broker takes no new topics.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	topics := make([]*Topic, 0, len(m.topics))
	for _, t := range m.topics {
		topics = append(topics, t)
	}
	m.mu.Unlock()
	for _, t := range topics {
		t.Close()
	}
	return nil
}
