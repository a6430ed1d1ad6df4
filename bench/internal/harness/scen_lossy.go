package harness

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/bench/internal/netem"
)

// lossyTCPContenders are the contenders over TCP the lossy scenario keeps
// (besides the baseline): the per-stream connections and streamd over
// WebSocket. The TCP multiplexers would only repeat streamd's head-of-line
// blocking at the cost of minutes; every contender over UDP is kept.
var lossyTCPContenders = []string{"tcp", "websocket", "streamd"}

// lossyCongestionControl is TCP's congestion controller on the emulated
// link: CUBIC, Linux's default and the algorithm quic-go implements, so the
// comparison is of the protocols and not of their controllers (this host's
// default may be BBR, which all but ignores random loss).
const lossyCongestionControl = "cubic"

var (
	metricLossUp  = Metric{Key: metricMBps.Key, Label: "upload, 1 stream", Unit: "MB/s", HigherIsBetter: true, Chart: true}
	metricLossP50 = Metric{Key: metricP50.Key, Label: "ping p50 under bulk", Unit: "µs", HigherIsBetter: false, Chart: true}
	metricLossP90 = Metric{Key: "p90_us", Label: "ping p90 under bulk", Unit: "µs", HigherIsBetter: false}
	metricLossP99 = Metric{Key: metricP99.Key, Label: "ping p99 under bulk", Unit: "µs", HigherIsBetter: false, Chart: true}
)

func runLossy(ctx context.Context, r *runner) (*ScenarioResult, error) {
	cs, infos, err := r.streamContenders()
	if err != nil {
		return nil, err
	}
	cs, infos, left := lossyContenders(cs, infos, r.contenders.Baseline)
	p := r.profile
	oneWay := p.LossRTT / 2
	shape := netem.Shape{Delay: oneWay, BytesPerSecond: p.LossRate}
	base := netem.Config{Up: shape, Down: shape}
	bdp := int64(float64(p.LossRate) * p.LossRTT.Seconds())
	res := &ScenarioResult{
		Description: fmt.Sprintf("Through a packet-level link emulator (bench/internal/netem: two network namespaces "+
			"joined by TUN devices and a user-space forwarder) with %v of round-trip time, %.1f MB/s per direction and "+
			"a drop-tail queue of one bandwidth-delay product (%s), losing each packet in each direction with the "+
			"case's probability: one stream uploads %s messages (MB/s over a %v window after %v of warm-up); then "+
			"%d-byte request/reply pings go back to back for %v on one stream while a second stream of the same link "+
			"uploads in bulk. TCP and WebSocket use separate connections for the two streams (the isolation bound); "+
			"streamd and the WebTransport contenders share one session.",
			p.LossRTT, float64(p.LossRate)/1e6, sizeLabelApprox(max(bdp, netem.MinQueueBytes)), sizeLabel(p.BulkMessageSize),
			p.LossMeasure, p.LossWarmup, pingSize, p.LossMeasure),
		Baseline:   r.contenders.Baseline,
		Primary:    metricLossUp.Key,
		Metrics:    []Metric{metricLossUp, metricLossP50, metricLossP90, metricLossP99, metricBulk, metricPings},
		Contenders: infos,
	}
	if len(left) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("Left out to keep the run short: %s (TCP multiplexers: one "+
			"connection, the same head-of-line blocking as streamd over WebSocket).", strings.Join(left, ", ")))
	}
	if err := netem.Available(); err != nil {
		res.Notes = append(res.Notes, "skipped: "+err.Error())
		r.logf("lossy: skipped: %v", err)
		return res, nil
	}
	if ccs, err := netem.CongestionControls(); err == nil && slices.Contains(ccs, lossyCongestionControl) {
		base.TCPCongestionControl = lossyCongestionControl
		res.Notes = append(res.Notes, "TCP uses CUBIC on this link (set per socket), as quic-go does: the comparison is "+
			"of protocols, not of congestion controllers.")
	} else {
		res.Notes = append(res.Notes, "CUBIC is not available: TCP uses this host's default congestion controller, "+
			"quic-go uses CUBIC.")
	}
	res.Notes = append(res.Notes, "p99 is the nearest-rank percentile of the pings of one window: with ~"+
		strconv.Itoa(int(p.LossMeasure/max(p.LossRTT, time.Millisecond)))+
		" pings per window it is close to the maximum; read p50 and p90 first.")

	col := newCollector()
	for li, loss := range p.LossRates {
		caseName := lossLabel(loss)
		for rep := 1; rep <= p.Repeat; rep++ {
			cfg := base
			cfg.Up.Loss, cfg.Down.Loss = loss, loss
			cfg.Seed = uint64(rep)<<16 | uint64(li) // the same drop pattern for every contender of a repeat
			mkEnv := netemEnv(cfg)
			for _, c := range cs {
				if err := lossyOnce(ctx, r, col, c, mkEnv, caseName, rep); err != nil {
					return nil, err
				}
			}
		}
	}
	return finish(col, res)
}

