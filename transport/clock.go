package transport

import (
	"math/bits"
	"time"
)

// Clock is the time source of WithFaults. Tests inject a fake one to check pacing without
// depending on wall time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until cancel is closed; it reports whether the full d elapsed.
	Sleep(d time.Duration, cancel <-chan struct{}) bool
}

// SystemClock is the real Clock, backed by package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until cancel is closed.
func (SystemClock) Sleep(d time.Duration, cancel <-chan struct{}) bool {
	if d <= 0 {
		select {
		case <-cancel:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-cancel:
		return false
	}
}

// linkShaper models one direction of a link: a serializer sending bytesPerSecond, followed by
// a fixed propagation delay. Bytes handed over at time t leave the serializer once everything
// before them has (sent) and arrive latency later. Because the model keeps its own timeline,
// a late timer does not slow the link down: the next message is scheduled from the model's
// time, not from when the previous one was actually delivered. Not safe for concurrent use.
type linkShaper struct {
	bytesPerSecond int64 // 0 = unlimited
	latency        time.Duration
	busyUntil      time.Time // when the serializer finishes the bytes scheduled so far
}

// schedule books n bytes handed to the link at now and returns when they finish leaving the
// sender (sent) and when they arrive at the receiver.
func (s *linkShaper) schedule(now time.Time, n int) (sent, arrive time.Time) {
	start := now
	if s.busyUntil.After(start) {
		start = s.busyUntil
	}
	sent = start.Add(transmitTime(int64(n), s.bytesPerSecond))
	s.busyUntil = sent
	return sent, sent.Add(s.latency)
}

// transmitTime is how long n bytes take at bytesPerSecond (0 = unlimited).
func transmitTime(n, bytesPerSecond int64) time.Duration {
	if bytesPerSecond <= 0 || n <= 0 {
		return 0
	}
	whole := n / bytesPerSecond
	rest := n % bytesPerSecond
	// rest*1e9 may overflow 64 bits; the 128-bit product divided by bytesPerSecond is below 1e9.
	hi, lo := bits.Mul64(uint64(rest), uint64(time.Second))
	frac, _ := bits.Div64(hi, lo, uint64(bytesPerSecond))
	return time.Duration(whole)*time.Second + time.Duration(frac)
}
