package broadcast_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
	"github.com/streamd/streamd/transport"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is a Memory broker served by a stream.Server, and a way to dial it.
type env struct {
	broker *broadcast.Memory
	srv    *stream.Server
	dial   func(t *testing.T) *stream.Session
}

// transports builds an env over each transport.
var transports = []struct {
	name  string
	build func(t *testing.T, b *broadcast.Memory) *env
}{
	{"pipe", pipeEnv},
	{"websocket", websocketEnv},
}

func newServer(t *testing.T, b *broadcast.Memory) *stream.Server {
	mux := stream.NewMux()
	b.Register(mux)
	srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger()})
	require.NoError(t, err)
	return srv
}

func pipeEnv(t *testing.T, b *broadcast.Memory) *env {
	srv := newServer(t, b)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		shutdown(srv)
		wg.Wait()
	})
	return &env{broker: b, srv: srv, dial: func(t *testing.T) *stream.Session {
		c, s := transport.Pipe(0)
		wg.Go(func() { srv.ServeConn(s, "") }) //nolint:errcheck // the test observes the client side
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sess, err := stream.Client(ctx, c, &stream.Config{Logger: quietLogger()}, "")
		require.NoError(t, err)
		t.Cleanup(func() { sess.Close() })
		return sess
	}}
}

func websocketEnv(t *testing.T, b *broadcast.Memory) *env {
	srv := newServer(t, b)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		shutdown(srv)
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	return &env{broker: b, srv: srv, dial: func(t *testing.T) *stream.Session {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sess, err := stream.Dial(ctx, url, &stream.DialOptions{Config: &stream.Config{Logger: quietLogger()}})
		require.NoError(t, err)
		t.Cleanup(func() { sess.Close() })
		return sess
	}}
}

func shutdown(srv *stream.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) //nolint:errcheck // test teardown
}

// forEachTransport runs fn over every transport with a fresh broker.
func forEachTransport(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			b, err := broadcast.NewMemory(nil)
			require.NoError(t, err)
			t.Cleanup(func() { b.Close() })
			fn(t, tc.build(t, b))
		})
	}
}

func subscribe(t *testing.T, sess *stream.Session, topic string, opts *broadcast.SubscribeOptions) *broadcast.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sub, err := broadcast.Subscribe(ctx, sess, topic, opts)
	require.NoError(t, err)
	t.Cleanup(func() { sub.Close() })
	return sub
}

// nextRecord reads one record with a deadline; Data is copied.
func nextRecord(t *testing.T, sub *broadcast.Subscription) (broadcast.Record, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r, err := sub.Next(ctx)
	r.Data = append([]byte(nil), r.Data...)
	return r, err
}

// readAll reads records until the subscription ends and returns them with the
// final error (nil for io.EOF).
func readAll(t *testing.T, sub *broadcast.Subscription) ([]broadcast.Record, error) {
	t.Helper()
	var out []broadcast.Record
	for {
		r, err := nextRecord(t, sub)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func TestSubscribeOverSession(t *testing.T) {
	forEachTransport(t, func(t *testing.T, e *env) {
		topic, err := e.broker.CreateTopic("logs", nil)
		require.NoError(t, err)
		for i := 1; i <= 5; i++ {
			_, err := topic.Publish(line(i))
			require.NoError(t, err)
		}
		sess := e.dial(t)
		sub := subscribe(t, sess, "logs", &broadcast.SubscribeOptions{Last: 2})
		require.Equal(t, broadcast.DefaultMaxRecord, sub.Info().MaxRecord)
		require.Equal(t, broadcast.DropOldest, sub.Info().Policy)

		r, err := nextRecord(t, sub)
		require.NoError(t, err)
		epoch := topic.Next().Epoch
		require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: epoch}, r)
		for i := 4; i <= 5; i++ {
			r, err := nextRecord(t, sub)
			require.NoError(t, err)
			require.Equal(t, string(line(i)), string(r.Data))
			require.Equal(t, broadcast.Position{Epoch: epoch, Seq: uint64(i)}, r.Position())
		}
		// Live records, through an io.Writer that splits lines.
		w := broadcast.NewLineWriter(topic, 0)
		_, err = io.WriteString(w, "six\r\nseven\nei")
		require.NoError(t, err)
		_, err = io.WriteString(w, "ght\n")
		require.NoError(t, err)
		for _, want := range []string{"six", "seven", "eight"} {
			r, err := nextRecord(t, sub)
			require.NoError(t, err)
			require.Equal(t, want, string(r.Data))
		}
		require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 9}, sub.Position())

		// Closing the topic ends the subscription normally.
		require.NoError(t, topic.Close())
		recs, err := readAll(t, sub)
		require.NoError(t, err)
		require.Empty(t, recs)
		<-sub.Stream().Done()
		require.Equal(t, stream.StateCompleted, sub.Stream().State())
	})
}

