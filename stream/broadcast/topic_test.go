package broadcast_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

// newTopic returns a topic of a fresh Memory broker, closed at the end.
func newTopic(t *testing.T, cfg *broadcast.TopicConfig) (*broadcast.Memory, *broadcast.Topic) {
	t.Helper()
	b, err := broadcast.NewMemory(nil)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	topic, err := b.CreateTopic("logs", cfg)
	require.NoError(t, err)
	return b, topic
}

// lineLen is the length of every line(i).
const lineLen = 11

func line(i int) []byte { return fmt.Appendf(nil, "line %06d", i) }

// next returns the feed's next batch (with a deadline so a bug fails, not hangs).
func next(t *testing.T, f broadcast.Feed) []broadcast.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	recs, err := f.Next(ctx, nil)
	require.NoError(t, err)
	return recs
}

// drain takes batches until Next would block.
func drainAvailable(t *testing.T, f broadcast.Feed) []broadcast.Record {
	t.Helper()
	var out []broadcast.Record
	for {
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // Next returns what is available, or ctx.Err() if nothing
		recs, err := f.Next(ctx, nil)
		out = append(out, recs...)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			return out
		}
	}
}

func dataSeqs(recs []broadcast.Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		if r.Type == broadcast.TypeData {
			s = append(s, r.Seq)
		}
	}
	return s
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestTopicLiveAndLast(t *testing.T) {
	_, topic := newTopic(t, nil)
	for i := 1; i <= 10; i++ {
		pos, err := topic.Publish(line(i))
		require.NoError(t, err)
		require.Equal(t, uint64(i), pos.Seq)
	}
	epoch := topic.Next().Epoch

	live, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer live.Close()
	last3, err := topic.Subscribe(t.Context(), broadcast.Start{Last: 3})
	require.NoError(t, err)
	defer last3.Close()
	all, err := topic.Subscribe(t.Context(), broadcast.Start{Oldest: true})
	require.NoError(t, err)
	defer all.Close()

	_, err = topic.Publish(line(11))
	require.NoError(t, err)

	recs := drainAvailable(t, live)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: epoch}, recs[0])
	require.Equal(t, []uint64{11}, dataSeqs(recs))
	recs = drainAvailable(t, last3)
	require.Equal(t, broadcast.TypeEpoch, recs[0].Type)
	require.Equal(t, []uint64{8, 9, 10, 11}, dataSeqs(recs))
	require.Equal(t, "line 000008", string(recs[1].Data))
	require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 8}, recs[1].Position())
	require.Equal(t, seqRange(1, 11), dataSeqs(drainAvailable(t, all)))
}

func TestPublishNeverBlocksOnStalledFeed(t *testing.T) {
	// A feed that is never read: the publisher completes every publish, and
	// the feed, when it finally reads, learns exactly what it lost.
	_, topic := newTopic(t, &broadcast.TopicConfig{QueueBytes: 1000, ReplayBytes: 4000, MaxRecord: 100})
	stalled, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer stalled.Close()
	const n = 20000
	for i := 1; i <= n; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	require.Equal(t, uint64(n), topic.Stats().Published)

	recs := drainAvailable(t, stalled)
	require.Equal(t, broadcast.TypeEpoch, recs[0].Type)
	gap := recs[1]
	require.Equal(t, broadcast.TypeGap, gap.Type)
	// 1000 bytes of queue hold 41 records of 11+13 encoded bytes.
	kept := uint64(1000 / (lineLen + broadcast.DataOverhead))
	require.Equal(t, uint64(41), kept)
	require.Equal(t, uint64(n)-kept, gap.Records)
	require.Equal(t, (uint64(n)-kept)*lineLen, gap.Bytes)
	require.Equal(t, seqRange(n-kept+1, n), dataSeqs(recs[2:]))
	require.Equal(t, uint64(1), topic.Stats().Gaps)
}

