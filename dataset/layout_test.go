package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		offered, supported []Layout
		want               Layout
		err                error
	}{
		{nil, nil, LayoutBatched, nil},
		{[]Layout{LayoutArrow, LayoutBatched}, nil, LayoutArrow, nil},
		{[]Layout{"parquet-v9", LayoutRows}, nil, LayoutRows, nil},
		{[]Layout{LayoutArrow}, []Layout{LayoutBatched, LayoutRows}, "", ErrNoCommonLayout},
		{[]Layout{"nope"}, nil, "", ErrNoCommonLayout},
		{nil, []Layout{LayoutArrow}, LayoutArrow, nil},
		{nil, []Layout{"x"}, "", ErrNoCommonLayout},
	} {
		got, err := Negotiate(tc.offered, tc.supported)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%v vs %v", tc.offered, tc.supported)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	l, err := ParseLayout("columnar")
	require.NoError(t, err)
	require.Equal(t, LayoutArrow, l)
	_, err = ParseLayout("csv")
	require.ErrorIs(t, err, ErrUnknownLayout)
}

// roundTrip sends src through a producer and a consumer, over framing on a
// byte buffer, and returns the received rows and the messages.
func roundTrip(t *testing.T, mem memory.Allocator, src Source, cfg ProducerConfig) (Header, []Row, [][]byte) {
	t.Helper()
	cfg.Allocator = mem
	p, err := NewProducer(src, cfg)
	require.NoError(t, err)
	defer p.Close()
	var wire bytes.Buffer
	var msgs [][]byte
	sent, err := Send(context.Background(), p, func(b []byte) error {
		msgs = append(msgs, b)
		return WriteMessage(&wire, b)
	})
	require.NoError(t, err)
	var sink collectSink
	defer sink.release()
	h, got, err := ReceiveFramed(context.Background(), &wire, 0, func(Header) (Sink, error) { return &sink, nil }, ConsumerConfig{Allocator: mem})
	require.NoError(t, err)
	require.Equal(t, sent, got)
	for _, r := range sink.recs {
		require.LessOrEqual(t, r.NumRows(), int64(h.BatchRows))
	}
	return h, recordsToRows(t, h.Schema, sink.recs), msgs
}

func TestLayoutsRoundTripEveryType(t *testing.T) {
	s := allTypesSchema(t)
	rows := allTypesRows(t)
	want := wantRows(t, s, rows)
	for _, layout := range Layouts() {
		for _, batchRows := range []int{1, 3, 100} {
			t.Run(fmt.Sprintf("%s/batch%d", layout, batchRows), func(t *testing.T) {
				mem := newChecked(t)
				rec, err := RowsToRecord(mem, s, rows)
				require.NoError(t, err)
				src, err := NewRecordSource(s, []arrow.RecordBatch{rec}, 0)
				rec.Release()
				require.NoError(t, err)
				h, got, msgs := roundTrip(t, mem, src, ProducerConfig{Layout: layout, BatchRows: batchRows})
				require.Equal(t, layout, h.Layout)
				require.Equal(t, int64(len(rows)), h.TotalRows)
				require.True(t, h.Schema.Equal(s))
				requireSameRows(t, s, want, got)
				wantMsgs := 1 + (len(rows)+batchRows-1)/batchRows
				switch layout {
				case LayoutArrow:
					wantMsgs++
				case LayoutRows:
					wantMsgs = 1 + len(rows)
				}
				require.Len(t, msgs, wantMsgs)
			})
		}
	}
}

func TestLayoutsEmptyDataset(t *testing.T) {
	s := allTypesSchema(t)
	for _, layout := range Layouts() {
		t.Run(string(layout), func(t *testing.T) {
			mem := newChecked(t)
			src, err := NewRecordSource(s, nil, 0)
			require.NoError(t, err)
			h, got, msgs := roundTrip(t, mem, src, ProducerConfig{Layout: layout})
			require.Empty(t, got)
			require.Equal(t, int64(0), h.TotalRows)
			if layout == LayoutArrow {
				require.Len(t, msgs, 2) // header + schema
			} else {
				require.Len(t, msgs, 1)
			}
		})
	}
}

func TestProducerResumeAndBounds(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "s", Type: TypeString})
	mem := newChecked(t)
	var recs []arrow.RecordBatch
	var rows []Row
	for r := 0; r < 3; r++ {
		var part []Row
		for i := 0; i < 1000; i++ {
			id := int64(r*1000 + i)
			part = append(part, Row{id, string(bytes.Repeat([]byte{'x'}, int(id%50)))})
		}
		rows = append(rows, part...)
		rec, err := RowsToRecord(mem, s, part)
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, layout := range Layouts() {
		src, err := NewRecordSource(s, recs, 1234)
		require.NoError(t, err)
		p, err := NewProducer(src, ProducerConfig{Layout: layout, BatchRows: 700, BatchBytes: 4096, Allocator: mem})
		require.NoError(t, err)
		require.Equal(t, int64(1234), p.Header().StartRow)
		next := int64(1234)
		for {
			m, err := p.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.Equal(t, next, m.FirstRow)
			next += int64(m.Rows)
			require.LessOrEqual(t, m.Rows, 700)
			if layout == LayoutBatched {
				require.LessOrEqual(t, len(m.Payload), 4096, "batch of %d rows", m.Rows)
			}
		}
		require.Equal(t, int64(3000), next)
		require.NoError(t, p.Close())
	}
	src, err := NewRecordSource(s, recs, 2990)
	require.NoError(t, err)
	_, got, _ := roundTrip(t, mem, src, ProducerConfig{})
	requireSameRows(t, s, rows[2990:], got)
}

