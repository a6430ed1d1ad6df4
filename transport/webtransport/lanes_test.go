package webtransport_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
)

// lanePair is a connected pair with lanes started on both sides.
func lanePair(t *testing.T) (a, b transport.LaneConn) {
	t.Helper()
	c, s := pair(t, nil)
	a, b = transport.Lanes(c), transport.Lanes(s)
	require.NotNil(t, a, "the WebTransport conn has lanes")
	require.NotNil(t, b)
	require.NoError(t, a.StartLanes())
	require.NoError(t, a.StartLanes(), "idempotent")
	require.NoError(t, b.StartLanes())
	return a, b
}

// laneMsg is message seq of lane id: the lane and sequence in its first 8 bytes.
func laneMsg(id uint32, seq, size int) []byte {
	b := transporttest.Payload(seq, size)
	binary.BigEndian.PutUint32(b, id)
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	return b
}

// TestLanesKeepOrderPerLane: messages written on several lanes and the main lane
// all arrive, each lane's in order, whatever the interleaving across lanes.
func TestLanesKeepOrderPerLane(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := lanePair(t)
	const lanes, perLane, size = 6, 40, 20000
	w := transporttest.GoAsync(func() error {
		for seq := range perLane {
			for id := uint32(0); id < lanes; id++ {
				msg := laneMsg(id, seq, size)
				var err error
				if id == 0 {
					err = a.WriteMessage(msg[:8], msg[8:]) // vectored on the main lane
				} else {
					err = a.WriteLane(id, msg[:8], msg[8:])
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	next := make([]int, lanes)
	for range lanes * perLane {
		got, err := b.ReadMessage()
		require.NoError(t, err)
		require.Len(t, got, size)
		id, seq := binary.BigEndian.Uint32(got), int(binary.BigEndian.Uint32(got[4:]))
		require.Less(t, id, uint32(lanes))
		require.Equal(t, next[id], seq, "lane %d out of order", id)
		require.Equal(t, laneMsg(id, seq, size)[8:], got[8:], "lane %d message %d altered", id, seq)
		next[id]++
	}
	require.NoError(t, w.Wait(t, "writer"))
}

// TestLaneEndAndReopen: an ended lane's messages are delivered, and a new lane
// with the same id works.
func TestLaneEndAndReopen(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := lanePair(t)
	for round := range 3 {
		for seq := range 5 {
			require.NoError(t, a.WriteLane(7, laneMsg(7, round*5+seq, 100)))
		}
		a.EndLane(7)
		a.EndLane(7) // idempotent
		seen := map[int]bool{}
		for range 5 {
			got, err := b.ReadMessage()
			require.NoError(t, err)
			seen[int(binary.BigEndian.Uint32(got[4:]))] = true
		}
		for seq := range 5 {
			require.True(t, seen[round*5+seq], "round %d message %d", round, seq)
		}
	}
}

// TestCloseDeliversLaneMessages: Close is graceful for lanes too: what was
// queued on lanes before Close arrives before the peer sees the end.
func TestCloseDeliversLaneMessages(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := lanePair(t)
	for id := uint32(1); id <= 4; id++ {
		require.NoError(t, a.WriteLane(id, laneMsg(id, 0, 50000)))
	}
	require.NoError(t, a.WriteMessage(laneMsg(0, 0, 100)))
	require.NoError(t, a.Close())
	got := 0
	for {
		_, err := b.ReadMessage()
		if err != nil {
			require.ErrorIs(t, err, transport.ErrClosed)
			break
		}
		got++
	}
	require.Equal(t, 5, got)
	err := a.WriteLane(1, []byte("late"))
	require.ErrorIs(t, err, transport.ErrClosed)
}

func TestLaneMessageLimits(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, _ := lanePair(t)
	require.ErrorIs(t, a.WriteLane(1), transport.ErrProtocol, "empty message")
	b, _ := lanePair(t)
	require.ErrorIs(t, b.WriteLane(1, make([]byte, 8<<20)), transport.ErrMessageTooLarge)
}

// TestLanesBeyondTheReadBound: 48 lanes × 4 messages of 200 KB (38 MB) are
// written while the reader does not read, well past the 4 MiB of unread lane
// messages at which lane readers stop taking new ones; once the reader reads,
// every message arrives, in order per lane. A reader that waited for room in
// the middle of a message would deadlock here against QUIC's flow control.
func TestLanesBeyondTheReadBound(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := lanePair(t)
	const lanes, perLane, size = 48, 4, 200000
	w := transporttest.GoAsync(func() error {
		for seq := range perLane {
			for id := uint32(1); id <= lanes; id++ {
				if err := a.WriteLane(id, laneMsg(id, seq, size)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	require.NoError(t, w.Wait(t, "queueing on lanes")) // WriteLane never waits for the network
	next := make(map[uint32]int)
	for range lanes * perLane {
		got, err := b.ReadMessage()
		require.NoError(t, err)
		id, seq := binary.BigEndian.Uint32(got), int(binary.BigEndian.Uint32(got[4:]))
		require.Equal(t, next[id], seq, "lane %d out of order", id)
		require.Equal(t, laneMsg(id, seq, size)[8:], got[8:])
		next[id]++
	}
}
