package broadcast

import (
	"sort"
	"sync/atomic"
)

// entry is one record in a topic's replay ring. It is written once, before the
// ring's end index moves past it, and never modified: feeds read it and hand
// its data out without locks or copies.
type entry struct {
	epoch uint64
	seq   uint64
	cum   uint64 // data bytes published on the topic before this record
	data  []byte
}

func (e *entry) encodedLen() int { return DataOverhead + len(e.data) }

// Chunk bounds. A chunk is closed after chunkRecords records or once it holds
// chunkBytes of data; the ring evicts whole chunks' memory, so it may hold up
// to one chunk beyond its bounds.
const (
	chunkRecords = 256
	chunkBytes   = 64 << 10
)

// chunk holds consecutive records of the ring, from index first on.
type chunk struct {
	first uint64
	slots []entry // len chunkRecords; slots [0, n) are written
	n     int     // written slots (writer only)
	bytes int     // data bytes in the written slots (writer only)
}

// chunkTable is an immutable snapshot of the ring's chunks, oldest first.
type chunkTable struct {
	chunks []*chunk
}

// chunkOf returns the position in the table of the chunk holding index idx,
// which the caller knows was written (idx < end) and not yet dropped from the
// table it loaded.
func (tb *chunkTable) chunkOf(idx uint64) int {
	cs := tb.chunks
	return sort.Search(len(cs), func(i int) bool { return cs[i].first > idx }) - 1
}

// find returns the entry with index idx (see chunkOf).
func (tb *chunkTable) find(idx uint64) *entry {
	c := tb.chunks[tb.chunkOf(idx)]
	return &c.slots[idx-c.first]
}

// replayRing holds a topic's newest records, bounded by a record count and
// their encoded bytes, in a table of immutable chunks. Records are numbered by
// a global index that only grows.
//
// One writer (holding the topic's lock) appends and evicts; any number of
// readers read without locks. The writer stores a record's slot, then the
// table (when it added a chunk), then end; readers load end, then the table,
// then start, so every index in [start, end) they see is in the table they
// hold (chunks leave the table only after start has passed them).
type replayRing struct {
	end   atomic.Uint64 // index of the next record
	start atomic.Uint64 // index of the oldest record retained
	table atomic.Pointer[chunkTable]

	// Writer state.
	chunks     []*chunk // the table's chunks (the writer's copy)
	n          int      // records retained: end - start
	bytes      int      // encoded bytes retained
	total      uint64   // data bytes ever appended
	maxRecords int
	maxBytes   int
}

func newReplayRing(maxRecords, maxBytes int) *replayRing {
	l := &replayRing{maxRecords: maxRecords, maxBytes: maxBytes}
	l.table.Store(&chunkTable{})
	return l
}

// push appends e (its cum is set here), evicting the oldest records until
// both bounds hold. Writer only.
func (l *replayRing) push(e entry) {
	size := e.encodedLen()
	for l.n > 0 && (l.n >= l.maxRecords || l.bytes+size > l.maxBytes) {
		l.evict()
	}
	idx := l.end.Load()
	e.cum = l.total
	k := len(l.chunks)
	if k == 0 || l.chunks[k-1].n == chunkRecords || l.chunks[k-1].bytes >= chunkBytes {
		l.chunks = append(l.chunks, &chunk{first: idx, slots: make([]entry, chunkRecords)})
		l.dropEvicted()
		l.publishTable()
	}
	c := l.chunks[len(l.chunks)-1]
	c.slots[c.n] = e
	c.n++
	c.bytes += len(e.data)
	l.n++
	l.bytes += size
	l.total += uint64(len(e.data))
	l.end.Store(idx + 1)
}

// evict drops the oldest record. Writer only.
func (l *replayRing) evict() {
	start := l.start.Load()
	c := l.chunks[0] // dropEvicted keeps the chunk of start first
	l.bytes -= c.slots[start-c.first].encodedLen()
	l.n--
	l.start.Store(start + 1)
	if l.dropEvicted() {
		l.publishTable()
	}
}

// dropEvicted removes leading chunks all of whose records were evicted (but
// never the last chunk, which is still being filled). Readers holding an
// older table may go on reading them.
func (l *replayRing) dropEvicted() bool {
	start := l.start.Load()
	dropped := false
	for len(l.chunks) > 1 && start >= l.chunks[0].first+uint64(l.chunks[0].n) {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		dropped = true
	}
	return dropped
}

func (l *replayRing) publishTable() {
	l.table.Store(&chunkTable{chunks: append([]*chunk(nil), l.chunks...)})
}

// view is a reader's consistent snapshot of the ring.
type view struct {
	start, end uint64
	table      *chunkTable
	tot        uint64 // data bytes published before end
}

// view loads a snapshot: end, then the table, then start (see replayRing). If the
// writer evicted past the end it loaded (start > end, or record end-1 no longer in
// the table, both possible with a tiny ring and a fast writer), it loads again: a
// gap up to such a start would count records whose bytes the view cannot know
// (TestConcurrentReadersOfATinyLog). The writer moves on each time, so this ends.
func (l *replayRing) view() view {
	for {
		end := l.end.Load()
		table := l.table.Load()
		v := view{start: l.start.Load(), end: end, table: table}
		if v.start > end {
			continue
		}
		if end > 0 {
			i := table.chunkOf(end - 1)
			if i < 0 {
				continue
			}
			c := table.chunks[i]
			e := &c.slots[end-1-c.first]
			v.tot = e.cum + uint64(len(e.data))
		}
		return v
	}
}

// at returns record idx, for idx in [v.start, v.end).
func (v *view) at(idx uint64) *entry { return v.table.find(idx) }

// run returns the records from idx on that lie in one chunk: a slice of its
// slots, ending before v.end and before the next chunk. idx is in [v.start, v.end).
func (v *view) run(idx uint64) []entry {
	i := v.table.chunkOf(idx)
	c := v.table.chunks[i]
	limit := v.end
	if i+1 < len(v.table.chunks) {
		limit = min(limit, v.table.chunks[i+1].first)
	}
	return c.slots[idx-c.first : limit-c.first]
}

// total returns the data bytes published before v.end.
func (v *view) total() uint64 { return v.tot }

// cumAt returns the data bytes published before record idx, for idx in
// [v.start, v.end].
func (v *view) cumAt(idx uint64) uint64 {
	if idx >= v.end {
		return v.total()
	}
	return v.at(idx).cum
}

// backlog returns the encoded bytes of records [idx, v.end), idx ≥ v.start.
func (v *view) backlog(idx uint64) uint64 {
	if idx >= v.end {
		return 0
	}
	return v.total() - v.at(idx).cum + DataOverhead*(v.end-idx)
}

// firstWithin returns the smallest index idx ≥ max(from, v.start) whose
// backlog is at most limit (backlog shrinks as idx grows: binary search).
func (v *view) firstWithin(from uint64, limit int) uint64 {
	lo, hi := max(from, v.start), v.end
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v.backlog(mid) <= uint64(limit) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
