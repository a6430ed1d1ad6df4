package harness

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/bench/internal/stats"
)

// pingSize is the size of a head-of-line request and of its reply.
const pingSize = 64

var (
	metricP50   = Metric{Key: "p50_us", Label: "p50 RTT", Unit: "µs", HigherIsBetter: false, Chart: true}
	metricP99   = Metric{Key: "p99_us", Label: "p99 RTT", Unit: "µs", HigherIsBetter: false, Chart: true}
	metricMax   = Metric{Key: "max_us", Label: "max RTT", Unit: "µs", HigherIsBetter: false}
	metricP99x  = Metric{Key: "p99_vs_unloaded", Label: "p99 / unloaded p99", Unit: "×", HigherIsBetter: false}
	metricBulk  = Metric{Key: "bulk_mb_per_s", Label: "bulk", Unit: "MB/s", HigherIsBetter: true}
	metricPings = Metric{Key: "pings", Label: "pings", Unit: "", HigherIsBetter: true}
)

const (
	caseUnloaded = "unloaded"
	caseLoaded   = "under bulk"
)

func runHOL(ctx context.Context, r *runner) (*ScenarioResult, error) {
	cs, infos, err := r.streamContenders()
	if err != nil {
		return nil, err
	}
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("Round-trip time of %d-byte request/reply pings, sent back to back for %v on one "+
			"stream: alone (unloaded) and while another stream on the same link uploads %s messages as fast as it "+
			"can (under bulk). For raw TCP and raw WebSocket the two streams are separate connections: the "+
			"isolation bound. p99 / unloaded p99 compares each contender with itself in the same repeat.",
			pingSize, p.HOLMeasure, sizeLabel(p.BulkMessageSize)),
		Baseline:   r.contenders.Baseline,
		Primary:    metricP99.Key,
		Metrics:    []Metric{metricP99, metricP50, metricMax, metricP99x, metricBulk, metricPings},
		Contenders: infos,
	}
	col := newCollector()
	for rep := 1; rep <= p.Repeat; rep++ {
		for _, c := range cs {
			var unloadedP99 float64
			for _, loaded := range []bool{false, true} {
				caseName := caseUnloaded
				if loaded {
					caseName = caseLoaded
				}
				m, err := holOnce(ctx, c, holParams{env: loopbackEnv, bulkSize: p.BulkMessageSize,
					warmup: p.Warmup, measure: p.HOLMeasure, maxPings: p.HOLMaxPings}, loaded)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(caseName, c.Name(), err)
					r.logf("hol %-10s %-14s rep %d/%d: error: %v", caseName, c.Name(), rep, p.Repeat, err)
					continue
				}
				col.add(caseName, c.Name(), metricP50.Key, m.p50)
				col.add(caseName, c.Name(), metricP99.Key, m.p99)
				col.add(caseName, c.Name(), metricMax.Key, m.max)
				col.add(caseName, c.Name(), metricPings.Key, float64(m.pings))
				if loaded {
					col.add(caseName, c.Name(), metricBulk.Key, mbps(m.bulkRate))
					if unloadedP99 > 0 {
						col.add(caseName, c.Name(), metricP99x.Key, m.p99/unloadedP99)
					}
				} else {
					unloadedP99 = m.p99
				}
				r.logf("hol %-10s %-14s rep %d/%d: p50 %8.0f µs  p99 %8.0f µs  max %8.0f µs  (%d pings, bulk %.0f MB/s)",
					caseName, c.Name(), rep, p.Repeat, m.p50, m.p99, m.max, m.pings, mbps(m.bulkRate))
			}
		}
	}
	return finish(col, res)
}

// holResult is one head-of-line measurement; latencies in microseconds.
type holResult struct {
	p50, p90, p99, max float64
	pings              int
	bulkRate           float64 // bytes/s of the bulk stream, 0 when unloaded
}

// holParams configure one head-of-line measurement.
type holParams struct {
	env             envFunc // the network path
	bulkSize        int     // write size of the bulk stream
	warmup, measure time.Duration
	maxPings        int
}

