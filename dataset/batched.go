package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The row-batched encoding (docs/DATASET.md, "Layout batched"), all
// integers little-endian:
//
//	message      := u32 row_count N | u32 column_count C | C × column_block
//	column_block := u32 flags | u32 body_length | body | zero padding to a multiple of 8
//	body         := [validity: ceil(N/8) bytes, zero-padded to a multiple of 8] values
//	values       := int64, timestamp: N × i64   float64: N × f64   date: N × i32
//	                bool: ceil(N/8) bytes of bits
//	                string, binary, decimal: (N+1) × u32 offsets, then the bytes
//
// Every column block starts at a multiple of 8 from the start of the
// message, so a decoder that holds the message in its own buffer can view
// fixed-width values in place. Bitmaps are LSB-first (bit i of byte i>>3
// is row i); a set validity bit means "not null". Slots of null rows hold
// zeros (and empty byte ranges) when written by this package; decoders
// ignore them.

const (
	batchedHeaderLen = 8
	blockHeaderLen   = 8
	flagValidity     = 1
)

func align8(n int) int { return (n + 7) &^ 7 }

func bitmapLen(n int) int { return (n + 7) / 8 }

// batchedSizeBound returns an upper bound of the encoded size of rec.
func batchedSizeBound(s *Schema, rec arrow.RecordBatch) int {
	n := int(rec.NumRows())
	size := batchedHeaderLen
	for c := 0; c < s.NumColumns(); c++ {
		size += blockHeaderLen + align8(bitmapLen(n)) + align8(valuesBound(s.Column(c), rec.Column(c), n))
	}
	return size
}

func valuesBound(col Column, arr arrow.Array, n int) int {
	switch col.Type {
	case TypeInt64, TypeFloat64, TypeTimestamp:
		return 8 * n
	case TypeDate:
		return 4 * n
	case TypeBool:
		return bitmapLen(n)
	case TypeDecimal:
		return 4*(n+1) + n*(col.Precision+3)
	default:
		offs := arr.(offsetsArray).ValueOffsets()
		if n == 0 {
			return 4
		}
		return 4*(n+1) + int(offs[n]-offs[0])
	}
}

// encodeBatched encodes rec (schema s, already checked) as one batched message.
func encodeBatched(s *Schema, rec arrow.RecordBatch) ([]byte, error) {
	return appendBatched(nil, s, rec)
}

// appendBatched appends rec (schema s, already checked) to dst as one
// batched message. Column blocks are aligned to 8 bytes from the start of
// the message, wherever in dst it starts.
func appendBatched(dst []byte, s *Schema, rec arrow.RecordBatch) ([]byte, error) {
	n := int(rec.NumRows())
	if n > math.MaxUint32 {
		return nil, fmt.Errorf("dataset: batch of %d rows is too large to encode", n)
	}
	start := len(dst)
	dst = slices.Grow(dst, batchedSizeBound(s, rec))
	buf := dst[start : start+batchedHeaderLen]
	binary.LittleEndian.PutUint32(buf[0:], uint32(n))
	binary.LittleEndian.PutUint32(buf[4:], uint32(s.NumColumns()))
	for c := 0; c < s.NumColumns(); c++ {
		var err error
		if buf, err = appendColumnBlock(buf, s.Column(c), rec.Column(c), n); err != nil {
			return nil, err
		}
	}
	if cap(dst)-start >= len(buf) && &dst[:start+1][start] == &buf[0] {
		return dst[:start+len(buf)], nil // encoded in place
	}
	return append(dst[:start], buf...), nil // outgrew the bound
}

// grow extends b by n zero bytes and returns the new slice and the start of
// the added region.
func grow(b []byte, n int) ([]byte, int) {
	at := len(b)
	if cap(b)-at >= n {
		b = b[:at+n]
		clear(b[at:])
		return b, at
	}
	return append(b, make([]byte, n)...), at
}

