package stream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sinkHandler reads an upload to EOF and reports its size and hash.
func sinkHandler(results chan<- [32]byte) StreamHandler {
	return func(ctx context.Context, st *Stream) error {
		_, sum, err := hashingSink(st)
		if err != nil {
			return err
		}
		if results != nil {
			results <- sum
		}
		return nil
	}
}

func TestUploadDownload64MiB(t *testing.T) {
	// 64 MiB each way over real WebSocket; 16 MiB over the other transports,
	// which the race detector makes slow (the suite runs in the default tests).
	const full, reduced = 64 << 20, 16 << 20
	fullData := patternData(full, 1)
	for _, algo := range []string{"none", "gzip", "zstd"} {
		t.Run(algo, func(t *testing.T) {
			results := make(chan [32]byte, 1)
			var data []byte // set per transport before the handlers run
			forEachTransport(t, nil, func(m *Mux) {
				m.Handle("up", Upload, sinkHandler(results))
				m.Handle("down", Download, func(ctx context.Context, st *Stream) error {
					_, err := io.Copy(st, bytes.NewReader(data))
					return err
				})
			}, func(t *testing.T, env *testEnv) {
				size := full
				if env.name != "websocket" {
					size = reduced
				}
				data = fullData[:size]
				want := sha256.Sum256(data)
				sess := env.mustDial(&Config{Compression: []string{algo}})
				ctx := context.Background()

				up, err := sess.Open(ctx, OpenOptions{Route: "up", Kind: Upload, Checksum: true, Metadata: map[string]any{"size": size}})
				require.NoError(t, err)
				n, err := io.Copy(up, bytes.NewReader(data))
				require.NoError(t, err)
				require.EqualValues(t, size, n)
				require.NoError(t, up.Close())
				require.Equal(t, StateCompleted, up.State())
				require.Equal(t, want, <-results)
				require.EqualValues(t, size, up.Progress().Sent)

				down, err := sess.Open(ctx, OpenOptions{Route: "down", Kind: Download, Checksum: true})
				require.NoError(t, err)
				n, sum, err := hashingSink(down)
				require.NoError(t, err)
				require.EqualValues(t, size, n)
				require.Equal(t, want, sum)
				require.NoError(t, down.Close())
				require.Equal(t, StateCompleted, down.State())

				st := sess.Stats()
				if algo == "none" {
					require.Zero(t, st.CompressedOut)
				} else {
					require.Positive(t, st.CompressedOut, "compressible data must be compressed with %s", algo)
					require.Less(t, st.CompressedOut, st.RawOut)
					require.Less(t, st.BytesIn, int64(size), "download must arrive compressed")
				}
			})
		})
	}
}

