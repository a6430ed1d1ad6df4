package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The arrow layout (docs/DATASET.md, "Layout arrow"): after the header, the
// first message is the Arrow IPC encapsulated Schema message, each later
// message is exactly one encapsulated RecordBatch message (0xFFFFFFFF,
// int32 metadata length, flatbuffer Message padded to 8, body). No
// dictionary messages are sent (no dictionary-encoded columns exist) and no
// end-of-stream marker: the stream's own end says that. Concatenating the
// messages and appending 0xFFFFFFFF 0x00000000 gives a valid Arrow IPC
// stream, which is how a browser hands them to apache-arrow.

// arrowSchemaMessage returns the encapsulated IPC Schema message of s.
func arrowSchemaMessage(mem memory.Allocator, s *Schema) ([]byte, error) {
	p := ipc.GetSchemaPayload(s.Arrow(), mem)
	defer p.Release()
	var buf bytes.Buffer
	if _, err := p.WritePayload(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeArrowBatch returns rec as one encapsulated IPC RecordBatch message.
func encodeArrowBatch(mem memory.Allocator, s *Schema, rec arrow.RecordBatch) ([]byte, error) {
	return appendArrowBatch(nil, mem, s, rec)
}

// appendArrowBatch appends rec to dst as one encapsulated IPC RecordBatch
// message. The body buffers are copied straight from rec into dst.
func appendArrowBatch(dst []byte, mem memory.Allocator, s *Schema, rec arrow.RecordBatch) ([]byte, error) {
	p, err := ipc.GetRecordBatchPayload(rec, ipc.WithAllocator(mem))
	if err != nil {
		return dst, err
	}
	defer p.Release()
	w := appendWriter{b: slices.Grow(dst, batchedSizeBound(s, rec)+512)}
	if _, err := p.WritePayload(&w); err != nil {
		return dst, err
	}
	return w.b, nil
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// arrowDecoder decodes the messages of the arrow layout with the Arrow IPC
// stream reader, one message at a time.
type arrowDecoder struct {
	mem    memory.Allocator
	schema *Schema
	feed   *messageFeed
	rdr    *ipc.Reader
}

// messageFeed is an ipc.MessageReader over whole messages handed in one at
// a time. A message handed over (setOwned) in the form this package writes
// is taken apart in place: the record's buffers point into it. Any other
// message gets its own size-limited reader, which copies the body, so a
// metadata or body length larger than the message itself is refused before
// anything is allocated for it.
type messageFeed struct {
	mem    memory.Allocator
	src    *bytes.Reader
	cur    ipc.MessageReader
	direct *ipc.Message // setOwned's message, until Message hands it out
	last   *ipc.Message // the direct message handed out last
}

func (f *messageFeed) set(msg []byte) {
	f.reset()
	f.src = bytes.NewReader(msg)
	limit := int64(len(msg))
	f.cur = ipc.NewMessageReader(f.src, ipc.WithAllocator(f.mem), ipc.WithBodySizeLimit(limit), ipc.WithMetadataSizeLimit(limit))
}

// setOwned feeds the message in owner, whose bytes the caller hands over,
// without copying its body if it is an encapsulated message (continuation
// marker, metadata padded to 8) whose body is 8-byte aligned in memory and
// exactly as long as its metadata says: the record's buffers will be views
// of owner (holding references to it). It reports false, having fed
// nothing, for any other message: the caller then uses set, whose reader
// reports what is wrong.
func (f *messageFeed) setOwned(owner *memory.Buffer) bool {
	msg := owner.Bytes()
	if len(msg) < 8 || binary.LittleEndian.Uint32(msg) != 0xFFFFFFFF {
		return false
	}
	metaLen := int(int32(binary.LittleEndian.Uint32(msg[4:])))
	if metaLen < 8 || metaLen%8 != 0 || metaLen > len(msg)-8 {
		return false
	}
	bodyLen := len(msg) - 8 - metaLen
	if bodyLen == 0 || cap(msg) != len(msg) || uintptr(unsafe.Pointer(unsafe.SliceData(msg)))%8 != 0 {
		return false // (a larger capacity would let Arrow slice beyond the message)
	}
	// The metadata is copied: it is small, and Arrow may keep pieces of it.
	meta := memory.NewBufferBytes(bytes.Clone(msg[8 : 8+metaLen]))
	body := memory.SliceBuffer(owner, 8+metaLen, bodyLen)
	defer body.Release()
	var m *ipc.Message
	err := safely(func() error {
		m = ipc.NewMessage(meta, body)
		if m.BodyLen() != int64(bodyLen) {
			return errors.New("body length differs")
		}
		return nil
	})
	if err != nil {
		if m != nil {
			m.Release()
		}
		return false
	}
	f.reset()
	f.direct = m
	return true
}

// reset drops the current message.
func (f *messageFeed) reset() {
	if f.cur != nil {
		f.cur.Release()
		f.cur = nil
	}
	if f.direct != nil {
		f.direct.Release()
		f.direct = nil
	}
	if f.last != nil {
		f.last.Release()
		f.last = nil
	}
	f.src = nil
}

// trailing returns how many bytes of the current message were not read.
func (f *messageFeed) trailing() int {
	if f.src == nil {
		return 0
	}
	return f.src.Len()
}

// Message implements ipc.MessageReader.
func (f *messageFeed) Message() (*ipc.Message, error) {
	if f.direct != nil {
		f.last, f.direct = f.direct, nil
		return f.last, nil
	}
	if f.cur == nil {
		return nil, io.EOF
	}
	return f.cur.Message()
}

// Retain implements ipc.MessageReader; the feed's lifetime is the decoder's.
func (f *messageFeed) Retain() {}

// Release implements ipc.MessageReader.
func (f *messageFeed) Release() {}

func (f *messageFeed) close() { f.reset() }

func newArrowDecoder(mem memory.Allocator, s *Schema) *arrowDecoder {
	return &arrowDecoder{mem: mem, schema: s, feed: &messageFeed{mem: mem}}
}

func arrowLayoutError(err error) error {
	return &InputError{Format: "arrow", Offset: -1, Err: err}
}

// decode consumes one message. The first must be the schema message, for
// which it returns a nil record.
// owner, if not nil, is the buffer holding msg, handed over: the record may
// view it (see messageFeed.setOwned).
func (d *arrowDecoder) decode(msg []byte, owner *memory.Buffer) (rec arrow.RecordBatch, err error) {
	if len(msg) >= 8 && binary.LittleEndian.Uint32(msg) == 0xFFFFFFFF && binary.LittleEndian.Uint32(msg[4:]) == 0 {
		return nil, arrowLayoutError(errors.New("unexpected end-of-stream marker"))
	}
	if owner == nil || d.rdr == nil || !d.feed.setOwned(owner) {
		d.feed.set(msg)
	}
	if d.rdr == nil {
		err = safely(func() error {
			var err error
			d.rdr, err = ipc.NewReaderFromMessageReader(d.feed, ipc.WithAllocator(d.mem))
			return err
		})
		if err != nil {
			return nil, arrowLayoutError(fmt.Errorf("schema message: %w", err))
		}
		if got, err := FromArrow(d.rdr.Schema()); err != nil || !got.Equal(d.schema) {
			return nil, arrowLayoutError(fmt.Errorf("%w: IPC schema %s differs from the header's %s", ErrSchemaMismatch, d.rdr.Schema(), d.schema.Arrow()))
		}
		if n := d.feed.trailing(); n != 0 {
			return nil, arrowLayoutError(fmt.Errorf("%d trailing bytes after the schema message", n))
		}
		return nil, nil
	}
	err = safely(func() error {
		if !d.rdr.Next() {
			if err := d.rdr.Err(); err != nil {
				return err
			}
			return errors.New("message holds no record batch")
		}
		rec = d.rdr.RecordBatch()
		rec.Retain()
		return nil
	})
	if err != nil {
		return nil, arrowLayoutError(err)
	}
	if n := d.feed.trailing(); n != 0 {
		rec.Release()
		return nil, arrowLayoutError(fmt.Errorf("%d trailing bytes after the record batch", n))
	}
	if err := validateRecord(d.schema, rec); err != nil {
		rec.Release()
		return nil, arrowLayoutError(err)
	}
	out := withSchema(d.schema, rec)
	rec.Release()
	return out, nil
}

func (d *arrowDecoder) close() {
	if d.rdr != nil {
		d.rdr.Release()
		d.rdr = nil
	}
	d.feed.close()
}

// safely runs f and turns a panic inside Arrow or Parquet code (which some
// corrupt inputs provoke) into an error.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt data: %v", r)
		}
	}()
	return f()
}

