package dataset

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/stretchr/testify/require"
)

func TestSchemaValidation(t *testing.T) {
	for _, cols := range [][]Column{
		nil,
		{{Name: "", Type: TypeInt64}},
		{{Name: "a", Type: TypeInt64}, {Name: "a", Type: TypeString}},
		{{Name: "a", Type: "int32"}},
		{{Name: "a", Type: TypeTimestamp, Unit: "minutes"}},
		{{Name: "a", Type: TypeTimestamp, Zone: "Mars/Olympus"}},
		{{Name: "a", Type: TypeTimestamp, Zone: "+25:00"}},
		{{Name: "a", Type: TypeInt64, Zone: "UTC"}},
		{{Name: "a", Type: TypeDecimal, Precision: 39}},
		{{Name: "a", Type: TypeDecimal, Precision: 5, Scale: 6}},
		{{Name: "a", Type: TypeString, Precision: 5}},
		{{Name: string([]byte{0xff}), Type: TypeString}},
	} {
		_, err := NewSchema(cols...)
		require.ErrorIs(t, err, ErrInvalidSchema, "%+v", cols)
	}
	s, err := NewSchema(Column{Name: "t", Type: TypeTimestamp})
	require.NoError(t, err)
	require.Equal(t, UnitMicro, s.Column(0).Unit, "timestamp unit defaults to us")
	require.Panics(t, func() { MustSchema() })
}

func TestSchemaJSONAndArrow(t *testing.T) {
	s := allTypesSchema(t)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	back, err := ParseSchema(b)
	require.NoError(t, err)
	require.True(t, back.Equal(s))
	var viaUnmarshal Schema
	require.NoError(t, json.Unmarshal(b, &viaUnmarshal))
	require.True(t, viaUnmarshal.Equal(s))
	require.Equal(t, 3, s.Index("b"))
	require.Equal(t, -1, s.Index("nope"))
	require.Equal(t, "id", s.Names()[0])

	fromArrow, err := FromArrow(s.Arrow())
	require.NoError(t, err)
	require.True(t, fromArrow.Equal(s))

	_, err = ParseSchema([]byte(`{"columns":[{"name":"a","type":"int64","extra":1}]}`))
	require.ErrorIs(t, err, ErrInvalidSchema)
	_, err = ParseSchema([]byte(`{"columns":[{"name":"a","type":"timestamp"}]}`))
	require.ErrorIs(t, err, ErrInvalidSchema, "the wire must name the unit")

	_, err = FromArrow(arrow.NewSchema([]arrow.Field{{Name: "u", Type: arrow.PrimitiveTypes.Uint64}}, nil))
	require.ErrorIs(t, err, ErrUnsupportedType)
	_, err = FromArrow(arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil))
	require.ErrorIs(t, err, ErrUnsupportedType)
}

// TestArrowFileWidening reads an Arrow file written by another producer
// with narrower types than the dataset's.
func TestArrowFileWidening(t *testing.T) {
	mem := newChecked(t)
	as := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
		{Name: "lb", Type: arrow.BinaryTypes.LargeBinary},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Asia/Tokyo"}},
	}, nil)
	b := array.NewRecordBuilder(mem, as)
	defer b.Release()
	b.Field(0).(*array.Int8Builder).AppendValues([]int8{-128, 0}, []bool{true, false})
	b.Field(1).(*array.Uint32Builder).AppendValues([]uint32{4294967295, 1}, nil)
	b.Field(2).(*array.Float16Builder).AppendValues([]float16.Num{float16.New(1.5), float16.New(-2)}, nil)
	b.Field(3).(*array.Float32Builder).AppendValues([]float32{0.25, 3}, nil)
	b.Field(4).(*array.LargeStringBuilder).AppendValues([]string{"ä", ""}, nil)
	b.Field(5).(*array.BinaryBuilder).AppendValues([][]byte{{1}, {}}, nil)
	b.Field(6).(*array.Date64Builder).AppendValues([]arrow.Date64{86400000, -86400000}, nil)
	b.Field(7).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1, 2}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(as), ipc.WithAllocator(mem))
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())

	src, err := NewArrowFileSource(bytes.NewReader(buf.Bytes()), ArrowConfig{ReadConfig: ReadConfig{Allocator: mem}})
	require.NoError(t, err)
	require.Equal(t, "i8 int64?, u32 int64, f16 float64, f32 float64, ls string, lb binary, d64 date, ts timestamp(s,Asia/Tokyo)", src.Schema().String())
	rows := drain(t, src)
	require.NoError(t, src.Close())
	require.Equal(t, int64(-128), rows[0][0])
	require.Nil(t, rows[1][0])
	require.Equal(t, int64(4294967295), rows[0][1])
	require.Equal(t, 1.5, rows[0][2])
	require.Equal(t, 0.25, rows[0][3])
	require.Equal(t, "ä", rows[0][4])
	require.Equal(t, []byte{1}, rows[0][5])
	require.Equal(t, "1970-01-02", rows[0][6].(interface{ Format(string) string }).Format("2006-01-02"))
	require.Equal(t, "1969-12-31", rows[1][6].(interface{ Format(string) string }).Format("2006-01-02"))
}