func TestProducerCancel(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64})
	rec, err := RowsToRecord(nil, s, []Row{{int64(1)}, {int64(2)}})
	require.NoError(t, err)
	defer rec.Release()
	src, err := NewRecordSource(s, []arrow.RecordBatch{rec}, 0)
	require.NoError(t, err)
	p, err := NewProducer(src, ProducerConfig{BatchRows: 1})
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = p.Next(ctx)
	require.NoError(t, err)
	cancel()
	_, err = p.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
	_, err = p.Next(context.Background())
	require.ErrorIs(t, err, context.Canceled, "errors are sticky")
}

func TestProducerConfigValidate(t *testing.T) {
	require.NoError(t, ProducerConfig{}.Validate())
	require.ErrorIs(t, ProducerConfig{BatchRows: MaxBatchRows + 1}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, ProducerConfig{BatchBytes: 10}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, ProducerConfig{Layout: "csv"}.Validate(), ErrInvalidConfig)
}

func TestHeaderJSON(t *testing.T) {
	s := allTypesSchema(t)
	h := Header{Version: HeaderVersion, Schema: s, Layout: LayoutArrow, BatchRows: 10, BatchBytes: 4096, TotalRows: -1, StartRow: 20}
	b, err := h.MarshalHeader()
	require.NoError(t, err)
	got, err := ParseHeader(b)
	require.NoError(t, err)
	require.True(t, got.Schema.Equal(s))
	got.Schema = s
	require.Equal(t, h, got)
	for _, bad := range []string{
		`{`,
		`{"version":2,"schema":{"columns":[{"name":"a","type":"int64"}]},"layout":"rows","batch_rows":1,"batch_bytes":1,"total_rows":-1}`,
		`{"version":1,"layout":"rows","batch_rows":1,"batch_bytes":1,"total_rows":-1}`,
		`{"version":1,"schema":{"columns":[{"name":"a","type":"int128"}]},"layout":"rows","batch_rows":1,"batch_bytes":1,"total_rows":-1}`,
		`{"version":1,"schema":{"columns":[{"name":"a","type":"int64"}]},"layout":"csv","batch_rows":1,"batch_bytes":1,"total_rows":-1}`,
		`{"version":1,"schema":{"columns":[{"name":"a","type":"int64"}]},"layout":"rows","batch_rows":0,"batch_bytes":1,"total_rows":-1}`,
		`{"version":1,"schema":{"columns":[{"name":"a","type":"int64"}]},"layout":"rows","batch_rows":1,"batch_bytes":1,"total_rows":5,"start_row":6}`,
	} {
		_, err := ParseHeader([]byte(bad))
		require.Error(t, err, bad)
		require.True(t, errors.Is(err, ErrInvalidHeader) || errors.Is(err, ErrInvalidSchema), "%s: %v", bad, err)
	}
}

func TestFraming(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteMessage(&buf, []byte("hello")))
	require.NoError(t, WriteMessage(&buf, nil))
	require.NoError(t, WriteMessage(&buf, bytes.Repeat([]byte{7}, 100)))
	raw := bytes.Clone(buf.Bytes())

	m, err := ReadMessage(&buf, 0)
	require.NoError(t, err)
	require.Equal(t, "hello", string(m))
	m, err = ReadMessage(&buf, 0)
	require.NoError(t, err)
	require.Empty(t, m)
	_, err = ReadMessage(&buf, 99)
	var se *MessageSizeError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	require.Equal(t, int64(100), se.Size)
	require.Equal(t, int64(99), se.Limit)

	// Clean end, truncated prefix, truncated body.
	_, err = ReadMessage(bytes.NewReader(nil), 0)
	require.ErrorIs(t, err, io.EOF)
	_, err = ReadMessage(bytes.NewReader(raw[:2]), 0)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = ReadMessage(bytes.NewReader(raw[:7]), 0)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	// A huge declared length is refused before allocation.
	_, err = ReadMessage(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), 0)
	require.ErrorIs(t, err, ErrMessageTooLarge)
}

func TestReceiveDetectsShortStream(t *testing.T) {
	s := MustSchema(Column{Name: "x", Type: TypeFloat64})
	rec, err := RowsToRecord(nil, s, []Row{{1.0}, {2.0}, {math.Pi}})
	require.NoError(t, err)
	defer rec.Release()
	src, err := NewRecordSource(s, []arrow.RecordBatch{rec}, 0)
	require.NoError(t, err)
	p, err := NewProducer(src, ProducerConfig{BatchRows: 1})
	require.NoError(t, err)
	defer p.Close()
	var msgs [][]byte
	_, err = Send(context.Background(), p, func(b []byte) error { msgs = append(msgs, b); return nil })
	require.NoError(t, err)
	msgs = msgs[:len(msgs)-1] // lose the last batch
	i := 0
	next := func() ([]byte, error) {
		if i == len(msgs) {
			return nil, io.EOF
		}
		i++
		return msgs[i-1], nil
	}
	var sink collectSink
	defer sink.release()
	_, n, err := Receive(context.Background(), next, func(Header) (Sink, error) { return &sink, nil }, ConsumerConfig{})
	require.True(t, sink.closed, "Receive closes the sink, also on error")
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Equal(t, int64(2), n)
}
