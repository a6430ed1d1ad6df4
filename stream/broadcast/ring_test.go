package broadcast

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplayRingBounds(t *testing.T) {
	for _, tc := range []struct {
		maxRecords, maxBytes, size, pushes int
	}{
		{1, 1 << 20, 10, 1000},         // one record: chunks fill up and are dropped whole
		{300, 1 << 20, 10, 2000},       // across chunk boundaries
		{10000, 1000, 50, 500},         // by bytes
		{10000, 1 << 20, 40 << 10, 60}, // big records: chunks closed by bytes
	} {
		name := fmt.Sprintf("%d records, %d bytes, size %d", tc.maxRecords, tc.maxBytes, tc.size)
		l := newReplayRing(tc.maxRecords, tc.maxBytes)
		for i := range tc.pushes {
			data := bytes.Repeat([]byte{byte(i)}, tc.size)
			l.push(entry{seq: uint64(i + 1), data: data})
			v := l.view()
			require.Equal(t, uint64(i+1), v.end, name)
			require.LessOrEqual(t, l.n, tc.maxRecords, name)
			require.LessOrEqual(t, l.bytes, tc.maxBytes, name)
			require.Equal(t, int(v.end-v.start), l.n, name)
			require.Equal(t, uint64((i+1)*tc.size), v.total(), name)
			// Every retained record is where it belongs, with its running total.
			for idx := v.start; idx < v.end && i%37 == 0; idx++ {
				e := v.at(idx)
				require.Equal(t, idx+1, e.seq, name)
				require.Equal(t, idx*uint64(tc.size), e.cum, name)
			}
			// The table holds at most one chunk beyond what is retained.
			chunks := l.table.Load().chunks
			require.LessOrEqual(t, chunks[0].first, v.start, name)
			if len(chunks) > 1 {
				require.Greater(t, chunks[1].first, v.start, name)
			}
		}
	}
}

func TestViewFirstWithin(t *testing.T) {
	l := newReplayRing(100, 1<<20)
	for i := range 10 {
		l.push(entry{seq: uint64(i + 1), data: make([]byte, 7)}) // 20 encoded bytes each
	}
	v := l.view()
	require.Equal(t, uint64(200), v.backlog(0))
	require.Equal(t, uint64(5), v.firstWithin(0, 100))
	require.Equal(t, uint64(6), v.firstWithin(0, 99))
	require.Equal(t, uint64(8), v.firstWithin(8, 1000))
	require.Equal(t, uint64(10), v.firstWithin(0, 0))
}
