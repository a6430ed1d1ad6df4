package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve the same on every host, including minimal containers
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// Type is a column type. Its string form is the name used in the JSON header.
type Type string

// The column types. Each maps to exactly one Arrow type (see Schema.Arrow).
const (
	TypeInt64     Type = "int64"     // signed 64-bit integer; Arrow int64
	TypeFloat64   Type = "float64"   // IEEE 754 double, NaN and ±Inf included; Arrow float64
	TypeBool      Type = "bool"      // Arrow boolean
	TypeString    Type = "string"    // UTF-8 text; Arrow utf8
	TypeBinary    Type = "binary"    // arbitrary bytes; Arrow binary
	TypeTimestamp Type = "timestamp" // int64 count of Unit since the Unix epoch; Arrow timestamp(unit, zone)
	TypeDate      Type = "date"      // int32 days since 1970-01-01; Arrow date32
	TypeDecimal   Type = "decimal"   // exact decimal(Precision, Scale); Arrow decimal128
)

// TimeUnit is the resolution of a timestamp column.
type TimeUnit string

// The timestamp units.
const (
	UnitSecond TimeUnit = "s"  // seconds
	UnitMilli  TimeUnit = "ms" // milliseconds
	UnitMicro  TimeUnit = "us" // microseconds
	UnitNano   TimeUnit = "ns" // nanoseconds (years 1677..2262)
)

// Schema limits.
const (
	// MaxColumns is the largest number of columns a schema may have.
	MaxColumns = 4096
	// MaxColumnNameBytes is the longest column name, in bytes.
	MaxColumnNameBytes = 1024
	// MaxDecimalPrecision is the largest decimal precision (Arrow decimal128).
	MaxDecimalPrecision = 38
)

// Column describes one column of a dataset.
type Column struct {
	// Name is the column name: non-empty UTF-8, unique within the schema.
	Name string `json:"name"`
	// Type is the column type.
	Type Type `json:"type"`
	// Nullable says whether the column may hold nulls.
	Nullable bool `json:"nullable"`
	// Unit is the timestamp resolution; timestamp columns only. NewSchema
	// fills UnitMicro when it is empty; a header on the wire always names it.
	Unit TimeUnit `json:"unit,omitempty"`
	// Zone is the timestamp time zone; timestamp columns only. Empty means a
	// wall-clock time without zone (stored as if it were UTC); otherwise
	// "UTC", an IANA name such as "Europe/Berlin", or a fixed offset
	// "+05:30". With a zone, values are instants (stored as UTC) and are
	// rendered in that zone.
	Zone string `json:"zone,omitempty"`
	// Precision is the total number of decimal digits, 1..38; decimal only.
	Precision int `json:"precision,omitempty"`
	// Scale is the number of digits after the point, 0..Precision; decimal only.
	Scale int `json:"scale,omitempty"`
}

// Schema is an ordered, validated list of columns. A Schema is immutable
// once built and safe for concurrent use; build one with NewSchema,
// ParseSchema or FromArrow.
type Schema struct {
	cols  []Column
	locs  []*time.Location // per column; nil for wall-clock timestamps and non-timestamps
	index map[string]int
	arrow *arrow.Schema
}

// NewSchema validates cols and returns a schema holding a copy of them.
// Timestamp columns without a Unit get UnitMicro.
func NewSchema(cols ...Column) (*Schema, error) {
	cp := make([]Column, len(cols))
	copy(cp, cols)
	for i := range cp {
		if cp[i].Type == TypeTimestamp && cp[i].Unit == "" {
			cp[i].Unit = UnitMicro
		}
	}
	return buildSchema(cp)
}

// MustSchema is NewSchema that panics on error; for fixed schemas in
// programs and tests.
func MustSchema(cols ...Column) *Schema {
	s, err := NewSchema(cols...)
	if err != nil {
		panic(err)
	}
	return s
}

