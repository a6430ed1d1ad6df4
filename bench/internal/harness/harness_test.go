package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pairContender is a minimal real contender for the harness's own tests:
// every stream is a loopback TCP connection made through the Env.
type pairContender struct {
	name string
	// breakAfter, if positive, makes the server end of every stream fail
	// after that many bytes were read from or written to it.
	breakAfter int
}

func (p pairContender) Name() string        { return p.name }
func (p pairContender) Description() string { return "a loopback TCP connection per stream" }

func (p pairContender) Connect(_ context.Context, env Env) (Link, error) {
	return &pairLink{env: env, breakAfter: p.breakAfter}, nil
}

type pairLink struct {
	env        Env
	breakAfter int
	mu         sync.Mutex
	conns      []net.Conn
	closed     bool
}

func (l *pairLink) OpenPair(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, error) {
	c, err := l.env.Dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := l.env.Listener.Accept()
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	l.mu.Lock()
	l.conns = append(l.conns, c, s)
	l.mu.Unlock()
	if l.breakAfter > 0 {
		return c, &breakingConn{Conn: s, left: l.breakAfter}, nil
	}
	return c, s, nil
}

func (l *pairLink) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		_ = l.env.Listener.Close()
	}
	for _, c := range l.conns {
		_ = c.Close()
	}
	return nil
}

var errBroken = errors.New("broken on purpose")

type breakingConn struct {
	net.Conn
	left int
}

func (b *breakingConn) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errBroken
	}
	n, err := b.Conn.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *breakingConn) Write(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errBroken
	}
	n, err := b.Conn.Write(p[:min(len(p), b.left)])
	b.left -= n
	if err == nil && n < len(p) {
		err = errBroken
	}
	return n, err
}

func TestTransferOnceMeasuresEveryStream(t *testing.T) {
	// Any one window may be starved on a busy machine, so each check gets a
	// few attempts: what must hold is that bytes are counted at all.
	for _, tc := range []struct {
		streams int
		dir     direction
	}{{3, upload}, {1, download}} {
		var total float64
		for attempt := 0; attempt < 5 && total == 0; attempt++ {
			rates, err := transferOnce(context.Background(), pairContender{name: "pair"}, tc.streams, 1024, tc.dir,
				time.Millisecond, 50*time.Millisecond, loopbackEnv)
			require.NoError(t, err)
			require.Len(t, rates, tc.streams)
			for _, r := range rates {
				require.GreaterOrEqual(t, r, 0.0)
				total += r
			}
		}
		require.Positive(t, total, "%d streams %s", tc.streams, tc.dir)
	}
}

func TestTransferOnceReportsABrokenStream(t *testing.T) {
	_, err := transferOnce(context.Background(), pairContender{name: "pair", breakAfter: 4096}, 2, 1024, upload,
		time.Second, time.Second, loopbackEnv)
	require.ErrorIs(t, err, errBroken)
}

func TestHOLOnce(t *testing.T) {
	p := TinyProfile()
	for _, loaded := range []bool{false, true} {
		res, err := holOnce(context.Background(), pairContender{name: "pair"}, holParams{env: loopbackEnv,
			bulkSize: p.BulkMessageSize, warmup: p.Warmup, measure: p.HOLMeasure, maxPings: p.HOLMaxPings}, loaded)
		require.NoError(t, err)
		require.Positive(t, res.pings)
		require.LessOrEqual(t, res.p50, res.p99)
		require.LessOrEqual(t, res.p99, res.max)
		if loaded {
			require.GreaterOrEqual(t, res.bulkRate, 0.0) // may be starved in a short window
		} else {
			require.Zero(t, res.bulkRate)
		}
	}
}

