package dataset

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// conformRecord turns a record read from a file (whose Arrow schema mapped
// to s through FromArrow) into a record of s: columns already of the
// canonical type are shared, narrower ones widened (see FromArrow). The
// result is validated like any untrusted input. It consumes rec.
func conformRecord(mem memory.Allocator, s *Schema, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	defer rec.Release()
	n := int(rec.NumRows())
	cols := make([]arrow.Array, s.NumColumns())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		arr := rec.Column(c)
		want := s.Arrow().Field(c).Type
		if arrow.TypeEqual(arr.DataType(), want) {
			arr.Retain()
			cols[c] = arr
			continue
		}
		var out arrow.Array
		err := safely(func() error {
			var err error
			out, err = widen(mem, s.Column(c), arr)
			return err
		})
		if err != nil {
			return nil, err
		}
		cols[c] = out
	}
	out := array.NewRecordBatch(s.Arrow(), cols, int64(n))
	if err := validateRecord(s, out); err != nil {
		out.Release()
		return nil, err
	}
	return out, nil
}

// widen converts arr to the canonical type of col.
func widen(mem memory.Allocator, col Column, arr arrow.Array) (arrow.Array, error) {
	n := arr.Len()
	b := array.NewBuilder(mem, col.arrowType())
	defer b.Release()
	b.Reserve(n)
	appendEach := func(add func(i int)) {
		for i := 0; i < n; i++ {
			if arr.IsNull(i) {
				b.AppendNull()
			} else {
				add(i)
			}
		}
	}
	switch a := arr.(type) {
	case *array.Int8:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Int16:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Int32:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Uint8:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Uint16:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Uint32:
		appendEach(func(i int) { b.(*array.Int64Builder).Append(int64(a.Value(i))) })
	case *array.Float16:
		appendEach(func(i int) { b.(*array.Float64Builder).Append(float64(a.Value(i).Float32())) })
	case *array.Float32:
		appendEach(func(i int) { b.(*array.Float64Builder).Append(float64(a.Value(i))) })
	case *array.LargeString:
		appendEach(func(i int) { b.(*array.StringBuilder).Append(a.Value(i)) })
	case *array.StringView:
		appendEach(func(i int) { b.(*array.StringBuilder).Append(a.Value(i)) })
	case *array.LargeBinary:
		appendEach(func(i int) { b.(*array.BinaryBuilder).Append(a.Value(i)) })
	case *array.BinaryView:
		appendEach(func(i int) { b.(*array.BinaryBuilder).Append(a.Value(i)) })
	case *array.FixedSizeBinary:
		appendEach(func(i int) { b.(*array.BinaryBuilder).Append(a.Value(i)) })
	case *array.Date64:
		var bad error
		appendEach(func(i int) {
			ms := int64(a.Value(i))
			days := ms / 86400000
			if ms%86400000 != 0 {
				if bad == nil {
					bad = fmt.Errorf("column %q: date64 value %d is not a whole day", col.Name, ms)
				}
				if ms < 0 {
					days--
				}
			}
			b.(*array.Date32Builder).Append(arrow.Date32(days))
		})
		if bad != nil {
			return nil, bad
		}
	case *array.Timestamp:
		from := unitsPerSecond(unitFromArrow(a.DataType().(*arrow.TimestampType).Unit))
		to := unitsPerSecond(col.Unit)
		var bad error
		appendEach(func(i int) {
			v := int64(a.Value(i))
			switch {
			case from > to:
				if v%(from/to) != 0 && bad == nil {
					bad = fmt.Errorf("column %q: timestamp %d has more precision than unit %q", col.Name, v, col.Unit)
				}
				v /= from / to
			case from < to:
				f := to / from
				if (v > 0 && v > math.MaxInt64/f) || (v < 0 && v < math.MinInt64/f) {
					if bad == nil {
						bad = fmt.Errorf("column %q: timestamp %d overflows unit %q", col.Name, v, col.Unit)
					}
				}
				v *= f
			}
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		})
		if bad != nil {
			return nil, bad
		}
	default:
		return nil, fmt.Errorf("%w: column %q: cannot convert Arrow %s to %s", ErrUnsupportedType, col.Name, arr.DataType(), col.Type)
	}
	return b.NewArray(), nil
}
