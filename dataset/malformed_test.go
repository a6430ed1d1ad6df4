package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// requireInputError asserts err is an *InputError of format and returns it.
func requireInputError(t *testing.T, err error, format string) *InputError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrMalformed)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, format, ie.Format, "%v", err)
	return ie
}

// openAndDrain returns the error of opening or reading a source.
func openAndDrain(t *testing.T, open func() (Source, error)) error {
	t.Helper()
	src, err := open()
	if err != nil {
		return err
	}
	defer src.Close()
	return drainErr(t, src)
}

func TestMalformedCSV(t *testing.T) {
	intCols := MustSchema(Column{Name: "a", Type: TypeInt64}, Column{Name: "b", Type: TypeString, Nullable: true})
	for _, tc := range []struct {
		name, in          string
		schema            *Schema
		row, line, offset int64
		column            string
		max               int
	}{
		{name: "bare quote", in: "a,b\n1,x\"y\n", row: 1, line: 2, offset: 4},
		{name: "unclosed quote", in: "a,b\n1,2\n3,\"abc\nmore", row: 2, line: 3, offset: 8},
		{name: "after closing quote", in: "a,b\n\"x\"y,1\n", row: 1, line: 2, offset: 4},
		{name: "field count", in: "a,b\n1,2\n3\n", row: 2, line: 3, offset: 8, schema: intCols},
		{name: "bad int", in: "a,b\n1,x\n2,y\nz,w\n", row: 3, line: 4, offset: 12, column: "a", schema: intCols},
		{name: "null in not-null", in: "b,a\nx,1\ny,\n", row: 2, line: 3, offset: 8, column: "a", schema: intCols},
		{name: "int overflow", in: "a,b\n9223372036854775808,x\n", row: 1, line: 2, offset: 4, column: "a", schema: intCols},
		{name: "record limit", in: "a,b\n1,\"" + strings.Repeat("x", 100) + "\"\n", row: 1, line: 2, offset: 4, max: 50, schema: intCols},
		{name: "multi-line record then error", in: "a,b\n1,\"x\ny\"\n2,\"z\"q\n", row: 2, line: 4, offset: 12, schema: intCols},
		{name: "inferred then contradicted", in: "a,b\n1,x\n" + strings.Repeat("2,y\n", 5) + "oops,z\n", row: 7, line: 8, offset: 28, column: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openAndDrain(t, func() (Source, error) {
				return NewCSVSource(strings.NewReader(tc.in), CSVConfig{Schema: tc.schema, MaxRecordBytes: tc.max, InferRows: 3})
			})
			ie := requireInputError(t, err, "csv")
			require.Equal(t, tc.row, ie.Row, "row: %v", err)
			require.Equal(t, tc.line, ie.Line, "line: %v", err)
			require.Equal(t, tc.offset, ie.Offset, "offset: %v", err)
			require.Equal(t, tc.column, ie.Column, "column: %v", err)
			require.Contains(t, err.Error(), "row ")
		})
	}
	_, err := NewCSVSource(strings.NewReader(""), CSVConfig{})
	requireInputError(t, err, "csv")
	_, err = NewCSVSource(strings.NewReader("a,c\n1,2\n"), CSVConfig{Schema: intCols})
	requireInputError(t, err, "csv")
	_, err = NewCSVSource(strings.NewReader("a\n"), CSVConfig{NoHeader: true})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewCSVSource(strings.NewReader("a\n"), CSVConfig{Comma: '"'})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestMalformedJSONL(t *testing.T) {
	s := MustSchema(Column{Name: "a", Type: TypeInt64}, Column{Name: "b", Type: TypeString, Nullable: true})
	for _, tc := range []struct {
		name, in          string
		row, line, offset int64
		column            string
		max               int
		schema            *Schema
	}{
		{name: "not an object", in: "{\"a\":1}\n[1,2]\n", row: 2, line: 2, offset: 8, schema: s},
		{name: "bad json", in: "{\"a\":1}\n\n{\"a\":2,\n", row: 2, line: 3, offset: 9, schema: s},
		{name: "unknown column", in: "{\"a\":1,\"zz\":2}\n", row: 1, line: 1, offset: 0, column: "zz", schema: s},
		{name: "wrong type", in: "{\"a\":1}\n{\"a\":\"x\"}\n", row: 2, line: 2, offset: 8, column: "a", schema: s},
		{name: "missing not-null", in: "{\"b\":\"x\"}\n", row: 1, line: 1, offset: 0, column: "a", schema: s},
		{name: "fraction into int", in: "{\"a\":1.5}\n", row: 1, line: 1, offset: 0, column: "a", schema: s},
		{name: "line limit", in: "{\"a\":1}\n{\"b\":\"" + strings.Repeat("x", 100) + "\"}\n", row: 2, line: 2, offset: 8, max: 50, schema: s},
		{name: "nested while inferring", in: "{\"a\":1}\n{\"a\":{\"x\":1}}\n", row: 2, line: 2, offset: 8, column: "a"},
		{name: "trailing garbage while inferring", in: "{\"a\":1} x\n", row: 1, line: 1, offset: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openAndDrain(t, func() (Source, error) {
				return NewJSONLSource(strings.NewReader(tc.in), JSONLConfig{Schema: tc.schema, MaxLineBytes: tc.max})
			})
			ie := requireInputError(t, err, "jsonl")
			require.Equal(t, tc.row, ie.Row, "row: %v", err)
			require.Equal(t, tc.line, ie.Line, "line: %v", err)
			require.Equal(t, tc.offset, ie.Offset, "offset: %v", err)
			require.Equal(t, tc.column, ie.Column, "column: %v", err)
		})
	}
}