func TestBidiEcho(t *testing.T) {
	forEachTransport(t, nil, func(m *Mux) {
		m.Handle("echo", Bidi, func(ctx context.Context, st *Stream) error {
			_, err := io.Copy(st, st)
			return err
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		st, err := sess.Open(context.Background(), OpenOptions{Route: "echo", Kind: Bidi})
		require.NoError(t, err)
		data := randomData(3<<20+17, 2)
		go func() {
			st.Write(data) //nolint:errcheck // checked by the reader
			st.CloseWrite()
		}()
		got, err := io.ReadAll(st)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.NoError(t, st.Close())
		require.Equal(t, StateCompleted, st.State())
	})
}

func TestConcurrentStreamsAndStalledReader(t *testing.T) {
	const perStream = 4 << 20
	var stalled chan *Stream
	var release chan struct{}
	forEachTransport(t, nil, func(m *Mux) {
		stalled, release = make(chan *Stream, 1), make(chan struct{})
		m.Handle("up", Upload, sinkHandler(nil))
		stalled, release := stalled, release
		m.Handle("stall", Upload, func(ctx context.Context, st *Stream) error {
			if err := st.Accept(nil); err != nil {
				return err
			}
			stalled <- st
			select { // never reads until released
			case <-release:
			case <-ctx.Done():
			}
			_, _, err := hashingSink(st)
			return err
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		ctx := context.Background()

		// The stalled stream: its writer must block once the window and send
		// buffer are full, without the server buffering more than its window.
		stall, err := sess.Open(ctx, OpenOptions{Route: "stall", Kind: Upload})
		require.NoError(t, err)
		srvStall := <-stalled
		var stallWritten int64
		stallDone := make(chan error, 1)
		go func() {
			n, err := stall.Write(make([]byte, 16<<20))
			stallWritten = int64(n)
			stallDone <- err
		}()

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := sess.Open(ctx, OpenOptions{Route: "up", Kind: Upload, Checksum: true})
				if err != nil {
					errs <- err
					return
				}
				if _, err := st.Write(patternData(perStream, uint64(i))); err != nil {
					errs <- err
					return
				}
				errs <- st.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		// The 8 streams completed while the stalled one is still blocked.
		select {
		case err := <-stallDone:
			t.Fatalf("write on a stalled stream returned early: %v", err)
		default:
		}
		srvStall.mu.Lock()
		buffered := srvStall.recvQ.size
		window := srvStall.recvWin.Size()
		srvStall.mu.Unlock()
		require.LessOrEqual(t, uint64(buffered), window, "server buffered beyond the stalled stream's window")
		require.Positive(t, buffered, "received %d", srvStall.recvWin.Received())

		close(release)
		require.NoError(t, <-stallDone)
		require.EqualValues(t, 16<<20, stallWritten)
		require.NoError(t, stall.Close())
	})
}

func TestRequestsDuringBulkTransfer(t *testing.T) {
	forEachTransport(t, nil, func(m *Mux) {
		m.Handle("up", Upload, sinkHandler(nil))
		m.HandleRequest("ping", func(ctx context.Context, s *Session, data []byte) ([]byte, error) {
			return append([]byte("pong:"), data...), nil
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		ctx := context.Background()
		bulkDone := make(chan error, 1)
		stop := make(chan struct{})
		go func() {
			st, err := sess.Open(ctx, OpenOptions{Route: "up", Kind: Upload})
			if err != nil {
				bulkDone <- err
				return
			}
			chunk := randomData(256<<10, 3)
			for {
				select {
				case <-stop:
					bulkDone <- st.Close()
					return
				default:
				}
				if _, err := st.Write(chunk); err != nil {
					bulkDone <- err
					return
				}
			}
		}()
		for i := range 200 {
			msg := []byte(fmt.Sprint(i))
			out, err := sess.Request(ctx, "ping", msg)
			require.NoError(t, err)
			require.Equal(t, "pong:"+string(msg), string(out))
		}
		close(stop)
		require.NoError(t, <-bulkDone)
	})
}

func TestEventsInOrder(t *testing.T) {
	got := make(chan string, 1000)
	forEachTransport(t, nil, func(m *Mux) {
		m.HandleEvent("log", func(s *Session, data []byte) { got <- string(data) })
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		for i := range 500 {
			require.NoError(t, sess.Emit("log", []byte(fmt.Sprint(i))))
		}
		for i := range 500 {
			select {
			case v := <-got:
				require.Equal(t, fmt.Sprint(i), v)
			case <-time.After(10 * time.Second):
				t.Fatalf("event %d never arrived", i)
			}
		}
	})
}

func TestRequestErrors(t *testing.T) {
	var block chan struct{}
	forEachTransport(t, &ServerConfig{Session: &Config{MaxConcurrentRequests: 1}}, func(m *Mux) {
		m.HandleRequest("fail", func(ctx context.Context, s *Session, data []byte) ([]byte, error) {
			return nil, WithCode(CodeNotFound, errors.New("no such thing"))
		})
		m.HandleRequest("slow", func(ctx context.Context, s *Session, data []byte) ([]byte, error) {
			<-block // ignores its deadline: holds the only slot until the test ends
			return nil, nil
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		block = make(chan struct{})
		t.Cleanup(func() { close(block) }) // runs before the session and server close
		ctx := context.Background()
		_, err := sess.Request(ctx, "fail", nil)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = sess.Request(ctx, "missing", nil)
		require.ErrorIs(t, err, ErrNoRoute)

		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = sess.Request(tctx, "slow", nil) // occupies the only slot
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		// While the slow handler holds the slot, a second request is refused as busy.
		_, err = sess.Request(ctx, "slow", nil)
		require.ErrorIs(t, err, ErrBusy)
		big := make([]byte, 1<<20)
		_, err = sess.Request(ctx, "fail", big)
		require.ErrorIs(t, err, ErrMessageTooLarge)
	})
}

// A client that waits for each reply before its next request never sees BUSY,
// even with a single request slot: the slot is free before the reply leaves.
func TestSequentialRequestsNeverBusy(t *testing.T) {
	forEachTransport(t, &ServerConfig{Session: &Config{MaxConcurrentRequests: 1}}, func(m *Mux) {
		m.HandleRequest("echo", func(ctx context.Context, s *Session, data []byte) ([]byte, error) {
			return data, nil
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		for i := range 300 {
			out, err := sess.Request(context.Background(), "echo", []byte(fmt.Sprint(i)))
			require.NoError(t, err, "request %d", i)
			require.Equal(t, fmt.Sprint(i), string(out))
		}
	})
}

func TestOpenErrors(t *testing.T) {
	forEachTransport(t, &ServerConfig{Session: &Config{MaxStreams: 4}}, func(m *Mux) {
		m.Handle("hold", Bidi, func(ctx context.Context, st *Stream) error {
			if err := st.Accept(nil); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		})
		m.Handle("notfound", Download, func(ctx context.Context, st *Stream) error {
			return WithCode(CodeNotFound, errors.New("no file x"))
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		ctx := context.Background()
		_, err := sess.Open(ctx, OpenOptions{Route: "nope", Kind: Upload})
		require.ErrorIs(t, err, ErrNoRoute)
		var se *StreamError
		require.ErrorAs(t, err, &se)
		require.True(t, se.Remote)

		// A handler that fails before accepting: the open fails with its code.
		_, err = sess.Open(ctx, OpenOptions{Route: "notfound", Kind: Download})
		require.ErrorIs(t, err, ErrNotFound)

		var held []*Stream
		for range 4 {
			st, err := sess.Open(ctx, OpenOptions{Route: "hold", Kind: Bidi})
			require.NoError(t, err)
			held = append(held, st)
		}
		_, err = sess.Open(ctx, OpenOptions{Route: "hold", Kind: Bidi})
		require.ErrorIs(t, err, ErrStreamLimit)
		// Freeing one slot lets the next open through.
		held[0].Cancel(CodeCancelled, "done")
		require.Eventually(t, func() bool {
			st, err := sess.Open(ctx, OpenOptions{Route: "hold", Kind: Bidi})
			if err != nil {
				return false
			}
			held = append(held, st)
			return true
		}, 5*time.Second, 10*time.Millisecond)

		_, err = sess.Open(ctx, OpenOptions{Route: "", Kind: Upload})
		require.ErrorIs(t, err, ErrInvalidArgument)
		_, err = sess.Open(ctx, OpenOptions{Route: "x", Kind: 9})
		require.ErrorIs(t, err, ErrInvalidArgument)
	})
}

func TestPauseResumeCancel(t *testing.T) {
	serverSide := make(chan *Stream, 1)
	forEachTransport(t, nil, func(m *Mux) {
		m.Handle("down", Download, func(ctx context.Context, st *Stream) error {
			serverSide <- st
			for {
				if _, err := st.Write(make([]byte, 32<<10)); err != nil {
					return err
				}
			}
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		st, err := sess.Open(context.Background(), OpenOptions{Route: "down", Kind: Download})
		require.NoError(t, err)
		srv := <-serverSide
		buf := make([]byte, 64<<10)
		_, err = io.ReadFull(st, buf)
		require.NoError(t, err)

		require.NoError(t, st.Pause())
		require.Equal(t, StatePaused, st.State())
		require.Eventually(t, func() bool { return srv.State() == StatePaused }, 5*time.Second, 5*time.Millisecond)
		// While paused the server sends nothing: drain what was in flight, then
		// the byte count stays put.
		sent := srv.Progress().Sent
		require.Never(t, func() bool { return srv.Progress().Sent != sent }, 100*time.Millisecond, 10*time.Millisecond)

		require.NoError(t, st.Resume())
		require.Equal(t, StateActive, st.State())
		_, err = io.ReadFull(st, buf)
		require.NoError(t, err)

		st.Cancel(CodeCancelled, "user abort")
		require.Equal(t, StateCancelled, st.State())
		_, err = st.Read(buf)
		require.ErrorIs(t, err, ErrCancelled)
		<-srv.Done()
		require.Equal(t, StateCancelled, srv.State())
		require.ErrorIs(t, srv.Err(), ErrCancelled)
	})
}

func TestGoAway(t *testing.T) {
	forEachTransport(t, nil, func(m *Mux) {
		m.Handle("up", Upload, sinkHandler(nil))
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		ctx := context.Background()
		st, err := sess.Open(ctx, OpenOptions{Route: "up", Kind: Upload})
		require.NoError(t, err)

		shut := make(chan error, 1)
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			shut <- env.server.Shutdown(sctx)
		}()
		require.Eventually(t, func() bool {
			st2, err := sess.Open(ctx, OpenOptions{Route: "up", Kind: Upload})
			if err == nil { // opened before GOAWAY arrived: finish it
				require.NoError(t, st2.Close())
			}
			return errors.Is(err, ErrGoAway)
		}, 5*time.Second, 5*time.Millisecond)
		// The stream that was open before GOAWAY still completes.
		_, err = st.Write(patternData(1<<20, 9))
		require.NoError(t, err)
		require.NoError(t, st.Close())
		require.NoError(t, <-shut)
		<-sess.Done()
		require.ErrorIs(t, sess.Err(), ErrGoAway)
	})
}

func TestNoGoroutineLeakAfter10kStreams(t *testing.T) {
	forEachTransport(t, nil, func(m *Mux) {
		m.Handle("echo", Bidi, func(ctx context.Context, st *Stream) error {
			_, err := io.Copy(st, st)
			return err
		})
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		ctx := context.Background()
		base := 0
		n := 10000
		if testing.Short() {
			n = 1000
		}
		for i := range n {
			st, err := sess.Open(ctx, OpenOptions{Route: "echo", Kind: Bidi})
			require.NoError(t, err)
			_, err = st.Write([]byte("x"))
			require.NoError(t, err)
			require.NoError(t, st.CloseWrite())
			b, err := io.ReadAll(st)
			require.NoError(t, err)
			require.Equal(t, "x", string(b))
			require.NoError(t, st.Close())
			if i == 0 {
				base = numGoroutines()
			}
		}
		waitGoroutines(t, base)
		require.Eventually(t, func() bool { return sess.NumStreams() == 0 }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestPrefixRoutes(t *testing.T) {
	got := make(chan string, 4)
	forEachTransport(t, nil, func(m *Mux) {
		serve := func(name string) StreamHandler {
			return func(ctx context.Context, st *Stream) error {
				got <- name + ":" + st.Route()
				return WithCode(CodeNotFound, errors.New("done"))
			}
		}
		m.Handle("topic/", Download, serve("prefix"))
		m.Handle("topic/special", Download, serve("exact"))
		m.Handle("topic/a/", Download, serve("longer"))
	}, func(t *testing.T, env *testEnv) {
		sess := env.mustDial(nil)
		for _, route := range []string{"topic/logs", "topic/special", "topic/a/b"} {
			_, err := sess.Open(context.Background(), OpenOptions{Route: route, Kind: Download})
			require.ErrorIs(t, err, ErrNotFound)
		}
		require.Equal(t, "prefix:topic/logs", <-got)
		require.Equal(t, "exact:topic/special", <-got)
		require.Equal(t, "longer:topic/a/b", <-got)
		_, err := sess.Open(context.Background(), OpenOptions{Route: "other", Kind: Download})
		require.ErrorIs(t, err, ErrNoRoute)
	})
}
