package transport_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/transport"
)

func TestOriginPolicy(t *testing.T) {
	same, err := transport.NewOriginPolicy(nil, false)
	require.NoError(t, err)
	require.True(t, same.Allows(nil, "a.example:8080"), "no Origin: not a browser")
	require.True(t, same.Allows([]string{"https://a.example:8080"}, "a.example:8080"))
	require.False(t, same.Allows([]string{"https://a.example:8443"}, "a.example:8080"))
	require.False(t, same.Allows([]string{"null"}, "a.example:8080"))

	anyPort, err := transport.NewOriginPolicy(nil, true)
	require.NoError(t, err)
	require.True(t, anyPort.Allows([]string{"http://a.example:8080"}, "a.example:8443"))
	require.False(t, anyPort.Allows([]string{"http://b.example:8080"}, "a.example:8443"))

	list, err := transport.NewOriginPolicy([]string{"https://good.example", "other.example:9000"}, false)
	require.NoError(t, err)
	require.True(t, list.Allows([]string{"https://good.example"}, "x"))
	require.False(t, list.Allows([]string{"http://good.example"}, "x"), "scheme must match")
	require.True(t, list.Allows([]string{"http://other.example:9000"}, "x"), "host entries match any scheme")
	require.False(t, list.Allows([]string{"https://evil.example"}, "x"))

	all, err := transport.NewOriginPolicy([]string{"*"}, false)
	require.NoError(t, err)
	require.True(t, all.Allows([]string{"https://evil.example"}, "x"))

	for _, bad := range []string{"", "ftp://x", "https://x/path", "a b", "https://u@x"} {
		_, err := transport.NewOriginPolicy([]string{bad}, false)
		require.ErrorIs(t, err, transport.ErrInvalidConfig, bad)
	}
}
