package transport_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
	"github.com/streamd/streamd/transport/transporttest"
)

func TestPipeIsBounded(t *testing.T) {
	transporttest.CheckGoroutines(t)
	a, b := transport.Pipe(0)
	defer a.Close()
	defer b.Close()
	require.Equal(t, transport.DefaultMaxMessageSize, transport.MaxMessageSize(a))

	// 300 KiB messages: three fit in the 1 MiB window, the fourth waits for the reader.
	var p transporttest.Progress
	msg := make([]byte, 300<<10)
	writer := transporttest.GoAsync(func() error {
		for range 4 {
			if err := a.WriteMessage(msg); err != nil {
				return err
			}
			p.Add()
		}
		return nil
	})
	requireStaysAt(t, &p, 3)
	_, err := b.ReadMessage()
	require.NoError(t, err)
	require.NoError(t, writer.Wait(t, "writer after a read freed room"))
	require.Equal(t, 4, p.Load())

	// Small messages: at most 16 in flight.
	var q transporttest.Progress
	writer = transporttest.GoAsync(func() error {
		for range 20 {
			if err := b.WriteMessage([]byte("x")); err != nil {
				return err
			}
			q.Add()
		}
		return nil
	})
	requireStaysAt(t, &q, 16)
	require.NoError(t, drainN(a, 20))
	require.NoError(t, writer.Wait(t, "small writer"))
}

func TestPipeSteadyStateDoesNotAllocate(t *testing.T) {
	a, b := transport.Pipe(0)
	defer a.Close()
	defer b.Close()
	// A variadic call through an interface allocates its argument slice, so pass a slice
	// kept by the caller, as a session writer would.
	parts := [][]byte{make([]byte, 16), make([]byte, 64<<10)}
	allocs := testing.AllocsPerRun(200, func() {
		if err := a.WriteMessage(parts...); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// requireStaysAt waits until p reaches n, then checks that it does not move on while nothing
// is read (a blocked writer). A slow machine cannot make this fail; a pipe that lets more
// through fails it.
func requireStaysAt(t *testing.T, p *transporttest.Progress, n int) {
	t.Helper()
	waitFor(t, func() bool { return p.Load() >= n }, "writes up to the bound")
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, n, p.Load(), "the writer went past the bound")
}
