package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// stopTimeout bounds how long the goroutines of a measurement may take to
// notice that their link was closed.
const stopTimeout = 10 * time.Second

// flow is one one-way bulk transfer: a writer end and a reader end.
type flow struct {
	w io.Writer
	r io.Reader
}

// flowSet runs bulk flows and counts the bytes each one delivers.
type flowSet struct {
	received []atomic.Int64
	stopped  atomic.Bool
	failed   chan struct{}
	errOnce  sync.Once
	err      error
	wg       sync.WaitGroup
}

// startFlows starts a writer and a reader goroutine per flow. Writers write
// msgSize-byte messages as fast as the flow takes them.
func startFlows(flows []flow, msgSize int) *flowSet {
	fs := &flowSet{received: make([]atomic.Int64, len(flows)), failed: make(chan struct{})}
	msg := make([]byte, msgSize)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for i, f := range flows {
		fs.wg.Add(2)
		go func() {
			defer fs.wg.Done()
			for !fs.stopped.Load() {
				if _, err := f.w.Write(msg); err != nil {
					fs.fail(fmt.Errorf("flow %d write: %w", i, err))
					return
				}
			}
		}()
		go func() {
			defer fs.wg.Done()
			buf := make([]byte, msgSize)
			for {
				n, err := f.r.Read(buf)
				fs.received[i].Add(int64(n))
				if err != nil {
					if !errors.Is(err, io.EOF) {
						fs.fail(fmt.Errorf("flow %d read: %w", i, err))
					} else if !fs.stopped.Load() {
						fs.fail(fmt.Errorf("flow %d read: unexpected end of stream", i))
					}
					return
				}
			}
		}()
	}
	return fs
}

// fail records the first error seen before the set was stopped; errors
// after stop are the expected result of tearing the link down.
func (fs *flowSet) fail(err error) {
	if fs.stopped.Load() {
		return
	}
	fs.errOnce.Do(func() {
		fs.err = err
		close(fs.failed)
	})
}

func (fs *flowSet) snapshot() []int64 {
	out := make([]int64, len(fs.received))
	for i := range fs.received {
		out[i] = fs.received[i].Load()
	}
	return out
}

// sleep waits for d, for a flow failure or for ctx, whichever comes first.
func (fs *flowSet) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-fs.failed:
		return fs.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop marks the set stopped, closes the link to unblock every goroutine
// and waits for them.
func (fs *flowSet) stop(link io.Closer) error {
	fs.stopped.Store(true)
	closeErr := link.Close()
	if !waitTimeout(&fs.wg, stopTimeout) {
		return fmt.Errorf("flows did not stop within %v of closing the link", stopTimeout)
	}
	return closeErr
}

// measureFlows runs flows for warmup, then returns each flow's delivered
// bytes per second over a window of length measure. It always stops the
// flows by closing link before returning.
func measureFlows(ctx context.Context, link Link, flows []flow, msgSize int, warmup, measure time.Duration) (rates []float64, err error) {
	fs := startFlows(flows, msgSize)
	defer func() {
		if stopErr := fs.stop(link); err == nil && stopErr != nil {
			err = stopErr
		}
	}()
	if err := fs.sleep(ctx, warmup); err != nil {
		return nil, err
	}
	before, t0 := fs.snapshot(), time.Now()
	if err := fs.sleep(ctx, measure); err != nil {
		return nil, err
	}
	after, t1 := fs.snapshot(), time.Now()
	secs := t1.Sub(t0).Seconds()
	rates = make([]float64, len(flows))
	for i := range flows {
		rates[i] = float64(after[i]-before[i]) / secs
	}
	return rates, nil
}

// openPairs opens n streams on link.
func openPairs(ctx context.Context, link Link, n int) (clients, servers []io.ReadWriteCloser, err error) {
	for i := 0; i < n; i++ {
		c, s, err := link.OpenPair(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("open stream %d of %d: %w", i+1, n, err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	return clients, servers, nil
}

// waitTimeout waits for wg and reports whether it finished within d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// loopbackEnv returns an Env whose client dials the server directly over
// loopback TCP (and UDP).
func loopbackEnv(msgSize int) (Env, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Env{}, nil, fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	return Env{Listener: ln, Dial: dialTCP(addr), MessageSize: msgSize,
		ListenPacket: listenUDP, ClientPacket: listenUDP}, func() {}, nil
}

func listenUDP() (net.PacketConn, error) { return net.ListenPacket("udp", "127.0.0.1:0") }

func dialTCP(addr string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}
