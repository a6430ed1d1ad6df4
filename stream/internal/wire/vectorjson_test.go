package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// This file converts frames to and from the JSON form used in
// testdata/wire/vectors.json (schema: testdata/wire/README.md).

// jsonObj is a JSON object that keeps its member order.
type jsonObj []jsonMember

type jsonMember struct {
	key string
	val any
}

func (o jsonObj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m.val); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }

func hexs(b []byte) string { return hex.EncodeToString(b) }

// frameJSON returns the vector form of f: "type", "flags" and "streamId" as
// in the header, then the payload fields.
func frameJSON(f Frame) jsonObj {
	o := jsonObj{{"type", f.Type().String()}}
	head := func(flags uint8, id uint32) { o = append(o, jsonMember{"flags", flags}, jsonMember{"streamId", id}) }
	add := func(k string, v any) { o = append(o, jsonMember{k, v}) }
	switch f := f.(type) {
	case Hello:
		head(0, 0)
		add("json", string(f.JSON))
	case Welcome:
		head(0, 0)
		add("json", string(f.JSON))
	case Open:
		head(f.Flags&FlagChecksum, f.StreamID)
		add("kind", uint8(f.Kind))
		add("priority", f.Priority)
		add("window", u64s(f.Window))
		add("route", f.Route)
		add("metadata", string(f.Metadata))
	case Accept:
		head(0, f.StreamID)
		add("window", u64s(f.Window))
		add("metadata", string(f.Metadata))
	case Data:
		head(f.Flags&FlagCompressMask, f.StreamID)
		add("offset", u64s(f.Offset))
		add("data", hexs(f.Data))
	case Credit:
		head(0, f.StreamID)
		add("limit", u64s(f.Limit))
	case Pause:
		head(0, f.StreamID)
	case Resume:
		head(0, f.StreamID)
	case Close:
		if f.HasChecksum {
			head(FlagChecksum, f.StreamID)
			add("total", u64s(f.Total))
			add("checksum", hexs(f.SHA256[:]))
		} else {
			head(0, f.StreamID)
			add("total", u64s(f.Total))
		}
	case Cancel:
		head(0, f.StreamID)
		add("code", uint32(f.Code))
		add("reason", f.Reason)
	case Error:
		head(0, f.StreamID)
		add("code", uint32(f.Code))
		add("reason", f.Reason)
	case Ping:
		head(0, 0)
		add("data", hexs(f.Data[:]))
	case Pong:
		head(0, 0)
		add("data", hexs(f.Data[:]))
	case GoAway:
		head(0, 0)
		add("lastStreamId", f.LastStreamID)
		add("code", uint32(f.Code))
		add("reason", f.Reason)
	case Event:
		head(f.Flags&FlagCompressMask, 0)
		add("name", f.Name)
		add("data", hexs(f.Data))
	case Request:
		head(f.Flags&FlagCompressMask, f.ID)
		add("timeoutMs", f.TimeoutMS)
		add("name", f.Name)
		add("data", hexs(f.Data))
	case Reply:
		head(f.Flags&FlagCompressMask, f.ID)
		add("code", uint32(f.Code))
		add("data", hexs(f.Data))
	case Checkpoint:
		head(0, f.StreamID)
		add("offset", u64s(f.Offset))
		add("token", hexs(f.Token))
	case Ack:
		if f.Fin {
			head(FlagFin, f.StreamID)
		} else {
			head(0, f.StreamID)
		}
		add("received", u64s(f.Received))
	default:
		panic(fmt.Sprintf("frameJSON: %T", f))
	}
	return o
}

// jsonReader reads the members of one vector frame object and reports
// missing, mistyped and unused members.
type jsonReader struct {
	m    map[string]json.RawMessage
	used map[string]bool
	err  error
}

func (r *jsonReader) raw(k string) json.RawMessage {
	r.used[k] = true
	v, ok := r.m[k]
	if !ok && r.err == nil {
		r.err = fmt.Errorf("member %q missing", k)
	}
	return v
}

func (r *jsonReader) into(k string, v any) {
	raw := r.raw(k)
	if raw == nil || r.err != nil {
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		r.err = fmt.Errorf("member %q: %w", k, err)
	}
}