func holOnce(ctx context.Context, c Contender, p holParams, loaded bool) (holResult, error) {
	env, cleanup, err := p.env(p.bulkSize)
	if err != nil {
		return holResult{}, err
	}
	defer cleanup()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	link, err := c.Connect(setupCtx, env)
	if err != nil {
		_ = env.Listener.Close()
		return holResult{}, fmt.Errorf("connect: %w", err)
	}
	n := 1
	if loaded {
		n = 2
	}
	clients, servers, err := openPairs(setupCtx, link, n)
	if err != nil {
		_ = link.Close()
		return holResult{}, err
	}
	pingC, pingS := clients[n-1], servers[n-1]

	var bulk *flowSet
	if loaded {
		bulk = startFlows([]flow{{w: clients[0], r: servers[0]}}, p.bulkSize)
	} else {
		bulk = startFlows(nil, p.bulkSize) // nothing to run; stop still closes the link
	}
	echo := startEcho(pingS, bulk)
	// A ping that never comes back must not hang the run: past the window
	// plus stopTimeout, or on cancellation, the link is closed under it.
	watchdog := time.AfterFunc(p.warmup+p.measure+stopTimeout, func() { _ = link.Close() })
	defer watchdog.Stop()
	stopOnCancel := context.AfterFunc(ctx, func() { _ = link.Close() })
	defer stopOnCancel()

	res, err := func() (holResult, error) {
		if loaded {
			if err := bulk.sleep(ctx, p.warmup); err != nil {
				return holResult{}, err
			}
		}
		before, t0 := bulk.snapshot(), time.Now()
		rtts, err := pingLoop(ctx, pingC, bulk, p.measure, p.maxPings)
		if err != nil {
			return holResult{}, err
		}
		after, t1 := bulk.snapshot(), time.Now()
		slices.Sort(rtts)
		res := holResult{pings: len(rtts), max: rtts[len(rtts)-1]}
		res.p50, _ = stats.PercentileSorted(rtts, 50)
		res.p90, _ = stats.PercentileSorted(rtts, 90)
		res.p99, _ = stats.PercentileSorted(rtts, 99)
		if loaded {
			res.bulkRate = float64(after[0]-before[0]) / t1.Sub(t0).Seconds()
		}
		return res, nil
	}()
	stopErr := bulk.stop(link)
	echoErr := echo.wait()
	if err == nil {
		err = errors.Join(stopErr, echoErr)
	}
	return res, err
}

// pingLoop sends pings back to back on s until d has passed or maxPings were
// answered, and returns the round-trip times in microseconds. Each reply must
// echo its request exactly.
func pingLoop(ctx context.Context, s io.ReadWriter, bulk *flowSet, d time.Duration, maxPings int) ([]float64, error) {
	req := make([]byte, pingSize)
	reply := make([]byte, pingSize)
	rtts := make([]float64, 0, min(maxPings, 1<<16))
	deadline := time.Now().Add(d)
	for i := uint64(0); len(rtts) < maxPings; i++ {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		select {
		case <-bulk.failed:
			return nil, bulk.err
		default:
		}
		binary.BigEndian.PutUint64(req, i)
		if _, err := s.Write(req); err != nil {
			return nil, fmt.Errorf("ping %d write: %w", i, err)
		}
		if _, err := io.ReadFull(s, reply); err != nil {
			return nil, fmt.Errorf("ping %d read: %w", i, err)
		}
		rtts = append(rtts, float64(time.Since(now).Nanoseconds())/1e3)
		if !bytes.Equal(req, reply) {
			return nil, fmt.Errorf("ping %d: reply does not echo the request", i)
		}
	}
	if len(rtts) == 0 {
		return nil, errors.New("no ping completed")
	}
	return rtts, nil
}

// echoer answers pings on the server end of the ping stream.
type echoer struct {
	wg  sync.WaitGroup
	err atomic.Pointer[error]
}

// startEcho echoes pingSize-byte requests on s until the stream ends. Errors
// after bulk was stopped are the teardown and are ignored.
func startEcho(s io.ReadWriter, bulk *flowSet) *echoer {
	e := &echoer{}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		buf := make([]byte, pingSize)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				if !bulk.stopped.Load() {
					err = fmt.Errorf("echo read: %w", err)
					e.err.Store(&err)
				}
				return
			}
			if _, err := s.Write(buf); err != nil {
				if !bulk.stopped.Load() {
					err = fmt.Errorf("echo write: %w", err)
					e.err.Store(&err)
				}
				return
			}
		}
	}()
	return e
}

func (e *echoer) wait() error {
	if !waitTimeout(&e.wg, stopTimeout) {
		return fmt.Errorf("echo did not stop within %v of closing the link", stopTimeout)
	}
	if p := e.err.Load(); p != nil {
		return *p
	}
	return nil
}
