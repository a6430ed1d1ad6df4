package wire

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHelloJSONRoundTrip(t *testing.T) {
	m := &HelloMsg{
		Versions: []int{1}, Compression: []string{"zstd", "gzip"}, MaxFrame: 65536, MaxMessage: 1 << 20,
		Window: 262144, Resume: &ResumeRequest{Token: "tok", Streams: []StreamPosition{{ID: 3, Received: 1 << 20}}},
		Auth: "bearer", Layouts: []string{"batched", "arrow"}, Client: "streamd-go/0.1",
	}
	b, err := MarshalHello(m)
	require.NoError(t, err)
	got, err := UnmarshalHello(b)
	require.NoError(t, err)
	require.Equal(t, m, got)

	// The frame carries the bytes unchanged.
	f := parseOne(t, Hello{JSON: b}.Append(nil)).(Hello)
	require.Equal(t, b, f.JSON)
}

func TestWelcomeJSONRoundTrip(t *testing.T) {
	m := &WelcomeMsg{
		Version: 1, Session: "9f1c", Compression: []string{"gzip"}, MaxFrame: 65536, MaxMessage: 1 << 20,
		Window: 262144, MaxStreams: 1000, ResumeToken: "tok", ResumeTTL: 120,
		Resumed: &ResumeResult{Streams: []StreamPosition{{ID: 3, Received: 917504}}}, PingInterval: 15000,
	}
	b, err := MarshalWelcome(m)
	require.NoError(t, err)
	got, err := UnmarshalWelcome(b)
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestHandshakeJSONSpecExamples(t *testing.T) {
	// The examples of docs/PROTOCOL.md §4.
	hello := `{
  "versions": [1],
  "compression": ["zstd", "gzip"],
  "maxFrame": 65536,
  "maxMessage": 1048576,
  "window": 262144,
  "resume": {"token": "…", "streams": [{"id": 3, "received": 1048576}]},
  "auth": "bearer-token",
  "layouts": ["batched", "arrow", "rows"],
  "client": "streamd-go/0.1"
}`
	h, err := UnmarshalHello([]byte(hello))
	require.NoError(t, err)
	require.Equal(t, []int{1}, h.Versions)
	require.Equal(t, uint64(1048576), h.Resume.Streams[0].Received)
	welcome := `{
  "version": 1,
  "session": "9f1c…",
  "compression": ["zstd", "gzip"],
  "maxFrame": 65536,
  "maxMessage": 1048576,
  "window": 262144,
  "maxStreams": 1000,
  "resumeToken": "…", "resumeTTL": 120,
  "resumed": {"streams": [{"id": 3, "received": 917504}]},
  "pingInterval": 15000
}`
	w, err := UnmarshalWelcome([]byte(welcome))
	require.NoError(t, err)
	require.Equal(t, uint32(15000), w.PingInterval)
	require.Equal(t, uint64(917504), w.Resumed.Streams[0].Received)
}

func TestHandshakeJSONUnknownMembersIgnored(t *testing.T) {
	h, err := UnmarshalHello([]byte(`{"versions":[1,2],"future":{"deep":[1,{"x":null}]},"maxFrame":1024,"zstdDict":"abc"}`))
	require.NoError(t, err)
	require.Equal(t, &HelloMsg{Versions: []int{1, 2}, MaxFrame: 1024}, h)
	w, err := UnmarshalWelcome([]byte(` {"version":1,"extensions":["x"]}`))
	require.NoError(t, err)
	require.Equal(t, 1, w.Version)
}

func TestHandshakeJSONErrors(t *testing.T) {
	for _, in := range []string{"", "  ", "null", "[1]", `"x"`, "1", "{", `{"maxFrame":-1}`,
		`{"maxFrame":4294967296}`, `{"window":1} trailing`, `{"compression":"gzip"}`} {
		_, err := UnmarshalHello([]byte(in))
		require.ErrorIs(t, err, ErrProtocol, "HELLO %q", in)
		_, err = UnmarshalWelcome([]byte(in))
		require.ErrorIs(t, err, ErrProtocol, "WELCOME %q", in)
	}
	for _, in := range []string{`{"versions":"1"}`, `{"versions":[1.5]}`, `{"resume":[]}`} {
		_, err := UnmarshalHello([]byte(in))
		require.ErrorIs(t, err, ErrProtocol, "HELLO %q", in)
	}
	for _, in := range []string{`{"version":"1"}`, `{"resumed":{"streams":[{"id":-3}]}}`} {
		_, err := UnmarshalWelcome([]byte(in))
		require.ErrorIs(t, err, ErrProtocol, "WELCOME %q", in)
	}
	big := []byte(`{"client":"` + strings.Repeat("a", MaxHandshakeLen) + `"}`)
	_, err := UnmarshalHello(big)
	require.ErrorIs(t, err, ErrFrameSize)
	_, err = MarshalHello(&HelloMsg{Client: strings.Repeat("a", MaxHandshakeLen)})
	require.ErrorIs(t, err, ErrFrameSize)
	_, err = MarshalWelcome(&WelcomeMsg{Session: strings.Repeat("a", MaxHandshakeLen)})
	require.ErrorIs(t, err, ErrFrameSize)
}
