package stream

import (
	"sync"
	"time"
)

// Progress is a snapshot of a stream's transfer.
type Progress struct {
	// Sent is the number of bytes handed to the transport; Received the number
	// of bytes the application has read.
	Sent, Received int64
	// Total is the expected size in bytes, -1 when unknown.
	Total int64
	// Rate is the recent throughput in bytes per second (sent + received).
	Rate float64
	// ETA is the estimated time to Total at Rate, 0 when unknown.
	ETA time.Duration
	// Elapsed is the time since the stream was created.
	Elapsed time.Duration
}

// Fraction returns the completed fraction in [0, 1], or -1 when Total is unknown.
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return -1
	}
	f := float64(p.Sent+p.Received) / float64(p.Total)
	return min(f, 1)
}

// progressMeter derives a recent rate from snapshots: it keeps the sample taken
// at least rateWindow ago and measures against it, so a rate reflects the last
// few seconds rather than the whole transfer.
type progressMeter struct {
	mu      sync.Mutex
	started time.Time
	total   int64
	prevT   time.Time
	prevN   int64
	lastT   time.Time
	lastN   int64
}

const rateWindow = 2 * time.Second

func (m *progressMeter) start(now time.Time, total int64) {
	m.started, m.total, m.prevT, m.lastT = now, total, now, now
}

func (m *progressMeter) setTotal(n int64) {
	m.mu.Lock()
	m.total = n
	m.mu.Unlock()
}

func (m *progressMeter) snapshot(now time.Time, sent, recv int64) Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := sent + recv
	if now.Sub(m.lastT) >= rateWindow/2 {
		m.prevT, m.prevN = m.lastT, m.lastN
		m.lastT, m.lastN = now, n
	}
	p := Progress{Sent: sent, Received: recv, Total: m.total, Elapsed: now.Sub(m.started)}
	if dt := now.Sub(m.prevT).Seconds(); dt > 0.05 {
		p.Rate = float64(n-m.prevN) / dt
	} else if el := p.Elapsed.Seconds(); el > 0 {
		p.Rate = float64(n) / el
	}
	if p.Total > 0 && p.Rate > 0 && n < p.Total {
		p.ETA = time.Duration(float64(p.Total-n) / p.Rate * float64(time.Second))
	}
	return p
}
