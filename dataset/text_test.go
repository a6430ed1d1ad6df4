package dataset

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCSVInference(t *testing.T) {
	in := "\xEF\xBB\xBFid,score,ok,day,at,at_local,name,empty\r\n" +
		"1,1.5,true,2024-01-02,2024-01-02T03:04:05Z,2024-01-02 03:04:05.1234567,x,\r\n" +
		"2,NaN,FALSE,,2024-01-02T03:04:05+01:00,,\"\",\r\n" +
		",-Inf,,1999-12-31,,2024-01-02T03:04:05,\"a,b\",\r\n"
	src, err := NewCSVSource(strings.NewReader(in), CSVConfig{})
	require.NoError(t, err)
	defer src.Close()
	want := MustSchema(
		Column{Name: "id", Type: TypeInt64, Nullable: true},
		Column{Name: "score", Type: TypeFloat64, Nullable: true},
		Column{Name: "ok", Type: TypeBool, Nullable: true},
		Column{Name: "day", Type: TypeDate, Nullable: true},
		Column{Name: "at", Type: TypeTimestamp, Unit: UnitMicro, Zone: "UTC", Nullable: true},
		Column{Name: "at_local", Type: TypeTimestamp, Unit: UnitNano, Nullable: true},
		Column{Name: "name", Type: TypeString, Nullable: true},
		Column{Name: "empty", Type: TypeString, Nullable: true},
	)
	require.Equal(t, want.String(), src.Schema().String())
	rows := drain(t, src)
	require.Len(t, rows, 3)
	require.Equal(t, int64(1), rows[0][0])
	require.Nil(t, rows[2][0])
	require.Equal(t, "", rows[1][6], "quoted empty is the empty string")
	require.Nil(t, rows[0][7], "unquoted empty is null")
	require.Equal(t, "a,b", rows[2][6])
	require.True(t, rows[1][4].(time.Time).Equal(time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC)))
	require.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC), rows[0][5])
}

func TestCSVDialects(t *testing.T) {
	s := MustSchema(Column{Name: "a", Type: TypeString, Nullable: true}, Column{Name: "b", Type: TypeInt64, Nullable: true})
	// Semicolons, no header, a quoted field with CRLF inside, blank lines skipped.
	in := "x;1\n\n\"multi\r\nline \"\"q\"\"\";2\n;\n"
	src, err := NewCSVSource(strings.NewReader(in), CSVConfig{Schema: s, Comma: ';', NoHeader: true})
	require.NoError(t, err)
	rows := drain(t, src)
	require.NoError(t, src.Close())
	require.Equal(t, []Row{{"x", int64(1)}, {"multi\r\nline \"q\"", int64(2)}, {nil, nil}}, rows)

	// The sink writes what the source reads back, with CRLF line ends and a header.
	var buf bytes.Buffer
	sink, err := NewCSVSink(&buf, s, CSVConfig{Comma: ';', CRLF: true})
	require.NoError(t, err)
	rec := arrowRecordOf(t, s, rows...)
	require.NoError(t, sink.Write(rec))
	rec.Release()
	require.NoError(t, sink.Close())
	require.Equal(t, "a;b\r\nx;1\r\n\"multi\r\nline \"\"q\"\"\";2\r\n;\r\n", buf.String())

	// A one-column file keeps empty lines: they are nulls.
	one := MustSchema(Column{Name: "a", Type: TypeInt64, Nullable: true})
	src, err = NewCSVSource(strings.NewReader("a\n1\n\n3\n"), CSVConfig{Schema: one})
	require.NoError(t, err)
	require.Equal(t, []Row{{int64(1)}, {nil}, {int64(3)}}, drain(t, src))
	require.NoError(t, src.Close())

	// Header columns in another order map by name.
	src, err = NewCSVSource(strings.NewReader("b,a\n5,five\n"), CSVConfig{Schema: s})
	require.NoError(t, err)
	require.Equal(t, []Row{{"five", int64(5)}}, drain(t, src))
	require.NoError(t, src.Close())

	// An empty file with a declared schema is an empty dataset; the sink
	// still writes the header.
	src, err = NewCSVSource(strings.NewReader(""), CSVConfig{Schema: s})
	require.NoError(t, err)
	require.Empty(t, drain(t, src))
	require.NoError(t, src.Close())
	buf.Reset()
	sink, err = NewCSVSink(&buf, s, CSVConfig{})
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	require.Equal(t, "a,b\n", buf.String())
}

