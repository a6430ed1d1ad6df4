package harness

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidProfile is returned (wrapped) by Profile.Validate.
var ErrInvalidProfile = errors.New("bench: invalid profile")

// Profile sizes a run: how often and how long each scenario measures. Use
// FullProfile, QuickProfile or TinyProfile and adjust fields as needed.
type Profile struct {
	// Name labels the profile in reports ("full", "quick", "tiny").
	Name string `json:"name"`
	// Repeat is how many times every measurement is repeated.
	Repeat int `json:"repeat"`

	// Warmup is how long a transfer runs before its measuring window opens.
	Warmup time.Duration `json:"warmup_ns"`
	// Measure is the length of a transfer's measuring window.
	Measure time.Duration `json:"measure_ns"`
	// MessageSizes are the write sizes of the throughput scenario.
	MessageSizes []int `json:"message_sizes"`
	// StreamCounts are the stream counts of the concurrency scenario.
	StreamCounts []int `json:"stream_counts"`
	// BulkMessageSize is the write size of bulk streams in the concurrency,
	// head-of-line and long-fat-link scenarios.
	BulkMessageSize int `json:"bulk_message_size"`

	// HOLMeasure is how long the head-of-line scenario sends pings.
	HOLMeasure time.Duration `json:"hol_measure_ns"`
	// HOLMaxPings caps the pings of one head-of-line measurement.
	HOLMaxPings int `json:"hol_max_pings"`

	// LinkRTT is the round-trip time of the emulated long fat link.
	LinkRTT time.Duration `json:"link_rtt_ns"`
	// LinkRate is the emulated link's bandwidth per direction, bytes/s.
	LinkRate int64 `json:"link_rate_bytes_per_s"`
	// LinkWarmup and LinkMeasure replace Warmup and Measure on the link.
	LinkWarmup time.Duration `json:"link_warmup_ns"`
	// LinkMeasure is the measuring window on the emulated link.
	LinkMeasure time.Duration `json:"link_measure_ns"`

	// LossRTT is the round-trip time of the lossy scenario's packet-level
	// link emulator.
	LossRTT time.Duration `json:"loss_rtt_ns"`
	// LossRate is that link's bandwidth per direction, bytes/s.
	LossRate int64 `json:"loss_rate_bytes_per_s"`
	// LossRates are the packet loss probabilities (each direction) of the
	// lossy scenario's cases, each in [0, 1); empty leaves the scenario
	// without cases.
	LossRates []float64 `json:"loss_rates"`
	// LossWarmup is how long the lossy scenario's transfers run before its
	// measuring windows open.
	LossWarmup time.Duration `json:"loss_warmup_ns"`
	// LossMeasure is the lossy scenario's measuring window, for the upload
	// and for the pings.
	LossMeasure time.Duration `json:"loss_measure_ns"`

	// CompressionCorpus is the size of each generated data set.
	CompressionCorpus int `json:"compression_corpus_bytes"`
	// CompressionMessage is the size of each independently compressed message.
	CompressionMessage int `json:"compression_message_bytes"`
	// CompressionMeasure is the minimum time each direction is timed for.
	CompressionMeasure time.Duration `json:"compression_measure_ns"`

	// SessionCounts are the numbers of idle sessions the sessions scenario opens.
	SessionCounts []int `json:"session_counts"`
	// SessionDialers is how many goroutines of the child process dial at once.
	SessionDialers int `json:"session_dialers"`

	// DatasetRows is how many rows each export of the dataset scenario moves.
	DatasetRows int `json:"dataset_rows"`

	// FanoutSubscribers are the subscriber counts of the fanout scenario;
	// it measures over Warmup and Measure.
	FanoutSubscribers []int `json:"fanout_subscribers"`
	// FanoutLineSize is the size of each published line, in bytes.
	FanoutLineSize int `json:"fanout_line_bytes"`
}

// FullProfile is the default sizing: 5 repeats, 1 s windows, sizes of the
// issue (4 KiB/64 KiB/1 MiB; 8 and 64 streams; 1,000 and 10,000 sessions).
func FullProfile() Profile {
	return Profile{
		Name:               "full",
		Repeat:             5,
		Warmup:             200 * time.Millisecond,
		Measure:            time.Second,
		MessageSizes:       []int{4 << 10, 64 << 10, 1 << 20},
		StreamCounts:       []int{1, 8, 64},
		BulkMessageSize:    64 << 10,
		HOLMeasure:         time.Second,
		HOLMaxPings:        200_000,
		LinkRTT:            50 * time.Millisecond,
		LinkRate:           50_000_000,
		LinkWarmup:         500 * time.Millisecond,
		LinkMeasure:        2 * time.Second,
		LossRTT:            50 * time.Millisecond,
		LossRate:           12_500_000,
		LossRates:          []float64{0, 0.01, 0.05},
		LossWarmup:         time.Second,
		LossMeasure:        4 * time.Second,
		CompressionCorpus:  8 << 20,
		CompressionMessage: 64 << 10,
		CompressionMeasure: 500 * time.Millisecond,
		SessionCounts:      []int{1_000, 10_000},
		SessionDialers:     32,
		DatasetRows:        1_000_000,
		FanoutSubscribers:  []int{1, 10, 100, 1_000},
		FanoutLineSize:     120,
	}
}

