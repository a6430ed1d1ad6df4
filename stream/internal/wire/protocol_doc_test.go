package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// exampleFrames are the frames of the docs/PROTOCOL.md §8 example, in order.
var exampleFrames = []struct {
	dir   string
	frame Frame
}{
	{"C→S", Hello{JSON: []byte(`{"versions":[1],"compression":["gzip"]}`)}},
	{"S→C", Welcome{JSON: []byte(`{"version":1,"compression":["gzip"],"maxFrame":65536}`)}},
	{"C→S", Open{StreamID: 1, Kind: KindUpload, Route: "files/upload", Metadata: []byte(`{"name":"a.txt"}`)}},
	{"S→C", Accept{StreamID: 1, Window: 262144, Metadata: []byte(`{"id":"u1"}`)}},
	{"C→S", Data{StreamID: 1, Data: []byte("hello")}},
	{"C→S", Close{StreamID: 1, Total: 5}},
	{"S→C", Close{StreamID: 1, Total: 0}},
}

// parseExampleLine turns "C→S OPEN 03 00 … \"files/upload\" {…}" into its
// direction, frame name and bytes: hex groups are hex, "…" is the quoted
// text, and a JSON object runs to the end of the line.
func parseExampleLine(line string) (dir, name string, b []byte, err error) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return "", "", nil, fmt.Errorf("short line %q", line)
	}
	dir, name = fields[0], fields[1]
	rest := strings.TrimSpace(line[strings.Index(line, name)+len(name):])
	for rest != "" {
		switch rest[0] {
		case '{':
			b = append(b, rest...)
			rest = ""
		case '"':
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", "", nil, fmt.Errorf("unterminated string in %q", line)
			}
			b = append(b, rest[1:1+end]...)
			rest = rest[2+end:]
		default:
			tok, after, _ := strings.Cut(rest, " ")
			h, err := hex.DecodeString(tok)
			if err != nil {
				return "", "", nil, fmt.Errorf("%q: %w", tok, err)
			}
			b = append(b, h...)
			rest = after
		}
		rest = strings.TrimSpace(rest)
	}
	return dir, name, b, nil
}

// TestProtocolExample keeps the byte-level example of docs/PROTOCOL.md §8 in
// step with the encoder.
func TestProtocolExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/PROTOCOL.md")
	require.NoError(t, err)
	_, sec, ok := strings.Cut(string(doc), "## 8. Example")
	require.True(t, ok, "section 8 missing")
	_, block, ok := strings.Cut(sec, "```\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)

	var want strings.Builder
	for _, e := range exampleFrames {
		fmt.Fprintf(&want, "%s\n", exampleLine(e.dir, e.frame))
	}
	lines := strings.Split(strings.TrimSpace(block), "\n")
	require.Len(t, lines, len(exampleFrames), "expected block:\n%s", want.String())
	for i, line := range lines {
		dir, name, b, err := parseExampleLine(line)
		require.NoError(t, err)
		e := exampleFrames[i]
		require.Equal(t, e.dir, dir, "line %d", i+1)
		require.Equal(t, e.frame.Type().String(), name, "line %d", i+1)
		require.True(t, bytes.Equal(e.frame.Append(nil), b),
			"line %d does not match the encoder; expected block:\n%s", i+1, want.String())
	}
}

// exampleLine renders a frame the way §8 shows it.
func exampleLine(dir string, f Frame) string {
	b := f.Append(nil)
	parts := []string{dir, fmt.Sprintf("%-7s", f.Type()), hexs(b[0:1]), hexs(b[1:2]), hexs(b[2:6]), hexs(b[6:10])}
	p := b[HeaderLen:]
	switch f := f.(type) {
	case Hello, Welcome:
		parts = append(parts, string(p))
	case Open:
		parts = append(parts, hexs(p[0:1]), hexs(p[1:2]), hexs(p[2:4]), hexs(p[4:12]), `"`+f.Route+`"`, string(f.Metadata))
	case Accept:
		parts = append(parts, hexs(p[:8]), string(f.Metadata))
	case Data:
		parts = append(parts, hexs(p[:8]), `"`+string(f.Data)+`"`)
	default:
		parts = append(parts, hexs(p))
	}
	return strings.Join(parts, " ")
}
