package broadcast

import (
	"errors"
	"fmt"
)

// Defaults of TopicConfig.
const (
	DefaultQueueBytes    = 1 << 20
	DefaultReplayBytes   = 4 << 20
	DefaultReplayRecords = 10000
	DefaultMaxRecord     = 64 << 10
	// MaxRecordLimit is the largest MaxRecord a topic may have.
	MaxRecordLimit = 16 << 20
)

// TopicConfig tunes a topic. The zero value of every field means the default
// its comment states; a nil *TopicConfig means all defaults.
type TopicConfig struct {
	// QueueBytes caps each subscriber's queue: the encoded bytes of the records
	// published since it subscribed that it has not taken yet. A subscriber
	// over the cap is handled by Policy. Default 1 MiB.
	QueueBytes int
	// Policy is what happens to a subscriber over QueueBytes. Default DropOldest.
	Policy Policy
	// ReplayBytes and ReplayRecords bound the topic's replay ring (the newest
	// records, kept for "last N", resume and subscribers catching up). Defaults
	// 4 MiB and 10,000 records. A subscriber whose next record leaves the ring
	// has overflowed too, whatever its queue holds.
	ReplayBytes   int
	ReplayRecords int
	// MaxRecord is the largest data of one record. Default 64 KiB, at most
	// MaxRecordLimit; it must fit in QueueBytes and ReplayBytes.
	MaxRecord int
}

func (c *TopicConfig) withDefaults() TopicConfig {
	var out TopicConfig
	if c != nil {
		out = *c
	}
	if out.QueueBytes == 0 {
		out.QueueBytes = DefaultQueueBytes
	}
	if out.ReplayBytes == 0 {
		out.ReplayBytes = DefaultReplayBytes
	}
	if out.ReplayRecords == 0 {
		out.ReplayRecords = DefaultReplayRecords
	}
	if out.MaxRecord == 0 {
		out.MaxRecord = min(DefaultMaxRecord, out.QueueBytes-DataOverhead, out.ReplayBytes-DataOverhead)
	}
	return out
}

// Validate checks the fields against each other. Zero fields are valid.
func (c *TopicConfig) Validate() error {
	if c == nil {
		return nil
	}
	d := c.withDefaults()
	var errs []error
	if d.QueueBytes < 0 || d.ReplayBytes < 0 || d.ReplayRecords < 0 || d.MaxRecord < 0 {
		errs = append(errs, errors.New("sizes must not be negative"))
	}
	if d.Policy != DropOldest && d.Policy != Disconnect {
		errs = append(errs, fmt.Errorf("unknown policy %d", int(d.Policy)))
	}
	if d.MaxRecord < 1 || d.MaxRecord > MaxRecordLimit {
		errs = append(errs, fmt.Errorf("MaxRecord %d outside [1, %d]", d.MaxRecord, MaxRecordLimit))
	}
	if d.MaxRecord+DataOverhead > d.QueueBytes {
		errs = append(errs, fmt.Errorf("QueueBytes %d cannot hold one record of MaxRecord %d", d.QueueBytes, d.MaxRecord))
	}
	if d.MaxRecord+DataOverhead > d.ReplayBytes {
		errs = append(errs, fmt.Errorf("ReplayBytes %d cannot hold one record of MaxRecord %d", d.ReplayBytes, d.MaxRecord))
	}
	if len(errs) > 0 {
		return fmt.Errorf("broadcast: topic config: %w", errors.Join(errs...))
	}
	return nil
}
