package transporttest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// PairFunc returns two connected Conns. It registers their Close (and that of anything it
// started, such as a server) with t.Cleanup.
type PairFunc func(t *testing.T) (a, b transport.Conn)

// Options describes what a transport under Run differs in. The zero value is not valid:
// MaxMessageSize must be set.
type Options struct {
	// MaxMessageSize is the largest message the Conns of the pair write and read.
	MaxMessageSize int
	// NoEmptyMessages is set for a transport that cannot send an empty message (a length
	// of 0 is invalid on WebTransport's byte stream): writing one must fail with
	// transport.ErrProtocol and close the Conn.
	NoEmptyMessages bool
	// Sizes are message sizes MessagesKeepBoundariesAndOrder sends besides its own: the
	// framing boundaries of the transport.
	Sizes []int
	// Network, when set, is the network both ends' LocalAddr must report.
	Network string
}

// Run checks the transport.Conn contract on the pairs newPair makes, one subtest each.
// Every pair's writes must not block before 512 KiB are in flight (QUIC's initial receive
// window, what TCP's socket buffers are to WebSocket).
func Run(t *testing.T, newPair PairFunc, opts Options) {
	if opts.MaxMessageSize <= 0 {
		t.Fatalf("transporttest.Run: Options.MaxMessageSize %d", opts.MaxMessageSize)
	}
	t.Run("MessagesKeepBoundariesAndOrder", func(t *testing.T) { messagesKeepBoundariesAndOrder(t, newPair, opts) })
	t.Run("VectoredWriteIsOneMessageAndCopied", func(t *testing.T) { vectoredWriteIsOneMessageAndCopied(t, newPair) })
	t.Run("EmptyMessage", func(t *testing.T) { emptyMessage(t, newPair, opts) })
	t.Run("CloseUnblocksRead", func(t *testing.T) { closeUnblocksRead(t, newPair) })
	for _, who := range []string{"local", "peer"} {
		t.Run("CloseUnblocksWrite/"+who, func(t *testing.T) { closeUnblocksWrite(t, newPair, who) })
	}
	t.Run("CloseDeliversWrittenMessages", func(t *testing.T) { closeDeliversWrittenMessages(t, newPair, opts) })
	t.Run("BothSidesClose", func(t *testing.T) { bothSidesClose(t, newPair) })
	t.Run("WriteTooLargeClosesConn", func(t *testing.T) { writeTooLargeClosesConn(t, newPair, opts) })
	t.Run("Addrs", func(t *testing.T) { addrs(t, newPair, opts) })
}

func messagesKeepBoundariesAndOrder(t *testing.T, newPair PairFunc, opts Options) {
	CheckGoroutines(t)
	a, b := newPair(t)
	maxMessage := opts.MaxMessageSize
	sizes := []int{1, 2, 7, 8, 125, 126, 127, 65535, 65536, 65537, 4096, maxMessage - 1, maxMessage}
	sizes = append(sizes, opts.Sizes...)
	smallest := 1
	if !opts.NoEmptyMessages {
		sizes = append(sizes, 0)
		smallest = 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) int { return smallest + rng.IntN(n+1-smallest) }
	for range 6 {
		sizes = append(sizes, random(maxMessage), random(4096), random(70000))
	}
	// Both directions at once: each side's writer runs while its reader drains the other.
	ab := GoAsync(func() error { return SendAll(a, sizes) })
	ba := GoAsync(func() error { return SendAll(b, sizes) })
	ReceiveAll(t, b, sizes)
	ReceiveAll(t, a, sizes)
	require.NoError(t, ab.Wait(t, "a writer"))
	require.NoError(t, ba.Wait(t, "b writer"))
}

func vectoredWriteIsOneMessageAndCopied(t *testing.T, newPair PairFunc) {
	CheckGoroutines(t)
	a, b := newPair(t)
	// About 210 KB in flight before the peer reads: within every transport's window.
	head, body, tail := []byte("head:"), Payload(7, 70000), []byte(":tail")
	want := string(head) + string(body) + string(tail)
	require.NoError(t, a.WriteMessage(head, nil, body, []byte{}, tail))
	require.NoError(t, a.WriteMessage(body, body[:0], body)) // parts may alias
	for i := range body {                                    // the caller may reuse parts
		body[i] = 0xEE
	}
	got, err := b.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, want, string(got))
	got, err = b.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, 2*70000, len(got))
	require.Equal(t, string(Payload(7, 70000)), string(got[70000:]))
}