func (r *jsonReader) u8(k string) uint8   { var v uint8; r.into(k, &v); return v }
func (r *jsonReader) u32(k string) uint32 { var v uint32; r.into(k, &v); return v }
func (r *jsonReader) str(k string) string { var v string; r.into(k, &v); return v }

func (r *jsonReader) u64(k string) uint64 {
	s := r.str(k)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("member %q: %w", k, err)
	}
	return v
}

func (r *jsonReader) bytes(k string) []byte {
	b, err := hex.DecodeString(r.str(k))
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("member %q: %w", k, err)
	}
	return b
}

func (r *jsonReader) has(k string) bool { _, ok := r.m[k]; return ok }

// frameFromJSON builds the frame a vector's "frame" object describes.
func frameFromJSON(raw json.RawMessage) (Frame, error) {
	r := &jsonReader{used: map[string]bool{}}
	if err := json.Unmarshal(raw, &r.m); err != nil {
		return nil, err
	}
	ty, ok := ParseFrameType(r.str("type"))
	if !ok {
		return nil, fmt.Errorf("unknown type %s", r.m["type"])
	}
	flags, id := r.u8("flags"), r.u32("streamId")
	var f Frame
	switch ty {
	case TypeHello:
		f = Hello{JSON: []byte(r.str("json"))}
	case TypeWelcome:
		f = Welcome{JSON: []byte(r.str("json"))}
	case TypeOpen:
		f = Open{StreamID: id, Flags: flags, Kind: Kind(r.u8("kind")), Priority: r.u8("priority"),
			Window: r.u64("window"), Route: r.str("route"), Metadata: []byte(r.str("metadata"))}
	case TypeAccept:
		f = Accept{StreamID: id, Window: r.u64("window"), Metadata: []byte(r.str("metadata"))}
	case TypeData:
		f = Data{StreamID: id, Flags: flags, Offset: r.u64("offset"), Data: r.bytes("data")}
	case TypeCredit:
		f = Credit{StreamID: id, Limit: r.u64("limit")}
	case TypePause:
		f = Pause{StreamID: id}
	case TypeResume:
		f = Resume{StreamID: id}
	case TypeClose:
		c := Close{StreamID: id, Total: r.u64("total"), HasChecksum: flags&FlagChecksum != 0}
		if c.HasChecksum || r.has("checksum") {
			sum := r.bytes("checksum")
			if len(sum) != 32 && r.err == nil {
				r.err = fmt.Errorf("checksum has %d bytes", len(sum))
			}
			copy(c.SHA256[:], sum)
		}
		f = c
	case TypeCancel:
		f = Cancel{StreamID: id, Code: Code(r.u32("code")), Reason: r.str("reason")}
	case TypeError:
		f = Error{StreamID: id, Code: Code(r.u32("code")), Reason: r.str("reason")}
	case TypePing:
		f = Ping{Data: [8]byte(append(r.bytes("data"), make([]byte, 8)...)[:8])}
	case TypePong:
		f = Pong{Data: [8]byte(append(r.bytes("data"), make([]byte, 8)...)[:8])}
	case TypeGoAway:
		f = GoAway{LastStreamID: r.u32("lastStreamId"), Code: Code(r.u32("code")), Reason: r.str("reason")}
	case TypeEvent:
		f = Event{Flags: flags, Name: r.str("name"), Data: r.bytes("data")}
	case TypeRequest:
		f = Request{ID: id, Flags: flags, TimeoutMS: r.u32("timeoutMs"), Name: r.str("name"), Data: r.bytes("data")}
	case TypeReply:
		f = Reply{ID: id, Flags: flags, Code: Code(r.u32("code")), Data: r.bytes("data")}
	case TypeCheckpoint:
		f = Checkpoint{StreamID: id, Offset: r.u64("offset"), Token: r.bytes("token")}
	case TypeAck:
		f = Ack{StreamID: id, Fin: flags&FlagFin != 0, Received: r.u64("received")}
	}
	if r.err != nil {
		return nil, r.err
	}
	var unused []string
	for k := range r.m {
		if !r.used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("%s: unexpected members %v", ty, unused)
	}
	return f, nil
}