// lossyOnce measures contender c's upload and its pings under bulk over two
// fresh links made by mkEnv; it fails only when ctx is done.
func lossyOnce(ctx context.Context, r *runner, col *collector, c Contender, mkEnv envFunc, caseName string, rep int) error {
	p := r.profile
	failed := func(what string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		col.fail(caseName, c.Name(), fmt.Errorf("%s: %w", what, err))
		r.logf("lossy %-9s %-14s rep %d/%d: %s error: %v", caseName, c.Name(), rep, p.Repeat, what, err)
		return nil
	}
	rates, err := transferOnce(ctx, c, 1, p.BulkMessageSize, upload, p.LossWarmup, p.LossMeasure, mkEnv)
	if err != nil {
		if err := failed("upload", err); err != nil {
			return err
		}
	} else {
		col.add(caseName, c.Name(), metricLossUp.Key, mbps(rates[0]))
		r.logf("lossy %-9s %-14s rep %d/%d: upload %8.2f MB/s", caseName, c.Name(), rep, p.Repeat, mbps(rates[0]))
	}
	m, err := holOnce(ctx, c, holParams{env: mkEnv, bulkSize: p.BulkMessageSize,
		warmup: p.LossWarmup, measure: p.LossMeasure, maxPings: p.HOLMaxPings}, true)
	if err != nil {
		return failed("ping", err)
	}
	col.add(caseName, c.Name(), metricLossP50.Key, m.p50)
	col.add(caseName, c.Name(), metricLossP90.Key, m.p90)
	col.add(caseName, c.Name(), metricLossP99.Key, m.p99)
	col.add(caseName, c.Name(), metricBulk.Key, mbps(m.bulkRate))
	col.add(caseName, c.Name(), metricPings.Key, float64(m.pings))
	r.logf("lossy %-9s %-14s rep %d/%d: ping p50 %7.0f µs  p90 %7.0f µs  p99 %7.0f µs  (%d pings, bulk %.2f MB/s)",
		caseName, c.Name(), rep, p.Repeat, m.p50, m.p90, m.p99, m.pings, mbps(m.bulkRate))
	return nil
}

// lossyContenders keeps the baseline, lossyTCPContenders and every contender
// over UDP; it returns the names of those it left out.
func lossyContenders(cs []Contender, infos []ContenderInfo, baseline string) ([]Contender, []ContenderInfo, []string) {
	var keptC []Contender
	var keptI []ContenderInfo
	var left []string
	for i, c := range cs {
		if c.Name() == baseline || overUDP(c) || slices.Contains(lossyTCPContenders, c.Name()) {
			keptC, keptI = append(keptC, c), append(keptI, infos[i])
		} else {
			left = append(left, c.Name())
		}
	}
	return keptC, keptI, left
}

// lossLabel names a loss rate's case: "0% loss", "1% loss", "0.5% loss".
func lossLabel(loss float64) string {
	return strconv.FormatFloat(100*loss, 'f', -1, 64) + "% loss"
}

// netemEnv returns an envFunc whose client reaches the server through a
// fresh packet-level emulated link configured by cfg, over TCP and UDP.
func netemEnv(cfg netem.Config) envFunc {
	return func(msgSize int) (Env, func(), error) {
		link, err := netem.New(cfg)
		if err != nil {
			return Env{}, nil, fmt.Errorf("link emulator: %w", err)
		}
		server := net.JoinHostPort(link.ServerIP().String(), "0")
		client := net.JoinHostPort(link.ClientIP().String(), "0")
		ln, err := link.Listen("tcp", server)
		if err != nil {
			_ = link.Close()
			return Env{}, nil, fmt.Errorf("listen: %w", err)
		}
		addr := ln.Addr().String()
		return Env{
			Listener:     ln,
			Dial:         func(ctx context.Context) (net.Conn, error) { return link.Dial(ctx, "tcp", addr) },
			MessageSize:  msgSize,
			ListenPacket: func() (net.PacketConn, error) { return link.ListenPacket("udp", server) },
			ClientPacket: func() (net.PacketConn, error) { return link.Client().ListenPacket("udp", client) },
			InClient:     link.Client().Do,
		}, func() { _ = link.Close() }, nil
	}
}
