package webtransport_test

import (
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/webtransport"
)

// The tests in this file check the transport.Conn contract (as transport's conformance
// suite does for the other Conns), with one deliberate difference: an empty message cannot
// be sent, because a length of 0 is invalid on a byte stream (docs/PROTOCOL.md §2.2).

const maxMessage = 1 << 20

func conformancePair(t *testing.T) (transport.Conn, transport.Conn) {
	return pair(t, &webtransport.Config{MaxMessageSize: maxMessage, CloseTimeout: 500 * time.Millisecond})
}

func sendAll(c transport.Conn, sizes []int) error {
	for i, size := range sizes {
		if err := c.WriteMessage(payload(i, size)); err != nil {
			return err
		}
	}
	return nil
}

func receiveAll(t *testing.T, c transport.Conn, sizes []int) {
	t.Helper()
	for i, size := range sizes {
		got, err := c.ReadMessage()
		require.NoError(t, err, "message %d", i)
		requirePayload(t, got, i, size)
	}
}

func TestMessagesKeepBoundariesAndOrder(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 125, 65535, 65536, 65537, 262139, 262140, 262141, 4096, maxMessage - 1, maxMessage}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		sizes = append(sizes, 1+rng.IntN(maxMessage), 1+rng.IntN(4096), 1+rng.IntN(70000))
	}
	// Both directions at once: each side's writer runs while its reader drains the other.
	ab := goAsync(func() error { return sendAll(a, sizes) })
	ba := goAsync(func() error { return sendAll(b, sizes) })
	receiveAll(t, b, sizes)
	receiveAll(t, a, sizes)
	require.NoError(t, ab.wait(t, "a writer"))
	require.NoError(t, ba.wait(t, "b writer"))
}

func TestVectoredWriteIsOneMessageAndCopied(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	// At most 512 KiB in flight before the peer reads: QUIC's initial receive window (what
	// TCP's socket buffers are to the WebSocket transport). A writer beyond it blocks.
	head, body, tail := []byte("head:"), payload(7, 100000), []byte(":tail")
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
	require.Equal(t, 2*100000, len(got))
	require.Equal(t, string(payload(7, 100000)), string(got[100000:]))
}

func TestCloseUnblocksRead(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	read := goAsync(func() error { _, err := b.ReadMessage(); return err })
	time.Sleep(20 * time.Millisecond) // let it block (the test holds either way)
	require.NoError(t, b.Close())
	require.ErrorIs(t, read.wait(t, "ReadMessage after Close"), transport.ErrClosed)
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, b.WriteMessage([]byte("x")), transport.ErrClosed)
	require.NoError(t, b.Close()) // idempotent

	// The peer sees the close on read, and its writes fail soon after.
	_, err = a.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	write := goAsync(func() error {
		for {
			if err := a.WriteMessage(make([]byte, 64<<10)); err != nil {
				return err
			}
		}
	})
	require.ErrorIs(t, write.wait(t, "writes to a closed peer"), transport.ErrClosed)
}

func TestCloseUnblocksWrite(t *testing.T) {
	for _, who := range []string{"local", "peer"} {
		t.Run(who, func(t *testing.T) {
			checkGoroutines(t)
			a, b := conformancePair(t)
			var p progress
			msg := make([]byte, 256<<10)
			write := goAsync(func() error {
				for {
					if err := a.WriteMessage(msg); err != nil {
						return err
					}
					p.add()
				}
			})
			p.waitStalled(t, write.done) // b reads nothing: a's writes must block
			closer := a
			if who == "peer" {
				closer = b
			}
			require.NoError(t, closer.Close())
			err := write.wait(t, "blocked WriteMessage after Close")
			require.ErrorIs(t, err, transport.ErrClosed)
			if who == "peer" {
				require.ErrorIs(t, err, transport.ErrPeerClosed)
			}
		})
	}
}

