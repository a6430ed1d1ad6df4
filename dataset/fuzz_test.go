package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// Fuzz targets: every decoder must turn any input into records or an
// *InputError, never a panic, and whatever decodes must survive a re-encode
// unchanged. Seeds come from the encoders. Run one with, for example:
//
//	go test ./dataset -run '^$' -fuzz FuzzBatchedDecode -fuzztime 30s

func fuzzRecord(t testing.TB, s *Schema, rows []Row) arrow.RecordBatch {
	rec, err := RowsToRecord(memory.DefaultAllocator, s, rows)
	require.NoError(t, err)
	return rec
}

// requireReencodes checks that a decoded record encodes and decodes back to
// the same rows in the batched layout.
func requireReencodes(t *testing.T, s *Schema, rec arrow.RecordBatch) {
	msg, err := encodeBatched(s, rec)
	require.NoError(t, err)
	back, err := decodeBatched(memory.DefaultAllocator, s, msg)
	require.NoError(t, err)
	defer back.Release()
	want, err := RecordRows(s, rec)
	require.NoError(t, err)
	got, err := RecordRows(s, back)
	require.NoError(t, err)
	requireSameRows(t, s, want, got)
}

// requireSameOutcome checks that decoding a message handed over (view,
// verr) gives what decoding a copy gave (rec, err): the same rows, or an
// *InputError of the same format (whose text may differ: a panic inside
// Arrow names the buffer's capacity), and releases view.
func requireSameOutcome(t *testing.T, s *Schema, rec arrow.RecordBatch, err error, view arrow.RecordBatch, verr error) {
	t.Helper()
	if err != nil {
		require.Error(t, verr, "the copy failed with %v", err)
		var want, got *InputError
		require.ErrorAs(t, err, &want)
		require.ErrorAs(t, verr, &got)
		require.Equal(t, want.Format, got.Format)
		return
	}
	require.NoError(t, verr)
	defer view.Release()
	want, err := RecordRows(s, rec)
	require.NoError(t, err)
	got, err := RecordRows(s, view)
	require.NoError(t, err)
	requireSameRows(t, s, want, got)
}

func FuzzBatchedDecode(f *testing.F) {
	s := allTypesSchema(f)
	rows := allTypesRows(f)
	for _, part := range [][]Row{rows, rows[:1], rows[2:5], nil} {
		rec := fuzzRecord(f, s, part)
		msg, err := encodeBatched(s, rec)
		require.NoError(f, err)
		rec.Release()
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		rec, err := decodeBatched(memory.DefaultAllocator, s, msg)
		owned := ownedCopy(msg)
		view, verr := decodeBatchedMessage(memory.DefaultAllocator, s, owned.Bytes(), owned)
		owned.Release()
		requireSameOutcome(t, s, rec, err, view, verr)
		if err != nil {
			requireInputError(t, err, "batched")
			return
		}
		defer rec.Release()
		requireReencodes(t, s, rec)
	})
}

func FuzzRowsDecode(f *testing.F) {
	s := allTypesSchema(f)
	rec := fuzzRecord(f, s, allTypesRows(f))
	for i := 0; i < int(rec.NumRows()); i++ {
		f.Add(appendJSONArrayRow(nil, s, rec, i))
	}
	rec.Release()
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := NewConsumer(Header{Version: HeaderVersion, Schema: s, Layout: LayoutRows, BatchRows: 1, BatchBytes: 1 << 20, TotalRows: -1}, ConsumerConfig{})
		require.NoError(t, err)
		defer c.Close()
		rec, err := c.Decode(msg)
		if err != nil {
			requireInputError(t, err, "rows")
			return
		}
		defer rec.Release()
		requireReencodes(t, s, rec)
		// The canonical text decodes to the same row.
		again, err := NewConsumer(c.Header(), ConsumerConfig{})
		require.NoError(t, err)
		defer again.Close()
		rec2, err := again.Decode(appendJSONArrayRow(nil, s, rec, 0))
		require.NoError(t, err)
		defer rec2.Release()
		a, _ := RecordRows(s, rec)
		b, _ := RecordRows(s, rec2)
		requireSameRows(t, s, a, b)
	})
}