func appendColumnBlock(buf []byte, col Column, arr arrow.Array, n int) ([]byte, error) {
	start := len(buf)
	buf, _ = grow(buf, blockHeaderLen)
	hasNulls := arr.NullN() > 0
	var valid []byte
	if hasNulls {
		binary.LittleEndian.PutUint32(buf[start:], flagValidity)
		var at int
		buf, at = grow(buf, align8(bitmapLen(n)))
		valid = buf[at : at+bitmapLen(n)]
		bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset(), n, valid, 0)
		clearTrailingBits(valid, n)
	}
	isNull := func(i int) bool { return hasNulls && !bitutil.BitIsSet(valid, i) }
	switch a := arr.(type) {
	case *array.Int64:
		var at int
		buf, at = grow(buf, 8*n)
		vals, dst := a.Int64Values(), buf[at:]
		for i, v := range vals {
			if isNull(i) {
				v = 0
			}
			binary.LittleEndian.PutUint64(dst[8*i:], uint64(v))
		}
	case *array.Timestamp:
		var at int
		buf, at = grow(buf, 8*n)
		vals, dst := a.TimestampValues(), buf[at:]
		for i, v := range vals {
			if isNull(i) {
				v = 0
			}
			binary.LittleEndian.PutUint64(dst[8*i:], uint64(v))
		}
	case *array.Float64:
		var at int
		buf, at = grow(buf, 8*n)
		vals, dst := a.Float64Values(), buf[at:]
		for i, v := range vals {
			bits := math.Float64bits(v)
			if isNull(i) {
				bits = 0
			}
			binary.LittleEndian.PutUint64(dst[8*i:], bits)
		}
	case *array.Date32:
		var at int
		buf, at = grow(buf, 4*n)
		vals, dst := a.Date32Values(), buf[at:]
		for i, v := range vals {
			if isNull(i) {
				v = 0
			}
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(v))
		}
	case *array.Boolean:
		var at int
		buf, at = grow(buf, bitmapLen(n))
		dst := buf[at : at+bitmapLen(n)]
		if n > 0 {
			bitutil.CopyBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), n, dst, 0)
		}
		if hasNulls {
			for i := range dst {
				dst[i] &= valid[i]
			}
		}
		clearTrailingBits(dst, n)
	case *array.String:
		buf = appendOffsetsData(buf, a.ValueOffsets(), a.ValueBytes(), n, hasNulls, isNull)
	case *array.Binary:
		buf = appendOffsetsData(buf, a.ValueOffsets(), a.ValueBytes(), n, hasNulls, isNull)
	case *array.Decimal128:
		buf = appendDecimals(buf, a, col.Scale, n, isNull)
	default:
		return nil, mismatchErrorf("column %q: cannot encode Arrow %s", col.Name, arr.DataType())
	}
	bodyLen := len(buf) - start - blockHeaderLen
	if bodyLen > math.MaxUint32 {
		return nil, fmt.Errorf("dataset: column %q block of %d bytes is too large to encode", col.Name, bodyLen)
	}
	binary.LittleEndian.PutUint32(buf[start+4:], uint32(bodyLen))
	buf, _ = grow(buf, align8(len(buf))-len(buf))
	return buf, nil
}

// appendOffsetsData writes a string or binary array given its n+1 absolute
// offsets and its data starting at offs[0]. Without nulls it is two copies.
func appendOffsetsData(buf []byte, offs []int32, data []byte, n int, hasNulls bool, isNull func(int) bool) []byte {
	if n == 0 { // an empty array may have no offsets buffer at all
		buf, _ = grow(buf, 4)
		return buf
	}
	if hasNulls {
		base := offs[0]
		return appendVarValues(buf, n, isNull, func(i int) []byte { return data[offs[i]-base : offs[i+1]-base] })
	}
	var at int
	buf, at = grow(buf, 4*(n+1))
	base := offs[0]
	for i, o := range offs[:n+1] {
		binary.LittleEndian.PutUint32(buf[at+4*i:], uint32(o-base))
	}
	return append(buf, data...)
}

// appendDecimals writes (n+1) u32 offsets and the text of each non-null
// decimal.
func appendDecimals(buf []byte, a *array.Decimal128, scale, n int, isNull func(int) bool) []byte {
	var offAt int
	buf, offAt = grow(buf, 4*(n+1))
	dataStart := len(buf)
	for i := 0; i < n; i++ {
		if !isNull(i) {
			buf = appendDecimal(buf, a.Value(i), scale)
		}
		binary.LittleEndian.PutUint32(buf[offAt+4*(i+1):], uint32(len(buf)-dataStart))
	}
	return buf
}

