package stream

// replayBuffer keeps the bytes of a stream's send direction that were sent but
// not yet acknowledged by the peer, so that a resumed session can send them
// again (docs/RESUME.md). It is only used on resumable sessions and is guarded
// by the stream's mutex.
//
// The writer hands it every send chunk it has fully sent (keep) instead of
// recycling the chunk; the bytes sent from the head chunk of the send queue
// stay in that chunk, before the queue's read position. So the retained bytes
// [base, sent) are kept[…] followed by sendQ.chunks[0][:sendQ.head].
//
// ACK frames trim it (the peer has those bytes), so on an honest peer it holds
// at most one receive window: the peer acknowledges its received offset with
// every credit grant, and it never grants more than a window beyond what it
// consumed. limit bounds it regardless (a peer that grants credit but never
// acknowledges); bytes dropped for the limit become a gap if the peer later
// resumes from before them.
type replayBuffer struct {
	kept      [][]byte // fully sent chunks, oldest first
	keptStart uint64   // stream offset of kept[0][0]
	base      uint64   // lowest offset still held: the peer may resume anywhere in [base, sent]
	limit     uint64   // most bytes held; 0 = no limit
}

// keep takes a chunk the writer has fully sent; end is the stream offset just
// past its last byte.
func (r *replayBuffer) keep(c []byte, end uint64) {
	if len(r.kept) == 0 {
		r.keptStart = end - uint64(len(c))
	}
	r.kept = append(r.kept, c)
}

// trim forgets the bytes below to. Chunks it drops entirely are passed to free
// (nil: left to the garbage collector).
func (r *replayBuffer) trim(to uint64, free func([]byte)) {
	if to <= r.base {
		return
	}
	r.base = to
	for len(r.kept) > 0 {
		c := r.kept[0]
		end := r.keptStart + uint64(len(c))
		if end > to {
			break
		}
		r.keptStart = end
		r.kept[0] = nil
		r.kept = r.kept[1:]
		if free != nil {
			free(c)
		}
	}
	if len(r.kept) == 0 {
		r.kept = nil
	}
}

// enforceLimit drops the oldest bytes beyond the limit once sent bytes have
// been kept; the dropped chunks are appended to release (the writer recycles
// them after the message that may still reference them is written).
func (r *replayBuffer) enforceLimit(sent uint64, release [][]byte) [][]byte {
	if r.limit == 0 || sent-r.base <= r.limit {
		return release
	}
	r.trim(sent-r.limit, func(c []byte) { release = append(release, c) })
	return release
}

// held returns the number of bytes retained, given the stream's sent offset.
func (r *replayBuffer) held(sent uint64) uint64 { return sent - r.base }

// rewind moves the send position back from sent to to (base ≤ to ≤ sent): the
// bytes [to, sent) become unsent again, at the front of q. It must only run
// while no writer goroutine is using q (the session is detached), so the
// chunks it drops can be recycled at once.
func (r *replayBuffer) rewind(q *chunkQueue, to, sent uint64) {
	r.trim(to, putChunk)
	back := sent - to
	if back == 0 {
		return
	}
	if len(q.chunks) > 0 && back <= uint64(q.head) {
		q.head -= int(back)
		q.size += int(back)
		return
	}
	// The bytes come from the kept chunks (from to on), then the whole head
	// chunk, whose sent part is unsent again.
	if len(q.chunks) > 0 {
		q.size += q.head
	}
	for _, c := range r.kept {
		q.size += len(c)
	}
	skip := int(to - r.keptStart)
	q.size -= skip
	q.chunks = append(r.kept, q.chunks...)
	q.head = skip
	r.kept = nil
}