func TestCloseDeliversWrittenMessages(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	for i := 1; i <= 3; i++ { // 300 KB: within QUIC's initial window, so no write blocks
		require.NoError(t, a.WriteMessage(payload(i, 50000*i)))
	}
	require.NoError(t, a.Close())
	for i := 1; i <= 3; i++ {
		got, err := b.ReadMessage()
		require.NoError(t, err)
		requirePayload(t, got, i, 50000*i)
	}
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestBothSidesClose(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	require.NoError(t, a.WriteMessage([]byte("bye")))
	// Both close at once, as two sessions do after exchanging ERROR frames: each lingers
	// until the other's FIN, and the goroutine check sees both lingers end.
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func TestWriteTooLargeClosesConn(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	err := a.WriteMessage(make([]byte, maxMessage), []byte{1})
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	require.ErrorIs(t, a.WriteMessage([]byte("small")), transport.ErrClosed)
	_, err = a.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)
	_, err = b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestEmptyMessageIsRefused(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	require.ErrorIs(t, a.WriteMessage(), transport.ErrProtocol)
	require.ErrorIs(t, a.WriteMessage([]byte{}, nil), transport.ErrClosed)
	_, err := b.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestReadLimit(t *testing.T) {
	checkGoroutines(t)
	const limit = 1 << 20
	srv := newServer(t, &webtransport.Config{MaxMessageSize: limit})
	client, _, err := dial(t, srv.url, nil, srv.pinned(&webtransport.Config{MaxMessageSize: 2 * limit}))
	require.NoError(t, err)
	server := srv.next(t).conn
	require.Equal(t, limit, transport.MaxMessageSize(server))

	// A message beyond QUIC's receive window completes only as the peer reads it.
	write := goAsync(func() error { return client.WriteMessage(make([]byte, limit)) }) // the limit: fine
	msg, err := server.ReadMessage()
	require.NoError(t, err)
	require.Len(t, msg, limit)
	require.NoError(t, write.wait(t, "write of the largest message"))

	write = goAsync(func() error { return client.WriteMessage(make([]byte, limit/2), make([]byte, limit/2+1)) })
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	// The sender learns why: the session ended with MESSAGE_TOO_LARGE.
	_, err = client.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	// WriteMessage queues for the stream's writer: the too-large message may have been
	// queued before the session ended (nil) or refused (ErrClosed); either way the conn
	// is down now.
	if err := write.wait(t, "write of a too large message"); err != nil {
		require.ErrorIs(t, err, transport.ErrClosed)
	}
	require.ErrorIs(t, client.WriteMessage([]byte("x")), transport.ErrClosed)
}

func TestWriteTimeoutClosesConn(t *testing.T) {
	checkGoroutines(t)
	srv := newServer(t, &webtransport.Config{WriteTimeout: 200 * time.Millisecond})
	client, _, err := dial(t, srv.url, nil, srv.pinned(nil))
	require.NoError(t, err)
	server := srv.next(t).conn

	// The client reads nothing, so QUIC flow control stops the server and a write times out.
	msg := make([]byte, 1<<20)
	for err == nil {
		err = server.WriteMessage(msg)
	}
	require.ErrorIs(t, err, transport.ErrWriteTimeout)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	require.True(t, netErr.Timeout())
	require.ErrorIs(t, server.WriteMessage([]byte("x")), transport.ErrClosed) // not half-alive
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	// The client sees the session end (after what arrived, or at once: the session ended
	// with an error, which discards data in flight).
	for err = nil; err == nil; {
		_, err = client.ReadMessage()
	}
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

func TestAddrs(t *testing.T) {
	checkGoroutines(t)
	a, b := conformancePair(t)
	require.Equal(t, "udp", a.LocalAddr().Network())
	require.Equal(t, a.LocalAddr().String(), b.RemoteAddr().String())
	require.Equal(t, b.LocalAddr().String(), a.RemoteAddr().String())
}

func TestSteadyStateAllocations(t *testing.T) {
	a, b := conformancePair(t)
	parts := [][]byte{make([]byte, 16), make([]byte, 64<<10)}
	conn := testing.AllocsPerRun(100, func() {
		if err := a.WriteMessage(parts...); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	})
	// The same bytes over webtransport-go directly: quic-go allocates per packet (frames,
	// timers), about 200 times per 64 KiB. The Conn must add next to nothing to that.
	rw, rr := rawPair(t)
	msg, buf := make([]byte, 4+16+64<<10), make([]byte, 4+16+64<<10)
	raw := testing.AllocsPerRun(100, func() {
		if _, err := rw.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rr, buf); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocs per 64 KiB message: Conn %v, raw webtransport-go %v", conn, raw)
	require.LessOrEqual(t, conn, raw*1.1+4)
}