// appendVarValues writes (n+1) u32 offsets and the bytes of each non-null value.
func appendVarValues(buf []byte, n int, isNull func(int) bool, value func(int) []byte) []byte {
	var offAt int
	buf, offAt = grow(buf, 4*(n+1))
	dataStart := len(buf)
	for i := 0; i < n; i++ {
		if !isNull(i) {
			buf = append(buf, value(i)...)
		}
		binary.LittleEndian.PutUint32(buf[offAt+4*(i+1):], uint32(len(buf)-dataStart))
	}
	return buf
}

func clearTrailingBits(bm []byte, n int) {
	if r := n % 8; r != 0 {
		bm[len(bm)-1] &= byte(1)<<r - 1
	}
}

// batchedError builds the *InputError of a batched decode failure.
func batchedError(offset int, col string, format string, args ...any) error {
	return &InputError{Format: "batched", Offset: int64(offset), Column: col, Err: fmt.Errorf(format, args...)}
}

// decodeBatched decodes one batched message of schema s. Nothing is
// allocated before the lengths it depends on have been checked against the
// message size.
func decodeBatched(mem memory.Allocator, s *Schema, msg []byte) (rec arrow.RecordBatch, err error) {
	return decodeBatchedMessage(mem, s, msg, nil)
}

// hostLittleEndian is true on little-endian machines, where the batched
// layout's values are laid out as Arrow's.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeBatchedMessage is decodeBatched. owner, if not nil, is the buffer
// holding msg, handed over: then, on a little-endian machine and if msg is
// 8-byte aligned in memory, the record's fixed-width values, bitmaps,
// offsets and bytes are views of owner (holding references to it; trailing
// bitmap bits are cleared in place) instead of copies.
func decodeBatchedMessage(mem memory.Allocator, s *Schema, msg []byte, owner *memory.Buffer) (rec arrow.RecordBatch, err error) {
	if len(msg) < batchedHeaderLen {
		return nil, batchedError(0, "", "message of %d bytes is shorter than the 8-byte header", len(msg))
	}
	n64 := binary.LittleEndian.Uint32(msg[0:])
	nc := binary.LittleEndian.Uint32(msg[4:])
	if int64(nc) != int64(s.NumColumns()) {
		return nil, batchedError(4, "", "%d columns, the schema has %d", nc, s.NumColumns())
	}
	if n64 > MaxBatchRows {
		return nil, batchedError(0, "", "%d rows, more than the limit of %d", n64, MaxBatchRows)
	}
	n := int(n64)
	// Every column needs at least ceil(N/8) bytes; reject impossible counts early.
	if int64(s.NumColumns())*int64(blockHeaderLen+bitmapLen(n)) > int64(len(msg)) {
		return nil, batchedError(0, "", "%d rows cannot fit in a message of %d bytes", n, len(msg))
	}
	cols := make([]arrow.Array, 0, s.NumColumns())
	defer func() {
		for _, a := range cols {
			a.Release()
		}
	}()
	d := blockDecoder{mem: mem, s: s, msg: msg, n: n}
	if owner != nil && hostLittleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(msg)))%8 == 0 {
		d.owner = owner
	}
	pos := batchedHeaderLen
	for c := 0; c < s.NumColumns(); c++ {
		arr, next, err := d.column(c, pos)
		if err != nil {
			return nil, err
		}
		cols = append(cols, arr)
		pos = next
	}
	if pos != len(msg) {
		return nil, batchedError(pos, "", "%d trailing bytes after the last column", len(msg)-pos)
	}
	return array.NewRecordBatch(s.Arrow(), cols, int64(n)), nil
}

// blockDecoder decodes the column blocks of one batched message of n rows.
type blockDecoder struct {
	mem   memory.Allocator
	s     *Schema
	msg   []byte
	n     int
	owner *memory.Buffer // holds msg: buffers are views of it; nil: copies
}

