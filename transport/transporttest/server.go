package transporttest

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

// OriginCase is one row of an origin policy test.
type OriginCase struct {
	// Name names the subtest.
	Name string
	// Allowed is the server's Config.AllowedOrigins.
	Allowed []string
	// Origin is the request's Origin header: "" for none, "SAME" for the server's own
	// origin, or any name the transport's OriginPolicy.Dial resolves.
	Origin string
	// OK says whether the server accepts the request.
	OK bool
}

// OriginCases returns the cases every transport's origin policy must pass.
func OriginCases() []OriginCase {
	return []OriginCase{
		{"NoOriginHeader", nil, "", true},
		{"SameOrigin", nil, "SAME", true},
		{"ForeignOrigin", nil, "http://evil.example", false},
		{"OpaqueOrigin", nil, "null", false},
		{"ListedOrigin", []string{"https://app.example.com"}, "https://app.example.com", true},
		{"ListedHostOtherScheme", []string{"https://app.example.com"}, "http://app.example.com", false},
		{"ListIsExclusive", []string{"https://app.example.com"}, "SAME", false},
		{"HostEntryWithPort", []string{"app.example.com:8443"}, "https://app.example.com:8443", true},
		{"Wildcard", []string{"*"}, "http://anything.example", true},
	}
}

// OriginAttempt is what one dial of an origin policy test gave.
type OriginAttempt struct {
	// Conn is the client's Conn, nil on error.
	Conn transport.Conn
	// Resp is the server's response to the handshake, if any.
	Resp *http.Response
	// Err is the client's error.
	Err error
	// Server is the server's upgrade result.
	Server Upgraded
}

// OriginPolicy describes an origin policy test of one transport (see RunOriginPolicy).
type OriginPolicy struct {
	// Cases are the rows to run.
	Cases []OriginCase
	// Dial starts a server allowing allowed, dials it with origin (as OriginCase.Origin
	// says), and returns what the client and the server got. It registers every Close
	// with t.Cleanup.
	Dial func(t *testing.T, allowed []string, origin string) OriginAttempt
	// ErrHandshake is the transport's error for a failed handshake.
	ErrHandshake error
	// ErrOriginNotAllowed is the transport's error for a refused origin.
	ErrOriginNotAllowed error
}

// RunOriginPolicy runs each case as a subtest: an allowed origin connects, a refused one
// fails the handshake with 403 Forbidden on the client and ErrOriginNotAllowed on the server.
func RunOriginPolicy(t *testing.T, p OriginPolicy) {
	for _, tc := range p.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			CheckGoroutines(t)
			got := p.Dial(t, tc.Allowed, tc.Origin)
			if tc.OK {
				require.NoError(t, got.Err)
				require.NoError(t, got.Server.Err)
				require.NotNil(t, got.Conn)
				return
			}
			require.ErrorIs(t, got.Err, p.ErrHandshake)
			require.NotNil(t, got.Resp)
			require.Equal(t, http.StatusForbidden, got.Resp.StatusCode)
			require.ErrorIs(t, got.Server.Err, p.ErrOriginNotAllowed)
		})
	}
}

// RequireWriteTimeoutCloses checks the write timeout of server, whose Config.WriteTimeout is
// short: as client reads nothing, server's writes block and one fails with
// transport.ErrWriteTimeout (a net.Error whose Timeout is true), after which server is
// closed, not half-alive; client then reads whatever arrived and sees the peer close.
func RequireWriteTimeoutCloses(t testing.TB, client, server transport.Conn) {
	t.Helper()
	msg := make([]byte, 1<<20)
	var err error
	for err == nil {
		err = server.WriteMessage(msg)
	}
	require.ErrorIs(t, err, transport.ErrWriteTimeout)
	var netErr net.Error
	require.True(t, errors.As(err, &netErr) && netErr.Timeout(), "%v is not a net.Error timeout", err)
	require.ErrorIs(t, server.WriteMessage([]byte("x")), transport.ErrClosed) // not half-alive
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	for err = nil; err == nil; {
		_, err = client.ReadMessage()
	}
	require.ErrorIs(t, err, transport.ErrPeerClosed)
}

// Upgraded is what a test server's handler got from its upgrader.
type Upgraded struct {
	// Conn is the upgraded connection, nil on error.
	Conn transport.Conn
	// Err is the upgrader's error.
	Err error
}

// Upgrades carries a test server's upgrade results to the test. Its handler sends one
// Upgraded per request; the channel must be buffered so the handler never blocks.
type Upgrades chan Upgraded

// Next returns the next upgrade result, registering the Conn's Close with t.Cleanup. It
// fails the test if no request reaches the server within DeadlockGuard.
func (u Upgrades) Next(t testing.TB) Upgraded {
	t.Helper()
	select {
	case got := <-u:
		if got.Conn != nil {
			t.Cleanup(func() { got.Conn.Close() })
		}
		return got
	case <-time.After(DeadlockGuard):
		t.Fatal("no request reached the server")
		return Upgraded{}
	}
}

// RequireReadLimit checks the read limit of server, whose MaxMessageSize is limit while
// client's is larger: a message of limit bytes arrives, a larger one fails server's read
// with transport.ErrMessageTooLarge and closes it, and client learns why (its read fails
// with transport.ErrPeerClosed and transport.ErrMessageTooLarge), after which client is
// closed too. The writes run in their own goroutines, as a transport's may complete only as
// the peer reads. tooLargeMayFail is set for a transport whose WriteMessage queues: the too
// large message may then be refused with transport.ErrClosed when the peer has already
// ended the conn; otherwise its write must succeed.
func RequireReadLimit(t testing.TB, client, server transport.Conn, limit int, tooLargeMayFail bool) {
	t.Helper()
	require.Equal(t, limit, transport.MaxMessageSize(server))

	write := GoAsync(func() error { return client.WriteMessage(make([]byte, limit)) }) // the limit: fine
	msg, err := server.ReadMessage()
	require.NoError(t, err)
	require.Len(t, msg, limit)
	require.NoError(t, write.Wait(t, "write of the largest message"))

	write = GoAsync(func() error { return client.WriteMessage(make([]byte, limit/2), make([]byte, limit/2+1)) })
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	_, err = server.ReadMessage()
	require.ErrorIs(t, err, transport.ErrClosed)

	_, err = client.ReadMessage()
	require.ErrorIs(t, err, transport.ErrPeerClosed)
	require.ErrorIs(t, err, transport.ErrMessageTooLarge)
	err = write.Wait(t, "write of a too large message")
	if tooLargeMayFail && err != nil {
		require.ErrorIs(t, err, transport.ErrClosed)
	} else {
		require.NoError(t, err)
	}
	require.ErrorIs(t, client.WriteMessage([]byte("x")), transport.ErrClosed)
}