func TestDropOldestGapExactCounts(t *testing.T) {
	// Records of different sizes: the gap counts records and their data bytes.
	_, topic := newTopic(t, &broadcast.TopicConfig{QueueBytes: 100, MaxRecord: 50})
	f, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer f.Close()
	sizes := []int{5, 40, 7, 30, 3, 20, 10, 1} // encoded: 18 53 20 43 16 33 23 14
	for _, n := range sizes {
		_, err := topic.Publish(make([]byte, n))
		require.NoError(t, err)
	}
	// The newest records within 100 encoded bytes: 14+23+33+16 = 86 (+43 > 100).
	recs := drainAvailable(t, f)
	require.Equal(t, broadcast.TypeEpoch, recs[0].Type)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeGap, Records: 4, Bytes: 5 + 40 + 7 + 30}, recs[1])
	require.Equal(t, []uint64{5, 6, 7, 8}, dataSeqs(recs))

	// Caught up: the next records come without a gap.
	_, err = topic.Publish([]byte("after"))
	require.NoError(t, err)
	recs = drainAvailable(t, f)
	require.Len(t, recs, 1)
	require.Equal(t, uint64(9), recs[0].Seq)
}

func TestDisconnectPolicy(t *testing.T) {
	_, topic := newTopic(t, &broadcast.TopicConfig{QueueBytes: 100, MaxRecord: 50, Policy: broadcast.Disconnect})
	slow, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer slow.Close()
	fast, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer fast.Close()
	require.Equal(t, broadcast.Disconnect, slow.Info().Policy)

	var got []uint64
	for i := 1; i <= 20; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
		got = append(got, dataSeqs(drainAvailable(t, fast))...)
	}
	require.Equal(t, seqRange(1, 20), got, "the reading subscriber is untouched")
	// 100 bytes hold 4 records of 24: the 5th publish cut the stalled one off.
	<-slow.Context().Done()
	require.ErrorIs(t, context.Cause(slow.Context()), stream.ErrSlowConsumer)
	_, err = slow.Next(t.Context(), nil)
	require.ErrorIs(t, err, stream.ErrSlowConsumer)
	st := topic.Stats()
	require.Equal(t, uint64(1), st.Disconnects)
	require.Equal(t, 1, st.Subscribers)
}

func TestReplayRingBounds(t *testing.T) {
	_, topic := newTopic(t, &broadcast.TopicConfig{ReplayRecords: 5, MaxRecord: 64})
	for i := 1; i <= 12; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	st := topic.Stats()
	require.Equal(t, uint64(5), st.Retained)
	require.Equal(t, uint64(5*(lineLen+broadcast.DataOverhead)), st.RetainedBytes)
	f, err := topic.Subscribe(t.Context(), broadcast.Start{Last: 100})
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, seqRange(8, 12), dataSeqs(drainAvailable(t, f)))

	// By bytes: 100 bytes hold 4 records of 24.
	_, topic2 := newTopic(t, &broadcast.TopicConfig{ReplayBytes: 100, QueueBytes: 100, MaxRecord: 50})
	for i := 1; i <= 12; i++ {
		_, err := topic2.Publish(line(i))
		require.NoError(t, err)
	}
	f2, err := topic2.Subscribe(t.Context(), broadcast.Start{Oldest: true})
	require.NoError(t, err)
	defer f2.Close()
	require.Equal(t, seqRange(9, 12), dataSeqs(drainAvailable(t, f2)))
}

func TestReplayFallingOffTheRing(t *testing.T) {
	// A subscriber replaying the ring while new records evict its next one
	// gets a gap with the exact count (drop-oldest).
	_, topic := newTopic(t, &broadcast.TopicConfig{ReplayRecords: 10, MaxRecord: 64})
	for i := 1; i <= 10; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	f, err := topic.Subscribe(t.Context(), broadcast.Start{Oldest: true})
	require.NoError(t, err)
	defer f.Close()
	for i := 11; i <= 16; i++ { // evicts 1..6
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	recs := drainAvailable(t, f)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeGap, Records: 6, Bytes: 6 * lineLen}, recs[1])
	require.Equal(t, seqRange(7, 16), dataSeqs(recs))
}

