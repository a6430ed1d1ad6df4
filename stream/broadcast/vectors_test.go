package broadcast

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/broadcast/vectors.json from the samples in this package")

const (
	vectorsPath = "../../testdata/broadcast/vectors.json"
	// vectorMaxRecord is the maxRecord every vector is decoded with.
	vectorMaxRecord = 1024
)

// The JSON schema is described in testdata/broadcast/README.md.
type vectorFile struct {
	Description string          `json:"description"`
	MaxRecord   int             `json:"maxRecord"`
	Records     []recordVector  `json:"records"`
	Streams     []streamVector  `json:"streams"`
	Invalid     []invalidVector `json:"invalid"`
}

type recordVector struct {
	Name   string     `json:"name"`
	Hex    string     `json:"hex"`
	Record recordJSON `json:"record"`
}

type streamVector struct {
	Name    string       `json:"name"`
	Note    string       `json:"note,omitempty"`
	Hex     string       `json:"hex"`
	Records []recordJSON `json:"records"`
}

type invalidVector struct {
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
}

// recordJSON is a record as the vectors show it: u64 values as decimal
// strings (exact in JavaScript via BigInt), data as hex.
type recordJSON struct {
	Type     string  `json:"type"`
	Seq      string  `json:"seq,omitempty"`
	Data     *string `json:"data,omitempty"` // present (maybe "") on DATA
	Records  string  `json:"records,omitempty"`
	Bytes    string  `json:"bytes,omitempty"`
	Epoch    string  `json:"epoch,omitempty"`
	Previous string  `json:"previous,omitempty"`
}

func toJSON(r Record) recordJSON {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch r.Type {
	case TypeData:
		d := hex.EncodeToString(r.Data)
		return recordJSON{Type: "DATA", Seq: u(r.Seq), Data: &d}
	case TypeGap:
		return recordJSON{Type: "GAP", Records: u(r.Records), Bytes: u(r.Bytes)}
	case TypeEpoch:
		return recordJSON{Type: "EPOCH", Epoch: u(r.Epoch), Previous: u(r.Previous)}
	}
	panic(fmt.Sprintf("no JSON form for %v", r.Type))
}

func fromJSON(t *testing.T, j recordJSON) Record {
	t.Helper()
	u := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "u64 %q", s)
		return v
	}
	switch j.Type {
	case "DATA":
		require.NotNil(t, j.Data, "DATA without data")
		d, err := hex.DecodeString(*j.Data)
		require.NoError(t, err)
		return Record{Type: TypeData, Seq: u(j.Seq), Data: d}
	case "GAP":
		return Record{Type: TypeGap, Records: u(j.Records), Bytes: u(j.Bytes)}
	case "EPOCH":
		r := Record{Type: TypeEpoch, Epoch: u(j.Epoch), Previous: u(j.Previous)}
		r.Changed = r.Previous != 0 && r.Previous != r.Epoch
		return r
	}
	t.Fatalf("unknown record type %q", j.Type)
	return Record{}
}

// buildVectors generates the vector file from the samples.
func buildVectors() vectorFile {
	v := vectorFile{
		Description: "streamd broadcast record vectors; schema in testdata/broadcast/README.md, spec in docs/PROTOCOL.md §9",
		MaxRecord:   vectorMaxRecord,
	}
	samples := sampleRecords()
	names := make([]string, 0, len(samples))
	for n := range samples {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := samples[n]
		v.Records = append(v.Records, recordVector{Name: n, Hex: hex.EncodeToString(AppendRecord(nil, &r)), Record: toJSON(r)})
	}
	// A whole subscription: the first EPOCH, lines, a gap, a restart.
	sub := []Record{
		{Type: TypeEpoch, Epoch: 1767225600000000},
		{Type: TypeData, Seq: 8, Data: []byte("line 8")},
		{Type: TypeData, Seq: 9, Data: []byte("line 9")},
		{Type: TypeGap, Records: 3, Bytes: 21},
		{Type: TypeData, Seq: 13, Data: []byte("line 13")},
		{Type: TypeEpoch, Epoch: 1767225900123456, Previous: 1767225600000000},
		{Type: TypeData, Seq: 1, Data: []byte("restarted")},
	}
	var b []byte
	var js []recordJSON
	for i := range sub {
		b = AppendRecord(b, &sub[i])
		js = append(js, toJSON(sub[i]))
	}
	v.Streams = append(v.Streams, streamVector{Name: "stream/subscription", Note: "last 2 of epoch 1767225600000000, then 3 records (21 bytes) lost, then the source restarted", Hex: hex.EncodeToString(b), Records: js})
	// Unknown record types are skipped.
	unknown := []byte{0, 0, 0, 3, 0x7f, 1, 2, 3}
	d1, d2 := Record{Type: TypeData, Seq: 1, Data: []byte("a")}, Record{Type: TypeData, Seq: 2, Data: []byte("b")}
	b = AppendRecord(nil, &d1)
	b = append(b, unknown...)
	b = AppendRecord(b, &d2)
	v.Streams = append(v.Streams, streamVector{Name: "stream/skip-unknown", Note: "a record of unknown type 0x7f between two DATA records is skipped", Hex: hex.EncodeToString(b), Records: []recordJSON{toJSON(d1), toJSON(d2)}})

	v.Invalid = []invalidVector{
		{"truncated/header", "00000009", "TRUNCATED"},
		{"truncated/body", "0000000b0100000000000000016869", "TRUNCATED"},
		{"malformed/data-short", "000000070100000000000000", "MALFORMED"},
		{"malformed/gap-length", "0000000f02" + hex.EncodeToString(make([]byte, 15)), "MALFORMED"},
		{"malformed/epoch-length", "0000001103" + hex.EncodeToString(make([]byte, 17)), "MALFORMED"},
		{"too-large/data-header-only", fmt.Sprintf("%08x01", 8+vectorMaxRecord+1), "TOO_LARGE"},
		{"too-large/unknown-header-only", fmt.Sprintf("%08x7f", 8+vectorMaxRecord+1), "TOO_LARGE"},
	}
	return v
}

