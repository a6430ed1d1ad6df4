package transporttest

import (
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// DeadlockGuard bounds every wait of these helpers. It is not a timing assertion: it only
// turns a hang into a failure.
const DeadlockGuard = 15 * time.Second

// stallQuiet is how long a Progress must not move before WaitStalled calls it stalled.
const stallQuiet = 200 * time.Millisecond

// CheckGoroutines fails the test if, once its cleanups have run, more goroutines are alive
// than when it started. Register it before anything that starts goroutines.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(DeadlockGuard)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutine leak: %d before, %d after\n%s", before, n, buf)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// Payload returns a deterministic message of size bytes for message number id, such that a
// reordered, truncated or corrupted message is detected.
func Payload(id, size int) []byte {
	b := make([]byte, size)
	fillPayload(b, id)
	return b
}

// fillPayload writes the content of Payload(id, len(b)) into b.
func fillPayload(b []byte, id int) {
	var word [8]byte
	for off := 0; off < len(b); off += 8 {
		binary.LittleEndian.PutUint64(word[:], uint64(id)<<40|uint64(off))
		copy(b[off:], word[:])
	}
}

// RequirePayload fails the test unless got is Payload(id, size), naming the first
// differing byte.
func RequirePayload(t testing.TB, got []byte, id, size int) {
	t.Helper()
	require.Equal(t, size, len(got), "message %d: size", id)
	if want := Payload(id, size); string(got) != string(want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("message %d (%d bytes): first difference at byte %d", id, size, i)
			}
		}
	}
}

// SendAll writes Payload(i, sizes[i]) for each size in turn, as its own message.
func SendAll(c transport.Conn, sizes []int) error {
	for i, size := range sizes {
		if err := c.WriteMessage(Payload(i, size)); err != nil {
			return err
		}
	}
	return nil
}

// ReceiveAll reads the messages SendAll(sizes) wrote, failing the test on any difference.
func ReceiveAll(t testing.TB, c transport.Conn, sizes []int) {
	t.Helper()
	for i, size := range sizes {
		got, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		RequirePayload(t, got, i, size)
	}
}

// Async is a function running in its own goroutine (see GoAsync).
type Async struct {
	done chan struct{}
	err  error
}

// GoAsync runs fn in a goroutine.
func GoAsync(fn func() error) *Async {
	a := &Async{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = fn()
	}()
	return a
}

// Done is closed when the function has returned.
func (a *Async) Done() <-chan struct{} { return a.done }

// Wait returns the function's error, failing the test if it has not returned within
// DeadlockGuard; what names the operation in that failure.
func (a *Async) Wait(t testing.TB, what string) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(DeadlockGuard):
		t.Fatalf("%s: still blocked after %v", what, DeadlockGuard)
		return nil
	}
}

// Progress counts operations done by a goroutine so a test can wait until it stalls. The
// zero value is ready; it is safe for concurrent use.
type Progress struct {
	mu sync.Mutex
	n  int
}

// Add counts one operation.
func (p *Progress) Add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

// Load returns the number of operations counted.
func (p *Progress) Load() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// WaitStalled returns the count once p has not moved for a while (the goroutine is
// blocked), or once done is closed. It waits for a state, it asserts nothing about time.
func (p *Progress) WaitStalled(t testing.TB, done <-chan struct{}) int {
	t.Helper()
	deadline := time.Now().Add(DeadlockGuard)
	last, since := p.Load(), time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return p.Load()
		case <-time.After(10 * time.Millisecond):
		}
		if n := p.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > stallQuiet {
			return n
		}
	}
	t.Fatalf("never stalled (%d operations)", last)
	return 0
}
