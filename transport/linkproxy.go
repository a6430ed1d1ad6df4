package transport

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

const (
	// linkReadChunk caps one read of a LinkProxy pump, so pacing stays fine-grained.
	linkReadChunk = 64 << 10
	// minLinkBuffer is the smallest BufferBytes a LinkConfig accepts, and the floor of the
	// default.
	minLinkBuffer = 64 << 10
	// defaultLinkBuffer is the default BufferBytes of a direction without shaping: 1 MiB.
	defaultLinkBuffer = 1 << 20
	// defaultUncappedLinkBuffer is the default BufferBytes of a direction with latency but no
	// bandwidth cap, where the bandwidth-delay product is unknown: 8 MiB.
	defaultUncappedLinkBuffer = 8 << 20
	// defaultLinkDialTimeout is the default LinkConfig.DialTimeout.
	defaultLinkDialTimeout = 10 * time.Second
)

// LinkShape is one direction of a link emulated by LinkProxy.
type LinkShape struct {
	// Latency is the one-way delay: bytes read at t are forwarded at t + Latency (plus their
	// transmission time).
	Latency time.Duration
	// BytesPerSecond caps the bandwidth; 0 = unlimited.
	BytesPerSecond int64
}

// bdp is the bandwidth-delay product in bytes (0 without a bandwidth cap).
func (s LinkShape) bdp() int64 { return int64(float64(s.BytesPerSecond) * s.Latency.Seconds()) }

// LinkConfig configures a LinkProxy. The zero value forwards without shaping or cuts.
type LinkConfig struct {
	// Upstream shapes the client → target direction.
	Upstream LinkShape
	// Downstream shapes the target → client direction.
	Downstream LinkShape
	// CutAfterBytes closes a proxied connection (both sockets) once it has forwarded exactly
	// this many bytes, both directions together. 0 = never.
	CutAfterBytes int64
	// BufferBytes is the in-flight buffer of each direction of each connection, which bounds
	// the proxy's memory: bytes read but not yet forwarded. When full the proxy stops reading,
	// so TCP flow control pushes back. It must hold at least one bandwidth-delay product.
	// Default: the larger of 1 MiB and 2 × BytesPerSecond × Latency; 8 MiB for a direction
	// with Latency but no bandwidth cap.
	BufferBytes int
	// DialTimeout bounds dialing the target. Default 10 s.
	DialTimeout time.Duration
}

// Validate checks the fields; errors match ErrInvalidConfig.
func (c LinkConfig) Validate() error {
	for _, d := range []struct {
		name  string
		shape LinkShape
	}{{"Upstream", c.Upstream}, {"Downstream", c.Downstream}} {
		if d.shape.Latency < 0 || d.shape.BytesPerSecond < 0 {
			return fmt.Errorf("%w: LinkConfig.%s has a negative latency or bandwidth", ErrInvalidConfig, d.name)
		}
		if c.BufferBytes > 0 && int64(c.BufferBytes) < d.shape.bdp() {
			return fmt.Errorf("%w: LinkConfig.BufferBytes %d is below the %s bandwidth-delay product %d",
				ErrInvalidConfig, c.BufferBytes, d.name, d.shape.bdp())
		}
	}
	switch {
	case c.CutAfterBytes < 0:
		return fmt.Errorf("%w: LinkConfig.CutAfterBytes is negative", ErrInvalidConfig)
	case c.BufferBytes != 0 && c.BufferBytes < minLinkBuffer:
		return fmt.Errorf("%w: LinkConfig.BufferBytes %d is below %d", ErrInvalidConfig, c.BufferBytes, minLinkBuffer)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: LinkConfig.DialTimeout is negative", ErrInvalidConfig)
	}
	return nil
}

// bufferFor returns the in-flight buffer size of one direction.
func (c LinkConfig) bufferFor(s LinkShape) int {
	switch {
	case c.BufferBytes > 0:
		return c.BufferBytes
	case s.BytesPerSecond == 0 && s.Latency > 0:
		return defaultUncappedLinkBuffer
	}
	return int(max(defaultLinkBuffer, 2*s.bdp()))
}

// LinkStats counts a LinkProxy's traffic.
type LinkStats struct {
	// Accepted is the number of connections accepted.
	Accepted int64
	// Upstream is the number of bytes forwarded client → target.
	Upstream int64
	// Downstream is the number of bytes forwarded target → client.
	Downstream int64
}