// messageStarts returns the byte offsets at which the messages of an Arrow
// IPC stream start.
func messageStarts(t *testing.T, stream []byte) []int {
	var starts []int
	for at := 0; at < len(stream); {
		starts = append(starts, at)
		require.Equal(t, uint32(0xFFFFFFFF), binary.LittleEndian.Uint32(stream[at:]))
		metaLen := int(binary.LittleEndian.Uint32(stream[at+4:]))
		if metaLen == 0 {
			break
		}
		mr := ipc.NewMessageReader(bytes.NewReader(stream[at:]))
		m, err := mr.Message()
		require.NoError(t, err)
		at += 8 + metaLen + int(m.BodyLen())
		mr.Release()
	}
	return starts
}

// someArrowRows writes a 3-batch Arrow file or stream of 30 rows.
func someArrowRows(t *testing.T, f Format) []byte {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "s", Type: TypeString, Nullable: true})
	var rows []Row
	for i := 0; i < 30; i++ {
		rows = append(rows, Row{int64(i), strings.Repeat("v", i)})
	}
	return writeFormat(t, memory.DefaultAllocator, f, s, rows, 10)
}

func TestMalformedArrow(t *testing.T) {
	file := someArrowRows(t, FormatArrow)
	stream := someArrowRows(t, FormatArrowStream)
	open := func(f Format, b []byte) func() (Source, error) {
		return func() (Source, error) { return NewFileSource(bytes.NewReader(b), f, FileOptions{}) }
	}
	// Garbage and truncation are refused on open.
	for _, f := range []Format{FormatArrow, FormatArrowStream, FormatParquet} {
		err := openAndDrain(t, open(f, []byte("this is not a data file at all, not even close")))
		requireInputError(t, err, map[Format]string{FormatArrow: "arrow", FormatArrowStream: "arrow", FormatParquet: "parquet"}[f])
	}
	requireInputError(t, openAndDrain(t, open(FormatArrow, file[:len(file)-10])), "arrow")

	// A stream cut inside the second batch names that batch's first row and
	// its byte offset.
	starts := messageStarts(t, stream)
	require.Len(t, starts, 5) // schema, 3 batches, end marker
	ie := requireInputError(t, openAndDrain(t, open(FormatArrowStream, stream[:starts[2]+40])), "arrow")
	require.Equal(t, int64(11), ie.Row)
	require.Equal(t, int64(starts[2]), ie.Offset)

	// A file whose footer points a record batch past the data.
	bad := bytes.Clone(file)
	for i := range bad[len(bad)-300 : len(bad)-10] {
		bad[len(bad)-300+i] ^= 0x5a
	}
	err := openAndDrain(t, open(FormatArrow, bad))
	requireInputError(t, err, "arrow")

	// Corrupt string offsets inside a batch body are caught by validation.
	corrupt := bytes.Clone(stream)
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "s", Type: TypeString, Nullable: true})
	rec := arrowRecordOf(t, s, Row{int64(1), "abc"}, Row{int64(2), "de"})
	defer rec.Release()
	msg, err := encodeArrowBatch(memory.DefaultAllocator, s, rec)
	require.NoError(t, err)
	// The offsets buffer of "s" holds 0,3,5: make it 0,9,5.
	at := bytes.Index(msg, []byte{0, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0})
	require.Positive(t, at)
	msg[at+4] = 9
	schemaMsg, err := arrowSchemaMessage(memory.DefaultAllocator, s)
	require.NoError(t, err)
	corrupt = append(append(append([]byte{}, schemaMsg...), msg...), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)
	ie = requireInputError(t, openAndDrain(t, open(FormatArrowStream, corrupt)), "arrow")
	require.Equal(t, int64(1), ie.Row)
}