// decodeAll decodes a stream of records, skipping unknown types.
func decodeAll(b []byte, maxRecord int) ([]Record, error) {
	var out []Record
	for {
		r, n, err := ParseRecord(b, maxRecord)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b = b[n:]
		if r.Type == TypeData || r.Type == TypeGap || r.Type == TypeEpoch {
			out = append(out, r)
		}
	}
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "TRUNCATED"
	case errors.Is(err, ErrMalformedRecord):
		return "MALFORMED"
	case errors.Is(err, ErrRecordTooLarge):
		return "TOO_LARGE"
	}
	return fmt.Sprintf("unexpected error %v", err)
}

func TestVectors(t *testing.T) {
	want := buildVectors()
	if *update {
		raw, err := json.MarshalIndent(want, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(vectorsPath), 0o755))
		require.NoError(t, os.WriteFile(vectorsPath, append(raw, '\n'), 0o644))
	}
	raw, err := os.ReadFile(vectorsPath)
	require.NoError(t, err, "run go test ./stream/broadcast -run TestVectors -update")
	var got vectorFile
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, want, got, "testdata/broadcast/vectors.json is stale: regenerate with -update")

	// Check the file itself against the codec, as the browser client does.
	for _, v := range got.Records {
		b, err := hex.DecodeString(v.Hex)
		require.NoError(t, err)
		rec, n, err := ParseRecord(b, got.MaxRecord)
		require.NoError(t, err, v.Name)
		require.Equal(t, len(b), n, v.Name)
		wantRec := fromJSON(t, v.Record)
		require.Equal(t, wantRec.Type, rec.Type, v.Name)
		require.Equal(t, toJSON(wantRec), toJSON(rec), v.Name)
		require.Equal(t, wantRec.Changed, rec.Changed, v.Name)
		require.Equal(t, v.Hex, hex.EncodeToString(AppendRecord(nil, &wantRec)), v.Name)
	}
	for _, v := range got.Streams {
		b, err := hex.DecodeString(v.Hex)
		require.NoError(t, err)
		recs, err := decodeAll(b, got.MaxRecord)
		require.NoError(t, err, v.Name)
		require.Len(t, recs, len(v.Records), v.Name)
		for i := range recs {
			require.Equal(t, v.Records[i], toJSON(recs[i]), "%s record %d", v.Name, i)
		}
	}
	for _, v := range got.Invalid {
		b, err := hex.DecodeString(v.Hex)
		require.NoError(t, err)
		_, err = decodeAll(b, got.MaxRecord)
		require.Error(t, err, v.Name)
		require.Equal(t, v.Error, errorClass(err), "%s: %v", v.Name, err)
	}
}

// TestProtocolExample checks the example of docs/PROTOCOL.md §9.5 against the
// vector it claims to show.
func TestProtocolExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/PROTOCOL.md")
	require.NoError(t, err)
	doc := string(raw)
	i := strings.Index(doc, "### 9.5 Example")
	require.GreaterOrEqual(t, i, 0, "docs/PROTOCOL.md has no §9.5 Example")
	block := doc[i:]
	start := strings.Index(block, "```\n")
	require.GreaterOrEqual(t, start, 0)
	block = block[start+4:]
	block = block[:strings.Index(block, "```")]
	var got []byte
	for _, ln := range strings.Split(strings.TrimSpace(block), "\n") {
		for ln != "" {
			ln = strings.TrimLeft(ln, " ")
			if strings.HasPrefix(ln, `"`) {
				end := strings.Index(ln[1:], `"`)
				require.GreaterOrEqual(t, end, 0, ln)
				got = append(got, ln[1:end+1]...)
				ln = ln[end+2:]
				continue
			}
			tok, rest, _ := strings.Cut(ln, " ")
			b, err := hex.DecodeString(tok)
			if err != nil || len(tok)%2 != 0 {
				break // the description
			}
			got = append(got, b...)
			ln = rest
		}
	}
	for _, v := range buildVectors().Streams {
		if v.Name == "stream/subscription" {
			require.Equal(t, v.Hex, hex.EncodeToString(got))
			return
		}
	}
	t.Fatal("no stream/subscription vector")
}
