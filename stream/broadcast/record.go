package broadcast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// RecordType says what a broadcast record carries (docs/PROTOCOL.md §9).
type RecordType uint8

// Record types. Receivers skip types they do not know.
const (
	// TypeData is one published record (a log line without its newline).
	TypeData RecordType = 0x01
	// TypeGap reports records the subscriber will never get: its queue
	// overflowed (drop-oldest) or the replay ring no longer holds them.
	TypeGap RecordType = 0x02
	// TypeEpoch says which epoch the records that follow belong to. It opens
	// every subscription and comes again whenever the source restarted.
	TypeEpoch RecordType = 0x03
)

func (t RecordType) String() string {
	switch t {
	case TypeData:
		return "DATA"
	case TypeGap:
		return "GAP"
	case TypeEpoch:
		return "EPOCH"
	}
	return fmt.Sprintf("RecordType(0x%02x)", uint8(t))
}

// Wire sizes of records.
const (
	// RecordHeaderLen is the length (u32) and type (u8) before every body.
	RecordHeaderLen = 5
	// DataOverhead is the encoded size of a DATA record beyond its data: the
	// header and the sequence number.
	DataOverhead = RecordHeaderLen + 8
	gapBodyLen   = 16
	epochBodyLen = 16
)

// UnknownBytes is the Bytes of a GAP record whose byte count the server cannot
// know (a resume from a position the replay ring evicted long ago).
const UnknownBytes = math.MaxUint64

// Errors of the record codec.
var (
	// ErrMalformedRecord is a record whose length does not fit its type.
	ErrMalformedRecord = errors.New("broadcast: malformed record")
	// ErrRecordTooLarge is a record over the largest data size allowed.
	ErrRecordTooLarge = errors.New("broadcast: record too large")
)

// Position names a DATA record of a topic: the source's epoch and the record's
// sequence number in that epoch (1 for the first record of an epoch). Both stay
// below 2^53 so that JSON numbers carry them exactly.
type Position struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Epoch, p.Seq) }

// Record is one decoded broadcast record. Which fields are set depends on Type:
//
//	TypeData   Seq, Data (and Epoch: filled in by Subscription, not on the wire)
//	TypeGap    Records, Bytes (UnknownBytes when the server cannot know)
//	TypeEpoch  Epoch, Previous; Changed (filled in by Subscription)
//
// Records of unknown types keep their body in Data.
type Record struct {
	Type RecordType
	// Epoch is the epoch of a DATA record, or the epoch an EPOCH record announces.
	Epoch uint64
	// Seq is a DATA record's sequence number in its epoch.
	Seq uint64
	// Data is a DATA record's payload. Records returned by Subscription.Next
	// share its buffer: Data is valid until the next call to Next.
	Data []byte
	// Records and Bytes count what a GAP record reports lost: DATA records and
	// their data bytes.
	Records, Bytes uint64
	// Previous is, in an EPOCH record, the epoch the subscriber was in (or
	// asked to resume in); 0 when it had none.
	Previous uint64
	// Changed marks an EPOCH record that announces a different epoch than the
	// subscriber was in: the source restarted (computed: Previous != 0 &&
	// Previous != Epoch).
	Changed bool
}

// Position returns the position of a DATA record.
func (r *Record) Position() Position { return Position{Epoch: r.Epoch, Seq: r.Seq} }

// EncodedLen returns the bytes AppendRecord writes for r.
func (r *Record) EncodedLen() int {
	switch r.Type {
	case TypeData:
		return DataOverhead + len(r.Data)
	case TypeGap:
		return RecordHeaderLen + gapBodyLen
	case TypeEpoch:
		return RecordHeaderLen + epochBodyLen
	}
	return RecordHeaderLen + len(r.Data)
}

// AppendRecord appends the wire form of r to b. A record of an unknown type is
// written with Data as its body.
func AppendRecord(b []byte, r *Record) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(r.EncodedLen()-RecordHeaderLen))
	b = append(b, byte(r.Type))
	switch r.Type {
	case TypeData:
		b = binary.BigEndian.AppendUint64(b, r.Seq)
		b = append(b, r.Data...)
	case TypeGap:
		b = binary.BigEndian.AppendUint64(b, r.Records)
		b = binary.BigEndian.AppendUint64(b, r.Bytes)
	case TypeEpoch:
		b = binary.BigEndian.AppendUint64(b, r.Epoch)
		b = binary.BigEndian.AppendUint64(b, r.Previous)
	default:
		b = append(b, r.Data...)
	}
	return b
}

// ParseRecord decodes the record at the start of b and returns it with its
// encoded length. Data aliases b. maxData bounds a record's data (and the body
// of an unknown type): the length is checked before the body is needed, so a
// reader never buffers more than RecordHeaderLen+8+maxData bytes for one record.
//
// Empty input gives io.EOF; a partial record gives an error matching
// io.ErrUnexpectedEOF (read more and try again); a length that does not fit the
// type gives ErrMalformedRecord, one above the bound ErrRecordTooLarge.
func ParseRecord(b []byte, maxData int) (Record, int, error) {
	if len(b) == 0 {
		return Record{}, 0, io.EOF
	}
	if len(b) < RecordHeaderLen {
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	length := uint64(binary.BigEndian.Uint32(b))
	typ := RecordType(b[4])
	switch typ {
	case TypeData:
		if length < 8 {
			return Record{}, 0, fmt.Errorf("%w: DATA body of %d bytes (at least 8)", ErrMalformedRecord, length)
		}
	case TypeGap, TypeEpoch:
		if length != 16 {
			return Record{}, 0, fmt.Errorf("%w: %s body of %d bytes (exactly 16)", ErrMalformedRecord, typ, length)
		}
	}
	if length > 8+uint64(maxData) {
		return Record{}, 0, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrRecordTooLarge, typ, length, 8+maxData)
	}
	n := RecordHeaderLen + int(length)
	if len(b) < n {
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	body := b[RecordHeaderLen:n:n]
	r := Record{Type: typ}
	switch typ {
	case TypeData:
		r.Seq = binary.BigEndian.Uint64(body)
		r.Data = body[8:]
	case TypeGap:
		r.Records = binary.BigEndian.Uint64(body)
		r.Bytes = binary.BigEndian.Uint64(body[8:])
	case TypeEpoch:
		r.Epoch = binary.BigEndian.Uint64(body)
		r.Previous = binary.BigEndian.Uint64(body[8:])
		r.Changed = r.Previous != 0 && r.Previous != r.Epoch
	default:
		r.Data = body
	}
	return r, n, nil
}
