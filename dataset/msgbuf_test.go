package dataset

import (
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// Every test of this package runs with freed message buffers poisoned: a
// record used after its buffer went back to the pool shows wrong values.
func init() { msgPool.poison.Store(true) }

// noPoison turns poisoning off for a benchmark.
func noPoison(b *testing.B) {
	msgPool.poison.Store(false)
	b.Cleanup(func() { msgPool.poison.Store(true) })
}

// ownedCopy returns msg copied into a pooled buffer, as the framed readers
// hand messages to the decoders.
func ownedCopy(msg []byte) *memory.Buffer {
	b := msgPool.get(len(msg))
	copy(b.Bytes(), msg)
	return b
}

func TestBufPoolClasses(t *testing.T) {
	for _, tc := range []struct{ size, class, n int }{
		{0, -1, 0}, {1, 0, 1024}, {1024, 0, 1024}, {1025, 1, 2048}, {650_000, 10, 1 << 20},
		{1 << poolMaxShift, poolMaxShift - poolMinShift, 1 << poolMaxShift}, {1<<poolMaxShift + 1, -1, 0},
	} {
		c, n := poolClass(tc.size)
		require.Equal(t, tc.class, c, "size %d", tc.size)
		require.Equal(t, tc.n, n, "size %d", tc.size)
	}
	var p bufPool
	p.poison.Store(true)
	b := p.get(3000)
	require.Equal(t, 3000, b.Len())
	require.Equal(t, 3000, cap(b.Bytes()), "no slicing beyond the message")
	copy(b.Bytes(), "hello")
	view := memory.SliceBuffer(b, 1, 4)
	b.Release()
	require.Equal(t, "ello", string(view.Bytes()), "a view keeps the buffer")
	raw := view.Bytes()
	view.Release()
	require.Equal(t, []byte{0xA5, 0xA5, 0xA5, 0xA5}, raw, "released to the pool, poisoned")
}

// bufferIn reports whether any buffer of arr's data lies inside msg.
func bufferIn(arr arrow.Array, msg []byte) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
	for _, b := range arr.Data().Buffers() {
		if b != nil && b.Len() > 0 {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b.Bytes())))
			if p >= lo && p < lo+uintptr(len(msg)) {
				return true
			}
		}
	}
	return false
}

// TestOwnedMessagesAreViewed checks that a message handed over to the
// decoder ends up under the record's buffers in the batched and Arrow
// layouts (no copy), that a message not handed over does not, and that the
// buffer goes back to the pool only once the record is released.
func TestOwnedMessagesAreViewed(t *testing.T) {
	s := allTypesSchema(t)
	rows := allTypesRows(t)
	want := wantRows(t, s, rows)
	rec := fuzzRecord(t, s, rows)
	defer rec.Release()
	for _, layout := range []Layout{LayoutBatched, LayoutArrow} {
		t.Run(string(layout), func(t *testing.T) {
			c, err := NewConsumer(Header{Version: HeaderVersion, Schema: s, Layout: layout, BatchRows: 100, BatchBytes: 1 << 20, TotalRows: -1}, ConsumerConfig{})
			require.NoError(t, err)
			defer c.Close()
			var msg []byte
			if layout == LayoutArrow {
				sm, err := arrowSchemaMessage(memory.DefaultAllocator, s)
				require.NoError(t, err)
				_, err = c.Decode(sm)
				require.NoError(t, err)
				msg, err = encodeArrowBatch(memory.DefaultAllocator, s, rec)
				require.NoError(t, err)
			} else {
				msg, err = encodeBatched(s, rec)
				require.NoError(t, err)
			}
			copied, err := c.Decode(msg)
			require.NoError(t, err)
			defer copied.Release()
			for _, col := range copied.Columns() {
				require.False(t, bufferIn(col, msg), "Decode copies")
			}

			owned := ownedCopy(msg)
			raw := owned.Bytes()
			owned.Retain() // the test's own reference, to watch the count
			got, err := c.decodeMessage(raw, owned)
			require.NoError(t, err)
			viewed := 0
			for i, col := range got.Columns() {
				if bufferIn(col, raw) {
					viewed++
				} else {
					require.Equal(t, TypeDecimal, s.Column(i).Type, "column %q is copied", s.Column(i).Name)
				}
			}
			require.Greater(t, viewed, s.NumColumns()/2)
			requireSameRows(t, s, want, recordsToRows(t, s, []arrow.RecordBatch{got}))
			keep := array.NewSlice(got.Column(0), 0, 1)
			got.Release()
			owned.Release()
			if layout == LayoutArrow {
				c.arrow.feed.reset() // the IPC reader's last message
				c.arrow.rdr.Release()
				c.arrow.rdr = nil
			}
			require.Equal(t, int64(1), keep.(*array.Int64).Value(0), "a slice keeps the buffer")
			keep.Release()
			require.Equal(t, byte(0xA5), raw[len(raw)-1], "the buffer went back to the pool")
		})
	}
}
