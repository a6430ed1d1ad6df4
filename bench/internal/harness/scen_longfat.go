package harness

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/streamd/streamd/transport"
)

func runLongFat(ctx context.Context, r *runner) (*ScenarioResult, error) {
	cs, infos, err := r.streamContenders()
	if err != nil {
		return nil, err
	}
	cs, infos, udp := tcpOnly(cs, infos)
	p := r.profile
	oneWay := transport.LinkShape{Latency: p.LinkRTT / 2, BytesPerSecond: p.LinkRate}
	cfg := transport.LinkConfig{Upstream: oneWay, Downstream: oneWay}
	res := &ScenarioResult{
		Description: fmt.Sprintf("One stream, upload and download, through a user-space link emulator "+
			"(transport.LinkProxy) adding %v of round-trip time and capping each direction at %.0f MB/s "+
			"(bandwidth-delay product %s). Delivered MB/s over a %v window after %v of warm-up. A multiplexer "+
			"whose stream window is below the bandwidth-delay product cannot fill the link.",
			p.LinkRTT, float64(p.LinkRate)/1e6, sizeLabelApprox(p.LinkRate*int64(p.LinkRTT)/int64(time.Second)),
			p.LinkMeasure, p.LinkWarmup),
		Baseline:   r.contenders.Baseline,
		Primary:    metricMBps.Key,
		Metrics:    []Metric{metricMBps},
		Contenders: infos,
		Notes: []string{
			"The emulator (transport.NewLinkProxy) is a TCP proxy: it adds latency and a bandwidth cap per " +
				"direction of each connection but drops no packets, and TCP's own windows act per hop, so raw TCP " +
				"and raw WebSocket are an upper bound here; what the scenario exposes is an end-to-end window " +
				"above TCP (a multiplexer's per-stream credit).",
		},
	}
	if len(udp) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("Left out: %s (over UDP, which the TCP proxy does not carry; "+
			"see the lossy scenario for a packet-level link).", strings.Join(udp, ", ")))
	}
	col := newCollector()
	mkEnv := linkEnv(cfg)
	for _, dir := range []direction{upload, download} {
		caseName := "1 stream " + dir.String()
		for rep := 1; rep <= p.Repeat; rep++ {
			for _, c := range cs {
				rates, err := transferOnce(ctx, c, 1, p.BulkMessageSize, dir, p.LinkWarmup, p.LinkMeasure, mkEnv)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(caseName, c.Name(), err)
					r.logf("longfat %-14s %-14s rep %d/%d: error: %v", caseName, c.Name(), rep, p.Repeat, err)
					continue
				}
				col.add(caseName, c.Name(), metricMBps.Key, mbps(rates[0]))
				r.logf("longfat %-14s %-14s rep %d/%d: %9.1f MB/s", caseName, c.Name(), rep, p.Repeat, mbps(rates[0]))
			}
		}
	}
	return finish(col, res)
}

// linkEnv returns an envFunc whose client reaches the server through a fresh
// link emulator configured by cfg.
func linkEnv(cfg transport.LinkConfig) envFunc {
	return func(msgSize int) (Env, func(), error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Env{}, nil, fmt.Errorf("listen: %w", err)
		}
		proxy, err := transport.NewLinkProxy("127.0.0.1:0", ln.Addr().String(), cfg)
		if err != nil {
			_ = ln.Close()
			return Env{}, nil, fmt.Errorf("link emulator: %w", err)
		}
		return Env{Listener: ln, Dial: dialTCP(proxy.Addr().String()), MessageSize: msgSize},
			func() { _ = proxy.Close() }, nil
	}
}

// sizeLabelApprox formats a byte count with one decimal in the largest
// binary unit that fits ("2.4MiB").
func sizeLabelApprox(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%dB", n)
	}
}
