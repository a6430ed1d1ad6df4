package stream

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// TestWindowAutoTunesOnLongFatLink runs one upload across a 50 ms RTT link (an
// in-memory pipe with 25 ms of one-way latency each way) and checks that the
// receiver grew the stream's window beyond its initial 256 KiB toward the
// bandwidth-delay product, and never past its ceiling. It asserts no timings.
func TestWindowAutoTunesOnLongFatLink(t *testing.T) {
	windows := make(chan [2]uint64, 1)
	mux := NewMux()
	mux.Handle("up", Upload, func(ctx context.Context, st *Stream) error {
		_, err := io.CopyBuffer(io.Discard, st, make([]byte, 64<<10))
		st.mu.Lock()
		windows <- [2]uint64{st.recvWin.Size(), uint64(st.sess.cfg.MaxStreamWindow)}
		st.mu.Unlock()
		return err
	})
	srv, err := NewServer(mux, &ServerConfig{Session: &Config{MaxStreamWindow: 4 << 20}})
	require.NoError(t, err)
	c, s := transport.Pipe(0)
	fault := transport.FaultConfig{Latency: 25 * time.Millisecond}
	go srv.ServeConn(transport.WithFaults(s, fault), "") //nolint:errcheck // observed via the client
	sess, err := Client(context.Background(), transport.WithFaults(c, fault), &Config{Compression: []string{"none"}}, "")
	require.NoError(t, err)
	defer sess.Close()

	st, err := sess.Open(context.Background(), OpenOptions{Route: "up", Kind: Upload})
	require.NoError(t, err)
	_, err = st.Write(make([]byte, 24<<20))
	require.NoError(t, err)
	require.NoError(t, st.Close())
	w := <-windows
	t.Logf("receive window after 24 MiB at 50 ms RTT: %d KiB (ceiling %d KiB); credit stalls %d",
		w[0]>>10, w[1]>>10, sess.Stats().CreditStalls)
	require.Greater(t, w[0], uint64(DefaultStreamWindow), "the window must grow on a long fat link")
	require.LessOrEqual(t, w[0], w[1], "never past the ceiling")
}