func TestResumeFromPosition(t *testing.T) {
	_, topic := newTopic(t, &broadcast.TopicConfig{ReplayRecords: 10, MaxRecord: 64})
	for i := 1; i <= 8; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	epoch := topic.Next().Epoch

	// In the ring: exactly the records from the position on, no duplicates.
	f, err := topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: epoch, Seq: 6}})
	require.NoError(t, err)
	recs := drainAvailable(t, f)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: epoch, Previous: epoch}, recs[0])
	require.False(t, recs[0].Changed)
	require.Equal(t, []uint64{6, 7, 8}, dataSeqs(recs))
	f.Close()

	// Caught up exactly: nothing to replay, then live.
	f, err = topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: epoch, Seq: 9}})
	require.NoError(t, err)
	_, err = topic.Publish(line(9))
	require.NoError(t, err)
	require.Equal(t, []uint64{9}, dataSeqs(drainAvailable(t, f)))
	f.Close()

	// Ahead of the topic: refused.
	_, err = topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: epoch, Seq: 11}})
	require.ErrorIs(t, err, stream.ErrInvalidArgument)

	// Evicted: a gap of the records it cannot have (bytes unknown unless the
	// position is the start of the epoch).
	for i := 10; i <= 20; i++ { // the ring now holds 11..20
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	f, err = topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: epoch, Seq: 4}})
	require.NoError(t, err)
	recs = drainAvailable(t, f)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeGap, Records: 7, Bytes: broadcast.UnknownBytes}, recs[1])
	require.Equal(t, seqRange(11, 20), dataSeqs(recs))
	f.Close()
	f, err = topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: epoch, Seq: 1}})
	require.NoError(t, err)
	recs = drainAvailable(t, f)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeGap, Records: 10, Bytes: 10 * lineLen}, recs[1])
	f.Close()
}

func TestEpochChange(t *testing.T) {
	_, topic := newTopic(t, nil)
	for i := 1; i <= 3; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	old := topic.Next().Epoch
	live, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer live.Close()
	drainAvailable(t, live)

	// The source restarts: a subscriber that is caught up hears of it at once,
	epoch, err := topic.Restart()
	require.NoError(t, err)
	require.Greater(t, epoch, old)
	recs := drainAvailable(t, live)
	require.Equal(t, []broadcast.Record{{Type: broadcast.TypeEpoch, Epoch: epoch, Previous: old, Changed: true}}, recs)
	// and the new epoch counts from 1.
	pos, err := topic.Publish([]byte("new 1"))
	require.NoError(t, err)
	require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 1}, pos)
	require.Equal(t, []uint64{1}, dataSeqs(drainAvailable(t, live)))

	// A subscriber resuming in the old epoch gets the rest of it, then the change.
	f, err := topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: old, Seq: 3}})
	require.NoError(t, err)
	recs = drainAvailable(t, f)
	require.Len(t, recs, 4)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: old, Previous: old}, recs[0])
	require.Equal(t, broadcast.Position{Epoch: old, Seq: 3}, recs[1].Position())
	require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: epoch, Previous: old, Changed: true}, recs[2])
	require.Equal(t, broadcast.Position{Epoch: epoch, Seq: 1}, recs[3].Position())
	f.Close()

	// A position in an epoch the topic never had (another server's): the
	// change is announced and the subscriber starts over.
	f, err = topic.Subscribe(t.Context(), broadcast.Start{From: &broadcast.Position{Epoch: 12345, Seq: 99}})
	require.NoError(t, err)
	recs = drainAvailable(t, f)
	require.Equal(t, broadcast.Record{Type: broadcast.TypeEpoch, Epoch: old, Previous: 12345, Changed: true}, recs[0])
	require.Equal(t, []uint64{1, 2, 3, 1}, dataSeqs(recs))
	f.Close()
}

func TestTopicCloseDrainsThenEOF(t *testing.T) {
	_, topic := newTopic(t, nil)
	f, err := topic.Subscribe(t.Context(), broadcast.Start{})
	require.NoError(t, err)
	defer f.Close()
	_, err = topic.Publish(line(1))
	require.NoError(t, err)
	require.NoError(t, topic.Close())
	_, err = topic.Publish(line(2))
	require.ErrorIs(t, err, broadcast.ErrTopicClosed)
	_, err = topic.Subscribe(t.Context(), broadcast.Start{})
	require.ErrorIs(t, err, stream.ErrNotFound)

	recs := next(t, f)
	require.Equal(t, []uint64{1}, dataSeqs(recs))
	_, err = f.Next(t.Context(), nil)
	require.ErrorIs(t, err, io.EOF)
}