func TestRunWithInMemoryContenders(t *testing.T) {
	c := Contenders{
		Streams:  []Contender{pairContender{name: "a"}, pairContender{name: "b", breakAfter: 1}},
		Baseline: "a",
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), c, Options{Profile: TinyProfile(), Scenarios: []string{"throughput"}, Progress: &progress})
	require.NoError(t, err)
	require.Len(t, rep.Scenarios, 1)
	s := rep.Scenarios[0]
	require.Equal(t, "throughput", s.Name)
	for _, cs := range s.Cases {
		a, ok := s.Row(cs, "a")
		require.True(t, ok)
		require.Empty(t, a.Error)
		v, ok := a.Values["mb_per_s"]
		require.True(t, ok)
		require.Equal(t, 1, v.N)
		if v.Median > 0 { // a short window can be starved on a busy machine
			require.NotNil(t, v.Ratio)
			require.InDelta(t, 1.0, *v.Ratio, 1e-12)
		}
		b, ok := s.Row(cs, "b")
		require.True(t, ok, "a failing contender still gets a row")
		require.Contains(t, b.Error, errBroken.Error())
		require.Empty(t, b.Values)
	}
	require.Contains(t, progress.String(), "error: ")

	_, err = Run(context.Background(), c, Options{Profile: TinyProfile(), Scenarios: []string{"sessions"}})
	require.ErrorIs(t, err, ErrNoContenders)
	_, err = Run(context.Background(), c, Options{Profile: TinyProfile(), Scenarios: []string{"compression"}})
	require.ErrorIs(t, err, ErrNoContenders)
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := Contenders{Streams: []Contender{pairContender{name: "a"}}, Baseline: "a"}
	_, err := Run(ctx, c, Options{Profile: TinyProfile(), Scenarios: []string{"throughput"}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestCollectorRowsAndRatios(t *testing.T) {
	col := newCollector()
	metrics := []Metric{{Key: "x"}, {Key: "y"}}
	for _, v := range []float64{10, 30, 20} {
		col.add("c1", "base", "x", v)
	}
	for _, v := range []float64{5, 15} {
		col.add("c1", "other", "x", v)
	}
	col.add("c1", "other", "y", 7)
	col.add("c1", "other", "x", nanValue) // dropped
	col.fail("c1", "other", errors.New("first"))
	col.fail("c1", "other", errors.New("second"))
	col.add("c2", "other", "x", 1) // no baseline in c2

	rows, err := col.rows(metrics, "base")
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, []string{"c1", "c2"}, col.cases)

	base := rows[0]
	require.Equal(t, "base", base.Contender)
	require.Equal(t, 20.0, base.Values["x"].Median)
	require.Equal(t, []float64{10, 30, 20}, base.Values["x"].Samples)
	require.NotNil(t, base.Values["x"].Ratio)
	require.InDelta(t, 1.0, *base.Values["x"].Ratio, 1e-12)

	other := rows[1]
	require.Equal(t, "first", other.Error)
	require.Equal(t, 10.0, other.Values["x"].Median)
	require.NotNil(t, other.Values["x"].Ratio)
	require.InDelta(t, 0.5, *other.Values["x"].Ratio, 1e-12)
	require.Nil(t, other.Values["y"].Ratio, "no baseline value for y")
	require.Equal(t, 2, other.Values["x"].N)

	require.Nil(t, rows[2].Values["x"].Ratio, "no baseline row in c2")
}

func TestSelectScenarios(t *testing.T) {
	all, err := selectScenarios(nil)
	require.NoError(t, err)
	require.Len(t, all, len(ScenarioNames()))

	two, err := selectScenarios([]string{"sessions", "hol"})
	require.NoError(t, err)
	require.Equal(t, "hol", two[0].name, "run order is fixed, not the filter's order")
	require.Equal(t, "sessions", two[1].name)

	_, err = selectScenarios([]string{"hol", "bogus"})
	require.ErrorIs(t, err, ErrUnknownScenario)
	require.Contains(t, err.Error(), "bogus")
}

func TestProfiles(t *testing.T) {
	for _, p := range []Profile{FullProfile(), QuickProfile(), TinyProfile()} {
		require.NoError(t, p.Validate(), p.Name)
	}
	full := FullProfile()
	require.Equal(t, 5, full.Repeat)
	require.Equal(t, []int{4 << 10, 64 << 10, 1 << 20}, full.MessageSizes)
	require.Contains(t, full.StreamCounts, 8)
	require.Contains(t, full.StreamCounts, 64)
	require.Equal(t, []int{1_000, 10_000}, full.SessionCounts)
	require.Equal(t, 50*time.Millisecond, full.LinkRTT)

	for name, mutate := range map[string]func(*Profile){
		"repeat":      func(p *Profile) { p.Repeat = 0 },
		"measure":     func(p *Profile) { p.Measure = 0 },
		"warmup":      func(p *Profile) { p.Warmup = -1 },
		"size":        func(p *Profile) { p.MessageSizes = []int{0} },
		"streams":     func(p *Profile) { p.StreamCounts = []int{-3} },
		"sessions":    func(p *Profile) { p.SessionCounts = []int{0} },
		"corpus":      func(p *Profile) { p.CompressionCorpus = p.CompressionMessage - 1 },
		"link":        func(p *Profile) { p.LinkRate = -1 },
		"dialers":     func(p *Profile) { p.SessionDialers = 0 },
		"pings":       func(p *Profile) { p.HOLMaxPings = 0 },
		"bulk":        func(p *Profile) { p.BulkMessageSize = 0 },
		"linkMeasure": func(p *Profile) { p.LinkMeasure = 0 },
	} {
		p := TinyProfile()
		mutate(&p)
		require.ErrorIs(t, p.Validate(), ErrInvalidProfile, name)
		_, err := Run(context.Background(), Contenders{}, Options{Profile: p})
		require.ErrorIs(t, err, ErrInvalidProfile, name)
	}
}

func TestJSONLines(t *testing.T) {
	a := JSONLines(64<<10, 7)
	require.Len(t, a, 64<<10)
	require.Equal(t, a, JSONLines(64<<10, 7), "deterministic")
	require.NotEqual(t, a, JSONLines(64<<10, 8), "seed matters")
	lines := strings.Split(string(a), "\n")
	require.Greater(t, len(lines), 100)
	for _, l := range lines[:len(lines)-1] { // the last one may be cut
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		require.Contains(t, v, "trace_id")
	}
}

func TestRandomBytes(t *testing.T) {
	a := RandomBytes(4096, 1)
	require.Len(t, a, 4096)
	require.Equal(t, a, RandomBytes(4096, 1))
	require.NotEqual(t, a, RandomBytes(4096, 2))
}

func TestSizeLabels(t *testing.T) {
	require.Equal(t, "4KiB", sizeLabel(4096))
	require.Equal(t, "1MiB", sizeLabel(1<<20))
	require.Equal(t, "1500B", sizeLabel(1500))
	require.Equal(t, "2.4MiB", sizeLabelApprox(2_500_000))
	require.Equal(t, "512B", sizeLabelApprox(512))
}

func TestRunChildIsNotAChildByDefault(t *testing.T) {
	isChild, code := RunChild(nil)
	require.False(t, isChild)
	require.Zero(t, code)
}

func TestRunDialerRejectsBadEnvironment(t *testing.T) {
	t.Setenv(childEnvContender, "nobody")
	err := runDialer(nil, strings.NewReader("go\n"), io.Discard)
	require.ErrorContains(t, err, "nobody")
}

func TestOtherCPU(t *testing.T) {
	a := cpuSample{ok: true, others: 100, total: 1000, self: 40}
	b := cpuSample{ok: true, others: 700, total: 2000, self: 440}
	// 600 busy ticks, 400 of them ours: 200 of 1000 went to others.
	require.InDelta(t, 0.2, otherCPU(a, b), 1e-12)
	require.Nil(t, optional(otherCPU(cpuSample{}, b)))
	require.Nil(t, optional(otherCPU(b, a)), "no time passed")
	b.self = 10_000 // our ticks can exceed the machine's busy delta by rounding
	require.Zero(t, otherCPU(a, b))

	if runtime.GOOS == "linux" {
		s := readCPU()
		require.True(t, s.ok)
		require.Positive(t, s.total)
	}
}