func TestCSVBatchesBoundedByBytes(t *testing.T) {
	s := MustSchema(Column{Name: "s", Type: TypeString})
	var in strings.Builder
	in.WriteString("s\n")
	for i := 0; i < 100; i++ {
		in.WriteString(strings.Repeat("z", 1000) + "\n")
	}
	src, err := NewCSVSource(strings.NewReader(in.String()), CSVConfig{Schema: s, ReadConfig: ReadConfig{BatchBytes: 10_000}})
	require.NoError(t, err)
	defer src.Close()
	total := 0
	for {
		rec, err := src.Next(t.Context())
		if err != nil {
			break
		}
		require.LessOrEqual(t, rec.NumRows(), int64(11))
		total += int(rec.NumRows())
		rec.Release()
	}
	require.Equal(t, 100, total)
}

func TestJSONLInferenceAndOptions(t *testing.T) {
	in := `{"id":1,"x":1.5,"s":"a","t":"2024-01-02T03:04:05.5Z","d":"2024-01-02","n":null,"f":"NaN"}
{"id":2,"x":2,"s":"b","b":true,"f":1}

{"id":3,"s":"c","b":false,"mixed":1}
{"id":4,"mixed":"one"}
`
	src, err := NewJSONLSource(strings.NewReader(in), JSONLConfig{})
	require.NoError(t, err)
	require.Equal(t, "id int64?, x float64?, s string?, t timestamp(us,UTC)?, d date?, n string?, f float64?, b bool?, mixed string?", src.Schema().String())
	rows := drain(t, src)
	require.NoError(t, src.Close())
	require.Len(t, rows, 4)
	require.Equal(t, "1", rows[2][8], "a number in a string column keeps its JSON text")
	require.Equal(t, 2.0, rows[1][1])

	s := MustSchema(Column{Name: "id", Type: TypeInt64})
	src, err = NewJSONLSource(strings.NewReader(`{"id":1,"extra":2}`+"\n"+`{"id":"9007199254740993"}`), JSONLConfig{Schema: s, IgnoreUnknown: true})
	require.NoError(t, err)
	require.Equal(t, []Row{{int64(1)}, {int64(9007199254740993)}}, drain(t, src))
	require.NoError(t, src.Close())
}