// emptyMessage checks that a message of no bytes (no parts, or only empty ones) arrives as
// an empty message, or, with Options.NoEmptyMessages, is refused and closes the Conn.
func emptyMessage(t *testing.T, newPair PairFunc, opts Options) {
	CheckGoroutines(t)
	a, b := newPair(t)
	if opts.NoEmptyMessages {
		require.ErrorIs(t, a.WriteMessage(), transport.ErrProtocol)
		require.ErrorIs(t, a.WriteMessage([]byte{}, nil), transport.ErrClosed)
		_, err := b.ReadMessage()
		require.ErrorIs(t, err, transport.ErrPeerClosed)
		return
	}
	require.NoError(t, a.WriteMessage())                // no parts: empty message
	require.NoError(t, a.WriteMessage([]byte{}, nil))   // empty parts: empty message
	require.NoError(t, a.WriteMessage([]byte("after"))) // the stream goes on
	for range 2 {
		got, err := b.ReadMessage()
		require.NoError(t, err)
		require.Empty(t, got)
	}
	got, err := b.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "after", string(got))
}

func closeUnblocksRead(t *testing.T, newPair PairFunc) {
	CheckGoroutines(t)
	a, b := newPair(t)
	read := GoAsync(func() error { _, err := b.ReadMessage(); return err })
	time.Sleep(20 * time.Millisecond) // let it block (the test holds either way)
	require.NoError(t, b.Close())
	require.ErrorIs(t, read.Wait(t, "ReadMessage after Close"), transport.ErrClosed)
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, b.WriteMessage([]byte("x")), transport.ErrClosed)
	require.NoError(t, b.Close()) // idempotent

	// The peer sees the close on read, and its writes fail soon after.
	_, err = a.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	require.ErrorIs(t, err, transport.ErrClosed)
	write := GoAsync(func() error {
		for {
			if err := a.WriteMessage(make([]byte, 64<<10)); err != nil {
				return err
			}
		}
	})
	require.ErrorIs(t, write.Wait(t, "writes to a closed peer"), transport.ErrClosed)
}

// closeUnblocksWrite blocks a's writes (b reads nothing), then closes who ("local" or
// "peer") and checks that the blocked write returns.
func closeUnblocksWrite(t *testing.T, newPair PairFunc, who string) {
	CheckGoroutines(t)
	a, b := newPair(t)
	var p Progress
	msg := make([]byte, 256<<10)
	write := GoAsync(func() error {
		for {
			if err := a.WriteMessage(msg); err != nil {
				return err
			}
			p.Add()
		}
	})
	p.WaitStalled(t, write.Done()) // b reads nothing: a's writes must block
	closer := a
	if who == "peer" {
		closer = b
	}
	require.NoError(t, closer.Close())
	err := write.Wait(t, "blocked WriteMessage after Close")
	require.ErrorIs(t, err, transport.ErrClosed)
	if who == "peer" {
		require.ErrorIs(t, err, transport.ErrPeerClosed)
	}
}

func closeDeliversWrittenMessages(t *testing.T, newPair PairFunc, opts Options) {
	CheckGoroutines(t)
	a, b := newPair(t)
	first := 0 // message 0 is empty
	if opts.NoEmptyMessages {
		first = 1
	}
	for i := first; i <= 3; i++ { // 300 KB: within every transport's window, so no write blocks
		require.NoError(t, a.WriteMessage(Payload(i, 50000*i)))
	}
	require.NoError(t, a.Close())
	for i := first; i <= 3; i++ {
		got, err := b.ReadMessage()
		require.NoError(t, err)
		RequirePayload(t, got, i, 50000*i)
	}
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func bothSidesClose(t *testing.T, newPair PairFunc) {
	CheckGoroutines(t)
	a, b := newPair(t)
	require.NoError(t, a.WriteMessage([]byte("bye")))
	// Both close at once, as two sessions do after exchanging ERROR frames: a transport that
	// lingers until the other's close must see both lingers end (the goroutine check).
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func writeTooLargeClosesConn(t *testing.T, newPair PairFunc, opts Options) {
	CheckGoroutines(t)
	a, b := newPair(t)
	err := a.WriteMessage(make([]byte, opts.MaxMessageSize), []byte{1})
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	require.ErrorIs(t, a.WriteMessage([]byte("small")), transport.ErrClosed)
	_, err = a.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)
	_, err = b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func addrs(t *testing.T, newPair PairFunc, opts Options) {
	CheckGoroutines(t)
	a, b := newPair(t)
	require.NotEmpty(t, a.LocalAddr().String())
	if opts.Network != "" {
		require.Equal(t, opts.Network, a.LocalAddr().Network())
		require.Equal(t, opts.Network, b.LocalAddr().Network())
	}
	require.Equal(t, a.LocalAddr().String(), b.RemoteAddr().String())
	require.Equal(t, b.LocalAddr().String(), a.RemoteAddr().String())
}
