package flowctl

// DefaultControlQueueMax is the capacity of a ControlQueue created with max ≤ 0 (and of the
// zero value).
const DefaultControlQueueMax = 1024

// ControlQueue is a bounded FIFO of control items (CREDIT, PONG, RESET … frames) waiting for
// the writer. Push fails with ErrControlQueueFull at the maximum instead of growing, so a
// peer that provokes control frames faster than the connection drains them cannot make it
// buffer without bound; the session treats that as a connection error. Storage grows on
// demand up to the maximum. The zero value holds up to DefaultControlQueueMax items. Not
// synchronized.
type ControlQueue[T any] struct {
	buf  []T // ring buffer; len(buf) is its capacity
	head int // index of the oldest item
	n    int // items queued
	max  int
}

// NewControlQueue returns a queue holding at most max items (max ≤ 0:
// DefaultControlQueueMax).
func NewControlQueue[T any](max int) *ControlQueue[T] {
	return &ControlQueue[T]{max: max}
}

// Push appends v, or returns ErrControlQueueFull when the queue holds Cap items.
func (q *ControlQueue[T]) Push(v T) error {
	if q.n == q.Cap() {
		return ErrControlQueueFull
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	i := q.head + q.n
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = v
	q.n++
	return nil
}

// Pop removes and returns the oldest item; ok is false when the queue is empty.
func (q *ControlQueue[T]) Pop() (v T, ok bool) {
	if q.n == 0 {
		return v, false
	}
	var zero T
	v = q.buf[q.head]
	q.buf[q.head] = zero // drop the reference for the garbage collector
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
	return v, true
}

// Peek returns the oldest item without removing it; ok is false when the queue is empty.
func (q *ControlQueue[T]) Peek() (v T, ok bool) {
	if q.n == 0 {
		return v, false
	}
	return q.buf[q.head], true
}

// Len returns the number of queued items.
func (q *ControlQueue[T]) Len() int { return q.n }

// Cap returns the maximum number of items.
func (q *ControlQueue[T]) Cap() int {
	if q.max <= 0 {
		return DefaultControlQueueMax
	}
	return q.max
}

// grow doubles the ring (at least 16, at most Cap) and unwraps it to start at index 0.
func (q *ControlQueue[T]) grow() {
	size := min(max(2*len(q.buf), 16), q.Cap())
	buf := make([]T, size)
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf = buf
	q.head = 0
}
