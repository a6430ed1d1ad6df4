package netem

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// newLink creates a link for cfg, or skips the test with the reason the
// machine cannot. Cleanup closes it and checks both namespaces are gone.
func newLink(t *testing.T, cfg Config) *Link {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	l, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, l.Close())
		requireNoNamespace(t, l.Client().Namespace(), l.Server().Namespace())
	})
	return l
}

func requireNoNamespace(t *testing.T, names ...string) {
	t.Helper()
	out, err := exec.Command(mustIP(t), "netns", "list").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, line := range strings.Split(string(out), "\n") {
		for _, n := range names {
			require.NotEqual(t, n, strings.Fields(line + " x")[0], "namespace %s still exists", n)
		}
	}
}

func mustIP(t *testing.T) string {
	t.Helper()
	p, err := ipCommand()
	require.NoError(t, err)
	return p
}

// tcpPair returns a connected client (dialled from the client namespace) and
// server (accepted in the server namespace) TCP connection.
func tcpPair(t *testing.T, l *Link) (client, server net.Conn) {
	t.Helper()
	ln, err := l.Listen("tcp", net.JoinHostPort(l.ServerIP().String(), "0"))
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err = l.Dial(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	server, ok := <-accepted
	require.True(t, ok, "accept failed")
	require.Equal(t, l.ClientIP().String(), server.RemoteAddr().(*net.TCPAddr).IP.String(),
		"the connection came through the link, from the client's address")
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// transfer writes data on w and returns what r read until w's side closed.
func transfer(t *testing.T, w net.Conn, r net.Conn, data []byte) []byte {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		if err == nil {
			err = w.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	return got
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func TestTCPTransferThroughShapedLink(t *testing.T) {
	before := runtime.NumGoroutine()
	const rate = 8_000_000
	shape := Shape{Delay: 5 * time.Millisecond, BytesPerSecond: rate}
	l := newLink(t, Config{Up: shape, Down: shape})
	client, server := tcpPair(t, l)

	data := randomBytes(t, 2<<20)
	start := time.Now()
	got := transfer(t, client, server, data)
	elapsed := time.Since(start)
	require.True(t, bytes.Equal(data, got), "received %d bytes, sent %d; content must match", len(got), len(data))
	// Every byte was serialised at the capped rate (the first packet may
	// leave at once): a lower bound, never an upper one.
	require.GreaterOrEqual(t, elapsed, time.Duration(float64(len(data)-DefaultMTU)/rate*float64(time.Second)))

	st := l.Stats()
	require.GreaterOrEqual(t, st.Up.Bytes, int64(len(data)), "payload plus headers crossed Up")
	require.Positive(t, st.Down.Packets, "ACKs crossed Down")
	require.Zero(t, st.Up.Lost+st.Down.Lost)
	require.Zero(t, st.Up.WriteErrors+st.Down.WriteErrors)

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 10*time.Second, 10*time.Millisecond,
		"forwarder goroutines left: %d > %d", runtime.NumGoroutine(), before)
}

func TestRoundTripIsAtLeastTheConfiguredRTT(t *testing.T) {
	const oneWay = 15 * time.Millisecond
	l := newLink(t, Config{Up: Shape{Delay: oneWay}, Down: Shape{Delay: oneWay}})
	client, server := tcpPair(t, l)
	go func() { _, _ = io.Copy(server, server) }() // echo
	buf := make([]byte, 64)
	for i := range 10 {
		binary.BigEndian.PutUint64(buf, uint64(i))
		start := time.Now()
		_, err := client.Write(buf)
		require.NoError(t, err)
		reply := make([]byte, len(buf))
		_, err = io.ReadFull(client, reply)
		require.NoError(t, err)
		rtt := time.Since(start)
		require.Equal(t, buf, reply)
		require.GreaterOrEqual(t, rtt, 2*oneWay, "ping %d", i)
	}
}

func TestLossIsApplied(t *testing.T) {
	lossy := Shape{Loss: 0.05}
	l := newLink(t, Config{Up: lossy, Down: lossy, Seed: 42})
	client, server := tcpPair(t, l)

	// At most 1460 payload bytes per packet: 8 MiB is over 5,700 packets Up.
	data := randomBytes(t, 8<<20)
	got := transfer(t, client, server, data)
	require.True(t, bytes.Equal(data, got), "TCP must deliver every byte intact through 5%% loss")

	st := l.Stats()
	require.GreaterOrEqual(t, st.Up.Received, int64(5000))
	// Binomial(n ≥ 5000, 0.05): the standard deviation is at most 0.31
	// percentage points, so [2%, 9%] is more than 9 of them either side.
	frac := float64(st.Up.Lost) / float64(st.Up.Received)
	require.Greater(t, frac, 0.02, "%+v", st.Up)
	require.Less(t, frac, 0.09, "%+v", st.Up)
	require.Positive(t, st.Down.Lost, "ACKs are lost too: %+v", st.Down)
}

func TestUDPEcho(t *testing.T) {
	shape := Shape{Delay: time.Millisecond}
	l := newLink(t, Config{Up: shape, Down: shape})
	srv, err := l.ListenPacket("udp", net.JoinHostPort(l.ServerIP().String(), "0"))
	require.NoError(t, err)
	defer srv.Close()
	cli, err := l.Client().ListenPacket("udp", net.JoinHostPort(l.ClientIP().String(), "0"))
	require.NoError(t, err)
	defer cli.Close()
	_, isUDP := cli.(*net.UDPConn)
	require.True(t, isUDP)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], from)
		}
	}()
	require.NoError(t, cli.SetDeadline(time.Now().Add(20*time.Second)))
	reply := make([]byte, 2048)
	for i := range 50 {
		msg := []byte(fmt.Sprintf("datagram %d %s", i, strings.Repeat("x", 1000)))
		_, err := cli.WriteTo(msg, srv.LocalAddr())
		require.NoError(t, err)
		n, from, err := cli.ReadFrom(reply)
		require.NoError(t, err)
		require.Equal(t, msg, reply[:n])
		require.Equal(t, srv.LocalAddr().String(), from.String())
	}
	st := l.Stats()
	require.GreaterOrEqual(t, st.Up.Packets, int64(50))
	require.GreaterOrEqual(t, st.Down.Packets, int64(50))
}

