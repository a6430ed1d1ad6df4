package netem

import (
	"errors"
	"fmt"
	"math"
	"time"
)

var (
	// ErrInvalidConfig is returned (wrapped) by Config.Validate, New and
	// SetLoss for a value out of range.
	ErrInvalidConfig = errors.New("netem: invalid config")
	// ErrUnavailable is returned (wrapped, with the cause) by Available and
	// New when this machine cannot run the emulator: not root, no
	// /dev/net/tun, no iproute2, or network namespaces refused. Callers skip
	// with its message.
	ErrUnavailable = errors.New("netem: packet-level link emulation unavailable")
	// ErrClosed is returned by the socket helpers of a closed Link.
	ErrClosed = errors.New("netem: link closed")
)

// Defaults and limits of Config.
const (
	// DefaultMTU is the MTU of both TUN devices when Config.MTU is 0.
	DefaultMTU = 1500
	// MinMTU and MaxMTU bound Config.MTU.
	MinMTU, MaxMTU = 1280, 65535
	// MinQueueBytes is the smallest default queue: 16 full-size packets,
	// so that a link with a tiny bandwidth-delay product still queues a
	// burst.
	MinQueueBytes = 16 * DefaultMTU
	// UnshapedQueueBytes is the default cap on the bytes held in flight by
	// a direction without a bandwidth cap (the delay line alone).
	UnshapedQueueBytes = 4 << 20
	// MaxDelay bounds Shape.Delay.
	MaxDelay = time.Minute
)

// Shape is what one direction of the link does to the packets crossing it.
// The zero value forwards every packet at once.
type Shape struct {
	// Delay is the one-way propagation delay added to every packet
	// (round-trip time = Up.Delay + Down.Delay). Default 0; at most MaxDelay.
	Delay time.Duration
	// BytesPerSecond caps the direction's bandwidth: each packet is
	// serialised at this rate behind the packets queued before it. 0 (the
	// default) means no cap.
	BytesPerSecond int64
	// Loss is the probability, 0 to 1, that a packet is dropped on the wire
	// (before it queues). Default 0.
	Loss float64
	// MeanBurst is the mean number of consecutive packets a loss event
	// drops. 0 or 1 (the default): every packet is dropped independently
	// (Bernoulli). Above 1: a two-state Gilbert model whose bad state drops
	// every packet, with the long-run loss rate still Loss.
	MeanBurst float64
}

// Config configures New. The zero value is a link that only forwards.
type Config struct {
	// Up shapes the client→server direction, Down the server→client one.
	Up, Down Shape
	// Seed seeds the loss processes (each direction gets its own stream
	// from it), so a run's drop pattern is reproducible for the same
	// sequence of packets. Default 0.
	Seed uint64
	// QueueBytes is the drop-tail queue of each capped direction: a packet
	// arriving while more than QueueBytes wait to be serialised is dropped.
	// Default: one bandwidth-delay product (rate × round-trip time), at
	// least MinQueueBytes. For a direction without a bandwidth cap it bounds
	// the bytes held in the delay line instead (default UnshapedQueueBytes).
	QueueBytes int
	// MTU of both TUN devices. Default DefaultMTU; MinMTU to MaxMTU.
	MTU int
	// TCPCongestionControl, if set, is the congestion controller ("cubic",
	// "reno", "bbr": one the kernel offers) of the TCP sockets made by
	// Endpoint.Listen and Endpoint.DialContext and of the connections such a
	// listener accepts, so that it is a choice of the experiment rather than
	// the host's default. (It is set per socket: a namespace other than the
	// host's may only default to the host's tcp_allowed_congestion_control.)
	// Default: the host's default.
	TCPCongestionControl string
}

// Validate checks every field; errors match ErrInvalidConfig.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		s    Shape
	}{{"Up", c.Up}, {"Down", c.Down}} {
		if err := d.s.validate(d.name); err != nil {
			return err
		}
	}
	if c.QueueBytes < 0 {
		return fmt.Errorf("%w: QueueBytes %d < 0", ErrInvalidConfig, c.QueueBytes)
	}
	if c.MTU != 0 && (c.MTU < MinMTU || c.MTU > MaxMTU) {
		return fmt.Errorf("%w: MTU %d not in [%d, %d]", ErrInvalidConfig, c.MTU, MinMTU, MaxMTU)
	}
	for _, r := range c.TCPCongestionControl {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%w: TCPCongestionControl %q is not an algorithm name", ErrInvalidConfig, c.TCPCongestionControl)
		}
	}
	if c.QueueBytes != 0 && c.QueueBytes < c.mtu() {
		return fmt.Errorf("%w: QueueBytes %d holds no full-size packet (MTU %d)", ErrInvalidConfig, c.QueueBytes, c.mtu())
	}
	return nil
}

func (s Shape) validate(dir string) error {
	switch {
	case s.Delay < 0 || s.Delay > MaxDelay:
		return fmt.Errorf("%w: %s.Delay %v not in [0, %v]", ErrInvalidConfig, dir, s.Delay, MaxDelay)
	case s.BytesPerSecond < 0:
		return fmt.Errorf("%w: %s.BytesPerSecond %d < 0", ErrInvalidConfig, dir, s.BytesPerSecond)
	case s.MeanBurst < 0 || math.IsNaN(s.MeanBurst) || math.IsInf(s.MeanBurst, 0):
		return fmt.Errorf("%w: %s.MeanBurst %v < 0", ErrInvalidConfig, dir, s.MeanBurst)
	}
	if err := checkLoss(s.Loss, s.MeanBurst); err != nil {
		return fmt.Errorf("%s.%w", dir, err)
	}
	return nil
}

// checkLoss checks a loss rate against the burst length it goes with.
func checkLoss(loss, meanBurst float64) error {
	if !(loss >= 0 && loss <= 1) { // also catches NaN
		return fmt.Errorf("Loss %v: %w: loss must be in [0, 1]", loss, ErrInvalidConfig)
	}
	if meanBurst > 1 && loss > 0 && goodToBad(loss, meanBurst) > 1 {
		return fmt.Errorf("Loss %v: %w: too high for MeanBurst %v (at most %v)",
			loss, ErrInvalidConfig, meanBurst, meanBurst/(meanBurst+1))
	}
	return nil
}

// goodToBad is the Gilbert model's per-packet probability of entering the
// bad state, chosen so that the stationary share of the bad state is loss
// when the bad state lasts meanBurst packets on average.
func goodToBad(loss, meanBurst float64) float64 {
	if loss >= 1 {
		return 1
	}
	return loss / (meanBurst * (1 - loss))
}

func (c Config) mtu() int {
	if c.MTU == 0 {
		return DefaultMTU
	}
	return c.MTU
}

// rtt is the round-trip propagation delay.
func (c Config) rtt() time.Duration { return c.Up.Delay + c.Down.Delay }

// queueBytes is the queue limit of direction s.
func (c Config) queueBytes(s Shape) int64 {
	if c.QueueBytes > 0 {
		return int64(c.QueueBytes)
	}
	if s.BytesPerSecond == 0 {
		return UnshapedQueueBytes
	}
	bdp := int64(float64(s.BytesPerSecond) * c.rtt().Seconds())
	return max(bdp, MinQueueBytes)
}