func TestBrokerErrors(t *testing.T) {
	b, err := broadcast.NewMemory(nil)
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Publish("nope", []byte("x"))
	require.ErrorIs(t, err, broadcast.ErrNoTopic)
	require.ErrorIs(t, err, stream.ErrNotFound)
	_, err = b.Subscribe(t.Context(), "nope", broadcast.Start{})
	require.ErrorIs(t, err, stream.ErrNotFound)
	_, err = b.CreateTopic("bad name", nil)
	require.ErrorIs(t, err, stream.ErrInvalidArgument)
	topic, err := b.CreateTopic("a", &broadcast.TopicConfig{MaxRecord: 10})
	require.NoError(t, err)
	_, err = b.CreateTopic("a", nil)
	require.ErrorIs(t, err, broadcast.ErrTopicExists)
	_, err = topic.Publish(make([]byte, 11))
	require.ErrorIs(t, err, broadcast.ErrRecordTooLarge)
	for _, s := range []broadcast.Start{
		{Last: -1}, {Last: 1, Oldest: true}, {From: &broadcast.Position{}}, {From: &broadcast.Position{Epoch: 1, Seq: 1 << 60}},
	} {
		_, err = topic.Subscribe(t.Context(), s)
		require.ErrorIs(t, err, stream.ErrInvalidArgument, "%+v", s)
	}
	for _, c := range []broadcast.TopicConfig{
		{QueueBytes: 10}, {MaxRecord: broadcast.MaxRecordLimit + 1}, {Policy: 7}, {ReplayRecords: -1},
	} {
		require.Error(t, c.Validate(), "%+v", c)
	}
	require.Equal(t, []string{"a"}, b.Topics())
}

func TestFeedEndsWithContext(t *testing.T) {
	_, topic := newTopic(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	f, err := topic.Subscribe(ctx, broadcast.Start{})
	require.NoError(t, err)
	defer f.Close()
	next(t, f) // the EPOCH record
	done := make(chan error, 1)
	go func() {
		_, err := f.Next(t.Context(), nil)
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestConcurrentReadersOfATinyLog(t *testing.T) {
	// Readers race the publisher over a log that evicts constantly: each sees
	// its records in order, and what it misses is exactly what its gap
	// records report.
	_, topic := newTopic(t, &broadcast.TopicConfig{ReplayRecords: 50, QueueBytes: 600, MaxRecord: 64})
	const n, readers = 20000, 4
	feeds := make([]broadcast.Feed, readers)
	for i := range feeds {
		f, err := topic.Subscribe(t.Context(), broadcast.Start{})
		require.NoError(t, err)
		feeds[i] = f
	}
	errs := make(chan error, readers)
	for _, f := range feeds {
		go func() {
			defer f.Close()
			var last, got, lost uint64
			for {
				recs, err := f.Next(t.Context(), nil)
				for _, r := range recs {
					switch r.Type {
					case broadcast.TypeData:
						if r.Seq <= last {
							errs <- fmt.Errorf("seq %d after %d", r.Seq, last)
							return
						}
						if string(r.Data) != string(line(int(r.Seq))) {
							errs <- fmt.Errorf("seq %d carries %q", r.Seq, r.Data)
							return
						}
						last = r.Seq
						got++
					case broadcast.TypeGap:
						lost += r.Records
						if r.Bytes != r.Records*lineLen {
							errs <- fmt.Errorf("gap of %d records reports %d bytes", r.Records, r.Bytes)
							return
						}
					}
				}
				if err == io.EOF {
					if got+lost != n {
						err = fmt.Errorf("got %d + lost %d != %d", got, lost, n)
					} else {
						err = nil
					}
					errs <- err
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 1; i <= n; i++ {
		_, err := topic.Publish(line(i))
		require.NoError(t, err)
	}
	require.NoError(t, topic.Close())
	for range readers {
		require.NoError(t, <-errs)
	}
}
