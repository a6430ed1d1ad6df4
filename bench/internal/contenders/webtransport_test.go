package contenders

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/bench/internal/netem"
)

func udpContenders() []harness.Contender {
	return []harness.Contender{
		WebTransport(),
		StreamdWebTransport("streamd-wt", "test", streamdConfig(), nil),
	}
}

// packetEnv is a loopback env with UDP.
func packetEnv(t *testing.T, msgSize int) harness.Env {
	t.Helper()
	env := loopbackEnv(t, msgSize)
	listen := func() (net.PacketConn, error) { return net.ListenPacket("udp", "127.0.0.1:0") }
	env.ListenPacket, env.ClientPacket = listen, listen
	return env
}

// netemEnv is an env through a packet-level emulated link, or a skip.
func netemEnv(t *testing.T, cfg netem.Config, msgSize int) harness.Env {
	t.Helper()
	if err := netem.Available(); err != nil {
		t.Skip(err)
	}
	l, err := netem.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	ln, err := l.Listen("tcp", net.JoinHostPort(l.ServerIP().String(), "0"))
	require.NoError(t, err)
	addr := ln.Addr().String()
	return harness.Env{
		Listener:    ln,
		Dial:        func(ctx context.Context) (net.Conn, error) { return l.Dial(ctx, "tcp", addr) },
		MessageSize: msgSize,
		ListenPacket: func() (net.PacketConn, error) {
			return l.ListenPacket("udp", net.JoinHostPort(l.ServerIP().String(), "0"))
		},
		ClientPacket: func() (net.PacketConn, error) {
			return l.Client().ListenPacket("udp", net.JoinHostPort(l.ClientIP().String(), "0"))
		},
		InClient: l.Client().Do,
	}
}

// exerciseLink carries bytes both ways on several streams of link, then
// checks that closing the link unblocks a pending read.
func exerciseLink(t *testing.T, ctx context.Context, link harness.Link, streams, size int) {
	t.Helper()
	var clients, servers []io.ReadWriteCloser
	for range streams {
		cl, sv, err := link.OpenPair(ctx)
		require.NoError(t, err)
		clients, servers = append(clients, cl), append(servers, sv)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*streams)
	for i := range streams {
		up := payload(t, size+i)
		down := payload(t, size/2+i)
		wg.Add(2)
		go func() { defer wg.Done(); errs <- exchange(clients[i], servers[i], up, 8<<10) }()
		go func() { defer wg.Done(); errs <- exchange(servers[i], clients[i], down, 8<<10) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	readDone := make(chan error, 1)
	go func() {
		_, err := servers[0].Read(make([]byte, 16))
		readDone <- err
	}()
	require.NoError(t, link.Close())
	select {
	case err := <-readDone:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock a pending Read")
	}
	require.NoError(t, link.Close(), "Close is idempotent")
}

func TestUDPContendersOverLoopback(t *testing.T) {
	for _, c := range udpContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			pc, ok := c.(harness.PacketContender)
			require.True(t, ok && pc.OverUDP(), "marked as running over UDP")
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			link, err := c.Connect(ctx, packetEnv(t, 8<<10))
			require.NoError(t, err)
			exerciseLink(t, ctx, link, 4, 100<<10)
			require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+1 },
				10*time.Second, 10*time.Millisecond, "goroutines left: %d > %d", runtime.NumGoroutine(), before)
		})
	}
}

// Through a lossy, delayed packet path, with the client's sockets in the
// client's namespace: every byte still arrives intact.
func TestUDPContendersOverLossyLink(t *testing.T) {
	shape := netem.Shape{Delay: 5 * time.Millisecond, BytesPerSecond: 20_000_000, Loss: 0.02}
	for _, c := range udpContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			link, err := c.Connect(ctx, netemEnv(t, netem.Config{Up: shape, Down: shape, Seed: 3}, 8<<10))
			require.NoError(t, err)
			exerciseLink(t, ctx, link, 2, 200<<10)
		})
	}
}

func TestUDPContendersNeedAPacketPath(t *testing.T) {
	for _, c := range udpContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			env := loopbackEnv(t, 4096)
			_, err := c.Connect(context.Background(), env)
			require.ErrorIs(t, err, ErrNoPacketPath)
			_, err = env.Listener.Accept()
			require.ErrorIs(t, err, net.ErrClosed, "a failed Connect closes the listener it owned")
		})
	}
}

func TestOpenPairHonoursContextOverUDP(t *testing.T) {
	for _, c := range udpContenders() {
		t.Run(c.Name(), func(t *testing.T) {
			link, err := c.Connect(context.Background(), packetEnv(t, 4096))
			require.NoError(t, err)
			defer link.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, _, err = link.OpenPair(ctx)
			require.ErrorIs(t, err, context.Canceled)
			cl, sv, err := link.OpenPair(context.Background())
			require.NoError(t, err)
			require.NoError(t, exchange(cl, sv, []byte("still paired"), 4))
		})
	}
}