func TestValueTextForms(t *testing.T) {
	for _, tc := range []struct {
		in         string
		prec, sc   int
		want       string
		shouldFail bool
	}{
		{in: "1.50", prec: 5, sc: 2, want: "1.50"},
		{in: "-0.5", prec: 5, sc: 2, want: "-0.50"},
		{in: "1.5e2", prec: 5, sc: 2, want: "150.00"},
		{in: "12345e-4", prec: 5, sc: 4, want: "1.2345"},
		{in: ".5", prec: 3, sc: 1, want: "0.5"},
		{in: "7.", prec: 3, sc: 1, want: "7.0"},
		{in: "1.500", prec: 5, sc: 2, want: "1.50"},
		{in: "1.505", prec: 5, sc: 2, shouldFail: true},
		{in: "1000", prec: 5, sc: 2, shouldFail: true},
		{in: "abc", prec: 5, sc: 2, shouldFail: true},
		{in: "", prec: 5, sc: 2, shouldFail: true},
		{in: "1e99999", prec: 5, sc: 2, shouldFail: true},
		{in: "99999999999999999999999999999999999999", prec: 38, sc: 0, want: "99999999999999999999999999999999999999"},
	} {
		n, err := parseDecimalText(tc.in, tc.prec, tc.sc)
		if tc.shouldFail {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, formatDecimal(n, tc.sc), tc.in)
	}

	berlin := mustLoc(t, "Europe/Berlin")
	for _, tc := range []struct {
		in   string
		unit TimeUnit
		loc  string
		want int64
		fail bool
	}{
		{in: "1970-01-01T00:00:01Z", unit: UnitMilli, loc: "UTC", want: 1000},
		{in: "1970-01-01 01:00:00+01:00", unit: UnitSecond, loc: "UTC", want: 0},
		{in: "1970-01-01T01:00:00", unit: UnitSecond, loc: "Europe/Berlin", want: 0},
		{in: "1970-01-02", unit: UnitSecond, loc: "", want: 86400},
		{in: "-5", unit: UnitNano, loc: "UTC", want: -5},
		{in: "1970-01-01T00:00:00.0000001Z", unit: UnitMicro, loc: "UTC", fail: true},
		{in: "3000-01-01T00:00:00Z", unit: UnitNano, loc: "UTC", fail: true},
		{in: "yesterday", unit: UnitNano, loc: "UTC", fail: true},
	} {
		loc, err := parseZone(tc.loc)
		require.NoError(t, err)
		v, err := parseTimestampText(tc.in, tc.unit, loc)
		if tc.fail {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, v, tc.in)
	}
	// Rendering uses the zone's offset and the unit's digits; a wall-clock
	// column has no offset.
	ts := time.Date(2024, 7, 1, 12, 0, 0, 0, berlin)
	v, err := timeToStored(ts, UnitMilli, berlin)
	require.NoError(t, err)
	require.Equal(t, "2024-07-01T12:00:00.000+02:00", string(appendTimestampText(nil, v, UnitMilli, berlin)))
	v, err = timeToStored(ts, UnitSecond, nil)
	require.NoError(t, err)
	require.Equal(t, "2024-07-01T12:00:00", string(appendTimestampText(nil, v, UnitSecond, nil)))
	require.Equal(t, "-9223372036854775808", string(appendTimestampText(nil, -1<<63, UnitMicro, time.UTC)))
}

func TestRowsToRecordConversions(t *testing.T) {
	s := MustSchema(
		Column{Name: "i", Type: TypeInt64, Nullable: true},
		Column{Name: "f", Type: TypeFloat64, Nullable: true},
		Column{Name: "b", Type: TypeBool, Nullable: true},
		Column{Name: "d", Type: TypeDate, Nullable: true},
		Column{Name: "dec", Type: TypeDecimal, Precision: 10, Scale: 3, Nullable: true},
	)
	rec, err := RowsToRecord(nil, s, []Row{
		{int32(7), float32(0.5), int64(1), "2024-02-29", 12.5},
		{uint8(8), int64(3), "false", int64(19000), int64(-4)},
	})
	require.NoError(t, err)
	rows, err := RecordRows(s, rec)
	rec.Release()
	require.NoError(t, err)
	require.Equal(t, []Row{
		{int64(7), 0.5, true, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "12.500"},
		{int64(8), 3.0, false, time.Date(2022, 1, 8, 0, 0, 0, 0, time.UTC), "-4.000"},
	}, rows)

	for _, bad := range []Row{
		{1.5, nil, nil, nil, nil},
		{nil, "x", nil, nil, nil},
		{nil, nil, int64(2), nil, nil},
		{nil, nil, nil, 3.5, nil},
		{nil, nil, nil, nil, "1.0001"},
		{uint64(1 << 63), nil, nil, nil, nil},
		{nil, nil, nil},
	} {
		_, err := RowsToRecord(nil, s, []Row{{nil, nil, nil, nil, nil}, bad})
		ie := requireInputError(t, err, "rows")
		require.Equal(t, int64(2), ie.Row)
	}
	_, err = RowsToRecord(nil, MustSchema(Column{Name: "s", Type: TypeString}), []Row{{string([]byte{0xff})}})
	requireInputError(t, err, "rows")
}
