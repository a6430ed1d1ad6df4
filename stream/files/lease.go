package files

import (
	"context"
	"sync"

	"github.com/streamd/streamd/stream"
)

// leaseTable grants each upload id to one writer stream at a time. A new
// writer takes the lease over: the holder's stream is cancelled, and the new
// writer waits until the holder has synced what it wrote and let go, so the
// bytes of two writers never interleave. Taking over (rather than refusing)
// lets a client that was killed and restarted continue at once, while its old
// stream may still be waiting on a parked session on the server.
type leaseTable struct {
	mu sync.Mutex
	m  map[string]*lease
}

type lease struct {
	owner    *stream.Stream
	released chan struct{}
}

// acquire takes the lease of id for st (nil: not a stream, e.g. an abort)
// and returns its release function.
func (t *leaseTable) acquire(ctx context.Context, id string, st *stream.Stream) (func(), error) {
	for {
		t.mu.Lock()
		if t.m == nil {
			t.m = make(map[string]*lease)
		}
		l := t.m[id]
		if l == nil {
			l = &lease{owner: st, released: make(chan struct{})}
			t.m[id] = l
			t.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					t.mu.Lock()
					if t.m[id] == l {
						delete(t.m, id)
					}
					t.mu.Unlock()
					close(l.released)
				})
			}, nil
		}
		t.mu.Unlock()
		if l.owner != nil {
			l.owner.Cancel(stream.CodeCancelled, "upload "+id+" was taken over by another stream")
		}
		select {
		case <-l.released:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// held reports whether id has a writer.
func (t *leaseTable) held(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id] != nil
}