func TestSubscribeErrors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, e *env) {
		_, err := e.broker.CreateTopic("logs", nil)
		require.NoError(t, err)
		sess := e.dial(t)
		ctx := t.Context()
		_, err = broadcast.Subscribe(ctx, sess, "missing", nil)
		require.ErrorIs(t, err, stream.ErrNotFound)
		var se *stream.StreamError
		require.ErrorAs(t, err, &se)
		require.Equal(t, stream.CodeNotFound, se.Code)
		require.True(t, se.Remote)

		// The server checks the metadata itself.
		for _, meta := range []string{`{"topic":"logs","last":-1}`, `{"topic":"logs","last":2,"oldest":true}`,
			`{"topic":"logs","from":{"epoch":1,"seq":0}}`, `{"topic":"bad name"}`, `{}`, `{"topic":"logs","last":"x"}`} {
			_, err := sess.Open(ctx, stream.OpenOptions{Route: broadcast.Route, Kind: stream.Broadcast, Metadata: rawJSON(meta)})
			require.ErrorIs(t, err, stream.ErrInvalidArgument, meta)
		}
		pos := e.broker.Topic("logs").Next()
		pos.Seq += 5
		_, err = broadcast.Subscribe(ctx, sess, "logs", &broadcast.SubscribeOptions{From: &pos})
		require.ErrorIs(t, err, stream.ErrInvalidArgument, "a position ahead of the topic")

		// The per-topic route serves the same records; an unregistered one is
		// refused by the session's router.
		st, err := sess.Open(ctx, stream.OpenOptions{Route: "topic/logs", Kind: stream.Broadcast, Metadata: map[string]any{"oldest": true}})
		require.NoError(t, err)
		buf := make([]byte, 64)
		n, err := st.Read(buf)
		require.NoError(t, err)
		r, _, err := broadcast.ParseRecord(buf[:n], 1024)
		require.NoError(t, err)
		require.Equal(t, broadcast.TypeEpoch, r.Type)
		st.Close()
		_, err = sess.Open(ctx, stream.OpenOptions{Route: "topic/missing", Kind: stream.Broadcast})
		require.ErrorIs(t, err, stream.ErrNoRoute)

		// A topic created after Register gets its route too.
		_, err = e.broker.CreateTopic("later", nil)
		require.NoError(t, err)
		st, err = sess.Open(ctx, stream.OpenOptions{Route: "topic/later", Kind: stream.Broadcast})
		require.NoError(t, err)
		st.Close()
	})
}

// waitReceived waits until sub (read by another goroutine) has received the
// DATA record with sequence seq.
func waitReceived(t *testing.T, sub *broadcast.Subscription, seq uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return sub.Position().Seq > seq }, 20*time.Second, time.Millisecond)
}

// rawJSON is metadata sent exactly as written.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func TestStalledSubscriberDropOldest(t *testing.T) {
	// The publisher completes every publish while one subscriber never reads;
	// another subscriber gets every record; the stalled one, once it reads,
	// gets gap records whose counts add up exactly.
	forEachTransport(t, func(t *testing.T, e *env) {
		topic, err := e.broker.CreateTopic("logs", &broadcast.TopicConfig{QueueBytes: 16 << 10, ReplayBytes: 16 << 20, ReplayRecords: 200000})
		require.NoError(t, err)
		stalled := subscribe(t, e.dial(t), "logs", nil)
		reader := subscribe(t, e.dial(t), "logs", nil)
		// 8000 × 113 encoded bytes = 904 KB: beyond what a stalled subscriber
		// holds (256 KiB window + 256 KiB send buffer + 64 KiB batch + 16 KiB queue).
		const n = 8000
		payload := func(i int) []byte { return append(line(i), strings.Repeat(".", 100-lineLen)...) }

		// The publisher lets the reader catch up every 100 records (so that
		// it, unlike the stalled one, never falls 16 KiB behind) but never
		// waits for the stalled one.
		got := make(chan []uint64, 1)
		go func() {
			recs, err := readAll(t, reader)
			if err != nil {
				t.Error(err)
			}
			got <- dataSeqs(recs)
		}()
		for i := 1; i <= n; i++ {
			_, err := topic.Publish(payload(i))
			require.NoError(t, err)
			if i%100 == 0 {
				waitReceived(t, reader, uint64(i))
			}
		}
		require.NoError(t, topic.Close())
		require.Equal(t, seqRange(1, n), <-got)

		recs, err := readAll(t, stalled)
		require.NoError(t, err)
		var last uint64
		gaps, lost := 0, uint64(0)
		for i, r := range recs {
			switch r.Type {
			case broadcast.TypeGap:
				gaps++
				require.Less(t, i+1, len(recs))
				next := recs[i+1]
				require.Equal(t, broadcast.TypeData, next.Type)
				require.Equal(t, next.Seq-last-1, r.Records, "gap before seq %d", next.Seq)
				require.Equal(t, r.Records*100, r.Bytes)
				lost += r.Records
			case broadcast.TypeData:
				require.Greater(t, r.Seq, last)
				if i == 0 || recs[i-1].Type != broadcast.TypeGap {
					require.Equal(t, last+1, r.Seq, "records lost without a gap record")
				}
				require.Equal(t, string(payload(int(r.Seq))), string(r.Data))
				last = r.Seq
			}
		}
		require.Equal(t, uint64(n), last)
		require.GreaterOrEqual(t, gaps, 1)
		require.Equal(t, uint64(n), lost+uint64(len(dataSeqs(recs))))
	})
}