func TestMalformedParquet(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "s", Type: TypeString, Nullable: true})
	var rows []Row
	for i := 0; i < 1000; i++ {
		rows = append(rows, Row{int64(i), strings.Repeat("w", i%40)})
	}
	var buf bytes.Buffer
	sink, err := NewParquetSink(&buf, s, ParquetConfig{RowGroupRows: 400})
	require.NoError(t, err)
	rec := arrowRecordOf(t, s, rows...)
	require.NoError(t, sink.Write(rec))
	rec.Release()
	require.NoError(t, sink.Close())
	data := buf.Bytes()
	open := func(b []byte) func() (Source, error) {
		return func() (Source, error) { return NewParquetSource(bytes.NewReader(b), ParquetConfig{}) }
	}
	requireInputError(t, openAndDrain(t, open(data[:len(data)-5])), "parquet")
	requireInputError(t, openAndDrain(t, open(data[100:])), "parquet")

	// Smash the compressed pages of the later row groups: the error names a
	// row after the first row group, which reads fine.
	bad := bytes.Clone(data)
	for i := len(bad) / 2; i < len(bad)/2+400; i++ {
		bad[i] = 0xff
	}
	ie := requireInputError(t, openAndDrain(t, open(bad)), "parquet")
	require.Greater(t, ie.Row, int64(400))
}

func TestMalformedBatched(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "s", Type: TypeString, Nullable: true}, Column{Name: "b", Type: TypeBool})
	rec := arrowRecordOf(t, s, Row{int64(1), "ab", true}, Row{int64(2), nil, false}, Row{int64(3), "é", true})
	defer rec.Release()
	good, err := encodeBatched(s, rec)
	require.NoError(t, err)
	back, err := decodeBatched(memory.DefaultAllocator, s, good)
	require.NoError(t, err)
	back.Release()

	patch := func(at int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[at:], v)
		return b
	}
	// Layout of good: header 8 | id block 8+24 | s block 8 + bitmap 8 + offsets 16 + data 4 (padded to 32) | b block 8+1 (padded 8)
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short header", good[:5]},
		{"truncated", good[:len(good)-8]},
		{"trailing bytes", append(bytes.Clone(good), make([]byte, 8)...)},
		{"column count", patch(4, 2)},
		{"too many rows", patch(0, MaxBatchRows+1)},
		{"rows beyond message", patch(0, 1000)},
		{"unknown flag", patch(8, 2)},
		{"body overrun", patch(12, 1<<30)},
		{"short int body", patch(12, 16)},
		{"first offset", patch(56, 1)},
		{"decreasing offsets", patch(60, 9)},
		{"last offset", patch(68, 7)},
		{"null in not-null", patch(8, 1)},
		{"invalid utf8", func() []byte { b := bytes.Clone(good); b[72] = 0xff; return b }()},
		{"split utf8", func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[64:], 3); return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBatched(memory.DefaultAllocator, s, tc.msg)
			ie := requireInputError(t, err, "batched")
			require.GreaterOrEqual(t, ie.Offset, int64(0))
		})
	}
}

