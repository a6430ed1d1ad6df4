package flowctl

import "math/bits"

// maxIdleSchedEntries bounds the popped streams SendScheduler remembers so that re-pushing
// them skips a map insert and delete (BenchmarkSchedulerPopPush/8, same machine, back to
// back: 31 ns per Pop+Push with a map insert/delete each cycle, 15 ns with this cache).
// Beyond it the longest-idle entry is forgotten, so a stream that never comes back costs
// nothing for long.
const maxIdleSchedEntries = 1024

// SendScheduler picks which stream the writer serves next: strict priority between levels
// (a higher priority value is always served first, so a busy high level starves lower ones
// by design) and round-robin within a level. The caller pops a stream, sends one frame of
// it, and pushes it again if it still has data and credit; that re-push to the tail of its
// level is what makes the rotation. The zero value is ready to use. Not synchronized: the
// writer goroutine (or the session mutex) owns it.
//
// Memory is proportional to the streams queued at once plus at most 1024 recently popped
// ones; Remove forgets a stream at once.
type SendScheduler struct {
	index    map[uint32]int32 // stream ID → node index, queued or idle
	nodes    []schedNode      // nodes[0] is unused so index 0 can mean "none"
	free     []int32          // indices of unused nodes
	levels   [256]schedList   // queued nodes per priority
	idle     schedList        // popped nodes, oldest first
	nonEmpty [4]uint64        // bit p set when levels[p] is non-empty
	queued   int
	idleLen  int
}

// schedNode is one stream in a doubly linked list: its level's queue, or the idle list.
type schedNode struct {
	id         uint32
	prio       uint8
	queued     bool
	prev, next int32
}

// schedList is a FIFO of node indices (0 = none).
type schedList struct {
	head, tail int32
}

// Push marks stream id ready at priority. If it is already queued at the same priority,
// nothing changes (it keeps its place); at another priority, it moves to the tail of the new
// level.
func (s *SendScheduler) Push(id uint32, priority uint8) {
	i, ok := s.index[id]
	switch {
	case !ok:
		i = s.newNode(id)
	case s.nodes[i].queued:
		if s.nodes[i].prio == priority {
			return
		}
		s.unlinkQueued(i)
	default:
		s.unlink(&s.idle, i)
		s.idleLen--
	}
	n := &s.nodes[i]
	n.prio, n.queued = priority, true
	s.linkTail(&s.levels[priority], i)
	s.nonEmpty[priority>>6] |= 1 << (priority & 63)
	s.queued++
}

// Pop returns the next stream to serve and removes it from the queue: the head of the
// highest non-empty priority level. ok is false when nothing is queued.
func (s *SendScheduler) Pop() (id uint32, ok bool) {
	for w := len(s.nonEmpty) - 1; w >= 0; w-- {
		if m := s.nonEmpty[w]; m != 0 {
			p := w*64 + 63 - bits.LeadingZeros64(m)
			i := s.levels[p].head
			s.unlinkQueued(i)
			n := &s.nodes[i]
			n.queued = false
			s.linkTail(&s.idle, i)
			if s.idleLen++; s.idleLen > maxIdleSchedEntries {
				old := s.idle.head
				s.unlink(&s.idle, old)
				s.idleLen--
				s.freeNode(old)
			}
			return n.id, true
		}
	}
	return 0, false
}

// Remove takes stream id out of the queue (for example when it is closed or paused) and
// forgets it. It does nothing if id is unknown.
func (s *SendScheduler) Remove(id uint32) {
	i, ok := s.index[id]
	if !ok {
		return
	}
	if s.nodes[i].queued {
		s.unlinkQueued(i)
	} else {
		s.unlink(&s.idle, i)
		s.idleLen--
	}
	s.freeNode(i)
}

// Queued reports whether stream id is in the queue.
func (s *SendScheduler) Queued(id uint32) bool {
	i, ok := s.index[id]
	return ok && s.nodes[i].queued
}

// Len returns the number of queued streams.
func (s *SendScheduler) Len() int { return s.queued }

// newNode allocates a node for id and indexes it.
func (s *SendScheduler) newNode(id uint32) int32 {
	if s.index == nil {
		s.index = make(map[uint32]int32)
		s.nodes = make([]schedNode, 1, 16)
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.nodes = append(s.nodes, schedNode{})
		i = int32(len(s.nodes) - 1)
	}
	s.nodes[i] = schedNode{id: id}
	s.index[id] = i
	return i
}

// freeNode forgets the (unlinked) node i.
func (s *SendScheduler) freeNode(i int32) {
	delete(s.index, s.nodes[i].id)
	s.nodes[i] = schedNode{}
	s.free = append(s.free, i)
}

// unlinkQueued removes queued node i from its level.
func (s *SendScheduler) unlinkQueued(i int32) {
	p := s.nodes[i].prio
	lv := &s.levels[p]
	s.unlink(lv, i)
	if lv.head == 0 {
		s.nonEmpty[p>>6] &^= 1 << (p & 63)
	}
	s.queued--
}

// linkTail appends node i to l.
func (s *SendScheduler) linkTail(l *schedList, i int32) {
	n := &s.nodes[i]
	n.prev, n.next = l.tail, 0
	if l.tail != 0 {
		s.nodes[l.tail].next = i
	} else {
		l.head = i
	}
	l.tail = i
}

// unlink removes node i from l.
func (s *SendScheduler) unlink(l *schedList, i int32) {
	n := &s.nodes[i]
	if n.prev != 0 {
		s.nodes[n.prev].next = n.next
	} else {
		l.head = n.next
	}
	if n.next != 0 {
		s.nodes[n.next].prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = 0, 0
}
