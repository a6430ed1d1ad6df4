package broadcast

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleRecords are records of every type, used by the codec tests and the
// test vectors.
func sampleRecords() map[string]Record {
	return map[string]Record{
		"data/line":       {Type: TypeData, Seq: 1, Data: []byte("GET /index.html 200 512")},
		"data/empty":      {Type: TypeData, Seq: 42, Data: []byte{}},
		"data/binary":     {Type: TypeData, Seq: 1<<53 - 1, Data: []byte{0, 0xff, '\n', 0x80}},
		"data/max":        {Type: TypeData, Seq: 7, Data: []byte(strings.Repeat("x", vectorMaxRecord))},
		"gap/basic":       {Type: TypeGap, Records: 1200, Bytes: 61234},
		"gap/unknown":     {Type: TypeGap, Records: 5, Bytes: UnknownBytes},
		"epoch/first":     {Type: TypeEpoch, Epoch: 1767225600000000},
		"epoch/continued": {Type: TypeEpoch, Epoch: 1767225600000000, Previous: 1767225600000000},
		"epoch/changed":   {Type: TypeEpoch, Epoch: 1767225900123456, Previous: 1767225600000000, Changed: true},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, rec := range sampleRecords() {
		b := AppendRecord([]byte("prefix"), &rec)
		require.Equal(t, len("prefix")+rec.EncodedLen(), len(b), name)
		got, n, err := ParseRecord(b[len("prefix"):], vectorMaxRecord)
		require.NoError(t, err, name)
		require.Equal(t, rec.EncodedLen(), n, name)
		if rec.Data == nil {
			rec.Data = nil
		}
		require.Equal(t, rec, got, name)
		// Every strict prefix is incomplete.
		for i := range n {
			_, _, err := ParseRecord(b[len("prefix"):len("prefix")+i], vectorMaxRecord)
			if i == 0 {
				require.ErrorIs(t, err, io.EOF, name)
			} else {
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s: %d bytes", name, i)
			}
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"data too short", []byte{0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0}, ErrMalformedRecord},
		{"gap too short", append([]byte{0, 0, 0, 15, 2}, make([]byte, 15)...), ErrMalformedRecord},
		{"epoch too long", append([]byte{0, 0, 0, 17, 3}, make([]byte, 17)...), ErrMalformedRecord},
		{"gap header only", []byte{0, 0, 0, 8, 2}, ErrMalformedRecord},
		{"data over max, header only", []byte{0, 0, 0x04, 0x09, 1}, ErrRecordTooLarge},
		{"unknown type over max", []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, ErrRecordTooLarge},
	} {
		_, _, err := ParseRecord(tc.in, vectorMaxRecord)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	// An unknown type is returned with its body, for the caller to skip.
	rec, n, err := ParseRecord([]byte{0, 0, 0, 2, 0x7f, 'h', 'i', 0xaa}, vectorMaxRecord)
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, Record{Type: 0x7f, Data: []byte("hi")}, rec)
}

func FuzzParseRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(AppendRecord(nil, &rec))
	}
	f.Add([]byte{0, 0, 0, 2, 0x7f, 'h', 'i'})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := ParseRecord(b, vectorMaxRecord)
		if err != nil {
			require.Zero(t, n)
			return
		}
		require.LessOrEqual(t, n, len(b))
		require.LessOrEqual(t, len(rec.Data), vectorMaxRecord+8)
		// Re-encoding gives the same bytes.
		require.True(t, bytes.Equal(b[:n], AppendRecord(nil, &rec)), "re-encoded %x, parsed %x", AppendRecord(nil, &rec), b[:n])
	})
}
