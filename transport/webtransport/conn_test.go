package webtransport_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
	"github.com/streamd/streamd/transport/webtransport"
)

const maxMessage = 1 << 20

func conformancePair(t *testing.T) (transport.Conn, transport.Conn) {
	return pair(t, &webtransport.Config{MaxMessageSize: maxMessage, CloseTimeout: 500 * time.Millisecond})
}

// TestConformance checks the transport.Conn contract, as transport's conformance suite does
// for the other Conns, with one deliberate difference: an empty message cannot be sent,
// because a length of 0 is invalid on a byte stream (docs/PROTOCOL.md §2.2).
func TestConformance(t *testing.T) {
	transporttest.Run(t, conformancePair, transporttest.Options{
		MaxMessageSize:  maxMessage,
		NoEmptyMessages: true,
		// Sizes around the 256 KiB write buffer, which holds a 4-byte length prefix too.
		Sizes:   []int{3, 4, 5, 262139, 262140, 262141},
		Network: "udp",
	})
}

func TestReadLimit(t *testing.T) {
	transporttest.CheckGoroutines(t)
	const limit = 1 << 20
	srv := newServer(t, &webtransport.Config{MaxMessageSize: limit})
	client, _, err := dial(t, srv.url, nil, srv.pinned(&webtransport.Config{MaxMessageSize: 2 * limit}))
	require.NoError(t, err)
	server := srv.results.Next(t).Conn
	// A message beyond QUIC's receive window completes only as the peer reads it. The sender
	// learns why the session ended: MESSAGE_TOO_LARGE. WriteMessage queues for the stream's
	// writer: the too-large message may have been queued before the session ended (nil) or
	// refused (ErrClosed).
	transporttest.RequireReadLimit(t, client, server, limit, true)
}

func TestWriteTimeoutClosesConn(t *testing.T) {
	transporttest.CheckGoroutines(t)
	srv := newServer(t, &webtransport.Config{WriteTimeout: 200 * time.Millisecond})
	client, _, err := dial(t, srv.url, nil, srv.pinned(nil))
	require.NoError(t, err)
	server := srv.results.Next(t).Conn

	// The client reads nothing, so QUIC flow control stops the server and a write times out.
	// The client sees the session end (after what arrived, or at once: the session ended
	// with an error, which discards data in flight).
	transporttest.RequireWriteTimeoutCloses(t, client, server)
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