func TestMalformedLayoutMessages(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64}, Column{Name: "f", Type: TypeFloat64, Nullable: true})
	rec := arrowRecordOf(t, s, Row{int64(1), 1.5}, Row{int64(2), nil})
	defer rec.Release()
	h := func(l Layout) Header {
		return Header{Version: HeaderVersion, Schema: s, Layout: l, BatchRows: 10, BatchBytes: 1 << 20, TotalRows: -1}
	}
	decode := func(l Layout, msgs ...[]byte) error {
		c, err := NewConsumer(h(l), ConsumerConfig{})
		require.NoError(t, err)
		defer c.Close()
		for _, m := range msgs {
			r, err := c.Decode(m)
			if err != nil {
				// Errors are sticky.
				_, again := c.Decode(m)
				require.Equal(t, err, again)
				return err
			}
			if r != nil {
				r.Release()
			}
		}
		return nil
	}
	for _, bad := range []string{`{"id":1}`, `[1]`, `[1,2,3]`, `["x",1]`, `[1,"NaNa"]`, `[null,1]`, `[1,[2]]`, `[1,true]`} {
		ie := requireInputError(t, decode(LayoutRows, []byte(`[0,0.5]`), []byte(bad)), "rows")
		require.Equal(t, int64(2), ie.Row, bad)
	}
	schemaMsg, err := arrowSchemaMessage(memory.DefaultAllocator, s)
	require.NoError(t, err)
	batch, err := encodeArrowBatch(memory.DefaultAllocator, s, rec)
	require.NoError(t, err)
	other := MustSchema(Column{Name: "id", Type: TypeInt64})
	otherSchema, err := arrowSchemaMessage(memory.DefaultAllocator, other)
	require.NoError(t, err)
	require.NoError(t, decode(LayoutArrow, schemaMsg, batch, batch))
	for name, msgs := range map[string][][]byte{
		"batch before schema":  {batch},
		"garbage":              {[]byte("garbage garbage")},
		"truncated batch":      {schemaMsg, batch[:len(batch)-9]},
		"trailing bytes":       {schemaMsg, append(bytes.Clone(batch), 1, 2, 3, 4, 5, 6, 7, 8)},
		"schema twice":         {schemaMsg, schemaMsg},
		"other schema":         {otherSchema},
		"end of stream marker": {schemaMsg, {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		"huge body length":     {schemaMsg, hugeBody(batch)},
	} {
		t.Run(name, func(t *testing.T) {
			requireInputError(t, decode(LayoutArrow, msgs...), "arrow")
		})
	}
}

// hugeBody rewrites the body length in an IPC record batch message's
// flatbuffer to a huge value: the decoder must refuse it before allocating.
func hugeBody(msg []byte) []byte {
	b := bytes.Clone(msg)
	metaLen := int(binary.LittleEndian.Uint32(b[4:]))
	bodyLen := uint64(len(b) - 8 - metaLen)
	var want [8]byte
	binary.LittleEndian.PutUint64(want[:], bodyLen)
	if i := bytes.Index(b[8:8+metaLen], want[:]); i >= 0 {
		binary.LittleEndian.PutUint64(b[8+i:], 1<<40)
	}
	return b
}

func TestConsumerRejectsOversizedBatch(t *testing.T) {
	s := MustSchema(Column{Name: "id", Type: TypeInt64})
	rows := make([]Row, 11)
	for i := range rows {
		rows[i] = Row{int64(i)}
	}
	rec := arrowRecordOf(t, s, rows...)
	defer rec.Release()
	msg, err := encodeBatched(s, rec)
	require.NoError(t, err)
	c, err := NewConsumer(Header{Version: HeaderVersion, Schema: s, Layout: LayoutBatched, BatchRows: 10, BatchBytes: 1 << 20, TotalRows: -1}, ConsumerConfig{})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Decode(msg)
	requireInputError(t, err, "batched")
}

func TestInputErrorMessage(t *testing.T) {
	err := error(&InputError{Format: "csv", Row: 3, Line: 4, Offset: 17, Column: "x", Err: errors.New("boom")})
	require.Equal(t, `dataset: malformed csv input at row 3, line 4, byte offset 17, column "x": boom`, err.Error())
	require.ErrorIs(t, err, ErrMalformed)
	require.False(t, errors.Is(err, ErrInvalidSchema))
}
