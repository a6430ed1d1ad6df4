package stream

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// TestIdleSessionMemory checks that an idle session (both ends, over the
// in-memory pipe) holds no batch or decompression buffers: its heap cost is a
// few goroutine-free structs. Transport buffers (gorilla's) are measured in
// bench/, not here.
func TestIdleSessionMemory(t *testing.T) {
	const n = 500
	srv, err := NewServer(NewMux(), nil)
	require.NoError(t, err)
	var sessions []*Session
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	before := measure()
	for range n {
		c, s := transport.Pipe(0)
		go srv.ServeConn(s, "") //nolint:errcheck // closed below
		sess, err := Client(context.Background(), c, nil, "")
		require.NoError(t, err)
		// One request/reply so both writers have run at least once.
		_, err = sess.Request(context.Background(), "none", nil)
		require.ErrorIs(t, err, ErrNoRoute)
		sessions = append(sessions, sess)
	}
	time.Sleep(50 * time.Millisecond) // let the writers go idle
	after := measure()
	perSession := (after - before) / n
	t.Logf("heap+stacks per idle session pair (client+server, pipe transport): %d bytes", perSession)
	require.Less(t, perSession, uint64(96<<10), "idle sessions must not pin batch buffers")
	for _, s := range sessions {
		s.Close()
	}
}
