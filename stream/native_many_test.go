package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNativeManyStreams: 64 uploads at once in native streams mode, one lane
// each, all complete intact.
func TestNativeManyStreams(t *testing.T) {
	const streams, size = 64, 1 << 20
	sums := make(chan [32]byte, streams)
	mux := NewMux()
	mux.Handle("up", Upload, sinkHandler(sums))
	env := webtransportNativeEnv(t, mux, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.server.Shutdown(ctx) //nolint:errcheck // best effort in cleanup
	})
	sess := env.mustDial(nil)
	errs := make(chan error, streams)
	want := map[[32]byte]int{}
	for i := range streams {
		data := randomData(size, uint64(100+i))
		want[sha256.Sum256(data)]++
		go func() {
			st, err := sess.Open(t.Context(), OpenOptions{Route: "up", Kind: Upload, Checksum: true})
			if err == nil {
				_, err = io.Copy(st, bytes.NewReader(data))
			}
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	for range streams {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("uploads stalled: %+v", sess.Stats())
		}
	}
	for range streams {
		sum := <-sums
		require.Positive(t, want[sum])
		want[sum]--
	}
}