// QuickProfile is for CI smoke runs: the same scenarios and cases with
// fewer repeats, short windows and smaller counts; it finishes in well
// under two minutes on a 2-core machine.
func QuickProfile() Profile {
	p := FullProfile()
	p.Name = "quick"
	p.Repeat = 2
	p.Warmup = 50 * time.Millisecond
	p.Measure = 200 * time.Millisecond
	p.HOLMeasure = 250 * time.Millisecond
	p.LinkWarmup = 250 * time.Millisecond
	p.LinkMeasure = 500 * time.Millisecond
	p.LossRates = []float64{0.01} // one loss rate keeps --quick under two minutes
	p.LossWarmup = 250 * time.Millisecond
	p.LossMeasure = 500 * time.Millisecond
	p.CompressionCorpus = 1 << 20
	p.CompressionMeasure = 50 * time.Millisecond
	p.SessionCounts = []int{1_000}
	p.DatasetRows = 200_000
	p.FanoutSubscribers = []int{1, 10, 100}
	return p
}

// TinyProfile exercises every scenario and case in seconds; it is for tests
// of the harness itself, its numbers mean little.
func TinyProfile() Profile {
	return Profile{
		Name:               "tiny",
		Repeat:             1,
		Warmup:             5 * time.Millisecond,
		Measure:            40 * time.Millisecond,
		MessageSizes:       []int{4 << 10, 64 << 10},
		StreamCounts:       []int{1, 4},
		BulkMessageSize:    16 << 10,
		HOLMeasure:         20 * time.Millisecond,
		HOLMaxPings:        1_000,
		LinkRTT:            10 * time.Millisecond,
		LinkRate:           20_000_000,
		LinkWarmup:         20 * time.Millisecond,
		LinkMeasure:        40 * time.Millisecond,
		LossRTT:            10 * time.Millisecond,
		LossRate:           20_000_000,
		LossRates:          []float64{0.01},
		LossWarmup:         20 * time.Millisecond,
		LossMeasure:        60 * time.Millisecond,
		CompressionCorpus:  128 << 10,
		CompressionMessage: 16 << 10,
		CompressionMeasure: 5 * time.Millisecond,
		SessionCounts:      []int{20},
		SessionDialers:     4,
		DatasetRows:        20_000,
		FanoutSubscribers:  []int{1, 3},
		FanoutLineSize:     120,
	}
}

// Validate checks that every field can drive a run.
func (p Profile) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProfile}, args...)...)
	}
	switch {
	case p.Repeat < 1:
		return bad("Repeat %d < 1", p.Repeat)
	case p.Warmup < 0 || p.LinkWarmup < 0 || p.LossWarmup < 0:
		return bad("negative warmup")
	case p.Measure <= 0 || p.HOLMeasure <= 0 || p.LinkMeasure <= 0 || p.CompressionMeasure <= 0 || p.LossMeasure <= 0:
		return bad("measuring windows must be positive")
	case p.BulkMessageSize < 1:
		return bad("BulkMessageSize %d < 1", p.BulkMessageSize)
	case p.HOLMaxPings < 1:
		return bad("HOLMaxPings %d < 1", p.HOLMaxPings)
	case p.LinkRTT < 0 || p.LinkRate < 0:
		return bad("negative link RTT or rate")
	case p.LossRTT < 0 || p.LossRate < 0:
		return bad("negative lossy link RTT or rate")
	case p.CompressionMessage < 1 || p.CompressionCorpus < p.CompressionMessage:
		return bad("CompressionCorpus %d must hold at least one CompressionMessage %d",
			p.CompressionCorpus, p.CompressionMessage)
	case p.SessionDialers < 1:
		return bad("SessionDialers %d < 1", p.SessionDialers)
	case p.DatasetRows < 1:
		return bad("DatasetRows %d < 1", p.DatasetRows)
	case p.FanoutLineSize < 1 || p.FanoutLineSize > maxFanoutLine:
		return bad("FanoutLineSize %d not in 1..%d", p.FanoutLineSize, maxFanoutLine)
	}
	for _, x := range p.LossRates {
		if !(x >= 0 && x < 1) {
			return bad("loss rate %v not in [0, 1)", x)
		}
	}
	for _, n := range p.MessageSizes {
		if n < 1 {
			return bad("message size %d < 1", n)
		}
	}
	for _, n := range p.StreamCounts {
		if n < 1 {
			return bad("stream count %d < 1", n)
		}
	}
	for _, n := range p.SessionCounts {
		if n < 1 {
			return bad("session count %d < 1", n)
		}
	}
	for _, n := range p.FanoutSubscribers {
		if n < 1 {
			return bad("fanout subscriber count %d < 1", n)
		}
	}
	return nil
}