// ParseSchema decodes the JSON form of a schema ({"columns":[...]}) and
// validates it. Unlike NewSchema it fills no defaults: what the wire says
// is what the schema is.
func ParseSchema(b []byte) (*Schema, error) {
	var w struct {
		Columns []Column `json:"columns"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, schemaErrorf("decode JSON: %v", err)
	}
	return buildSchema(w.Columns)
}

func buildSchema(cols []Column) (*Schema, error) {
	if len(cols) == 0 {
		return nil, schemaErrorf("no columns")
	}
	if len(cols) > MaxColumns {
		return nil, schemaErrorf("%d columns, more than the limit of %d", len(cols), MaxColumns)
	}
	s := &Schema{cols: cols, locs: make([]*time.Location, len(cols)), index: make(map[string]int, len(cols))}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		if err := c.validate(); err != nil {
			return nil, err
		}
		if _, dup := s.index[c.Name]; dup {
			return nil, schemaErrorf("duplicate column name %q", c.Name)
		}
		s.index[c.Name] = i
		if c.Type == TypeTimestamp {
			s.locs[i], _ = parseZone(c.Zone) // validated above
		}
		fields[i] = arrow.Field{Name: c.Name, Type: c.arrowType(), Nullable: c.Nullable}
	}
	s.arrow = arrow.NewSchema(fields, nil)
	return s, nil
}

func (c Column) validate() error {
	if c.Name == "" {
		return schemaErrorf("empty column name")
	}
	if len(c.Name) > MaxColumnNameBytes {
		return schemaErrorf("column name of %d bytes, more than %d", len(c.Name), MaxColumnNameBytes)
	}
	if !utf8.ValidString(c.Name) {
		return schemaErrorf("column name %q is not valid UTF-8", c.Name)
	}
	switch c.Type {
	case TypeInt64, TypeFloat64, TypeBool, TypeString, TypeBinary, TypeDate, TypeTimestamp, TypeDecimal:
	default:
		return schemaErrorf("column %q: unknown type %q", c.Name, c.Type)
	}
	if c.Type == TypeTimestamp {
		switch c.Unit {
		case UnitSecond, UnitMilli, UnitMicro, UnitNano:
		default:
			return schemaErrorf("column %q: timestamp unit %q is not s, ms, us or ns", c.Name, c.Unit)
		}
		if _, err := parseZone(c.Zone); err != nil {
			return schemaErrorf("column %q: %v", c.Name, err)
		}
	} else if c.Unit != "" || c.Zone != "" {
		return schemaErrorf("column %q: unit and zone apply to timestamps only", c.Name)
	}
	if c.Type == TypeDecimal {
		if c.Precision < 1 || c.Precision > MaxDecimalPrecision {
			return schemaErrorf("column %q: decimal precision %d is not in 1..%d", c.Name, c.Precision, MaxDecimalPrecision)
		}
		if c.Scale < 0 || c.Scale > c.Precision {
			return schemaErrorf("column %q: decimal scale %d is not in 0..%d", c.Name, c.Scale, c.Precision)
		}
	} else if c.Precision != 0 || c.Scale != 0 {
		return schemaErrorf("column %q: precision and scale apply to decimals only", c.Name)
	}
	return nil
}

// parseZone resolves a timestamp zone: "" is wall-clock time (nil
// location), "UTC" or "Z" is UTC, "+hh:mm"/"-hh:mm" a fixed offset, anything
// else an IANA name.
func parseZone(zone string) (*time.Location, error) {
	switch zone {
	case "":
		return nil, nil
	case "UTC", "Z":
		return time.UTC, nil
	}
	if zone[0] == '+' || zone[0] == '-' {
		if len(zone) != 6 || zone[3] != ':' {
			return nil, fmt.Errorf("time zone offset %q is not of the form +hh:mm", zone)
		}
		h, err1 := strconv.Atoi(zone[1:3])
		m, err2 := strconv.Atoi(zone[4:6])
		if err1 != nil || err2 != nil || h > 23 || m > 59 {
			return nil, fmt.Errorf("time zone offset %q is not of the form +hh:mm", zone)
		}
		secs := h*3600 + m*60
		if zone[0] == '-' {
			secs = -secs
		}
		return time.FixedZone(zone, secs), nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", zone)
	}
	return loc, nil
}

func (c Column) arrowType() arrow.DataType {
	switch c.Type {
	case TypeInt64:
		return arrow.PrimitiveTypes.Int64
	case TypeFloat64:
		return arrow.PrimitiveTypes.Float64
	case TypeBool:
		return arrow.FixedWidthTypes.Boolean
	case TypeString:
		return arrow.BinaryTypes.String
	case TypeBinary:
		return arrow.BinaryTypes.Binary
	case TypeTimestamp:
		return &arrow.TimestampType{Unit: c.Unit.arrow(), TimeZone: c.Zone}
	case TypeDate:
		return arrow.FixedWidthTypes.Date32
	case TypeDecimal:
		return &arrow.Decimal128Type{Precision: int32(c.Precision), Scale: int32(c.Scale)}
	}
	panic("dataset: arrowType of unvalidated column " + strconv.Quote(string(c.Type)))
}

func (u TimeUnit) arrow() arrow.TimeUnit {
	switch u {
	case UnitSecond:
		return arrow.Second
	case UnitMilli:
		return arrow.Millisecond
	case UnitNano:
		return arrow.Nanosecond
	default:
		return arrow.Microsecond
	}
}

func unitFromArrow(u arrow.TimeUnit) TimeUnit {
	switch u {
	case arrow.Second:
		return UnitSecond
	case arrow.Millisecond:
		return UnitMilli
	case arrow.Nanosecond:
		return UnitNano
	default:
		return UnitMicro
	}
}

// NumColumns returns the number of columns.
func (s *Schema) NumColumns() int { return len(s.cols) }

// Column returns column i.
func (s *Schema) Column(i int) Column { return s.cols[i] }

// Columns returns a copy of the columns.
func (s *Schema) Columns() []Column {
	out := make([]Column, len(s.cols))
	copy(out, s.cols)
	return out
}

// Index returns the position of the named column, or -1.
func (s *Schema) Index(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Names returns the column names in order.
func (s *Schema) Names() []string {
	out := make([]string, len(s.cols))
	for i, c := range s.cols {
		out[i] = c.Name
	}
	return out
}

// Arrow returns the equivalent Arrow schema (shared; do not modify).
func (s *Schema) Arrow() *arrow.Schema { return s.arrow }

// location returns the time zone of timestamp column i (nil: wall clock).
func (s *Schema) location(i int) *time.Location { return s.locs[i] }

// Equal reports whether both schemas have the same columns.
func (s *Schema) Equal(o *Schema) bool {
	if s == nil || o == nil {
		return s == o
	}
	if len(s.cols) != len(o.cols) {
		return false
	}
	for i := range s.cols {
		if s.cols[i] != o.cols[i] {
			return false
		}
	}
	return true
}

// MarshalJSON encodes the schema as {"columns":[...]}.
func (s *Schema) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Columns []Column `json:"columns"`
	}{s.cols})
}

// UnmarshalJSON decodes and validates a schema; it is meant for decoding
// into a fresh value, since Schemas are otherwise immutable.
func (s *Schema) UnmarshalJSON(b []byte) error {
	p, err := ParseSchema(b)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// String returns a compact description such as "id int64, ts timestamp(us,UTC)?".
func (s *Schema) String() string {
	var b strings.Builder
	for i, c := range s.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
		b.WriteByte(' ')
		b.WriteString(string(c.Type))
		switch c.Type {
		case TypeTimestamp:
			fmt.Fprintf(&b, "(%s,%s)", c.Unit, c.Zone)
		case TypeDecimal:
			fmt.Fprintf(&b, "(%d,%d)", c.Precision, c.Scale)
		}
		if c.Nullable {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// FromArrow maps an Arrow schema to a dataset schema. Besides the eight
// canonical types it accepts types that widen losslessly: int8/16/32 and
// uint8/16/32 become int64, float16/32 become float64, large_utf8 and
// string_view become string, large_binary, binary_view and fixed_size_binary
// become binary, date64 becomes date. Sources convert such columns as they
// read. Any other type (uint64, lists, structs, dictionaries …) fails with an
// error matching ErrUnsupportedType that names the column.
func FromArrow(as *arrow.Schema) (*Schema, error) {
	cols := make([]Column, as.NumFields())
	for i, f := range as.Fields() {
		c, err := columnFromArrow(f)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return buildSchema(cols)
}

func columnFromArrow(f arrow.Field) (Column, error) {
	c := Column{Name: f.Name, Nullable: f.Nullable}
	switch t := f.Type.(type) {
	case *arrow.TimestampType:
		c.Type, c.Unit, c.Zone = TypeTimestamp, unitFromArrow(t.Unit), t.TimeZone
		return c, nil
	case *arrow.Decimal128Type:
		c.Type, c.Precision, c.Scale = TypeDecimal, int(t.Precision), int(t.Scale)
		if t.Scale < 0 {
			return c, fmt.Errorf("%w: column %q: negative decimal scale %d", ErrUnsupportedType, f.Name, t.Scale)
		}
		return c, nil
	}
	switch f.Type.ID() {
	case arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8, arrow.UINT32, arrow.UINT16, arrow.UINT8:
		c.Type = TypeInt64
	case arrow.FLOAT64, arrow.FLOAT32, arrow.FLOAT16:
		c.Type = TypeFloat64
	case arrow.BOOL:
		c.Type = TypeBool
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		c.Type = TypeString
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		c.Type = TypeBinary
	case arrow.DATE32, arrow.DATE64:
		c.Type = TypeDate
	default:
		return c, fmt.Errorf("%w: column %q has Arrow type %s", ErrUnsupportedType, f.Name, f.Type)
	}
	return c, nil
}
