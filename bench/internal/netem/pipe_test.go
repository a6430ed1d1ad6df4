package netem

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests drive the forwarder's decisions directly; they need no
// namespaces and run everywhere.

func testPipe(s Shape, queue int64, seed uint64) *pipe {
	return newPipe(nil, nil, s, queue, DefaultMTU, seed, 1, nil)
}

func TestBernoulliLossRate(t *testing.T) {
	p := testPipe(Shape{Loss: 0.05}, MinQueueBytes, 7)
	const n = 200_000
	lost, runs := 0, 0
	prev := false
	for range n {
		l := p.lose()
		if l {
			lost++
			if !prev {
				runs++
			}
		}
		prev = l
	}
	// Binomial(200,000, 0.05): σ ≈ 0.05 percentage points.
	require.InDelta(t, 0.05, float64(lost)/n, 0.005)
	require.InDelta(t, 1/(1-0.05), float64(lost)/float64(runs), 0.05, "independent losses: mean run 1/(1-p)")
}

func TestGilbertBurstsKeepTheLossRate(t *testing.T) {
	p := testPipe(Shape{Loss: 0.05, MeanBurst: 4}, MinQueueBytes, 7)
	const n = 400_000
	lost, runs := 0, 0
	prev := false
	for range n {
		l := p.lose()
		if l {
			lost++
			if !prev {
				runs++
			}
		}
		prev = l
	}
	require.InDelta(t, 0.05, float64(lost)/n, 0.01)
	require.InDelta(t, 4, float64(lost)/float64(runs), 0.5, "mean burst length")
}

func TestLossIsReproducibleFromTheSeed(t *testing.T) {
	draw := func(seed uint64) []bool {
		p := testPipe(Shape{Loss: 0.3}, MinQueueBytes, seed)
		out := make([]bool, 1000)
		for i := range out {
			out[i] = p.lose()
		}
		return out
	}
	require.Equal(t, draw(1), draw(1))
	require.NotEqual(t, draw(1), draw(2))
}

func TestQueueDropsTail(t *testing.T) {
	// 1,000 B/s and a 3,000-byte queue: three 1,000-byte packets arriving
	// together fit (the first is being serialised), the fourth does not.
	p := testPipe(Shape{BytesPerSecond: 1000, Delay: 10 * time.Millisecond}, 3000, 1)
	now := time.Now()
	var dues []time.Time
	for i := range 4 {
		due, ok := p.schedule(1000, now)
		if i == 3 {
			require.False(t, ok, "the fourth packet finds the queue full")
			continue
		}
		require.True(t, ok, "packet %d", i)
		dues = append(dues, due)
	}
	for i, due := range dues {
		want := now.Add(time.Duration(i+1)*time.Second + 10*time.Millisecond)
		require.Equal(t, want, due, "packet %d leaves after its serialisation and the delay", i)
	}
	// Once the queue drained, packets are accepted again.
	_, ok := p.schedule(1000, now.Add(3*time.Second))
	require.True(t, ok)
}

func TestDelayLineIsBounded(t *testing.T) {
	p := testPipe(Shape{}, 4*DefaultMTU, 1)
	buf := make([]byte, DefaultMTU)
	accepted := 0
	for range 10 {
		if p.push(packet{buf: &buf, n: DefaultMTU}) {
			accepted++
		}
	}
	require.Equal(t, 4, accepted)
	p.drain()
	require.True(t, p.push(packet{buf: &buf, n: DefaultMTU}))
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	good := Config{Up: Shape{Delay: 25 * time.Millisecond, BytesPerSecond: 12_500_000, Loss: 0.01},
		Down: Shape{Loss: 0.5, MeanBurst: 2}, QueueBytes: 1 << 20, MTU: 9000, TCPCongestionControl: "cubic"}
	require.NoError(t, good.Validate())
	for name, c := range map[string]Config{
		"negative delay":     {Up: Shape{Delay: -1}},
		"huge delay":         {Down: Shape{Delay: time.Hour}},
		"negative rate":      {Up: Shape{BytesPerSecond: -1}},
		"loss above 1":       {Up: Shape{Loss: 1.01}},
		"negative loss":      {Down: Shape{Loss: -0.1}},
		"NaN loss":           {Down: Shape{Loss: math.NaN()}},
		"negative burst":     {Up: Shape{MeanBurst: -2}},
		"loss too high":      {Up: Shape{Loss: 0.9, MeanBurst: 2}}, // at most 2/3
		"negative queue":     {QueueBytes: -1},
		"queue below MTU":    {QueueBytes: 100},
		"MTU too small":      {MTU: 500},
		"MTU too big":        {MTU: 70000},
		"bad algorithm name": {TCPCongestionControl: "cubic; rm"},
	} {
		require.ErrorIs(t, c.Validate(), ErrInvalidConfig, name)
		_, err := New(c)
		require.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

func TestDefaultQueueIsOneBDP(t *testing.T) {
	c := Config{Up: Shape{Delay: 25 * time.Millisecond, BytesPerSecond: 12_500_000}, Down: Shape{Delay: 25 * time.Millisecond}}
	require.Equal(t, int64(625_000), c.queueBytes(c.Up))
	require.Equal(t, int64(UnshapedQueueBytes), c.queueBytes(c.Down))
	require.Equal(t, int64(MinQueueBytes), Config{Up: Shape{BytesPerSecond: 1000}}.queueBytes(Shape{BytesPerSecond: 1000}))
	c.QueueBytes = 5000
	require.Equal(t, int64(5000), c.queueBytes(c.Up))
}