func TestStalledSubscriberDisconnected(t *testing.T) {
	forEachTransport(t, func(t *testing.T, e *env) {
		topic, err := e.broker.CreateTopic("logs", &broadcast.TopicConfig{QueueBytes: 64 << 10, Policy: broadcast.Disconnect})
		require.NoError(t, err)
		stalled := subscribe(t, e.dial(t), "logs", nil)
		require.Equal(t, broadcast.Disconnect, stalled.Info().Policy)
		payload := []byte(strings.Repeat("x", 100))
		for range 20000 {
			_, err := topic.Publish(payload)
			require.NoError(t, err)
		}
		require.Equal(t, uint64(1), topic.Stats().Disconnects)
		_, err = readAll(t, stalled)
		require.ErrorIs(t, err, stream.ErrSlowConsumer)
		var se *stream.StreamError
		require.ErrorAs(t, err, &se)
		require.Equal(t, stream.CodeSlowConsumer, se.Code)
		require.True(t, se.Remote)
		require.Equal(t, 0, topic.Stats().Subscribers)
	})
}

func TestResumeAcrossRestart(t *testing.T) {
	forEachTransport(t, func(t *testing.T, e *env) {
		topic, err := e.broker.CreateTopic("logs", nil)
		require.NoError(t, err)
		sess := e.dial(t)
		sub := subscribe(t, sess, "logs", nil)
		_, err = nextRecord(t, sub) // EPOCH
		require.NoError(t, err)
		for i := 1; i <= 3; i++ {
			_, err := topic.Publish(line(i))
			require.NoError(t, err)
			_, err = nextRecord(t, sub)
			require.NoError(t, err)
		}
		pos := sub.Position()
		require.Equal(t, uint64(4), pos.Seq)
		require.NoError(t, sub.Close())

		// Two more while away: a resume gets exactly those.
		for i := 4; i <= 5; i++ {
			_, err := topic.Publish(line(i))
			require.NoError(t, err)
		}
		sub = subscribe(t, sess, "logs", &broadcast.SubscribeOptions{From: &pos})
		r, err := nextRecord(t, sub)
		require.NoError(t, err)
		require.False(t, r.Changed)
		for i := 4; i <= 5; i++ {
			r, err := nextRecord(t, sub)
			require.NoError(t, err)
			require.Equal(t, uint64(i), r.Seq)
		}
		pos = sub.Position()
		require.NoError(t, sub.Close())

		// The source restarts: the resumed subscriber is told, not confused.
		epoch, err := topic.Restart()
		require.NoError(t, err)
		_, err = topic.Publish([]byte("fresh"))
		require.NoError(t, err)
		sub = subscribe(t, sess, "logs", &broadcast.SubscribeOptions{From: &pos})
		r, err = nextRecord(t, sub)
		require.NoError(t, err)
		require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: pos.Epoch, Previous: pos.Epoch}, r)
		r, err = nextRecord(t, sub)
		require.NoError(t, err)
		require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: epoch, Previous: pos.Epoch, Changed: true}, r)
		r, err = nextRecord(t, sub)
		require.NoError(t, err)
		require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 1}, r.Position())
		require.Equal(t, "fresh", string(r.Data))
		require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 2}, sub.Position())
	})
}

func TestSubscriptionRejectsBrokenRecords(t *testing.T) {
	// A server that breaks the record format: the subscription fails with a
	// typed error instead of delivering garbage.
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"malformed", []byte{0, 0, 0, 15, 2, 1, 2, 3}, broadcast.ErrMalformedRecord},
		{"too large", []byte{0, 0x10, 0, 0, 1}, broadcast.ErrRecordTooLarge},
		{"cut short", []byte{0, 0, 0, 20, 1, 0, 0}, broadcast.ErrMalformedRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := stream.NewMux()
			mux.Handle(broadcast.Route, stream.Broadcast, func(ctx context.Context, st *stream.Stream) error {
				if err := st.Accept(map[string]any{"topic": "x", "maxRecord": 1024}); err != nil {
					return err
				}
				ok := broadcast.Record{Type: broadcast.TypeData, Seq: 1, Data: []byte("fine")}
				if _, err := st.Write(broadcast.AppendRecord(nil, &ok)); err != nil {
					return err
				}
				_, err := st.Write(tc.body)
				return err
			})
			srv, err := stream.NewServer(mux, &stream.ServerConfig{Logger: quietLogger()})
			require.NoError(t, err)
			hs := httptest.NewServer(srv)
			defer func() {
				shutdown(srv)
				hs.Close()
			}()
			ctx := t.Context()
			sess, err := stream.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &stream.DialOptions{Config: &stream.Config{Logger: quietLogger()}})
			require.NoError(t, err)
			defer sess.Close()
			sub, err := broadcast.Subscribe(ctx, sess, "x", nil)
			require.NoError(t, err)
			defer sub.Close()
			r, err := nextRecord(t, sub)
			require.NoError(t, err)
			require.Equal(t, "fine", string(r.Data))
			_, err = nextRecord(t, sub)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
