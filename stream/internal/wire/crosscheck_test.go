package wire

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCrossCheckJS encodes a few thousand random valid frames with this codec
// and has the browser codec (web/wire.js, run by Node) decode them and encode
// the same frames from their vector JSON form; both must agree with Go field by
// field and byte for byte. It is skipped when node is not installed.
func TestCrossCheckJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: skipping the Go/JS codec cross-check (install nodejs to run it)")
	}
	script, err := filepath.Abs("../../../web/test/decode_frames.mjs")
	require.NoError(t, err)
	if _, err := os.Stat(script); err != nil {
		t.Skipf("%s missing: skipping the Go/JS codec cross-check", script)
	}

	const messages = 3000
	seed := uint64(os.Getpid())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(1, seed))
	type message struct {
		Hex    string            `json:"hex"`
		Frames []json.RawMessage `json:"frames"`
	}
	in := struct {
		MaxFrame int       `json:"maxFrame"`
		Messages []message `json:"messages"`
	}{MaxFrame: crossMaxFrame}
	for range messages {
		var m message
		var b []byte
		for range 1 + rng.IntN(3) {
			f := randomFrame(rng)
			require.NoError(t, f.Validate(), "%#v", f)
			b = f.Append(b)
			m.Frames = append(m.Frames, mustJSON(frameJSON(f)))
		}
		m.Hex = hexs(b)
		in.Messages = append(in.Messages, m)
	}
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(inPath, raw, 0o600))
	out, err := exec.Command(node, script, inPath, outPath).CombinedOutput()
	require.NoError(t, err, "node: %s", out)

	var res struct {
		Results []struct {
			Decoded []map[string]any `json:"decoded"`
			Encoded string           `json:"encoded"`
			Error   string           `json:"error"`
		} `json:"results"`
	}
	raw, err = os.ReadFile(outPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &res))
	require.Len(t, res.Results, messages)
	for i, r := range res.Results {
		m := in.Messages[i]
		require.Empty(t, r.Error, "message %d (%s)", i, m.Hex)
		require.Len(t, r.Decoded, len(m.Frames), "message %d", i)
		for j, want := range m.Frames {
			var w map[string]any
			require.NoError(t, json.Unmarshal(want, &w))
			require.Equal(t, w, r.Decoded[j], "message %d frame %d: JS decoded differently", i, j)
		}
		require.Equal(t, m.Hex, r.Encoded, "message %d: JS encoded differently", i)
	}
}

// crossMaxFrame is the maxFrame of the cross-check: small, so that random data
// often reaches the bound.
const crossMaxFrame = 2048

func randomBytes(rng *rand.Rand, maxLen int) []byte {
	b := make([]byte, rng.IntN(maxLen+1))
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// randomText returns valid UTF-8 of 1..maxBytes bytes (min bytes when min is 1)
// mixing ASCII, 2-, 3- and 4-byte characters. Text fields are not checked by
// the codec, but invalid UTF-8 has no agreed JSON form to compare.
func randomText(rng *rand.Rand, minBytes, maxBytes int) string {
	var sb strings.Builder
	target := minBytes + rng.IntN(maxBytes-minBytes+1)
	alphabet := []rune{'a', 'Z', '0', '/', '.', '"', '\\', '<', '\n', 'é', 'ß', '€', '中', '😀'}
	for sb.Len() < target {
		r := alphabet[rng.IntN(len(alphabet))]
		if sb.Len()+len(string(r)) > maxBytes {
			r = 'x'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func randomJSON(rng *rand.Rand) []byte {
	if rng.IntN(4) == 0 {
		return []byte{}
	}
	b, _ := json.Marshal(map[string]any{"name": randomText(rng, 1, 40), "size": rng.Int64(), "n": rng.IntN(100)})
	return b
}

func randomU64(rng *rand.Rand) uint64 {
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return ^uint64(0) - uint64(rng.IntN(3))
	default:
		return rng.Uint64() >> rng.IntN(64)
	}
}

func randomID(rng *rand.Rand) uint32 {
	if rng.IntN(8) == 0 {
		return ^uint32(0)
	}
	return 1 + rng.Uint32N(1<<20)
}

// randomFrame returns a random valid frame of a random type.
func randomFrame(rng *rand.Rand) Frame {
	id := randomID(rng)
	comp := uint8(rng.IntN(4))
	data := func() []byte { return randomBytes(rng, crossMaxFrame) }
	switch FrameType(1 + rng.IntN(int(TypeAck))) {
	case TypeHello:
		return Hello{JSON: randomJSON(rng)}
	case TypeWelcome:
		return Welcome{JSON: randomJSON(rng)}
	case TypeOpen:
		f := Open{StreamID: id, Kind: Kind(1 + rng.IntN(4)), Priority: uint8(rng.IntN(8)), Window: randomU64(rng),
			Route: randomText(rng, 1, MaxRouteLen), Metadata: randomJSON(rng)}
		if rng.IntN(2) == 0 {
			f.Flags = FlagChecksum
		}
		return f
	case TypeAccept:
		return Accept{StreamID: id, Window: randomU64(rng), Metadata: randomJSON(rng)}
	case TypeData:
		return Data{StreamID: id, Flags: comp, Offset: randomU64(rng), Data: data()}
	case TypeCredit:
		return Credit{StreamID: id, Limit: randomU64(rng)}
	case TypePause:
		return Pause{StreamID: id}
	case TypeResume:
		return Resume{StreamID: id}
	case TypeClose:
		f := Close{StreamID: id, Total: randomU64(rng)}
		if rng.IntN(2) == 0 {
			f.HasChecksum = true
			for i := range f.SHA256 {
				f.SHA256[i] = byte(rng.UintN(256))
			}
		}
		return f
	case TypeCancel:
		return Cancel{StreamID: id, Code: Code(rng.Uint32()), Reason: randomText(rng, 0, MaxReasonLen)}
	case TypeError:
		if rng.IntN(2) == 0 {
			id = 0
		}
		return Error{StreamID: id, Code: Code(rng.Uint32N(30)), Reason: randomText(rng, 0, MaxReasonLen)}
	case TypePing, TypePong:
		var d [8]byte
		for i := range d {
			d[i] = byte(rng.UintN(256))
		}
		if rng.IntN(2) == 0 {
			return Ping{Data: d}
		}
		return Pong{Data: d}
	case TypeGoAway:
		return GoAway{LastStreamID: rng.Uint32(), Code: Code(rng.Uint32N(30)), Reason: randomText(rng, 0, 64)}
	case TypeEvent:
		return Event{Flags: comp, Name: randomText(rng, 1, MaxNameLen), Data: data()}
	case TypeRequest:
		return Request{ID: id, Flags: comp, TimeoutMS: rng.Uint32(), Name: randomText(rng, 1, MaxNameLen), Data: data()}
	case TypeReply:
		return Reply{ID: id, Flags: comp, Code: Code(rng.Uint32()), Data: data()}
	case TypeAck:
		return Ack{StreamID: id, Fin: rng.IntN(2) == 0, Received: randomU64(rng)}
	default:
		return Checkpoint{StreamID: id, Offset: randomU64(rng), Token: randomBytes(rng, MaxTokenLen)}
	}
}
