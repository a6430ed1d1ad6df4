package wire

import (
	"encoding/binary"
	"fmt"
)

// Event is an EVENT frame: a fire-and-forget named message (§3.5).
type Event struct {
	// Flags holds the compression bits of Data; other bits are dropped.
	Flags uint8
	// Name is 1–255 bytes.
	Name string
	// Data is the payload as on the wire (compressed if Flags say so).
	Data []byte
}

// Type returns TypeEvent.
func (Event) Type() FrameType { return TypeEvent }

// Length returns the encoded length, header included.
func (f Event) Length() int {
	return HeaderLen + eventFixed + len(clampString(f.Name, MaxNameLen)) + len(f.Data)
}

// Append appends the encoded frame to b. Name is cut to 255 bytes.
func (f Event) Append(b []byte) []byte {
	b = AppendEventHeader(b, f.Flags, f.Name, len(f.Data))
	return append(b, f.Data...)
}

// Validate reports an empty or oversize name.
func (f Event) Validate() error { return validateName(TypeEvent, f.Name) }

// AppendEventHeader appends an EVENT frame up to and including its name; the
// caller sends the dataLen data bytes after it. Name is cut to 255 bytes.
func AppendEventHeader(b []byte, flags uint8, name string, dataLen int) []byte {
	name = clampString(name, MaxNameLen)
	b = AppendHeader(b, Header{
		Type: TypeEvent, Flags: flags & FlagCompressMask,
		Length: uint32(eventFixed + len(name) + dataLen),
	})
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// ParseEvent parses the payload of an EVENT frame. Data aliases p.
func ParseEvent(h Header, p []byte) (Event, error) {
	if err := checkHeader(TypeEvent, h, idZero); err != nil {
		return Event{}, err
	}
	name, data, err := parseName(h, p, 0)
	if err != nil {
		return Event{}, err
	}
	return Event{Flags: h.Flags & FlagCompressMask, Name: name, Data: data}, nil
}

// Request is a REQUEST frame: a named message answered by exactly one REPLY.
type Request struct {
	// ID is the request id (non-zero, carried in the header's stream id).
	ID uint32
	// Flags holds the compression bits of Data; other bits are dropped.
	Flags uint8
	// TimeoutMS is the requester's timeout in milliseconds; 0 = receiver's
	// default.
	TimeoutMS uint32
	// Name is 1–255 bytes.
	Name string
	// Data is the payload as on the wire (compressed if Flags say so).
	Data []byte
}

// Type returns TypeRequest.
func (Request) Type() FrameType { return TypeRequest }

// Length returns the encoded length, header included.
func (f Request) Length() int {
	return HeaderLen + requestFixed + len(clampString(f.Name, MaxNameLen)) + len(f.Data)
}

// Append appends the encoded frame to b. Name is cut to 255 bytes.
func (f Request) Append(b []byte) []byte {
	b = AppendRequestHeader(b, f.ID, f.Flags, f.TimeoutMS, f.Name, len(f.Data))
	return append(b, f.Data...)
}

// Validate reports request id 0 or an empty or oversize name.
func (f Request) Validate() error {
	if err := checkID(TypeRequest, f.ID, idNonZero); err != nil {
		return err
	}
	return validateName(TypeRequest, f.Name)
}

// AppendRequestHeader appends a REQUEST frame up to and including its name;
// the caller sends the dataLen data bytes after it. Name is cut to 255 bytes.
func AppendRequestHeader(b []byte, id uint32, flags uint8, timeoutMS uint32, name string, dataLen int) []byte {
	name = clampString(name, MaxNameLen)
	b = AppendHeader(b, Header{
		Type: TypeRequest, Flags: flags & FlagCompressMask, StreamID: id,
		Length: uint32(requestFixed + len(name) + dataLen),
	})
	b = binary.BigEndian.AppendUint32(b, timeoutMS)
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// ParseRequest parses the payload of a REQUEST frame. Data aliases p.
func ParseRequest(h Header, p []byte) (Request, error) {
	if err := checkHeader(TypeRequest, h, idNonZero); err != nil {
		return Request{}, err
	}
	if len(p) < requestFixed {
		return Request{}, errShort(h, len(p), requestFixed)
	}
	name, data, err := parseName(h, p, 4)
	if err != nil {
		return Request{}, err
	}
	return Request{
		ID: h.StreamID, Flags: h.Flags & FlagCompressMask,
		TimeoutMS: binary.BigEndian.Uint32(p), Name: name, Data: data,
	}, nil
}

// Reply is a REPLY frame: the answer to REQUEST ID. Code 0 is success with
// Data; another code is an error and Data is its UTF-8 reason.
type Reply struct {
	// ID is the request id being answered.
	ID uint32
	// Flags holds the compression bits of Data; other bits are dropped.
	Flags uint8
	// Code is CodeNoError on success.
	Code Code
	// Data is the payload as on the wire (compressed if Flags say so).
	Data []byte
}

// Type returns TypeReply.
func (Reply) Type() FrameType { return TypeReply }

// Length returns the encoded length, header included.
func (f Reply) Length() int { return HeaderLen + codeFixed + len(f.Data) }

// Append appends the encoded frame to b.
func (f Reply) Append(b []byte) []byte {
	b = AppendReplyHeader(b, f.ID, f.Flags, f.Code, len(f.Data))
	return append(b, f.Data...)
}

// Validate reports request id 0.
func (f Reply) Validate() error { return checkID(TypeReply, f.ID, idNonZero) }

// AppendReplyHeader appends a REPLY frame up to and including its code; the
// caller sends the dataLen data bytes after it.
func AppendReplyHeader(b []byte, id uint32, flags uint8, code Code, dataLen int) []byte {
	b = AppendHeader(b, Header{
		Type: TypeReply, Flags: flags & FlagCompressMask, StreamID: id,
		Length: uint32(codeFixed + dataLen),
	})
	return binary.BigEndian.AppendUint32(b, uint32(code))
}

// ParseReply parses the payload of a REPLY frame. Data aliases p.
func ParseReply(h Header, p []byte) (Reply, error) {
	if err := checkHeader(TypeReply, h, idNonZero); err != nil {
		return Reply{}, err
	}
	if len(p) < codeFixed {
		return Reply{}, errShort(h, len(p), codeFixed)
	}
	return Reply{
		ID: h.StreamID, Flags: h.Flags & FlagCompressMask,
		Code: Code(binary.BigEndian.Uint32(p)), Data: p[codeFixed:],
	}, nil
}

// parseName reads "name length u8, name" at p[at:] and returns the name and
// the bytes after it.
func parseName(h Header, p []byte, at int) (string, []byte, error) {
	if len(p) < at+1 {
		return "", nil, errShort(h, len(p), at+1)
	}
	n := int(p[at])
	if n == 0 {
		return "", nil, fmt.Errorf("%w: %s frame (id %d): empty name", ErrProtocol, h.Type, h.StreamID)
	}
	if at+1+n > len(p) {
		return "", nil, fmt.Errorf("%w: %s frame (id %d): name length %d runs past the payload (%d bytes)",
			ErrProtocol, h.Type, h.StreamID, n, len(p))
	}
	return string(p[at+1 : at+1+n]), p[at+1+n:], nil
}

func validateName(t FrameType, name string) error {
	if name == "" {
		return errValidate(t, "empty name")
	}
	if len(name) > MaxNameLen {
		return errValidate(t, "name is %d bytes, at most %d", len(name), MaxNameLen)
	}
	return nil
}