// LinkProxy is a TCP proxy that emulates a link (latency, bandwidth, cuts) between loopback
// peers, for benchmarks and tests of real TCP and WebSocket connections. Each accepted
// connection is forwarded to the target through two pipelined pumps (one per direction):
// bytes read at t are written at t + Latency, paced by BytesPerSecond, with up to BufferBytes
// in flight, so a long fat link carries its full bandwidth. Each connection uses four
// goroutines and 2 × BufferBytes of memory. All methods are safe for concurrent use.
type LinkProxy struct {
	ln     net.Listener
	target string
	cfg    LinkConfig

	mu     sync.Mutex
	links  map[*proxiedConn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every connection

	accepted, upstream, downstream atomic.Int64
}

// NewLinkProxy listens on listenAddr (e.g. "127.0.0.1:0") and forwards every connection to
// targetAddr through the link described by cfg.
func NewLinkProxy(listenAddr, targetAddr string, cfg LinkConfig) (*LinkProxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = defaultLinkDialTimeout
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: link proxy: %w", err)
	}
	p := &LinkProxy{ln: ln, target: targetAddr, cfg: cfg, links: make(map[*proxiedConn]struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the address clients connect to.
func (p *LinkProxy) Addr() net.Addr { return p.ln.Addr() }

// Stats returns the traffic counters.
func (p *LinkProxy) Stats() LinkStats {
	return LinkStats{Accepted: p.accepted.Load(), Upstream: p.upstream.Load(), Downstream: p.downstream.Load()}
}

// CutAll closes every open proxied connection (both sockets, dropping bytes in flight), as a
// pulled cable; the proxy keeps accepting new ones.
func (p *LinkProxy) CutAll() {
	p.mu.Lock()
	links := make([]*proxiedConn, 0, len(p.links))
	for lc := range p.links {
		links = append(links, lc)
	}
	p.mu.Unlock()
	for _, lc := range links {
		lc.cut()
	}
}

// Close stops accepting, cuts every connection and waits for all goroutines to exit.
func (p *LinkProxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	var err error
	if !already {
		err = p.ln.Close()
	}
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *LinkProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: back off
			continue
		}
		p.accepted.Add(1)
		lc := newProxiedConn(c, p.cfg.CutAfterBytes)
		if !p.track(lc) {
			c.Close()
			return
		}
		go p.serve(lc)
	}
}

func (p *LinkProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// track registers lc and counts it in wg, unless the proxy is closed.
func (p *LinkProxy) track(lc *proxiedConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.links[lc] = struct{}{}
	p.wg.Add(1)
	return true
}

func (p *LinkProxy) serve(lc *proxiedConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.links, lc)
		p.mu.Unlock()
	}()
	defer lc.cut()

	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	target, err := d.DialContext(lc.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	up := newLinkPump(lc, lc.client, target, p.cfg.Upstream, p.cfg.bufferFor(p.cfg.Upstream), &p.upstream)
	down := newLinkPump(lc, target, lc.client, p.cfg.Downstream, p.cfg.bufferFor(p.cfg.Downstream), &p.downstream)
	if !lc.attach(target, up, down) {
		return
	}
	var pumps sync.WaitGroup
	pumps.Add(3)
	go func() { defer pumps.Done(); up.readLoop() }()
	go func() { defer pumps.Done(); up.writeLoop() }()
	go func() { defer pumps.Done(); down.readLoop() }()
	down.writeLoop()
	pumps.Wait()
}

// proxiedConn is one client connection and its target connection.
type proxiedConn struct {
	client net.Conn
	budget cutBudget
	ctx    context.Context // cancelled by cut; bounds the dial
	cancel context.CancelFunc
	done   chan struct{} // closed by cut

	mu     sync.Mutex
	isCut  bool
	target net.Conn
	pumps  []*linkPump
}

func newProxiedConn(client net.Conn, cutAfter int64) *proxiedConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &proxiedConn{client: client, budget: cutBudget{limit: cutAfter}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// attach records the target and pumps; it reports false (and closes target) if lc was cut.
func (lc *proxiedConn) attach(target net.Conn, pumps ...*linkPump) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.isCut {
		target.Close()
		return false
	}
	lc.target, lc.pumps = target, pumps
	return true
}

// cut closes both sockets and stops the pumps; bytes in flight are dropped.
func (lc *proxiedConn) cut() {
	lc.mu.Lock()
	if lc.isCut {
		lc.mu.Unlock()
		return
	}
	lc.isCut = true
	target, pumps := lc.target, lc.pumps
	lc.mu.Unlock()

	close(lc.done)
	lc.cancel()
	lc.client.Close()
	if target != nil {
		target.Close()
	}
	for _, p := range pumps {
		p.kill()
	}
}

// cutBudget counts the bytes a connection may still forward before CutAfterBytes.
type cutBudget struct {
	mu        sync.Mutex
	limit     int64 // 0 = unlimited
	forwarded int64
}

// take grants up to n bytes and reports whether the budget is now exhausted.
func (b *cutBudget) take(n int) (granted int, exhausted bool) {
	if b.limit == 0 {
		return n, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	granted = int(min(int64(n), b.limit-b.forwarded))
	b.forwarded += int64(granted)
	return granted, b.forwarded == b.limit
}

// linkRecord is a run of bytes read from the source at one time.
type linkRecord struct {
	at time.Time
	n  int
}

// linkPump moves one direction of a proxied connection through a ring buffer: readLoop
// fills it, stamping each read with its time; writeLoop forwards each run when the link
// model says it arrives.
type linkPump struct {
	link     *proxiedConn
	src, dst net.Conn
	shape    LinkShape
	counter  *atomic.Int64

	mu         sync.Mutex
	changed    sync.Cond // broadcast on every change below
	ring       []byte
	head, tail int // the reader fills from head; the writer drains from tail
	used       int
	records    fifo[linkRecord] // runs in ring order, never wrapping the ring's end
	maxRecords int
	eof        bool // the source ended: forward the rest, then half-close dst
	dead       bool // the connection was cut
}

func newLinkPump(lc *proxiedConn, src, dst net.Conn, shape LinkShape, buffer int, counter *atomic.Int64) *linkPump {
	p := &linkPump{
		link: lc, src: src, dst: dst, shape: shape, counter: counter,
		ring: make([]byte, buffer), maxRecords: max(1024, buffer/1024),
	}
	p.changed.L = &p.mu
	return p
}

func (p *linkPump) kill() {
	p.mu.Lock()
	p.dead = true
	p.records.clear()
	p.changed.Broadcast()
	p.mu.Unlock()
}

// readLoop reads from src into the free part of the ring. The region it reads into is
// touched by no one else until it is published under mu.
func (p *linkPump) readLoop() {
	for {
		p.mu.Lock()
		for !p.dead && (p.used == len(p.ring) || p.records.len() >= p.maxRecords) {
			p.changed.Wait()
		}
		if p.dead {
			p.mu.Unlock()
			return
		}
		if p.used == 0 {
			p.head, p.tail = 0, 0
		}
		end := len(p.ring)
		if p.head < p.tail {
			end = p.tail
		}
		region := p.ring[p.head:min(end, p.head+linkReadChunk)]
		p.mu.Unlock()

		n, err := p.src.Read(region)
		now := time.Now()

		p.mu.Lock()
		if n > 0 && !p.dead {
			p.records.push(linkRecord{at: now, n: n})
			p.head = (p.head + n) % len(p.ring)
			p.used += n
		}
		if err != nil {
			p.eof = true
		}
		p.changed.Broadcast()
		p.mu.Unlock()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.link.cut()
			}
			return
		}
	}
}

