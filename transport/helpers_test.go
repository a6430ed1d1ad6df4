package transport_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deadlockGuard bounds every wait in these tests. It is not a timing assertion: it only turns
// a hang into a failure.
const deadlockGuard = 15 * time.Second

// checkGoroutines fails the test if, once its cleanups have run, more goroutines are alive
// than when it started. Register it before anything that starts goroutines.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(deadlockGuard)
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

// payload returns a deterministic message of size bytes for message number id, such that a
// reordered, truncated or corrupted message is detected.
func payload(id, size int) []byte {
	b := make([]byte, size)
	fillPayload(b, id)
	return b
}

func fillPayload(b []byte, id int) {
	var word [8]byte
	for off := 0; off < len(b); off += 8 {
		binary.LittleEndian.PutUint64(word[:], uint64(id)<<40|uint64(off))
		copy(b[off:], word[:])
	}
}

func requirePayload(t *testing.T, got []byte, id, size int) {
	t.Helper()
	require.Equal(t, size, len(got), "message %d: size", id)
	want := payload(id, size)
	if string(got) != string(want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("message %d (%d bytes): first difference at byte %d", id, size, i)
			}
		}
	}
}

// async runs fn in a goroutine; wait returns its error, failing the test on a hang.
type async struct {
	done chan struct{}
	err  error
}

func goAsync(fn func() error) *async {
	a := &async{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = fn()
	}()
	return a
}

func (a *async) wait(t *testing.T, what string) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(deadlockGuard):
		t.Fatalf("%s: still blocked after %v", what, deadlockGuard)
		return nil
	}
}

// progress counts operations done by a goroutine so a test can wait until it stalls.
type progress struct {
	mu sync.Mutex
	n  int
}

func (p *progress) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *progress) load() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// waitStalled returns once p has not moved for a while (the goroutine is blocked), or once
// done is closed. It waits for a state, it asserts nothing about time.
func (p *progress) waitStalled(t *testing.T, done <-chan struct{}) int {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	last, since := p.load(), time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return p.load()
		case <-time.After(10 * time.Millisecond):
		}
		if n := p.load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 100*time.Millisecond {
			return n
		}
	}
	t.Fatal(fmt.Sprintf("never stalled (%d operations)", last))
	return 0
}