// withSchema returns rec with s's Arrow schema (same columns), retained;
// Arrow writers insist on pointer-equal or metadata-equal schemas.
func withSchema(s *Schema, rec arrow.RecordBatch) arrow.RecordBatch {
	if rec.Schema() == s.Arrow() {
		rec.Retain()
		return rec
	}
	return array.NewRecordBatch(s.Arrow(), rec.Columns(), rec.NumRows())
}

// validateRecord checks a record read from untrusted bytes: its columns match
// s, buffers are long enough, null counts agree with the bitmaps, offsets
// are monotonic and in bounds, strings are UTF-8 and decimals fit their
// precision. Decoders call it before any value is read.
func validateRecord(s *Schema, rec arrow.RecordBatch) error {
	return safely(func() error { return validateRecordUnsafe(s, rec) })
}

func validateRecordUnsafe(s *Schema, rec arrow.RecordBatch) error {
	if err := checkRecordTypes(s, rec); err != nil {
		return err
	}
	n := int(rec.NumRows())
	for c := 0; c < s.NumColumns(); c++ {
		col, arr := s.Column(c), rec.Column(c)
		if arr.Len() != n {
			return fmt.Errorf("column %q has %d values for %d rows", col.Name, arr.Len(), n)
		}
		data := arr.Data()
		off := data.Offset()
		bufs := data.Buffers()
		nulls := 0
		if len(bufs) > 0 && bufs[0] != nil && bufs[0].Len() > 0 {
			if bufs[0].Len() < bitmapLen(off+n) {
				return fmt.Errorf("column %q: validity bitmap too short", col.Name)
			}
			nulls = n - bitutil.CountSetBits(bufs[0].Bytes(), off, n)
		}
		if nulls != arr.NullN() {
			return fmt.Errorf("column %q: null count %d disagrees with the bitmap (%d)", col.Name, arr.NullN(), nulls)
		}
		if nulls > 0 && !col.Nullable {
			return fmt.Errorf("column %q is not nullable but has %d nulls", col.Name, nulls)
		}
		if err := validateValues(col, arr, off, n); err != nil {
			return fmt.Errorf("column %q: %w", col.Name, err)
		}
	}
	return nil
}