// buffer returns b, a piece of the message, as an Arrow buffer: a view of
// it, or a copy.
func (d *blockDecoder) buffer(b []byte) *memory.Buffer {
	if d.owner != nil {
		if len(b) == 0 {
			return memory.NewBufferBytes(nil)
		}
		at := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(d.msg))))
		return memory.SliceBuffer(d.owner, at, len(b))
	}
	buf := memory.NewResizableBuffer(d.mem)
	buf.Resize(len(b))
	copy(buf.Bytes(), b)
	return buf
}

// column decodes the block of column c at pos and returns the array and
// the position of the next block.
func (d *blockDecoder) column(c, pos int) (arrow.Array, int, error) {
	mem, msg, n := d.mem, d.msg, d.n
	col := d.s.Column(c)
	fail := func(at int, format string, args ...any) (arrow.Array, int, error) {
		return nil, 0, batchedError(at, col.Name, format, args...)
	}
	if len(msg)-pos < blockHeaderLen {
		return fail(pos, "truncated column block header")
	}
	flags := binary.LittleEndian.Uint32(msg[pos:])
	bodyLen := int64(binary.LittleEndian.Uint32(msg[pos+4:]))
	if flags&^flagValidity != 0 {
		return fail(pos, "unknown flags %#x", flags)
	}
	bodyStart := pos + blockHeaderLen
	if bodyLen > int64(len(msg)-bodyStart) {
		return fail(pos+4, "body of %d bytes overruns the message (%d bytes left)", bodyLen, len(msg)-bodyStart)
	}
	body := msg[bodyStart : bodyStart+int(bodyLen) : bodyStart+int(bodyLen)]
	next := bodyStart + align8(int(bodyLen))
	if next > len(msg) {
		return fail(bodyStart+int(bodyLen), "missing padding after the column block")
	}
	var validity *memory.Buffer
	nulls := 0
	at := 0
	if flags&flagValidity != 0 {
		vl := align8(bitmapLen(n))
		if len(body) < vl {
			return fail(bodyStart, "validity bitmap needs %d bytes, body has %d", vl, len(body))
		}
		bm := body[:bitmapLen(n)]
		nulls = n - bitutil.CountSetBits(bm, 0, n)
		if nulls > 0 && !col.Nullable {
			return fail(bodyStart, "%d nulls in a column that is not nullable", nulls)
		}
		if nulls > 0 {
			validity = d.buffer(bm)
			clearTrailingBits(validity.Bytes(), n)
		}
		at = vl
	}
	vals := body[at:]
	release := func(bufs ...*memory.Buffer) {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}
	fixed := func(width int) (*memory.Buffer, error) {
		if len(vals) != width*n {
			return nil, batchedError(bodyStart+at, col.Name, "%s values need %d bytes, body has %d", col.Type, width*n, len(vals))
		}
		if d.owner != nil {
			return d.buffer(vals), nil
		}
		b := memory.NewResizableBuffer(mem)
		b.Resize(width * n)
		switch width {
		case 8:
			dst := arrow.Uint64Traits.CastFromBytes(b.Bytes())
			for i := range dst {
				dst[i] = binary.LittleEndian.Uint64(vals[8*i:])
			}
		default:
			dst := arrow.Uint32Traits.CastFromBytes(b.Bytes())
			for i := range dst {
				dst[i] = binary.LittleEndian.Uint32(vals[4*i:])
			}
		}
		return b, nil
	}
	var buffers []*memory.Buffer
	switch col.Type {
	case TypeInt64, TypeTimestamp, TypeFloat64, TypeDate:
		width := 8
		if col.Type == TypeDate {
			width = 4
		}
		b, err := fixed(width)
		if err != nil {
			release(validity)
			return nil, 0, err
		}
		buffers = []*memory.Buffer{validity, b}
	case TypeBool:
		if len(vals) != bitmapLen(n) {
			release(validity)
			return fail(bodyStart+at, "bool values need %d bytes, body has %d", bitmapLen(n), len(vals))
		}
		b := d.buffer(vals)
		clearTrailingBits(b.Bytes(), n)
		buffers = []*memory.Buffer{validity, b}
	case TypeString, TypeBinary:
		offs, data, err := d.decodeVar(col, vals, bodyStart+at)
		if err != nil {
			release(validity)
			return nil, 0, err
		}
		buffers = []*memory.Buffer{validity, offs, data}
	case TypeDecimal:
		arr, err := decodeDecimals(mem, col, vals, n, validity, bodyStart+at)
		release(validity)
		if err != nil {
			return nil, 0, err
		}
		return arr, next, nil
	}
	data := array.NewData(col.arrowType(), n, buffers, nil, nulls, 0)
	release(buffers...)
	arr := array.MakeFromData(data)
	data.Release()
	return arr, next, nil
}