func FuzzArrowLayoutDecode(f *testing.F) {
	s := allTypesSchema(f)
	rec := fuzzRecord(f, s, allTypesRows(f))
	schemaMsg, err := arrowSchemaMessage(memory.DefaultAllocator, s)
	require.NoError(f, err)
	msg, err := encodeArrowBatch(memory.DefaultAllocator, s, rec)
	require.NoError(f, err)
	rec.Release()
	f.Add(msg)
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := NewConsumer(Header{Version: HeaderVersion, Schema: s, Layout: LayoutArrow, BatchRows: 100, BatchBytes: 1 << 20, TotalRows: -1}, ConsumerConfig{})
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Decode(schemaMsg)
		require.NoError(t, err)
		rec, err := c.Decode(msg)
		owner, err2 := NewConsumer(c.Header(), ConsumerConfig{})
		require.NoError(t, err2)
		defer owner.Close()
		_, err2 = owner.Decode(schemaMsg)
		require.NoError(t, err2)
		owned := ownedCopy(msg)
		view, verr := owner.decodeMessage(owned.Bytes(), owned)
		requireSameOutcome(t, s, rec, err, view, verr)
		if err != nil {
			requireInputError(t, err, "arrow")
			return
		}
		defer rec.Release()
		requireReencodes(t, s, rec)
	})
}

func FuzzCSVSource(f *testing.F) {
	s := MustSchema(
		Column{Name: "i", Type: TypeInt64, Nullable: true},
		Column{Name: "s", Type: TypeString, Nullable: true},
		Column{Name: "t", Type: TypeTimestamp, Unit: UnitMilli, Zone: "UTC", Nullable: true},
		Column{Name: "d", Type: TypeDecimal, Precision: 9, Scale: 2, Nullable: true},
	)
	f.Add("i,s,t,d\n1,\"a,\"\"b\"\"\n\",2024-01-01T00:00:00Z,1.5\n,,,\n", true)
	f.Add("a,b\n1,2\n3,x\n", false)
	f.Fuzz(func(t *testing.T, in string, declared bool) {
		cfg := CSVConfig{InferRows: 3, MaxRecordBytes: 1 << 12}
		if declared {
			cfg.Schema = s
		}
		src, err := NewCSVSource(strings.NewReader(in), cfg)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalidSchema), "%v", err)
			return
		}
		defer src.Close()
		var sink collectSink
		defer sink.release()
		if _, err := Copy(context.Background(), &sink, src); err != nil {
			requireInputError(t, err, "csv")
			return
		}
		// What was read writes and reads back identically.
		rows := recordsToRows(t, src.Schema(), sink.recs)
		var buf bytes.Buffer
		out, err := NewCSVSink(&buf, src.Schema(), CSVConfig{})
		require.NoError(t, err)
		for _, r := range sink.recs {
			require.NoError(t, out.Write(r))
		}
		require.NoError(t, out.Close())
		back, err := NewCSVSource(&buf, CSVConfig{Schema: src.Schema()})
		require.NoError(t, err)
		requireSameRows(t, src.Schema(), rows, drain(t, back))
		back.Close()
	})
}

func FuzzJSONLSource(f *testing.F) {
	f.Add("{\"a\":1,\"b\":\"x\"}\n{\"a\":null,\"c\":[1]}\n")
	f.Add("{\"t\":\"2024-01-01T00:00:00Z\",\"f\":\"NaN\"}\n\n{\"f\":1e300}")
	f.Fuzz(func(t *testing.T, in string) {
		src, err := NewJSONLSource(strings.NewReader(in), JSONLConfig{InferRows: 3, MaxLineBytes: 1 << 12})
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalidSchema), "%v", err)
			return
		}
		defer src.Close()
		var sink collectSink
		defer sink.release()
		if _, err := Copy(context.Background(), &sink, src); err != nil {
			requireInputError(t, err, "jsonl")
			return
		}
		rows := recordsToRows(t, src.Schema(), sink.recs)
		var buf bytes.Buffer
		out := NewJSONLSink(&buf, src.Schema())
		for _, r := range sink.recs {
			require.NoError(t, out.Write(r))
		}
		require.NoError(t, out.Close())
		back, err := NewJSONLSource(&buf, JSONLConfig{Schema: src.Schema()})
		require.NoError(t, err)
		requireSameRows(t, src.Schema(), rows, drain(t, back))
		back.Close()
	})
}

func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	WriteMessage(&buf, []byte("hello"))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			m, err := ReadMessage(r, 64)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrMessageTooLarge), "%v", err)
				}
				return
			}
			require.LessOrEqual(t, len(m), 64)
		}
	})
}
