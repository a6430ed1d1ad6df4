package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/streamd/streamd/bench/internal/stats"
)

// direction of a one-stream transfer.
type direction int

const (
	upload   direction = iota // client end writes, server end reads
	download                  // server end writes, client end reads
)

func (d direction) String() string {
	if d == upload {
		return "up"
	}
	return "down"
}

func flowsFor(d direction, clients, servers []io.ReadWriteCloser) []flow {
	out := make([]flow, len(clients))
	for i := range clients {
		if d == upload {
			out[i] = flow{w: clients[i], r: servers[i]}
		} else {
			out[i] = flow{w: servers[i], r: clients[i]}
		}
	}
	return out
}

var metricMBps = Metric{Key: "mb_per_s", Label: "throughput", Unit: "MB/s", HigherIsBetter: true, Chart: true}

func runThroughput(ctx context.Context, r *runner) (*ScenarioResult, error) {
	cs, infos, err := r.streamContenders()
	if err != nil {
		return nil, err
	}
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("One stream moves bytes as fast as it can, upload (client→server) and download "+
			"(server→client), written in messages of each size. Delivered bytes are counted at the reader over a "+
			"%v window after %v of warm-up. Raw TCP and raw WebSocket use one connection; multiplexers one stream "+
			"on one TCP connection.", p.Measure, p.Warmup),
		Baseline:   r.contenders.Baseline,
		Primary:    metricMBps.Key,
		Metrics:    []Metric{metricMBps},
		Contenders: infos,
	}
	col := newCollector()
	for _, size := range p.MessageSizes {
		for _, dir := range []direction{upload, download} {
			caseName := fmt.Sprintf("%s %s", sizeLabel(size), dir)
			for rep := 1; rep <= p.Repeat; rep++ {
				for _, c := range cs {
					rates, err := transferOnce(ctx, c, 1, size, dir, p.Warmup, p.Measure, loopbackEnv)
					if err != nil {
						if ctx.Err() != nil {
							return nil, ctx.Err()
						}
						col.fail(caseName, c.Name(), err)
						r.logf("throughput %-12s %-14s rep %d/%d: error: %v", caseName, c.Name(), rep, p.Repeat, err)
						continue
					}
					col.add(caseName, c.Name(), metricMBps.Key, mbps(rates[0]))
					r.logf("throughput %-12s %-14s rep %d/%d: %9.1f MB/s", caseName, c.Name(), rep, p.Repeat, mbps(rates[0]))
				}
			}
		}
	}
	return finish(col, res)
}

var (
	metricAggMBps = Metric{Key: "aggregate_mb_per_s", Label: "aggregate", Unit: "MB/s", HigherIsBetter: true, Chart: true}
	metricJain    = Metric{Key: "jain", Label: "Jain's index", Unit: "", HigherIsBetter: true, Chart: true}
	metricMinMBps = Metric{Key: "slowest_mb_per_s", Label: "slowest stream", Unit: "MB/s", HigherIsBetter: true}
)

func runConcurrency(ctx context.Context, r *runner) (*ScenarioResult, error) {
	cs, infos, err := r.streamContenders()
	if err != nil {
		return nil, err
	}
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("N streams upload at once (%s messages) on one link; aggregate delivered MB/s over a "+
			"%v window and Jain's fairness index of the per-stream rates (1 = all equal, 1/N = one stream gets all). "+
			"Raw TCP and raw WebSocket use N separate connections, the bound a multiplexer is compared with.",
			sizeLabel(p.BulkMessageSize), p.Measure),
		Baseline:   r.contenders.Baseline,
		Primary:    metricAggMBps.Key,
		Metrics:    []Metric{metricAggMBps, metricJain, metricMinMBps},
		Contenders: infos,
	}
	col := newCollector()
	for _, n := range p.StreamCounts {
		caseName := fmt.Sprintf("%d streams", n)
		if n == 1 {
			caseName = "1 stream"
		}
		for rep := 1; rep <= p.Repeat; rep++ {
			for _, c := range cs {
				rates, err := transferOnce(ctx, c, n, p.BulkMessageSize, upload, p.Warmup, p.Measure, loopbackEnv)
				if err == nil {
					err = addConcurrency(col, caseName, c.Name(), rates)
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(caseName, c.Name(), err)
					r.logf("concurrency %-10s %-14s rep %d/%d: error: %v", caseName, c.Name(), rep, p.Repeat, err)
					continue
				}
				row := col.samples[[2]string{caseName, c.Name()}]
				r.logf("concurrency %-10s %-14s rep %d/%d: %9.1f MB/s  jain %.3f", caseName, c.Name(), rep, p.Repeat,
					last(row[metricAggMBps.Key]), last(row[metricJain.Key]))
			}
		}
	}
	return finish(col, res)
}

func addConcurrency(col *collector, caseName, contender string, rates []float64) error {
	var sum float64
	slowest := rates[0]
	for _, x := range rates {
		sum += x
		slowest = min(slowest, x)
	}
	j, err := stats.Jain(rates)
	switch {
	case errors.Is(err, stats.ErrUndefined):
		// Nothing was delivered in the window: a (bad) measurement, whose
		// fairness is undefined rather than an error.
		j = nanValue
	case err != nil:
		return fmt.Errorf("fairness: %w", err)
	}
	col.add(caseName, contender, metricAggMBps.Key, mbps(sum))
	col.add(caseName, contender, metricJain.Key, j)
	col.add(caseName, contender, metricMinMBps.Key, mbps(slowest))
	return nil
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// setupTimeout bounds connecting a link and opening its streams.
const setupTimeout = 30 * time.Second

// envFunc makes the network path for one link; cleanup releases it after
// the link is closed.
type envFunc func(msgSize int) (env Env, cleanup func(), err error)

// transferOnce connects c over a fresh env, opens n streams, runs them in
// direction dir and returns each stream's rate in bytes per second.
func transferOnce(ctx context.Context, c Contender, n, msgSize int, dir direction,
	warmup, measure time.Duration, mkEnv envFunc) ([]float64, error) {
	env, cleanup, err := mkEnv(msgSize)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	link, err := c.Connect(setupCtx, env)
	if err != nil {
		_ = env.Listener.Close() // in case the contender did not
		return nil, fmt.Errorf("connect: %w", err)
	}
	clients, servers, err := openPairs(setupCtx, link, n)
	if err != nil {
		_ = link.Close()
		return nil, err
	}
	return measureFlows(ctx, link, flowsFor(dir, clients, servers), msgSize, warmup, measure)
}