// writeLoop forwards each run when it is due, coalescing runs that are already due.
func (p *linkPump) writeLoop() {
	shaper := linkShaper{bytesPerSecond: p.shape.BytesPerSecond, latency: p.shape.Latency}
	for {
		p.mu.Lock()
		for !p.dead && !p.eof && p.records.len() == 0 {
			p.changed.Wait()
		}
		if p.dead {
			p.mu.Unlock()
			return
		}
		if p.records.len() == 0 { // source ended and everything is forwarded
			p.mu.Unlock()
			if cw, ok := p.dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return
		}
		rec := p.records.pop()
		start, n := p.tail, rec.n
		_, due := shaper.schedule(rec.at, rec.n)
		p.mu.Unlock()

		if !sleepUntil(due, p.link.done) {
			return
		}
		now := time.Now()
		p.mu.Lock()
		for p.records.len() > 0 && start+n < len(p.ring) {
			trial := shaper
			next := p.records.front()
			if _, d := trial.schedule(next.at, next.n); d.After(now) {
				break
			}
			shaper = trial
			n += p.records.pop().n
		}
		p.mu.Unlock()

		granted, exhausted := p.link.budget.take(n)
		if granted > 0 {
			if _, err := p.dst.Write(p.ring[start : start+granted]); err != nil {
				p.link.cut()
				return
			}
			p.counter.Add(int64(granted))
		}
		p.mu.Lock()
		p.tail = (start + n) % len(p.ring)
		p.used -= n
		p.changed.Broadcast()
		p.mu.Unlock()
		if exhausted {
			p.link.cut()
			return
		}
	}
}

// sleepUntil waits until t or until cancel is closed; it reports whether t was reached.
func sleepUntil(t time.Time, cancel <-chan struct{}) bool {
	return SystemClock{}.Sleep(time.Until(t), cancel)
}
