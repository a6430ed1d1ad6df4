package harness

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/bench/internal/netem"
)

// udpPair is pairContender marked as running over UDP, to check that
// scenarios select contenders by transport.
type udpPair struct{ pairContender }

func (udpPair) OverUDP() bool { return true }

func TestLossyContenderSelection(t *testing.T) {
	cs := []Contender{pairContender{name: "tcp"}, pairContender{name: "yamux"}, pairContender{name: "streamd"},
		udpPair{pairContender{name: "quic-thing"}}, pairContender{name: "mybase"}}
	infos := make([]ContenderInfo, len(cs))
	for i, c := range cs {
		infos[i] = ContenderInfo{Name: c.Name()}
	}
	kept, keptInfos, left := lossyContenders(cs, infos, "mybase")
	var names []string
	for i, c := range kept {
		names = append(names, c.Name())
		require.Equal(t, c.Name(), keptInfos[i].Name)
	}
	require.Equal(t, []string{"tcp", "streamd", "quic-thing", "mybase"}, names)
	require.Equal(t, []string{"yamux"}, left)

	tcp, _, udp := tcpOnly(cs, infos)
	require.Len(t, tcp, 4)
	require.Equal(t, []string{"quic-thing"}, udp)
}

func TestLossLabel(t *testing.T) {
	require.Equal(t, "0% loss", lossLabel(0))
	require.Equal(t, "1% loss", lossLabel(0.01))
	require.Equal(t, "0.5% loss", lossLabel(0.005))
}

func TestProfileRejectsBadLossRates(t *testing.T) {
	for _, bad := range [][]float64{{-0.1}, {1}, {0.01, 2}} {
		p := TinyProfile()
		p.LossRates = bad
		require.ErrorIs(t, p.Validate(), ErrInvalidProfile, "%v", bad)
	}
	p := TinyProfile()
	p.LossMeasure = 0
	require.ErrorIs(t, p.Validate(), ErrInvalidProfile)
}

// The lossy scenario through the real emulator, with a contender that dials
// through the Env: rows for every loss rate, or a skip note where the
// machine cannot emulate.
func TestLossyScenario(t *testing.T) {
	p := TinyProfile()
	p.LossRates = []float64{0, 0.05}
	c := Contenders{Streams: []Contender{pairContender{name: "tcp"}, pairContender{name: "left-out"}}, Baseline: "tcp"}
	rep, err := Run(context.Background(), c, Options{Profile: p, Scenarios: []string{"lossy"}})
	require.NoError(t, err)
	require.Len(t, rep.Scenarios, 1)
	s := rep.Scenarios[0]
	require.Len(t, s.Contenders, 1, "left-out is neither a known TCP contender nor over UDP")
	if err := netem.Available(); err != nil {
		require.Empty(t, s.Rows)
		require.Contains(t, strings.Join(s.Notes, "\n"), "skipped: "+err.Error())
		t.Skip(err)
	}
	require.Equal(t, []string{"0% loss", "5% loss"}, s.Cases)
	for _, cs := range s.Cases {
		row, ok := s.Row(cs, "tcp")
		require.True(t, ok)
		require.Empty(t, row.Error)
		for _, key := range []string{"mb_per_s", "p50_us", "p90_us", "p99_us", "bulk_mb_per_s", "pings"} {
			require.Contains(t, row.Values, key, "%s: %s", cs, key)
		}
		// Each ping crossed the emulated link twice: never faster than its RTT.
		require.GreaterOrEqual(t, row.Values["p50_us"].Min, float64(p.LossRTT.Microseconds()))
	}
}

// netemEnv's paths really go through the emulator: TCP and UDP between the
// two ends, with the client's own sockets made in InClient.
func TestNetemEnv(t *testing.T) {
	if err := netem.Available(); err != nil {
		t.Skip(err)
	}
	shape := netem.Shape{Delay: 5 * time.Millisecond}
	env, cleanup, err := netemEnv(netem.Config{Up: shape, Down: shape})(1024)
	require.NoError(t, err)
	defer cleanup()
	defer env.Listener.Close()
	require.True(t, env.HasPackets())

	go func() {
		c, err := env.Listener.Accept()
		if err == nil {
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := env.Dial(ctx)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond)

	srv, err := env.ListenPacket()
	require.NoError(t, err)
	defer srv.Close()
	var cli net.PacketConn
	require.NoError(t, env.RunInClient(func() (err error) {
		cli, err = net.ListenPacket("udp", ":0") // the client's namespace: only the link and lo
		return err
	}))
	defer cli.Close()
	_, err = cli.WriteTo([]byte("datagram"), srv.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, _, err := srv.ReadFrom(buf[:4])
	require.NoError(t, err)
	require.Equal(t, "data", string(buf[:n]))
}