func TestCloseRemovesEverything(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	l, err := New(Config{Up: Shape{Delay: time.Millisecond}})
	require.NoError(t, err)
	names := []string{l.Client().Namespace(), l.Server().Namespace()}
	out, err := exec.Command(mustIP(t), "netns", "list").CombinedOutput()
	require.NoError(t, err)
	for _, n := range names {
		require.Contains(t, string(out), n, "the namespace exists while the link is open")
	}
	ln, err := l.Listen("tcp", "10.213.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	requireNoNamespace(t, names...)
	_, err = l.Listen("tcp", ":0")
	require.ErrorIs(t, err, ErrClosed)
	_, err = l.Dial(context.Background(), "tcp", ln.Addr().String())
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, ln.Close(), "a socket outlives its namespace's name")
}

func TestSocketsLiveInTheirNamespace(t *testing.T) {
	l := newLink(t, Config{})
	// The server's address does not exist in the client's namespace.
	_, err := l.Client().Listen("tcp", net.JoinHostPort(l.ServerIP().String(), "0"))
	require.Error(t, err)
	// Nor does the process's own namespace see the link.
	ln, err := l.Listen("tcp", net.JoinHostPort(l.ServerIP().String(), "0"))
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	if c, err := d.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the link's server was reachable from outside its namespace")
	}
}

func TestSetLoss(t *testing.T) {
	l := newLink(t, Config{})
	require.ErrorIs(t, l.SetLoss(1.5, 0), ErrInvalidConfig)
	require.NoError(t, l.SetLoss(1, 0))
	srv, err := l.ListenPacket("udp", "10.213.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	cli, err := l.Client().ListenPacket("udp", "10.213.0.2:0")
	require.NoError(t, err)
	defer cli.Close()
	for range 20 {
		_, err := cli.WriteTo([]byte("gone"), srv.LocalAddr())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return l.Stats().Up.Lost == 20 }, 10*time.Second, time.Millisecond,
		"every datagram is lost at loss 1: %+v", l.Stats().Up)
	require.Zero(t, l.Stats().Up.Packets)
}

func TestCongestionControlIsSetPerSocket(t *testing.T) {
	l := newLink(t, Config{TCPCongestionControl: "reno"})
	client, server := tcpPair(t, l)
	for _, c := range []net.Conn{client, server} {
		rc, err := c.(*net.TCPConn).SyscallConn()
		require.NoError(t, err)
		var cc string
		var gerr error
		require.NoError(t, rc.Control(func(fd uintptr) {
			cc, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		}))
		require.NoError(t, gerr)
		require.Equal(t, "reno", strings.TrimRight(cc, "\x00"), "dialled and accepted sockets both")
	}
	_, err := New(Config{TCPCongestionControl: "no such thing"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	bad := newLink(t, Config{TCPCongestionControl: "nosuchalgo"})
	_, err = bad.Listen("tcp", "10.213.0.1:0")
	require.ErrorIs(t, err, unix.ENOENT, "the kernel refuses an algorithm it does not have")
}

func TestCongestionControls(t *testing.T) {
	ccs, err := CongestionControls()
	if err != nil {
		t.Skip(err) // not Linux's /proc
	}
	require.Contains(t, ccs, "reno", "always built in")
}
