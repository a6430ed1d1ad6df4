package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Message buffers on the receiving side. ReceiveFramed and ExportReader read
// each batch message into a buffer of their own and hand it to the decoder,
// whose records then view it instead of copying it (see
// Consumer.decodeOwned). The buffers come from msgPool and return to it when
// the last record using one is released: a long export allocates (and the
// garbage collector clears) almost nothing per message.

// Pooled buffer sizes: powers of two from 1<<poolMinShift to 1<<poolMaxShift
// bytes. Smaller and larger messages get plain memory.
const (
	poolMinShift = 10
	poolMaxShift = 26
)

// bufPool recycles message buffers by size class. It is a memory.Allocator
// only so that a memory.Buffer can give a buffer back when its reference
// count drops to zero; every buffer it frees must come from get or
// Allocate. The garbage collector empties it (sync.Pool), so it holds at
// most the buffers freed since the last collections.
type bufPool struct {
	classes [poolMaxShift - poolMinShift + 1]sync.Pool // of *byte, the start of a 1<<(shift) byte array
	// poison makes Free overwrite each buffer, so that a use after release
	// shows in the data (tests).
	poison atomic.Bool
}

// msgPool is the pool of every receiving path of this package.
var msgPool bufPool

// poolClass returns the class of a size-byte buffer and the class's size,
// or -1 for a size not pooled.
func poolClass(size int) (int, int) {
	if size <= 0 || size > 1<<poolMaxShift {
		return -1, 0
	}
	shift := max(bits.Len(uint(size-1)), poolMinShift)
	return shift - poolMinShift, 1 << shift
}

// Allocate implements memory.Allocator: size bytes whose capacity is size,
// contents undefined.
func (p *bufPool) Allocate(size int) []byte {
	c, n := poolClass(size)
	if c < 0 {
		return make([]byte, size)
	}
	var full []byte
	if v := p.classes[c].Get(); v != nil {
		full = unsafe.Slice(v.(*byte), n)
	} else {
		full = make([]byte, n)
	}
	return full[:size:size] // no slicing into the rest of the class
}

// Reallocate implements memory.Allocator.
func (p *bufPool) Reallocate(size int, b []byte) []byte {
	out := p.Allocate(size)
	copy(out, b)
	p.Free(b)
	return out
}

// Free implements memory.Allocator: b (whole, as Allocate returned it)
// goes back to its class.
func (p *bufPool) Free(b []byte) {
	c, n := poolClass(len(b))
	if c < 0 {
		return
	}
	full := unsafe.Slice(unsafe.SliceData(b), n)
	if p.poison.Load() {
		for i := range full {
			full[i] = 0xA5
		}
	}
	p.classes[c].Put(unsafe.SliceData(full))
}

// get returns a buffer of size bytes (reference count 1, contents
// undefined) that returns to p when released.
func (p *bufPool) get(size int) *memory.Buffer {
	return memory.NewBufferWithAllocator(p.Allocate(size), p)
}

// readPrefix reads a message's length prefix and checks it against max (see
// ReadMessage).
func readPrefix(r io.Reader, max int) (int, error) {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	var hdr [4]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) && n == 0 {
			return 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, &InputError{Format: "framing", Offset: -1, Err: fmt.Errorf("length prefix: %w", err)}
		}
		return 0, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if int64(size) > int64(max) {
		return 0, &MessageSizeError{Size: int64(size), Limit: int64(max)}
	}
	return int(size), nil
}

// readBody fills b with the rest of a message.
func readBody(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &InputError{Format: "framing", Offset: -1, Err: fmt.Errorf("message of %d bytes: %w", len(b), io.ErrUnexpectedEOF)}
		}
		return err
	}
	return nil
}

// framedReader reads length-prefixed messages for a decoder: each into a
// pooled buffer that it hands over, or, once reuse is set (the rows layout,
// whose decoder copies every value), all into one scratch buffer.
type framedReader struct {
	r       io.Reader
	max     int
	reuse   bool
	scratch []byte
}

// next reads the next message: its bytes and, unless reuse is set, the
// buffer holding them, whose reference passes to the caller. It returns
// the errors of ReadMessage.
func (f *framedReader) next() ([]byte, *memory.Buffer, error) {
	size, err := readPrefix(f.r, f.max)
	if err != nil {
		return nil, nil, err
	}
	if f.reuse {
		if cap(f.scratch) < size {
			f.scratch = make([]byte, size)
		}
		f.scratch = f.scratch[:size]
		return f.scratch, nil, readBody(f.r, f.scratch)
	}
	buf := msgPool.get(size)
	if err := readBody(f.r, buf.Bytes()); err != nil {
		buf.Release()
		return nil, nil, err
	}
	return buf.Bytes(), buf, nil
}

// header reads and parses the header message, and sets reuse for the rows
// layout.
func (f *framedReader) header() (Header, error) {
	b, buf, err := f.next()
	if buf != nil {
		defer buf.Release()
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: stream ended before the header", ErrInvalidHeader)
		}
		return Header{}, err
	}
	h, err := ParseHeader(b)
	f.reuse = err == nil && h.Layout == LayoutRows
	return h, err
}
