package stream

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// TestPeerOpenOrderWithLanes: with lanes, OPENs may overtake each other; each
// skipped id is accepted once when it arrives, never twice, and a peer cannot
// make this side remember more than MaxStreams skipped ids. Without lanes ids
// must rise.
func TestPeerOpenOrderWithLanes(t *testing.T) {
	c, _ := transport.Pipe(0)
	defer c.Close()
	s := newSession(c, &Config{MaxStreams: 4}, false) // server: the peer opens odd ids
	defer s.cancel()
	s.lanesOn.Store(true)

	require.NoError(t, s.notePeerOpen(5)) // 1 and 3 overtaken
	require.Len(t, s.peerMissing, 2)
	require.NoError(t, s.notePeerOpen(1))
	require.ErrorIs(t, s.notePeerOpen(1), ErrProtocol, "an id is opened once")
	require.NoError(t, s.notePeerOpen(3))
	require.Empty(t, s.peerMissing)
	require.ErrorIs(t, s.notePeerOpen(5), ErrProtocol)

	require.ErrorIs(t, s.notePeerOpen(5+2*6), ErrProtocol, "skips 5 ids with MaxStreams 4")
	require.NoError(t, s.notePeerOpen(5+2*4)) // skips 7, 9, 11
	require.Len(t, s.peerMissing, 3)

	// After a resume onto a transport without lanes, a skipped id still
	// arrives once; new gaps are not remembered.
	s.lanesOn.Store(false)
	require.NoError(t, s.notePeerOpen(7))
	require.ErrorIs(t, s.notePeerOpen(7), ErrProtocol)
	require.NoError(t, s.notePeerOpen(21))
	require.Len(t, s.peerMissing, 2) // 9 and 11, from before
	require.ErrorIs(t, s.notePeerOpen(19), ErrProtocol)
}
