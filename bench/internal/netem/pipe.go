package netem

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DirStats counts what one direction of a Link did.
type DirStats struct {
	// Packets and Bytes were delivered to the far side.
	Packets, Bytes int64
	// Lost packets were dropped by the loss model.
	Lost int64
	// QueueDropped packets arrived at a full queue (drop-tail).
	QueueDropped int64
	// Received packets were read from the near side: Packets + Lost +
	// QueueDropped + those still in flight + WriteErrors.
	Received int64
	// WriteErrors counts packets that could not be carried: refused by the
	// far side's TUN device, or larger than the MTU.
	WriteErrors int64
}

// packet is one IP packet in flight.
type packet struct {
	buf    *[]byte
	n      int
	due    time.Time // when it leaves the delay line
	pooled bool      // buf goes back to the pipe's pool
}

// pipe forwards one direction: a reader goroutine takes packets from src,
// applies loss and the bandwidth queue and appends them to a FIFO delay line;
// a writer goroutine writes each to dst when it is due. Delivery times never
// decrease along the FIFO (constant delay behind a serialising queue), so the
// writer only ever waits for the head.
type pipe struct {
	src, dst  *os.File
	delay     time.Duration
	rate      int64 // bytes per second, 0 = no cap
	queue     int64 // drop-tail limit in bytes (see Config.QueueBytes)
	maxHeld   int64 // cap on the bytes in the delay line
	burst     float64
	loss      atomic.Uint64 // math.Float64bits of the loss rate
	bufSize   int
	pool      sync.Pool
	done      <-chan struct{}
	readerErr error // set by the reader before it exits

	// Reader goroutine only.
	rng        *rand.Rand
	bad        bool      // Gilbert model state
	lastDepart time.Time // when the queue's last packet finishes serialising

	mu     sync.Mutex
	fifo   []packet // ring buffer
	head   int
	count  int
	held   int64
	notify chan struct{} // capacity 1: the FIFO was empty and got a packet

	stats struct {
		packets, bytes, lost, queueDropped, received, writeErrors atomic.Int64
	}
}

func newPipe(src, dst *os.File, s Shape, queue int64, mtu int, seed, stream uint64, done <-chan struct{}) *pipe {
	p := &pipe{
		src: src, dst: dst,
		delay: s.Delay, rate: s.BytesPerSecond, queue: queue, burst: s.MeanBurst,
		bufSize: mtu + 256, // a read that fills the buffer was truncated
		done:    done,
		rng:     rand.New(rand.NewPCG(seed, stream)),
		notify:  make(chan struct{}, 1),
		fifo:    make([]packet, 64),
	}
	p.maxHeld = queue
	if p.rate > 0 {
		// Serialised packets wait in the delay line for at most delay, so
		// it holds at most rate × delay beyond the queue.
		p.maxHeld = queue + int64(float64(p.rate)*s.Delay.Seconds()) + int64(p.bufSize)
	}
	p.loss.Store(math.Float64bits(s.Loss))
	p.pool.New = func() any { b := make([]byte, p.bufSize); return &b }
	return p
}

func (p *pipe) setLoss(loss float64) { p.loss.Store(math.Float64bits(loss)) }

// lose decides whether the next packet is dropped on the wire.
func (p *pipe) lose() bool {
	loss := math.Float64frombits(p.loss.Load())
	switch {
	case loss <= 0:
		p.bad = false
		return false
	case loss >= 1:
		return true
	case p.burst <= 1:
		return p.rng.Float64() < loss
	}
	if p.bad {
		p.bad = p.rng.Float64() >= 1/p.burst
	} else {
		p.bad = p.rng.Float64() < goodToBad(loss, p.burst)
	}
	return p.bad
}

