package transport_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
)

// steppingClock is a fake Clock whose Sleep advances its time instead of waiting, so pacing
// can be checked by reading the clock, independent of wall time.
type steppingClock struct {
	mu  sync.Mutex
	now time.Time
}

func newSteppingClock() *steppingClock { return &steppingClock{now: time.Unix(1_000_000, 0)} }

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *steppingClock) Sleep(d time.Duration, cancel <-chan struct{}) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return true
}

// manualClock is a fake Clock that only moves when the test calls Advance.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[chan struct{}]time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Unix(1_000_000, 0), waiters: make(map[chan struct{}]time.Time)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Sleep(d time.Duration, cancel <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	wake := make(chan struct{})
	c.mu.Lock()
	c.waiters[wake] = c.now.Add(d)
	c.mu.Unlock()
	select {
	case <-wake:
		return true
	case <-cancel:
		c.mu.Lock()
		delete(c.waiters, wake)
		c.mu.Unlock()
		return false
	}
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for wake, until := range c.waiters {
		if !until.After(c.now) {
			close(wake)
			delete(c.waiters, wake)
		}
	}
}

func (c *manualClock) sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func TestFaultsBandwidthCapPacesWrites(t *testing.T) {
	transporttest.CheckGoroutines(t)
	const (
		rate  = 1 << 20 // 1 MiB/s
		burst = 64 << 10
		size  = 64 << 10
		count = 64 // 4 MiB: 4 s at the cap
	)
	clk := newSteppingClock()
	a, b := transport.Pipe(0)
	fa := transport.WithFaults(a, transport.FaultConfig{BytesPerSecond: rate, Burst: burst, Clock: clk})
	defer b.Close()
	defer fa.Close()
	drain := transporttest.GoAsync(func() error { return drainN(b, count) })

	start := clk.Now()
	msg := make([]byte, size)
	for range count {
		require.NoError(t, fa.WriteMessage(msg))
	}
	elapsed := clk.Now().Sub(start)
	require.NoError(t, drain.Wait(t, "reader"))

	// Token bucket: the writer may be at most one burst ahead of the link, never behind it.
	total := time.Duration(count*size) * time.Second / rate
	ahead := time.Duration(burst) * time.Second / rate
	require.GreaterOrEqual(t, elapsed, total-ahead, "writes ran faster than the cap")
	require.LessOrEqual(t, elapsed, total, "writes were slowed beyond the cap")
}

func TestFaultsBandwidthLargeMessagesAfterIdle(t *testing.T) {
	transporttest.CheckGoroutines(t)
	clk := newSteppingClock()
	a, b := transport.Pipe(0)
	fa := transport.WithFaults(a, transport.FaultConfig{BytesPerSecond: 1 << 20, Burst: 64 << 10, Clock: clk})
	defer b.Close()
	defer fa.Close()
	drain := transporttest.GoAsync(func() error { return drainN(b, 3) })

	clk.Sleep(time.Hour, nil) // a long idle link saves up no more than one burst
	start := clk.Now()
	msg := make([]byte, 256<<10) // 250 ms at 1 MiB/s
	require.NoError(t, fa.WriteMessage(msg))
	require.Equal(t, 250*time.Millisecond-62500*time.Microsecond, clk.Now().Sub(start))
	require.NoError(t, fa.WriteMessage(msg))
	require.Equal(t, 500*time.Millisecond-62500*time.Microsecond, clk.Now().Sub(start))
	require.NoError(t, fa.WriteMessage(nil)) // empty: no wait beyond the burst
	require.Equal(t, 500*time.Millisecond-62500*time.Microsecond, clk.Now().Sub(start))
	require.NoError(t, drain.Wait(t, "reader"))
}

func TestFaultsLatencyDelaysWithoutBlockingWriter(t *testing.T) {
	transporttest.CheckGoroutines(t)
	const latency = 100 * time.Millisecond
	clk := newManualClock()
	a, b := transport.Pipe(0)
	fa := transport.WithFaults(a, transport.FaultConfig{Latency: latency, Clock: clk})
	defer b.Close()
	defer fa.Close()

	var mu sync.Mutex
	var got []int
	reader := transporttest.GoAsync(func() error {
		for i := range 5 {
			msg, err := b.ReadMessage()
			if err != nil {
				return err
			}
			if len(msg) != i+1 {
				return errors.New("messages out of order")
			}
			mu.Lock()
			got = append(got, len(msg))
			mu.Unlock()
		}
		return nil
	})
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}

	for i := range 5 {
		require.NoError(t, fa.WriteMessage(make([]byte, i+1))) // returns at once: the clock is frozen
	}
	waitFor(t, func() bool { return clk.sleepers() == 1 }, "delivery waits for the first message")
	require.Zero(t, received())
	clk.Advance(latency - time.Nanosecond)
	require.Equal(t, 1, clk.sleepers(), "a message was due before its latency elapsed")
	require.Zero(t, received())
	clk.Advance(time.Nanosecond)
	require.NoError(t, reader.Wait(t, "reader"))
	require.Equal(t, []int{1, 2, 3, 4, 5}, got)
}