func validateValues(col Column, arr arrow.Array, off, n int) error {
	bufs := arr.Data().Buffers()
	need := func(i, size int) error {
		if len(bufs) <= i || (size > 0 && (bufs[i] == nil || bufs[i].Len() < size)) {
			return errors.New("values buffer too short")
		}
		return nil
	}
	switch a := arr.(type) {
	case *array.Int64, *array.Float64, *array.Timestamp:
		return need(1, 8*(off+n))
	case *array.Date32:
		return need(1, 4*(off+n))
	case *array.Boolean:
		return need(1, bitmapLen(off+n))
	case *array.Decimal128:
		if err := need(1, 16*(off+n)); err != nil {
			return err
		}
		return checkDecimals(a, col.Precision)
	case *array.Binary:
		_, _, err := validOffsets(bufs, off, n)
		return err
	case *array.String:
		offs, data, err := validOffsets(bufs, off, n)
		if err != nil {
			return err
		}
		data = data[offs[0]:offs[n]]
		if !utf8.Valid(data) {
			return errors.New("string data is not valid UTF-8")
		}
		for i := 1; i < n; i++ {
			if o := int(offs[i] - offs[0]); o < len(data) && !utf8.RuneStart(data[o]) {
				return fmt.Errorf("row %d splits a UTF-8 character", i+1)
			}
		}
	}
	return nil
}

// checkDecimals checks that every valid value of a fits precision.
func checkDecimals(a *array.Decimal128, precision int) error {
	vals, nulls := a.Values(), a.NullN() > 0
	if precision < len(pow10u64) { // |v| < 10^precision, v in int64 range: one comparison each
		lim := pow10u64[precision]
		for i, v := range vals {
			hi, lo := v.HighBits(), v.LowBits()
			if (hi == 0 && lo < lim) || (hi == -1 && lo > -lim) || (nulls && a.IsNull(i)) {
				continue
			}
			if err := checkDecimal(v, precision); err != nil {
				return err
			}
		}
		return nil
	}
	for i, v := range vals {
		if !nulls || a.IsValid(i) {
			if err := checkDecimal(v, precision); err != nil {
				return err
			}
		}
	}
	return nil
}

// validOffsets checks the offsets of a string or binary array (buffers
// validity, offsets, data) and returns its n+1 offsets and its data.
func validOffsets(bufs []*memory.Buffer, off, n int) ([]int32, []byte, error) {
	if len(bufs) < 3 || bufs[1] == nil || bufs[1].Len() < 4*(off+n+1) {
		if n == 0 {
			return []int32{0}, nil, nil
		}
		return nil, nil, errors.New("offsets buffer too short")
	}
	offs := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())[off : off+n+1]
	var data []byte
	if bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	if offs[0] < 0 {
		return nil, nil, fmt.Errorf("negative offset %d", offs[0])
	}
	for i := 1; i <= n; i++ {
		if offs[i] < offs[i-1] {
			return nil, nil, fmt.Errorf("offsets decrease at row %d", i)
		}
	}
	if int(offs[n]) > len(data) {
		return nil, nil, fmt.Errorf("offset %d beyond the %d data bytes", offs[n], len(data))
	}
	return offs, data, nil
}

// checkRecordTypes is checkRecord without the null check (validateRecord
// counts nulls itself).
func checkRecordTypes(s *Schema, rec arrow.RecordBatch) error {
	as := rec.Schema()
	if as.NumFields() != s.NumColumns() || int(rec.NumCols()) != s.NumColumns() {
		return mismatchErrorf("record has %d columns, schema %d", as.NumFields(), s.NumColumns())
	}
	for i := 0; i < as.NumFields(); i++ {
		if got, exp := as.Field(i), s.Arrow().Field(i); got.Name != exp.Name || !arrow.TypeEqual(got.Type, exp.Type) || !arrow.TypeEqual(rec.Column(i).DataType(), exp.Type) {
			return mismatchErrorf("column %d is %q %s, schema says %q %s", i, got.Name, got.Type, exp.Name, exp.Type)
		}
	}
	return nil
}