// read is the reader goroutine; it returns when src is closed.
func (p *pipe) read() {
	for {
		buf := p.pool.Get().(*[]byte)
		n, err := p.src.Read(*buf)
		if err != nil {
			p.pool.Put(buf)
			if !errors.Is(err, os.ErrClosed) {
				p.readerErr = err
			}
			return
		}
		p.stats.received.Add(1)
		if n == len(*buf) || n == 0 { // truncated (bigger than the MTU allows) or empty: not a packet we can carry
			p.stats.writeErrors.Add(1)
			p.pool.Put(buf)
			continue
		}
		if p.lose() {
			p.stats.lost.Add(1)
			p.pool.Put(buf)
			continue
		}
		due, ok := p.schedule(n, time.Now())
		if !ok {
			p.stats.queueDropped.Add(1)
			p.pool.Put(buf)
			continue
		}
		pk := packet{buf: buf, n: n, due: due, pooled: true}
		if n < p.bufSize/2 {
			// A small packet (an ACK) gets a buffer of its own size, so the
			// memory held is at most twice the bytes counted against maxHeld.
			small := append([]byte(nil), (*buf)[:n]...)
			p.pool.Put(buf)
			pk.buf, pk.pooled = &small, false
		}
		if !p.push(pk) {
			p.stats.queueDropped.Add(1)
			if pk.pooled {
				p.pool.Put(pk.buf)
			}
		}
	}
}

// schedule puts an n-byte packet arriving at now behind the bandwidth queue
// and returns when it leaves the delay line; false means the queue is full.
func (p *pipe) schedule(n int, now time.Time) (time.Time, bool) {
	if p.rate <= 0 {
		return now.Add(p.delay), true
	}
	start := now
	if p.lastDepart.After(now) {
		start = p.lastDepart
		backlog := int64(float64(start.Sub(now).Seconds()) * float64(p.rate))
		if backlog+int64(n) > p.queue {
			return time.Time{}, false
		}
	}
	p.lastDepart = start.Add(time.Duration(int64(n) * int64(time.Second) / p.rate))
	return p.lastDepart.Add(p.delay), true
}

// push appends pk to the delay line; false if that would exceed maxHeld.
func (p *pipe) push(pk packet) bool {
	p.mu.Lock()
	if p.held+int64(pk.n) > p.maxHeld {
		p.mu.Unlock()
		return false
	}
	if p.count == len(p.fifo) {
		grown := make([]packet, 2*len(p.fifo))
		for i := range p.count {
			grown[i] = p.fifo[(p.head+i)%len(p.fifo)]
		}
		p.fifo, p.head = grown, 0
	}
	p.fifo[(p.head+p.count)%len(p.fifo)] = pk
	p.count++
	p.held += int64(pk.n)
	wasEmpty := p.count == 1
	p.mu.Unlock()
	if wasEmpty {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
	return true
}

// write is the writer goroutine; it returns when done is closed.
func (p *pipe) write() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		p.mu.Lock()
		if p.count == 0 {
			p.mu.Unlock()
			select {
			case <-p.notify:
				continue
			case <-p.done:
				return
			}
		}
		pk := p.fifo[p.head]
		if wait := time.Until(pk.due); wait > 0 {
			p.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
				continue
			case <-p.done:
				return
			}
		}
		p.fifo[p.head] = packet{}
		p.head = (p.head + 1) % len(p.fifo)
		p.count--
		p.held -= int64(pk.n)
		p.mu.Unlock()

		// Counted before the write, so that whatever the packet causes on
		// the far side already finds it in Stats.
		p.stats.packets.Add(1)
		p.stats.bytes.Add(int64(pk.n))
		if _, err := p.dst.Write((*pk.buf)[:pk.n]); err != nil {
			p.stats.packets.Add(-1)
			p.stats.bytes.Add(-int64(pk.n))
			p.stats.writeErrors.Add(1)
		}
		if pk.pooled {
			p.pool.Put(pk.buf)
		}
	}
}

// drain releases the packets left in the delay line after both goroutines
// exited.
func (p *pipe) drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.count > 0; p.count-- {
		p.fifo[p.head] = packet{}
		p.head = (p.head + 1) % len(p.fifo)
	}
	p.held = 0
}

func (p *pipe) snapshot() DirStats {
	return DirStats{
		Packets:      p.stats.packets.Load(),
		Bytes:        p.stats.bytes.Load(),
		Lost:         p.stats.lost.Load(),
		QueueDropped: p.stats.queueDropped.Load(),
		Received:     p.stats.received.Load(),
		WriteErrors:  p.stats.writeErrors.Load(),
	}
}