func TestFaultsCutAfterBytesIsExact(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := transport.Pipe(0)
	fa := transport.WithFaults(a, transport.FaultConfig{CutAfterBytes: 1000})
	defer b.Close()
	defer fa.Close()

	require.NoError(t, fa.WriteMessage(make([]byte, 600))) // 600
	require.NoError(t, b.WriteMessage(make([]byte, 400)))
	msg, err := fa.ReadMessage() // 1000: reads count as well
	require.NoError(t, err)
	require.Len(t, msg, 400)
	require.NoError(t, b.WriteMessage()) // empty messages still fit
	_, err = fa.ReadMessage()
	require.NoError(t, err)

	blockedRead := transporttest.GoAsync(func() error { _, err := fa.ReadMessage(); return err })
	err = fa.WriteMessage([]byte{1}) // 1001: cut, in both directions
	require.ErrorIs(t, err, transport.ErrInjectedCut)
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, blockedRead.Wait(t, "read across the cut"), transport.ErrInjectedCut)
	require.ErrorIs(t, fa.WriteMessage(), transport.ErrInjectedCut)

	msg, err = b.ReadMessage()
	require.NoError(t, err)
	require.Len(t, msg, 600)
	_, err = b.ReadMessage() // the byte that crossed the limit never arrives
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestFaultsCutAfterMessagesAndHook(t *testing.T) {
	transporttest.CheckGoroutines(t)
	t.Run("CutAfterMessages", func(t *testing.T) {
		a, b := transport.Pipe(0)
		fa := transport.WithFaults(a, transport.FaultConfig{CutAfterMessages: 3})
		defer b.Close()
		defer fa.Close()
		for range 3 {
			require.NoError(t, fa.WriteMessage([]byte("m")))
		}
		require.ErrorIs(t, fa.WriteMessage([]byte("m")), transport.ErrInjectedCut)
	})
	t.Run("OnMessage", func(t *testing.T) {
		errReset := errors.New("test: reset")
		type seen struct {
			d     transport.Direction
			index int64
			size  int
		}
		var calls []seen
		a, b := transport.Pipe(0)
		fa := transport.WithFaults(a, transport.FaultConfig{OnMessage: func(d transport.Direction, index int64, size int) error {
			calls = append(calls, seen{d, index, size})
			if index == 2 {
				return errReset
			}
			return nil
		}})
		defer b.Close()
		defer fa.Close()
		require.NoError(t, fa.WriteMessage([]byte("ab")))
		require.NoError(t, b.WriteMessage([]byte("cde")))
		_, err := fa.ReadMessage()
		require.NoError(t, err)
		require.ErrorIs(t, fa.WriteMessage([]byte("f")), errReset)
		require.ErrorIs(t, fa.WriteMessage([]byte("g")), transport.ErrClosed)
		require.Equal(t, []seen{{transport.Outbound, 0, 2}, {transport.Inbound, 1, 3}, {transport.Outbound, 2, 1}}, calls)
	})
}

func TestFaultsInvalidConfig(t *testing.T) {
	for _, cfg := range []transport.FaultConfig{
		{Latency: -1}, {BytesPerSecond: -1}, {Burst: -1}, {MaxInFlightBytes: -1}, {CutAfterBytes: -1}, {CutAfterMessages: -1},
	} {
		require.ErrorIs(t, cfg.Validate(), transport.ErrInvalidConfig)
		a, b := transport.Pipe(0)
		require.Panics(t, func() { transport.WithFaults(a, cfg) })
		a.Close()
		b.Close()
	}
	require.NoError(t, transport.FaultConfig{}.Validate())
}

func TestFaultsCloseFlushesDelayedMessages(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := transport.Pipe(0)
	defer b.Close()
	fa := transport.WithFaults(a, transport.FaultConfig{Latency: 20 * time.Millisecond, BytesPerSecond: 50 << 20})
	for i := range 20 {
		require.NoError(t, fa.WriteMessage(transporttest.Payload(i, 10000)))
	}
	closed := transporttest.GoAsync(fa.Close)
	for i := range 20 {
		msg, err := b.ReadMessage()
		require.NoError(t, err)
		transporttest.RequirePayload(t, msg, i, 10000)
	}
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	require.NoError(t, closed.Wait(t, "Close"))
}

func drainN(c transport.Conn, n int) error {
	for range n {
		if _, err := c.ReadMessage(); err != nil {
			return err
		}
	}
	return nil
}

// waitFor polls cond until it holds (failing the test on a hang).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(transporttest.DeadlockGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