// splitVar validates the offsets of a variable-length values region and
// returns the offsets region and the data.
func splitVar(col Column, vals []byte, n, base int) (offs []byte, data []byte, err error) {
	if len(vals) < 4*(n+1) {
		return nil, nil, batchedError(base, col.Name, "offsets need %d bytes, body has %d", 4*(n+1), len(vals))
	}
	offs, data = vals[:4*(n+1)], vals[4*(n+1):]
	if o := binary.LittleEndian.Uint32(offs); o != 0 {
		return nil, nil, batchedError(base, col.Name, "first offset is %d, want 0", o)
	}
	if last := binary.LittleEndian.Uint32(offs[4*n:]); int64(last) != int64(len(data)) {
		return nil, nil, batchedError(base+4*n, col.Name, "last offset %d does not match the %d data bytes", last, len(data))
	}
	if len(data) > math.MaxInt32 {
		return nil, nil, batchedError(base, col.Name, "%d data bytes exceed the Arrow limit", len(data))
	}
	prev := uint32(0)
	for i := 1; i <= n; i++ {
		o := binary.LittleEndian.Uint32(offs[4*i:])
		if o < prev {
			return nil, nil, batchedError(base+4*i, col.Name, "offset %d of row %d is below the previous %d", o, i, prev)
		}
		prev = o
	}
	return offs, data, nil
}

// decodeVar checks the values region of a string or binary column and
// returns its offsets and data buffers.
func (d *blockDecoder) decodeVar(col Column, vals []byte, base int) (*memory.Buffer, *memory.Buffer, error) {
	n := d.n
	offs, data, err := splitVar(col, vals, n, base)
	if err != nil {
		return nil, nil, err
	}
	if col.Type == TypeString {
		if !utf8.Valid(data) {
			return nil, nil, batchedError(base+len(offs), col.Name, "string data is not valid UTF-8")
		}
		for i := 1; i < n; i++ {
			if o := binary.LittleEndian.Uint32(offs[4*i:]); int(o) < len(data) && !utf8.RuneStart(data[o]) {
				return nil, nil, batchedError(base+4*i, col.Name, "offset %d of row %d splits a UTF-8 character", o, i+1)
			}
		}
	}
	if d.owner != nil { // u32 offsets that splitVar found within int32: Arrow's int32 offsets
		return d.buffer(offs), d.buffer(data), nil
	}
	ob := memory.NewResizableBuffer(d.mem)
	ob.Resize(4 * (n + 1))
	dst := arrow.Int32Traits.CastFromBytes(ob.Bytes())
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(offs[4*i:]))
	}
	return ob, d.buffer(data), nil
}

func decodeDecimals(mem memory.Allocator, col Column, vals []byte, n int, validity *memory.Buffer, base int) (arrow.Array, error) {
	offs, data, err := splitVar(col, vals, n, base)
	if err != nil {
		return nil, err
	}
	b := array.NewDecimal128Builder(mem, col.arrowType().(*arrow.Decimal128Type))
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if validity != nil && !bitutil.BitIsSet(validity.Bytes(), i) {
			b.AppendNull()
			continue
		}
		lo, hi := binary.LittleEndian.Uint32(offs[4*i:]), binary.LittleEndian.Uint32(offs[4*i+4:])
		if v, ok := parseDecimalFast(data[lo:hi], col.Precision, col.Scale); ok {
			b.Append(v)
			continue
		}
		v, err := parseDecimalText(string(data[lo:hi]), col.Precision, col.Scale)
		if err != nil {
			return nil, batchedError(base+len(offs)+int(lo), col.Name, "row %d: %v", i+1, err)
		}
		b.Append(v)
	}
	return b.NewArray(), nil
}

// offsetsArray is implemented by *array.String and *array.Binary.
type offsetsArray interface{ ValueOffsets() []int32 }
