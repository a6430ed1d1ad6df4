package stream

import "sync"

// Buffers come in two sizes so that many streams with small writes (log lines,
// events) do not each pin a 64 KiB chunk, while bulk streams copy in 64 KiB steps.
const (
	smallChunk = 4 << 10
	largeChunk = 64 << 10
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, 0, smallChunk); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, 0, largeChunk); return &b }}
)

func getChunk(want int) []byte {
	if want <= smallChunk {
		return (*smallPool.Get().(*[]byte))[:0]
	}
	return (*largePool.Get().(*[]byte))[:0]
}

func putChunk(b []byte) {
	b = b[:0]
	switch cap(b) {
	case smallChunk:
		smallPool.Put(&b)
	case largeChunk:
		largePool.Put(&b)
	}
}

// chunkQueue is a FIFO of bytes kept in pooled chunks. It is not synchronized:
// the owning stream's mutex guards it.
//
// On the send side the writer goroutine reads slices of the head chunk without
// copying (peek/advance); a chunk it has fully consumed is handed to the writer
// (advance's return value), which returns it to the pool only after the transport
// write that references it has completed.
type chunkQueue struct {
	chunks [][]byte
	head   int // read position in chunks[0]
	size   int // unread bytes
}

// write appends p, returning how many bytes were taken (all of p unless limit,
// the most the queue may hold, is reached).
func (q *chunkQueue) write(p []byte, limit int) int {
	n := 0
	for len(p) > 0 && q.size < limit {
		room := limit - q.size
		var tail []byte
		if k := len(q.chunks); k > 0 && len(q.chunks[k-1]) < cap(q.chunks[k-1]) {
			tail = q.chunks[k-1]
		} else {
			want := len(p)
			if q.size > 0 {
				want = largeChunk // an active queue: bulk, use large chunks
			}
			q.chunks = append(q.chunks, getChunk(want))
			tail = q.chunks[len(q.chunks)-1]
		}
		c := min(len(p), cap(tail)-len(tail), room)
		tail = append(tail, p[:c]...)
		q.chunks[len(q.chunks)-1] = tail
		p = p[c:]
		q.size += c
		n += c
	}
	return n
}

// appendChunk adds a chunk the caller filled outside the lock (its len is the
// data). Copying large writes before taking the stream's lock keeps the lock
// hold time independent of the write size.
func (q *chunkQueue) appendChunk(c []byte) {
	q.chunks = append(q.chunks, c)
	q.size += len(c)
}

// fillChunks copies p into new pooled chunks of up to largeChunk bytes.
func fillChunks(p []byte, out [][]byte) [][]byte {
	for len(p) > 0 {
		c := getChunk(largeChunk)
		n := min(len(p), cap(c))
		out = append(out, append(c, p[:n]...))
		p = p[n:]
	}
	return out
}

// read copies up to len(p) bytes out and returns chunks it emptied to the pool.
// Used on the receive side, where nothing else references the chunks.
func (q *chunkQueue) read(p []byte) int {
	n := 0
	for len(p) > 0 && q.size > 0 {
		c := copy(p, q.chunks[0][q.head:])
		p = p[c:]
		n += c
		q.head += c
		q.size -= c
		if q.head == len(q.chunks[0]) {
			putChunk(q.chunks[0])
			q.popHead()
		}
	}
	return n
}

// peek returns up to max unread bytes from the head chunk without copying.
func (q *chunkQueue) peek(max int) []byte {
	if q.size == 0 {
		return nil
	}
	b := q.chunks[0][q.head:]
	if len(b) > max {
		b = b[:max]
	}
	return b
}

// advance consumes n bytes from the head chunk (n ≤ len(peek)). If the head chunk
// is full and fully consumed it is removed and returned, so the caller can
// recycle it once nothing references it; otherwise it returns nil.
func (q *chunkQueue) advance(n int) []byte {
	q.head += n
	q.size -= n
	c := q.chunks[0]
	if q.head == len(c) && (len(c) == cap(c) || len(q.chunks) > 1) {
		q.popHead()
		return c
	}
	return nil
}

func (q *chunkQueue) popHead() {
	q.chunks[0] = nil
	q.chunks = q.chunks[1:]
	q.head = 0
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
}

// reset drops everything. Receive-side chunks go back to the pool; send-side
// chunks may still be referenced by an in-flight write, so recycle must be false
// there and the garbage collector takes them.
func (q *chunkQueue) reset(recycle bool) {
	if recycle {
		for _, c := range q.chunks {
			putChunk(c)
		}
	}
	q.chunks, q.head, q.size = nil, 0, 0
}
